package record

import (
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
)

// MaxPDF bounds the PDF form Store.Add accepts.
const MaxPDF = 64 << 20

// Info describes a stored record for a list.
type Info struct {
	ID     string    `json:"id"`
	Host   string    `json:"host"`
	Client string    `json:"client"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	// Summary is the first line of the notes or else the first chat
	// messages, shortened.
	Summary string `json:"summary,omitempty"`
}

// Store is a folder of records (<data>/records): for each record
// "<id>.json" (signed) and "<id>.pdf". Files are written atomically and
// never overwritten; every access stays inside the folder (os.Root).
// Records that do not verify are left out of lists. A Store is safe for
// concurrent use.
type Store struct {
	root *os.Root
	log  *slog.Logger

	closeOnce sync.Once
	closeErr  error

	mu    sync.Mutex
	cache map[string]entry // by id; mu must be held
}

// entry is what List keeps of a verified record file.
type entry struct {
	size int64
	mod  time.Time
	info Info
	text string // folded search text
	bad  bool   // the file does not verify
}

// OpenStore opens the record folder dir, creating it (mode 0700) if needed,
// and removes temporary files an interrupted Save left behind.
func OpenStore(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("record: create record folder: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("record: open record folder: %w", err)
	}
	s := &Store{root: root, log: slog.Default(), cache: make(map[string]entry)}
	if names, err := fs.ReadDir(root.FS(), "."); err == nil {
		for _, e := range names {
			if isTemp(e.Name()) {
				_ = root.Remove(e.Name())
			}
		}
	}
	return s, nil
}

// Close releases the folder; later calls return the first call's result.
// The Store must not be used afterwards.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.root.Close() })
	return s.closeErr
}

// Save signs r with the host's key and stores "<id>.json" and "<id>.pdf".
// An empty r.ID becomes NewID(r.Start); a nil r.Host.Key becomes key's
// public half. If either file of that id exists, Save fails with ErrExists
// and changes nothing.
//
// Size is never a reason to lose a record: if its JSON would exceed
// MaxPayload (so the signed file MaxSigned) or its PDF MaxPDF, Save leaves
// out the latest chat messages, taken from the side with more chat, then
// the end of the notes, then the latest file and consent entries, until
// both fit, and says so in the record's Cut (and so in the PDF).
func (s *Store) Save(r Record, key ed25519.PrivateKey) (Info, error) {
	if len(key) != ed25519.PrivateKeySize {
		return Info{}, fmt.Errorf("%w: private key of %d bytes", ErrWrongKey, len(key))
	}
	if r.Host.Key == nil {
		r.Host.Key = key.Public().(ed25519.PublicKey)
	}
	if r.ID == "" {
		r.ID = NewID(r.Start)
	}
	r, p, doc, err := within(r, saveLimits)
	if err != nil {
		return Info{}, err
	}
	signed, err := sign(r, p, key)
	if err != nil {
		return Info{}, err
	}
	rec, _, err := Verify(signed)
	if err != nil {
		return Info{}, fmt.Errorf("record: signed record does not verify: %w", err)
	}
	return s.put(rec, signed, doc)
}

// Add stores a record signed elsewhere, such as the copy a client receives
// from the host: signed must verify, and doc must be a PDF (its content is
// not checked against signed). ErrExists as for Save.
func (s *Store) Add(signed, doc []byte) (Info, error) {
	rec, _, err := Verify(signed)
	if err != nil {
		return Info{}, err
	}
	if len(doc) > MaxPDF || !strings.HasPrefix(string(doc[:min(len(doc), 5)]), "%PDF-") {
		return Info{}, ErrNotPDF
	}
	return s.put(rec, signed, doc)
}

// put writes a verified record's two files: the PDF first, so a listed
// record (listing looks at the JSON) always has both.
func (s *Store) put(rec Record, signed, doc []byte) (Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	jsonName, pdfName := rec.ID+".json", rec.ID+".pdf"
	for _, name := range []string{jsonName, pdfName} {
		if _, err := s.root.Lstat(name); err == nil {
			return Info{}, fmt.Errorf("%w: %s", ErrExists, name)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return Info{}, fmt.Errorf("record: %w", err)
		}
	}
	tmpPDF, err := s.writeTemp(pdfName, doc)
	if err != nil {
		return Info{}, err
	}
	defer s.root.Remove(tmpPDF)
	tmpJSON, err := s.writeTemp(jsonName, signed)
	if err != nil {
		return Info{}, err
	}
	defer s.root.Remove(tmpJSON)
	if err := s.place(tmpPDF, pdfName); err != nil {
		return Info{}, err
	}
	if err := s.place(tmpJSON, jsonName); err != nil {
		_ = s.root.Remove(pdfName) // ours: it did not exist a moment ago
		return Info{}, err
	}
	if err := s.syncDir(); err != nil {
		return Info{}, err
	}
	e := newEntry(rec)
	if fi, err := s.root.Lstat(jsonName); err == nil {
		e.size, e.mod = fi.Size(), fi.ModTime()
		s.cache[rec.ID] = e
	}
	return e.info, nil
}

// tempSuffix marks Save's temporary files: ".<name>.<16 hex>.tmp".
const tempSuffix = ".tmp"

func isTemp(name string) bool {
	rest, ok := strings.CutPrefix(name, ".")
	if !ok {
		return false
	}
	rest, ok = strings.CutSuffix(rest, tempSuffix)
	if !ok || len(rest) < 17 || rest[len(rest)-17] != '.' || !isHex(rest[len(rest)-16:]) {
		return false
	}
	base := rest[:len(rest)-17]
	id, ok := strings.CutSuffix(base, ".json")
	if !ok {
		id, ok = strings.CutSuffix(base, ".pdf")
	}
	return ok && ValidID(id)
}

// writeTemp writes data to a new temporary file next to name, synced.
func (s *Store) writeTemp(name string, data []byte) (string, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	tmp := "." + name + "." + hex.EncodeToString(b[:]) + tempSuffix
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("record: write %s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = s.root.Remove(tmp)
		return "", fmt.Errorf("record: write %s: %w", name, err)
	}
	return tmp, nil
}

// place moves a temporary file to name without ever replacing name: a hard
// link fails if name exists. Where the file system has no hard links, it
// falls back to checking and renaming (Save's lock keeps this process from
// racing itself).
func (s *Store) place(tmp, name string) error {
	err := s.root.Link(tmp, name)
	if err == nil {
		return nil
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrExists, name)
	}
	if _, serr := s.root.Lstat(name); serr == nil {
		return fmt.Errorf("%w: %s", ErrExists, name)
	}
	if err := s.root.Rename(tmp, name); err != nil {
		return fmt.Errorf("record: store %s: %w", name, err)
	}
	return nil
}

// syncDir makes the new directory entries durable (not possible, and not
// needed, on Windows).
func (s *Store) syncDir() error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := s.root.Open(".")
	if err != nil {
		return fmt.Errorf("record: sync folder: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("record: sync folder: %w", err)
	}
	return nil
}

// List returns the stored records whose text contains every
// whitespace-separated word of query, newest first; "" lists all. The text
// is the participants (names, fingerprints, software), the check phrase,
// the chat, the notes, file names and hashes, consent details and the id;
// matching ignores case, umlauts ("müller" finds "Mueller" and vice versa)
// and accents.
func (s *Store) List(query string) ([]Info, error) {
	words := strings.Fields(fold(query))
	names, err := fs.ReadDir(s.root.FS(), ".")
	if err != nil {
		return nil, fmt.Errorf("record: list records: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]bool, len(names))
	var out []Info
	for _, de := range names {
		id, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || !ValidID(id) || !de.Type().IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		seen[id] = true
		e, ok := s.cache[id]
		if !ok || e.size != fi.Size() || !e.mod.Equal(fi.ModTime()) {
			e, err = s.load(id)
			if err != nil {
				// Said once per version of the file, not on every List.
				s.log.Warn("record: leaving out a stored record that does not verify", "id", id, "err", err)
				e = entry{bad: true}
			}
			e.size, e.mod = fi.Size(), fi.ModTime()
			s.cache[id] = e
		}
		if !e.bad && matches(e.text, words) {
			out = append(out, e.info)
		}
	}
	for id := range s.cache {
		if !seen[id] {
			delete(s.cache, id)
		}
	}
	slices.SortFunc(out, func(a, b Info) int {
		return cmp.Or(b.Start.Compare(a.Start), strings.Compare(b.ID, a.ID))
	})
	return out, nil
}

// load reads and verifies "<id>.json".
func (s *Store) load(id string) (entry, error) {
	f, err := s.root.Open(id + ".json")
	if err != nil {
		return entry{}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSigned+1))
	if err != nil {
		return entry{}, err
	}
	rec, _, err := Verify(data)
	if err != nil {
		return entry{}, err
	}
	if rec.ID != id {
		return entry{}, fmt.Errorf("%w: file name does not match the record's id", ErrInvalid)
	}
	return newEntry(rec), nil
}

func newEntry(r Record) entry {
	var t []string
	add := func(s ...string) { t = append(t, s...) }
	add(r.ID, r.Phrase, r.Notes, r.Software)
	for _, p := range []Party{r.Host, r.Client} {
		add(p.Name, p.Fingerprint, p.Agent)
	}
	for _, c := range r.Chat {
		add(c.Name, c.Text)
	}
	for _, f := range r.Files {
		add(f.Name, f.SHA256)
	}
	for _, c := range r.Consents {
		add(c.Detail)
	}
	return entry{
		info: Info{ID: r.ID, Host: line(r.Host.Name), Client: line(r.Client.Name), Start: r.Start, End: r.End, Summary: summary(r)},
		text: fold(strings.Join(t, "\n")),
	}
}

// summaryLen bounds Info.Summary, in characters.
const summaryLen = 160

// summary is the first line of the notes, else the first chat messages.
func summary(r Record) string {
	var s string
	if first, _, _ := strings.Cut(strings.TrimSpace(text(r.Notes)), "\n"); first != "" {
		s = first
	} else {
		var parts []string
		n := 0
		for _, c := range r.Chat {
			p := line(c.Text)
			parts = append(parts, p)
			if n += len(p); n > summaryLen {
				break
			}
		}
		s = strings.Join(parts, " · ")
	}
	if rs := []rune(s); len(rs) > summaryLen {
		s = strings.TrimSpace(string(rs[:summaryLen-1])) + "…"
	}
	return s
}

// Open opens a stored record's "pdf" or "json" file for reading and returns
// its file name ("<id>.pdf"). The id must be valid (ErrBadID: no path ever
// reaches the file system but "<id>.<format>"); a missing file is
// ErrNotFound. The caller closes f.
func (s *Store) Open(id, format string) (name string, f *os.File, err error) {
	if !ValidID(id) {
		return "", nil, ErrBadID
	}
	if format != "pdf" && format != "json" {
		return "", nil, fmt.Errorf("%w: %q", ErrUnknownFormat, format)
	}
	name = id + "." + format
	fi, err := s.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.Mode().IsRegular()) {
		return "", nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	if err != nil {
		return "", nil, fmt.Errorf("record: %w", err)
	}
	f, err = s.root.Open(name)
	if err != nil {
		return "", nil, fmt.Errorf("record: %w", err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return "", nil, fmt.Errorf("%w: %s", ErrNotFound, name)
	}
	return name, f, nil
}
