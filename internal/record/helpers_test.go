package record

import (
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"
)

// testKey is a fixed host key, so signatures (Ed25519 is deterministic)
// and the golden file are reproducible.
func testKey(seed byte) ed25519.PrivateKey {
	s := sha256.Sum256([]byte{seed})
	return ed25519.NewKeyFromSeed(s[:])
}

var t0 = time.Date(2026, 11, 27, 14, 30, 0, 123456789, time.UTC)

// sample is a small German consultation.
func sample(key ed25519.PrivateKey) Record {
	client := testKey(99).Public().(ed25519.PublicKey)
	return Record{
		ID:       "2026-11-27T1430Z-0a1b2c3d",
		Host:     Party{Name: "Anna Weiß", Key: key.Public().(ed25519.PublicKey), Agent: "direkt 0.3.0"},
		Client:   Party{Name: "Jürgen Müller", Key: client, Agent: "direkt 0.3.0"},
		Phrase:   "nordsee tulpe apfel",
		Path:     Path{Kind: "direct", Local: "192.168.1.10:50000", Remote: "203.0.113.7:61000", Proto: "udp"},
		Start:    t0.In(time.FixedZone("CET", 3600)),
		End:      t0.Add(42*time.Minute + 17*time.Second),
		TimeZone: "Europe/Berlin",
		Chat: []Chat{
			{From: "host", Name: "Anna Weiß", Text: "Guten Tag, Herr Müller! Heute geht es um die bAV.", At: t0.Add(time.Minute)},
			{From: "client", Name: "Jürgen Müller", Text: "Grüß Gott. Was kostet mich das im Monat – 100 €?", At: t0.Add(2 * time.Minute)},
		},
		Files: []File{
			{From: "host", Name: "Angebot bAV Müller.pdf", Size: 1234567, SHA256: strings.Repeat("ab", 32), Kind: "doc", At: t0.Add(5 * time.Minute)},
			{From: "client", Name: "Gehaltsabrechnung.pdf", Size: 99, SHA256: strings.Repeat("0f", 32), At: t0.Add(7 * time.Minute)},
		},
		Consents: []Consent{
			{ID: "h1", What: "record", State: "accepted", AskedAt: t0, AnsweredAt: t0.Add(3 * time.Second)},
			{ID: "h2", What: "file", Detail: "Angebot bAV Müller.pdf (1,2 MB)", State: "accepted", AskedAt: t0.Add(4 * time.Minute), AnsweredAt: t0.Add(5 * time.Minute)},
			{ID: "h3", What: "screen", State: "declined", AskedAt: t0.Add(8 * time.Minute), AnsweredAt: t0.Add(9 * time.Minute)},
		},
		Notes:    "Kunde wünscht Entgeltumwandlung, 100 € monatlich.\nNächster Termin: Dezember.",
		Lang:     "de",
		Software: "direkt 0.3.0",
	}
}

// long is sample with n chat lines and long notes.
func long(key ed25519.PrivateKey, n int) Record {
	r := sample(key)
	for i := range n {
		from, name := "host", "Anna Weiß"
		if i%2 == 1 {
			from, name = "client", "Jürgen Müller"
		}
		text := fmt.Sprintf("Zeile %03d: Die Größe der Zulage beträgt %d,50 € – süß, äöü ÄÖÜ ß.", i, i)
		if i%10 == 0 {
			text += " " + strings.Repeat("Lange Nachricht mit Umbruch über mehrere Zeilen hinweg. ", 8)
		}
		r.Chat = append(r.Chat, Chat{From: from, Name: name, Text: text, At: t0.Add(time.Duration(i) * 7 * time.Second)})
	}
	var notes strings.Builder
	for i := range 120 {
		fmt.Fprintf(&notes, "Notiz %d: Der Kunde hat die Risiken der Direktversicherung verstanden; Beitrag steuerfrei. ", i)
		if i%20 == 19 {
			notes.WriteString("\n\n")
		}
	}
	notes.WriteString(strings.Repeat("X", 400) + " ENDE-DER-NOTIZEN")
	r.Notes = notes.String()
	return r
}

func mustSign(t testing.TB, r Record, key ed25519.PrivateKey) []byte {
	t.Helper()
	b, err := Sign(r, key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
