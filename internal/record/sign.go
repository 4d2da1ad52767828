package record

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxSigned bounds the size of a signed record (Verify refuses more; Sign
// does not produce more). A day of chat at the protocol's limits fits.
const MaxSigned = 32 << 20

// alg is the only signature algorithm of version 1.
const alg = "Ed25519"

// envelope is the signed JSON form (docs/consult.md, "The record").
type envelope struct {
	V       int    `json:"v"`
	Alg     string `json:"alg"`
	Key     string `json:"key"`
	Payload string `json:"payload"`
	Sig     string `json:"sig"`
}

// Sign returns the signed JSON form of r, one line ending in "\n":
// {"v":1,"alg":"Ed25519","key":…,"payload":…,"sig":…} with the host's
// public key, the record's JSON and the Ed25519 signature over exactly
// those JSON bytes, each in standard base64.
//
// r is normalized first (see Record) and must be valid; r.Host.Key must be
// key's public half (ErrWrongKey otherwise).
func Sign(r Record, key ed25519.PrivateKey) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key of %d bytes", ErrWrongKey, len(key))
	}
	pub := key.Public().(ed25519.PublicKey)
	r, p, err := prepare(r)
	if err != nil {
		return nil, err
	}
	if !pub.Equal(ed25519.PublicKey(r.Host.Key)) {
		return nil, ErrWrongKey
	}
	out, err := json.Marshal(envelope{
		V:       Version,
		Alg:     alg,
		Key:     base64.StdEncoding.EncodeToString(pub),
		Payload: base64.StdEncoding.EncodeToString(p),
		Sig:     base64.StdEncoding.EncodeToString(ed25519.Sign(key, p)),
	})
	if err != nil {
		return nil, err
	}
	if len(out)+1 > MaxSigned {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(out)+1)
	}
	return append(out, '\n'), nil
}

// Verify checks a signed record and returns the record and the key that
// signed it, which is always the record's Host.Key. It is strict: the
// envelope must have exactly the five fields, once each, in their exact
// spelling, with canonical base64; the signature must verify; the payload
// must be a valid record in exactly the canonical form Sign writes (so two
// readers cannot see two different records in one payload). Whitespace
// around the envelope's tokens is allowed.
//
// For `direkt verify`: the signer is Host (Name, Fingerprint); Digest of the
// returned record is the SHA-256 the record's PDF prints in its footer.
// Errors wrap ErrTooLarge, ErrMalformed, ErrUnsupported, ErrBadSignature,
// ErrInvalid or ErrWrongKey.
func Verify(data []byte) (Record, ed25519.PublicKey, error) {
	if len(data) > MaxSigned {
		return Record{}, nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	var env envelope
	if err := strictDecode(data, &env, envelopeFields); err != nil {
		return Record{}, nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.V != Version || env.Alg != alg {
		return Record{}, nil, fmt.Errorf("%w: v %d, alg %q", ErrUnsupported, env.V, env.Alg)
	}
	key, err1 := decode64(env.Key)
	sig, err2 := decode64(env.Sig)
	p, err3 := decode64(env.Payload)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Record{}, nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(key) != ed25519.PublicKeySize || len(sig) != ed25519.SignatureSize {
		return Record{}, nil, fmt.Errorf("%w: key of %d bytes, signature of %d", ErrMalformed, len(key), len(sig))
	}
	pub := ed25519.PublicKey(key)
	if !ed25519.Verify(pub, p, sig) {
		return Record{}, nil, ErrBadSignature
	}
	// The signer vouches for p, but the signer may be hostile too.
	var r Record
	if err := strictDecode(p, &r, nil); err != nil {
		return Record{}, nil, fmt.Errorf("%w: payload: %v", ErrMalformed, err)
	}
	r = normalize(r)
	if err := validate(r); err != nil {
		return Record{}, nil, err
	}
	canon, err := payload(r)
	if err != nil {
		return Record{}, nil, err
	}
	if !bytes.Equal(canon, p) {
		return Record{}, nil, fmt.Errorf("%w: payload is not in canonical form", ErrMalformed)
	}
	if !pub.Equal(ed25519.PublicKey(r.Host.Key)) {
		return Record{}, nil, ErrWrongKey
	}
	return r, pub, nil
}

var envelopeFields = map[string]bool{"v": true, "alg": true, "key": true, "payload": true, "sig": true}

// strictDecode decodes one JSON object from data into v, refusing unknown
// fields and trailing data. When fields is set, the top-level object must
// have exactly those field names, each once, spelled exactly (encoding/json
// alone would take "KEY" for "key" and let a second "key" win).
func strictDecode(data []byte, v any, fields map[string]bool) error {
	if fields != nil {
		if err := exactFields(data, fields); err != nil {
			return err
		}
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the object")
	}
	return nil
}

// exactFields checks that data is an object with exactly the given fields.
func exactFields(data []byte, fields map[string]bool) error {
	d := json.NewDecoder(bytes.NewReader(data))
	if t, err := d.Token(); err != nil || t != json.Delim('{') {
		return errors.New("not a JSON object")
	}
	seen := make(map[string]bool, len(fields))
	for d.More() {
		t, err := d.Token()
		if err != nil {
			return err
		}
		name, _ := t.(string)
		if !fields[name] || seen[name] {
			return fmt.Errorf("unexpected or repeated field %q", name)
		}
		seen[name] = true
		var skip json.RawMessage
		if err := d.Decode(&skip); err != nil {
			return err
		}
	}
	if len(seen) != len(fields) {
		return errors.New("missing fields")
	}
	return nil
}

// decode64 decodes standard base64 that is exactly what Sign writes (no
// line breaks, canonical padding bits).
func decode64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, err
	}
	if base64.StdEncoding.EncodeToString(b) != s {
		return nil, errors.New("base64 not in canonical form")
	}
	return b, nil
}
