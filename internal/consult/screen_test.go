package consult

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// screenAccepted makes the host ask for "screen" and the client accept.
func screenAccepted(t *testing.T, host, client *Consultation) string {
	t.Helper()
	id, err := host.Ask(WhatScreen)
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the screen ask", func(s Snapshot) bool { _, ok := askByID(s, id); return ok })
	if err := client.Answer(id, true); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, host, "the screen consent", func(s Snapshot) bool { return s.Screen.CanShare })
	return id
}

// screenKinds lists the screen events as "by:kind:id" (and ":detail").
func screenKinds(s Snapshot) []string {
	var out []string
	for _, e := range s.ScreenEvents {
		k := e.By.String() + ":" + e.Kind + ":" + e.ID
		if e.Detail != "" {
			k += ":" + e.Detail
		}
		out = append(out, k)
	}
	return out
}

func peerShare(id, state string) func(Snapshot) bool {
	return func(s Snapshot) bool {
		p := s.Screen.Peer
		if state == ShareOff {
			return p == nil
		}
		return p != nil && p.ID == id && p.State == state
	}
}

// The host shares only after the client's consent; the client shares back
// on its own initiative; pause, resume, pointer, view and stop arrive on
// the other side, and each side keeps the same events for the record.
func TestScreenShareBothWays(t *testing.T) {
	leakCheck(t)
	host, client := startPair(t, hostConfig(t), clientConfig(t))

	if s := host.Snapshot(); s.Screen.CanShare || s.Screen.Own != nil || s.Screen.Peer != nil {
		t.Fatalf("host before consent: %+v", s.Screen)
	}
	if !client.Snapshot().Screen.CanShare {
		t.Fatal("the client cannot share")
	}
	if _, err := host.Share(ShareScreen, 1920, 1080); !errors.Is(err, ErrNoConsent) {
		t.Fatalf("host Share before consent: %v, want ErrNoConsent", err)
	}
	// A pending ask is no consent yet.
	ask, err := host.Ask(WhatScreen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := host.Share(ShareScreen, 1920, 1080); !errors.Is(err, ErrNoConsent) {
		t.Fatalf("host Share with a pending ask: %v, want ErrNoConsent", err)
	}
	waitSnap(t, client, "the screen ask", func(s Snapshot) bool { _, ok := askByID(s, ask); return ok })
	if err := client.Answer(ask, true); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, host, "the screen consent", func(s Snapshot) bool { return s.Screen.CanShare })

	for _, bad := range []struct {
		what string
		w, h int
	}{{"desktop", 1, 1}, {"", 1, 1}, {ShareScreen, -1, 1}, {ShareScreen, 1, MaxSharePixels + 1}} {
		if _, err := host.Share(bad.what, bad.w, bad.h); !errors.Is(err, ErrInvalid) {
			t.Errorf("Share(%q, %d, %d): %v, want ErrInvalid", bad.what, bad.w, bad.h, err)
		}
	}
	hid, err := host.Share(ShareScreen, 1920, 1080)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := host.Share(ShareWindow, 800, 600); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a second share: %v, want ErrInvalid", err)
	}
	s := waitSnap(t, client, "the host's share", peerShare(hid, ShareOn))
	if p := s.Screen.Peer; p.What != ShareScreen || p.W != 1920 || p.H != 1080 || !p.Viewing || p.Pointer != nil || p.Started.IsZero() {
		t.Errorf("client sees %+v", p)
	}
	if o := host.Snapshot().Screen.Own; o == nil || o.ID != hid || o.State != ShareOn || !o.Viewing {
		t.Errorf("host's own share %+v", o)
	}

	// The client shares back, no consent needed, both at once.
	cid, err := client.Share(ShareWindow, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	s = waitSnap(t, host, "the client's share", peerShare(cid, ShareOn))
	if p := s.Screen.Peer; p.What != ShareWindow || p.W != 0 || p.H != 0 {
		t.Errorf("host sees %+v", p)
	}

	// Pointer: shown, moved, hidden.
	if err := host.Pointer(0.5, 0.25, true); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the pointer", func(s Snapshot) bool {
		p := s.Screen.Peer.Pointer
		return p != nil && p.X == 0.5 && p.Y == 0.25
	})
	if err := host.Pointer(1, 0, true); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the pointer moved", func(s Snapshot) bool {
		p := s.Screen.Peer.Pointer
		return p != nil && p.X == 1 && p.Y == 0
	})
	if err := host.Pointer(0, 0, false); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the pointer hidden", func(s Snapshot) bool { return s.Screen.Peer.Pointer == nil })
	for _, xy := range [][2]float64{{-0.1, 0.5}, {0.5, 1.0001}, {nan(), 0}, {0, inf()}} {
		if err := host.Pointer(xy[0], xy[1], true); !errors.Is(err, ErrInvalid) {
			t.Errorf("Pointer(%v, %v): %v, want ErrInvalid", xy[0], xy[1], err)
		}
	}

	// Pause and resume.
	if err := host.PauseShare(true); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the pause", peerShare(hid, SharePaused))
	// A pointer on a paused share is fine.
	if err := host.Pointer(0.1, 0.9, true); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the pointer while paused", func(s Snapshot) bool { return s.Screen.Peer.Pointer != nil })
	if err := host.PauseShare(true); err != nil {
		t.Fatalf("pausing twice: %v", err)
	}
	if err := host.PauseShare(false); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the resume", peerShare(hid, ShareOn))

	// View: the client stops viewing, then views again; the host hears it.
	if err := client.View(false); err != nil {
		t.Fatal(err)
	}
	if p := client.Snapshot().Screen.Peer; p.Viewing {
		t.Error("the client still views after View(false)")
	}
	waitSnap(t, host, "view false", func(s Snapshot) bool { return s.Screen.Own != nil && !s.Screen.Own.Viewing })
	if err := client.View(true); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, host, "view true", func(s Snapshot) bool { return s.Screen.Own != nil && s.Screen.Own.Viewing })
	if err := host.View(false); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the host's view false", func(s Snapshot) bool { return s.Screen.Own != nil && !s.Screen.Own.Viewing })

	// Stop both.
	if err := host.StopShare(); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the stop", peerShare(hid, ShareOff))
	if err := host.StopShare(); err != nil {
		t.Fatalf("stopping twice: %v", err)
	}
	for name, err := range map[string]error{
		"PauseShare": host.PauseShare(true),
		"Pointer":    host.Pointer(0.5, 0.5, true),
		"View":       client.View(false),
	} {
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s without a share: %v, want ErrInvalid", name, err)
		}
	}
	if err := client.StopShare(); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, host, "the client's stop", peerShare(cid, ShareOff))

	// A new share gets a new id.
	hid2, err := host.Share(ShareTab, 1280, 720)
	if err != nil {
		t.Fatal(err)
	}
	if hid2 == hid {
		t.Fatal("a new share with the old id")
	}
	waitSnap(t, client, "the second share", peerShare(hid2, ShareOn))
	if err := host.StopShare(); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the second stop", peerShare(hid2, ShareOff))

	want := []string{
		"host:start:" + hid, "client:start:" + cid,
		"host:pause:" + hid, "host:resume:" + hid,
		"client:view-off:" + hid, "client:view-on:" + hid,
		"host:view-off:" + cid,
		"host:stop:" + hid, "client:stop:" + cid,
		"host:start:" + hid2, "host:stop:" + hid2,
	}
	for _, c := range []*Consultation{host, client} {
		got := screenKinds(waitSnap(t, c, "every event", func(s Snapshot) bool { return len(s.ScreenEvents) >= len(want) }))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: events\n %v\nwant\n %v", c.role, got, want)
		}
	}
	e := host.Snapshot().ScreenEvents[0]
	if e.What != ShareScreen || e.W != 1920 || e.H != 1080 || e.At.IsZero() {
		t.Errorf("first event %+v", e)
	}
	if s := host.Snapshot(); s.Ended {
		t.Fatalf("ended: %s", s.EndReason)
	}
}

