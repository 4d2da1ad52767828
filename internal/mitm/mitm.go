// Package mitm is a hostile rendezvous server for tests: a WebSocket proxy in
// front of a real one that lets a test read, change, drop, replay or inject
// mailbox frames between the peers and the server. It exists to prove that
// peers refuse what a server in the middle can do to them.
//
// Only tests import mitm; it imports wire and coder/websocket.
package mitm

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/wire"
)

// Dir is the direction of a frame.
type Dir int

// Directions.
const (
	ToServer Dir = iota // from a peer to the rendezvous
	ToClient            // from the rendezvous to a peer
)

// Hook sees every frame of client connection conn (0 for the first peer that
// connected, 1 for the second, …) and returns the frames to forward in its
// place: f itself, a changed copy, nothing, or several.
type Hook func(conn int, dir Dir, f wire.Frame) []wire.Frame

// Proxy is a running man-in-the-middle rendezvous.
type Proxy struct {
	// URL is where peers connect instead of the real server.
	URL      string
	srv      *httptest.Server
	upstream string
	hook     Hook

	mu    sync.Mutex
	conns int
	wg    sync.WaitGroup
	ctx   context.Context
	stop  context.CancelFunc
}

// New starts a proxy that forwards to the rendezvous at upstream (http URL).
func New(upstream string, hook Hook) *Proxy {
	ctx, stop := context.WithCancel(context.Background())
	p := &Proxy{upstream: strings.TrimSuffix(upstream, "/"), hook: hook, ctx: ctx, stop: stop}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	return p
}

// Close stops the proxy and waits for its connections.
func (p *Proxy) Close() {
	p.stop()
	p.srv.Close()
	p.wg.Wait()
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.URL.Path, wire.MailboxPath) {
		http.NotFound(w, r)
		return
	}
	p.mu.Lock()
	id := p.conns
	p.conns++
	p.wg.Add(1)
	p.mu.Unlock()
	defer p.wg.Done()

	down, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wire.Subprotocol}})
	if err != nil {
		return
	}
	defer down.CloseNow()
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	up, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(p.upstream, "http")+wire.MailboxPath,
		&websocket.DialOptions{Subprotocols: []string{wire.Subprotocol}})
	if err != nil {
		return
	}
	defer up.CloseNow()
	down.SetReadLimit(1 << 20)
	up.SetReadLimit(1 << 20)

	var wg sync.WaitGroup
	pump := func(from, to *websocket.Conn, dir Dir) {
		defer wg.Done()
		defer cancel()
		for {
			_, data, err := from.Read(ctx)
			if err != nil {
				return
			}
			f, err := wire.ParseFrame(data)
			if err != nil {
				// Forward what we cannot parse unchanged: not our test.
				if to.Write(ctx, websocket.MessageText, data) != nil {
					return
				}
				continue
			}
			for _, g := range p.hook(id, dir, f) {
				// json.Marshal, not g.Marshal: a hostile server sends invalid frames too.
				b, err := json.Marshal(g)
				if err != nil {
					return
				}
				if to.Write(ctx, websocket.MessageText, b) != nil {
					return
				}
			}
		}
	}
	wg.Add(2)
	go pump(down, up, ToServer)
	go pump(up, down, ToClient)
	wg.Wait()
}
