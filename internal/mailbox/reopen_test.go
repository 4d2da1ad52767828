package mailbox_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/wire"
)

// cutProxy is a TCP forwarder in front of the rendezvous server whose
// connections a test can cut (both ends closed, as after a reset) or
// freeze (everything read and dropped, as when the client's address went
// away: the server notices nothing for a long time).
type cutProxy struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	accepted atomic.Int64
	refuse   atomic.Bool // close new connections at once

	mu    sync.Mutex
	pairs []*proxyPair
}

type proxyPair struct {
	client, server net.Conn
	frozen         atomic.Bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	p.wg.Go(p.serve)
	t.Cleanup(func() {
		_ = ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if p.refuse.Load() {
			_ = c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		pp := &proxyPair{client: c, server: s}
		p.mu.Lock()
		p.pairs = append(p.pairs, pp)
		p.mu.Unlock()
		p.wg.Go(func() { pp.pipe(s, c) })
		p.wg.Go(func() { pp.pipe(c, s) })
	}
}

// pipe copies src to dst until either fails, dropping what it reads while
// the pair is frozen.
func (pp *proxyPair) pipe(dst, src net.Conn) {
	defer func() { _ = dst.Close(); _ = src.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if pp.frozen.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

// cut closes every connection open now.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.pairs {
		_ = pp.client.Close()
		_ = pp.server.Close()
	}
	p.pairs = nil
}

// freeze blackholes every connection open now; later ones pass.
func (p *cutProxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pp := range p.pairs {
		pp.frozen.Store(true)
	}
}

// reopenBed is a rendezvous server and two mailbox connections with
// Reopen, each through its own proxy, paired and past "paired".
type reopenBed struct {
	srv          *rendezvous.Server
	pa, pb       *cutProxy
	a, b         *mailbox.Conn
	aOut, bOut   int // bodies added so far
	aSeen, bSeen int // messages read so far
}

func newReopenBed(t *testing.T, cfg rendezvous.Config) *reopenBed {
	t.Helper()
	cfg.Logger = slog.New(slog.DiscardHandler)
	srv := rendezvous.New(cfg)
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { _ = srv.Close(); ts.Close() })
	target := strings.TrimPrefix(ts.URL, "http://")
	bed := &reopenBed{srv: srv, pa: newCutProxy(t, target), pb: newCutProxy(t, target)}
	ctx := testCtx(t)
	opts := &mailbox.DialOptions{Reopen: true, PingInterval: 200 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)}
	var err error
	if bed.a, err = mailbox.Dial(ctx, bed.pa.url(), opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bed.a.Close("") })
	if bed.b, err = mailbox.Dial(ctx, bed.pb.url(), opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bed.b.Close("") })
	np, _, err := bed.a.Allocate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bed.b.Claim(ctx, np); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*mailbox.Conn{bed.a, bed.b} {
		if f, err := c.Next(ctx); err != nil || f.Type != wire.TypePaired || len(f.Token) != wire.ReopenTokenSize {
			t.Fatalf("paired with a token: %s %d-byte token, %v", f.Type, len(f.Token), err)
		}
	}
	return bed
}

// add adds n numbered bodies on side a or b.
func (bed *reopenBed) add(t *testing.T, sideA bool, n int) {
	t.Helper()
	c, count, name := bed.b, &bed.bOut, "b"
	if sideA {
		c, count, name = bed.a, &bed.aOut, "a"
	}
	for range n {
		if err := c.Add(testCtx(t), fmt.Appendf(nil, "%s%d", name, *count)); err != nil {
			t.Fatalf("Add %s%d: %v", name, *count, err)
		}
		*count++
	}
}