func nan() float64 { var z float64; return z / z }
func inf() float64 { var z float64; return 1 / z }

// When the client declines a later screen ask, its consent ends: the
// host's share stops on both sides, the host can no longer share, and the
// record says why. The client's own share goes on.
func TestScreenConsentEnds(t *testing.T) {
	leakCheck(t)
	host, client := startPair(t, hostConfig(t), clientConfig(t))
	screenAccepted(t, host, client)
	hid, err := host.Share(ShareScreen, 100, 100)
	if err != nil {
		t.Fatal(err)
	}
	cid, err := client.Share(ShareOther, 10, 10)
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the host's share", peerShare(hid, ShareOn))
	waitSnap(t, host, "the client's share", peerShare(cid, ShareOn))

	// A new ask does not end the consent while it is open.
	again, err := host.Ask(WhatScreen)
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the second ask", func(s Snapshot) bool { _, ok := askByID(s, again); return ok })
	if s := host.Snapshot(); !s.Screen.CanShare || s.Screen.Own == nil {
		t.Fatalf("an open ask ended the consent: %+v", s.Screen)
	}
	// A pointer sent now may cross the decline: the client drops it.
	if err := host.Pointer(0.5, 0.5, true); err != nil {
		t.Fatal(err)
	}
	if err := client.Answer(again, false); err != nil {
		t.Fatal(err)
	}
	if s := client.Snapshot(); s.Screen.Peer != nil {
		t.Errorf("the client still shows the host's share after declining: %+v", s.Screen.Peer)
	}
	s := waitSnap(t, host, "the share stopped", func(s Snapshot) bool { return s.Screen.Own == nil })
	if s.Screen.CanShare {
		t.Error("the host can still share")
	}
	if _, err := host.Share(ShareScreen, 1, 1); !errors.Is(err, ErrNoConsent) {
		t.Errorf("Share after the decline: %v, want ErrNoConsent", err)
	}
	if err := host.Pointer(0.5, 0.5, true); !errors.Is(err, ErrInvalid) {
		t.Errorf("Pointer after the decline: %v", err)
	}
	stop := "host:stop:" + hid + ":" + DetailConsentEnded
	for _, c := range []*Consultation{host, client} {
		got := screenKinds(c.Snapshot())
		if !strings.Contains(fmt.Sprint(got), stop) {
			t.Errorf("%s: events %v, want %s", c.role, got, stop)
		}
	}
	// The client's own share needs no consent and goes on; the
	// consultation too.
	if p := host.Snapshot().Screen.Peer; p == nil || p.ID != cid {
		t.Errorf("the client's share is gone: %+v", p)
	}
	if err := host.Chat("still here"); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the chat", func(s Snapshot) bool { return len(s.Chat) == 1 })

	// Consent again: the host may share again, under a new id.
	screenAccepted(t, host, client)
	hid2, err := host.Share(ShareScreen, 100, 100)
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the new share", peerShare(hid2, ShareOn))

	// The end of the consultation stops what is still shared, for the
	// record.
	if err := host.End("done"); err != nil {
		t.Fatal(err)
	}
	waitDone(t, client)
	for _, c := range []*Consultation{host, client} {
		s := c.Snapshot()
		if s.Screen.Own != nil || s.Screen.Peer != nil || s.Screen.CanShare {
			t.Errorf("%s after the end: %+v", c.role, s.Screen)
		}
		got := fmt.Sprint(screenKinds(s))
		for _, w := range []string{"host:stop:" + hid2 + ":" + DetailEnded, "client:stop:" + cid + ":" + DetailEnded} {
			if !strings.Contains(got, w) {
				t.Errorf("%s: events %v, want %s", c.role, got, w)
			}
		}
	}
}

