package web_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/relay"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/wire"
	"github.com/direkt/direkt/web"
)

// TestJoinThroughRelayInChromium: the host allows only the relay
// (session.PolicyRelay), so the page connects through the real TURN server
// with the credentials from the mailbox "paired" frame, and says so:
// data-path=relay.
func TestJoinThroughRelayInChromium(t *testing.T) {
	needNode(t)
	bctx := browsertest.New(t, browsertest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bctx, bcancel := context.WithTimeout(bctx, 60*time.Second)
	defer bcancel()

	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Relay sockets on loopback too, so that the relay's packets come from the
	// address it advertises (bound to 0.0.0.0 they would leave from the
	// machine's interface address, which no real relay does).
	rl, err := relay.New(relay.Config{UDPConn: udp, RelayBindAddr: "127.0.0.1", AllowPrivate: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	rv := rendezvous.New(rendezvous.Config{
		ICEServers: func(r *http.Request, now time.Time) []wire.ICEServer { return rl.ICEServers(r.Host, now) },
		Pages:      web.Handler(),
		Logger:     slog.New(slog.DiscardHandler),
	})
	hs := httptest.NewServer(rv.Handler())
	defer func() {
		rv.Close()
		hs.Close()
	}()

	pend, err := pairing.Allocate(ctx, pairing.Options{Server: hs.URL, Lang: code.German, Hello: wire.Signal{Name: "Anna", App: wire.AppConsult}})
	if err != nil {
		t.Fatal(err)
	}
	c := pend.Code()
	navigated := make(chan error, 1)
	go func() {
		_, err := chromedp.Run(bctx, chromedp.Navigate(fmt.Sprintf("%s/j/%s#%s", hs.URL, c.Nameplate, strings.Join(c.Words, "-"))))
		navigated <- err
	}()
	pair, err := pend.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	defer pair.Close(wire.MoodHappy)
	if err := <-navigated; err != nil {
		t.Fatal(err)
	}
	if len(pair.ICEServers) == 0 {
		t.Fatal("no ICE servers from the rendezvous")
	}
	sess, err := session.Connect(ctx, session.Config{
		Role: wire.RoleA, Signaller: pair, BindingKey: pair.Keys.Binding,
		ICEServers: pair.ICEServers, Policy: session.PolicyRelay,
	})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer sess.Close()
	do(t, bctx, chromedp.WaitVisible(chromedp.CSS(`body[data-state=connected]`)))
	// The page may first see the relay as a peer-reflexive address (its
	// checks overtake the signalled candidate); it looks again every 2 s.
	wctx, wcancel := context.WithTimeout(bctx, 5*time.Second)
	defer wcancel()
	if _, err := chromedp.Run(wctx, chromedp.WaitVisible(chromedp.CSS(`body[data-path=relay]`))); err != nil {
		p, _ := chromedp.Run(bctx, chromedp.AttributeValue(chromedp.CSS(`body`), "data-path"))
		t.Fatalf("data-path %q, want relay (Go: %v)", p.Value, sess.Path())
	}
	if shown := do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=path]`))); !strings.Contains(shown, "relay") {
		t.Errorf("path shown as %q", shown)
	}
}
