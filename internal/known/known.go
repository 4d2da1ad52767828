package known

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// File names in the data folder.
const (
	// PeersFile is a host's list: the clients that may reconnect to it.
	PeersFile = "known-peers.json"
	// HostsFile is a client's list: the hosts it may reconnect to.
	HostsFile = "known-hosts.json"
)

// Limits of an entry and of a list.
const (
	// KeySize is the size of a peer's Ed25519 public key.
	KeySize = ed25519.PublicKeySize
	// TokenSize is the size of a rejoin token.
	TokenSize = 32
	// MaxEntries bounds a list; it is also the most channels a host can
	// listen on (docs/protocol.md, section 8).
	MaxEntries = 1024
	// MaxName bounds a name in bytes, as a pairing hello does.
	MaxName = 128
	// MaxServer bounds a rendezvous URL in bytes.
	MaxServer = 512
	// maxFile bounds the file Open reads; a full list is about 300 KiB.
	maxFile = 4 << 20
	// fileVersion is the "v" of the file format.
	fileVersion = 1
)

// Peer is one entry: a client in a host's list, or a host in a client's.
// Its Token is a secret: String, GoString, LogValue and encoding/json leave
// it out, so that it reaches neither logs nor the console.
type Peer struct {
	// Key is the peer's long-term Ed25519 public key; it identifies the
	// entry.
	Key ed25519.PublicKey `json:"key"`
	// Name is the name the peer gave in its hello.
	Name string `json:"name"`
	// Token is the rejoin token (TokenSize bytes).
	Token []byte `json:"-"`
	// Server is the rendezvous URL to dial the host on (a client's list);
	// empty in a host's list.
	Server string `json:"server,omitempty"`
	// Added is when the entry was first stored (UTC). Zero in Add means
	// now.
	Added time.Time `json:"added"`
	// LastSeen is the last reconnection (UTC), zero before the first.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Allowed: the host confirmed this peer's first reconnection (a host's
	// list only).
	Allowed bool `json:"allowed,omitempty"`
}

// String names the peer without its token.
func (p Peer) String() string {
	return fmt.Sprintf("%q (key %s)", p.Name, keyID(p.Key))
}

// GoString is String, so that %#v does not print the token either.
func (p Peer) GoString() string { return "known.Peer{" + p.String() + "}" }

// LogValue logs the name and a short key id, never the token.
func (p Peer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", p.Name), slog.String("key", keyID(p.Key)))
}

// keyID is a short, non-secret id of a public key for logs: the first 8
// bytes of its SHA-256 in hex.
func keyID(k ed25519.PublicKey) string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:8])
}

func (p Peer) clone() Peer {
	p.Key = slices.Clone(p.Key)
	p.Token = slices.Clone(p.Token)
	return p
}

// validate checks an entry as Add and Open require it.
func (p Peer) validate() error {
	switch {
	case len(p.Key) != KeySize:
		return fmt.Errorf("%w: key of %d bytes", ErrInvalid, len(p.Key))
	case len(p.Token) != TokenSize:
		return fmt.Errorf("%w: token of %d bytes", ErrInvalid, len(p.Token))
	case len(p.Name) > MaxName || !validText(p.Name):
		return fmt.Errorf("%w: name is too long or not printable", ErrInvalid)
	case !validServer(p.Server):
		return fmt.Errorf("%w: server is not an http(s) or ws(s) URL", ErrInvalid)
	case p.Added.IsZero():
		return fmt.Errorf("%w: no time added", ErrInvalid)
	}
	return nil
}

// validText reports whether s is valid UTF-8 without control characters:
// names end up on terminals and in the console.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func validServer(s string) bool {
	if s == "" {
		return true
	}
	if len(s) > MaxServer {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
		return true
	}
	return false
}

// Store is one list in one JSON file. Every change is written to the file
// (atomically: temp file, fsync, rename) before it takes effect in memory,
// so a failed write changes nothing. A Store assumes it is the only writer
// of its file. Its methods are safe for concurrent use.
type Store struct {
	path string

	mu    sync.Mutex
	peers []Peer // in the order added
}

// Open reads the list in dir/name (PeersFile or HostsFile). A missing file
// (or folder) is an empty list; the folder and file are created by the
// first change. A file that cannot be parsed is refused with ErrCorrupt and
// left as it is.
func Open(dir, name string) (*Store, error) {
	if name == "" || filepath.Base(name) != name || name == "." || name == ".." {
		return nil, fmt.Errorf("known: bad file name %q", name)
	}
	s := &Store{path: filepath.Join(dir, name)}
	f, err := os.Open(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("known: read %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("known: read %s: %w", name, err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrCorrupt, s.path, maxFile)
	}
	peers, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, s.path, err)
	}
	s.peers = peers
	return s, nil
}

// Path is the file the Store keeps its list in.
func (s *Store) Path() string { return s.path }

// file is the on-disk format.
type file struct {
	V     int     `json:"v"`
	Peers []entry `json:"peers"`
}

