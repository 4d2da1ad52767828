package known

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func key(b byte) ed25519.PublicKey { return bytes.Repeat([]byte{b}, KeySize) }
func token(b byte) []byte          { return bytes.Repeat([]byte{b ^ 0x5a}, TokenSize) }

var t0 = time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)

func peer(b byte, name string) Peer {
	return Peer{Key: key(b), Name: name, Token: token(b), Added: t0.Add(time.Duration(b) * time.Minute)}
}

func mustOpen(t *testing.T, dir, name string) *Store {
	t.Helper()
	s, err := Open(dir, name)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func mustAdd(t *testing.T, s *Store, p Peer) Peer {
	t.Helper()
	got, err := s.Add(p)
	if err != nil {
		t.Fatalf("Add(%v): %v", p, err)
	}
	return got
}

// noTemps checks that no temp file was left behind in dir.
func noTemps(t *testing.T, dir string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temp file %s left behind", e.Name())
		}
	}
}

func TestRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // does not exist yet
	s := mustOpen(t, dir, PeersFile)
	if len(s.List()) != 0 {
		t.Fatal("a missing file is not an empty list")
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Open created the folder before any change")
	}
	a := mustAdd(t, s, peer(1, "Frau Müller"))
	b := mustAdd(t, s, Peer{Key: key(2), Name: "Herr Schmidt", Token: token(2), Server: "https://rv.example:8443/direkt"})
	if b.Added.IsZero() || b.Added.Location() != time.UTC {
		t.Fatalf("Added not set to now in UTC: %v", b.Added)
	}
	if err := s.Allow(key(1)); err != nil {
		t.Fatal(err)
	}
	seen := time.Date(2026, 3, 2, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	if err := s.Touch(key(2), seen); err != nil {
		t.Fatal(err)
	}
	a.Allowed = true
	b.LastSeen = seen.UTC()

	want := []Peer{a, b}
	if got := s.List(); !reflect.DeepEqual(got, want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	again := mustOpen(t, dir, PeersFile)
	if got := again.List(); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopening: %#v\nwant %#v", got, want)
	}
	if got, ok := again.Get(key(2)); !ok || !bytes.Equal(got.Token, token(2)) || got.Server != b.Server {
		t.Fatalf("Get = %v, %v", got, ok)
	}
	if _, ok := again.Get(key(9)); ok {
		t.Fatal("Get of an unknown key")
	}

	// Revoke forgets, for good.
	if err := again.Revoke(key(1)); err != nil {
		t.Fatal(err)
	}
	if got := mustOpen(t, dir, PeersFile).List(); len(got) != 1 || !bytes.Equal(got[0].Key, key(2)) {
		t.Fatalf("after Revoke: %v", got)
	}
	for _, err := range []error{again.Revoke(key(1)), again.Allow(key(1)), again.Touch(key(1), t0)} {
		if !errors.Is(err, ErrUnknown) {
			t.Errorf("change of an unknown key: %v", err)
		}
	}

	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v, want 0700", di.Mode().Perm())
	}
	noTemps(t, dir)
}

// The lists handed out are copies.
func TestListIsACopy(t *testing.T) {
	s := mustOpen(t, t.TempDir(), HostsFile)
	mustAdd(t, s, peer(1, "a"))
	l := s.List()
	l[0].Token[0] ^= 0xff
	l[0].Name = "changed"
	if p, _ := s.Get(key(1)); p.Name != "a" || !bytes.Equal(p.Token, token(1)) {
		t.Fatal("List exposes the store's entries")
	}
}

// Adding a known key again replaces its token and name, and keeps the
// host's earlier confirmation.
func TestAddAgain(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, PeersFile)
	first := mustAdd(t, s, peer(1, "old name"))
	if err := s.Allow(key(1)); err != nil {
		t.Fatal(err)
	}
	newer := Peer{Key: key(1), Name: "new name", Token: token(7), Added: t0.Add(time.Hour)}
	got := mustAdd(t, s, newer)
	if !got.Allowed || !got.Added.Equal(first.Added) || got.Name != "new name" || !bytes.Equal(got.Token, token(7)) {
		t.Fatalf("second Add = %#v", got)
	}
	if l := mustOpen(t, dir, PeersFile).List(); len(l) != 1 || !bytes.Equal(l[0].Token, token(7)) {
		t.Fatalf("stored: %v", l)
	}
	// Another key cannot take a token in use: its channel would be
	// ambiguous.
	if _, err := s.Add(Peer{Key: key(2), Token: token(7)}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Add with a token in use: %v", err)
	}
}

