package transfer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// makeTree builds a folder with nested folders, empty files, an empty folder,
// an executable and a file larger than one data frame.
func makeTree(t testing.TB, dir string) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "top.txt"), []byte("hello\n"), 0o644)
	writeFile(t, filepath.Join(dir, "empty"), nil, 0o644)
	writeFile(t, filepath.Join(dir, "a", "b", "c", "deep.bin"), randBytes(1, 3*maxData+17), 0o644)
	writeFile(t, filepath.Join(dir, "a", "b", "empty-too"), nil, 0o644)
	writeFile(t, filepath.Join(dir, "a", "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	writeFile(t, filepath.Join(dir, "a", "exact"), randBytes(2, maxData), 0o644)
	if err := os.MkdirAll(filepath.Join(dir, "nothing", "here"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			src := t.TempDir()
			tree := filepath.Join(src, "tree")
			makeTree(t, tree)
			single := filepath.Join(src, "single.pdf")
			writeFile(t, single, randBytes(3, 100_000), 0o644)
			out := t.TempDir()

			o := run(t, tr.pair, []string{tree, single}, out, transferOpts{})
			if o.serr != nil || o.rerr != nil {
				t.Fatalf("send: %v, receive: %v", o.serr, o.rerr)
			}
			sameTree(t, src, out)

			m, err := Scan([]string{tree, single})
			if err != nil {
				t.Fatal(err)
			}
			if len(o.rres.Files) != len(m.Files) || len(o.sres.Files) != len(m.Files) {
				t.Fatalf("results list %d/%d files, manifest %d", len(o.sres.Files), len(o.rres.Files), len(m.Files))
			}
			for i, f := range o.rres.Files {
				data := mustRead(t, filepath.Join(out, filepath.FromSlash(f.Name)))
				if !bytes.Equal(f.SHA256, sha(data)) || !bytes.Equal(o.sres.Files[i].SHA256, f.SHA256) {
					t.Errorf("%s: digest does not match the content", f.Name)
				}
				if f.Name != m.Files[i].Name || o.sres.Files[i].Name != f.Name {
					t.Errorf("file %d named %q / %q, manifest %q", i, o.sres.Files[i].Name, f.Name, m.Files[i].Name)
				}
			}
			fi, err := os.Stat(filepath.Join(out, "tree", "a", "run.sh"))
			if err != nil || fi.Mode().Perm()&0o100 == 0 {
				t.Errorf("executable bit lost: %v %v", fi.Mode(), err)
			}
			fi, err = os.Stat(filepath.Join(out, "tree", "top.txt"))
			if err != nil || fi.Mode().Perm()&0o111 != 0 {
				t.Errorf("plain file became executable: %v %v", fi.Mode(), err)
			}
			if o.sres.Resumed != 0 || o.rres.Resumed != 0 {
				t.Errorf("resumed %d/%d on a fresh transfer", o.sres.Resumed, o.rres.Resumed)
			}
			for _, prog := range [][]int64{o.sprog, o.rprog} {
				if len(prog) == 0 || prog[len(prog)-1] != m.Total || !slices.IsSorted(prog) {
					t.Errorf("progress %v, want monotonic ending at %d", prog, m.Total)
				}
			}
		})
	}
}

func TestEmptyManifestEdge(t *testing.T) {
	// A folder with nothing in it is one empty folder.
	src := t.TempDir()
	if err := os.Mkdir(filepath.Join(src, "void"), 0o755); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	o := run(t, tcpPair, []string{filepath.Join(src, "void")}, out, transferOpts{})
	if o.serr != nil || o.rerr != nil {
		t.Fatalf("send: %v, receive: %v", o.serr, o.rerr)
	}
	sameTree(t, src, out)
}