// entry is a Peer as stored, token included.
type entry struct {
	Key      []byte    `json:"key"`
	Name     string    `json:"name"`
	Token    []byte    `json:"token"`
	Server   string    `json:"server,omitempty"`
	Added    time.Time `json:"added"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	Allowed  bool      `json:"allowed,omitempty"`
}

// parse decodes and checks a file: version 1, at most MaxEntries valid
// entries, no key or token twice. Unknown fields are ignored.
func parse(data []byte) ([]Peer, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var f file
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("json: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("data after the list")
	}
	if f.V != fileVersion {
		return nil, fmt.Errorf("version %d, want %d", f.V, fileVersion)
	}
	if len(f.Peers) > MaxEntries {
		return nil, fmt.Errorf("%d entries, at most %d", len(f.Peers), MaxEntries)
	}
	peers := make([]Peer, 0, len(f.Peers))
	keys := make(map[string]bool, len(f.Peers))
	tokens := make(map[string]bool, len(f.Peers))
	for i, e := range f.Peers {
		p := Peer{Key: e.Key, Name: e.Name, Token: e.Token, Server: e.Server,
			Added: e.Added.UTC(), LastSeen: e.LastSeen.UTC(), Allowed: e.Allowed}
		if err := p.validate(); err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		if keys[string(p.Key)] || tokens[string(p.Token)] {
			return nil, fmt.Errorf("entry %d: key or token listed twice", i)
		}
		keys[string(p.Key)], tokens[string(p.Token)] = true, true
		peers = append(peers, p)
	}
	return peers, nil
}

func encode(peers []Peer) ([]byte, error) {
	f := file{V: fileVersion, Peers: make([]entry, len(peers))}
	for i, p := range peers {
		f.Peers[i] = entry{Key: p.Key, Name: p.Name, Token: p.Token, Server: p.Server,
			Added: p.Added, LastSeen: p.LastSeen, Allowed: p.Allowed}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("known: encode: %w", err)
	}
	return append(b, '\n'), nil
}

// List returns the entries, oldest first. The slice and the entries are
// copies.
func (s *Store) List() []Peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Peer, len(s.peers))
	for i, p := range s.peers {
		out[i] = p.clone()
	}
	return out
}

// Get returns the entry of key.
func (s *Store) Get(key ed25519.PublicKey) (Peer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := s.indexLocked(key); i >= 0 {
		return s.peers[i].clone(), true
	}
	return Peer{}, false
}

// indexLocked returns the index of key's entry, or -1. s.mu must be held.
func (s *Store) indexLocked(key ed25519.PublicKey) int {
	return slices.IndexFunc(s.peers, func(p Peer) bool { return bytes.Equal(p.Key, key) })
}

// Add stores p and returns the stored entry. An entry with the same key is
// updated, not duplicated: Name, Token and Server are replaced (a new token
// makes the old one useless), while Added, LastSeen and Allowed are kept —
// the host confirmed this key before, and a new token does not change who
// holds it. Added zero means now. It fails with ErrInvalid (also for a
// token another entry uses) or ErrFull.
func (s *Store) Add(p Peer) (Peer, error) {
	p = p.clone()
	if p.Added.IsZero() {
		p.Added = time.Now()
	}
	p.Added, p.LastSeen = p.Added.UTC().Round(0), p.LastSeen.UTC().Round(0)
	if err := p.validate(); err != nil {
		return Peer{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.indexLocked(p.Key)
	for j, q := range s.peers {
		if j != i && bytes.Equal(q.Token, p.Token) {
			return Peer{}, fmt.Errorf("%w: token already in use", ErrInvalid)
		}
	}
	next := slices.Clone(s.peers)
	if i >= 0 {
		old := next[i]
		p.Added, p.LastSeen, p.Allowed = old.Added, old.LastSeen, old.Allowed || p.Allowed
		next[i] = p
	} else {
		if len(next) >= MaxEntries {
			return Peer{}, fmt.Errorf("%w: %d entries", ErrFull, MaxEntries)
		}
		next = append(next, p)
	}
	if err := s.commitLocked(next); err != nil {
		return Peer{}, err
	}
	return p.clone(), nil
}

// Allow records that the host confirmed key's reconnection.
func (s *Store) Allow(key ed25519.PublicKey) error {
	return s.update(key, func(p *Peer) { p.Allowed = true })
}

// Touch records a reconnection of key at t.
func (s *Store) Touch(key ed25519.PublicKey, t time.Time) error {
	return s.update(key, func(p *Peer) { p.LastSeen = t.UTC().Round(0) })
}

// Revoke forgets key: its token is gone, and it can no longer reconnect
// without a code.
func (s *Store) Revoke(key ed25519.PublicKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.indexLocked(key)
	if i < 0 {
		return ErrUnknown
	}
	return s.commitLocked(slices.Delete(slices.Clone(s.peers), i, i+1))
}

func (s *Store) update(key ed25519.PublicKey, change func(*Peer)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.indexLocked(key)
	if i < 0 {
		return ErrUnknown
	}
	next := slices.Clone(s.peers)
	change(&next[i])
	return s.commitLocked(next)
}

// commitLocked writes next to the file and then makes it the list. s.mu
// must be held.
func (s *Store) commitLocked(next []Peer) error {
	data, err := encode(next)
	if err != nil {
		return err
	}
	if err := writeAtomic(s.path, data); err != nil {
		return err
	}
	s.peers = next
	return nil
}

// writeAtomic replaces path with data: a temp file in the same folder
// (mode 0600), fsync, rename, fsync of the folder. A crash leaves either
// the old file or the new one, never a mix.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("known: create data folder: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("known: write: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return fmt.Errorf("known: write: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("known: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("known: write: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("known: write: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("known: write: %w", err)
	}
	// Make the rename durable. Not every system can sync a folder
	// (Windows cannot open one for it); the data is synced either way.
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// KeyString is the console's id of a key: unpadded URL-safe base64.
func KeyString(key ed25519.PublicKey) string { return base64.RawURLEncoding.EncodeToString(key) }

// ParseKey reads a KeyString back; it fails with ErrInvalid unless the
// result is KeySize bytes.
func ParseKey(s string) (ed25519.PublicKey, error) {
	// URL-safe, so it fits a URL path segment; the standard alphabet is
	// accepted too.
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		b, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil || len(b) != KeySize {
		return nil, fmt.Errorf("%w: key %.60q", ErrInvalid, s)
	}
	return b, nil
}
