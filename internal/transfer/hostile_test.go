package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// rawSender drives the real Receive with hand-made frames, as a hostile or
// broken peer would.
type rawSender struct {
	c      net.Conn
	frames chan rawFrame // what the receiver sent, closed at its EOF
	res    chan recvResult
}

type rawFrame struct {
	t byte
	p []byte
}

type recvResult struct {
	res Result
	err error
}

func startRaw(t *testing.T, out string) *rawSender {
	t.Helper()
	a, b := net.Pipe()
	rs := &rawSender{c: a, frames: make(chan rawFrame, 1024), res: make(chan recvResult, 1)}
	ctx := testCtx(t)
	go func() {
		res, err := Receive(ctx, b, out, ReceiveOptions{})
		rs.res <- recvResult{res, err}
	}()
	go func() {
		defer close(rs.frames)
		var hdr [headerLen]byte
		for {
			typ, p, err := readFrameAlloc(a, hdr[:])
			if err != nil {
				return
			}
			rs.frames <- rawFrame{typ, p}
			if typ == frameAbort || typ == frameAck || typ == frameReject {
				// What a real sender does: it has heard the last word.
				a.Close()
			}
		}
	}()
	return rs
}

// send writes one frame; errors are ignored because a receiver that gave up
// has closed its end.
func (rs *rawSender) send(typ byte, p []byte) {
	_, _ = rs.c.Write(appendFrame(nil, typ, p))
}

func (rs *rawSender) file(idx uint32, off uint64) {
	p := binary.BigEndian.AppendUint32(nil, idx)
	rs.send(frameFile, binary.BigEndian.AppendUint64(p, off))
}

// honest sends whole files with correct digests.
func (rs *rawSender) honest(contents ...string) {
	for i, c := range contents {
		rs.file(uint32(i), 0)
		if c != "" {
			rs.send(frameData, []byte(c))
		}
		sum := sha256.Sum256([]byte(c))
		rs.send(frameEnd, sum[:])
	}
	rs.send(frameDone, nil)
}

// finish closes the sender's end and returns what Receive returned and every
// frame it sent.
func (rs *rawSender) finish() (Result, []rawFrame, error) {
	r := <-rs.res
	rs.c.Close()
	var got []rawFrame
	for f := range rs.frames {
		got = append(got, f)
	}
	return r.res, got, r.err
}

func manifestJSON(total int64, files ...string) string {
	return fmt.Sprintf(`{"v":1,"total":%d,"files":[%s]}`, total, strings.Join(files, ","))
}

func wf(name string, size int64) string {
	return fmt.Sprintf(`{"n":%q,"s":%d}`, name, size)
}

// sandbox returns a download folder inside a parent that must stay empty
// apart from it.
func sandbox(t *testing.T) (out string, check func()) {
	parent := t.TempDir()
	out = filepath.Join(parent, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out, func() {
		t.Helper()
		if got := listDir(t, parent); !slices.Equal(got[:1], []string{"out"}) || slices.ContainsFunc(got, func(s string) bool { return !strings.HasPrefix(s, "out") }) {
			t.Errorf("something was written outside the download folder: %q", got)
		}
	}
}

func TestHostileManifestsRefused(t *testing.T) {
	many := `{"v":1,"total":0,"files":[],"dirs":[` + strings.Repeat(`"d",`, maxEntries) + `"d"]}`
	cases := map[string]string{
		"dotdot":          manifestJSON(1, wf("../escape", 1)),
		"nested dotdot":   manifestJSON(1, wf("a/../../escape", 1)),
		"absolute":        manifestJSON(1, wf("/tmp/escape", 1)),
		"empty component": manifestJSON(1, wf("a//b", 1)),
		"dot component":   manifestJSON(1, wf("./a", 1)),
		"empty name":      manifestJSON(1, wf("", 1)),
		"too deep":        manifestJSON(1, wf(strings.Repeat("d/", maxDepth)+"f", 1)),
		"dotdot dir":      `{"v":1,"total":0,"files":[],"dirs":["../x"]}`,
		"negative size":   manifestJSON(-1, wf("f", -1)),
		"sum overflows":   manifestJSON(-2, wf("a", math.MaxInt64), wf("b", 1)),
		"total mismatch":  manifestJSON(5, wf("a", 1)),
		"float size":      `{"v":1,"total":1,"files":[{"n":"a","s":1.5}]}`,
		"missing size":    `{"v":1,"total":0,"files":[{"n":"a"}]}`,
		"missing total":   `{"v":1,"files":[{"n":"a","s":0}]}`,
		"version 2":       `{"v":2,"total":0,"files":[]}`,
		"no version":      `{"total":0,"files":[]}`,
		"duplicate key":   `{"v":1,"total":0,"files":[],"files":[{"n":"a","s":0}]}`,
		"trailing data":   `{"v":1,"total":0,"files":[]} {}`,
		"not json":        "\x00\x01garbage",
		"array":           `[1,2,3]`,
		"too many":        many,
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			out, check := sandbox(t)
			rs := startRaw(t, out)
			rs.send(frameManifest, []byte(m))
			_, frames, err := rs.finish()
			if !errors.Is(err, ErrProtocol) {
				t.Errorf("Receive: %v, want ErrProtocol", err)
			}
			if len(frames) != 1 || frames[0].t != frameAbort || frames[0].p[0] != abortProtocol {
				t.Errorf("receiver answered %v, want one protocol abort", frames)
			}
			if got := listDir(t, out); len(got) != 0 {
				t.Errorf("wrote %q", got)
			}
			check()
		})
	}
}

