package consult

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/session"
)

var lineSeeds = []string{
	`{"t":"hello","v":1,"role":"host","name":"Anna","lang":"de","agent":"direkt"}`,
	`{"t":"hello","v":1,"role":"client","lang":"en"}`,
	`{"t":"chat","id":"c1","text":"Grüße ✓","ts":1767225600000}`,
	`{"t":"ask","id":"h2","what":"record"}`,
	`{"t":"ask","id":"h3","what":"file","name":"Angebot.pdf","size":12,"sha256":"` + strings.Repeat("Ab", 32) + `"}`,
	`{"t":"answer","id":"h3","ok":false}`,
	`{"t":"file","id":"c4","name":"a/../b","size":0,"sha256":"` + strings.Repeat("0", 64) + `","kind":"doc"}`,
	`{"t":"file-ok","id":"h3","ok":false}`,
	`{"t":"file-ok","id":"h3","ok":true,"sha256":"` + strings.Repeat("f", 64) + `"}`,
	`{"t":"withdraw","id":"h3"}`,
	`{"t":"rejoin","token":"` + strings.Repeat("A", 43) + `=","server":"https://r.example:443/x"}`,
	`{"t":"end","reason":"bye"}`,
	`{"t":"end"}`,
	`{"t":"chat","id":"c1","text":"","ts":1}`,
	`{"t":"x"}`,
	`null`,
	`{"t":"hello","v":1.0,"role":"host","lang":"de"}`,
	"{\"t\":\"chat\",\"id\":\"c1\",\"text\":\"\\u0000\\ud800\",\"ts\":0}",
	`{"t":"share","id":"h5","state":"on","what":"screen","w":1920,"h":1080}`,
	`{"t":"share","id":"c5","state":"paused","what":"tab","w":0,"h":16384}`,
	`{"t":"share","id":"c5","state":"off","what":"other","w":16385,"h":1}`,
	`{"t":"pointer","id":"h5","x":0.5,"y":1}`,
	`{"t":"pointer","id":"h5","x":1e-320,"y":0}`,
	`{"t":"pointer","id":"h5","x":-0,"y":1e999}`,
	`{"t":"pointer","id":"h5"}`,
	`{"t":"view","id":"h5","on":false}`,
	`{"t":"view","id":"c5","on":true}`,
}

// FuzzParseLine: parseLine never panics, and what it accepts re-encodes to a
// line it accepts again as the same message.
func FuzzParseLine(f *testing.F) {
	for _, s := range lineSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := parseLine(line)
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				t.Fatalf("error %v is not ErrProtocol", err)
			}
			return
		}
		out, err := marshalLine(m)
		if err != nil {
			t.Fatalf("accepted %q but cannot encode it: %v", line, err)
		}
		m2, err := parseLine(bytes.TrimSuffix(out, []byte("\n")))
		if err != nil {
			t.Fatalf("re-encoded %q is refused: %v", out, err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip changed %+v to %+v", m, m2)
		}
		switch m.T {
		case tShare:
			if !validWhat(m.What) || *m.W < 0 || *m.W > MaxSharePixels || *m.H < 0 || *m.H > MaxSharePixels {
				t.Fatalf("accepted share %+v", m)
			}
		case tPointer:
			if m.X != nil && (*m.X < 0 || *m.X > 1 || *m.Y < 0 || *m.Y > 1) {
				t.Fatalf("accepted pointer at %v, %v", *m.X, *m.Y)
			}
		case tFile, tAsk:
			if m.Size != nil {
				if name, err := flatName(m.Name); err != nil || strings.Contains(name, "/") || len(name) > MaxFileName {
					t.Fatalf("accepted name %q stores as %q, %v", m.Name, name, err)
				}
			}
		}
	})
}

// FuzzLineReader: however the stream is cut, the reader returns its lines
// in order, never one over its maximum (small here, so that the fuzzer
// reaches it), and ends with EOF or ErrProtocol.
func FuzzLineReader(f *testing.F) {
	f.Add([]byte("{\"t\":\"end\"}\n{\"t\":\"x\"}\n"), uint8(7))
	f.Add([]byte("a\n\nb"), uint8(1))
	f.Add([]byte("0123456789012345678901234567890123456789"), uint8(5))
	f.Add([]byte("0123456789012345678901234567890\n"), uint8(3))
	f.Fuzz(func(t *testing.T, stream []byte, cut uint8) {
		checkLines(t, stream, int(cut)+1, 31)
	})
}

// TestLineReaderLimit runs the fuzz target's check at the real maximum.
func TestLineReaderLimit(t *testing.T) {
	line := bytes.Repeat([]byte("x"), MaxLine)
	for _, stream := range [][]byte{
		append(bytes.Clone(line), '\n'),
		append(bytes.Clone(line), 'x', '\n'),
		append(append(bytes.Clone(line), '\n'), "{}\n"...),
	} {
		for _, cut := range []int{1 << 10, 32 << 10, 256 << 10} {
			checkLines(t, stream, cut, MaxLine)
		}
	}
	lr := newLineReader(bytes.NewReader(append(bytes.Clone(line), 'x', '\n')))
	if _, err := lr.next(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("line of %d bytes: %v", MaxLine+1, err)
	}
}

