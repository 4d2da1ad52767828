package screen

import (
	"context"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/internal/session"
)

// chain is the whole path of a picture on one machine.
type chain struct {
	a, b           *session.Session
	svcA, svcB     *Service
	sharer, viewer context.Context // tabs
}

// newChain starts a browser with two tabs (not yet bridged), two sessions
// with video, and a Service for each, A sending and B viewing.
func newChain(t testing.TB, ctx context.Context) *chain {
	t.Helper()
	skipWithoutChromium(t)
	a, b := sessionPair(t, ctx)
	return newChainOver(t, a, b)
}

// skipWithoutChromium skips t before anything is built for a browser
// that is not there (browsertest.New would skip it later).
func skipWithoutChromium(t testing.TB) {
	t.Helper()
	if browsertest.Path() == "" {
		t.Skip("no Chromium installed (apt-get install chromium, or set DIREKT_CHROMIUM)")
	}
}

// newChainOver is newChain over two connected sessions with video.
func newChainOver(t testing.TB, a, b *session.Session) *chain {
	t.Helper()
	browser := browsertest.New(t, browsertest.Options{FakeMedia: true})
	c := &chain{a: a, b: b}
	c.svcA = New(Config{Logger: testLogger()})
	t.Cleanup(func() { _ = c.svcA.Close() })
	c.svcB = New(Config{Logger: testLogger()})
	t.Cleanup(func() { _ = c.svcB.Close() })
	c.svcA.Attach(c.a.Video())
	c.svcB.Attach(c.b.Video())
	c.svcA.SetSending(true)
	c.svcB.SetViewing(true)
	c.sharer = openTab(t, browser, page(t, c.svcA))
	c.viewer = openTab(t, browser, page(t, c.svcB))
	return c
}

// TestScreen runs the whole chain with a real Chromium: tab 1 captures the
// test pattern and bridges to Service A, which forwards into session a's
// video; session b's video goes through Service B to tab 2, which decodes.
func TestScreen(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	c := newChain(t, ctx)
	a, svcA, svcB, sharer, viewer := c.a, c.svcA, c.svcB, c.sharer, c.viewer
	run[bool](t, sharer, `window.bridge.open(true)`)
	waitFor(t, 10*time.Second, "packets forwarded to the peer", func() bool { return svcA.Stats().SentPackets > 50 })

	// A late viewer: 5 s after the share started.
	time.Sleep(5 * time.Second)
	start := time.Now()
	run[bool](t, viewer, `window.bridge.open(false)`)
	waitFor(t, 10*time.Second, "a decoded picture at the late viewer", func() bool { return results(t, viewer).Decoded >= 1 })
	t.Logf("late viewer: first decoded picture %s after it opened its bridge", time.Since(start).Round(time.Millisecond))
	waitFor(t, 10*time.Second, "20 decoded pictures", func() bool { return results(t, viewer).Decoded >= 20 })
	r := results(t, viewer)
	if r.W != 800 || r.H != 450 {
		t.Errorf("viewer's picture %d×%d, want 800×450", r.W, r.H)
	}
	t.Logf("viewer: %+v", r)

	// Gated off: nothing is forwarded, and the viewer receives nothing.
	svcA.SetSending(false)
	time.Sleep(time.Second)
	before, pageBefore := svcA.Stats(), stats(t, viewer)
	time.Sleep(2 * time.Second)
	after, pageAfter := svcA.Stats(), stats(t, viewer)
	if after.SentPackets != before.SentPackets {
		t.Errorf("forwarded %d packets while not sending", after.SentPackets-before.SentPackets)
	}
	if pageAfter.InBytes != pageBefore.InBytes {
		t.Errorf("the viewer received %d bytes while not sending", pageAfter.InBytes-pageBefore.InBytes)
	}
	if after.DroppedSending <= before.DroppedSending {
		t.Errorf("no packets dropped by the gate: %+v", after)
	}
	keys := after.KeyframesToPage
	decoded := results(t, viewer).Decoded
	svcA.SetSending(true)
	waitFor(t, 10*time.Second, "pictures after sending resumed", func() bool { return results(t, viewer).Decoded >= decoded+10 })
	if svcA.Stats().KeyframesToPage <= keys {
		t.Errorf("no keyframe request to the page when sending resumed")
	}

	// The share stops (tab 1 closes its bridge) and starts again on a new
	// bridge: tab 2 plays on without a new bridge of its own.
	run[bool](t, sharer, `window.bridge.close()`)
	time.Sleep(time.Second)
	decoded = results(t, viewer).Decoded
	run[bool](t, sharer, `window.bridge.open(true)`)
	waitFor(t, 10*time.Second, "pictures after a new bridge of the sharer", func() bool { return results(t, viewer).Decoded >= decoded+10 })

	// A rebuilt connection: both services attach the new sessions' video,
	// and tab 2 plays on.
	a2, b2 := sessionPair(t, ctx)
	svcA.Attach(a2.Video())
	svcB.Attach(b2.Video())
	_ = a.Close()
	_ = c.b.Close()
	a = a2
	decoded = results(t, viewer).Decoded
	waitFor(t, 10*time.Second, "pictures over new sessions", func() bool { return results(t, viewer).Decoded >= decoded+10 })

	// REMB reaches tab 1: its encoder's available bitrate follows ours.
	st := svcA.Stats()
	if st.REMBSent == 0 || st.REMB < rembMin || st.REMB > rembMax {
		t.Errorf("REMB: %+v", st)
	}
	t.Logf("service A: %+v; session a's target bitrate %d", st, a.Video().TargetBitrate())
	svcA.override.Store(200_000)
	waitFor(t, 10*time.Second, "the sharer's available bitrate following a REMB of 200 kbit/s", func() bool {
		s := stats(t, sharer)
		return s.Available > 0 && s.Available <= 250_000
	})
	t.Logf("sharer with a REMB of 200 kbit/s: %+v", stats(t, sharer))
	t.Logf("service B: %+v", svcB.Stats())
}