func TestHostileNamesSanitised(t *testing.T) {
	names := []string{
		`..\..\escape`,
		"a\x1b[31mb",
		"con.txt",
		"LPT¹",
		"x.direkt-partial",
		"trail. . ",
		"\u202etxt.exe",
		"d.txt", "d.txt",
		"D/x", "D",
		"bad\xffutf8",
	}
	want := []string{
		".._.._escape",
		"a_[31mb",
		"con_.txt",
		"LPT¹_",
		"x.direkt-partial_",
		"trail",
		"_txt.exe",
		"d.txt", "d (1).txt",
		"D/x", "D (1)",
		"bad\uFFFDutf8",
	}
	var files []string
	var contents []string
	for i, n := range names {
		c := fmt.Sprint("content ", i)
		files = append(files, fmt.Sprintf(`{"n":"%s","s":%d}`, jsonEscapeRaw(n), len(c)))
		contents = append(contents, c)
	}
	out, check := sandbox(t)
	rs := startRaw(t, out)
	total := 0
	for _, c := range contents {
		total += len(c)
	}
	rs.send(frameManifest, []byte(manifestJSON(int64(total), files...)))
	rs.honest(contents...)
	res, frames, err := rs.finish()
	if err != nil {
		t.Fatalf("Receive: %v", err)
	}
	if last := frames[len(frames)-1]; last.t != frameAck {
		t.Errorf("last frame %#x, want ack", last.t)
	}
	for i, w := range want {
		if i >= len(res.Files) || res.Files[i].Name != w {
			t.Errorf("file %d stored as %q, want %q", i, res.Files[i].Name, w)
			continue
		}
		if got := string(mustRead(t, filepath.Join(out, w))); got != contents[i] {
			t.Errorf("%q holds %q, want %q", w, got, contents[i])
		}
	}
	check()
}

