package transfer

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestScan(t *testing.T) {
	src := t.TempDir()
	dir := filepath.Join(src, "proj")
	writeFile(t, filepath.Join(dir, "a.txt"), []byte("abc"), 0o644)
	writeFile(t, filepath.Join(dir, "bin", "tool"), []byte("#!"), 0o755)
	writeFile(t, filepath.Join(dir, "weird:name?.txt"), []byte("w"), 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "empty", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "only-links"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "only-links", "passwd")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("a.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	other := filepath.Join(src, "other", "a.txt")
	writeFile(t, other, []byte("other a"), 0o644)

	m, err := Scan([]string{dir, other})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range m.Files {
		names = append(names, f.Name)
	}
	want := []string{"proj/a.txt", "proj/bin/tool", "proj/weird_name_.txt", "a.txt"}
	if !slices.Equal(names, want) {
		t.Errorf("files %q, want %q", names, want)
	}
	if m.Total != 3+2+1+7 {
		t.Errorf("total %d", m.Total)
	}
	if m.Files[1].Mode != 0o755 || m.Files[0].Mode != 0o644 {
		t.Errorf("modes %v %v", m.Files[1].Mode, m.Files[0].Mode)
	}
	if !slices.Equal(m.Dirs, []string{"proj/empty/deeper", "proj/only-links"}) {
		t.Errorf("dirs %q", m.Dirs)
	}
	skipped := []string{filepath.Join(dir, "link"), filepath.Join(dir, "only-links", "passwd"), sock}
	slices.Sort(m.Skipped)
	slices.Sort(skipped)
	if !slices.Equal(m.Skipped, skipped) {
		t.Errorf("skipped %q, want %q", m.Skipped, skipped)
	}

	// The same name twice from different folders is disambiguated.
	m, err = Scan([]string{filepath.Join(dir, "a.txt"), other})
	if err != nil || m.Files[0].Name != "a.txt" || m.Files[1].Name != "a (1).txt" {
		t.Errorf("duplicate base names: %+v, %v", m.Files, err)
	}
}

func TestScanRefuses(t *testing.T) {
	src := t.TempDir()
	writeFile(t, filepath.Join(src, "f"), []byte("x"), 0o644)
	link := filepath.Join(src, "link")
	if err := os.Symlink("f", link); err != nil {
		t.Fatal(err)
	}
	if _, err := Scan([]string{link}); !errors.Is(err, ErrUnsupportedFile) {
		t.Errorf("symlink: %v, want ErrUnsupportedFile", err)
	}
	if _, err := Scan([]string{filepath.Join(src, "missing")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	if _, err := Scan(nil); err == nil {
		t.Errorf("nothing to send accepted")
	}
	if _, err := Scan([]string{"/"}); err == nil {
		t.Errorf("the root accepted")
	}
	if os.Getuid() != 0 {
		locked := filepath.Join(src, "locked")
		writeFile(t, filepath.Join(locked, "inside"), []byte("x"), 0o644)
		if err := os.Chmod(locked, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(locked, 0o755)
		if _, err := Scan([]string{locked}); !errors.Is(err, os.ErrPermission) {
			t.Errorf("unreadable folder: %v", err)
		}
	}
}

func TestSendScanErrorTellsReceiver(t *testing.T) {
	src := t.TempDir()
	link := filepath.Join(src, "link")
	if err := os.Symlink("nowhere", link); err != nil {
		t.Fatal(err)
	}
	o := run(t, tcpPair, []string{link}, t.TempDir(), transferOpts{})
	if !errors.Is(o.serr, ErrUnsupportedFile) {
		t.Errorf("send: %v, want ErrUnsupportedFile", o.serr)
	}
	if !errors.Is(o.rerr, ErrPeerAborted) {
		t.Errorf("receive: %v, want ErrPeerAborted", o.rerr)
	}
}
