package app

import (
	"errors"
	"io/fs"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/wire"
)

func TestDataDir(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DIREKT_DATA": "/d", "DIREKT_HOME": "/h", "XDG_DATA_HOME": "/x"}, "/d"},
		{map[string]string{"DIREKT_HOME": "/h", "XDG_DATA_HOME": "/x"}, "/h"},
	}
	if runtime.GOOS == "linux" {
		cases = append(cases, struct {
			env  map[string]string
			want string
		}{map[string]string{"XDG_DATA_HOME": "/x"}, filepath.Join("/x", "direkt")})
	}
	for _, c := range cases {
		if got, err := DataDir(env(c.env)); err != nil || got != c.want {
			t.Errorf("DataDir(%v) = %q, %v; want %q", c.env, got, err, c.want)
		}
	}
	if got, err := DataDir(env(nil)); err == nil && filepath.Base(got) != "direkt" {
		t.Errorf("default data folder %q does not end in direkt", got)
	}
}

func TestConfigRequired(t *testing.T) {
	dir := t.TempDir()
	key := newKey(t)
	for _, cfg := range []Config{
		{Key: key, DataDir: dir},
		{Server: "http://127.0.0.1:1", DataDir: dir},
		{Server: "http://127.0.0.1:1", Key: key},
	} {
		if _, err := NewHost(cfg); err == nil {
			t.Errorf("NewHost took %+v", cfg)
		}
		if _, err := NewJoin(cfg); err == nil {
			t.Errorf("NewJoin took %+v", cfg)
		}
	}
}

// TestClientVanishesWhilePairing: a client that pairs with the code and
// leaves before the connection is up makes the consultation fail with a
// reason; New shows a new code.
func TestClientVanishesWhilePairing(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 60*time.Second)
	server := newRendezvous(t, 0)
	var hev events
	h, err := NewHost(peerConfig(t, server, "Anna", &hev))
	if err != nil {
		t.Fatal(err)
	}
	startHost(t, ctx, h)
	st := waitState(t, ctx, h, "a code", func(st console.State) bool { return st.Code != "" })
	c, err := code.Parse(st.Code)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := pairing.Claim(ctx, pairing.Options{Server: server, Hello: wire.Signal{Name: "Ghost", App: wire.AppConsult}, Logger: testLogger()}, c)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	waitState(t, ctx, h, "pairing", phaseIs(PhasePairing))
	pair.Close(wire.MoodLonely)
	st = waitState(t, ctx, h, "failed", phaseIs(PhaseFailed))
	if st.Error == "" || st.Code != "" || st.Peer != nil {
		t.Errorf("failed host: %s; want a reason, no code, no peer", describe(st))
	}
	if e := hev.wait(t, ctx, "ended", nil); e.Reason != st.Error {
		t.Errorf("ended event %+v, want reason %q", e, st.Error)
	}
	waiting := newWaiting(t, ctx, h)
	if waiting.Code == st.Code || waiting.Error != "" {
		t.Errorf("after New: %s", describe(waiting))
	}
}

// TestJoinBadCode: a client with a wrong code fails with pairing's error;
// the host's code is burned and it fails too, until New.
func TestJoinBadCode(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 60*time.Second)
	server := newRendezvous(t, 0)
	h, j, _, _ := newPeers(t, server, nil)
	startHost(t, ctx, h)
	st := waitState(t, ctx, h, "a code", func(st console.State) bool { return st.Code != "" })
	c, err := code.Parse(st.Code)
	if err != nil {
		t.Fatal(err)
	}
	wrong := c
	wrong.Words = append([]string(nil), c.Words...)
	for _, w := range []string{"nest", "heide"} {
		if w != wrong.Words[0] {
			wrong.Words[0] = w
			break
		}
	}
	if err := j.Run(ctx, wrong); !errors.Is(err, pairing.ErrBadCode) {
		t.Errorf("Join.Run with a wrong code: %v, want ErrBadCode", err)
	}
	if js := j.State(); js.Phase != PhaseFailed || js.Error == "" {
		t.Errorf("client: %s; want failed with a reason", describe(js))
	}
	hs := waitState(t, ctx, h, "failed", phaseIs(PhaseFailed))
	if hs.Code != "" || hs.Error == "" {
		t.Errorf("host after a wrong code: %s; want failed with a reason and no code", describe(hs))
	}
	newWaiting(t, ctx, h)
}

// FuzzConsoleIDs feeds the ids the console takes from its URL paths (keys,
// record ids and formats, file ids) to idle peers: nothing panics, and
// anything unknown is 404.
func FuzzConsoleIDs(f *testing.F) {
	for _, s := range []string{"", "x", "../../etc/passwd", "2026-01-01T0000Z-00000000", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "h1", "c1", "json", "pdf", "%00", "a/b", "\\\\server\\share"} {
		f.Add(s, "pdf")
		f.Add(s, s)
	}
	server := "http://127.0.0.1:1"
	key := func() Config {
		return Config{Server: server, Key: newKey(f), DataDir: f.TempDir(), Logger: testLogger()}
	}
	h, err := NewHost(key())
	if err != nil {
		f.Fatal(err)
	}
	j, err := NewJoin(key())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, format string) {
		for _, b := range []console.Backend{h, j} {
			notFound := func(what string, err error) {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("%s %s(%q, %q): %v, want ErrNotExist", b.State().Role, what, id, format, err)
				}
			}
			_, _, err := b.OpenRecord(id, format)
			notFound("OpenRecord", err)
			_, _, err = b.OpenFile(id)
			notFound("OpenFile", err)
			notFound("RevokePeer", b.RevokePeer(id))
		}
		if err := h.AllowPeer(id, true); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("AllowPeer(%q): %v", id, err)
		}
		if err := j.Rejoin(id); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Rejoin(%q): %v", id, err)
		}
	})
}
