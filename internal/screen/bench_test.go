package screen

import (
	"context"
	"slices"
	"testing"
	"time"
)

// BenchmarkScreenLatency runs the chain of TestScreen on loopback for about
// 10 s per iteration and reports the frame-to-screen latency of the
// decoded frames (drawn on tab 1's canvas to displayed in tab 2, median and
// 95th percentile) and the payload bitrate of the mostly static test
// pattern forwarded to the peer.
func BenchmarkScreenLatency(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	c := newChain(b, ctx) // skips without Chromium
	run[bool](b, c.sharer, `window.bridge.open(true)`)
	run[bool](b, c.viewer, `window.bridge.open(false)`)
	waitFor(b, 10*time.Second, "a decoded picture", func() bool { return results(b, c.viewer).Decoded >= 1 })
	time.Sleep(2 * time.Second) // past the first keyframe's burst
	b.ReportAllocs()
	var lat []float64
	var bytes uint64
	var elapsed time.Duration
	for b.Loop() {
		run[bool](b, c.viewer, `(window.directkPattern.results(true), true)`)
		before, start := c.svcA.Stats().SentBytes, time.Now()
		time.Sleep(10 * time.Second)
		r := results(b, c.viewer)
		lat = append(lat, r.Latencies...)
		bytes += c.svcA.Stats().SentBytes - before
		elapsed += time.Since(start)
	}
	if len(lat) == 0 {
		b.Fatal("no frame decoded")
	}
	slices.Sort(lat)
	b.ReportMetric(lat[len(lat)/2], "median-ms")
	b.ReportMetric(lat[len(lat)*95/100], "p95-ms")
	b.ReportMetric(float64(bytes)*8/elapsed.Seconds()/1000, "kbit/s")
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "frames/s")
}
