package web_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/direkt/direkt/internal/identity"
)

// fingerprintFile pins web/src/identity.js (fingerprint) to
// internal/identity.Fingerprint: the join page shows the adviser's key in
// the form the record's PDF and `direkt verify --key` use.
// web/test/identity.test.mjs checks the JavaScript side.
var fingerprintFile = filepath.Join("..", "testdata", "fingerprint-v1.json")

type fingerprintCase struct {
	Why         string `json:"why"`
	Key         string `json:"key"` // standard base64, as in a hello's id
	Fingerprint string `json:"fingerprint"`
}

type fingerprintTable struct {
	Description string            `json:"description"`
	Cases       []fingerprintCase `json:"cases"`
}

// fingerprintKeys are the table's keys: edge patterns and real Ed25519
// keys from fixed seeds.
func fingerprintKeys() []fingerprintCase {
	fill := func(b byte) []byte {
		k := make([]byte, ed25519.PublicKeySize)
		for i := range k {
			k[i] = b
		}
		return k
	}
	seq := make([]byte, ed25519.PublicKeySize)
	for i := range seq {
		seq[i] = byte(i)
	}
	cases := []struct {
		why string
		key []byte
	}{
		{"all zero", fill(0)},
		{"all ones", fill(0xff)},
		{"0, 1, 2, …", seq},
	}
	for i := range 5 {
		seed := sha256.Sum256(fmt.Appendf(nil, "direkt fingerprint vector %d", i))
		pub := ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)
		cases = append(cases, struct {
			why string
			key []byte
		}{fmt.Sprintf("Ed25519 key from seed SHA-256(\"direkt fingerprint vector %d\")", i), pub})
	}
	out := make([]fingerprintCase, len(cases))
	for i, c := range cases {
		out[i] = fingerprintCase{Why: c.why, Key: base64.StdEncoding.EncodeToString(c.key), Fingerprint: identity.Fingerprint(c.key)}
	}
	return out
}

func TestFingerprintVectors(t *testing.T) {
	want := fingerprintTable{
		Description: "Ed25519 public keys (standard base64, as a hello's id carries them) and internal/identity.Fingerprint of each; " +
			"web/src/identity.js must agree (web/fingerprint_test.go checks Go, web/test/identity.test.mjs checks JavaScript; " +
			"go test ./web -run FingerprintVectors -args -update rewrites the file from Go).",
		Cases: fingerprintKeys(),
	}
	out, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, '\n')
	if *update {
		if err := os.WriteFile(fingerprintFile, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	data, err := os.ReadFile(fingerprintFile)
	if err != nil {
		t.Fatal(err)
	}
	var got fingerprintTable
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	for _, c := range got.Cases {
		key, err := base64.StdEncoding.DecodeString(c.Key)
		if err != nil {
			t.Fatalf("%s: %v", c.Why, err)
		}
		if fp := identity.Fingerprint(key); fp != c.Fingerprint {
			t.Errorf("%s: Fingerprint = %s, the table says %s", c.Why, fp, c.Fingerprint)
		}
		if p, err := identity.ParseFingerprint(c.Fingerprint); err != nil || p != c.Fingerprint {
			t.Errorf("%s: ParseFingerprint(%s) = %s, %v", c.Why, c.Fingerprint, p, err)
		}
	}
	if string(data) != string(out) {
		t.Errorf("%s differs from what Go writes: run with -args -update", fingerprintFile)
	}
}
