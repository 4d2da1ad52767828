package cpace

import (
	"crypto/rand"
	"crypto/sha512"
	"fmt"

	"github.com/gtank/ristretto255"
)

const (
	// DSI is the domain-separation identifier of the group ristretto255
	// (draft-irtf-cfrg-cpace, section 8.3).
	DSI = "CPaceRistretto255"

	// SInBytes is SHA-512's input block size, s_in_bytes: the generator
	// string's zero padding fills the first hash block (section 8.1).
	SInBytes = 128

	// PointSize is the size of an encoded ristretto255 element (Ya, Yb).
	PointSize = 32

	// ScalarSize is the size of an encoded scalar.
	ScalarSize = 32

	// ISKSize is the size of ISK, a SHA-512 output.
	ISKSize = sha512.Size
)

// GeneratorString returns lv_cat(DSI, PRS, zero_bytes(len_zpad), CI, sid)
// with len_zpad = max(0, s_in_bytes - 1 - len(prepend_len(PRS)) -
// len(prepend_len(DSI))) (section 8.1, appendix A.2). The padding makes DSI,
// PRS and the zeros fill the first SHA-512 block, so for short passwords the
// amount hashed does not depend on the password's length.
func GeneratorString(prs, ci, sid []byte) []byte {
	zpad := SInBytes - 1 - len(PrependLen(prs)) - len(PrependLen([]byte(DSI)))
	zpad = max(zpad, 0)
	return LVCat([]byte(DSI), prs, make([]byte, zpad), ci, sid)
}

// generator maps the generator string to the group: ristretto255's
// element derivation (one-way map, RFC 9496 section 4.3.4) of the 64-byte
// SHA-512 digest of the generator string (section 8.3).
func generator(prs, ci, sid []byte) *ristretto255.Element {
	h := sha512.Sum512(GeneratorString(prs, ci, sid))
	return ristretto255.NewElement().FromUniformBytes(h[:])
}

// Generator returns the 32-byte encoding of the generator g for the given
// inputs. It exists for test vectors; the protocol functions compute g
// themselves.
func Generator(prs, ci, sid []byte) []byte {
	return generator(prs, ci, sid).Encode(nil)
}

// randomScalar samples a scalar by reducing 64 uniform random bytes modulo
// the group order, the oversample-and-reduce method section 10.7 allows. The
// bias is below 2^-250. Zero is not a valid private key; it is redrawn
// (with probability about 2^-252 it ever happens).
func randomScalar() *ristretto255.Scalar {
	var b [64]byte
	defer clear(b[:])
	zero := ristretto255.NewScalar()
	for {
		rand.Read(b[:]) // never fails since Go 1.24; it crashes the program instead
		s := ristretto255.NewScalar().FromUniformBytes(b[:])
		if s.Equal(zero) == 0 {
			return s
		}
	}
}

// fixedScalar decodes a canonical, non-zero 32-byte little-endian scalar.
func fixedScalar(b []byte) (*ristretto255.Scalar, error) {
	s := ristretto255.NewScalar()
	if len(b) != ScalarSize || s.Decode(b) != nil {
		return nil, ErrInvalidScalar
	}
	if s.Equal(ristretto255.NewScalar()) == 1 {
		return nil, ErrInvalidScalar
	}
	return s, nil
}

// scalarMultVfy is G.scalar_mult_vfy (section 8.3): decode the peer's share
// X, fail if it is not a canonical encoding, and return encode(y * X), failing
// if that is the identity. In a prime-order group with y != 0 the result is
// the identity exactly when X is, so this also rejects an identity share.
func scalarMultVfy(y *ristretto255.Scalar, x []byte) ([]byte, error) {
	p, err := decodePoint(x)
	if err != nil {
		return nil, err
	}
	k := ristretto255.NewElement().ScalarMult(y, p)
	if k.Equal(ristretto255.NewElement()) == 1 {
		return nil, ErrIdentity
	}
	return k.Encode(nil), nil
}

// decodePoint decodes a canonical ristretto255 encoding (RFC 9496, section
// 4.3.1); anything else, including a wrong length, is ErrInvalidPoint.
func decodePoint(x []byte) (*ristretto255.Element, error) {
	p := ristretto255.NewElement()
	if err := p.Decode(x); err != nil {
		return nil, ErrInvalidPoint
	}
	return p, nil
}

