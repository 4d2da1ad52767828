package record

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// pdfText extracts the text of a PDF with poppler's pdftotext and its page
// count with pdfinfo (Debian poppler-utils; CI must install it).
func extract(t *testing.T, doc []byte) (text string, pages int) {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext not found: install poppler-utils (apt-get install -y poppler-utils) to check the PDF's text")
	}
	path := filepath.Join(t.TempDir(), "r.pdf")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("pdftotext", "-enc", "UTF-8", path, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	info, err := exec.Command("pdfinfo", path).Output()
	if err != nil {
		t.Fatalf("pdfinfo: %v", err)
	}
	m := regexp.MustCompile(`(?m)^Pages:\s+(\d+)$`).FindSubmatch(info)
	if m == nil {
		t.Fatalf("pdfinfo gave no page count:\n%s", info)
	}
	pages, _ = strconv.Atoi(string(m[1]))
	if !utf8.Valid(out) {
		t.Fatal("pdftotext output is not UTF-8")
	}
	if !regexp.MustCompile(`(?m)^Page size:\s+595\.\d* x 841\.\d* pts \(A4\)`).Match(info) {
		t.Errorf("not A4:\n%s", info)
	}
	return string(out), pages
}

func contains(t *testing.T, text string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("PDF text lacks %q", w)
		}
	}
}

func TestPDFGerman(t *testing.T) {
	key := testKey(1)
	r := long(key, 300)
	doc, err := PDF(r)
	if err != nil {
		t.Fatal(err)
	}
	text, pages := extract(t, doc)
	digest, err := Digest(r)
	if err != nil {
		t.Fatal(err)
	}
	n := normalize(r)
	contains(t, text,
		"Beratungsprotokoll", "§§ 61, 62 VVG", "2026-11-27T1430Z-0a1b2c3d.json",
		"Teilnehmende", "Anna Weiß", "Jürgen Müller", n.Host.Fingerprint, n.Client.Fingerprint,
		"Prüfphrase", "nordsee tulpe apfel",
		// 14:30 UTC is 15:30 in Berlin in November.
		"27.11.2026 15:30:00 (Europe/Berlin, UTC+01:00)", "27.11.2026 14:30:00 UTC",
		"27.11.2026 16:12:17", "42 Min. 17 Sek.",
		"direkt (Ende-zu-Ende verschlüsselt)", "192.168.1.10:50000", "203.0.113.7:61000",
		"Einwilligungen", "Aufzeichnung dieses Protokolls", "angenommen 15:30:03", "Bildschirm zeigen", "abgelehnt",
		"Gesprächsverlauf", "Grüß Gott. Was kostet mich das im Monat – 100 €?",
		"Zeile 000:", "Zeile 150: Die Größe der Zulage beträgt 150,50 € – süß, äöü ÄÖÜ ß.", "Zeile 299:",
		"Angebot bAV Müller.pdf", "1,2 MB (1.234.567 Bytes)", strings.Repeat("ab", 32), strings.Repeat("0f", 32),
		"von Kunde/Kundin an Berater/in",
		"Notizen", "Notiz 0: Der Kunde", "Notiz 119:", "ENDE-DER-NOTIZEN",
		"Seite 1 von "+strconv.Itoa(pages), "Seite "+strconv.Itoa(pages)+" von "+strconv.Itoa(pages),
		digest, "Schlüssel Berater/in: "+n.Host.Fingerprint,
	)
	if pages < 5 {
		t.Errorf("%d pages for 300 chat lines and long notes", pages)
	}
	// The footer is on every page.
	if c := strings.Count(text, digest); c != pages {
		t.Errorf("digest printed %d times on %d pages", c, pages)
	}
	// Every chat line is there, in order.
	last := -1
	for i := range 300 {
		j := strings.Index(text, "Zeile "+leftPad(i)+":")
		if j < last {
			t.Fatalf("chat line %d missing or out of order", i)
		}
		last = j
	}
	// The 400 X without a space wrap instead of running off the page: no
	// extracted line is longer than a text line can be.
	for l := range strings.SplitSeq(text, "\n") {
		if utf8.RuneCountInString(l) > 130 {
			t.Errorf("line of %d characters: %.60q…", utf8.RuneCountInString(l), l)
		}
	}
	if !strings.Contains(text, strings.Repeat("X", 60)) || strings.Contains(text, strings.Repeat("X", 200)) {
		t.Error("unbroken word was not wrapped")
	}
	again, err := PDF(r)
	if err != nil || !bytes.Equal(doc, again) {
		t.Error("the same record rendered to different bytes")
	}
}

