package console

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fakeOpener writes an executable script named name into dir.
func fakeOpener(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestOpenBrowser(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh for the stand-in openers")
	}
	dir := t.TempDir()
	got := filepath.Join(dir, "opened")
	fakeOpener(t, dir, "fails", "exit 3")
	fakeOpener(t, dir, "works", `printf '%s' "$@" > "`+got+`"`)
	t.Setenv("PATH", dir)
	u := "http://127.0.0.1:4321/?t=abc&x=1"

	if err := openWith([][]string{{"missing"}, {"fails"}, {"works"}}, u); err != nil {
		t.Fatalf("openWith: %v", err)
	}
	if b, _ := os.ReadFile(got); string(b) != u {
		t.Errorf("opener got %q, want %q", b, u)
	}
	os.Remove(got)
	if err := openWith([][]string{{"fails"}}, u); !errors.Is(err, ErrNoBrowser) {
		t.Errorf("failing opener: %v", err)
	}
	if err := openWith([][]string{{"missing"}}, u); !errors.Is(err, ErrNoBrowser) {
		t.Errorf("no opener: %v", err)
	}
	if err := OpenBrowser(u); !errors.Is(err, ErrNoBrowser) { // PATH has no xdg-open
		t.Errorf("OpenBrowser without openers: %v", err)
	}
	for _, bad := range []string{"", "-x", "--help", "file:///etc/passwd", "javascript:alert(1)", "127.0.0.1:80", "http://", "http:/x"} {
		if err := OpenBrowser(bad); !errors.Is(err, ErrBadURL) {
			t.Errorf("OpenBrowser(%q): %v, want ErrBadURL", bad, err)
		}
	}
}
