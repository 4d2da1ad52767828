package wire_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/direkt/direkt/internal/wire"
)

func fill(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }

func TestPairingFrameRoundTrip(t *testing.T) {
	ya, yb, tag := fill(32, 0xa1), fill(32, 0xb2), fill(32, 0x7c)

	f, err := wire.ParsePairingFrame(wire.EncodePakeA(ya))
	if err != nil || f.Kind != wire.KindPakeA || !bytes.Equal(f.Y, ya) || f.T != nil {
		t.Errorf("pake-a: %+v, %v", f, err)
	}
	f, err = wire.ParsePairingFrame(wire.EncodePakeB(yb, tag))
	if err != nil || f.Kind != wire.KindPakeB || !bytes.Equal(f.Y, yb) || !bytes.Equal(f.T, tag) {
		t.Errorf("pake-b: %+v, %v", f, err)
	}
	f, err = wire.ParsePairingFrame(wire.EncodeConfirmA(tag))
	if err != nil || f.Kind != wire.KindConfirmA || !bytes.Equal(f.T, tag) || f.Y != nil {
		t.Errorf("confirm-a: %+v, %v", f, err)
	}
	f, err = wire.ParsePairingFrame(wire.EncodeAbort("falscher Code – bitte neu"))
	if err != nil || f.Kind != wire.KindAbort || f.Reason != "falscher Code – bitte neu" {
		t.Errorf("abort: %+v, %v", f, err)
	}
	f, err = wire.ParsePairingFrame(wire.EncodeAbort(""))
	if err != nil || f.Kind != wire.KindAbort || f.Reason != "" {
		t.Errorf("empty abort: %+v, %v", f, err)
	}
	sealed := append([]byte{1, 0x10, 0, 0, 0, 0, 0, 0, 1, 2}, fill(20, 9)...)
	f, err = wire.ParsePairingFrame(sealed)
	if err != nil || f.Kind != wire.KindSealed || f.Seq != 0x102 || !bytes.Equal(f.Sealed, fill(20, 9)) {
		t.Errorf("sealed: %+v, %v", f, err)
	}
}

// The exact bytes of section 4: version, kind, payload.
func TestPairingFrameLayout(t *testing.T) {
	ya, tag := fill(32, 0xa1), fill(32, 0x7c)
	if got := wire.EncodePakeA(ya); !bytes.Equal(got, append([]byte{1, 1}, ya...)) {
		t.Errorf("pake-a = %x", got)
	}
	if got := wire.EncodePakeB(ya, tag); !bytes.Equal(got, append(append([]byte{1, 2}, ya...), tag...)) {
		t.Errorf("pake-b = %x", got)
	}
	if got := wire.EncodeConfirmA(tag); !bytes.Equal(got, append([]byte{1, 3}, tag...)) {
		t.Errorf("confirm-a = %x", got)
	}
	if got := wire.EncodeAbort("x"); !bytes.Equal(got, []byte{1, 0x7f, 'x'}) {
		t.Errorf("abort = %x", got)
	}
}

