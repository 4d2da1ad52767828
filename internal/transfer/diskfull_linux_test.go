//go:build linux

package transfer

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestDiskFull receives into a 1 MiB tmpfs: the receiver must report
// ErrDiskFull, tell the sender, keep the partial file, and resume from it once
// there is room.
func TestDiskFull(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	out := t.TempDir()
	if err := syscall.Mount("tmpfs", out, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(out, 0); err != nil {
			t.Errorf("unmount: %v", err)
		}
	})
	src := t.TempDir()
	data := randBytes(9, 3*maxData)
	name := filepath.Join(src, "backup.tar")
	writeFile(t, name, data, 0o644)

	o := run(t, tcpPair, []string{name}, out, transferOpts{})
	if !errors.Is(o.rerr, ErrDiskFull) {
		t.Fatalf("receive: %v, want ErrDiskFull", o.rerr)
	}
	if !errors.Is(o.serr, ErrDiskFull) || !errors.Is(o.serr, ErrPeerAborted) {
		t.Errorf("send: %v, want ErrPeerAborted and ErrDiskFull", o.serr)
	}
	partial := mustRead(t, filepath.Join(out, "backup.tar"+partialSuffix))
	if len(partial) == 0 || !bytes.Equal(partial, data[:len(partial)]) {
		t.Fatalf("partial of %d bytes is not a prefix of the file", len(partial))
	}
	t.Logf("disk full after %d bytes; error: %v", len(partial), o.rerr)

	if err := syscall.Mount("tmpfs", out, "tmpfs", syscall.MS_REMOUNT, "size=8m"); err != nil {
		t.Fatalf("remount: %v", err)
	}
	o = run(t, tcpPair, []string{name}, out, transferOpts{})
	if o.serr != nil || o.rerr != nil {
		t.Fatalf("after freeing space: send %v, receive %v", o.serr, o.rerr)
	}
	if o.rres.Resumed != int64(len(partial)) {
		t.Errorf("resumed %d, want the partial's %d", o.rres.Resumed, len(partial))
	}
	if got := mustRead(t, filepath.Join(out, "backup.tar")); !bytes.Equal(got, data) {
		t.Errorf("file differs after the resume")
	}
}
