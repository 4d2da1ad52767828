package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/netbed"
)

// ICE restart in a netbed: a stream from peer a (public site) to peer b
// (behind an easy NAT) is cut mid-way by a change of b's network, and must
// arrive whole over the path the restart finds, in the same sessions. The
// signalling here is in memory, so it survives what the network does; the
// real binary over the real mailbox is tested in internal/e2e.

// restartStream is how much the tests stream; the disruption starts after
// a quarter of it arrived.
const restartStream = 16 << 20

// outage is how long an interface stays down: longer than
// defaultICEDisconnected, so ICE notices and the restart has to work.
const outage = 7 * time.Second

func TestRestartNetns(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace test")
	}
	for _, tc := range []struct {
		name    string
		disrupt func(ctx context.Context, b *netbed.Site) error
		// conntrack: the disruption runs conntrack(8).
		conntrack bool
	}{
		{"down-up", downUp, false},
		{"new-address", newAddress, false},
		{"conntrack-flush", flushConntrack, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := exec.LookPath("conntrack"); err != nil && tc.conntrack {
				t.Skip("needs conntrack (Debian package conntrack)")
			}
			leakCheck(t)
			bed := newSessionBed(t, netbed.Public, netbed.Easy, 0)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			ca, cb := bed.configs(Config{})
			sa, sb := mustConnect(t, ctx, ca, cb)
			beforeA, beforeB := sa.Path(), sb.Path()
			changedA, changedB := sa.PathChanged(), sb.PathChanged()
			t.Logf("before: a %s %s→%s, b %s %s→%s", beforeA, beforeA.LocalAddr, beforeA.RemoteAddr, beforeB, beforeB.LocalAddr, beforeB.RemoteAddr)

			var wg sync.WaitGroup
			var werr, derr error
			wg.Go(func() {
				ch, err := sa.Open(ctx, "data")
				if err != nil {
					werr = err
					return
				}
				werr = writePattern(ch, restartStream, 32<<10)
				if cerr := ch.Close(); werr == nil {
					werr = cerr
				}
			})
			ch, err := sb.Accept(ctx)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			n, rerr := readPatternThen(ch, restartStream/4, func() {
				wg.Go(func() { derr = tc.disrupt(ctx, bed.B) })
			})
			took := time.Since(start)
			wg.Wait()
			if derr != nil {
				t.Fatalf("disrupt: %v", derr)
			}
			if rerr != nil || werr != nil || n != restartStream {
				t.Fatalf("stream: read %d of %d bytes: %v; write: %v; a: %v; b: %v", n, restartStream, rerr, werr, sa.Err(), sb.Err())
			}
			if sa.Err() != nil || sb.Err() != nil {
				t.Fatalf("sessions ended: a: %v; b: %v", sa.Err(), sb.Err())
			}
			afterA, afterB := sa.Path(), sb.Path()
			t.Logf("after %s: a %s %s→%s, b %s %s→%s; restarts a %d, b %d", took.Round(time.Millisecond),
				afterA, afterA.LocalAddr, afterA.RemoteAddr, afterB, afterB.LocalAddr, afterB.RemoteAddr,
				sa.rs.restarts.Load(), sb.rs.restarts.Load())
			if sa.rs.restarts.Load() == 0 || sb.rs.restarts.Load() == 0 {
				t.Errorf("restarts: a %d, b %d; want at least one each", sa.rs.restarts.Load(), sb.rs.restarts.Load())
			}
			for _, c := range []<-chan struct{}{changedA, changedB} {
				select {
				case <-c:
				default:
					t.Error("PathChanged not closed after the restart")
				}
			}
			if afterB.LocalAddr == beforeB.LocalAddr || afterA.RemoteAddr == beforeA.RemoteAddr {
				t.Errorf("path not refreshed: b local %s → %s, a remote %s → %s", beforeB.LocalAddr, afterB.LocalAddr, beforeA.RemoteAddr, afterA.RemoteAddr)
			}
		})
	}
}

// readPatternThen is readPattern that calls at once when at bytes arrived.
func readPatternThen(r io.Reader, at int64, at0 func()) (int64, error) {
	fired := false
	buf := make([]byte, 32<<10)
	want := make([]byte, len(buf))
	var off int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			pattern(want[:n], off)
			for i := range n {
				if buf[i] != want[i] {
					return off, fmt.Errorf("data mismatch at offset %d", off+int64(i))
				}
			}
			off += int64(n)
			if !fired && off >= at {
				fired = true
				at0()
			}
		}
		if errors.Is(err, io.EOF) {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}

// The disruptions, on the easy site (internal/netbed). The router reboot
// leaves TCP loose: this test's signalling does not cross the router.
func downUp(ctx context.Context, s *netbed.Site) error { return s.DownUp(ctx, outage) }

func newAddress(ctx context.Context, s *netbed.Site) error {
	_, err := s.NewAddress(ctx)
	return err
}

func flushConntrack(ctx context.Context, s *netbed.Site) error { return s.RouterReboot(ctx, false) }
