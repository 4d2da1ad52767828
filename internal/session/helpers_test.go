package session

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/testwatch"
	"github.com/direkt/direkt/internal/wire"
)

func TestMain(m *testing.M) {
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}

// leakCheck verifies, after the test and its subtests, that no goroutine
// outlived it. Not for tests that run in parallel with others.
func leakCheck(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// testLogger logs to stderr at the level of $SESSION_TEST_LOG (e.g. DEBUG-4 for
// pion traces, debug otherwise quiet) so that a failing test can be rerun
// with pion's view.
func testLogger() *slog.Logger {
	lvl := slog.LevelWarn + 100
	if v := os.Getenv("SESSION_TEST_LOG"); v != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(v)); err == nil {
			lvl = l
		}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// pipeSignaller is one end of an in-memory signalling channel. Every message
// goes through JSON like the real sealed frames, and a test may rewrite or
// drop what this end sends.
type pipeSignaller struct {
	in  <-chan []byte
	out chan<- []byte

	mu     sync.Mutex
	tamper func(wire.Signal) (wire.Signal, bool)
}

// signallerPair returns the two ends of a signalling channel, for peer a
// and peer b.
func signallerPair() (a, b *pipeSignaller) {
	ab := make(chan []byte, 1024)
	ba := make(chan []byte, 1024)
	return &pipeSignaller{in: ba, out: ab}, &pipeSignaller{in: ab, out: ba}
}

// setTamper installs f on this end's outgoing messages: f returns the
// message to deliver and false to drop it.
func (p *pipeSignaller) setTamper(f func(wire.Signal) (wire.Signal, bool)) {
	p.mu.Lock()
	p.tamper = f
	p.mu.Unlock()
}

func (p *pipeSignaller) Send(ctx context.Context, s wire.Signal) error {
	p.mu.Lock()
	f := p.tamper
	p.mu.Unlock()
	if f != nil {
		var ok bool
		if s, ok = f(s); !ok {
			return nil
		}
	}
	// Like pairing's Seal: never send what the peer's ParseSignal refuses.
	if err := s.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	select {
	case p.out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipeSignaller) Recv(ctx context.Context) (wire.Signal, error) {
	select {
	case b, ok := <-p.in:
		if !ok {
			return wire.Signal{}, io.EOF
		}
		var s wire.Signal
		err := json.Unmarshal(b, &s)
		return s, err
	case <-ctx.Done():
		return wire.Signal{}, ctx.Err()
	}
}

// testKey is a binding key both peers share in tests.
var testKey = [32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}

// pairConfigs returns the configurations of two peers that signal to each
// other, with base applied to both.
func pairConfigs(base Config) (a, b Config, sa, sb *pipeSignaller) {
	sa, sb = signallerPair()
	if base.Logger == nil {
		base.Logger = testLogger()
	}
	if base.BindingKey == ([32]byte{}) {
		base.BindingKey = testKey
	}
	a, b = base, base
	a.Role, a.Signaller = wire.RoleA, sa
	b.Role, b.Signaller = wire.RoleB, sb
	return a, b, sa, sb
}

type connectResult struct {
	s   *Session
	err error
}

// connectBoth runs Connect for both peers concurrently and returns both
// outcomes.
func connectBoth(ctx context.Context, a, b Config) (ra, rb connectResult) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		ra.s, ra.err = Connect(ctx, a)
	}()
	go func() {
		defer wg.Done()
		rb.s, rb.err = Connect(ctx, b)
	}()
	wg.Wait()
	return ra, rb
}

// mustConnect connects two peers and registers their Close.
func mustConnect(t testing.TB, ctx context.Context, a, b Config) (*Session, *Session) {
	t.Helper()
	ra, rb := connectBoth(ctx, a, b)
	for _, r := range []connectResult{ra, rb} {
		if r.s != nil {
			t.Cleanup(func() { _ = r.s.Close() })
		}
	}
	if ra.err != nil || rb.err != nil {
		t.Fatalf("connect: a: %v; b: %v", ra.err, rb.err)
	}
	return ra.s, rb.s
}

// pattern fills p with bytes derived from their offset, so that a reader can
// check every byte it receives without holding the whole stream.
func pattern(p []byte, off int64) {
	for i := range p {
		x := uint64(off) + uint64(i)
		p[i] = byte(x ^ x>>8 ^ x>>17)
	}
}

// writePattern writes n pattern bytes to w in writes of size chunk.
func writePattern(w io.Writer, n int64, chunk int) error {
	buf := make([]byte, chunk)
	for off := int64(0); off < n; {
		k := int64(chunk)
		if n-off < k {
			k = n - off
		}
		pattern(buf[:k], off)
		m, err := w.Write(buf[:k])
		off += int64(m)
		if err != nil {
			return err
		}
	}
	return nil
}

// readPattern reads until EOF with reads of size chunk and checks the
// bytes; it returns how many it read.
func readPattern(r io.Reader, chunk int) (int64, error) {
	buf := make([]byte, chunk)
	want := make([]byte, chunk)
	var off int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			pattern(want[:n], off)
			for i := range n {
				if buf[i] != want[i] {
					return off, errors.New("data mismatch at offset " + itoa(off+int64(i)))
				}
			}
			off += int64(n)
		}
		if err == io.EOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
