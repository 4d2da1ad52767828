package app

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/consult"
	"github.com/direkt/direkt/internal/record"
)

// TestRecordScreen: the host's record lists the screen sharing of the
// consultation — each share's start, pause, resume and stop with who and
// what, and each change of viewing — and its PDF shows them (the PDF is
// the one record.CheckPDF renders from the signed record).
func TestRecordScreen(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 60*time.Second)
	h, j, hcfg, _, _, _, joined := newPair(t, ctx, true)
	answerRecord(t, ctx, h, j, true)
	hc, err := h.consultation()
	if err != nil {
		t.Fatal(err)
	}
	jc, err := j.consultation()
	if err != nil {
		t.Fatal(err)
	}
	waitCons := func(c *consult.Consultation, what string, cond func(consult.Snapshot) bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		changed := c.Changed(ctx)
		for !cond(c.Snapshot()) {
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	if err := h.Ask(consult.WhatScreen); err != nil {
		t.Fatal(err)
	}
	var ask string
	waitCons(jc, "the screen ask", func(s consult.Snapshot) bool {
		for _, a := range s.Asks {
			if a.What == consult.WhatScreen {
				ask = a.ID
			}
		}
		return ask != ""
	})
	if err := j.Answer(ask, true); err != nil {
		t.Fatal(err)
	}
	waitCons(hc, "the consent", func(s consult.Snapshot) bool { return s.Screen.CanShare })
	id, err := hc.Share(consult.ShareScreen, 1920, 1080)
	if err != nil {
		t.Fatal(err)
	}
	waitCons(jc, "the share", func(s consult.Snapshot) bool { return s.Screen.Peer != nil })
	if err := jc.View(false); err != nil {
		t.Fatal(err)
	}
	waitCons(hc, "view false", func(s consult.Snapshot) bool { return s.Screen.Own != nil && !s.Screen.Own.Viewing })
	if err := hc.PauseShare(true); err != nil {
		t.Fatal(err)
	}
	if err := hc.StopShare(); err != nil {
		t.Fatal(err)
	}
	if _, err := jc.Share(consult.ShareWindow, 800, 600); err != nil {
		t.Fatal(err)
	}
	waitCons(hc, "the client's share", func(s consult.Snapshot) bool { return s.Screen.Peer != nil })
	if err := h.End(); err != nil {
		t.Fatal(err)
	}
	if err := result(t, ctx, joined); err != nil {
		t.Errorf("Join.Run: %v", err)
	}
	hs := waitState(t, ctx, h, "ended with a record", func(st console.State) bool { return st.Phase == PhaseEnded && st.Record != nil })
	base := filepath.Join(hcfg.DataDir, "records", hs.Record.ID)
	signed, err := os.ReadFile(base + ".json")
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := record.Verify(signed)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rec.Screen {
		got = append(got, e.By+" "+e.Event+" "+e.What)
		if e.At.IsZero() {
			t.Errorf("screen event %+v without a time", e)
		}
	}
	want := []string{"host start screen", "client view-off screen", "host pause screen", "host stop screen", "client start window", "client stop window"}
	if !slices.Equal(got, want) {
		t.Errorf("record screen events %q, want %q", got, want)
	}
	if e := rec.Screen[0]; e.ID != id || e.W != 1920 || e.H != 1080 {
		t.Errorf("first screen event %+v", e)
	}
	if e := rec.Screen[len(rec.Screen)-1]; e.Detail != "consultation ended" {
		t.Errorf("last screen event %+v, want stopped by the end", e)
	}
	doc, err := os.ReadFile(base + ".pdf")
	if err != nil {
		t.Fatal(err)
	}
	if err := record.CheckPDF(rec, doc); err != nil {
		t.Errorf("the PDF is not the record's: %v", err)
	}
}

// TestScreenBackend: the console's screen actions on both peers, as the
// console page calls them: the state shows screen sharing (both hellos
// said screen 1, so the session has video), the adviser may not share
// before the client's consent, and after it the share, its pointer and the
// client's viewing reach the other side's state; a bridge offer that is no
// offer is refused.
func TestScreenBackend(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 60*time.Second)
	h, j, _, _, _, _, joined := newPair(t, ctx, false)
	hs := waitState(t, ctx, h, "screen sharing in the state", func(st console.State) bool { return st.Screen != nil })
	if hs.Screen.CanShare {
		t.Errorf("the adviser may share before the client consented: %+v", hs.Screen)
	}
	js := waitState(t, ctx, j, "screen sharing in the client's state", func(st console.State) bool { return st.Screen != nil })
	if !js.Screen.CanShare {
		t.Errorf("the client may not share on its own initiative: %+v", js.Screen)
	}
	if err := h.Share("start", consult.ShareScreen, 1280, 720); !errors.Is(err, consult.ErrNoConsent) {
		t.Errorf("a share before consent: %v, want ErrNoConsent", err)
	}
	if _, err := h.ScreenRTC(ctx, "not an offer"); err == nil {
		t.Error("the bridge took a description that is no offer")
	}
	if err := h.Share("jump", "", 0, 0); err == nil {
		t.Error("an unknown screen action was taken")
	}

	if err := h.Ask(consult.WhatScreen); err != nil {
		t.Fatal(err)
	}
	js = waitState(t, ctx, j, "the screen ask", func(st console.State) bool { return len(st.Asks) == 1 })
	if err := j.Answer(js.Asks[0].ID, true); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, h, "the consent", func(st console.State) bool { return st.Screen.CanShare })
	if err := h.Share("start", consult.ShareWindow, 1280, 720); err != nil {
		t.Fatal(err)
	}
	js = waitState(t, ctx, j, "the adviser's share", func(st console.State) bool { return st.Screen.Peer != nil })
	if p := js.Screen.Peer; p.State != consult.ShareOn || p.What != consult.ShareWindow || p.W != 1280 || p.H != 720 || !p.Viewing {
		t.Errorf("the client sees the share as %+v", p)
	}
	if err := h.Pointer(0.25, 0.75, true); err != nil {
		t.Fatal(err)
	}
	js = waitState(t, ctx, j, "the pointer", func(st console.State) bool { return st.Screen.Peer.Pointer != nil })
	if p := js.Screen.Peer.Pointer; p.X != 0.25 || p.Y != 0.75 {
		t.Errorf("the pointer at %+v, want (0.25, 0.75)", p)
	}
	if err := j.View(false); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, h, "the client not viewing", func(st console.State) bool { return st.Screen.Own != nil && !st.Screen.Own.Viewing })
	for _, a := range []string{"pause", "resume", "stop"} {
		if err := h.Share(a, "", 0, 0); err != nil {
			t.Fatalf("%s: %v", a, err)
		}
	}
	waitState(t, ctx, j, "the share stopped", func(st console.State) bool { return st.Screen.Peer == nil })
	if err := h.End(); err != nil {
		t.Fatal(err)
	}
	if err := result(t, ctx, joined); err != nil {
		t.Errorf("Join.Run: %v", err)
	}
}
