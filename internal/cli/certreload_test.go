package cli

import (
	"bytes"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/netbed"
)

// A renewed key pair is served after the next check; a broken one is not.
func TestCertReloader(t *testing.T) {
	dir := t.TempDir()
	files, err := netbed.WriteTLS(dir, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := newCertReloader(files.Cert, files.Key, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	now := time.Now()
	r.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	leaf := func() []byte {
		t.Helper()
		c, err := r.GetCertificate(nil)
		if err != nil || c == nil || len(c.Certificate) == 0 {
			t.Fatalf("GetCertificate: %v, %v", c, err)
		}
		return c.Certificate[0]
	}
	// touch gives the files a modification time of their own, whatever
	// the file system's timestamp granularity.
	stamp := time.Now()
	touch := func() {
		t.Helper()
		stamp = stamp.Add(time.Minute)
		for _, f := range []string{files.Cert, files.Key} {
			if err := os.Chtimes(f, stamp, stamp); err != nil {
				t.Fatal(err)
			}
		}
	}
	first := leaf()

	// Renewed: served only once the next check is due.
	if _, err := netbed.WriteTLS(dir, netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	touch()
	if !bytes.Equal(leaf(), first) {
		t.Fatal("reloaded before the check was due")
	}
	advance(certReloadEvery + time.Second)
	second := leaf()
	if bytes.Equal(second, first) {
		t.Fatal("the renewed certificate was not loaded")
	}

	// Half written: the old pair stays.
	if err := os.WriteFile(files.Key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	touch()
	advance(certReloadEvery + time.Second)
	if !bytes.Equal(leaf(), second) {
		t.Fatal("a broken key pair replaced the loaded one")
	}

	if _, err := newCertReloader(files.Cert, files.Key, quietLogger()); err == nil {
		t.Error("a broken key pair loaded at start")
	}
}
