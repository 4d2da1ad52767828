package netbed

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"
)

// TestPingThroughDelay pings across the bed with and without delay links:
// with a one-way delay d per site link, a round trip between the sites
// crosses four delays and one to the server two, and no reply may come
// sooner than that. The table it logs is the measurement.
func TestPingThroughDelay(t *testing.T) {
	const count = 20
	for _, d := range []time.Duration{0, 10 * time.Millisecond} {
		b := newBed(t, Config{A: Easy, B: Public, Delay: d})
		ctx := testContext(t, 30*time.Second)
		for _, c := range []struct {
			to    string
			dst   netip.Addr
			delay time.Duration
		}{{"site B", b.B.HostAddr, 4 * d}, {"server", ServerAddr, 2 * d}} {
			rtts, err := Ping(ctx, b.A.Host, c.dst, count, 20*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			// The first request waits for ARP across the delay links too.
			got := slices.DeleteFunc(slices.Clone(rtts[1:]), func(r time.Duration) bool { return r < 0 })
			if len(got) != count-1 {
				t.Errorf("delay %v, to %s: %d of %d replies", d, c.to, len(got), count-1)
				continue
			}
			slices.Sort(got)
			t.Logf("delay %v per link, site A → %s: rtt min %v median %v max %v (want ≥ %v)",
				d, c.to, got[0].Round(10*time.Microsecond), got[len(got)/2].Round(10*time.Microsecond), got[len(got)-1].Round(10*time.Microsecond), c.delay)
			if got[0] < c.delay {
				t.Errorf("delay %v, to %s: a reply after %v, sooner than the %v the links add", d, c.to, got[0], c.delay)
			}
		}
	}
}

// blast sends n numbered UDP datagrams of size bytes from site A's host to
// site B's host, paced to rate datagrams per second, and returns the
// sequence numbers in the order they arrived.
func blast(t testing.TB, b *Bed, n, size, rate int) []uint32 {
	t.Helper()
	ctx := testContext(t, time.Minute)
	// Resolve the neighbours along the path first: while ARP waits for a
	// delayed answer, the kernel keeps only a few packets per neighbour and
	// drops the rest, as it would on any slow link.
	if _, err := Ping(ctx, b.A.Host, b.B.HostAddr, 1, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	rx := listenUDP(t, b.B.Host, 9000)
	defer rx.Close() // blast runs once per benchmark round, on the same port
	if err := rx.SetReadBuffer(32 << 20); err != nil {
		t.Fatal(err)
	}
	var tx *net.UDPConn
	if err := Do(b.A.Host, func() (err error) {
		tx, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: b.B.HostAddr.AsSlice(), Port: 9000})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer tx.Close()

	sendErr := make(chan error, 1)
	go func() {
		msg := make([]byte, size)
		const burst = 16
		start := time.Now()
		for i := range n {
			if i%burst == 0 {
				// Pace by the clock: burst i/burst is due at its share of
				// the second.
				due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
				time.Sleep(time.Until(due))
			}
			binary.BigEndian.PutUint32(msg, uint32(i))
			if _, err := tx.Write(msg); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- nil
	}()
	got, _, _ := receiveSeqs(t, ctx, rx, n, size)
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	return got
}

// receiveSeqs reads numbered datagrams of size bytes from rx until n
// arrived, a second passed without one (the rest is lost), or ctx's
// deadline; it returns their numbers in the order they arrived and when
// the first and the last arrived.
func receiveSeqs(t testing.TB, ctx context.Context, rx *net.UDPConn, n, size int) (seqs []uint32, first, last time.Time) {
	t.Helper()
	buf := make([]byte, 65536)
	deadline, _ := ctx.Deadline()
	for len(seqs) < n {
		if err := rx.SetReadDeadline(time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			break
		}
		k, err := rx.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if k != size {
			t.Fatalf("datagram of %d bytes, sent %d", k, size)
		}
		last = time.Now()
		if first.IsZero() {
			first = last
		}
		seqs = append(seqs, binary.BigEndian.Uint32(buf))
	}
	return seqs, first, last
}

// TestLinkUnderLoad checks that the forwarder neither drops nor reorders a
// stream of datagrams at the rate of a fast direkt transfer (about 30 MB/s
// of 1200-byte datagrams) across two delayed links.
func TestLinkUnderLoad(t *testing.T) {
	b := newBed(t, Config{A: Public, B: Public, Delay: 10 * time.Millisecond})
	const n, size, rate = 20000, 1200, 25000
	got := blast(t, b, n, size, rate)
	var reordered int
	for i := 1; i < len(got); i++ {
		if got[i] < got[i-1] {
			reordered++
		}
	}
	st := b.LinkStats()
	t.Logf("%d of %d datagrams arrived, %d out of order; site A link %+v; site B link %+v", len(got), n, reordered, st[0], st[1])
	if len(got) != n {
		t.Errorf("%d of %d datagrams lost", n-len(got), n)
	}
	if reordered != 0 {
		t.Errorf("%d datagrams arrived out of order", reordered)
	}
	for i, s := range st {
		for dir := range 2 {
			if s.KernelDrops[dir] != 0 || s.WriteErrors[dir] != 0 {
				t.Errorf("link %d direction %d: %d kernel drops, %d write errors", i, dir, s.KernelDrops[dir], s.WriteErrors[dir])
			}
		}
	}
}

// BenchmarkLink measures a delayed bed: the round-trip time between the two
// sites (4×10 ms configured) and how far behind its schedule the forwarder
// falls under a stream of 25,000 datagrams per second.
func BenchmarkLink(b *testing.B) {
	const d = 10 * time.Millisecond
	bed := newBed(b, Config{A: Public, B: Public, Delay: d})
	ctx := testContext(b, time.Minute)
	for b.Loop() {
		rtts, err := Ping(ctx, bed.A.Host, bed.B.HostAddr, 10, 10*time.Millisecond)
		if err != nil {
			b.Fatal(err)
		}
		got := slices.DeleteFunc(slices.Clone(rtts[1:]), func(r time.Duration) bool { return r < 0 })
		slices.Sort(got)
		if len(got) > 0 {
			b.ReportMetric(float64(got[len(got)/2].Microseconds())/1000, "rtt-ms")
		}
		start := time.Now()
		const n = 20000
		seqs := blast(b, bed, n, 1200, 25000)
		b.ReportMetric(float64(len(seqs))*1200/time.Since(start).Seconds()/(1<<20), "MiB/s")
		b.ReportMetric(float64(n-len(seqs)), "lost")
		st := bed.LinkStats()
		b.ReportMetric(float64(max(st[0].MaxLate[1], st[1].MaxLate[0]).Microseconds())/1000, "max-late-ms")
	}
}