func TestConflictRenaming(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(src, "report.pdf"), []byte("new report"), 0o644)
	writeFile(t, filepath.Join(src, "folder", "x.txt"), []byte("x"), 0o644)
	writeFile(t, filepath.Join(src, ".hidden"), []byte("h"), 0o644)
	// Already in the download folder: same names, other content, and a file
	// where the sender has a folder.
	writeFile(t, filepath.Join(out, "report.pdf"), []byte("old report"), 0o644)
	writeFile(t, filepath.Join(out, "report (1).pdf"), []byte("older"), 0o644)
	writeFile(t, filepath.Join(out, "folder"), []byte("a file"), 0o644)
	writeFile(t, filepath.Join(out, ".hidden"), []byte("other"), 0o644)

	o := run(t, tcpPair, []string{filepath.Join(src, "report.pdf"), filepath.Join(src, "folder"), filepath.Join(src, ".hidden")}, out, transferOpts{})
	if o.serr != nil || o.rerr != nil {
		t.Fatalf("send: %v, receive: %v", o.serr, o.rerr)
	}
	want := map[string]string{
		"report.pdf":       "old report",
		"report (1).pdf":   "older",
		"report (2).pdf":   "new report",
		"folder":           "a file",
		"folder (1)/x.txt": "x",
		".hidden":          "other",
		".hidden (1)":      "h",
	}
	for name, content := range want {
		if got := string(mustRead(t, filepath.Join(out, filepath.FromSlash(name)))); got != content {
			t.Errorf("%s = %q, want %q", name, got, content)
		}
	}
	var names []string
	for _, f := range o.rres.Files {
		names = append(names, f.Name)
	}
	if wantNames := []string{"report (2).pdf", "folder (1)/x.txt", ".hidden (1)"}; !slices.Equal(names, wantNames) {
		t.Errorf("result names %q, want %q", names, wantNames)
	}
}

func TestSameFileTwiceIsNotDuplicated(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	data := randBytes(4, 2*maxData+5)
	writeFile(t, filepath.Join(src, "doc.bin"), data, 0o644)
	writeFile(t, filepath.Join(src, "empty"), nil, 0o644)
	paths := []string{filepath.Join(src, "doc.bin"), filepath.Join(src, "empty")}
	for i := range 2 {
		o := run(t, tcpPair, paths, out, transferOpts{})
		if o.serr != nil || o.rerr != nil {
			t.Fatalf("run %d: send: %v, receive: %v", i, o.serr, o.rerr)
		}
		want := int64(0)
		if i == 1 {
			want = int64(len(data))
		}
		if o.sres.Resumed != want || o.rres.Resumed != want {
			t.Errorf("run %d: resumed %d/%d, want %d", i, o.sres.Resumed, o.rres.Resumed, want)
		}
	}
	if got := listDir(t, out); !slices.Equal(got, []string{"doc.bin", "empty"}) {
		t.Errorf("download folder holds %q", got)
	}
}

func TestAcceptDeclines(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(src, "f"), []byte("data"), 0o644)
	var seen Manifest
	o := run(t, tcpPair, []string{filepath.Join(src, "f")}, out, transferOpts{accept: func(m Manifest) error {
		seen = m
		return errors.New("not enough space")
	}})
	if !errors.Is(o.rerr, ErrRejected) || !errors.Is(o.serr, ErrRejected) {
		t.Fatalf("send: %v, receive: %v; want ErrRejected on both", o.serr, o.rerr)
	}
	if len(seen.Files) != 1 || seen.Files[0].Name != "f" || seen.Total != 4 {
		t.Errorf("Accept saw %+v", seen)
	}
	if got := listDir(t, out); len(got) != 0 {
		t.Errorf("declined transfer wrote %q", got)
	}
}

func TestCancelMidTransfer(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			src, out := t.TempDir(), t.TempDir()
			data := randBytes(5, 8*maxData)
			writeFile(t, filepath.Join(src, "big"), data, 0o644)
			rctx, cancel := context.WithCancel(testCtx(t))
			defer cancel()
			// The receiver's owner gives up once 2 MiB have arrived.
			o := run(t, tr.pair, []string{filepath.Join(src, "big")}, out, transferOpts{
				recvCtx: rctx,
				wrapRecv: func(c net.Conn) io.ReadWriteCloser {
					return &cancelConn{Conn: c, limit: 2*maxData + 100, cancel: cancel}
				},
			})
			if !errors.Is(o.rerr, context.Canceled) {
				t.Errorf("receive: %v, want context.Canceled", o.rerr)
			}
			if !errors.Is(o.serr, ErrPeerGone) {
				t.Errorf("send: %v, want ErrPeerGone", o.serr)
			}
			// The receiver was stopped mid-file: its partial file stays.
			partial := mustRead(t, filepath.Join(out, "big"+partialSuffix))
			if len(partial) < maxData || !bytes.Equal(partial, data[:len(partial)]) {
				t.Errorf("partial has %d bytes, want a prefix of at least %d", len(partial), maxData)
			}
			if _, err := os.Stat(filepath.Join(out, "big")); !os.IsNotExist(err) {
				t.Errorf("incomplete file has its final name: %v", err)
			}
		})
	}
}

