package session

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/wire"
)

// TestLoopback connects two sessions over real loopback sockets, opens a
// channel each way, moves 64 MiB and checks every byte.
func TestLoopback(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ca, cb, _, _ := pairConfigs(Config{IncludeLoopback: true})
	a, b := mustConnect(t, ctx, ca, cb)

	for _, s := range []*Session{a, b} {
		p := s.Path()
		// The remote end is host, or prflx when the peer's check arrived
		// before its candidate.
		if !p.Direct || p.Kind() != "direct" || p.Local != "host" || (p.Remote != "host" && p.Remote != "prflx") || p.Proto != "udp" {
			t.Errorf("path = %+v, want direct host/host udp", p)
		}
		if p.LocalAddr == "" || p.RemoteAddr == "" {
			t.Errorf("path without addresses: %+v", p)
		}
	}

	size := int64(64 << 20)
	if raceEnabled {
		size = 8 << 20
	}
	type result struct {
		n   int64
		err error
	}
	// a opens "bulk" and writes; b accepts and reads. At the same time b
	// opens "back" towards a, so channels work both ways at once.
	got := make(chan result, 2)
	go func() {
		ch, err := b.Accept(ctx)
		if err != nil {
			got <- result{err: err}
			return
		}
		if ch.Label() != "bulk" {
			got <- result{err: errors.New("accepted label " + ch.Label())}
			return
		}
		n, err := readPattern(ch, 100_000)
		_ = ch.Close()
		got <- result{n, err}
	}()
	go func() {
		ch, err := a.Accept(ctx)
		if err != nil {
			got <- result{err: err}
			return
		}
		n, err := readPattern(ch, 4096)
		_ = ch.Close()
		got <- result{n, err}
	}()

	back, err := b.Open(ctx, "back")
	if err != nil {
		t.Fatal(err)
	}
	bulk, err := a.Open(ctx, "bulk")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() {
		err := writePattern(back, 1<<20, 3000)
		errs <- errors.Join(err, back.Close())
	}()
	go func() {
		err := writePattern(bulk, size, 1<<20)
		errs <- errors.Join(err, bulk.Close())
	}()
	start := time.Now()
	defer func() { t.Logf("transfer took %v", time.Since(start)) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	want := map[int64]bool{size: true, 1 << 20: true}
	for range 2 {
		r := <-got
		if r.err != nil {
			t.Fatalf("read: %v after %d bytes", r.err, r.n)
		}
		if !want[r.n] {
			t.Fatalf("read %d bytes, want %d or %d", r.n, size, 1<<20)
		}
		delete(want, r.n)
	}

	t.Logf("transfer done after %v", time.Since(start))
	closeStart := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("a.Close took %v", time.Since(closeStart))
	if a.Err() != nil {
		t.Errorf("a.Err() after local Close = %v, want nil", a.Err())
	}
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("b did not notice a's Close")
	}
	if !errors.Is(b.Err(), ErrPeerClosed) {
		t.Errorf("b.Err() = %v, want ErrPeerClosed", b.Err())
	}
	if _, err := b.Accept(ctx); !errors.Is(err, ErrPeerClosed) {
		t.Errorf("Accept after the peer closed = %v, want ErrPeerClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Open(ctx, "late"); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Close = %v, want ErrClosed", err)
	}
	_ = io.EOF
}

// flipFingerprint changes one hex digit of the DTLS fingerprint in an SDP,
// as a person in the middle who substitutes its own certificate would have
// to (the seal would normally stop this; the fingerprint check is the
// second line of defence).
func flipFingerprint(t *testing.T, sdp string) string {
	t.Helper()
	const attr = "a=fingerprint:sha-256 "
	i := strings.Index(sdp, attr)
	if i < 0 {
		t.Fatalf("no sha-256 fingerprint in SDP:\n%s", sdp)
	}
	j := i + len(attr)
	d := byte('0')
	if sdp[j] == '0' {
		d = '1'
	}
	return sdp[:j] + string(d) + sdp[j+1:]
}

// TestTamperedFingerprint changes the fingerprint in a's offer on the way:
// b's DTLS handshake must reject a's certificate, and both Connects fail.
func TestTamperedFingerprint(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, cb, sa, _ := pairConfigs(Config{IncludeLoopback: true})
	sa.setTamper(func(s wire.Signal) (wire.Signal, bool) {
		if s.T == wire.SignalOffer {
			s.SDP = flipFingerprint(t, s.SDP)
		}
		return s, true
	})
	start := time.Now()
	ra, rb := connectBoth(ctx, ca, cb)
	t.Logf("both failed after %v: a: %v; b: %v", time.Since(start), ra.err, rb.err)
	if ra.s != nil || rb.s != nil {
		t.Fatal("Connect returned a session despite a tampered fingerprint")
	}
	// b rejects a's certificate and aborts the handshake; a sees the
	// handshake fail too. Whichever notices first says "bye", so the other
	// may report the peer's departure instead.
	if ra.err == nil || rb.err == nil {
		t.Fatalf("a: %v; b: %v; want both to fail", ra.err, rb.err)
	}
	if !errors.Is(ra.err, ErrDTLS) && !errors.Is(rb.err, ErrDTLS) {
		t.Errorf("neither side reports ErrDTLS: a: %v; b: %v", ra.err, rb.err)
	}
	for _, err := range []error{ra.err, rb.err} {
		if !errors.Is(err, ErrDTLS) && !errors.Is(err, ErrPeerClosed) {
			t.Errorf("unexpected failure %v", err)
		}
	}
	if ctx.Err() != nil {
		t.Error("failure took until the test deadline")
	}
}

// TestWrongBindingKey gives b a different binding key: DTLS works, but the
// proofs on the ctl channel cannot match, and both sides must say so.
func TestWrongBindingKey(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, cb, _, _ := pairConfigs(Config{IncludeLoopback: true})
	cb.BindingKey[0] ^= 1
	ra, rb := connectBoth(ctx, ca, cb)
	if ra.s != nil || rb.s != nil {
		t.Fatal("Connect returned a session despite different binding keys")
	}
	if !errors.Is(ra.err, ErrBinding) || !errors.Is(rb.err, ErrBinding) {
		t.Errorf("a: %v; b: %v; want ErrBinding on both", ra.err, rb.err)
	}
}
