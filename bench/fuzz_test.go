package bench

import (
	"bytes"
	"testing"
)

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"1", "64M", "1GiB", "512kb", "0", "-3", "1T", "99999999999999999999", " 2g "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			return
		}
		if n < 1 || n > maxBytes {
			t.Fatalf("parseSize(%q) = %d, outside 1..%d", s, n, maxBytes)
		}
	})
}

// FuzzEventLog splits a stream at an arbitrary point and checks that the log
// sees exactly the lines that parse as events, whatever the split.
func FuzzEventLog(f *testing.F) {
	f.Add([]byte(`{"event":"code","t_ms":1,"code":"3-x-y"}`+"\n"+`{"event":"done","t_ms":9,"files":[{"name":"a","bytes":1,"sha256":"00"}]}`+"\n"), 5)
	f.Add([]byte("{}\n\n{\"event\":1}\nnot json\n{\"event\":\"progress\",\"bytes\":5,\"total\":9}"), 0)
	f.Add([]byte(`{"event":"error","kind":"io","message":"x"}`+"\n"), 100)
	f.Fuzz(func(t *testing.T, stream []byte, cut int) {
		cut = max(0, min(cut, len(stream)))
		l := newEventLog()
		l.Write(stream[:cut])
		l.Write(stream[cut:])
		var want int
		lines := bytes.Split(stream, []byte("\n"))
		for _, line := range lines[:len(lines)-1] { // the last piece has no newline
			if _, err := parseEvent(line); err == nil {
				want++
			}
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if len(l.events) != want || len(l.events)+len(l.bad) != len(lines)-1 {
			t.Fatalf("%d events and %d bad lines from %d lines, want %d events", len(l.events), len(l.bad), len(lines)-1, want)
		}
		if !bytes.Equal(l.partial, lines[len(lines)-1]) {
			t.Fatalf("kept %q unterminated, want %q", l.partial, lines[len(lines)-1])
		}
	})
}
