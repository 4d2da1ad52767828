package screen

import (
	"context"
	"testing"
	"time"
)

// BenchmarkScreenLatency runs the chain of TestScreen on loopback for about
// 10 s per iteration and reports the frame-to-screen latency of the
// decoded frames (drawn on tab 1's canvas to displayed in tab 2, median and
// 95th percentile), decoded frames per second, and the payload bitrate
// forwarded to the peer (kbit/s) of the pattern: a static document whose
// 8×8 code cells alone change every frame. (A canvas that never changes
// yields no frames at all, so a still screen costs nothing to measure.)
func BenchmarkScreenLatency(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := newChain(b, ctx) // skips without Chromium
	run[bool](b, c.sharer, `window.bridge.open(true)`)
	run[bool](b, c.viewer, `window.bridge.open(false)`)
	waitFor(b, 10*time.Second, "a decoded picture", func() bool { return results(b, c.viewer).Decoded >= 1 })
	time.Sleep(2 * time.Second) // past the first keyframe's burst
	b.ReportAllocs()
	var med, p95, frames, kbits float64
	n := 0
	for b.Loop() {
		since := pageNow(b, c.viewer)
		before, start := c.svcA.Stats().SentBytes, time.Now()
		time.Sleep(10 * time.Second)
		r := resultsSince(b, c.viewer, since)
		elapsed := time.Since(start)
		if r.Count == 0 {
			b.Fatalf("no frame decoded in 10 s: %+v", r)
		}
		med += r.Median
		p95 += r.P95
		frames += float64(r.Count) / elapsed.Seconds()
		kbits += float64(c.svcA.Stats().SentBytes-before) * 8 / elapsed.Seconds() / 1000
		n++
	}
	b.ReportMetric(med/float64(n), "median-ms")
	b.ReportMetric(p95/float64(n), "p95-ms")
	b.ReportMetric(kbits/float64(n), "kbit/s")
	b.ReportMetric(frames/float64(n), "frames/s")
}
