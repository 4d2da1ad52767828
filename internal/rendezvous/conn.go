package rendezvous

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/wire"
)

// sendQueue is each connection's outgoing frame buffer. The protocol bounds
// what the server ever sends one connection — welcome, allocated, claimed,
// answered or dialed, paired, at most wire.MaxBodiesPerSide messages, then
// one closed or error frame; a listener one listening per listen it sent
// and a ring and a hangup per call, with at most maxRingsPerListener calls
// open — so a conforming exchange never fills it, and a client that reads
// too slowly is dropped by WriteTimeout long before. Senders never block on
// it: a full queue drops the connection.
const sendQueue = wire.MaxBodiesPerSide + 8

// busyWait is how long a connection let in over MaxConns waits for its
// first request, which is answered "busy", before it is told unasked.
const busyWait = 5 * time.Second

// outFrame is one entry of a connection's send queue.
type outFrame struct {
	data   []byte // a marshaled frame; nil = none, only close
	final  bool   // close the WebSocket after data
	status websocket.StatusCode
	reason string
}

// conn is one client WebSocket. Its handler goroutine reads and dispatches
// frames; a writer goroutine drains out; a pinger keeps it honest.
type conn struct {
	s      *Server
	ws     *websocket.Conn // nil only in state-machine tests
	req    *http.Request   // the upgrade request, for Config.ICEServers
	key    string          // rate-limit key (client address)
	out    chan outFrame
	cancel context.CancelFunc // drops the connection

	// guarded by Server.mu
	bound     bool     // allocate, claim, dial or answer was accepted once; never reset
	mb        *mailbox // the open mailbox, nil before binding and after it ended
	side      side
	finishing bool     // a final frame is queued (or the connection is gone): send nothing more
	reopen    bool     // asked for a reopen token when it bound (section 3)
	busy      bool     // let in over MaxConns only to be told so; set before any frame is read
	gone      bool     // its handler is ending: its send queue is dropped
	holds     *mailbox // an ended mailbox whose messages its send queue may hold (budget.go)

	// Known peers (section 8), guarded by Server.mu.
	listening bool                // sent listen: this connection only listens
	listens   map[string]struct{} // its channels (some may have been taken over by a later listener)
	ringCount int                 // rings on its channels not answered yet
	ring      *ring               // a dialer's ring while it rings
}

func newConn(s *Server, ws *websocket.Conn, r *http.Request, key string, cancel context.CancelFunc) *conn {
	return &conn{s: s, ws: ws, req: r, key: key, out: make(chan outFrame, sendQueue), cancel: cancel}
}

// serveMailbox is the WebSocket endpoint: it owns the connection and its
// goroutines and returns only when they have ended.
func (s *Server) serveMailbox(w http.ResponseWriter, r *http.Request) {
	key := s.clientKey(r)
	status, busy, ok := s.admit(key)
	if !ok {
		if status == http.StatusTooManyRequests {
			s.log.Info("connection refused: too many from one address", "client", key)
		}
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "60")
		}
		http.Error(w, http.StatusText(status), status)
		return
	}
	defer s.release(key, busy)

	// The http.Server's read and write timeouts were meant for the upgrade
	// request; they must not cut a WebSocket that lives for minutes.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{wire.Subprotocol}})
	if err != nil {
		s.log.Debug("websocket upgrade failed", "err", err)
		return
	}
	ws.SetReadLimit(wire.MaxFrame)

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	c := newConn(s, ws, r, key, cancel)
	var wg sync.WaitGroup
	wg.Go(func() { c.writeLoop(ctx) })
	wg.Go(func() { c.pingLoop(ctx) })
	unbound := time.AfterFunc(s.cfg.NameplateTTL, func() { s.unboundTimeout(c) })

	s.mu.Lock()
	switch {
	case ws.Subprotocol() != wire.Subprotocol:
		s.failLocked(c, wire.ErrKindBadRequest, "subprotocol "+wire.Subprotocol+" required")
	case busy:
		// Clients read the welcome in their dial; the error answers their
		// first request (handleFrame), or ends the wait after busyWait.
		// Sent before the request, it could close the connection under a
		// client that is still writing it, which then sees only the close.
		c.busy = true
		s.enqueueLocked(c, s.welcome)
		unbound.Reset(busyWait)
	default:
		s.enqueueLocked(c, s.welcome)
	}
	s.mu.Unlock()

	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusMessageTooBig {
				s.log.Debug("connection dropped: frame too large")
			}
			break
		}
		s.handleFrame(c, typ, data)
	}

	unbound.Stop()
	s.disconnect(c)
	cancel()
	wg.Wait()
	_ = ws.CloseNow()
}