// Changed fires for every change of the screen's state: the app gates
// media forwarding on it.
func TestScreenChangedFires(t *testing.T) {
	leakCheck(t)
	host, client := startPair(t, hostConfig(t), clientConfig(t))
	screenAccepted(t, host, client)
	ctx := testCtx(t)
	hc, cc := host.Changed(ctx), client.Changed(ctx)
	drain := func(ch <-chan struct{}) {
		for {
			select {
			case <-ch:
			default:
				return
			}
		}
	}
	fired := func(what string, ch <-chan struct{}) {
		t.Helper()
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("no Changed for %s", what)
		}
	}
	steps := []struct {
		name string
		do   func() error
		on   *Consultation // whose Changed must fire besides the actor's
	}{
		{"share", func() error { _, err := host.Share(ShareScreen, 1, 1); return err }, client},
		{"pause", func() error { return host.PauseShare(true) }, client},
		{"resume", func() error { return host.PauseShare(false) }, client},
		{"pointer", func() error { return host.Pointer(0.3, 0.3, true) }, client},
		{"view", func() error { return client.View(false) }, host},
		{"stop", func() error { return host.StopShare() }, client},
	}
	for _, st := range steps {
		drain(hc)
		drain(cc)
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if st.on == client {
			fired(st.name+" (client)", cc)
		} else {
			fired(st.name+" (host)", hc)
		}
	}
}

