package record

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"
)

func openStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readAll(t *testing.T, s *Store, id, format string) []byte {
	t.Helper()
	name, f, err := s.Open(id, format)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if name != id+"."+format {
		t.Errorf("name %q", name)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ids(infos []Info) []string {
	var s []string
	for _, i := range infos {
		s = append(s, i.ID)
	}
	return s
}

// twoRecords saves Jürgen Müller's consultation and, an hour later, one
// with Anna Schmidt that mentions a "Mueller" in its chat.
func twoRecords(t *testing.T, s *Store) (Info, Info) {
	key := testKey(1)
	a := sample(key)
	a.ID = ""
	ia, err := s.Save(a, key)
	if err != nil {
		t.Fatal(err)
	}
	b := sample(key)
	b.ID = ""
	b.Start, b.End = b.Start.Add(time.Hour), b.End.Add(time.Hour)
	b.Client = Party{Name: "Anna Schmidt", Agent: "Firefox"}
	b.Chat = []Chat{{From: "client", Name: "Anna Schmidt", Text: "Mein Kollege Mueller hat mich empfohlen. Zur Riester-Rente:", At: b.Start}}
	b.Files = []File{{From: "client", Name: "Steuerbescheid_2025.pdf", Size: 10, SHA256: "", At: b.Start}}
	b.Notes = ""
	b.Consents = nil
	ib, err := s.Save(b, key)
	if err != nil {
		t.Fatal(err)
	}
	return ia, ib
}

func TestStoreSaveListOpen(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ia, ib := twoRecords(t, s)
	if !ValidID(ia.ID) || !ValidID(ib.ID) || ia.ID == ib.ID {
		t.Fatalf("ids %q %q", ia.ID, ib.ID)
	}
	if ia.Client != "Jürgen Müller" || ia.Host != "Anna Weiß" || !ia.Start.Equal(t0) ||
		ia.Summary != "Kunde wünscht Entgeltumwandlung, 100 € monatlich." {
		t.Errorf("info %+v", ia)
	}
	if want := "Mein Kollege Mueller hat mich empfohlen. Zur Riester-Rente:"; ib.Summary != want {
		t.Errorf("summary from the chat %q, want %q", ib.Summary, want)
	}

	for _, c := range []struct {
		q    string
		want []Info
	}{
		{"", []Info{ib, ia}}, // newest first
		{"   ", []Info{ib, ia}},
		{"müller", []Info{ib, ia}},  // Müller in a, Mueller in b
		{"MUELLER", []Info{ib, ia}}, // and the other way round
		{"jürgen müller", []Info{ia}},
		{"Juergen", []Info{ia}},
		{"weiss schmidt", []Info{ib}},         // ß folded; host and client names
		{"Entgeltumwandlung", []Info{ia}},     // notes
		{"riester", []Info{ib}},               // chat
		{"steuerbescheid", []Info{ib}},        // file name
		{"gehaltsabrechnung.pdf", []Info{ia}}, // file name
		{"müller riester", []Info{ib}},
		{"müller lebensversicherung", nil},
		{"grüß gott", []Info{ia}},
		{"GRUESS", []Info{ia}},
		{"nordsee", []Info{ib, ia}},
	} {
		got, err := s.List(c.q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), ids(c.want)) {
			t.Errorf("List(%q) = %v, want %v", c.q, ids(got), ids(c.want))
		}
	}

	signed := readAll(t, s, ia.ID, "json")
	r, _, err := Verify(signed)
	if err != nil || r.ID != ia.ID || r.Client.Name != "Jürgen Müller" {
		t.Errorf("stored JSON: %v, %+v", err, r.Client)
	}
	doc := readAll(t, s, ia.ID, "pdf")
	if want, _ := PDF(r); !bytes.Equal(doc, want) {
		t.Error("stored PDF is not the record's PDF")
	}
	for _, name := range []string{ia.ID + ".json", ia.ID + ".pdf"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v", name, fi.Mode())
		}
	}
	// Exactly the four files, no temporary files left.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Errorf("%d files in the store", len(entries))
	}

	// A second Store on the same folder (a restarted peer) sees the same.
	s2 := openStore(t, dir)
	got, err := s2.List("mueller")
	if err != nil || !slices.Equal(ids(got), []string{ib.ID, ia.ID}) {
		t.Errorf("reopened store lists %v, %v", ids(got), err)
	}
}

func TestStoreOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ia, _ := twoRecords(t, s)
	secret := filepath.Join(t.TempDir(), "secret.pdf")
	if err := os.WriteFile(secret, []byte("%PDF-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"", "../x", "..", "/etc/passwd", secret, ia.ID + "/../" + ia.ID, "./" + ia.ID,
		ia.ID + ".json", "..\\" + ia.ID, ia.ID + "\x00"} {
		if _, f, err := s.Open(id, "pdf"); !errors.Is(err, ErrBadID) || f != nil {
			t.Errorf("Open(%q): %v", id, err)
		}
	}
	for _, format := range []string{"", "txt", "PDF", "pdf/../x", "../../etc/passwd"} {
		if _, f, err := s.Open(ia.ID, format); !errors.Is(err, ErrUnknownFormat) || f != nil {
			t.Errorf("Open format %q: %v", format, err)
		}
	}
	if _, _, err := s.Open(NewID(time.Now()), "pdf"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing record: %v", err)
	}
	// A symbolic link planted in the folder is not followed.
	planted := NewID(time.Now())
	if err := os.Symlink(secret, filepath.Join(dir, planted+".pdf")); err != nil {
		t.Skip("no symbolic links here:", err)
	}
	if _, f, err := s.Open(planted, "pdf"); !errors.Is(err, ErrNotFound) || f != nil {
		t.Errorf("symbolic link to outside: %v", err)
	}
	if err := os.Symlink(ia.ID+".pdf", filepath.Join(dir, planted+".json")); err != nil {
		t.Fatal(err)
	}
	if _, f, err := s.Open(planted, "json"); !errors.Is(err, ErrNotFound) || f != nil {
		t.Errorf("symbolic link inside: %v", err)
	}
	if got, _ := s.List(""); len(got) != 2 {
		t.Errorf("List shows %v with planted links", ids(got))
	}
}

func TestStoreNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	key := testKey(1)
	r := sample(key)
	info, err := s.Save(r, key)
	if err != nil {
		t.Fatal(err)
	}
	jsonBefore := readAll(t, s, info.ID, "json")
	pdfBefore := readAll(t, s, info.ID, "pdf")

	changed := r
	changed.Notes = "Überschrieben?"
	if _, err := s.Save(changed, key); !errors.Is(err, ErrExists) {
		t.Fatalf("second Save of the same id: %v", err)
	}
	if !bytes.Equal(readAll(t, s, info.ID, "json"), jsonBefore) || !bytes.Equal(readAll(t, s, info.ID, "pdf"), pdfBefore) {
		t.Fatal("second Save changed the stored record")
	}
	if got, _ := s.List(""); len(got) != 1 {
		t.Errorf("List shows %d records", len(got))
	}
	if _, err := s.Add(jsonBefore, pdfBefore); !errors.Is(err, ErrExists) {
		t.Errorf("Add of a stored record: %v", err)
	}

	// Only one of the two files exists (a stranger's file, a crash): Save
	// refuses and leaves it alone, and adds nothing.
	r2 := sample(key)
	r2.ID = NewID(t0)
	planted := []byte("not mine")
	if err := os.WriteFile(filepath.Join(dir, r2.ID+".pdf"), planted, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(r2, key); !errors.Is(err, ErrExists) {
		t.Fatalf("Save over a planted PDF: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, r2.ID+".pdf")); !bytes.Equal(b, planted) {
		t.Error("planted PDF changed")
	}
	if _, err := os.Stat(filepath.Join(dir, r2.ID+".json")); !errors.Is(err, os.ErrNotExist) {
		t.Error("JSON written next to a foreign PDF")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if isTemp(e.Name()) {
			t.Errorf("temporary file %s left", e.Name())
		}
	}
}

func TestStoreSkipsTampered(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	ia, ib := twoRecords(t, s)
	if got, _ := s.List(""); len(got) != 2 {
		t.Fatal("setup")
	}
	path := filepath.Join(dir, ia.ID+".json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Same size, one signature character changed, and a new time: the
	// cached entry must not hide the change.
	i := bytes.Index(b, []byte(`"sig":"`)) + 10
	b[i] ^= 1
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, future, future); err != nil {
		t.Fatal(err)
	}
	got, err := s.List("")
	if err != nil || !slices.Equal(ids(got), []string{ib.ID}) {
		t.Errorf("List after tampering: %v, %v", ids(got), err)
	}
	// A valid record under another record's file name is left out too.
	other, _ := os.ReadFile(filepath.Join(dir, ib.ID+".json"))
	renamed := NewID(time.Now())
	if err := os.WriteFile(filepath.Join(dir, renamed+".json"), other, 0o600); err != nil {
		t.Fatal(err)
	}
	got, _ = s.List("")
	if !slices.Equal(ids(got), []string{ib.ID}) {
		t.Errorf("List with a copied record: %v", ids(got))
	}
	// A deleted record disappears.
	if err := os.Remove(filepath.Join(dir, ib.ID+".json")); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.List(""); len(got) != 0 {
		t.Errorf("List after deleting: %v", ids(got))
	}
}

func TestStoreAdd(t *testing.T) {
	host := openStore(t, t.TempDir())
	ia, _ := twoRecords(t, host)
	signed, doc := readAll(t, host, ia.ID, "json"), readAll(t, host, ia.ID, "pdf")

	client := openStore(t, t.TempDir())
	if _, err := client.Add(signed, []byte("<html>")); !errors.Is(err, ErrNotPDF) {
		t.Errorf("Add with an HTML 'PDF': %v", err)
	}
	if _, err := client.Add(signed, nil); !errors.Is(err, ErrNotPDF) {
		t.Errorf("Add without a PDF: %v", err)
	}
	bad := bytes.Clone(signed)
	bad[bytes.Index(bad, []byte(`"payload":"`))+20] ^= 1
	if _, err := client.Add(bad, doc); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Add of a tampered record: %v", err)
	}
	info, err := client.Add(signed, doc)
	if err != nil {
		t.Fatal(err)
	}
	if info != ia {
		t.Errorf("client's info %+v, host's %+v", info, ia)
	}
	got, err := client.List("müller")
	if err != nil || !slices.Equal(ids(got), []string{ia.ID}) {
		t.Errorf("client lists %v, %v", ids(got), err)
	}
	if !bytes.Equal(readAll(t, client, ia.ID, "json"), signed) || !bytes.Equal(readAll(t, client, ia.ID, "pdf"), doc) {
		t.Error("client's copy differs")
	}
}

