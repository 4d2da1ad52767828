package screen

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"

	"github.com/direkt/direkt/internal/netbed"
	"github.com/direkt/direkt/internal/session"
)

// nsNet is the real network as seen from one netbed namespace, for a
// session's pion: interfaces and UDP sockets are the namespace's. (Only
// what host candidates need; internal/session's tests have the full one.)
type nsNet struct {
	*stdnet.Net
	ns string
}

func newNSNet(t testing.TB, ns string) *nsNet {
	t.Helper()
	var n *stdnet.Net
	if err := netbed.Do(ns, func() (err error) { n, err = stdnet.NewNet(); return err }); err != nil {
		t.Fatal(err)
	}
	return &nsNet{Net: n, ns: ns}
}

func (n *nsNet) ListenPacket(network, address string) (c net.PacketConn, err error) {
	if derr := netbed.Do(n.ns, func() error { c, err = n.Net.ListenPacket(network, address); return nil }); derr != nil {
		return nil, derr
	}
	return c, err
}

func (n *nsNet) ListenUDP(network string, laddr *net.UDPAddr) (c transport.UDPConn, err error) {
	if derr := netbed.Do(n.ns, func() error { c, err = n.Net.ListenUDP(network, laddr); return nil }); derr != nil {
		return nil, derr
	}
	return c, err
}

// bedSessions connects a session in site A of a bed whose link from A is
// a line of rate bit/s (RTT 40 ms) with one in site B, both with video.
func bedSessions(t testing.TB, ctx context.Context, rate int64) (a, b *session.Session) {
	t.Helper()
	if err := netbed.Available(); err != nil {
		t.Skipf("no test bed here: %v", err)
	}
	bctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, _ = netbed.SweepStale(bctx, "dsc")
	bed, err := netbed.New(bctx, netbed.Config{Prefix: "dsc", A: netbed.Public, B: netbed.Public,
		Delay: 10 * time.Millisecond, Limit: [2]netbed.Limit{{Rate: rate}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bed.Close(); err != nil {
			t.Errorf("close bed: %v", err)
		}
	})
	cfg := session.Config{Video: true, BindingKey: [32]byte{9}, Logger: testLogger()}
	ca, cb := cfg, cfg
	ca.Net, cb.Net = newNSNet(t, bed.A.Host), newNSNet(t, bed.B.Host)
	return connectPair(t, ctx, ca, cb)
}

// busyJS draws random coloured blocks over the document part of the
// sharing page's pattern 15 times a second: a screen in motion whose
// encoder wants more than a slow line carries.
const busyJS = `(() => {
  const c = window.direktPattern.canvas, g = c.getContext('2d');
  setInterval(() => {
    for (let i = 0; i < 40; i++) {
      g.fillStyle = '#' + Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0');
      g.fillRect(300 + Math.random() * 460, 40 + Math.random() * 370, 40, 40);
    }
  }, 1000 / 15);
  return true;
})()`

// TestScreenBottleneck shares the test pattern from Chromium over a
// 600 kbit/s line (RTT 40 ms). The estimate of the session leg reaches the
// capturing page as REMB and its encoder's target follows; first with a
// screen that needs little (the pattern), then with one in motion that
// needs more than the line: the REMB must not exceed the line and the
// viewer must keep getting pictures. It logs the figures each second.
func TestScreenBottleneck(t *testing.T) {
	leakCheck(t)
	const line = 600_000
	skipWithoutChromium(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	a, b := bedSessions(t, ctx, line)
	c := newChainOver(t, a, b)
	run[bool](t, c.sharer, `window.bridge.open(true)`)
	run[bool](t, c.viewer, `window.bridge.open(false)`)
	waitFor(t, 10*time.Second, "a decoded picture", func() bool { return results(t, c.viewer).Decoded >= 1 })

	// phase logs each second for d and returns the last 5 s of REMB and
	// what the viewer decoded over the last half.
	phase := func(name string, d int) (rembs []int, r summary) {
		var since float64
		for s := 1; s <= d; s++ {
			if s == d/2+1 {
				since = pageNow(t, c.viewer)
			}
			before := c.svcA.Stats().SentBytes
			time.Sleep(time.Second)
			st, page := c.svcA.Stats(), stats(t, c.sharer)
			t.Logf("%s %2d s: estimate %4d kbit/s, REMB %4d, encoder target %4.0f, forwarded %4d kbit/s",
				name, s, a.Video().TargetBitrate()/1000, st.REMB/1000, page.TargetBitrate/1000, (st.SentBytes-before)*8/1000)
			if s > d-5 {
				rembs = append(rembs, st.REMB)
				if page.TargetBitrate > float64(st.REMB)*1.05 {
					t.Errorf("%s: the encoder's target %.0f bit/s is over the REMB %d", name, page.TargetBitrate, st.REMB)
				}
			}
		}
		r = resultsSince(t, c.viewer, since)
		t.Logf("%s, last %d s at the viewer: %.1f frames/s decoded, latency median %.0f ms, p95 %.0f ms, %d×%d",
			name, d-d/2, float64(r.Count)/float64(d-d/2), r.Median, r.P95, r.W, r.H)
		return rembs, r
	}

	// A screen that needs little: GCC never sees the line, and its
	// estimate grows while the sender stays below it (application
	// limited); no check of the level here.
	if _, r := phase("still", 10); r.Count < 25 {
		t.Errorf("only %d frames decoded in 5 s", r.Count)
	}
	run[bool](t, c.sharer, busyJS)
	rembs, r := phase("busy", 30)
	for _, remb := range rembs {
		if remb > line*12/10 {
			t.Errorf("busy: REMB %v bit/s in the last 5 s over a %d bit/s line", rembs, line)
			break
		}
	}
	// Measured here (pion GCC with the no-op pacer of internal/session):
	// the estimate falls to its 100 kbit/s floor and stays there; the
	// encoder, held at the REMB floor of 150 kbit/s, keeps the
	// resolution and drops to 1-2 frames a second, 300-400 ms late. The
	// frames leave the forwarder as bursts that overflow the line's
	// 100 ms queue (7 % of packets lost), so GCC's loss controller never
	// raises the estimate again. With pion's leaky-bucket pacer instead
	// the estimate moved between 170 and 490 kbit/s, losses were 0.3 %
	// and the viewer got 6 frames a second. Checked here: the viewer
	// still gets pictures.
	if r.Count < 5 {
		t.Errorf("busy: only %d frames decoded in 15 s", r.Count)
	}
	t.Logf("service A: %+v", c.svcA.Stats())
	t.Logf("service B: %+v", c.svcB.Stats())
	t.Logf("session a: %+v, b: %+v", a.Video().Stats(), b.Video().Stats())
}
