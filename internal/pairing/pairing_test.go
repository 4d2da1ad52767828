package pairing_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/mitm"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/testwatch"
	"github.com/direkt/direkt/internal/wire"
)

func TestMain(m *testing.M) {
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}

// newServer runs a real rendezvous server on loopback.
func newServer(t *testing.T) string {
	t.Helper()
	rv := rendezvous.New(rendezvous.Config{
		ICEServers: func(*http.Request, time.Time) []wire.ICEServer {
			return []wire.ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}}
		},
	})
	hs := httptest.NewServer(rv.Handler())
	t.Cleanup(func() {
		rv.Close()
		hs.Close()
	})
	return hs.URL
}

func hello(name string) wire.Signal {
	return wire.Signal{Name: name, ID: bytes.Repeat([]byte{1}, 32), App: "send", Path: "auto"}
}

type result struct {
	pair *pairing.Pair
	err  error
}

// pairUp runs both sides; claimCode transforms the real code into what b types.
func pairUp(t *testing.T, ctx context.Context, server string, claimCode func(code.Code) code.Code) (a, b result) {
	t.Helper()
	pend, err := pairing.Allocate(ctx, pairing.Options{Server: server, Hello: hello("alice"), Lang: code.German})
	if err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { a.pair, a.err = pend.Wait(ctx) })
	c := claimCode(pend.Code())
	b.pair, b.err = pairing.Claim(ctx, pairing.Options{Server: server, Hello: hello("bob")}, c)
	wg.Wait()
	return a, b
}

func same(c code.Code) code.Code { return c }

func closeAll(rs ...result) {
	for _, r := range rs {
		if r.pair != nil {
			r.pair.Close(wire.MoodHappy)
		}
	}
}

func TestPairAndSeal(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	server := newServer(t)
	a, b := pairUp(t, ctx, server, same)
	defer closeAll(a, b)
	if a.err != nil || b.err != nil {
		t.Fatalf("pairing failed: a=%v b=%v", a.err, b.err)
	}
	if a.pair.Phrase == "" || a.pair.Phrase != b.pair.Phrase {
		t.Fatalf("check phrases differ: %q vs %q", a.pair.Phrase, b.pair.Phrase)
	}
	if len(strings.Fields(a.pair.Phrase)) != 3 {
		t.Fatalf("phrase %q is not three words", a.pair.Phrase)
	}
	if a.pair.Peer.Name != "bob" || b.pair.Peer.Name != "alice" {
		t.Fatalf("hellos: a saw %q, b saw %q", a.pair.Peer.Name, b.pair.Peer.Name)
	}
	if a.pair.Role != wire.RoleA || b.pair.Role != wire.RoleB {
		t.Fatal("roles are wrong")
	}
	if len(a.pair.ICEServers) == 0 || len(b.pair.ICEServers) == 0 {
		t.Fatal("no ICE servers issued to a paired mailbox")
	}
	// Sealed signalling both ways, in order.
	for i, sdp := range []string{"v=0 one", "v=0 two"} {
		if err := a.pair.Send(ctx, wire.Signal{T: wire.SignalOffer, SDP: sdp}); err != nil {
			t.Fatal(err)
		}
		got, err := b.pair.Recv(ctx)
		if err != nil || got.SDP != sdp {
			t.Fatalf("message %d: got %+v, %v", i, got, err)
		}
	}
	if err := b.pair.Send(ctx, wire.Signal{T: wire.SignalAnswer, SDP: "v=0 answer"}); err != nil {
		t.Fatal(err)
	}
	if got, err := a.pair.Recv(ctx); err != nil || got.SDP != "v=0 answer" {
		t.Fatalf("answer: %+v, %v", got, err)
	}
}

func TestWrongCodeBurnsNameplate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	server := newServer(t)
	var real code.Code
	a, b := pairUp(t, ctx, server, func(c code.Code) code.Code {
		real = c
		w := code.Words(c.Lang)
		wrong := c
		wrong.Words = []string{c.Words[0], w[0]}
		if wrong.Words[1] == c.Words[1] {
			wrong.Words[1] = w[1]
		}
		return wrong
	})
	defer closeAll(a, b)
	if !errors.Is(a.err, pairing.ErrBadCode) || !errors.Is(b.err, pairing.ErrBadCode) {
		t.Fatalf("want ErrBadCode on both sides, got a=%v b=%v", a.err, b.err)
	}
	// One guess per code: the right code no longer works.
	_, err := pairing.Claim(ctx, pairing.Options{Server: server, Hello: hello("bob")}, real)
	if !errors.Is(err, pairing.ErrUnknownCode) {
		t.Fatalf("claim after a wrong guess: %v, want ErrUnknownCode", err)
	}
}

