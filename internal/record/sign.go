package record

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
	r, p, err := prepare(r)
	if err != nil {
		return nil, err
	}
	return sign(r, p, key)
}

// sign signs the payload p of the prepared record r.
func sign(r Record, p []byte, key ed25519.PrivateKey) ([]byte, error) {
	pub := key.Public().(ed25519.PublicKey)
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
// spelling and Sign's order, with canonical base64; the signature must verify; the payload
// must be a valid record in exactly the canonical form Sign writes (so two
// readers cannot see two different records in one payload). Whitespace
// between the envelope's tokens is allowed, nothing else that Sign would
// not write.
//
// A valid signature proves only that whoever holds the returned key signed
// this record: anyone can make a key and sign a record in any name. The
// caller decides whether it trusts the key (`direkt verify` trusts the
// user's own key, known peers and keys given with --key) and must not take
// Host.Name on the record's word. Digest of the returned record is the
// SHA-256 the record's PDF prints in its footer; CheckPDF checks a PDF.
// Errors wrap ErrTooLarge, ErrMalformed, ErrUnsupported, ErrBadSignature,
// ErrInvalid or ErrWrongKey.
func Verify(data []byte) (Record, ed25519.PublicKey, error) {
	if len(data) > MaxSigned {
		return Record{}, nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(data))
	}
	env, err := parseEnvelope(data)
	if err != nil {
		return Record{}, nil, err
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
	// Unknown, repeated or miscased fields decode without error, but
	// the canonical comparison below refuses them.
	var r Record
	if err := json.Unmarshal(p, &r); err != nil {
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

// parseEnvelope decodes the envelope. Apart from whitespace between
// tokens it must be exactly what Sign writes: the five fields in Sign's
// order, once each, spelled exactly, no escapes Sign would not write
// (encoding/json alone would take "KEY" for "key" and let a second "key"
// win).
func parseEnvelope(data []byte) (envelope, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return envelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var env envelope
	if err := json.Unmarshal(compact.Bytes(), &env); err != nil {
		return envelope{}, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	canon, err := json.Marshal(env)
	if err != nil || !bytes.Equal(canon, compact.Bytes()) {
		return envelope{}, fmt.Errorf("%w: envelope is not in canonical form", ErrMalformed)
	}
	return env, nil
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