// expectAll reads on side a or b until it has seen every body the other
// side added, in order, each once.
func (bed *reopenBed) expectAll(t *testing.T, sideA bool) {
	t.Helper()
	c, seen, want, from := bed.a, &bed.aSeen, bed.bOut, "b"
	if !sideA {
		c, seen, want, from = bed.b, &bed.bSeen, bed.aOut, "a"
	}
	for ; *seen < want; *seen++ {
		f, err := c.Next(testCtx(t))
		if err != nil {
			t.Fatalf("waiting for %s%d: %v", from, *seen, err)
		}
		if exp := fmt.Sprintf("%s%d", from, *seen); f.Type != wire.TypeMessage || string(f.Body) != exp {
			t.Fatalf("got %s %q, want message %q", f.Type, f.Body, exp)
		}
	}
}

// expectQuiet checks that side a or b has no further frame within d: a
// body delivered twice would show here.
func (bed *reopenBed) expectQuiet(t *testing.T, sideA bool, d time.Duration) {
	t.Helper()
	c := bed.b
	if sideA {
		c = bed.a
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	if f, err := c.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unexpected %s %q (%v)", f.Type, f.Body, err)
	}
}

// A connection that is reset comes back: bodies either side added while it
// was away arrive once each, in order.
func TestReopenAfterReset(t *testing.T) {
	bed := newReopenBed(t, rendezvous.Config{})
	bed.add(t, true, 3)
	bed.add(t, false, 3)
	bed.expectAll(t, true)
	bed.expectAll(t, false)

	bed.pb.cut()
	bed.add(t, true, 5)  // to b while it is away
	bed.add(t, false, 4) // from b while it reopens
	bed.expectAll(t, false)
	bed.expectAll(t, true)
	bed.add(t, false, 2)
	bed.add(t, true, 2)
	bed.expectAll(t, true)
	bed.expectAll(t, false)
	bed.expectQuiet(t, true, 300*time.Millisecond)
	bed.expectQuiet(t, false, 0)
	if n := bed.pb.accepted.Load(); n != 2 {
		t.Errorf("b connected %d times, want 2", n)
	}

	// Side a too, twice.
	for range 2 {
		bed.pa.cut()
		bed.add(t, false, 2)
		bed.add(t, true, 2)
		bed.expectAll(t, true)
		bed.expectAll(t, false)
	}
	if n := bed.pa.accepted.Load(); n != 3 {
		t.Errorf("a connected %d times, want 3", n)
	}
}

// A connection that goes silent — its packets vanish, the server does not
// notice for many seconds — is found dead by the client's ping; the
// reopen takes the side over from the server's stale connection, and
// what went into the black hole in either direction arrives.
func TestReopenAfterBlackhole(t *testing.T) {
	bed := newReopenBed(t, rendezvous.Config{})
	bed.add(t, true, 2)
	bed.expectAll(t, false)

	bed.pb.freeze()
	bed.add(t, true, 3)  // the server writes these into the black hole
	bed.add(t, false, 3) // b writes these into it
	bed.expectAll(t, false)
	bed.expectAll(t, true)
	bed.expectQuiet(t, true, 300*time.Millisecond)
	bed.expectQuiet(t, false, 0)
	if n := bed.pb.accepted.Load(); n != 2 {
		t.Errorf("b connected %d times, want 2", n)
	}
}

// The body limit counts each body once across reopens: a side that added
// wire.MaxBodiesPerSide bodies, some of them sent twice, is refused the
// next one, and the other side gets exactly that many.
func TestReopenBodyLimit(t *testing.T) {
	bed := newReopenBed(t, rendezvous.Config{})
	half := wire.MaxBodiesPerSide / 2
	bed.add(t, false, half)
	bed.pb.freeze()
	bed.add(t, false, wire.MaxBodiesPerSide-half)
	if err := bed.b.Add(testCtx(t), []byte("one too many")); !errors.Is(err, mailbox.ErrTooMany) {
		t.Fatalf("Add beyond the limit: %v, want ErrTooMany", err)
	}
	bed.expectAll(t, true)
	bed.expectQuiet(t, true, 300*time.Millisecond)
	// The server agrees: the side is still in good standing.
	bed.add(t, true, 1)
	bed.expectAll(t, false)
}

