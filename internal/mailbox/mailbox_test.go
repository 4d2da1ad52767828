package mailbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/testwatch"
	"github.com/direkt/direkt/internal/wire"
)

func TestMain(m *testing.M) {
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// realServer runs the real rendezvous server behind prefix ("" for none).
func realServer(t *testing.T, prefix string) string {
	t.Helper()
	s := rendezvous.New(rendezvous.Config{Logger: slog.New(slog.DiscardHandler), MOTD: "hello"})
	var h http.Handler = s.Handler()
	if prefix != "" {
		mux := http.NewServeMux()
		mux.Handle(prefix+"/", http.StripPrefix(prefix, h))
		h = mux
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() { _ = s.Close(); ts.Close() })
	return ts.URL
}

// fakeServer is a misbehaving server: it upgrades with the given
// subprotocols and hands the connection to script.
func fakeServer(t *testing.T, subprotocols []string, script func(ctx context.Context, ws *websocket.Conn)) string {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		closed bool // no wg.Add after cleanup began: Add must not race Wait
	)
	ctx, cancel := context.WithCancel(context.Background())
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		if closed {
			mu.Unlock()
			return
		}
		wg.Add(1)
		mu.Unlock()
		defer wg.Done()
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: subprotocols})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		script(ctx, ws)
	}))
	t.Cleanup(func() {
		mu.Lock()
		closed = true
		mu.Unlock()
		cancel()
		ts.Close()
		wg.Wait()
	})
	return ts.URL
}

func write(ctx context.Context, ws *websocket.Conn, frame string) {
	_ = ws.Write(ctx, websocket.MessageText, []byte(frame))
}

const welcome = `{"type":"welcome","version":1}`

func TestDialURLs(t *testing.T) {
	plain := realServer(t, "")
	prefixed := realServer(t, "/rdv")
	for _, u := range []string{
		plain,
		plain + "/",
		strings.Replace(plain, "http://", "ws://", 1),
		plain + wire.MailboxPath,
		prefixed + "/rdv",
		prefixed + "/rdv/",
		prefixed + "/rdv" + wire.MailboxPath,
	} {
		c, err := mailbox.Dial(testCtx(t), u, nil)
		if err != nil {
			t.Errorf("Dial(%s): %v", u, err)
			continue
		}
		if c.MOTD() != "hello" {
			t.Errorf("Dial(%s): motd %q", u, c.MOTD())
		}
		_ = c.Close("")
	}
	for _, u := range []string{"ftp://example.com", "://nope", plain + "/elsewhere/v1/mailbox"} {
		if c, err := mailbox.Dial(testCtx(t), u, nil); err == nil {
			_ = c.Close("")
			t.Errorf("Dial(%s) succeeded", u)
		}
	}
}

