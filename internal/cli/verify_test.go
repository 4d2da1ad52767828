package cli

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/identity"
	"github.com/direkt/direkt/internal/known"
	"github.com/direkt/direkt/internal/record"
)

// signedRecord writes a record signed by key in the name of host, and its
// PDF, into dir; it returns the JSON's path.
func signedRecord(t *testing.T, dir string, key ed25519.PrivateKey, host string) string {
	t.Helper()
	return signedRecordWith(t, dir, key, host, nil)
}

// signedRecordWith is signedRecord with edit applied to the record before
// it is signed; edit may be nil.
func signedRecordWith(t *testing.T, dir string, key ed25519.PrivateKey, host string, edit func(*record.Record)) string {
	t.Helper()
	start := time.Now().Add(-time.Hour).UTC()
	r := record.Record{
		ID:     record.NewID(start),
		Host:   record.Party{Name: host, Key: key.Public().(ed25519.PublicKey)},
		Client: record.Party{Name: "Jürgen Schmidt"},
		Phrase: "anker wolke tanne",
		Start:  start,
		End:    start.Add(30 * time.Minute),
		Chat:   []record.Chat{{From: "host", Name: host, Text: "Ihr Beitrag: 100 € im Monat.", At: start.Add(time.Minute)}},
		Lang:   "de",
	}
	if edit != nil {
		edit(&r)
	}
	signed, err := record.Sign(r, key)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := record.PDF(r)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, r.ID+".json")
	if err := os.WriteFile(path, signed, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, r.ID+".pdf"), doc, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// verifier runs `direkt verify` in-process as a user whose identity is in
// home and whose data folder is data (through the environment, as a real
// user's defaults).
func verifier(home, data string) func(args ...string) (int, string, string) {
	return func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		env := Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
			switch k {
			case "DIREKT_HOME":
				return home
			case "DIREKT_DATA":
				return data
			}
			return ""
		}}
		code := Main(context.Background(), append([]string{"verify"}, args...), env)
		return code, out.String(), errb.String()
	}
}

