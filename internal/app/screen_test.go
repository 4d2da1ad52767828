package app

import (
	"context"
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