func TestDialRejectsBadServers(t *testing.T) {
	cases := []struct {
		name   string
		protos []string
		script func(context.Context, *websocket.Conn)
		want   error
	}{
		{"no subprotocol", nil, func(ctx context.Context, ws *websocket.Conn) { write(ctx, ws, welcome) }, mailbox.ErrProtocol},
		{"version 2", []string{wire.Subprotocol}, func(ctx context.Context, ws *websocket.Conn) {
			write(ctx, ws, `{"type":"welcome","version":2}`)
			_, _, _ = ws.Read(ctx)
		}, mailbox.ErrProtocol},
		{"no welcome", []string{wire.Subprotocol}, func(ctx context.Context, ws *websocket.Conn) {
			write(ctx, ws, `{"type":"closed","mood":"happy"}`)
			_, _, _ = ws.Read(ctx)
		}, mailbox.ErrProtocol},
		{"garbage", []string{wire.Subprotocol}, func(ctx context.Context, ws *websocket.Conn) {
			write(ctx, ws, `<html>`)
			_, _, _ = ws.Read(ctx)
		}, mailbox.ErrProtocol},
		{"binary", []string{wire.Subprotocol}, func(ctx context.Context, ws *websocket.Conn) {
			_ = ws.Write(ctx, websocket.MessageBinary, []byte(welcome))
			_, _, _ = ws.Read(ctx)
		}, mailbox.ErrProtocol},
		{"client frame type", []string{wire.Subprotocol}, func(ctx context.Context, ws *websocket.Conn) {
			write(ctx, ws, `{"type":"allocate"}`)
			_, _, _ = ws.Read(ctx)
		}, mailbox.ErrProtocol},
		{"hang up", []string{wire.Subprotocol}, func(ctx context.Context, ws *websocket.Conn) {
			_ = ws.Close(websocket.StatusGoingAway, "")
		}, mailbox.ErrClosed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := fakeServer(t, tc.protos, tc.script)
			c, err := mailbox.Dial(testCtx(t), u, nil)
			if err == nil {
				_ = c.Close("")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Dial: %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("429", func(t *testing.T) {
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "slow down", http.StatusTooManyRequests)
		}))
		defer ts.Close()
		if _, err := mailbox.Dial(testCtx(t), ts.URL, nil); !errors.Is(err, mailbox.ErrRateLimited) {
			t.Fatalf("Dial: %v", err)
		}
	})

	t.Run("dial context", func(t *testing.T) {
		// A server that upgrades but never says welcome: Dial gives up
		// when its context ends.
		u := fakeServer(t, []string{wire.Subprotocol}, func(ctx context.Context, ws *websocket.Conn) { _, _, _ = ws.Read(ctx) })
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if _, err := mailbox.Dial(ctx, u, nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial: %v", err)
		}
	})
}

