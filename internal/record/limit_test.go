package record

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// TestJSONLen pins jsonLen to encoding/json on the characters it escapes.
func TestJSONLen(t *testing.T) {
	for _, s := range []string{"", "a", "<>&", "\"\\", "\b\f\n\r\t", "\x00\x01\x1f\x7f", "\u2028\u2029", "ä€😀", "\xff\xfe", "a\xc3", "\ufffd"} {
		checkJSONLen(t, s)
	}
}

func FuzzJSONLen(f *testing.F) {
	f.Add("<a href=\"x\">\u2028\x01\xff")
	f.Fuzz(func(t *testing.T, s string) { checkJSONLen(t, s) })
}

func checkJSONLen(t *testing.T, s string) {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := jsonLen(s); got != len(b) {
		t.Fatalf("jsonLen(%q) = %d, encoding/json writes %d bytes: %s", s, got, len(b), b)
	}
}

// hostile is a record whose chat, notes, file names and consent details are
// built from piece, each text repeated to about n bytes, with messages
// messages per side.
func hostile(piece string, n, messages int) Record {
	key := testKey(1)
	r := sample(key)
	r.Chat = nil
	text := strings.Repeat(piece, max(1, n/max(1, len(piece))))
	name := strings.Repeat(piece, max(1, 100/max(1, len(piece))))
	for i := range messages {
		at := t0.Add(time.Duration(i) * time.Second)
		r.Chat = append(r.Chat,
			Chat{From: "client", Name: name, Text: text, At: at},
			Chat{From: "host", Name: "Anna", Text: fmt.Sprintf("Antwort %d", i), At: at})
	}
	r.Notes = text
	for i := range r.Files {
		r.Files[i].Name = name
	}
	for i := range r.Consents {
		r.Consents[i].Detail = name
	}
	return r
}

