package session

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/netbed"
)

// bedRuns is how many connections a bed test makes in a row:
// $SESSION_BED_RUNS, default 5.
func bedRuns() int {
	if n, err := strconv.Atoi(os.Getenv("SESSION_BED_RUNS")); err == nil && n > 0 {
		return n
	}
	return 5
}

// TestPunchNetns connects peers behind two easy NATs at zero latency, where
// plain simultaneous punching loses the conntrack race (DESIGN.md), several
// times in a row: every connection must be direct.
func TestPunchNetns(t *testing.T) {
	for _, tc := range []struct {
		a, b  netbed.Kind
		delay time.Duration
		want  string
	}{
		{netbed.Easy, netbed.Easy, 0, "direct"},
		{netbed.Easy, netbed.Easy, 10 * time.Millisecond, "direct"},
		{netbed.Public, netbed.Hard, 0, "direct"},
		{netbed.Hard, netbed.Public, 0, "direct"},
		{netbed.Open, netbed.Hard, 0, "direct"},
		{netbed.Hard, netbed.Open, 0, "direct"},
		{netbed.Hard, netbed.Hard, 0, "relay"},
	} {
		t.Run(string(tc.a)+"-"+string(tc.b)+"-"+tc.delay.String(), func(t *testing.T) {
			b := newSessionBed(t, tc.a, tc.b, tc.delay)
			for i := range bedRuns() {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				r := connectInBed(ctx, b, Config{})
				cancel()
				if r.err != nil {
					t.Fatalf("run %d: %v", i, r.err)
				}
				t.Logf("run %d: %s (%s→%s) / %s (%s→%s) in %.0f ms", i, r.pathA, r.pathA.LocalAddr, r.pathA.RemoteAddr, r.pathB, r.pathB.LocalAddr, r.pathB.RemoteAddr, r.ms)
				if r.pathA.Kind() != tc.want || r.pathB.Kind() != tc.want {
					t.Errorf("run %d: path %s / %s, want %s", i, r.pathA, r.pathB, tc.want)
				}
			}
		})
	}
}

// BenchmarkPunchNetns measures, per pre-punch TTL ("off" is plain ICE),
// how often two peers behind easy NATs connect directly and how long they
// take, at zero latency and at 40 ms RTT. Run it by hand with many runs:
//
//	go test -run '^$' -bench PunchNetns -benchtime 20x ./internal/session/
func BenchmarkPunchNetns(b *testing.B) {
	for _, delay := range []time.Duration{0, 10 * time.Millisecond} {
		for _, ttl := range []int{-1, 1, 2, 3} {
			name := "ttl=" + strconv.Itoa(ttl)
			if ttl < 0 {
				name = "ttl=off"
			}
			b.Run(name+"/rtt="+(4*delay).String(), func(b *testing.B) {
				bed := newSessionBed(b, netbed.Easy, netbed.Easy, delay)
				var direct, runs int
				var total float64
				for b.Loop() {
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					r := connectInBed(ctx, bed, Config{PunchTTL: ttl})
					cancel()
					if r.err != nil {
						b.Fatal(r.err)
					}
					runs++
					total += r.ms
					if r.pathA.Direct && r.pathB.Direct {
						direct++
					}
				}
				b.ReportMetric(100*float64(direct)/float64(runs), "%direct")
				b.ReportMetric(total/float64(runs), "ms/connect")
			})
		}
	}
}

// BenchmarkBedMatrix connects a peer in site A with one in site B for every
// pair of the site kinds that need no TLS relay, at zero latency and at
// 40 ms RTT, and reports the connect time (both Connect calls, signalling
// included, pairing not) and how often the path was direct:
//
//	go test -run '^$' -bench BedMatrix -benchtime 5x ./internal/session/
func BenchmarkBedMatrix(b *testing.B) {
	kinds := []netbed.Kind{netbed.Public, netbed.Open, netbed.Easy, netbed.Hard, netbed.UDPBlock}
	for _, delay := range []time.Duration{0, 10 * time.Millisecond} {
		for i, ka := range kinds {
			for _, kb := range kinds[i:] {
				b.Run(string(ka)+"-"+string(kb)+"/rtt="+(4*delay).String(), func(b *testing.B) {
					benchBed(b, ka, kb, delay, Config{})
				})
			}
		}
	}
}

// benchBed runs b.N connections in one bed and reports ms/connect,
// max-ms and %direct, and when the controlling peer saw its first valid
// direct and relay pair (mean, and the latest direct one).
func benchBed(b *testing.B, ka, kb netbed.Kind, delay time.Duration, base Config) {
	bed := newSessionBed(b, ka, kb, delay)
	var direct, runs, nd, nr int
	var total, worst, tDirect, tRelay, worstDirect float64
	var last bedRun
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		// The controlling peer's timeline.
		tl := &timeline{next: testLogger().Handler()}
		cfg := base
		cfg.Logger = slog.New(tl)
		r := connectInBed(ctx, bed, cfg)
		cancel()
		if r.err != nil {
			b.Fatal(r.err)
		}
		runs++
		total += r.ms
		worst = max(worst, r.ms)
		if r.pathA.Direct && r.pathB.Direct {
			direct++
		}
		if d := tl.since(tl.direct); d >= 0 {
			tDirect += d
			worstDirect = max(worstDirect, d)
			nd++
		}
		if d := tl.since(tl.relay); d >= 0 {
			tRelay += d
			nr++
		}
		last = r
	}
	b.ReportMetric(100*float64(direct)/float64(runs), "%direct")
	b.ReportMetric(total/float64(runs), "ms/connect")
	b.ReportMetric(worst, "max-ms")
	if nd > 0 {
		b.ReportMetric(tDirect/float64(nd), "ms-to-direct-pair")
		b.ReportMetric(worstDirect, "max-ms-to-direct-pair")
	}
	if nr > 0 {
		b.ReportMetric(tRelay/float64(nr), "ms-to-relay-pair")
	}
	b.Logf("last: %s / %s", last.pathA, last.pathB)
}

// BenchmarkPunchDelay measures the gate: how often easy↔easy goes direct
// with each PunchDelay ("none" sends ICE's checks at full TTL at once; the
// pre-punches still go first):
//
//	go test -run '^$' -bench PunchDelay -benchtime 20x ./internal/session/
func BenchmarkPunchDelay(b *testing.B) {
	for _, delay := range []time.Duration{0, 10 * time.Millisecond} {
		for _, gate := range []time.Duration{-1, 50 * time.Millisecond, 150 * time.Millisecond} {
			name := "gate=" + gate.String()
			if gate < 0 {
				name = "gate=none"
			}
			b.Run(name+"/rtt="+(4*delay).String(), func(b *testing.B) {
				benchBed(b, netbed.Easy, netbed.Easy, delay, Config{PunchDelay: gate})
			})
		}
	}
}