func leftPad(i int) string { s := strconv.Itoa(i); return strings.Repeat("0", 3-len(s)) + s }

func TestPDFEnglish(t *testing.T) {
	key := testKey(1)
	r := sample(key)
	r.Lang = "en"
	r.TimeZone = "America/New_York"
	r.Client = Party{Name: "Browser Client", Agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/131"}
	r.Path.Kind = "relay"
	doc, err := PDF(r)
	if err != nil {
		t.Fatal(err)
	}
	text, pages := extract(t, doc)
	contains(t, text, "Consultation record", "Participants", "Adviser", "Client", "no key (browser)",
		"2026-11-27 09:30:00 (America/New_York, UTC-05:00)", "2026-11-27 14:30:00 UTC", "42 min 17 s",
		"through a relay server", "Chat transcript", "Keeping this record", "declined",
		"1.2 MB (1,234,567 bytes)", "from client to adviser", "Adviser's notes", "Page 1 of "+strconv.Itoa(pages))
	if strings.Contains(text, "Beratungsprotokoll") {
		t.Error("English PDF has German labels")
	}
}

// Text from participants is data: PDF syntax, control and bidi characters,
// and characters outside Windows-1252 neither break the document nor
// disappear silently.
func TestPDFHostileText(t *testing.T) {
	key := testKey(1)
	r := sample(key)
	r.Client.Name = "Eve\n(Admin) \\ ) Tj ET\r\x00\x1b[31m"
	r.Chat = append(r.Chat,
		Chat{From: "client", Name: "Eve", Text: ") Tj ET BT /F1 99 Tf (pwned) Tj ET q", At: t0},
		Chat{From: "client", Name: "Eve", Text: "emoji 😀 and ∑ and 漢字 end", At: t0},
		Chat{From: "client", Name: "Eve", Text: "bidi \u202egnp.exe\u202c zero\u200bwidth", At: t0},
		Chat{From: "client", Name: strings.Repeat("N", 300), Text: "\xff\xfe invalid utf-8 \x80", At: t0},
		Chat{From: "client", Name: "", Text: "", At: time.Time{}},
	)
	r.Notes = strings.Repeat("\n", 50) + "%PDF-1.4\n%%EOF\nstream\nendstream"
	doc, err := PDF(r)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := extract(t, doc)
	contains(t, text, "Eve (Admin) \\ ) Tj ET", ") Tj ET BT /F1 99 Tf (pwned) Tj ET q",
		"emoji ? and ? and ?? end", "bidi gnp.exe zerowidth", "? invalid utf-8 ?",
		"%PDF-1.4", "%%EOF", "endstream", "NNNNNNNNNN")
	if strings.Contains(text, "\x1b") || strings.Contains(text, "\u202e") {
		t.Error("control or bidi characters reached the PDF")
	}
}

func TestCP1252(t *testing.T) {
	for in, want := range map[string]string{
		"äöüÄÖÜß€":      "\xe4\xf6\xfc\xc4\xd6\xdc\xdf\x80",
		"„Zitat“ – … ‰": "\x84Zitat\x93 \x96 \x85 \x89",
		"😀漢":            "??",
		"ẞ":             "SS",
	} {
		if got := cp1252(in); got != want {
			t.Errorf("cp1252(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSizeAndDuration(t *testing.T) {
	for _, c := range []struct {
		n    int64
		de   string
		enUS string
	}{
		{0, "0 Bytes", "0 bytes"},
		{999, "999 Bytes", "999 bytes"},
		{1000, "1,0 kB (1.000 Bytes)", "1.0 kB (1,000 bytes)"},
		{4 << 30, "4,3 GB (4.294.967.296 Bytes)", "4.3 GB (4,294,967,296 bytes)"},
	} {
		if got := german.size2(c.n); got != c.de {
			t.Errorf("de %d: %q, want %q", c.n, got, c.de)
		}
		if got := english.size2(c.n); got != c.enUS {
			t.Errorf("en %d: %q, want %q", c.n, got, c.enUS)
		}
	}
	if got := german.dur(2*time.Hour + 3*time.Minute + 4*time.Second + 600*time.Millisecond); got != "2 Std. 3 Min. 5 Sek." {
		t.Errorf("duration %q", got)
	}
	if got := english.dur(0); got != "0 s" {
		t.Errorf("duration %q", got)
	}
}

// FuzzPDF renders records with arbitrary participant text: never an
// error, never a panic.
func FuzzPDF(f *testing.F) {
	key := testKey(1)
	f.Add("Jürgen Müller", "Grüß Gott – 100 €", "Notiz", "a.pdf")
	f.Add("\x00\n\r", ") Tj ET", "😀漢字\u202e", "\xff")
	f.Add("", "", "", "")
	f.Fuzz(func(t *testing.T, name, chat, notes, file string) {
		r := sample(key)
		r.Client.Name, r.Host.Name, r.Software, r.Notes = name, chat, file, notes
		r.Chat = append(r.Chat, Chat{From: "client", Name: name, Text: chat, At: t0})
		r.Files[0].Name = file
		r.Screen = []ScreenEvent{{At: t0, By: "host", Event: "stop", ID: name, What: "screen", W: 1, H: 1, Detail: chat}}
		if _, err := PDF(r); err != nil {
			t.Fatal(err)
		}
	})
}

func BenchmarkPDF(b *testing.B) {
	r := long(testKey(1), 300)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		doc, err := PDF(r)
		if err != nil {
			b.Fatal(err)
		}
		n = len(doc)
	}
	b.ReportMetric(float64(n), "bytes/pdf")
}

// A clock set back during the consultation must not cost the record.
func TestPDFClockSetBack(t *testing.T) {
	key := testKey(1)
	r := sample(key)
	r.End = r.Start.Add(-time.Minute)
	r.Consents[2].State, r.Consents[2].AnsweredAt = "pending", time.Time{}
	signed := mustSign(t, r, key)
	if _, _, err := Verify(signed); err != nil {
		t.Fatal(err)
	}
	doc, err := PDF(r)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := extract(t, doc)
	contains(t, text, "Bildschirm zeigen — unbeantwortet")
	if strings.Contains(text, "Min.") || strings.Contains(text, "Sek.") {
		t.Error("a duration printed for an end before the start")
	}
}

// TestCheckPDF: the PDF of a record passes; one changed byte, or the PDF of
// another record, does not.
func TestCheckPDF(t *testing.T) {
	r := sample(testKey(1))
	doc, err := PDF(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckPDF(r, doc); err != nil {
		t.Fatalf("CheckPDF of the record's own PDF: %v", err)
	}
	changed := bytes.Clone(doc)
	changed[len(changed)/2] ^= 1
	other := sample(testKey(1))
	other.Notes = "Kunde lehnt ab."
	otherDoc, err := PDF(other)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range map[string][]byte{"changed byte": changed, "other record": otherDoc, "empty": nil, "truncated": doc[:len(doc)-1]} {
		if err := CheckPDF(r, d); !errors.Is(err, ErrPDFMismatch) {
			t.Errorf("%s: %v, want ErrPDFMismatch", name, err)
		}
	}
}

// withScreen is sample with screen sharing both ways.
func withScreen() Record {
	r := sample(testKey(1))
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	r.Consents[2].State = "accepted"
	r.Screen = []ScreenEvent{
		{At: at(10), By: "host", Event: "start", ID: "h4", What: "screen", W: 1920, H: 1080},
		{At: at(11), By: "client", Event: "view-off", ID: "h4", What: "screen", W: 1920, H: 1080},
		{At: at(12), By: "client", Event: "view-on", ID: "h4", What: "screen", W: 1920, H: 1080},
		{At: at(13), By: "host", Event: "pause", ID: "h4", What: "screen", W: 1920, H: 1080},
		{At: at(14), By: "host", Event: "resume", ID: "h4", What: "screen", W: 1920, H: 1080},
		{At: at(15), By: "client", Event: "start", ID: "c5", What: "window"},
		{At: at(16), By: "host", Event: "stop", ID: "h4", What: "screen", W: 1920, H: 1080, Detail: "consent ended"},
		{At: at(17), By: "client", Event: "stop", ID: "c5", What: "window", Detail: "consultation ended"},
	}
	return r
}

// Screen sharing has its own section, in either language, only when
// somebody shared; the signed form carries the events.
func TestPDFScreen(t *testing.T) {
	r := withScreen()
	doc, err := PDF(r)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := extract(t, doc)
	contains(t, text, "Bildschirmfreigabe",
		"15:40:00", "Berater/in: Freigabe begonnen (Bildschirm, 1920 × 1080 Pixel)",
		"Kunde/Kundin: Ansicht der Freigabe unterbrochen", "Kunde/Kundin: Ansicht der Freigabe fortgesetzt",
		"Berater/in: Freigabe angehalten (Bildschirm, 1920 × 1080 Pixel)", "Berater/in: Freigabe fortgesetzt",
		"Kunde/Kundin: Freigabe begonnen (Fenster)",
		"Berater/in: Freigabe beendet (Bildschirm, 1920 × 1080 Pixel) – Einwilligung beendet",
		"Kunde/Kundin: Freigabe beendet (Fenster) – Beratung beendet")
	if strings.Index(text, "Bildschirmfreigabe") < strings.Index(text, "Dateien") || strings.Index(text, "Bildschirmfreigabe") > strings.Index(text, "Notizen der") {
		t.Error("the screen section is not between the files and the notes")
	}

	r.Lang = "en"
	doc, err = PDF(r)
	if err != nil {
		t.Fatal(err)
	}
	text, _ = extract(t, doc)
	contains(t, text, "Screen sharing",
		"Adviser: started sharing (screen, 1920 × 1080 pixels)", "Client: stopped viewing the share",
		"Client: went back to viewing the share", "Client: started sharing (window)",
		"Adviser: stopped sharing (screen, 1920 × 1080 pixels) – the consent ended",
		"Client: stopped sharing (window) – the consultation ended")

	// Signed and verified with its events; CheckPDF accepts the PDF.
	key := testKey(1)
	got, _, err := Verify(mustSign(t, r, key))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Screen) != len(r.Screen) || got.Screen[0] != normalize(r).Screen[0] {
		t.Errorf("verified screen events %+v", got.Screen)
	}
	if err := CheckPDF(got, doc); err != nil {
		t.Errorf("CheckPDF: %v", err)
	}

	// Without events, no section.
	for _, lang := range []string{"de", "en"} {
		r := sample(key)
		r.Lang = lang
		doc, err := PDF(r)
		if err != nil {
			t.Fatal(err)
		}
		text, _ := extract(t, doc)
		if strings.Contains(text, "Bildschirmfreigabe") || strings.Contains(text, "Screen sharing") {
			t.Errorf("%s: a screen section without screen sharing", lang)
		}
	}
}

// A record without screen sharing is what it was before screen sharing
// existed, byte for byte, JSON (TestGolden) and PDF alike: direkt verify
// re-renders the PDF of an old record and compares. The digests were
// taken before the screen section was added.
func TestPDFWithoutScreenUnchanged(t *testing.T) {
	want := []string{
		"1a7354679b5033ef22e38c7532be4cb4d944e5496088f037a03cc767ac3d3352",
		"67cc9df5e63437c3e5b26e571d3ded55b8090f30fe71dc9cb717c9211411cb35",
		"00ac103256f66191e6ef9feb9323cff5cbb304249c4a3ddb3dc2e8642f858d10",
		"12a57be77f79578ec99f7fa164ef20369644f25701d2065a14b35f11e73063a3",
	}
	i := 0
	for _, r := range []Record{sample(testKey(1)), long(testKey(1), 300)} {
		for _, lang := range []string{"de", "en"} {
			r.Lang = lang
			doc, err := PDF(r)
			if err != nil {
				t.Fatal(err)
			}
			if got := hexSum(doc); got != want[i] {
				t.Errorf("PDF %d (%s) has SHA-256 %s, want %s", i, lang, got, want[i])
			}
			i++
		}
	}
}