// When the other side leaves while one is away, the mailbox is gone: the
// reopen is refused and Next reports it.
func TestReopenAfterMailboxEnded(t *testing.T) {
	bed := newReopenBed(t, rendezvous.Config{})
	bed.pb.refuse.Store(true)
	bed.pb.cut()
	// Wait until b's first reopen attempt was refused by the proxy, so
	// that a's close certainly comes while b is away.
	ctx := testCtx(t)
	for bed.pb.accepted.Load() < 2 {
		select {
		case <-ctx.Done():
			t.Fatal("b did not try to reopen")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := bed.a.Close(wire.MoodHappy); err != nil {
		t.Fatal(err)
	}
	bed.pb.refuse.Store(false)
	if f, err := bed.b.Next(ctx); !errors.Is(err, mailbox.ErrUnknownMailbox) || !errors.Is(err, mailbox.ErrClosed) {
		t.Fatalf("Next after the mailbox ended: %s, %v; want ErrClosed and ErrUnknownMailbox", f.Type, err)
	}
}

// A side that does not come back within the grace period ends the mailbox
// for the other side, as a dropped connection without a token does at once.
func TestReopenGraceExpires(t *testing.T) {
	bed := newReopenBed(t, rendezvous.Config{ReopenGrace: 200 * time.Millisecond})
	bed.pb.refuse.Store(true)
	bed.pb.cut()
	f, err := bed.a.Next(testCtx(t))
	if err != nil || f.Type != wire.TypeClosed || f.Mood != wire.MoodErrory {
		t.Fatalf("a got %s %q, %v; want closed errory", f.Type, f.Mood, err)
	}
}

// Close while a reopen runs returns at once and ends Next.
func TestCloseWhileReopening(t *testing.T) {
	bed := newReopenBed(t, rendezvous.Config{})
	bed.pb.refuse.Store(true)
	bed.pb.cut()
	ctx := testCtx(t)
	for bed.pb.accepted.Load() < 2 {
		select {
		case <-ctx.Done():
			t.Fatal("b did not try to reopen")
		case <-time.After(10 * time.Millisecond):
		}
	}
	start := time.Now()
	if err := bed.b.Close(wire.MoodHappy); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %s", d)
	}
	if _, err := bed.b.Next(ctx); !errors.Is(err, mailbox.ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
}

// Without Reopen nothing changes: no token, and a drop ends the mailbox
// for the other side at once.
func TestNoReopenWithoutAsking(t *testing.T) {
	srv := rendezvous.New(rendezvous.Config{Logger: slog.New(slog.DiscardHandler)})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { _ = srv.Close(); ts.Close() })
	p := newCutProxy(t, strings.TrimPrefix(ts.URL, "http://"))
	ctx := testCtx(t)
	a, err := mailbox.Dial(ctx, ts.URL, &mailbox.DialOptions{Reopen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close("")
	b, err := mailbox.Dial(ctx, p.url(), nil)
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
	if f, err := b.Next(ctx); err != nil || f.Type != wire.TypePaired || f.Token != nil {
		t.Fatalf("b: %s with %d-byte token, %v; want paired without one", f.Type, len(f.Token), err)
	}
	if f, err := a.Next(ctx); err != nil || f.Type != wire.TypePaired || f.Token == nil {
		t.Fatalf("a: %s with %d-byte token, %v; want paired with one", f.Type, len(f.Token), err)
	}
	p.cut()
	if f, err := a.Next(ctx); err != nil || f.Type != wire.TypeClosed || f.Mood != wire.MoodErrory {
		t.Fatalf("a got %s %q, %v; want closed errory", f.Type, f.Mood, err)
	}
	if _, err := b.Next(ctx); !errors.Is(err, mailbox.ErrClosed) {
		t.Fatalf("b after the cut: %v, want ErrClosed", err)
	}
}
