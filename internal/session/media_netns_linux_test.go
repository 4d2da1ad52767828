package session

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/netbed"
)

// TestVideoBottleneck sends video from a to b over a 600 kbit/s line (40 ms
// RTT) at the rate of a's estimate, as the capturing page does when it
// follows the REMB of internal/screen. GCC starts at 1 Mbit/s, too much for
// the line; the estimate must come down to what the line carries and the
// video must get through.
func TestVideoBottleneck(t *testing.T) {
	leakCheck(t)
	const line = 600_000
	bed := newSessionBedConfig(t, netbed.Config{A: netbed.Public, B: netbed.Public, Delay: 10 * time.Millisecond,
		Limit: [2]netbed.Limit{{Rate: line}}})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ca, cb := bed.configs(Config{Video: true})
	a, b := mustConnect(t, ctx, ca, cb)
	va, vb := a.Video(), b.Video()

	var got atomic.Int64 // payload bytes b received
	rctx, stopRead := context.WithCancel(ctx)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			p, err := vb.ReadRTP(rctx)
			if err != nil {
				return
			}
			got.Add(int64(len(p.Payload)))
		}
	}()
	defer func() { stopRead(); <-readDone }()

	// Send at the estimate (1 Mbit/s until there is one), 1100-byte
	// packets in 10 ms steps.
	const size = 1100
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	var budget float64
	var seq uint32
	var lastGot int64
	var est []int
	for s := 1; time.Since(start) < 15*time.Second; {
		<-tick.C
		rate := va.TargetBitrate()
		if rate == 0 {
			rate = bweInitial
		}
		budget += float64(rate) / 8 / 100
		for budget >= size {
			if err := va.WriteRTP(numbered(seq, size)); err != nil {
				t.Fatal(err)
			}
			seq++
			budget -= size
		}
		if time.Since(start) >= time.Duration(s)*time.Second {
			g := got.Load()
			t.Logf("%2d s: estimate %4d kbit/s, received %4d kbit/s", s, va.TargetBitrate()/1000, (g-lastGot)*8/1000)
			est = append(est, va.TargetBitrate())
			lastGot = g
			s++
		}
	}
	// The last 5 s: the estimate is below the line (plus headers: an
	// estimate counts RTP payload and headers, the line Ethernet frames)
	// and not starved.
	for _, e := range est[len(est)-5:] {
		if e > line*11/10 || e < line/4 {
			t.Errorf("estimate %d bit/s over a %d bit/s line (last 5 s: %v)", e, line, est[len(est)-5:])
			break
		}
	}
	st := vb.Stats()
	t.Logf("b received %d packets, dropped %d from its queue", st.ReceivedPackets, st.Dropped)
}