// writeLoop sends queued frames. A frame that cannot be written within
// WriteTimeout drops the connection; after a final frame it closes the
// WebSocket with a close handshake.
func (c *conn) writeLoop(ctx context.Context) {
	for {
		var f outFrame
		select {
		case <-ctx.Done():
			return
		case f = <-c.out:
		}
		if f.data != nil {
			wctx, cancel := context.WithTimeout(ctx, c.s.cfg.WriteTimeout)
			err := c.ws.Write(wctx, websocket.MessageText, f.data)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					c.s.log.Debug("connection dropped: write failed or too slow", "err", err)
				}
				c.cancel()
				return
			}
		}
		if f.final {
			_ = c.ws.Close(f.status, f.reason)
			return
		}
	}
}

// pingLoop pings the client every PingInterval and drops it when a pong
// does not come back within the next interval: a dead peer behind a NAT
// may otherwise hold its connection and mailbox until they expire.
func (c *conn) pingLoop(ctx context.Context) {
	t := time.NewTicker(c.s.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, c.s.cfg.PingInterval)
		err := c.ws.Ping(pctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				c.s.log.Debug("connection dropped: no pong", "err", err)
			}
			c.cancel()
			return
		}
	}
}

// enqueueLocked queues data for c. s.mu must be held.
func (s *Server) enqueueLocked(c *conn, data []byte) {
	if c.finishing {
		return
	}
	select {
	case c.out <- outFrame{data: data}:
	default:
		s.log.Warn("connection dropped: send queue full")
		c.finishing = true
		c.cancel()
	}
}

// finalLocked queues c's last frame (data may be nil) and the close that
// follows it. s.mu must be held.
func (s *Server) finalLocked(c *conn, data []byte, status websocket.StatusCode, reason string) {
	if c.finishing {
		return
	}
	c.finishing = true
	select {
	case c.out <- outFrame{data: data, final: true, status: status, reason: reason}:
	default:
		s.log.Warn("connection dropped: send queue full")
		c.cancel()
	}
}

// failLocked sends c an error frame and closes it; a mailbox c was in ends
// for the other side with mood "errory". s.mu must be held. message must
// not contain anything the client sent.
func (s *Server) failLocked(c *conn, kind, message string) {
	if c.finishing {
		return
	}
	s.log.Debug("client error", "kind", kind, "message", message)
	data, err := wire.Frame{Type: wire.TypeError, Kind: kind, Message: message}.Marshal()
	if err != nil {
		s.log.Error("encode error frame", "err", err)
		data = nil
	}
	s.finalLocked(c, data, websocket.StatusPolicyViolation, kind)
	if c.mb != nil {
		s.endMailboxLocked(c.mb, c, wire.MoodErrory)
	}
	s.detachLocked(c)
}

// bindLocked binds c for request what (a dial, an answer, a reopen): it
// refuses, and reports false, when c is finishing (without a word), is
// bound or listening already, or is over the rate limit of its bucket
// (secret: the claim bucket, for requests that try a secret); limited says
// what the client did too much of.
func (s *Server) bindLocked(c *conn, what string, secret bool, limited string) bool {
	if c.finishing {
		return false
	}
	if c.bound || c.listening {
		s.failLocked(c, wire.ErrKindBadRequest, "already allocated, claimed, dialled or listening")
		return false
	}
	c.bound = true
	if !s.allowLocked(c.key, secret) {
		s.log.Info(what+" rate limited", "client", c.key)
		s.failLocked(c, wire.ErrKindRateLimited, limited+", try again in a minute")
		return false
	}
	return true
}

// unboundTimeout ends a connection that neither allocated, claimed, dialled,
// answered nor listened within NameplateTTL. A listener stays as long as it
// answers pings.
func (s *Server) unboundTimeout(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.busy {
		s.failLocked(c, wire.ErrKindRateLimited, busyMessage)
		return
	}
	if !c.bound && !c.listening {
		s.failLocked(c, wire.ErrKindExpired, "no allocate or claim in time")
	}
}

// disconnect is the end of c's handler: a mailbox c was still in ends for
// the other side with mood "errory" — unless c holds a reopen token and the
// other side is still there: then the mailbox waits for c's side to reopen
// it (section 3). c's ring ends, and its channels are dropped.
func (s *Server) disconnect(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.finishing, c.gone = true, true
	if mb := c.mb; mb != nil {
		if mb.state == statePaired && mb.tokens[c.side] != nil && mb.sides[1-c.side] != nil {
			s.awaitReopenLocked(mb, c)
		} else {
			s.endMailboxLocked(mb, c, wire.MoodErrory)
		}
	}
	s.detachLocked(c)
	s.dropHoldLocked(c)
}
