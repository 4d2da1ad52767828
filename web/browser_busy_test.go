package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/wire"
	"github.com/direkt/direkt/web"
)

// busyRefusing is the rendezvous's maxRefusing for a MaxConns of 1: how
// many connections it lets in at once only to tell them it is busy, before
// it answers the handshake itself with a bare 503.
const busyRefusing = 16

// holdBusy keeps the rendezvous at url refusing busyRefusing connections at
// once until ctx ends: more dialers than slots, each dialling again as soon
// as its connection is told "busy" and closed (after some 5 s). It returns
// once every slot is taken, and a wait for the dialers to stop.
func holdBusy(t *testing.T, ctx context.Context, url string) (stop func()) {
	t.Helper()
	wsURL := "ws" + strings.TrimPrefix(url, "http") + wire.MailboxPath
	var held atomic.Int32
	var wg sync.WaitGroup
	for range busyRefusing + 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				c, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{Subprotocols: []string{wire.Subprotocol}})
				if resp != nil && resp.Body != nil {
					_ = resp.Body.Close()
				}
				if err != nil {
					select {
					case <-ctx.Done():
					case <-time.After(2 * time.Millisecond):
					}
					continue
				}
				held.Add(1)
				for {
					if _, _, err := c.Read(ctx); err != nil {
						break
					}
				}
				held.Add(-1)
				_ = c.CloseNow()
			}
		})
	}
	deadline := time.Now().Add(10 * time.Second)
	for held.Load() < busyRefusing {
		if time.Now().After(deadline) {
			t.Fatalf("only %d connections held busy", held.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return wg.Wait
}

// TestBusyServerInChromium: a rendezvous at its connection budget (here one
// connection, the adviser's) refuses a new client in two ways, and the join
// page shows both as "busy, try again in a minute", not "unreachable": with
// a "rate-limited" error frame on an admitted connection, and, when too
// many are being refused at once, with a bare 503 to the WebSocket
// handshake, which a browser cannot read: the page then asks the same URL
// over plain HTTP.
func TestBusyServerInChromium(t *testing.T) {
	needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rv := rendezvous.New(rendezvous.Config{
		ICEServers: func(*http.Request, time.Time) []wire.ICEServer { return nil },
		Pages:      web.Handler(),
		Logger:     slog.New(slog.DiscardHandler),
		MaxConns:   1,
		// Every connection comes from 127.0.0.1.
		MaxConnsPerIP: 4 * busyRefusing,
	})
	hs := httptest.NewServer(rv.Handler())
	defer hs.Close()
	defer rv.Close()

	// The adviser's code holds the one connection.
	pend, err := pairing.Allocate(ctx, pairing.Options{
		Server: hs.URL, Lang: code.English,
		Hello: wire.Signal{Name: "Anna Adviser", App: wire.AppConsult, Path: wire.PathAuto},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pend.Close()
	c := pend.Code()
	link := fmt.Sprintf("%s/j/%s#%s", hs.URL, c.Nameplate, strings.Join(c.Words, "-"))

	for _, tc := range []struct {
		name, lang, want string
		hold             bool
	}{
		{"error frame", "en-GB", "The server is busy. Try again in a minute.", false},
		{"bare 503", "de-DE", "Der Server ist gerade ausgelastet. Versuchen Sie es in einer Minute noch einmal.", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.hold {
				hctx, hcancel := context.WithCancel(ctx)
				stop := holdBusy(t, hctx, hs.URL)
				defer stop()
				defer hcancel()
			}
			bctx := browsertest.New(t, browsertest.Options{Lang: tc.lang})
			bctx, bcancel := context.WithTimeout(bctx, 30*time.Second)
			defer bcancel()
			do(t, bctx, chromedp.Navigate(link))
			do(t, bctx, chromedp.WaitVisible(chromedp.CSS(`body[data-state=failed]`)))
			kind := do(t, bctx, chromedp.AttributeValue(chromedp.CSS(`body`), "data-error")).Value
			msg := do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=error]`)))
			if kind != "busy" || msg != tc.want {
				t.Errorf("the page shows data-error=%q, %q", kind, msg)
			}
		})
	}
}
