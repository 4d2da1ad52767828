package cli

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/direkt/direkt/internal/app"
	"github.com/direkt/direkt/internal/identity"
	"github.com/direkt/direkt/internal/known"
	"github.com/direkt/direkt/internal/record"
)

// trust says why verify trusts a signing key.
type trust struct {
	// name is what the trust source calls the key's holder; "" when it
	// gives no name (the user's own key, --key).
	name string
	// source is where the key was found, for a person.
	source string
}

// runVerify checks a signed record: exit 0 only when the signature holds,
// the key that made it is one the user trusts (their own, a known peer's or
// host's, or one given with --key) and the PDF beside it, if any, is the
// record's own. Anyone can make a key and sign a record in any name, so the
// name in the record proves nothing by itself.
func runVerify(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("verify", env)
	var given []string
	fs.Func("key", "trust the key with this `FINGERPRINT` (e.g. abcd-efgh-ijkl-mnop, as the console shows it; repeatable)", func(s string) error {
		fp, err := identity.ParseFingerprint(s)
		if err != nil {
			return errors.New("want a key fingerprint such as abcd-efgh-ijkl-mnop")
		}
		given = append(given, fp)
		return nil
	})
	data := fs.String("data", "", "data folder whose known peers and hosts are trusted (default: the user's data folder)")
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, `Usage: direkt verify [--key FINGERPRINT]... [--data DIR] RECORD.json [RECORD.pdf]

Checks the signature of a consultation record and prints what it attests. The
record counts as valid only if it is signed by a key you trust: your own, a
known peer's or host's, or one given with --key. The PDF (RECORD.pdf beside
the JSON, or the one given) must be the record's own rendering.

`)
		fs.PrintDefaults()
	}
	ev := &events{out: env.Stdout, start: env.Start}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) < 1 || len(pos) > 2 {
		return fail(ev, env, usagef("verify takes one record file, and optionally its PDF"))
	}
	name := pos[0]
	raw, err := os.ReadFile(name)
	if err != nil {
		return fail(ev, env, err)
	}
	r, key, err := record.Verify(raw)
	if err != nil {
		return fail(ev, env, fmt.Errorf("%s: the signature does not hold: %w", name, err))
	}
	fp := identity.Fingerprint(key)
	tr, trusted, warnings := trustOf(env, *data, key, given)
	for _, w := range warnings {
		fmt.Fprintf(env.Stderr, "direkt: %s\n", w)
	}
	if !trusted {
		fmt.Fprintf(env.Stderr, `direkt: %s: the signature is valid, but made with key %s, which you do not trust
  (it is not your own, not a known peer's or host's, and not given with --key).
  The record names its adviser %q; anyone can make a key and sign a record in any name.
  Compare the fingerprint with the adviser's from a source you trust (their console shows it
  during the consultation, next to their name), then run:
    direkt verify --key %s %s
`, name, fp, r.Host.Name, fp, name)
		return exitFailure
	}

	out := env.Stdout
	fmt.Fprintf(out, "Valid consultation record %s, signed by a key you trust\n", r.ID)
	switch {
	case tr.name != "":
		fmt.Fprintf(out, "  signed by:  %s (%s, key %s)\n", tr.name, tr.source, fp)
	default:
		fmt.Fprintf(out, "  signed by:  key %s (%s)\n", fp, tr.source)
	}
	adviser := r.Host.Name
	if tr.name != "" && tr.name != r.Host.Name {
		adviser += fmt.Sprintf(" (the record's name; you know the key as %q)", tr.name)
	}
	fmt.Fprintf(out, "  adviser:    %s\n", adviser)
	client := r.Client.Name
	if len(r.Client.Key) == ed25519.PublicKeySize {
		client += " (key " + identity.Fingerprint(ed25519.PublicKey(r.Client.Key)) + ")"
	}
	fmt.Fprintf(out, "  client:     %s\n", client)
	fmt.Fprintf(out, "  from/to:    %s – %s\n", r.Start.Format("2006-01-02 15:04:05 MST"), r.End.Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintf(out, "  phrase:     %s\n", r.Phrase)
	fmt.Fprintf(out, "  content:    %d chat messages, %d files, %d consent events\n", len(r.Chat), len(r.Files), len(r.Consents))
	for _, c := range r.Cut {
		// What a size limit left out is part of what the record attests.
		since := ""
		if !c.Since.IsZero() {
			since = ", from " + c.Since.Format("15:04:05 MST") + " on"
		}
		fmt.Fprintf(out, "  not kept:   %s: %d %s entries, %d bytes%s (a size limit was reached)\n", c.From, c.Count, c.What, c.Bytes, since)
	}
	if digest, err := record.Digest(r); err == nil {
		fmt.Fprintf(out, "  digest:     %s (printed in the PDF's footer)\n", digest)
	}
	return verifyPDF(ev, env, r, name, pos[1:])
}