// TestVerifyForgedRecord is the attack of issue 7, item 4: a record signed
// with a fresh key in a broker's name. verify used to call it valid, name
// the broker and exit 0; now a valid signature by a key the user does not
// trust fails, with the fingerprint to compare.
func TestVerifyForgedRecord(t *testing.T) {
	home, data, recs := t.TempDir(), t.TempDir(), t.TempDir()
	if _, err := identity.LoadOrCreate(home); err != nil {
		t.Fatal(err)
	}
	verify := verifier(home, data)
	forger := newKey(t)
	fp := identity.Fingerprint(forger.Public().(ed25519.PublicKey))
	forged := signedRecord(t, recs, forger, "Versicherungsmakler Müller GmbH")

	code, out, errOut := verify(forged)
	if code != exitFailure {
		t.Fatalf("forged record: exit %d, want %d\n%s%s", code, exitFailure, out, errOut)
	}
	if strings.Contains(out, "Valid") || strings.Contains(out, "signed by") {
		t.Errorf("forged record reported as valid:\n%s", out)
	}
	if !strings.Contains(errOut, fp) || !strings.Contains(errOut, "do not trust") || !strings.Contains(errOut, "--key "+fp) {
		t.Errorf("forged record: stderr does not name the key to compare:\n%s", errOut)
	}

	// The user compared the fingerprint and trusts it: typed in any form.
	for _, k := range []string{fp, strings.ToUpper(strings.ReplaceAll(fp, "-", "")), strings.ReplaceAll(fp, "-", " ")} {
		code, out, errOut = verify("--key", k, forged)
		if code != exitOK || !strings.Contains(out, "signed by:  key "+fp+" (given with --key)") ||
			!strings.Contains(out, "adviser:    Versicherungsmakler Müller GmbH") || !strings.Contains(out, "is this record's PDF") {
			t.Errorf("--key %q: exit %d\n%s%s", k, code, out, errOut)
		}
	}
	// Another key's fingerprint does not help.
	other := identity.Fingerprint(newKey(t).Public().(ed25519.PublicKey))
	if code, out, errOut := verify("--key", other, forged); code != exitFailure {
		t.Errorf("--key of another key: exit %d\n%s%s", code, out, errOut)
	}
	for _, bad := range []string{"abcd", fp + "x", "not-a-fingerprint!"} {
		if code, _, errOut := verify("--key", bad, forged); code != exitUsage {
			t.Errorf("--key %q: exit %d, want %d: %s", bad, code, exitUsage, errOut)
		}
	}
	// A known-hosts list lying next to the record is not the user's.
	planted, err := known.Open(recs, known.HostsFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := planted.Add(known.Peer{Key: forger.Public().(ed25519.PublicKey), Name: "Müller", Token: bytes.Repeat([]byte{7}, known.TokenSize)}); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := verify(forged); code != exitFailure {
		t.Errorf("a known-hosts.json beside the record was trusted: exit %d", code)
	}
}

// TestVerifyTrustedSigners: the user's own records, a known host's and a
// known client's verify; the name shown comes from the trust source.
func TestVerifyTrustedSigners(t *testing.T) {
	home, data, recs := t.TempDir(), t.TempDir(), t.TempDir()
	own, err := identity.LoadOrCreate(home)
	if err != nil {
		t.Fatal(err)
	}
	verify := verifier(home, data)

	code, out, errOut := verify(signedRecord(t, recs, own, "Beraterin Schulz"))
	if code != exitOK || !strings.Contains(out, "(your own key)") || !strings.Contains(out, "adviser:    Beraterin Schulz") {
		t.Errorf("own record: exit %d\n%s%s", code, out, errOut)
	}

	for i, l := range []struct{ file, source string }{{known.HostsFile, "a known host"}, {known.PeersFile, "a known client"}} {
		key := newKey(t)
		st, err := known.Open(data, l.file)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Add(known.Peer{Key: key.Public().(ed25519.PublicKey), Name: "Makler Müller", Token: bytes.Repeat([]byte{byte(i + 1)}, known.TokenSize)}); err != nil {
			t.Fatal(err)
		}
		rec := signedRecord(t, recs, key, "Versicherungsmakler Müller GmbH")
		code, out, errOut := verify(rec)
		want := "signed by:  Makler Müller (" + l.source + ", key " + identity.Fingerprint(key.Public().(ed25519.PublicKey)) + ")"
		if code != exitOK || !strings.Contains(out, want) || !strings.Contains(out, `you know the key as "Makler Müller"`) {
			t.Errorf("%s: exit %d, want %q in\n%s%s", l.file, code, want, out, errOut)
		}
		// The same with --data instead of the environment.
		if code, out, errOut := verifier(home, "")("--data", data, rec); code != exitOK {
			t.Errorf("%s with --data: exit %d\n%s%s", l.file, code, out, errOut)
		}
	}
}

// TestVerifyPDF: the signature covers the JSON only, so verify checks the
// PDF beside it (or the one given) against the record's own rendering.
func TestVerifyPDF(t *testing.T) {
	home, recs := t.TempDir(), t.TempDir()
	own, err := identity.LoadOrCreate(home)
	if err != nil {
		t.Fatal(err)
	}
	verify := verifier(home, t.TempDir())
	rec := signedRecord(t, recs, own, "Beraterin Schulz")
	pdf := strings.TrimSuffix(rec, ".json") + ".pdf"
	other := strings.TrimSuffix(signedRecord(t, t.TempDir(), own, "Beraterin Schulz"), ".json") + ".pdf"

	if code, out, errOut := verify(rec, pdf); code != exitOK || !strings.Contains(out, "is this record's PDF") {
		t.Errorf("own PDF given: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := verify(rec, other); code != exitFailure || !strings.Contains(out, "is NOT this record's PDF") {
		t.Errorf("another record's PDF: exit %d\n%s%s", code, out, errOut)
	}
	// A PDF changed beside the record (the client's copy edited, say).
	doc, err := os.ReadFile(pdf)
	if err != nil {
		t.Fatal(err)
	}
	doc = bytes.Replace(doc, []byte("/Title"), []byte("/Titlf"), 1)
	if err := os.WriteFile(pdf, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := verify(rec); code != exitFailure || !strings.Contains(errOut, "is not the PDF of this record") {
		t.Errorf("changed PDF beside the record: exit %d\n%s%s", code, out, errOut)
	}
	// Without a PDF the JSON alone is checked.
	os.Remove(pdf)
	if code, out, errOut := verify(rec); code != exitOK || !strings.Contains(out, "none beside the record") {
		t.Errorf("no PDF: exit %d\n%s%s", code, out, errOut)
	}
	// A broken signature fails as before.
	signed, _ := os.ReadFile(rec)
	broken := filepath.Join(t.TempDir(), "broken.json")
	os.WriteFile(broken, bytes.Replace(signed, []byte(`"sig":"`), []byte(`"sig":"A`), 1)[:len(signed)], 0o600)
	if code, _, errOut := verify(broken); code != exitFailure || !strings.Contains(errOut, "does not hold") {
		t.Errorf("broken record: exit %d: %s", code, errOut)
	}
}

// TestVerifyShowsCut: what a size limit left out of a record is part of what
// it attests, so verify says it.
func TestVerifyShowsCut(t *testing.T) {
	home, recs := t.TempDir(), t.TempDir()
	own, err := identity.LoadOrCreate(home)
	if err != nil {
		t.Fatal(err)
	}
	rec := signedRecordWith(t, recs, own, "Beraterin Schulz", func(r *record.Record) {
		r.Cut = []record.Cut{{From: "client", What: "chat", Count: 1200, Bytes: 4_800_000, Since: r.Start.Add(10 * time.Minute)}}
	})
	code, out, errOut := verifier(home, t.TempDir())(rec)
	if code != exitOK || !strings.Contains(out, "not kept:   client: 1200 chat entries, 4800000 bytes, from ") {
		t.Errorf("exit %d, want the cut in\n%s%s", code, out, errOut)
	}
}