func TestUnknownNameplate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	server := newServer(t)
	c, err := code.Parse("987654-nordsee-tulpe")
	if err != nil {
		t.Fatal(err)
	}
	_, err = pairing.Claim(ctx, pairing.Options{Server: server, Hello: hello("bob")}, c)
	if !errors.Is(err, pairing.ErrUnknownCode) {
		t.Fatalf("err = %v, want ErrUnknownCode", err)
	}
}

func TestCrowded(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	server := newServer(t)
	pend, err := pairing.Allocate(ctx, pairing.Options{Server: server, Hello: hello("alice")})
	if err != nil {
		t.Fatal(err)
	}
	defer pend.Close()
	// Someone claims the nameplate and sits there without answering.
	squat, err := mailbox.Dial(ctx, server, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close(wire.MoodLonely)
	if _, err := squat.Claim(ctx, pend.Code().Nameplate); err != nil {
		t.Fatal(err)
	}
	_, err = pairing.Claim(ctx, pairing.Options{Server: server, Hello: hello("bob")}, pend.Code())
	if !errors.Is(err, pairing.ErrCrowded) && !errors.Is(err, pairing.ErrUnknownCode) {
		t.Fatalf("third peer: %v, want ErrCrowded", err)
	}
}

// TestTamperingServer runs the pairing through a rendezvous that changes,
// replays or drops sealed frames: the side that receives the damage refuses,
// and the other side learns of it.
func TestTamperingServer(t *testing.T) {
	cases := []struct {
		name string
		hook func(conn int, dir mitm.Dir, f wire.Frame, n int) []wire.Frame
	}{
		{"flip a bit in a's first sealed frame", func(conn int, dir mitm.Dir, f wire.Frame, n int) []wire.Frame {
			if conn == 0 && dir == mitm.ToServer && f.Type == wire.TypeAdd && len(f.Body) > 1 && f.Body[1] == wire.KindSealed {
				g := f
				g.Body = bytes.Clone(f.Body)
				g.Body[len(g.Body)-1] ^= 1
				return []wire.Frame{g}
			}
			return []wire.Frame{f}
		}},
		{"replay b's sealed hello", func(conn int, dir mitm.Dir, f wire.Frame, n int) []wire.Frame {
			if conn == 1 && dir == mitm.ToServer && f.Type == wire.TypeAdd && len(f.Body) > 1 && f.Body[1] == wire.KindSealed {
				return []wire.Frame{f, f}
			}
			return []wire.Frame{f}
		}},
		{"swap in a's pake share from another run", func(conn int, dir mitm.Dir, f wire.Frame, n int) []wire.Frame {
			if conn == 0 && dir == mitm.ToServer && f.Type == wire.TypeAdd && len(f.Body) > 1 && f.Body[1] == wire.KindPakeA {
				g := f
				g.Body = bytes.Clone(f.Body)
				copy(g.Body[2:], otherShare)
				return []wire.Frame{g}
			}
			return []wire.Frame{f}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			server := newServer(t)
			var mu sync.Mutex
			n := 0
			p := mitm.New(server, func(conn int, dir mitm.Dir, f wire.Frame) []wire.Frame {
				mu.Lock()
				n++
				k := n
				mu.Unlock()
				return tc.hook(conn, dir, f, k)
			})
			defer p.Close()
			a, b := pairUp(t, ctx, p.URL, same)
			defer closeAll(a, b)
			if a.err == nil && b.err == nil {
				// The damage was in a frame after the hellos: the next Recv
				// of its receiver must fail.
				rctx, rcancel := context.WithTimeout(ctx, 2*time.Second)
				_, errA := a.pair.Recv(rctx)
				rcancel()
				if !errors.Is(errA, pairing.ErrTampered) {
					t.Fatalf("both sides accepted a tampered pairing; a's next Recv: %v", errA)
				}
				return
			}
			for _, r := range []result{a, b} {
				if r.err == nil {
					continue
				}
				if !errors.Is(r.err, pairing.ErrTampered) && !errors.Is(r.err, pairing.ErrBadCode) && !errors.Is(r.err, pairing.ErrPeerGone) {
					t.Errorf("unexpected error kind: %v", r.err)
				}
			}
		})
	}
}

// otherShare is a valid ristretto255 point that is not the share of this run:
// the generator's encoding from the CPace test vector.
var otherShare = []byte{
	0xe2, 0xf2, 0xae, 0x0a, 0x6a, 0xbc, 0x4e, 0x71, 0xa8, 0x84, 0xa9, 0x61, 0xc5, 0x00, 0x51, 0x5f,
	0x58, 0xe3, 0x0b, 0x6a, 0xa5, 0x82, 0xdd, 0x8d, 0xb6, 0xa6, 0x59, 0x45, 0xe0, 0x8d, 0x2d, 0x76,
}