// deriveISK is ISK = SHA-512(lv_cat(DSI || "_ISK", sid, K) || transcript)
// (section 7.2).
func deriveISK(sid, k, transcript []byte) []byte {
	h := sha512.New()
	h.Write(LVCat([]byte(DSI+"_ISK"), sid, k))
	h.Write(transcript)
	return h.Sum(nil)
}

// Initiator is the state of peer a between Start and Finish. It is good for
// one run and not safe for concurrent use.
type Initiator struct {
	y        *ristretto255.Scalar // nil once finished
	sid, ada []byte
	ya       []byte
}

// Start begins CPace as initiator with a fresh random scalar. It returns the
// state and Ya (32 bytes), which is sent to the responder together with ADa
// (section 7.2). prs must not be empty; ci, sid and ada may be (the draft
// defaults them to the empty string).
func Start(prs, ci, sid, ada []byte) (*Initiator, []byte, error) {
	return start(prs, ci, sid, ada, randomScalar())
}

// StartWithScalar is Start with the fixed scalar ya (32 bytes, canonical
// little-endian, non-zero). It is for test vectors only: a reused or
// predictable scalar gives away the password to an offline attack.
func StartWithScalar(prs, ci, sid, ada, ya []byte) (*Initiator, []byte, error) {
	y, err := fixedScalar(ya)
	if err != nil {
		return nil, nil, err
	}
	return start(prs, ci, sid, ada, y)
}

func start(prs, ci, sid, ada []byte, y *ristretto255.Scalar) (*Initiator, []byte, error) {
	if len(prs) == 0 {
		return nil, nil, ErrEmptyPassword
	}
	ya := ristretto255.NewElement().ScalarMult(y, generator(prs, ci, sid)).Encode(nil)
	i := &Initiator{
		y:   y,
		sid: append([]byte(nil), sid...),
		ada: append([]byte(nil), ada...),
		ya:  ya,
	}
	return i, append([]byte(nil), ya...), nil
}

// Finish takes the responder's share Yb and associated data ADb and returns
// ISK (64 bytes). It fails with ErrInvalidPoint if Yb does not decode and with
// ErrIdentity if the shared point is the identity; either way the run must be
// aborted. Finish consumes the state: a second call returns ErrFinished.
func (i *Initiator) Finish(yb, adb []byte) ([]byte, error) {
	if i.y == nil {
		return nil, ErrFinished
	}
	y := i.y
	i.y = nil
	defer y.Zero()
	k, err := scalarMultVfy(y, yb)
	if err != nil {
		return nil, fmt.Errorf("%w in the responder's share", err)
	}
	return deriveISK(i.sid, k, TranscriptIR(i.ya, i.ada, yb, adb)), nil
}

// Respond runs the responder's side in one step (section 7.2): it computes Yb
// from a fresh random scalar and, from the initiator's Ya and ADa, ISK. It
// fails with ErrInvalidPoint or ErrIdentity on a bad Ya (then Yb must not be
// sent) and with ErrEmptyPassword on an empty prs.
func Respond(prs, ci, sid, adb, ya, ada []byte) (yb, isk []byte, err error) {
	return respond(prs, ci, sid, adb, ya, ada, randomScalar())
}

// RespondWithScalar is Respond with the fixed scalar yb (32 bytes, canonical
// little-endian, non-zero). It is for test vectors only.
func RespondWithScalar(prs, ci, sid, adb, ya, ada, ybScalar []byte) (yb, isk []byte, err error) {
	y, err := fixedScalar(ybScalar)
	if err != nil {
		return nil, nil, err
	}
	return respond(prs, ci, sid, adb, ya, ada, y)
}

func respond(prs, ci, sid, adb, ya, ada []byte, y *ristretto255.Scalar) (yb, isk []byte, err error) {
	defer y.Zero()
	if len(prs) == 0 {
		return nil, nil, ErrEmptyPassword
	}
	k, err := scalarMultVfy(y, ya)
	if err != nil {
		return nil, nil, fmt.Errorf("%w in the initiator's share", err)
	}
	yb = ristretto255.NewElement().ScalarMult(y, generator(prs, ci, sid)).Encode(nil)
	return yb, deriveISK(sid, k, TranscriptIR(ya, ada, yb, adb)), nil
}