// jsonEscapeRaw escapes for a JSON string but keeps invalid UTF-8 bytes as
// they are, as a hostile encoder would.
func jsonEscapeRaw(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func TestHostileFrames(t *testing.T) {
	sum3 := sha256.Sum256([]byte("abc"))
	cases := []struct {
		name   string
		script func(rs *rawSender)
		want   error
	}{
		{"more data than announced", func(rs *rawSender) {
			rs.file(0, 0)
			rs.send(frameData, []byte("abcd"))
		}, ErrProtocol},
		{"more data in two frames", func(rs *rawSender) {
			rs.file(0, 0)
			rs.send(frameData, []byte("ab"))
			rs.send(frameData, []byte("cd"))
		}, ErrProtocol},
		{"oversized data frame", func(rs *rawSender) {
			rs.file(0, 0)
			var h [headerLen]byte
			putHeader(h[:], frameData, 2*maxData)
			_, _ = rs.c.Write(h[:])
		}, ErrProtocol},
		{"unknown frame", func(rs *rawSender) { rs.send(0x55, nil) }, ErrProtocol},
		{"receiver frame from the sender", func(rs *rawSender) { rs.send(frameAck, nil) }, ErrProtocol},
		{"file out of order", func(rs *rawSender) { rs.file(1, 0) }, ErrProtocol},
		{"file index huge", func(rs *rawSender) { rs.file(math.MaxUint32, 0) }, ErrProtocol},
		{"resume not offered", func(rs *rawSender) { rs.file(0, 1) }, ErrProtocol},
		{"data before file", func(rs *rawSender) { rs.send(frameData, []byte("a")) }, ErrProtocol},
		{"end too early", func(rs *rawSender) {
			rs.file(0, 0)
			rs.send(frameData, []byte("ab"))
			rs.send(frameEnd, sum3[:])
		}, ErrProtocol},
		{"file twice", func(rs *rawSender) {
			rs.file(0, 0)
			rs.file(0, 0)
		}, ErrProtocol},
		{"done too early", func(rs *rawSender) { rs.send(frameDone, nil) }, ErrProtocol},
		{"wrong length of file frame", func(rs *rawSender) { rs.send(frameFile, []byte{0, 0, 0, 0}) }, ErrProtocol},
		{"abort", func(rs *rawSender) {
			rs.file(0, 0)
			rs.send(frameData, []byte("ab"))
			rs.send(frameAbort, append([]byte{abortLocal}, "\x1b[2Jcannot read"...))
		}, ErrPeerAborted},
		{"stream ends mid-file", func(rs *rawSender) {
			rs.file(0, 0)
			rs.send(frameData, []byte("ab"))
			rs.c.Close()
		}, ErrPeerGone},
		{"stream ends mid-frame", func(rs *rawSender) {
			rs.file(0, 0)
			_, _ = rs.c.Write(appendFrame(nil, frameData, []byte("ab"))[:headerLen+1])
			rs.c.Close()
		}, ErrPeerGone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, check := sandbox(t)
			rs := startRaw(t, out)
			rs.send(frameManifest, []byte(manifestJSON(3, wf("f", 3))))
			tc.script(rs)
			res, frames, err := rs.finish()
			if !errors.Is(err, tc.want) {
				t.Fatalf("Receive: %v, want %v", err, tc.want)
			}
			if len(res.Files) != 0 {
				t.Errorf("stored %v", res.Files)
			}
			if _, err := os.Stat(filepath.Join(out, "f")); !os.IsNotExist(err) {
				t.Errorf("a file got its final name: %v", err)
			}
			if tc.want == ErrProtocol {
				if last := frames[len(frames)-1]; last.t != frameAbort || last.p[0] != abortProtocol {
					t.Errorf("last frame %#x %q, want a protocol abort", last.t, last.p)
				}
			}
			if strings.ContainsAny(err.Error(), "\x1b") {
				t.Errorf("error carries a control character: %q", err)
			}
			check()
		})
	}
}

func TestHashMismatchRemovesPartial(t *testing.T) {
	out, check := sandbox(t)
	rs := startRaw(t, out)
	rs.send(frameManifest, []byte(manifestJSON(6, wf("bad", 3), wf("good", 3))))
	rs.file(0, 0)
	rs.send(frameData, []byte("abc"))
	wrong := sha256.Sum256([]byte("abd"))
	rs.send(frameEnd, wrong[:])
	rs.file(1, 0)
	rs.send(frameData, []byte("xyz"))
	right := sha256.Sum256([]byte("xyz"))
	rs.send(frameEnd, right[:])
	rs.send(frameDone, nil)
	res, frames, err := rs.finish()
	if !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("Receive: %v, want ErrHashMismatch", err)
	}
	if len(res.Files) != 1 || res.Files[0].Name != "good" {
		t.Errorf("stored %+v, want only good", res.Files)
	}
	if got := listDir(t, out); !slices.Equal(got, []string{"good"}) {
		t.Errorf("download folder holds %q: the damaged file must be gone", got)
	}
	var verdicts []byte
	for _, f := range frames {
		if f.t == frameVerdict {
			verdicts = append(verdicts, f.p[4])
		}
	}
	if !slices.Equal(verdicts, []byte{verdictMismatch, verdictStored}) || frames[len(frames)-1].t != frameAck {
		t.Errorf("verdicts %v, last frame %#x", verdicts, frames[len(frames)-1].t)
	}
	check()
}

func TestHugeAnnouncedSizeAllocatesNothing(t *testing.T) {
	out, check := sandbox(t)
	rs := startRaw(t, out)
	rs.send(frameManifest, []byte(manifestJSON(1<<62, wf("huge", 1<<62))))
	rs.file(0, 0)
	rs.send(frameData, []byte("a"))
	rs.c.Close()
	_, _, err := rs.finish()
	if !errors.Is(err, ErrPeerGone) {
		t.Fatalf("Receive: %v, want ErrPeerGone", err)
	}
	fi, err := os.Stat(filepath.Join(out, "huge"+partialSuffix))
	if err != nil || fi.Size() != 1 {
		t.Errorf("partial: %v, size %d, want the one byte that arrived", err, fi.Size())
	}
	check()
}

// A sender that disappears while the receiver is still deciding must not
// keep Receive alive.
func TestReceiveCancelledBeforeManifest(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	ctx, cancel := context.WithCancel(testCtx(t))
	done := make(chan error, 1)
	go func() {
		_, err := Receive(ctx, b, t.TempDir(), ReceiveOptions{})
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Receive: %v, want context.Canceled", err)
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("stream still open after Receive returned: %v", err)
	}
}