// verifyPDF checks the record's PDF: the one given, else the file beside
// the JSON with the same name ending in .pdf, if there is one. The
// signature covers the JSON only; the PDF counts if it is byte for byte
// what the record renders to.
func verifyPDF(ev *events, env Env, r record.Record, jsonName string, given []string) int {
	out := env.Stdout
	var pdfName string
	switch {
	case len(given) == 1:
		pdfName = given[0]
	case strings.HasSuffix(jsonName, ".json"):
		pdfName = strings.TrimSuffix(jsonName, ".json") + ".pdf"
		if _, err := os.Stat(pdfName); errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(out, "  pdf:        none beside the record (the signature covers the JSON only)\n")
			return exitOK
		}
	default:
		fmt.Fprintf(out, "  pdf:        not checked (the signature covers the JSON only)\n")
		return exitOK
	}
	doc, err := os.ReadFile(pdfName)
	if err != nil {
		return fail(ev, env, err)
	}
	switch err := record.CheckPDF(r, doc); {
	case errors.Is(err, record.ErrPDFMismatch):
		fmt.Fprintf(out, "  pdf:        %s is NOT this record's PDF\n", pdfName)
		fmt.Fprintf(env.Stderr, "direkt: %s is not the PDF of this record: it was changed, or made by a version of direkt other than this one (%s). The signed JSON is what counts.\n", pdfName, softwareOr(r.Software))
		return exitFailure
	case err != nil:
		return fail(ev, env, err)
	}
	fmt.Fprintf(out, "  pdf:        %s is this record's PDF (same bytes)\n", pdfName)
	return exitOK
}

func softwareOr(s string) string {
	if s == "" {
		return "the record does not say which"
	}
	return "the record was made by " + s
}

// trustOf looks key up in what the user trusts: their own identity, the
// known peers and hosts of the data folder (--data, else the default), and
// the fingerprints given with --key. Lists that cannot be read are reported
// in warnings and trust nothing.
func trustOf(env Env, data string, key ed25519.PublicKey, given []string) (trust, bool, []string) {
	var warnings []string
	dir := env.Getenv("DIREKT_HOME")
	var err error
	if dir == "" {
		dir, err = identity.Dir()
	}
	if err == nil {
		var own ed25519.PrivateKey
		own, err = identity.Load(dir)
		if err == nil && key.Equal(own.Public()) {
			return trust{source: "your own key"}, true, nil
		}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		warnings = append(warnings, fmt.Sprintf("your own key is not trusted: %s", sentence(err)))
	}
	var derr error
	if data == "" {
		data, derr = app.DataDir(env.Getenv)
	}
	if derr == nil {
		for _, l := range []struct{ file, source string }{
			{known.HostsFile, "a known host"},
			{known.PeersFile, "a known client"},
		} {
			st, err := known.Open(data, l.file)
			if err != nil {
				warnings = append(warnings, fmt.Sprintf("the keys of %s are not trusted: %s", l.file, sentence(err)))
				continue
			}
			if p, ok := st.Get(key); ok {
				return trust{name: p.Name, source: l.source}, true, warnings
			}
		}
	} else {
		warnings = append(warnings, fmt.Sprintf("known peers are not trusted: %s", sentence(derr)))
	}
	fp := identity.Fingerprint(key)
	for _, g := range given {
		if g == fp {
			return trust{source: "given with --key"}, true, warnings
		}
	}
	return trust{}, false, warnings
}
