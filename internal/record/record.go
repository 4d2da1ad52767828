package record

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Version is the record format version this package writes and reads.
const Version = 1

// Record is one consultation as the host documents it. Sign turns it into
// the signed JSON form, PDF into the text-form document handed to the client.
//
// Times may be given in any zone; the stored form holds them in UTC and
// TimeZone says how to show them locally.
type Record struct {
	// V is the format version; zero means Version.
	V int `json:"v"`
	// ID names the record and its files: sortable by time, unique, safe as a
	// file name (see NewID and ValidID). Store.Save fills an empty ID.
	ID string `json:"id"`

	// Host is the adviser, who signs the record; Client the other side.
	Host   Party `json:"host"`
	Client Party `json:"client"`
	// Phrase is the check phrase both screens showed.
	Phrase string `json:"phrase"`
	// Path is how the peers were connected.
	Path Path `json:"path"`

	// Start and End of the consultation, host clock; both required.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// TimeZone is the host's zone for rendering local times: an IANA name
	// ("Europe/Berlin") or a fixed offset ("UTC+01:00"); empty means UTC.
	// LocalTimeZone gives this machine's.
	TimeZone string `json:"time_zone,omitempty"`

	// Chat is the transcript, oldest first.
	Chat []Chat `json:"chat,omitempty"`
	// Files are the files of the consultation, both ways.
	Files []File `json:"files,omitempty"`
	// Consents are the consent requests and their answers.
	Consents []Consent `json:"consents,omitempty"`
	// Screen are the events of screen sharing (docs/screen.md), in order;
	// nil if nobody shared, and then the record and its PDF are what they
	// were before screen sharing existed.
	Screen []ScreenEvent `json:"screen,omitempty"`
	// Notes are the adviser's notes typed in the console.
	Notes string `json:"notes,omitempty"`
	// Cut says what was left out of the record because a size limit was
	// reached (the consultation's share of a side, or Store.Save's limits);
	// nil if nothing was. The PDF says it too.
	Cut []Cut `json:"cut,omitempty"`

	// Lang is the language of the PDF: "de" or "en"; empty means "de".
	Lang string `json:"lang"`
	// Software names the program that wrote the record, e.g. "direkt 0.3.0".
	Software string `json:"software,omitempty"`
}

// Party is one participant.
type Party struct {
	Name string `json:"name"`
	// Role is "host" or "client"; empty means the side it stands for.
	Role string `json:"role"`
	// Key is the long-term Ed25519 public key; nil for a browser (only the
	// client may have none). The host's is the key that signs.
	Key []byte `json:"key,omitempty"`
	// Fingerprint is the key's readable form (as internal/identity writes
	// it); empty means computed from Key. It must match Key.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Agent says what the participant ran: "direkt 0.3.0", a browser, ….
	Agent string `json:"agent,omitempty"`
}

// Path is the connection path.
type Path struct {
	// Kind is "direct" or "relay"; empty if unknown.
	Kind   string `json:"kind,omitempty"`
	Local  string `json:"local,omitempty"`
	Remote string `json:"remote,omitempty"`
	Proto  string `json:"proto,omitempty"`
}

// Chat is one chat message.
type Chat struct {
	// From is "host" or "client".
	From string `json:"from"`
	Name string `json:"name"`
	Text string `json:"text"`
	// At is when the host sent or received it (host clock).
	At time.Time `json:"at"`
}

