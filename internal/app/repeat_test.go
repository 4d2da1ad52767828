package app

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/wire"
)

// hammerEnd calls End until the consultation no longer takes it, as an
// adviser might click "end" and press Esc at once.
func hammerEnd(t *testing.T, ctx context.Context, b console.Backend) {
	t.Helper()
	for ctx.Err() == nil {
		if err := b.End(); err != nil {
			if !errors.Is(err, ErrNotNow) {
				t.Fatalf("End: %v", err)
			}
			return
		}
	}
	t.Fatal(ctx.Err())
}

// stillRunning checks that a freshly connected consultation is not ended
// by anything left over from the last one: a chat round trip works.
func stillRunning(t *testing.T, ctx context.Context, h *Host, j *Join, text string) {
	t.Helper()
	if err := h.Chat(text); err != nil {
		t.Fatalf("host Chat in the new consultation: %v (%s)", err, describe(h.State()))
	}
	st := waitState(t, ctx, j, "the chat or an end", func(st console.State) bool {
		return hasChat(st, "host", text) || st.Phase != PhaseConnected
	})
	if st.Phase != PhaseConnected || h.State().Phase != PhaseConnected {
		t.Fatalf("the new consultation ended by itself: host %s; client %s", describe(h.State()), describe(st))
	}
}

// joinAgain joins h's next code with the same Join.
func joinAgain(t *testing.T, ctx context.Context, h *Host, j *Join) <-chan error {
	t.Helper()
	_, _, joined := pairByCode(t, ctx, h, j)
	return joined
}

// TestRepeatedClicks: a second New or End, or one that comes late, does not
// reach into the next consultation; a Join that runs again shows only its
// own record.
func TestRepeatedClicks(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 90*time.Second)
	server := newRendezvous(t, 0)
	h, j, _, jev := newPeers(t, server, func(c *Config) { c.AskRecord = true })
	startHost(t, ctx, h)

	// 1. The client accepts the record; the adviser hammers End.
	joined := joinAgain(t, ctx, h, j)
	answerRecord(t, ctx, h, j, true)
	hammerEnd(t, ctx, h)
	if err := result(t, ctx, joined); err != nil {
		t.Fatal(err)
	}
	first := waitState(t, ctx, j, "the record copy", func(st console.State) bool { return st.Phase == PhaseEnded && st.Record != nil })
	waitState(t, ctx, h, "ended", phaseIs(PhaseEnded))

	// 2. New twice: one new code.
	if err := h.New(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "second New", h.New(), ErrNotNow)
	joined = joinAgain(t, ctx, h, j)
	stillRunning(t, ctx, h, j, "Willkommen zurück.")
	if st := j.State(); st.Record != nil {
		t.Errorf("the client's new consultation shows the last record %s", st.Record.ID)
	}
	// The client declines this time and hammers End.
	answerRecord(t, ctx, h, j, false)
	hammerEnd(t, ctx, j)
	if err := result(t, ctx, joined); err != nil {
		t.Fatal(err)
	}
	js := waitState(t, ctx, j, "ended", phaseIs(PhaseEnded))
	if js.Record != nil {
		t.Errorf("the client shows record %s of an earlier consultation", js.Record.ID)
	}
	if e := jev.wait(t, ctx, "ended", func(e Event) bool { return e.Reason == "the client ended the consultation" }); e.Record != "" {
		t.Errorf("client ended event names record %s of an earlier consultation", e.Record)
	}
	waitState(t, ctx, h, "ended", phaseIs(PhaseEnded))
	// No stale New started a code by itself.
	if err := h.New(); err != nil {
		t.Fatalf("New after the second consultation: %v (%s)", err, describe(h.State()))
	}

	// 3. Neither stale End reaches the third consultation.
	joined = joinAgain(t, ctx, h, j)
	stillRunning(t, ctx, h, j, "Zum dritten Mal.")
	if err := j.Chat("Still here."); err != nil {
		t.Fatalf("client Chat in the new consultation: %v", err)
	}
	waitState(t, ctx, h, "the client's chat", func(st console.State) bool { return hasChat(st, "client", "Still here.") })
	if st := h.State(); st.Phase != PhaseConnected {
		t.Fatalf("the third consultation ended by itself: %s", describe(st))
	}
	answerRecord(t, ctx, h, j, true)
	if err := h.End(); err != nil {
		t.Fatal(err)
	}
	if err := result(t, ctx, joined); err != nil {
		t.Fatal(err)
	}
	third := waitState(t, ctx, j, "the third record", func(st console.State) bool { return st.Phase == PhaseEnded && st.Record != nil })
	if third.Record.ID == first.Record.ID {
		t.Errorf("the client shows the first record %s after the third consultation", first.Record.ID)
	}
	if list, err := j.Records(""); err != nil || len(list) != 2 {
		t.Errorf("client records %+v, %v; want two", list, err)
	}
}