// checkWithin checks what within promises: both forms within lim, the
// signed form verifies, and every cut is noted.
func checkWithin(t *testing.T, in Record, lim limits) Record {
	t.Helper()
	key := testKey(1)
	r, p, doc, err := within(in, lim)
	if err != nil {
		t.Fatalf("within: %v", err)
	}
	if len(p) > lim.payload || len(doc) > lim.pdf {
		t.Fatalf("payload %d bytes (limit %d), PDF %d bytes (limit %d)", len(p), lim.payload, len(doc), lim.pdf)
	}
	signed, err := sign(r, p, key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	got, _, err := Verify(signed)
	if err != nil {
		t.Fatalf("the shrunk record does not verify: %v", err)
	}
	if d, _ := Digest(got); d != hexSum(p) {
		t.Fatal("the verified record's digest is not the payload's")
	}
	// Every message, byte of notes, file and consent left out is counted.
	in = normalize(in)
	count := map[string]int{}
	for _, c := range got.Cut {
		count[c.From+" "+c.What] += c.Count
	}
	for _, from := range []string{"host", "client"} {
		before, after := 0, 0
		for _, c := range in.Chat {
			if c.From == from {
				before++
			}
		}
		for _, c := range got.Chat {
			if c.From == from {
				after++
			}
		}
		if before-after != count[from+" chat"] {
			t.Errorf("%s: %d messages left out, the record says %d", from, before-after, count[from+" chat"])
		}
	}
	if len(got.Notes) < len(in.Notes) && count["host notes"] != 1 {
		t.Errorf("notes shortened from %d to %d bytes without a cut", len(in.Notes), len(got.Notes))
	}
	if !strings.HasPrefix(in.Notes, got.Notes) {
		t.Error("the notes kept are not the start of the notes")
	}
	if n := len(in.Files) - len(got.Files); n != count["host files"]+count["client files"] {
		t.Errorf("%d file entries left out, the record says %d", n, count["host files"]+count["client files"])
	}
	if n := len(in.Consents) - len(got.Consents); n != count["host consents"] {
		t.Errorf("%d consents left out, the record says %d", n, count["host consents"])
	}
	return got
}

// TestSaveCutsWhatDoesNotFit is the flood a client can send: text that
// JSON escaping blows up six times ("<", control characters), with a long
// name on every message. Save writes the record anyway, within MaxSigned
// and MaxPDF, and says in both forms what it left out: the client's latest
// messages, not the adviser's.
func TestSaveCutsWhatDoesNotFit(t *testing.T) {
	key := testKey(1)
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := hostile("<\x01", 4000, 1500) // ≈ 4000·6 bytes of JSON per message
	r.Notes = "Beratung zur bAV."
	info, err := s.Save(r, key)
	if err != nil {
		t.Fatalf("Save: %v", err)
	}
	js := readStored(t, s, info.ID, "json")
	doc := readStored(t, s, info.ID, "pdf")
	if len(js) > MaxSigned || len(doc) > MaxPDF {
		t.Fatalf("stored %d bytes of JSON, %d of PDF", len(js), len(doc))
	}
	got, _, err := Verify(js)
	if err != nil {
		t.Fatalf("stored record does not verify: %v", err)
	}
	if len(got.Cut) != 1 || got.Cut[0].From != "client" || got.Cut[0].What != "chat" || got.Cut[0].Count == 0 {
		t.Fatalf("cut %+v, want the client's chat only", got.Cut)
	}
	if got.Notes != r.Notes || len(got.Files) != len(r.Files) || len(got.Consents) != len(r.Consents) {
		t.Error("notes, files or consents were cut although the client's chat was enough")
	}
	hostMsgs := 0
	for _, c := range got.Chat {
		if c.From == "host" {
			hostMsgs++
		}
	}
	if hostMsgs != 1500 {
		t.Errorf("%d of the adviser's 1500 messages kept", hostMsgs)
	}
	// The first message left out is the first the record lacks.
	kept := len(got.Chat) - hostMsgs
	if want := r.Chat[2*kept].At; !got.Cut[0].Since.Equal(want) {
		t.Errorf("cut since %v, want %v", got.Cut[0].Since, want)
	}
	if got.Cut[0].Count != 1500-kept || got.Cut[0].Bytes != int64((1500-kept)*len(r.Chat[0].Text)) {
		t.Errorf("cut %+v, want %d messages of %d bytes", got.Cut[0], 1500-kept, len(r.Chat[0].Text))
	}
	text, _ := extract(t, doc)
	contains(t, text, "Nicht aufgezeichnet", fmt.Sprintf("%d Nachrichten der Kundin / des Kunden", got.Cut[0].Count), "Größengrenze")
}

func readStored(t *testing.T, s *Store, id, format string) []byte {
	t.Helper()
	_, f, err := s.Open(id, format)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestWithinPDFLimit: line breaks cost the PDF far more than the JSON, so
// the PDF can be over while the JSON is not; within cuts until it fits.
func TestWithinPDFLimit(t *testing.T) {
	r := hostile("a\n", 4000, 20)
	lim := limits{payload: 1 << 20, pdf: 60 << 10}
	if _, p, _ := prepare(r); len(p) > lim.payload {
		t.Fatalf("payload %d bytes: the test wants only the PDF over", len(p))
	}
	got := checkWithin(t, r, lim)
	if len(got.Cut) == 0 {
		t.Fatal("nothing cut")
	}
	doc, err := PDF(got)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := extract(t, doc)
	contains(t, text, "Nicht aufgezeichnet")
}

// TestWithinEnglish checks the English wording and the other kinds of cut:
// with a payload limit this small, everything but the fixed fields goes.
func TestWithinEnglish(t *testing.T) {
	r := hostile("&", 3000, 5)
	r.Lang = "en"
	got := checkWithin(t, r, limits{payload: 4 << 10, pdf: 1 << 20})
	if len(got.Chat) != 0 || got.Notes != "" {
		t.Fatalf("%d messages and %d bytes of notes kept in 4 KiB", len(got.Chat), len(got.Notes))
	}
	doc, err := PDF(got)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := extract(t, doc)
	contains(t, text, "Not recorded", "5 messages from the client", "5 messages from the adviser", "The notes were shortened")
}

// TestWithinTooSmall: when the fixed fields alone are over, within says so
// instead of writing a record it cannot.
func TestWithinTooSmall(t *testing.T) {
	if _, _, _, err := within(sample(testKey(1)), limits{payload: 100, pdf: 1 << 20}); err == nil {
		t.Fatal("a 100-byte limit was met")
	}
}

// FuzzWithin is the invariant over hostile content: whatever the sides put
// into chat, names, notes, file names and consent details (any bytes, any
// count of messages), within returns a record within the limits that signs
// and verifies and that counts what it left out.
func FuzzWithin(f *testing.F) {
	f.Add("<", uint16(4000), uint8(40))
	f.Add("\x01\u2028", uint16(1000), uint8(200))
	f.Add("a\n", uint16(3000), uint8(10))
	f.Add("\xff\xfe", uint16(500), uint8(30))
	f.Add("", uint16(0), uint8(0))
	f.Add("x", uint16(1), uint8(255))
	f.Fuzz(func(t *testing.T, piece string, n uint16, messages uint8) {
		if !utf8.ValidString(piece) && len(piece) > 8 {
			piece = piece[:8]
		}
		r := hostile(piece, int(n), int(messages))
		checkWithin(t, r, limits{payload: 48 << 10, pdf: 64 << 10})
	})
}

// BenchmarkSaveFullShares is the slowest record a consultation can make
// within its shares: each side's 6 MiB of chat, as "<" (the largest JSON)
// or as one-character lines (the largest PDF).
func BenchmarkSaveFullShares(b *testing.B) {
	for _, bc := range []struct {
		name, text string
		messages   int
	}{
		{"angle brackets", strings.Repeat("<", 4000), 260},
		{"line breaks", strings.Repeat("a\n", 2000), 136},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := hostile("x", 1, 0)
			for i := range bc.messages {
				at := t0.Add(time.Duration(i) * time.Second)
				r.Chat = append(r.Chat,
					Chat{From: "client", Name: strings.Repeat("<", 100), Text: bc.text, At: at},
					Chat{From: "host", Name: "Anna", Text: bc.text, At: at})
			}
			b.ReportAllocs()
			var p, doc []byte
			for b.Loop() {
				var err error
				if _, p, doc, err = within(r, saveLimits); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(p)), "json-bytes")
			b.ReportMetric(float64(len(doc)), "pdf-bytes")
		})
	}
}