// After the connection is rebuilt, both sides agree on the shares: the
// lines of either that the other missed arrive once, and sharing goes on.
func TestScreenAfterResume(t *testing.T) {
	leakCheck(t)
	host, client := startPair(t, resumable(hostConfig(t)), resumable(clientConfig(t)))
	screenAccepted(t, host, client)
	hid, err := host.Share(ShareScreen, 640, 480)
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the share", peerShare(hid, ShareOn))
	oldH, oldC := host.current().s, client.current().s
	_ = oldH.Close()
	_ = oldC.Close()
	isSuspended(t, host)
	isSuspended(t, client)
	if host.Snapshot().Screen.CanShare || client.Snapshot().Screen.CanShare {
		t.Error("CanShare while suspended")
	}
	// Said while away: they go out once, after the resume.
	if err := host.PauseShare(true); err != nil {
		t.Fatal(err)
	}
	cid, err := client.Share(ShareTab, 300, 200)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.View(false); err != nil {
		t.Fatal(err)
	}

	sa, sb := connectPair(t)
	ctx := testCtx(t)
	var errH, errC error
	var wg sync.WaitGroup
	wg.Go(func() { errH = host.Resume(ctx, sa) })
	wg.Go(func() { errC = client.Resume(ctx, sb) })
	wg.Wait()
	if errH != nil || errC != nil {
		t.Fatalf("resume: host: %v; client: %v", errH, errC)
	}
	waitSnap(t, client, "the pause", peerShare(hid, SharePaused))
	s := waitSnap(t, host, "the client's share and view", func(s Snapshot) bool {
		return peerShare(cid, ShareOn)(s) && s.Screen.Own != nil && !s.Screen.Own.Viewing
	})
	if !s.Screen.CanShare {
		t.Error("the host cannot share after the resume")
	}
	if err := host.PauseShare(false); err != nil {
		t.Fatal(err)
	}
	if err := host.Pointer(0.75, 0.5, true); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the resume and pointer", func(s Snapshot) bool {
		return peerShare(hid, ShareOn)(s) && s.Screen.Peer.Pointer != nil && s.Screen.Peer.Pointer.X == 0.75
	})
	want := fmt.Sprint([]string{"host:start:" + hid, "host:pause:" + hid, "client:start:" + cid, "client:view-off:" + hid, "host:resume:" + hid})
	for _, c := range []*Consultation{host, client} {
		got := waitSnap(t, c, "the events", func(s Snapshot) bool { return len(s.ScreenEvents) == 5 })
		// The host's pause and the client's lines crossed: each side
		// has its own order of the two, and the same set.
		h, cl := strings.Fields(strings.Trim(fmt.Sprint(screenKinds(got)), "[]")), strings.Fields(strings.Trim(want, "[]"))
		if len(h) != len(cl) || !sameSet(h, cl) {
			t.Errorf("%s: events %v, want %s in some order", c.role, screenKinds(got), want)
		}
	}
}