// cutAfter cuts the sender's side after n bytes written.
func cutSendAfter(n int64) func(net.Conn) io.ReadWriteCloser {
	return func(c net.Conn) io.ReadWriteCloser { return &cutConn{Conn: c, limit: n, onWrite: true} }
}

func TestResumeAfterCut(t *testing.T) {
	data := randBytes(6, 5*maxData+123)
	// Cut inside the manifest, inside the first data frame, and at a random
	// point.
	cuts := []int64{50, 2000, rand.Int64N(int64(len(data)))}
	for _, tr := range transports {
		for _, cut := range cuts {
			t.Run(fmt.Sprintf("%s/%d", tr.name, cut), func(t *testing.T) {
				testResumeAfterCut(t, tr.pair, data, cut)
			})
		}
	}
}

func testResumeAfterCut(t *testing.T, pair pairFunc, data []byte, cut int64) {
	src, out := t.TempDir(), t.TempDir()
	name := filepath.Join(src, "video.mp4")
	writeFile(t, name, data, 0o644)
	o := run(t, pair, []string{name}, out, transferOpts{wrapSend: cutSendAfter(cut)})
	if !errors.Is(o.serr, ErrPeerGone) || !errors.Is(o.rerr, ErrPeerGone) {
		t.Fatalf("cut transfer: send %v, receive %v; want ErrPeerGone", o.serr, o.rerr)
	}
	// Cut inside the manifest there is no partial; cut inside the
	// first frame it is empty.
	partial, err := os.ReadFile(filepath.Join(out, "video.mp4"+partialSuffix))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if !bytes.Equal(partial, data[:len(partial)]) {
		t.Fatalf("partial of %d bytes is not a prefix", len(partial))
	}

	o = run(t, pair, []string{name}, out, transferOpts{})
	if o.serr != nil || o.rerr != nil {
		t.Fatalf("resume: send %v, receive %v", o.serr, o.rerr)
	}
	if o.sres.Resumed != int64(len(partial)) || o.rres.Resumed != int64(len(partial)) {
		t.Errorf("resumed %d/%d, want %d", o.sres.Resumed, o.rres.Resumed, len(partial))
	}
	if len(partial) > 0 && o.rprog[0] < int64(len(partial)) {
		t.Errorf("progress starts at %d, want the resumed %d included", o.rprog[0], len(partial))
	}
	if got := mustRead(t, filepath.Join(out, "video.mp4")); !bytes.Equal(got, data) {
		t.Errorf("resumed file differs")
	}
	if got := listDir(t, out); !slices.Equal(got, []string{"video.mp4"}) {
		t.Errorf("download folder holds %q", got)
	}
}

func TestResumeWithChangedSourceRestarts(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	data := randBytes(7, 4*maxData)
	name := filepath.Join(src, "data.bin")
	writeFile(t, name, data, 0o644)
	o := run(t, tcpPair, []string{name}, out, transferOpts{wrapSend: cutSendAfter(2*maxData + 999)})
	if !errors.Is(o.serr, ErrPeerGone) {
		t.Fatalf("cut transfer: send %v", o.serr)
	}
	if fi, err := os.Stat(filepath.Join(out, "data.bin"+partialSuffix)); err != nil || fi.Size() == 0 {
		t.Fatalf("no partial: %v", err)
	}
	data[10] ^= 0xff // the source changes inside the prefix the receiver holds
	writeFile(t, name, data, 0o644)

	o = run(t, tcpPair, []string{name}, out, transferOpts{})
	if o.serr != nil || o.rerr != nil {
		t.Fatalf("second run: send %v, receive %v", o.serr, o.rerr)
	}
	if o.sres.Resumed != 0 || o.rres.Resumed != 0 {
		t.Errorf("resumed %d/%d from a stale prefix", o.sres.Resumed, o.rres.Resumed)
	}
	if got := mustRead(t, filepath.Join(out, "data.bin")); !bytes.Equal(got, data) {
		t.Errorf("file differs from the changed source")
	}
	if got := listDir(t, out); !slices.Equal(got, []string{"data.bin"}) {
		t.Errorf("download folder holds %q", got)
	}
}

