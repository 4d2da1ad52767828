package app

import (
	"bytes"
	"errors"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/known"
)

// The console answers 403 for errors that wrap fs.ErrPermission, 404 for
// fs.ErrNotExist and 409 for anything else (internal/console/API.md):
// actions of the other role are 403, unknown ids 404, and actions that do
// not fit the phase ErrNotNow (409).

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want an error wrapping %v", what, err, want)
	}
}

// wantConflict: an error the console answers with 409, its message shown.
func wantConflict(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil || errors.Is(err, fs.ErrPermission) || errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: %v, want an error that is neither 403 nor 404", what, err)
	}
}

// checkRoleErrors checks the actions of the other role.
func checkRoleErrors(t *testing.T, b console.Backend) {
	t.Helper()
	key := known.KeyString(pub(newKey(t)))
	switch b.State().Role {
	case "host":
		wantErr(t, "host Answer", b.Answer("h1", true), fs.ErrPermission)
		wantErr(t, "host Rejoin", b.Rejoin(key), fs.ErrPermission)
	case "client":
		wantErr(t, "client Ask", b.Ask("record"), fs.ErrPermission)
		wantErr(t, "client SetNotes", b.SetNotes("x"), fs.ErrPermission)
		wantErr(t, "client New", b.New(), fs.ErrPermission)
		wantErr(t, "client AllowPeer", b.AllowPeer(key, true), fs.ErrPermission)
	default:
		t.Fatalf("role %q", b.State().Role)
	}
}

// checkNotRunning checks the actions that need a running consultation.
func checkNotRunning(t *testing.T, b console.Backend) {
	t.Helper()
	role := b.State().Role
	wantErr(t, role+" Chat", b.Chat("hello"), ErrNotNow)
	wantErr(t, role+" SendFile", b.SendFile("a.txt", 1, strings.NewReader("a")), ErrNotNow)
	wantErr(t, role+" End", b.End(), ErrNotNow)
	if role == "host" {
		wantErr(t, "host Ask", b.Ask("record"), ErrNotNow)
	} else {
		wantErr(t, "client Answer", b.Answer("h1", true), ErrNotNow)
	}
}

// checkUnknownIDs checks that unknown files, records and keys are 404.
func checkUnknownIDs(t *testing.T, b console.Backend) {
	t.Helper()
	role := b.State().Role
	_, _, err := b.OpenFile("c999")
	wantErr(t, role+" OpenFile", err, fs.ErrNotExist)
	for _, id := range []string{"2026-01-01T0000Z-00000000", "../../etc/passwd", "", "x"} {
		for _, format := range []string{"pdf", "json", "exe", ""} {
			_, _, err := b.OpenRecord(id, format)
			wantErr(t, role+" OpenRecord "+id+"."+format, err, fs.ErrNotExist)
		}
	}
	unknown := known.KeyString(pub(newKey(t)))
	for _, key := range []string{unknown, "", "not a key", strings.Repeat("A", 43), "../x"} {
		wantErr(t, role+" RevokePeer "+key, b.RevokePeer(key), fs.ErrNotExist)
		if role == "host" {
			wantErr(t, "host AllowPeer "+key, b.AllowPeer(key, true), fs.ErrNotExist)
			wantErr(t, "host AllowPeer false "+key, b.AllowPeer(key, false), fs.ErrNotExist)
		} else {
			wantErr(t, "client Rejoin "+key, b.Rejoin(key), fs.ErrNotExist)
		}
	}
}

// TestActionsIdle: before anything runs.
func TestActionsIdle(t *testing.T) {
	leakCheck(t)
	server := newRendezvous(t, 0)
	var ev events
	h, err := NewHost(peerConfig(t, server, "Anna", &ev))
	if err != nil {
		t.Fatal(err)
	}
	j, err := NewJoin(peerConfig(t, server, "Carl", &ev))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []console.Backend{h, j} {
		checkRoleErrors(t, b)
		checkNotRunning(t, b)
		checkUnknownIDs(t, b)
		if list, err := b.Records(""); err != nil || len(list) != 0 {
			t.Errorf("Records: %+v, %v", list, err)
		}
	}
	wantErr(t, "host New before the first code", h.New(), ErrNotNow)
	if err := h.SetNotes(strings.Repeat("x", 1<<20+1)); err == nil {
		t.Error("SetNotes took more than 1 MiB")
	}
	if len(ev.kinds()) != 0 {
		t.Errorf("events without a run: %v", ev.kinds())
	}
}

// TestActionsByPhase: while the host waits, while connected, and after the
// end.
func TestActionsByPhase(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 60*time.Second)
	server := newRendezvous(t, 0)
	h, j, _, _ := newPeers(t, server, func(c *Config) { c.AskRecord = true })
	startHost(t, ctx, h)
	waitState(t, ctx, h, "a code", phaseIs(PhaseWaiting))
	checkRoleErrors(t, h)
	checkNotRunning(t, h)
	checkUnknownIDs(t, h)
	wantErr(t, "host New while waiting", h.New(), ErrNotNow)

	_, _, joined := pairByCode(t, ctx, h, j)
	for _, b := range []console.Backend{h, j} {
		checkRoleErrors(t, b)
		checkUnknownIDs(t, b)
	}
	wantErr(t, "host New while connected", h.New(), ErrNotNow)
	wantErr(t, "client Answer of an unknown ask", j.Answer("h999", true), fs.ErrNotExist)
	wantConflict(t, "host Ask of nothing known", h.Ask("coffee"))
	st := waitState(t, ctx, j, "the record ask", func(st console.State) bool { return len(st.Asks) == 1 })
	if err := j.Answer(st.Asks[0].ID, false); err != nil {
		t.Fatal(err)
	}
	wantConflict(t, "client Answer twice", j.Answer(st.Asks[0].ID, true))
	wantConflict(t, "client SendFile of the wrong size", j.SendFile("a.txt", 5, bytes.NewReader([]byte("abc"))))

	if err := h.End(); err != nil {
		t.Fatal(err)
	}
	if err := result(t, ctx, joined); err != nil {
		t.Fatal(err)
	}
	waitState(t, ctx, h, "ended", phaseIs(PhaseEnded))
	waitState(t, ctx, j, "ended", phaseIs(PhaseEnded))
	for _, b := range []console.Backend{h, j} {
		checkRoleErrors(t, b)
		checkNotRunning(t, b)
		checkUnknownIDs(t, b)
	}
	wantErr(t, "client Answer after the end", j.Answer(st.Asks[0].ID, true), ErrNotNow)
}