func TestOpenStoreCleansTemp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "records")
	s := openStore(t, dir)
	s.Close()
	id := NewID(t0)
	stale := "." + id + ".pdf.0123456789abcdef.tmp"
	keep := []string{".hidden", "notes.txt", ".x.pdf.0123456789abcdef.tmp"}
	for _, n := range append([]string{stale}, keep...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	openStore(t, dir)
	if _, err := os.Stat(filepath.Join(dir, stale)); !errors.Is(err, os.ErrNotExist) {
		t.Error("stale temporary file kept")
	}
	for _, n := range keep {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s removed: %v", n, err)
		}
	}
}

// Saves and lists from many goroutines: no lost record, no race.
func TestStoreConcurrent(t *testing.T) {
	s := openStore(t, t.TempDir())
	key := testKey(1)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			r := sample(key)
			r.ID = ""
			r.Notes = fmt.Sprintf("Termin %d", i)
			if _, err := s.Save(r, key); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			if _, err := s.List("termin"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got, _ := s.List("termin"); len(got) != n {
		t.Errorf("%d of %d records listed", len(got), n)
	}
}

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"Müller":        "mueller",
		"MÜLLER":        "mueller",
		"Mueller":       "mueller",
		"Straße":        "strasse",
		"STRAẞE":        "strasse",
		"Mu\u0308ller":  "mueller", // decomposed ü
		"José Ñoño":     "jose nono",
		"Łódź":          "lodz",
		"Œuvre":         "oeuvre",
		"İstanbul":      "istanbul",
		"Zulage 100 €":  "zulage 100 €",
		"Ärger Öl Übel": "aerger oel uebel",
	} {
		if got := fold(in); got != want {
			t.Errorf("fold(%q) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkList measures a search over 300 stored records once their
// entries are cached (the first List reads and verifies every file).
func BenchmarkList(b *testing.B) {
	s := openStore(b, b.TempDir())
	key := testKey(1)
	for i := range 300 {
		r := long(key, 40)
		r.ID = ""
		r.Client.Name = fmt.Sprintf("Kunde %d Müller", i)
		if _, err := s.Save(r, key); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if got, err := s.List("müller zeile 039"); err != nil || len(got) != 300 {
			b.Fatal(len(got), err)
		}
	}
}

// place is the last guard against a file that appeared after Save looked
// (another process saving the same id): it must not replace it.
func TestPlaceNeverReplaces(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	id := NewID(t0)
	if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmp, err := s.writeTemp(id+".json", []byte("second"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.place(tmp, id+".json"); !errors.Is(err, ErrExists) {
		t.Errorf("place over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, id+".json")); string(b) != "first" {
		t.Errorf("existing file now holds %q", b)
	}
}