// File is a file exchanged in the consultation.
type File struct {
	// From is the side that sent it: "host" or "client".
	From string `json:"from"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	// SHA256 is the lower-case hex digest of what was sent or arrived;
	// empty if the file was not transferred.
	SHA256 string `json:"sha256,omitempty"`
	// Kind is "doc" or "record"; empty means "doc".
	Kind string    `json:"kind"`
	At   time.Time `json:"at"`
}

// Consent is one consent request and its answer.
type Consent struct {
	ID string `json:"id"`
	// What is "record", "file" or "screen".
	What string `json:"what"`
	// Detail describes the object, e.g. the file's name and size.
	Detail string `json:"detail,omitempty"`
	// State is "pending", "accepted", "declined" or "withdrawn".
	State   string    `json:"state"`
	AskedAt time.Time `json:"asked_at"`
	// AnsweredAt is when it was answered or withdrawn; zero while pending.
	AnsweredAt time.Time `json:"answered_at,omitzero"`
}

// ScreenEvent is one event of screen sharing: a share's start, pause,
// resume or stop, or its viewer stopping or going back to viewing it.
type ScreenEvent struct {
	At time.Time `json:"at"`
	// By is who did it: "host" or "client" (the sharer, or for view-off and
	// view-on the viewer).
	By string `json:"by"`
	// Event is "start", "pause", "resume", "stop", "view-off" or "view-on".
	Event string `json:"event"`
	// ID is the share's id in the consultation.
	ID string `json:"id,omitempty"`
	// What is what was shared: "screen", "window", "tab" or "other".
	What string `json:"what,omitempty"`
	// W and H are the share's size in pixels; zero if unknown.
	W int `json:"w,omitempty"`
	H int `json:"h,omitempty"`
	// Detail says why a share stopped other than by its sharer:
	// "consent ended" or "consultation ended".
	Detail string `json:"detail,omitempty"`
}

// Screen event kinds and what was shared, as ScreenEvent writes them.
var (
	screenEvents = []string{"start", "pause", "resume", "stop", "view-off", "view-on"}
	screenWhats  = []string{"screen", "window", "tab", "other"}
)

// maxScreenPixels bounds a share's width and height (docs/screen.md).
const maxScreenPixels = 16384

// Cut is content left out of a record because a size limit was reached.
type Cut struct {
	// From is whose content it was: "host" or "client".
	From string `json:"from"`
	// What is "chat" (messages), "notes" (the notes' end), "files" or
	// "consents" (their entries).
	What string `json:"what"`
	// Count is how many messages or entries were left out (1 for notes).
	Count int `json:"count"`
	// Bytes is the UTF-8 length of the text left out (for files and
	// consents, of their names).
	Bytes int64 `json:"bytes"`
	// Since is when the first message left out arrived; zero if unknown.
	Since time.Time `json:"since,omitzero"`
}

// NewID returns a fresh record id for a consultation that started at start:
// its UTC minute and 32 random bits, e.g. "2026-11-27T1530Z-9f86d081".
// Ids sort by start time (to the minute).
func NewID(start time.Time) string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return start.UTC().Format("2006-01-02T1504Z") + "-" + hex.EncodeToString(b[:])
}

// ValidID reports whether id has the form NewID produces. Only such ids
// become file names, so "../x", "/etc/passwd" or "a.json" are never valid.
func ValidID(id string) bool {
	const layout = "2006-01-02T1504Z"
	if len(id) != len(layout)+1+8 || id[len(layout)] != '-' {
		return false
	}
	if _, err := time.Parse(layout, id[:len(layout)]); err != nil {
		return false
	}
	return isHex(id[len(layout)+1:])
}

// isHex reports whether s is non-empty lower-case hex.
func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return s != ""
}

// fingerprint is internal/identity.Fingerprint (record is a leaf and may
// not import it; a test pins the two together): the first 80 bits of the
// key's SHA-256 in lower-case base32, in groups of four.
func fingerprint(pub []byte) string {
	sum := sha256.Sum256(pub)
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
}

// normalize returns a copy of r in the form that is signed: version and
// defaults filled in, fingerprints computed, hex lower-cased, times in UTC
// without monotonic readings. The caller's slices are not modified.
func normalize(r Record) Record {
	r = validUTF8(r)
	if r.V == 0 {
		r.V = Version
	}
	if r.Lang == "" {
		r.Lang = "de"
	}
	if r.Host.Role == "" {
		r.Host.Role = "host"
	}
	if r.Client.Role == "" {
		r.Client.Role = "client"
	}
	for _, p := range []*Party{&r.Host, &r.Client} {
		if p.Fingerprint == "" && len(p.Key) == ed25519.PublicKeySize {
			p.Fingerprint = fingerprint(p.Key)
		}
	}
	r.Start, r.End = r.Start.UTC(), r.End.UTC()
	r.Chat = slices.Clone(r.Chat)
	for i := range r.Chat {
		r.Chat[i].At = r.Chat[i].At.UTC()
	}
	r.Files = slices.Clone(r.Files)
	for i := range r.Files {
		f := &r.Files[i]
		f.At = f.At.UTC()
		f.SHA256 = strings.ToLower(f.SHA256)
		if f.Kind == "" {
			f.Kind = "doc"
		}
	}
	r.Consents = slices.Clone(r.Consents)
	for i := range r.Consents {
		c := &r.Consents[i]
		c.AskedAt, c.AnsweredAt = c.AskedAt.UTC(), c.AnsweredAt.UTC()
	}
	r.Screen = slices.Clone(r.Screen)
	for i := range r.Screen {
		r.Screen[i].At = r.Screen[i].At.UTC()
	}
	r.Cut = slices.Clone(r.Cut)
	for i := range r.Cut {
		r.Cut[i].Since = r.Cut[i].Since.UTC()
	}
	return r
}

// validUTF8 returns r with invalid UTF-8 in its text replaced by U+FFFD, as
// encoding/json would write it: Verify compares the payload with its
// canonical re-encoding, which must not differ. Slices are copied where
// they change.
func validUTF8(r Record) Record {
	v := func(s *string) { *s = strings.ToValidUTF8(*s, "\uFFFD") }
	for _, s := range []*string{&r.Phrase, &r.Notes, &r.Software, &r.Host.Name, &r.Host.Agent, &r.Client.Name, &r.Client.Agent,
		&r.Host.Fingerprint, &r.Client.Fingerprint, &r.Path.Local, &r.Path.Remote, &r.Path.Proto} {
		v(s)
	}
	r.Chat = slices.Clone(r.Chat)
	for i := range r.Chat {
		v(&r.Chat[i].Name)
		v(&r.Chat[i].Text)
	}
	r.Files = slices.Clone(r.Files)
	for i := range r.Files {
		v(&r.Files[i].Name)
	}
	r.Consents = slices.Clone(r.Consents)
	for i := range r.Consents {
		v(&r.Consents[i].ID)
		v(&r.Consents[i].Detail)
	}
	r.Screen = slices.Clone(r.Screen)
	for i := range r.Screen {
		v(&r.Screen[i].ID)
		v(&r.Screen[i].Detail)
	}
	return r
}

// validate checks the rules of a normalized record.
func validate(r Record) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if r.V != Version {
		return fmt.Errorf("%w: version %d", ErrUnsupported, r.V)
	}
	if !ValidID(r.ID) {
		return bad("id %q", r.ID)
	}
	if r.Host.Role != "host" || r.Client.Role != "client" {
		return bad("roles %q and %q, want host and client", r.Host.Role, r.Client.Role)
	}
	if len(r.Host.Key) != ed25519.PublicKeySize {
		return bad("host key of %d bytes", len(r.Host.Key))
	}
	for _, p := range []Party{r.Host, r.Client} {
		switch {
		case p.Key == nil && p.Fingerprint != "":
			return bad("%s fingerprint without a key", p.Role)
		case p.Key != nil && len(p.Key) != ed25519.PublicKeySize:
			return bad("%s key of %d bytes", p.Role, len(p.Key))
		case p.Key != nil && p.Fingerprint != fingerprint(p.Key):
			return bad("%s fingerprint does not match its key", p.Role)
		}
	}
	if !oneOf(r.Lang, "de", "en") {
		return bad("language %q", r.Lang)
	}
	if !oneOf(r.Path.Kind, "", "direct", "relay") {
		return bad("path kind %q", r.Path.Kind)
	}
	if !validZone(r.TimeZone) {
		return bad("time zone %q", r.TimeZone)
	}
	// End may lie before Start if the host's clock was set back meanwhile:
	// that is no reason to lose the record.
	if r.Start.IsZero() || r.End.IsZero() {
		return bad("start %v and end %v", r.Start, r.End)
	}
	times := []time.Time{r.Start, r.End}
	for i, c := range r.Chat {
		if !oneOf(c.From, "host", "client") {
			return bad("chat %d from %q", i, c.From)
		}
		times = append(times, c.At)
	}
	for i, f := range r.Files {
		switch {
		case !oneOf(f.From, "host", "client"):
			return bad("file %d from %q", i, f.From)
		case !oneOf(f.Kind, "doc", "record"):
			return bad("file %d kind %q", i, f.Kind)
		case f.Size < 0:
			return bad("file %d size %d", i, f.Size)
		case f.SHA256 != "" && (len(f.SHA256) != 2*sha256.Size || !isHex(f.SHA256)):
			return bad("file %d SHA-256 %q", i, f.SHA256)
		}
		times = append(times, f.At)
	}
	for i, c := range r.Consents {
		switch {
		case !oneOf(c.What, "record", "file", "screen"):
			return bad("consent %d about %q", i, c.What)
		case !oneOf(c.State, "pending", "accepted", "declined", "withdrawn"):
			return bad("consent %d state %q", i, c.State)
		}
		times = append(times, c.AskedAt, c.AnsweredAt)
	}
	for i, e := range r.Screen {
		switch {
		case !oneOf(e.By, "host", "client"):
			return bad("screen event %d by %q", i, e.By)
		case !oneOf(e.Event, screenEvents...):
			return bad("screen event %d is %q", i, e.Event)
		case e.What != "" && !oneOf(e.What, screenWhats...):
			return bad("screen event %d shares %q", i, e.What)
		case e.W < 0 || e.W > maxScreenPixels || e.H < 0 || e.H > maxScreenPixels:
			return bad("screen event %d of %d×%d pixels", i, e.W, e.H)
		}
		times = append(times, e.At)
	}
	for i, c := range r.Cut {
		switch {
		case !oneOf(c.From, "host", "client"):
			return bad("cut %d from %q", i, c.From)
		case !oneOf(c.What, "chat", "notes", "files", "consents"):
			return bad("cut %d of %q", i, c.What)
		case c.Count < 0 || c.Bytes < 0:
			return bad("cut %d of %d entries, %d bytes", i, c.Count, c.Bytes)
		}
		times = append(times, c.Since)
	}
	for _, t := range times {
		// JSON (RFC 3339) holds only four-digit years.
		if y := t.Year(); y < 1 || y > 9999 {
			if !t.IsZero() {
				return bad("time %v out of range", t)
			}
		}
	}
	return nil
}

func oneOf(s string, set ...string) bool { return slices.Contains(set, s) }

// payload is the signed form of a normalized, valid record: its JSON.
func payload(r Record) ([]byte, error) {
	p, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return p, nil
}

// prepare normalizes and validates r and encodes its payload.
func prepare(r Record) (Record, []byte, error) {
	r = normalize(r)
	if err := validate(r); err != nil {
		return Record{}, nil, err
	}
	p, err := payload(r)
	if err != nil {
		return Record{}, nil, err
	}
	return r, p, nil
}

// Digest is the lower-case hex SHA-256 of the payload Sign signs for r: the
// value the PDF's footer prints, so a reader can match a PDF to its signed
// JSON twin. For a record returned by Verify it is the digest of the
// verified payload bytes.
func Digest(r Record) (string, error) {
	_, p, err := prepare(r)
	if err != nil {
		return "", err
	}
	return hexSum(p), nil
}