func sameSet(a, b []string) bool {
	n := map[string]int{}
	for _, x := range a {
		n[x]++
	}
	for _, x := range b {
		n[x]--
	}
	for _, v := range n {
		if v != 0 {
			return false
		}
	}
	return true
}

// Our own pointer positions go out at most PointerRate a second; the
// latest of a burst always goes out.
func TestScreenPointerCoalesced(t *testing.T) {
	leakCheck(t)
	host, client := startPair(t, hostConfig(t), clientConfig(t))
	if _, err := client.Share(ShareScreen, 10, 10); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, host, "the share", func(s Snapshot) bool { return s.Screen.Peer != nil })
	start := time.Now()
	for i := range 200 {
		if err := client.Pointer(float64(i)/1000, 0.5, true); err != nil {
			t.Fatal(err)
		}
	}
	waitSnap(t, host, "the last position", func(s Snapshot) bool {
		p := s.Screen.Peer.Pointer
		return p != nil && p.X == 0.199
	})
	host.mu.Lock()
	sh := *host.screen[Client-1]
	host.mu.Unlock()
	if sh.dropped != 0 {
		t.Errorf("the viewer dropped %d of an honest sharer's positions", sh.dropped)
	}
	if max := pointerSendBurst + int(time.Since(start).Seconds()*PointerRate) + 2; sh.shown > max {
		t.Errorf("%d positions shown in %v, more than %d", sh.shown, time.Since(start), max)
	}
	t.Logf("200 positions in a burst: %d went out", sh.shown)
}

// shareJSON is a share line.
func shareJSON(id, state, what string, w, h int) string {
	return fmt.Sprintf(`{"t":"share","id":%q,"state":%q,"what":%q,"w":%d,"h":%d}`, id, state, what, w, h)
}

// rawScreenAccepted makes the client accept the raw host's screen ask.
func rawScreenAccepted(t *testing.T, raw *rawPeer, client *Consultation, id string) {
	t.Helper()
	raw.send(`{"t":"ask","id":"` + id + `","what":"screen"}`)
	waitSnap(t, client, "the screen ask", func(s Snapshot) bool { _, ok := askByID(s, id); return ok })
	if err := client.Answer(id, true); err != nil {
		t.Fatal(err)
	}
	raw.next(tAnswer)
}

// expectProtocolEnd checks that c ended with a protocol error and told raw.
func expectProtocolEnd(t *testing.T, raw *rawPeer, c *Consultation) {
	t.Helper()
	if e := raw.next(tEnd); e.Reason != "protocol error" {
		t.Errorf("end reason %q", e.Reason)
	}
	waitDone(t, c)
	if s := c.Snapshot(); !errors.Is(c.Err(), ErrProtocol) || !strings.HasPrefix(s.EndReason, "protocol error: ") {
		t.Errorf("err %v: %q", c.Err(), s.EndReason)
	}
}