func checkLines(t *testing.T, stream []byte, cut, max int) {
	t.Helper()
	lr := newLineReaderSize(&chunkReader{b: stream, n: cut}, max)
	var got [][]byte
	for {
		line, err := lr.next()
		if err != nil {
			want := bytes.Split(stream, []byte("\n"))
			switch {
			case errors.Is(err, io.EOF):
				if len(stream) > 0 && stream[len(stream)-1] != '\n' {
					t.Fatal("EOF after a partial line")
				}
				if len(got) != len(want)-1 {
					t.Fatalf("%d lines, want %d", len(got), len(want)-1)
				}
			case errors.Is(err, ErrProtocol):
				if l := want[len(got)]; len(l) <= max && len(got) < len(want)-1 {
					t.Fatalf("refused line %d of %d bytes", len(got), len(l))
				}
			default:
				t.Fatalf("error %v", err)
			}
			for i, l := range got {
				if !bytes.Equal(l, want[i]) {
					t.Fatalf("line %d: %q, want %q", i, l, want[i])
				}
			}
			return
		}
		if len(line) > max || bytes.IndexByte(line, '\n') >= 0 {
			t.Fatalf("line of %d bytes", len(line))
		}
		got = append(got, bytes.Clone(line))
	}
}

// chunkReader returns at most n bytes per Read, like data channel messages.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := copy(p[:min(len(p), r.n)], r.b)
	r.b = r.b[k:]
	return k, nil
}

// FuzzConflictName: every conflict name stays within MaxFileName bytes,
// valid UTF-8 where the name was, and different from the name.
func FuzzConflictName(f *testing.F) {
	f.Add("report.pdf", 1)
	f.Add(strings.Repeat("ä", 127)+".pdf", 12)
	f.Add(strings.Repeat("x", 255), 9999)
	f.Add(".bashrc", 2)
	f.Fuzz(func(t *testing.T, name string, k int) {
		clean, err := flatName(name)
		if err != nil || k <= 0 || k >= maxConflicts {
			return
		}
		c := conflictName(clean, k)
		if len(c) > MaxFileName || c == clean {
			t.Fatalf("conflict name %q of %q", c, clean)
		}
		if again, err := flatName(c); err != nil || again != c {
			t.Fatalf("conflict name %q is not safe as is: %q, %v", c, again, err)
		}
	})
}

// fuzzConsultation is a consultation without a session, in role, after
// the peer's hello: enough to run handle on lines.
func fuzzConsultation(role Role) *Consultation {
	c := &Consultation{
		role: role, log: testLogger(), now: time.Now,
		outWake: make(chan struct{}, 1), subs: map[chan struct{}]struct{}{},
		helloCh: make(chan struct{}), finishing: make(chan struct{}), done: make(chan struct{}),
		bcast: make(chan struct{}), askByID: map[string]*askState{}, fileByID: map[string]*fileState{},
		refused: map[string]bool{}, orphans: map[string]*session.Channel{}, chans: map[*session.Channel]struct{}{},
		shareIDs: map[string]bool{}, shares: [2]Share{{Max: MaxShare}, {Max: MaxShare}},
		gotHello: true,
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c
}

// FuzzScreen feeds screen lines (and asks and answers) from the peer to
// both roles, with our own actions in between: nothing panics, an error
// is ErrProtocol, each side has at most one share and the host's is on or
// paused only while the client's consent stands.
func FuzzScreen(f *testing.F) {
	f.Add([]byte(`{"t":"ask","id":"h1","what":"screen"}
{"t":"share","id":"h5","state":"on","what":"screen","w":1,"h":2}
{"t":"pointer","id":"h5","x":0.5,"y":0.5}
{"t":"share","id":"h5","state":"paused","what":"screen","w":1,"h":2}
{"t":"share","id":"h5","state":"off","what":"screen","w":1,"h":2}
{"t":"view","id":"c2","on":false}
`), uint8(1))
	f.Add([]byte(`{"t":"answer","id":"h1","ok":true}
{"t":"share","id":"c5","state":"on","what":"tab","w":1,"h":2}
{"t":"view","id":"h2","on":false}
{"t":"answer","id":"h3","ok":false}
{"t":"pointer","id":"c5"}
`), uint8(7))
	f.Fuzz(func(t *testing.T, script []byte, acts uint8) {
		for _, role := range []Role{Host, Client} {
			c := fuzzConsultation(role)
			c.mu.Lock()
			if role == Host {
				c.askLocked(WhatScreen) // h1
			}
			c.mu.Unlock()
			for i, line := range bytes.Split(script, []byte("\n")) {
				// Our own actions, chosen by the bits of acts.
				switch (int(acts) >> (i % 8)) & 3 {
				case 1:
					_, _ = c.Share(ShareScreen, 1, 1)
				case 2:
					_ = c.View(i%2 == 0)
				case 3:
					if role == Client {
						for _, a := range c.Snapshot().Asks {
							_ = c.Answer(a.ID, i%3 != 0)
						}
					} else {
						_ = c.PauseShare(i%2 == 0)
					}
				}
				m, err := parseLine(line)
				if err == nil {
					err = c.handle(m)
				}
				if err != nil {
					if !errors.Is(err, ErrProtocol) {
						t.Fatalf("%s: error %v is not ErrProtocol", role, err)
					}
					break
				}
				c.mu.Lock()
				consent, host := c.screenConsentLocked(), c.screen[Host-1]
				s := c.screenLocked()
				c.mu.Unlock()
				if host != nil && !host.off && !consent {
					t.Fatalf("%s: the host's share %+v is on without consent", role, host.ScreenShare)
				}
				for _, sh := range []*ScreenShare{s.Own, s.Peer} {
					if sh != nil && sh.State != ShareOn && sh.State != SharePaused {
						t.Fatalf("%s: share in the Snapshot in state %q", role, sh.State)
					}
				}
			}
			c.cancel()
			c.wg.Wait()
		}
	})
}