func TestResumeFolder(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	dir := filepath.Join(src, "album")
	var total int64
	for i := range 4 {
		b := randBytes(uint64(10+i), 3*maxData/2+i)
		total += int64(len(b))
		writeFile(t, filepath.Join(dir, string(rune('a'+i))+".jpg"), b, 0o644)
	}
	// Half way is inside the second data frame of b.jpg.
	o := run(t, tcpPair, []string{dir}, out, transferOpts{wrapSend: cutSendAfter(total / 2)})
	if !errors.Is(o.serr, ErrPeerGone) || !errors.Is(o.rerr, ErrPeerGone) {
		t.Fatalf("cut transfer: send %v, receive %v", o.serr, o.rerr)
	}
	if len(o.rres.Files) != 1 || o.rres.Files[0].Name != "album/a.jpg" {
		t.Fatalf("stored %+v before the cut, want album/a.jpg", o.rres.Files)
	}
	partial := mustRead(t, filepath.Join(out, "album", "b.jpg"+partialSuffix))
	if len(partial) != maxData {
		t.Fatalf("partial of %d bytes, want the one whole frame %d", len(partial), maxData)
	}
	o = run(t, tcpPair, []string{dir}, out, transferOpts{})
	if o.serr != nil || o.rerr != nil {
		t.Fatalf("resume: send %v, receive %v", o.serr, o.rerr)
	}
	// a.jpg is in place already, b.jpg continues after its partial.
	want := int64(3*maxData/2) + int64(len(partial))
	if o.rres.Resumed != want || o.sres.Resumed != want {
		t.Errorf("resumed %d/%d, want %d", o.sres.Resumed, o.rres.Resumed, want)
	}
	sameTree(t, src, out)
}

func TestReceiverKilledKeepsPartial(t *testing.T) {
	src, out := t.TempDir(), t.TempDir()
	data := randBytes(8, 6*maxData)
	writeFile(t, filepath.Join(src, "f"), data, 0o644)
	o := run(t, tcpPair, []string{filepath.Join(src, "f")}, out, transferOpts{
		wrapRecv: func(c net.Conn) io.ReadWriteCloser { return &cutConn{Conn: c, limit: 3*maxData + 500} },
	})
	if !errors.Is(o.rerr, ErrPeerGone) || !errors.Is(o.serr, ErrPeerGone) {
		t.Fatalf("send %v, receive %v; want ErrPeerGone", o.serr, o.rerr)
	}
	partial := mustRead(t, filepath.Join(out, "f"+partialSuffix))
	if len(partial) < maxData || !bytes.Equal(partial, data[:len(partial)]) {
		t.Errorf("partial of %d bytes is not a prefix of the file", len(partial))
	}
	if _, err := os.Stat(filepath.Join(out, "f")); !os.IsNotExist(err) {
		t.Errorf("incomplete file has its final name: %v", err)
	}
}

func TestSymlinkInDownloadFolderCannotEscape(t *testing.T) {
	src, out, outside := t.TempDir(), t.TempDir(), t.TempDir()
	writeFile(t, filepath.Join(src, "evil", "file"), []byte("payload"), 0o644)
	writeFile(t, filepath.Join(src, "evil2", "file"), []byte("payload2"), 0o644)
	if err := os.Symlink(outside, filepath.Join(out, "evil")); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(out, outside)
	if err := os.Symlink(rel, filepath.Join(out, "evil2")); err != nil {
		t.Fatal(err)
	}
	o := run(t, tcpPair, []string{filepath.Join(src, "evil"), filepath.Join(src, "evil2")}, out, transferOpts{})
	if o.serr != nil || o.rerr != nil {
		t.Fatalf("send %v, receive %v", o.serr, o.rerr)
	}
	if got := listDir(t, outside); len(got) != 0 {
		t.Fatalf("wrote outside the download folder: %q", got)
	}
	if got := string(mustRead(t, filepath.Join(out, "evil (1)", "file"))); got != "payload" {
		t.Errorf("evil (1)/file = %q", got)
	}
	if got := string(mustRead(t, filepath.Join(out, "evil2 (1)", "file"))); got != "payload2" {
		t.Errorf("evil2 (1)/file = %q", got)
	}
}

func TestSymlinkedPartialCannotEscape(t *testing.T) {
	src, out, outside := t.TempDir(), t.TempDir(), t.TempDir()
	victim := filepath.Join(outside, "victim")
	writeFile(t, victim, []byte("precious"), 0o644)
	writeFile(t, filepath.Join(src, "f.txt"), []byte("attack"), 0o644)
	if err := os.Symlink(victim, filepath.Join(out, "f.txt"+partialSuffix)); err != nil {
		t.Fatal(err)
	}
	o := run(t, tcpPair, []string{filepath.Join(src, "f.txt")}, out, transferOpts{})
	if o.rerr == nil {
		t.Errorf("receive succeeded through a link that leads outside")
	}
	if got := string(mustRead(t, victim)); got != "precious" {
		t.Errorf("file outside the download folder changed to %q", got)
	}
}
