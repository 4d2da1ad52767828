package session

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
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
		if !p.Direct || p.Kind() != "direct" || p.Local != "host" || p.Remote != "host" || p.Proto != "udp" {
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