func TestAddRefuses(t *testing.T) {
	s := mustOpen(t, t.TempDir(), PeersFile)
	for _, p := range []Peer{
		{Key: key(1)[:31], Token: token(1)},
		{Key: key(1), Token: token(1)[:16]},
		{Key: key(1), Token: token(1), Name: "a\x1b[2Jb"},
		{Key: key(1), Token: token(1), Name: strings.Repeat("x", MaxName+1)},
		{Key: key(1), Token: token(1), Name: "\xff"},
		{Key: key(1), Token: token(1), Server: "ftp://rv.example"},
		{Key: key(1), Token: token(1), Server: "https://user:pw@rv.example"},
		{Key: key(1), Token: token(1), Server: "https://rv.example/\n"},
		{Key: key(1), Token: token(1), Server: "rv.example"},
	} {
		if _, err := s.Add(p); !errors.Is(err, ErrInvalid) {
			t.Errorf("Add(%#v): %v, want ErrInvalid", p, err)
		}
	}
	if len(s.List()) != 0 {
		t.Fatal("a refused entry was stored")
	}
}

func TestFull(t *testing.T) {
	dir := t.TempDir()
	peers := make([]Peer, MaxEntries)
	for i := range peers {
		peers[i] = Peer{Key: key(0), Token: token(0), Added: t0}
		peers[i].Key = append(ed25519.PublicKey(nil), peers[i].Key...)
		peers[i].Token = append([]byte(nil), peers[i].Token...)
		peers[i].Key[0], peers[i].Key[1] = byte(i), byte(i>>8)
		peers[i].Token[0], peers[i].Token[1] = byte(i), byte(i>>8)
	}
	data, err := encode(peers)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, PeersFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustOpen(t, dir, PeersFile)
	if _, err := s.Add(peer(0xff, "one more")); !errors.Is(err, ErrFull) {
		t.Fatalf("Add to a full list: %v", err)
	}
	// Updating an entry of a full list is fine.
	p := s.List()[5]
	p.Name = "renamed"
	mustAdd(t, s, p)
}

// A corrupt file is refused and never overwritten.
func TestCorrupt(t *testing.T) {
	good, err := encode([]Peer{peer(1, "a"), peer(2, "b")})
	if err != nil {
		t.Fatal(err)
	}
	dupKey, _ := encode([]Peer{peer(1, "a"), {Key: key(1), Token: token(3), Added: t0}})
	dupToken, _ := encode([]Peer{peer(1, "a"), {Key: key(3), Token: token(1), Added: t0}})
	for name, data := range map[string]string{
		"garbage":        "not json",
		"truncated":      string(good[:len(good)/2]),
		"trailing":       string(good) + "{}",
		"version 2":      strings.Replace(string(good), `"v": 1`, `"v": 2`, 1),
		"no version":     `{"peers":[]}`,
		"short key":      `{"v":1,"peers":[{"key":"AAAA","token":"` + strings.Repeat("A", 43) + `=","added":"2026-03-01T09:30:00Z"}]}`,
		"no added":       strings.Replace(string(good), `"added": "2026-03-01T09:31:00Z"`, `"added": "0001-01-01T00:00:00Z"`, 1),
		"repeated key":   string(dupKey),
		"repeated token": string(dupToken),
		"array":          `[]`,
		"null":           `null`,
		"empty":          ``,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, PeersFile)
			if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(dir, PeersFile); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			if after, _ := os.ReadFile(path); string(after) != data {
				t.Fatal("the corrupt file was changed")
			}
		})
	}
	big := filepath.Join(t.TempDir(), HostsFile)
	if err := os.WriteFile(big, bytes.Repeat([]byte(" "), maxFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(filepath.Dir(big), HostsFile); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Open of an oversized file: %v", err)
	}
}

// Unknown fields (from a later version of the format) are kept out but do
// not make the file corrupt.
func TestUnknownFieldsIgnored(t *testing.T) {
	dir := t.TempDir()
	data := `{"v":1,"extra":true,"peers":[{"key":"` + strings.Repeat("A", 43) + `=","name":"x","token":"` + strings.Repeat("B", 43) + `=","added":"2026-03-01T09:30:00Z","colour":"blue"}]}`
	if err := os.WriteFile(filepath.Join(dir, PeersFile), []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if l := mustOpen(t, dir, PeersFile).List(); len(l) != 1 || l[0].Name != "x" {
		t.Fatalf("List = %v", l)
	}
}

// A write that fails changes nothing, in memory or on disk.
func TestFailedWriteChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, PeersFile)
	mustAdd(t, s, peer(1, "a"))
	before, _ := os.ReadFile(s.Path())
	// A folder where the temp file must go makes every write fail, even
	// for root.
	if err := os.Remove(s.Path()); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.Path(), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(peer(2, "b")); err == nil {
		t.Fatal("Add succeeded although the file cannot be replaced")
	}
	if err := s.Allow(key(1)); err == nil {
		t.Fatal("Allow succeeded although the file cannot be replaced")
	}
	if l := s.List(); len(l) != 1 || l[0].Allowed {
		t.Fatalf("memory changed by failed writes: %v", l)
	}
	noTemps(t, dir)
	os.Remove(s.Path())
	if err := os.WriteFile(s.Path(), before, 0o600); err != nil {
		t.Fatal(err)
	}
	if l := mustOpen(t, dir, PeersFile).List(); len(l) != 1 {
		t.Fatalf("file: %v", l)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, name := range []string{"", ".", "..", "a/b", "../x"} {
		if _, err := Open(t.TempDir(), name); err == nil {
			t.Errorf("Open(%q) succeeded", name)
		}
	}
	// A folder where the file should be is an error, not an empty list.
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, PeersFile), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, PeersFile); err == nil {
		t.Fatal("Open of a folder succeeded")
	}
}