func TestParsePairingFrameRejects(t *testing.T) {
	p32 := fill(32, 1)
	for _, c := range []struct {
		name string
		body []byte
		want error
	}{
		{"empty", nil, wire.ErrMalformed},
		{"version only", []byte{1}, wire.ErrMalformed},
		{"version 0", append([]byte{0, 1}, p32...), wire.ErrVersion},
		{"version 2", append([]byte{2, 1}, p32...), wire.ErrVersion},
		{"kind 0", append([]byte{1, 0}, p32...), wire.ErrUnknownType},
		{"kind 4", append([]byte{1, 4}, p32...), wire.ErrUnknownType},
		{"kind 0x11", append([]byte{1, 0x11}, p32...), wire.ErrUnknownType},
		{"pake-a short", append([]byte{1, 1}, p32[:31]...), wire.ErrMalformed},
		{"pake-a long", append(append([]byte{1, 1}, p32...), 0), wire.ErrMalformed},
		{"pake-a empty", []byte{1, 1}, wire.ErrMalformed},
		{"pake-b short", append(append([]byte{1, 2}, p32...), p32[:31]...), wire.ErrMalformed},
		{"pake-b long", append(append(append([]byte{1, 2}, p32...), p32...), 0), wire.ErrMalformed},
		{"pake-b only Y", append([]byte{1, 2}, p32...), wire.ErrMalformed},
		{"confirm-a short", append([]byte{1, 3}, p32[:31]...), wire.ErrMalformed},
		{"confirm-a long", append(append([]byte{1, 3}, p32...), 0), wire.ErrMalformed},
		{"sealed without tag", []byte{1, 0x10, 0, 0, 0, 0, 0, 0, 0, 0}, wire.ErrMalformed},
		{"sealed short tag", append([]byte{1, 0x10, 0, 0, 0, 0, 0, 0, 0, 0}, fill(15, 0)...), wire.ErrMalformed},
		{"sealed short seq", []byte{1, 0x10, 0, 0}, wire.ErrMalformed},
		{"sealed too large", append([]byte{1, 0x10}, fill(wire.MaxBody-1, 0)...), wire.ErrTooLarge},
		{"abort too long", append([]byte{1, 0x7f}, fill(wire.MaxAbortReason+1, 'x')...), wire.ErrTooLarge},
		{"abort bad utf-8", []byte{1, 0x7f, 0xff, 'x'}, wire.ErrMalformed},
		{"abort control", []byte{1, 0x7f, 'a', 0x1b, '[', '2', 'J'}, wire.ErrMalformed},
		{"abort newline", []byte{1, 0x7f, 'a', '\n'}, wire.ErrMalformed},
		{"abort C1 control", append([]byte{1, 0x7f}, "a\u009bb"...), wire.ErrMalformed},
	} {
		f, err := wire.ParsePairingFrame(c.body)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v (frame %+v)", c.name, err, c.want, f)
		}
	}
	// The largest sealed body is accepted.
	if _, err := wire.ParsePairingFrame(append([]byte{1, 0x10}, fill(wire.MaxBody-2, 0)...)); err != nil {
		t.Errorf("sealed body of MaxBody bytes: %v", err)
	}
}

// Parsed slices must not alias the body: the caller may reuse its buffer.
func TestParsePairingFrameCopies(t *testing.T) {
	body := wire.EncodePakeB(fill(32, 1), fill(32, 2))
	f, err := wire.ParsePairingFrame(body)
	if err != nil {
		t.Fatal(err)
	}
	clear(body)
	if !bytes.Equal(f.Y, fill(32, 1)) || !bytes.Equal(f.T, fill(32, 2)) {
		t.Fatal("frame fields alias the body")
	}
}

func TestEncodeAbortSanitizes(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"ok", "ok"},
		{"line\nbreak", "line\uFFFDbreak"},
		{"\x1b[2J", "\uFFFD[2J"},
		{"bad \xff utf-8", "bad \uFFFD utf-8"},
	} {
		f, err := wire.ParsePairingFrame(wire.EncodeAbort(c.in))
		if err != nil || f.Reason != c.want {
			t.Errorf("EncodeAbort(%q): reason %q, err %v; want %q", c.in, f.Reason, err, c.want)
		}
	}
	// Cut to MaxAbortReason bytes without splitting a character.
	long := strings.Repeat("ü", 200) // 400 bytes
	body := wire.EncodeAbort(long)
	f, err := wire.ParsePairingFrame(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Reason) != wire.MaxAbortReason || !utf8.ValidString(f.Reason) {
		t.Errorf("cut reason: %d bytes, valid %v", len(f.Reason), utf8.ValidString(f.Reason))
	}
	odd := "x" + long // the cut falls inside a character
	f, err = wire.ParsePairingFrame(wire.EncodeAbort(odd))
	if err != nil || len(f.Reason) != wire.MaxAbortReason-1 || !utf8.ValidString(f.Reason) {
		t.Errorf("cut odd reason: %d bytes, err %v", len(f.Reason), err)
	}
}

func TestEncodePanicsOnWrongLength(t *testing.T) {
	for name, fn := range map[string]func(){
		"pake-a":    func() { wire.EncodePakeA(fill(31, 0)) },
		"pake-b Y":  func() { wire.EncodePakeB(fill(33, 0), fill(32, 0)) },
		"pake-b T":  func() { wire.EncodePakeB(fill(32, 0), nil) },
		"confirm-a": func() { wire.EncodeConfirmA(fill(16, 0)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn()
		}()
	}
}
