package wire_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/direkt/direkt/internal/wire"
)

func pair(t testing.TB) (*wire.Sealer, *wire.Opener, wire.Keys) {
	t.Helper()
	k, err := wire.DeriveKeys(testISK())
	if err != nil {
		t.Fatal(err)
	}
	s, err := wire.NewSealer(k.SealAB)
	if err != nil {
		t.Fatal(err)
	}
	o, err := wire.NewOpener(k.SealAB)
	if err != nil {
		t.Fatal(err)
	}
	return s, o, k
}

func seal(t testing.TB, s *wire.Sealer, sig wire.Signal) []byte {
	t.Helper()
	b, err := s.Seal(sig)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	s, o, _ := pair(t)
	for i, sig := range validSignals() {
		body := seal(t, s, sig)
		f, err := wire.ParsePairingFrame(body)
		if err != nil || f.Kind != wire.KindSealed || f.Seq != uint64(i) {
			t.Fatalf("frame %d: %+v, %v", i, f, err)
		}
		got, err := o.Open(body)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, sig) {
			t.Errorf("frame %d: got %+v, want %+v", i, got, sig)
		}
	}
}

// Every failure ends the channel: later frames, even good ones, are refused.
func TestOpenFailuresArePermanent(t *testing.T) {
	for _, c := range []struct {
		name string
		bad  func(good [][]byte) []byte // the frame given instead of good[0]
		want error
	}{
		{"skip", func(g [][]byte) []byte { return g[1] }, wire.ErrSequence},
		{"flip ciphertext", func(g [][]byte) []byte { return flip(g[0], wire.SealedHeaderSize) }, wire.ErrAuth},
		{"flip tag", func(g [][]byte) []byte { return flip(g[0], len(g[0])-1) }, wire.ErrAuth},
		{"truncate", func(g [][]byte) []byte { return g[0][:len(g[0])-1] }, wire.ErrAuth},
		{"seq in header", func(g [][]byte) []byte { return flip(g[1], 9) }, wire.ErrAuth}, // seq 1 → 0: AD mismatch
		{"wrong kind", func(g [][]byte) []byte { return wire.EncodeConfirmA(fill(32, 0)) }, wire.ErrMalformed},
		{"garbage", func(g [][]byte) []byte { return []byte{1} }, wire.ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, o, _ := pair(t)
			var good [][]byte
			for i := range 3 {
				good = append(good, seal(t, s, wire.Signal{T: wire.SignalBye, Reason: fmt.Sprint(i)}))
			}
			if _, err := o.Open(c.bad(good)); !errors.Is(err, c.want) {
				t.Fatalf("bad frame: err = %v, want %v", err, c.want)
			}
			for _, g := range good {
				_, err := o.Open(g)
				if !errors.Is(err, wire.ErrBroken) || !errors.Is(err, c.want) {
					t.Fatalf("after failure: err = %v, want ErrBroken wrapping %v", err, c.want)
				}
			}
		})
	}
}

func TestOpenReplay(t *testing.T) {
	s, o, _ := pair(t)
	b0 := seal(t, s, wire.Signal{T: wire.SignalCandEnd})
	if _, err := o.Open(b0); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Open(b0); !errors.Is(err, wire.ErrSequence) {
		t.Fatalf("replay: %v, want ErrSequence", err)
	}
}

// Keys are per direction: a frame sealed for a → b does not open as b → a,
// so a peer's own frames reflected back are refused.
func TestOpenWrongKey(t *testing.T) {
	s, _, k := pair(t)
	o, err := wire.NewOpener(k.SealBA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Open(seal(t, s, wire.Signal{T: wire.SignalCandEnd})); !errors.Is(err, wire.ErrAuth) {
		t.Fatalf("wrong key: %v, want ErrAuth", err)
	}
}

func TestSealRefuses(t *testing.T) {
	s, o, _ := pair(t)
	if _, err := s.Seal(wire.Signal{T: "hello"}); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("invalid hello: %v", err)
	}
	// An SDP within MaxSDP whose JSON escaping pushes the body over MaxBody.
	big := strings.Repeat("a=x\r\n", wire.MaxSDP/5)
	if _, err := s.Seal(wire.Signal{T: wire.SignalOffer, SDP: big}); !errors.Is(err, wire.ErrTooLarge) {
		t.Errorf("large offer: %v, want ErrTooLarge", err)
	}
	// Refusals do not use up sequence numbers: the next frame is seq 0.
	if _, err := o.Open(seal(t, s, wire.Signal{T: wire.SignalCandEnd})); err != nil {
		t.Fatalf("first frame after refusals: %v", err)
	}
	// The largest SDP that fits is sealed and opened.
	fits := strings.Repeat("a", wire.MaxSDP)
	if _, err := o.Open(seal(t, s, wire.Signal{T: wire.SignalAnswer, SDP: fits})); err != nil {
		t.Fatalf("MaxSDP answer: %v", err)
	}
}

// Concurrent Seal calls never share a sequence number (run with -race).
func TestSealConcurrent(t *testing.T) {
	s, o, _ := pair(t)
	const n = 32
	bodies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { bodies[i] = seal(t, s, wire.Signal{T: wire.SignalBye, Reason: fmt.Sprint(i)}) })
	}
	wg.Wait()
	bySeq := make([][]byte, n)
	for _, b := range bodies {
		f, err := wire.ParsePairingFrame(b)
		if err != nil {
			t.Fatal(err)
		}
		if f.Seq >= n || bySeq[f.Seq] != nil {
			t.Fatalf("sequence number %d out of range or used twice", f.Seq)
		}
		bySeq[f.Seq] = b
	}
	for _, b := range bySeq {
		if _, err := o.Open(b); err != nil {
			t.Fatal(err)
		}
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 1
	return c
}

func BenchmarkSealOpen(b *testing.B) {
	b.ReportAllocs()
	sig := wire.Signal{T: wire.SignalOffer, SDP: testSDP}
	s, o, _ := pair(b)
	for b.Loop() {
		if _, err := o.Open(seal(b, s, sig)); err != nil {
			b.Fatal(err)
		}
	}
}
