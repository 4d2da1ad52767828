package consult

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
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