// Tokens reach neither logs, nor fmt output, nor JSON for the console.
func TestTokenStaysSecret(t *testing.T) {
	p := peer(1, "Frau Müller")
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("peer", "peer", p)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("peer", "peer", p)
	j, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{logs.String(), string(j), fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s", p, p, p, p)} {
		for _, enc := range []string{fmt.Sprintf("%x", p.Token), fmt.Sprint(p.Token), base64.StdEncoding.EncodeToString(p.Token)[:8]} {
			if strings.Contains(out, enc) {
				t.Errorf("token in %q", out)
			}
		}
		if !strings.Contains(out, "Frau Müller") && !strings.Contains(out, `Frau M\u00fcller`) {
			t.Errorf("name missing from %q", out)
		}
	}
}

func TestConcurrentChanges(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, PeersFile)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := s.Add(peer(byte(i+1), fmt.Sprint("peer ", i))); err != nil {
				t.Error(err)
			}
			if err := s.Touch(key(byte(i+1)), t0); err != nil {
				t.Error(err)
			}
			_ = s.List()
		})
	}
	wg.Wait()
	if l := mustOpen(t, dir, PeersFile).List(); len(l) != 8 {
		t.Fatalf("%d entries stored, want 8", len(l))
	}
	noTemps(t, dir)
}

func TestKeyString(t *testing.T) {
	k := key(3)
	got, err := ParseKey(KeyString(k))
	if err != nil || !got.Equal(k) {
		t.Fatalf("ParseKey(KeyString) = %x, %v", got, err)
	}
	for _, s := range []string{"", "AAAA", "!!", KeyString(k) + "AAAA"} {
		if _, err := ParseKey(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseKey(%q): %v", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	good, _ := encode([]Peer{peer(1, "a"), {Key: key(2), Name: "Herr Schmidt", Token: token(2), Server: "wss://rv.example/x", Added: t0, LastSeen: t0.Add(time.Hour), Allowed: true}})
	for _, s := range []string{string(good), `{"v":1,"peers":[]}`, `{"v":1}`, `{"v":1,"peers":null}`, `{"v":2,"peers":[]}`, "", "{}", `{"v":1,"peers":[{}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		peers, err := parse(data)
		if err != nil {
			return
		}
		// Whatever parses is stored again unchanged.
		b, err := encode(peers)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		again, err := parse(b)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", b, err)
		}
		if len(again) != len(peers) {
			t.Fatalf("%d entries became %d", len(peers), len(again))
		}
		for i := range peers {
			p, q := peers[i], again[i]
			if !bytes.Equal(p.Key, q.Key) || !bytes.Equal(p.Token, q.Token) || p.Name != q.Name || p.Server != q.Server ||
				!p.Added.Equal(q.Added) || !p.LastSeen.Equal(q.LastSeen) || p.Allowed != q.Allowed {
				t.Fatalf("entry %d: %#v became %#v", i, p, q)
			}
		}
	})
}

// BenchmarkTouchFull measures one change of a full list: encoding 1024
// entries, writing, fsync and rename.
func BenchmarkTouchFull(b *testing.B) {
	dir := b.TempDir()
	peers := make([]Peer, MaxEntries)
	for i := range peers {
		k, tk := key(0), token(0)
		k[0], k[1], tk[0], tk[1] = byte(i), byte(i>>8), byte(i), byte(i>>8)
		peers[i] = Peer{Key: k, Name: fmt.Sprint("Kundin ", i), Token: tk, Added: t0}
	}
	data, _ := encode(peers)
	if err := os.WriteFile(filepath.Join(dir, PeersFile), data, 0o600); err != nil {
		b.Fatal(err)
	}
	s, err := Open(dir, PeersFile)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := s.Touch(peers[7].Key, t0); err != nil {
			b.Fatal(err)
		}
	}
}
