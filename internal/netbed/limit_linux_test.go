package netbed

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// TestBottleneck sends UDP from site A to site B at about twice the rate of
// B's limited link: the link drops what its queue cannot hold, what it
// passes arrives at no more than its rate, in order, and no more bytes
// ever wait than its queue holds.
func TestBottleneck(t *testing.T) {
	const rate = 2_000_000 // bits/s
	b := newBed(t, Config{A: Public, B: Easy, Limit: [2]Limit{1: {Rate: rate}}})
	ctx := testContext(t, time.Minute)
	if _, err := Ping(ctx, b.A.Host, b.B.PublicAddr, 1, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	rx := listenUDP(t, b.B.Host, 9000)
	// B is behind an easy NAT: B opens the mapping first.
	tx := listenUDP(t, b.A.Host, 9001)
	if _, err := rx.WriteToUDP([]byte("open"), &net.UDPAddr{IP: b.A.HostAddr.AsSlice(), Port: 9001}); err != nil {
		t.Fatal(err)
	}
	_ = tx.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf [64]byte
	_, to, err := tx.ReadFromUDP(buf[:])
	if err != nil {
		t.Fatalf("no packet through B's NAT: %v", err)
	}

	const n, size = 800, 1200
	frame := size + 8 + 20 + 14 // UDP, IPv4, Ethernet headers
	sent := make(chan error, 1)
	go func() {
		msg := make([]byte, size)
		start := time.Now()
		for i := range n {
			// 400 a second: 3.9 Mbit/s of frames.
			time.Sleep(time.Until(start.Add(time.Duration(i) * time.Second / 400)))
			binary.BigEndian.PutUint32(msg, uint32(i))
			if _, err := tx.WriteToUDP(msg, to); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	seqs, first, last := receiveSeqs(t, ctx, rx, n, size)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	st := b.LinkStats()[1]
	span := last.Sub(first)
	// What arrived after the first datagram, at the rate the span allows.
	got := float64(len(seqs)-1) * float64(frame) * 8 / span.Seconds()
	t.Logf("%d of %d datagrams arrived in %v: %.2f Mbit/s of frames through a %.2f Mbit/s link; dropped %d, most waiting %d bytes (queue %d)",
		len(seqs), n, span.Round(time.Millisecond), got/1e6, float64(rate)/1e6, st.Dropped[0], st.MaxBacklog[0], DefaultQueue(rate))
	if len(seqs) < n/4 {
		t.Fatalf("only %d of %d datagrams passed a link of half their rate", len(seqs), n)
	}
	if st.Dropped[0] == 0 || int(st.Dropped[0])+len(seqs) != n {
		t.Errorf("%d arrived and the link dropped %d of %d sent", len(seqs), st.Dropped[0], n)
	}
	if got > rate*1.05 {
		t.Errorf("%.2f Mbit/s passed a link of %.2f Mbit/s", got/1e6, float64(rate)/1e6)
	}
	if st.MaxBacklog[0] > int64(DefaultQueue(rate)) {
		t.Errorf("%d bytes waited in a queue of %d", st.MaxBacklog[0], DefaultQueue(rate))
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("datagram %d after %d", seqs[i], seqs[i-1])
		}
	}
	if st.Dropped[1] != 0 {
		t.Errorf("the link dropped %d frames going up, where only the NAT's opening went", st.Dropped[1])
	}
}

// listenUDP listens on port in namespace ns until the test ends.
func listenUDP(t testing.TB, ns string, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	if err := Do(ns, func() (err error) {
		c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: port})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestBottleneckPass checks the queue arithmetic on a clock of its own.
func TestBottleneckPass(t *testing.T) {
	b := &bottleneck{Limit: Limit{Rate: 8_000_000, Queue: 3000}} // a byte a microsecond
	t0 := time.Unix(1000, 0)
	leave, backlog, ok := b.pass(t0, 1000)
	if !ok || backlog != 0 || leave != t0.Add(time.Millisecond) {
		t.Fatalf("first frame: leave %v, backlog %d, ok %v", leave.Sub(t0), backlog, ok)
	}
	// Three more at once: 1000, 2000 and 3000 bytes wait before them.
	for i, want := range []int64{1000, 2000, 3000} {
		leave, backlog, ok = b.pass(t0, 1000)
		if !ok || backlog != want || leave != t0.Add(time.Duration(i+2)*time.Millisecond) {
			t.Fatalf("frame %d: leave %v, backlog %d, ok %v", i+2, leave.Sub(t0), backlog, ok)
		}
	}
	// 4000 bytes wait: the queue of 3000 is full.
	if _, backlog, ok = b.pass(t0, 1000); ok || backlog != 4000 {
		t.Fatalf("a frame into a full queue: backlog %d, ok %v", backlog, ok)
	}
	// Once the line is idle a frame leaves right after its own time.
	later := t0.Add(time.Second)
	if leave, backlog, ok = b.pass(later, 500); !ok || backlog != 0 || leave != later.Add(500*time.Microsecond) {
		t.Fatalf("after idling: leave %v, backlog %d, ok %v", leave.Sub(later), backlog, ok)
	}
}

// BenchmarkBottleneck measures a TCP transfer from site A to site B through
// B's link limited to 8 Mbit/s with 10 ms delay per link: how close TCP gets
// to the line's rate (rate-ratio), and what the link dropped.
func BenchmarkBottleneck(b *testing.B) {
	const rate = 8_000_000
	bed := newBed(b, Config{A: Public, B: Public, Delay: 10 * time.Millisecond, Limit: [2]Limit{1: {Rate: rate}}})
	var ln net.Listener
	if err := Do(bed.B.Host, func() (err error) {
		ln, err = net.Listen("tcp4", ":9100")
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	const size = 2 << 20
	for b.Loop() {
		done := make(chan error, 1)
		go func() {
			c, err := ln.Accept()
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			_, err = io.Copy(io.Discard, c)
			done <- err
		}()
		var c net.Conn
		if err := Do(bed.A.Host, func() (err error) {
			c, err = net.Dial("tcp4", net.JoinHostPort(bed.B.HostAddr.String(), "9100"))
			return err
		}); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := c.Write(make([]byte, size)); err != nil {
			b.Fatal(err)
		}
		c.Close()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		mbit := float64(size) * 8 / time.Since(start).Seconds() / 1e6
		b.ReportMetric(mbit, "Mbit/s")
		b.ReportMetric(mbit*1e6/rate, "rate-ratio")
	}
	st := bed.LinkStats()[1]
	b.ReportMetric(float64(st.Dropped[0]), "dropped")
}