func TestBadFramesAfterWelcome(t *testing.T) {
	for _, frame := range []string{
		`{"type":"allocated","nameplate":"07","mailbox":"AAAAAAAAAAAAAAAAAAAAAA=="}`,
		`{"type":"allocated","nameplate":"7","mailbox":"AAAA"}`,
		`{"type":"message"}`,
		`{"type":"closed","mood":"meh"}`,
		`{"type":"gossip"}`,
	} {
		u := fakeServer(t, []string{wire.Subprotocol}, func(ctx context.Context, ws *websocket.Conn) {
			write(ctx, ws, welcome)
			_, _, _ = ws.Read(ctx) // the allocate
			write(ctx, ws, frame)
			_, _, _ = ws.Read(ctx)
		})
		c, err := mailbox.Dial(testCtx(t), u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Allocate(testCtx(t)); !errors.Is(err, mailbox.ErrProtocol) {
			t.Errorf("server frame %s: Allocate: %v", frame, err)
		}
		_ = c.Close("")
	}
}

func TestServerFlood(t *testing.T) {
	u := fakeServer(t, []string{wire.Subprotocol}, func(ctx context.Context, ws *websocket.Conn) {
		write(ctx, ws, welcome)
		for {
			if err := ws.Write(ctx, websocket.MessageText, []byte(`{"type":"message","body":"aGk="}`)); err != nil {
				return
			}
		}
	})
	c, err := mailbox.Dial(testCtx(t), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close("")
	// The unread backlog is bounded: the client gives up on the server
	// instead of buffering without end.
	for {
		_, err := c.Next(testCtx(t))
		if err != nil {
			if !errors.Is(err, mailbox.ErrProtocol) {
				t.Fatalf("Next: %v", err)
			}
			return
		}
	}
}

func TestServerError(t *testing.T) {
	kinds := map[string]error{
		wire.ErrKindBadRequest:       mailbox.ErrBadRequest,
		wire.ErrKindUnknownNameplate: mailbox.ErrUnknownNameplate,
		wire.ErrKindCrowded:          mailbox.ErrCrowded,
		wire.ErrKindRateLimited:      mailbox.ErrRateLimited,
		wire.ErrKindTooLarge:         mailbox.ErrTooLarge,
		wire.ErrKindTooMany:          mailbox.ErrTooMany,
		wire.ErrKindExpired:          mailbox.ErrExpired,
		wire.ErrKindInternal:         mailbox.ErrInternal,
	}
	for kind, want := range kinds {
		err := fmt.Errorf("pairing: %w", &mailbox.ServerError{Kind: kind, Message: "m"})
		if !errors.Is(err, want) {
			t.Errorf("kind %s does not match %v", kind, want)
		}
		for other, sentinel := range kinds {
			if other != kind && errors.Is(err, sentinel) {
				t.Errorf("kind %s matches %v", kind, sentinel)
			}
		}
		var se *mailbox.ServerError
		if !errors.As(err, &se) || se.Kind != kind || !strings.Contains(err.Error(), kind) {
			t.Errorf("kind %s: %v", kind, err)
		}
	}
	if errors.Is(&mailbox.ServerError{Kind: "from-the-future"}, mailbox.ErrInternal) {
		t.Error("unknown kind matched a sentinel")
	}
}

func TestCallOrder(t *testing.T) {
	u := realServer(t, "")
	ctx := testCtx(t)
	c, err := mailbox.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close("")
	if err := c.Add(ctx, []byte("x")); !errors.Is(err, mailbox.ErrState) {
		t.Fatalf("Add before Allocate: %v", err)
	}
	if _, _, err := c.Allocate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Allocate(ctx); !errors.Is(err, mailbox.ErrState) {
		t.Fatalf("second Allocate: %v", err)
	}
	if _, err := c.Claim(ctx, "1"); !errors.Is(err, mailbox.ErrState) {
		t.Fatalf("Claim after Allocate: %v", err)
	}
	if err := c.Add(ctx, nil); !errors.Is(err, mailbox.ErrBadRequest) {
		t.Fatalf("empty Add: %v", err)
	}
}

func TestNextWithConcurrentAdd(t *testing.T) {
	u := realServer(t, "")
	ctx := testCtx(t)
	a, err := mailbox.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close("")
	b, err := mailbox.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close("")
	np, _, err := a.Allocate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Claim(ctx, np); err != nil {
		t.Fatal(err)
	}
	const n = 30
	var wg sync.WaitGroup
	for _, c := range []*mailbox.Conn{a, b} {
		wg.Go(func() {
			for i := range n {
				if err := c.Add(ctx, []byte{byte(i)}); err != nil {
					t.Errorf("Add %d: %v", i, err)
					return
				}
			}
		})
		wg.Go(func() {
			if f, err := c.Next(ctx); err != nil || f.Type != wire.TypePaired {
				t.Errorf("paired: %s %v", f.Type, err)
				return
			}
			for i := range n {
				f, err := c.Next(ctx)
				if err != nil || f.Type != wire.TypeMessage || len(f.Body) != 1 || f.Body[0] != byte(i) {
					t.Errorf("message %d: %s %v %v", i, f.Type, f.Body, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestCloseUnblocksNext(t *testing.T) {
	u := realServer(t, "")
	ctx := testCtx(t)
	c, err := mailbox.Dial(ctx, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Allocate(ctx); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := c.Next(ctx)
		errc <- err
	}()
	if err := c.Close(wire.MoodLonely); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(wire.MoodLonely); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := <-errc; !errors.Is(err, mailbox.ErrClosed) {
		t.Fatalf("blocked Next after Close: %v", err)
	}
	if err := c.Add(ctx, []byte("x")); !errors.Is(err, mailbox.ErrClosed) {
		t.Fatalf("Add after Close: %v", err)
	}
}

func TestCloseBadMood(t *testing.T) {
	u := realServer(t, "")
	c, err := mailbox.Dial(testCtx(t), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := c.Close(wire.MoodExpired); !errors.Is(err, mailbox.ErrBadRequest) {
		t.Fatalf("Close with a server-only mood: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Close took %v", d)
	}
	if _, err := c.Next(testCtx(t)); !errors.Is(err, mailbox.ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}