// A hostile host that shares without consent, twice at once, or with bad
// ids or values ends the consultation with a protocol error.
func TestScreenHostileHost(t *testing.T) {
	cases := []struct {
		name    string
		consent bool
		lines   []string
	}{
		{"share without consent", false, []string{shareJSON("h5", "on", "screen", 1, 1)}},
		{"share after a pending ask", false, []string{`{"t":"ask","id":"h4","what":"screen"}`, shareJSON("h5", "on", "screen", 1, 1)}},
		{"share with a client id", true, []string{shareJSON("c5", "on", "screen", 1, 1)}},
		{"two shares at once", true, []string{shareJSON("h5", "on", "screen", 1, 1), shareJSON("h6", "on", "window", 1, 1)}},
		{"a share's id again", true, []string{shareJSON("h5", "on", "screen", 1, 1), shareJSON("h5", "off", "screen", 1, 1), shareJSON("h5", "on", "screen", 1, 1)}},
		{"pause of no share", true, []string{shareJSON("h5", "paused", "screen", 1, 1)}},
		{"off of no share", true, []string{shareJSON("h5", "off", "screen", 1, 1)}},
		{"off twice", true, []string{shareJSON("h5", "on", "screen", 1, 1), shareJSON("h5", "off", "screen", 1, 1), shareJSON("h5", "off", "screen", 1, 1)}},
		{"what changes", true, []string{shareJSON("h5", "on", "screen", 1, 1), shareJSON("h5", "paused", "tab", 1, 1)}},
		{"bad state", true, []string{shareJSON("h5", "running", "screen", 1, 1)}},
		{"bad what", true, []string{shareJSON("h5", "on", "camera", 1, 1)}},
		{"no what", true, []string{`{"t":"share","id":"h5","state":"on","w":1,"h":1}`}},
		{"no w", true, []string{`{"t":"share","id":"h5","state":"on","what":"screen","h":1}`}},
		{"w too large", true, []string{shareJSON("h5", "on", "screen", MaxSharePixels+1, 1)}},
		{"negative h", true, []string{shareJSON("h5", "on", "screen", 1, -1)}},
		{"fractional w", true, []string{`{"t":"share","id":"h5","state":"on","what":"screen","w":1.5,"h":1}`}},
		{"bad share id", true, []string{shareJSON("h/5", "on", "screen", 1, 1)}},
		{"pointer on no share", true, []string{`{"t":"pointer","id":"h5","x":0.5,"y":0.5}`}},
		{"pointer after off", true, []string{shareJSON("h5", "on", "screen", 1, 1), shareJSON("h5", "off", "screen", 1, 1), `{"t":"pointer","id":"h5","x":0.5,"y":0.5}`}},
		{"pointer out of range", true, []string{shareJSON("h5", "on", "screen", 1, 1), `{"t":"pointer","id":"h5","x":1.5,"y":0.5}`}},
		{"pointer negative", true, []string{shareJSON("h5", "on", "screen", 1, 1), `{"t":"pointer","id":"h5","x":0.5,"y":-0.01}`}},
		{"pointer overflow", true, []string{shareJSON("h5", "on", "screen", 1, 1), `{"t":"pointer","id":"h5","x":1e999,"y":0}`}},
		{"pointer x only", true, []string{shareJSON("h5", "on", "screen", 1, 1), `{"t":"pointer","id":"h5","x":0.5}`}},
		{"pointer on another share", true, []string{shareJSON("h5", "on", "screen", 1, 1), `{"t":"pointer","id":"h6","x":0.5,"y":0.5}`}},
		{"view of no share", true, []string{`{"t":"view","id":"c5","on":false}`}},
		{"view of its own share", true, []string{shareJSON("h5", "on", "screen", 1, 1), `{"t":"view","id":"h5","on":false}`}},
		{"view without on", true, []string{`{"t":"view","id":"c5"}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			raw, client, _ := rawHostAndClient(t)
			if tc.consent {
				rawScreenAccepted(t, raw, client, "h1")
			}
			for _, l := range tc.lines {
				raw.send(l)
			}
			expectProtocolEnd(t, raw, client)
			if s := client.Snapshot(); s.Screen.Peer != nil {
				t.Errorf("a share shown after the end: %+v", s.Screen.Peer)
			}
		})
	}
}

// A hostile client: a share with a host id, a pointer or view of nothing.
func TestScreenHostileClient(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
	}{
		{"share with a host id", []string{shareJSON("h5", "on", "screen", 1, 1)}},
		{"two shares at once", []string{shareJSON("c5", "on", "screen", 1, 1), shareJSON("c6", "on", "screen", 1, 1)}},
		{"pointer on no share", []string{`{"t":"pointer","id":"c5"}`}},
		{"view of an unknown share", []string{`{"t":"view","id":"h5","on":true}`}},
		{"view with a client id", []string{`{"t":"view","id":"c5","on":true}`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			raw, host := rawClientAndHost(t, hostConfig(t))
			for _, l := range tc.lines {
				raw.send(l)
			}
			expectProtocolEnd(t, raw, host)
		})
	}
}

// Lines of the host's share that cross the end of the client's consent
// are ignored, not errors; a new share without consent is one.
func TestScreenHostCrossesTheDecline(t *testing.T) {
	leakCheck(t)
	raw, client, _ := rawHostAndClient(t)
	rawScreenAccepted(t, raw, client, "h1")
	raw.send(shareJSON("h5", "on", "screen", 1, 1))
	waitSnap(t, client, "the share", peerShare("h5", ShareOn))
	raw.send(`{"t":"ask","id":"h2","what":"screen"}`)
	waitSnap(t, client, "the second ask", func(s Snapshot) bool { _, ok := askByID(s, "h2"); return ok })
	if err := client.Answer("h2", false); err != nil {
		t.Fatal(err)
	}
	if s := client.Snapshot(); s.Screen.Peer != nil {
		t.Fatalf("still shown: %+v", s.Screen.Peer)
	}
	// What the host sent before it saw the decline.
	raw.send(`{"t":"pointer","id":"h5","x":0.5,"y":0.5}`)
	raw.send(shareJSON("h5", "paused", "screen", 1, 1))
	raw.send(shareJSON("h5", "on", "screen", 1, 1))
	raw.send(shareJSON("h5", "off", "screen", 1, 1))
	expectAlive(t, raw, client)
	if s := client.Snapshot(); s.Screen.Peer != nil {
		t.Fatalf("shown again: %+v", s.Screen.Peer)
	}
	raw.send(shareJSON("h6", "on", "screen", 1, 1))
	expectProtocolEnd(t, raw, client)
}

// A flood of pointer positions is shown at most PointerRate a second (with
// a burst); the rest are dropped, and the consultation goes on. A hide
// always counts.
func TestScreenPointerFlood(t *testing.T) {
	leakCheck(t)
	raw, client, _ := rawHostAndClient(t)
	rawScreenAccepted(t, raw, client, "h1")
	raw.send(shareJSON("h5", "on", "screen", 1, 1))
	waitSnap(t, client, "the share", peerShare("h5", ShareOn))
	start := time.Now()
	var b strings.Builder
	for i := range 500 {
		fmt.Fprintf(&b, `{"t":"pointer","id":"h5","x":%g,"y":0.5}`+"\n", float64(i)/1000)
	}
	b.WriteString(`{"t":"pointer","id":"h5"}`)
	raw.send(b.String())
	expectAlive(t, raw, client)
	elapsed := time.Since(start)
	client.mu.Lock()
	sh := *client.screen[Host-1]
	client.mu.Unlock()
	if sh.shown+sh.dropped != 500 || sh.dropped == 0 {
		t.Errorf("%d shown, %d dropped of 500", sh.shown, sh.dropped)
	}
	if max := pointerBurst + int(elapsed.Seconds()*PointerRate) + 1; sh.shown > max {
		t.Errorf("%d shown in %v, more than %d", sh.shown, elapsed, max)
	}
	if s := client.Snapshot(); s.Screen.Peer == nil || s.Screen.Peer.Pointer != nil {
		t.Errorf("the hide did not count: %+v", s.Screen.Peer)
	}
}

// A position held back by the rate when the consultation ends is never
// sent, and its wait ends with the consultation (leakCheck).
func TestScreenPointerPendingAtEnd(t *testing.T) {
	leakCheck(t)
	host, client := startPair(t, hostConfig(t), clientConfig(t))
	if _, err := client.Share(ShareScreen, 10, 10); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if err := client.Pointer(float64(i)/100, 0, true); err != nil {
			t.Fatal(err)
		}
	}
	client.mu.Lock()
	waiting := client.ptrWaiting
	client.mu.Unlock()
	if !waiting {
		t.Fatal("no position held back")
	}
	if err := client.End("bye"); err != nil {
		t.Fatal(err)
	}
	waitDone(t, host)
	if err := client.Pointer(0.5, 0.5, true); !errors.Is(err, ErrEnded) {
		t.Errorf("Pointer after the end: %v", err)
	}
}
