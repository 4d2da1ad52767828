// Package identity keeps a peer's long-term Ed25519 identity in the user's
// configuration directory. The key never leaves the machine; its public half is
// sent, sealed, in the pairing hello so the other peer can recognise it later.
//
// identity is a leaf: it imports only the standard library.
package identity

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base32"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the identity file inside the direkt configuration directory.
const FileName = "identity.pem"

// ErrFingerprint reports a string that is not a key fingerprint.
var ErrFingerprint = errors.New("not a key fingerprint")

// ErrCorrupt reports an identity file that exists but cannot be used. It is
// never replaced silently: the user has to move it away.
var ErrCorrupt = errors.New("identity file is corrupt")

// Dir is the default configuration directory: $DIREKT_HOME if set, else
// os.UserConfigDir()/direkt.
func Dir() (string, error) {
	if d := os.Getenv("DIREKT_HOME"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no configuration directory (set DIREKT_HOME): %w", err)
	}
	return filepath.Join(d, "direkt"), nil
}

// LoadOrCreate reads the identity in dir, creating dir and a new key when
// there is none. The file is written atomically with mode 0600.
func LoadOrCreate(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err == nil {
		return parse(data, path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create configuration directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".identity-*")
	if err != nil {
		return nil, fmt.Errorf("write identity: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := pem.Encode(tmp, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write identity: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("write identity: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("write identity: %w", err)
	}
	// Link fails if another process created the file meanwhile: then its key wins.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			data, rerr := os.ReadFile(path)
			if rerr != nil {
				return nil, fmt.Errorf("read identity: %w", rerr)
			}
			return parse(data, path)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			return nil, fmt.Errorf("write identity: %w", err)
		}
	}
	return key, nil
}

// Load reads the identity in dir without creating one; a missing file is
// an error that wraps fs.ErrNotExist.
func Load(dir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	return parse(data, path)
}

func parse(data []byte, path string) (ed25519.PrivateKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrCorrupt, path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: %s: not an Ed25519 key", ErrCorrupt, path)
	}
	return key, nil
}

// Fingerprint is a short, readable form of a public key: the first 80 bits of
// its SHA-256 in lower-case base32, in groups of four.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	s := strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:10]))
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte('-')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// fingerprintChars is the length of a fingerprint without its dashes.
const fingerprintChars = 16

// ParseFingerprint reads a fingerprint as a person may type or copy it — in
// any case, with or without the dashes, with spaces or colons between the
// groups — and returns it in Fingerprint's form. Anything else, a prefix
// included, is ErrFingerprint.
func ParseFingerprint(s string) (string, error) {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == '-' || r == ' ' || r == ':':
		case (r >= 'a' && r <= 'z') || (r >= '2' && r <= '7'):
			b.WriteRune(r)
		default:
			return "", fmt.Errorf("%w: %q", ErrFingerprint, s)
		}
	}
	c := b.String()
	if len(c) != fingerprintChars {
		return "", fmt.Errorf("%w: %q has %d characters, want %d", ErrFingerprint, s, len(c), fingerprintChars)
	}
	return c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16], nil
}
