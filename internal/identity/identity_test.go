package identity

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateStable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cfg")
	k1, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatal("second load returned a different key")
	}
	fi, err := os.Stat(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("identity mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	keys := make([][]byte, 8)
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreate(dir)
			if err != nil {
				t.Error(err)
				return
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("concurrent creators disagree on the key")
		}
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".identity-*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

func TestCorruptIsNotReplaced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want ErrCorrupt", err)
	}
	data, _ := os.ReadFile(path)
	if string(data) != "garbage" {
		t.Fatal("corrupt identity was overwritten")
	}
}

func TestFingerprint(t *testing.T) {
	fp := Fingerprint(make([]byte, 32))
	if len(fp) != 19 || fp[4] != '-' {
		t.Fatalf("fingerprint %q has the wrong shape", fp)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Load of an empty folder: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("Load created an identity")
	}
	k, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir)
	if err != nil || !got.Equal(k) {
		t.Fatalf("Load: %v", err)
	}
}

func TestParseFingerprint(t *testing.T) {
	fp := Fingerprint(make([]byte, 32))
	flat := strings.ReplaceAll(fp, "-", "")
	for _, in := range []string{fp, strings.ToUpper(fp), flat, strings.ToUpper(flat),
		strings.ReplaceAll(fp, "-", " "), strings.ReplaceAll(fp, "-", ":"), " " + fp + " "} {
		if got, err := ParseFingerprint(in); err != nil || got != fp {
			t.Errorf("ParseFingerprint(%q) = %q, %v; want %q", in, got, err, fp)
		}
	}
	for _, in := range []string{"", fp[:18], fp + "a", flat[:15], "0000-0000-0000-0000", "abcd-efgh-ijkl-mnö1", "abcd_efgh_ijkl_mnop"} {
		if got, err := ParseFingerprint(in); !errors.Is(err, ErrFingerprint) {
			t.Errorf("ParseFingerprint(%q) = %q, %v; want ErrFingerprint", in, got, err)
		}
	}
}

func FuzzParseFingerprint(f *testing.F) {
	f.Add(Fingerprint(make([]byte, 32)))
	f.Add("ABCD EFGH IJKL MNOP")
	f.Add("abcd-efgh")
	f.Fuzz(func(t *testing.T, s string) {
		fp, err := ParseFingerprint(s)
		if err != nil {
			return
		}
		again, err := ParseFingerprint(fp)
		if err != nil || again != fp || len(fp) != 19 {
			t.Fatalf("ParseFingerprint(%q) = %q, not canonical (%q, %v)", s, fp, again, err)
		}
	})
}
