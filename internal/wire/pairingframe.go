package wire

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Pairing frames (docs/protocol.md, section 4): every mailbox body is
// version || kind || payload.

// Version is the protocol version byte that starts every pairing frame.
const Version byte = 1

// Pairing frame kinds.
const (
	KindPakeA    byte = 0x01 // a → b: Ya
	KindPakeB    byte = 0x02 // b → a: Yb || Tb
	KindConfirmA byte = 0x03 // a → b: Ta
	KindSealed   byte = 0x10 // both: seq || AES-256-GCM(signal)
	KindAbort    byte = 0x7f // both: UTF-8 reason, unauthenticated
)

const (
	// PointSize is the size of a CPace share (Ya, Yb).
	PointSize = 32
	// TagSize is the size of a key-confirmation tag (Ta, Tb).
	TagSize = 32
	// MaxAbortReason is the longest abort reason in bytes.
	MaxAbortReason = 256
	// SealedHeaderSize is version, kind and the 8-byte sequence number: the
	// additional data of a sealed frame.
	SealedHeaderSize = 2 + 8
	// gcmTagSize is AES-GCM's authentication tag size.
	gcmTagSize = 16
)

// PairingFrame is a parsed pairing frame. Only the fields of its Kind are
// set: Y for pake-a; Y and T for pake-b; T for confirm-a; Seq and Sealed
// (ciphertext with its GCM tag) for sealed; Reason for abort. The byte slices
// are copies, not views of the parsed body.
type PairingFrame struct {
	Kind   byte
	Y, T   []byte
	Seq    uint64
	Sealed []byte
	Reason string
}

// EncodePakeA returns the pake-a body carrying Ya. It panics if ya is not
// PointSize bytes: the caller passes CPace's output, so anything else is a
// bug, not input.
func EncodePakeA(ya []byte) []byte {
	mustLen("Ya", ya, PointSize)
	return append([]byte{Version, KindPakeA}, ya...)
}

// EncodePakeB returns the pake-b body carrying Yb and Tb. It panics on wrong
// lengths, like EncodePakeA.
func EncodePakeB(yb, tb []byte) []byte {
	mustLen("Yb", yb, PointSize)
	mustLen("Tb", tb, TagSize)
	b := make([]byte, 0, 2+PointSize+TagSize)
	b = append(b, Version, KindPakeB)
	b = append(b, yb...)
	return append(b, tb...)
}

// EncodeConfirmA returns the confirm-a body carrying Ta. It panics on a wrong
// length, like EncodePakeA.
func EncodeConfirmA(ta []byte) []byte {
	mustLen("Ta", ta, TagSize)
	return append([]byte{Version, KindConfirmA}, ta...)
}

// EncodeAbort returns an abort body. The reason is made valid for the wire
// rather than refused, since an abort is sent when things already went
// wrong: invalid UTF-8 and control characters become U+FFFD and the result is
// cut to MaxAbortReason bytes at a character boundary.
func EncodeAbort(reason string) []byte {
	reason = sanitizeText(reason, MaxAbortReason)
	return append([]byte{Version, KindAbort}, reason...)
}

func mustLen(name string, b []byte, n int) {
	if len(b) != n {
		panic(fmt.Sprintf("wire: %s is %d bytes, want %d", name, len(b), n))
	}
}

// ParsePairingFrame parses a mailbox body strictly: the version must be
// Version, the kind known, fixed-size payloads exact, the body at most
// MaxBody bytes, an abort reason valid UTF-8 without control characters. A
// sealed frame is only split here; Opener.Open authenticates it.
func ParsePairingFrame(body []byte) (PairingFrame, error) {
	if len(body) > MaxBody {
		return PairingFrame{}, fmt.Errorf("%w: body of %d bytes", ErrTooLarge, len(body))
	}
	if len(body) < 2 {
		return PairingFrame{}, fmt.Errorf("%w: body of %d bytes", ErrMalformed, len(body))
	}
	if body[0] != Version {
		return PairingFrame{}, fmt.Errorf("%w: %d", ErrVersion, body[0])
	}
	f := PairingFrame{Kind: body[1]}
	p := body[2:]
	exact := func(n int) error {
		if len(p) != n {
			return fmt.Errorf("%w: kind 0x%02x with %d payload bytes, want %d", ErrMalformed, f.Kind, len(p), n)
		}
		return nil
	}
	switch f.Kind {
	case KindPakeA:
		if err := exact(PointSize); err != nil {
			return PairingFrame{}, err
		}
		f.Y = clone(p)
	case KindPakeB:
		if err := exact(PointSize + TagSize); err != nil {
			return PairingFrame{}, err
		}
		f.Y = clone(p[:PointSize])
		f.T = clone(p[PointSize:])
	case KindConfirmA:
		if err := exact(TagSize); err != nil {
			return PairingFrame{}, err
		}
		f.T = clone(p)
	case KindSealed:
		if len(p) < 8+gcmTagSize {
			return PairingFrame{}, fmt.Errorf("%w: sealed frame of %d bytes", ErrMalformed, len(body))
		}
		f.Seq = binary.BigEndian.Uint64(p[:8])
		f.Sealed = clone(p[8:])
	case KindAbort:
		if len(p) > MaxAbortReason {
			return PairingFrame{}, fmt.Errorf("%w: abort reason of %d bytes", ErrTooLarge, len(p))
		}
		if !validText(string(p)) {
			return PairingFrame{}, fmt.Errorf("%w: abort reason is not printable UTF-8", ErrMalformed)
		}
		f.Reason = string(p)
	default:
		return PairingFrame{}, fmt.Errorf("%w: pairing frame kind 0x%02x", ErrUnknownType, f.Kind)
	}
	return f, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// validText reports whether s is valid UTF-8 without control characters.
// Peer-supplied text ends up on terminals and in logs, where control
// characters could rewrite what a person sees.
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

// sanitizeText makes s pass validText and fit into max bytes.
func sanitizeText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
	if len(s) > max {
		s = s[:max]
		// Cutting may split the last character; drop its remaining bytes.
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}
