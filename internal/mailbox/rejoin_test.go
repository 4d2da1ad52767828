package mailbox_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/wire"
)

const testChannel = "00112233445566778899aabbccddeeff"

func mustDial(t *testing.T, u string) *mailbox.Conn {
	t.Helper()
	c, err := mailbox.Dial(testCtx(t), u, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close("") })
	return c
}

func next(t *testing.T, c *mailbox.Conn, typ string) wire.Frame {
	t.Helper()
	f, err := c.Next(testCtx(t))
	if err != nil || f.Type != typ {
		t.Fatalf("Next = %s, %v; want %s", f.Type, err, typ)
	}
	return f
}

// A host listens, a client dials, the host answers on a new connection:
// both end up in one mailbox and exchange bodies.
func TestListenDialAnswer(t *testing.T) {
	u := realServer(t, "")
	ctx := testCtx(t)
	l := mustDial(t, u)
	if err := l.Listen(ctx, []string{testChannel}); err != nil {
		t.Fatal(err)
	}
	next(t, l, wire.TypeListening)

	d := mustDial(t, u)
	type result struct {
		mb  []byte
		err error
	}
	res := make(chan result, 1)
	go func() {
		mb, err := d.DialChannel(ctx, testChannel)
		res <- result{mb, err}
	}()
	ring := next(t, l, wire.TypeRing)
	if ring.Channel != testChannel {
		t.Fatalf("ring on %q", ring.Channel)
	}
	a := mustDial(t, u)
	mbA, err := a.Answer(ctx, ring.Ring)
	if err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil || !bytes.Equal(r.mb, mbA) {
		t.Fatalf("DialChannel = %x, %v; answer got %x", r.mb, r.err, mbA)
	}
	if f := next(t, l, wire.TypeHangup); !bytes.Equal(f.Ring, ring.Ring) {
		t.Fatal("hangup names another ring")
	}
	next(t, a, wire.TypePaired)
	next(t, d, wire.TypePaired)
	if err := a.Add(ctx, []byte("pake-a")); err != nil {
		t.Fatal(err)
	}
	if f := next(t, d, wire.TypeMessage); string(f.Body) != "pake-a" {
		t.Fatalf("body %q", f.Body)
	}
	// Nobody listens on another channel; the error names its kind.
	_, err = mustDial(t, u).DialChannel(ctx, strings.Repeat("0", wire.ChannelHexLen))
	var se *mailbox.ServerError
	if !errors.Is(err, mailbox.ErrUnavailable) || !errors.As(err, &se) || se.Kind != wire.ErrKindUnavailable {
		t.Fatalf("dial of an unknown channel: %v", err)
	}
}

func TestRejoinCallsOutOfOrder(t *testing.T) {
	u := realServer(t, "")
	ctx := testCtx(t)

	a := mustDial(t, u)
	if _, _, err := a.Allocate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Listen(ctx, nil); !errors.Is(err, mailbox.ErrState) {
		t.Fatalf("Listen after Allocate: %v", err)
	}

	l := mustDial(t, u)
	if err := l.Listen(ctx, nil); err != nil {
		t.Fatal(err)
	}
	next(t, l, wire.TypeListening)
	if _, _, err := l.Allocate(ctx); !errors.Is(err, mailbox.ErrState) {
		t.Fatalf("Allocate after Listen: %v", err)
	}
	if _, err := l.DialChannel(ctx, testChannel); !errors.Is(err, mailbox.ErrState) {
		t.Fatalf("DialChannel after Listen: %v", err)
	}
	if _, err := l.Answer(ctx, make([]byte, wire.RingIDSize)); !errors.Is(err, mailbox.ErrState) {
		t.Fatalf("Answer after Listen: %v", err)
	}
	// A second Listen replaces the set; bad channels never leave the client.
	if err := l.Listen(ctx, []string{testChannel}); err != nil {
		t.Fatal(err)
	}
	next(t, l, wire.TypeListening)
	if err := l.Listen(ctx, []string{"NOT-HEX"}); !errors.Is(err, mailbox.ErrBadRequest) {
		t.Fatalf("Listen with a bad channel: %v", err)
	}
	if _, err := mustDial(t, u).DialChannel(ctx, "nope"); !errors.Is(err, mailbox.ErrBadRequest) {
		t.Fatalf("DialChannel with a bad channel: %v", err)
	}
}

// A server that sends a listener mailbox frames, or a mailbox ring frames,
// breaks the protocol.
func TestRejoinFramesOutOfPlace(t *testing.T) {
	ring := `{"type":"ring","channel":"` + testChannel + `","ring":"AAAAAAAAAAAAAAAAAAAAAA=="}`
	for _, tc := range []struct {
		name   string
		listen bool
		frame  string
	}{
		{"message to a listener", true, `{"type":"message","body":"aGk="}`},
		{"paired to a listener", true, `{"type":"paired"}`},
		{"ring to a dialer", false, ring},
		{"answered to a dialer", false, `{"type":"answered","mailbox":"AAAAAAAAAAAAAAAAAAAAAA=="}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := fakeServer(t, []string{wire.Subprotocol}, func(ctx context.Context, ws *websocket.Conn) {
				write(ctx, ws, welcome)
				_, _, _ = ws.Read(ctx) // listen or dial
				if !tc.listen {
					write(ctx, ws, `{"type":"dialed","mailbox":"AAAAAAAAAAAAAAAAAAAAAA=="}`)
				}
				write(ctx, ws, tc.frame)
				_, _, _ = ws.Read(ctx)
			})
			c := mustDial(t, u)
			ctx := testCtx(t)
			if tc.listen {
				if err := c.Listen(ctx, nil); err != nil {
					t.Fatal(err)
				}
			} else if _, err := c.DialChannel(ctx, testChannel); err != nil {
				t.Fatal(err)
			}
			if f, err := c.Next(ctx); !errors.Is(err, mailbox.ErrProtocol) {
				t.Fatalf("Next = %s, %v; want a protocol error", f.Type, err)
			}
		})
	}
}