// gate holds every request until it is opened, like a rendezvous server
// that is unreachable for a while.
type gate struct {
	once sync.Once
	ch   chan struct{}
}

func (g *gate) open() { g.once.Do(func() { close(g.ch) }) }

// TestListenerLate: the host's connection for known peers comes up only
// after a client was offered reconnection; the client's channel is listened
// on all the same.
func TestListenerLate(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 90*time.Second)
	rv := rendezvous.New(rendezvous.Config{RingTTL: ringTTL, AllocsPerMinute: 1 << 20, ClaimsPerMinute: 1 << 20, Logger: testLogger()})
	hs := httptest.NewServer(rv.Handler())
	g := &gate{ch: make(chan struct{})}
	gated := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-g.ch:
			rv.Handler().ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() {
		g.open()
		rv.Close()
		gated.Close()
		hs.Close()
	})

	var hev, jev events
	hcfg := peerConfig(t, hs.URL, "Anna", &hev)
	hcfg.RejoinServer = gated.URL
	h, err := NewHost(hcfg)
	if err != nil {
		t.Fatal(err)
	}
	jcfg := peerConfig(t, hs.URL, "Carl", &jev)
	j, err := NewJoin(jcfg)
	if err != nil {
		t.Fatal(err)
	}
	startHost(t, ctx, h)
	joined := joinAgain(t, ctx, h, j)
	waitState(t, ctx, h, "the client known", func(st console.State) bool { return len(st.Known) == 1 })
	g.open()
	endByHost(t, ctx, h, joined)
	newWaiting(t, ctx, h)

	host := j.KnownHosts()[0]
	if host.Server != gated.URL {
		t.Fatalf("known host's server %q, want %q", host.Server, gated.URL)
	}
	rejoined := goRun(t, ctx, func(ctx context.Context) error { return j.RunRejoin(ctx, host) })
	st := waitState(t, ctx, h, "the call", func(st console.State) bool { return len(st.Calling) == 1 || st.Phase != PhaseWaiting })
	if len(st.Calling) != 1 {
		t.Fatalf("no call: %s", describe(st))
	}
	if err := h.AllowPeer(st.Calling[0].Key, true); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, j, "connected", phaseIs(PhaseConnected))
	waitState(t, ctx, h, "connected", phaseIs(PhaseConnected))
	endByHost(t, ctx, h, rejoined)
}

// TestRejoinTampered: a caller that holds a known client's token but not
// its key is refused, and the host goes on waiting with the code it showed;
// the real client reconnects afterwards.
func TestRejoinTampered(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 90*time.Second)
	server := newRendezvous(t, ringTTL)
	h, j, _, _ := newPeers(t, server, func(c *Config) { c.RejoinServer = server })
	startHost(t, ctx, h)
	endByHost(t, ctx, h, joinAgain(t, ctx, h, j))
	before := newWaiting(t, ctx, h)

	// The thief has Carl's token, and its own key.
	host := j.KnownHosts()[0]
	thief := goRun(t, ctx, func(ctx context.Context) error {
		p, err := pairing.Dial(ctx, pairing.Options{Server: server, Hello: wire.Signal{Name: "Carl", App: wire.AppConsult}, Logger: testLogger()},
			pairing.Rejoin{Token: host.Token, Self: newKey(t), Peer: host.Key})
		if err == nil {
			p.Close(wire.MoodHappy)
		}
		return err
	})
	st := waitState(t, ctx, h, "the call", func(st console.State) bool { return len(st.Calling) == 1 })
	if err := h.AllowPeer(st.Calling[0].Key, true); err != nil {
		t.Fatal(err)
	}
	if err := result(t, ctx, thief); !errors.Is(err, pairing.ErrTampered) {
		t.Errorf("the thief's rejoin: %v, want ErrTampered", err)
	}
	st = waitState(t, ctx, h, "waiting again", func(st console.State) bool { return st.Phase != PhasePairing })
	if st.Phase != PhaseWaiting || st.Code != before.Code || st.Error != "" {
		t.Errorf("after the refused call: %s; want waiting with code %q", describe(st), before.Code)
	}
	if st.Peer != nil {
		t.Errorf("the host shows the thief as its peer: %+v", st.Peer)
	}

	// Carl himself is allowed now and taken at once.
	rejoined := goRun(t, ctx, func(ctx context.Context) error { return j.RunRejoin(ctx, host) })
	waitState(t, ctx, h, "connected", phaseIs(PhaseConnected))
	endByHost(t, ctx, h, rejoined)
}
