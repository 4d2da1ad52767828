package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// Validation of sealed signalling messages (docs/protocol.md, section 4.3).
// A peer that knows the key can still send nonsense, so every decoded
// Signal is checked before anyone acts on it, and Seal checks ours so that we
// never send what a peer would refuse.

// HelloVersion is the only value of a hello's "v" in protocol version 1.
const HelloVersion = 1

// Values of a hello's "app" field.
const (
	AppSend    = "send"
	AppConsult = "consult"
)

// ScreenVersion is the version of screen sharing (docs/screen.md) this
// package speaks: a hello's "screen" is 0 (cannot) or at least 1 (can).
const ScreenVersion = 1

// MaxScreen bounds a hello's "screen": a later version may say more than 1,
// but never more than a byte.
const MaxScreen = 255

// CanScreen reports whether a hello says its sender can show and share a
// screen (docs/screen.md, "Negotiation").
func (s Signal) CanScreen() bool { return s.T == SignalHello && s.Screen >= ScreenVersion }

// Values of a hello's "path" field (the sender's --path choice).
const (
	PathAuto   = "auto"
	PathDirect = "direct"
	PathRelay  = "relay"
)

// Field limits of signals, in bytes.
const (
	// MaxSDP bounds an offer's or answer's SDP. A data-channel-only
	// session description is about 1 KiB; the limit leaves room for
	// non-trickled candidates and still fits a sealed body (MaxBody).
	MaxSDP = 12 << 10
	// MaxCandidate bounds a candidate line; real ones are under 300 bytes.
	MaxCandidate = 1024
	// MaxMid bounds a candidate's media stream id.
	MaxMid = 64
	// MaxName bounds a hello's display name.
	MaxName = 128
	// MaxReason bounds a bye's reason.
	MaxReason = 256
	// IDSize is the size of a hello's id, an Ed25519 public key.
	IDSize = 32
)

// Validate checks that s is a well-formed signal of a known type, looking
// only at the fields of its type. It returns ErrUnknownType for an unknown
// "t", ErrTooLarge for a field over its limit and ErrMalformed otherwise.
func (s Signal) Validate() error {
	switch s.T {
	case SignalHello:
		if s.V != HelloVersion {
			return fmt.Errorf("%w: hello v = %d, want %d", ErrMalformed, s.V, HelloVersion)
		}
		if len(s.Name) > MaxName {
			return fmt.Errorf("%w: hello name of %d bytes", ErrTooLarge, len(s.Name))
		}
		if !validText(s.Name) {
			return fmt.Errorf("%w: hello name is not printable UTF-8", ErrMalformed)
		}
		if s.ID != nil && len(s.ID) != IDSize {
			return fmt.Errorf("%w: hello id of %d bytes, want %d", ErrMalformed, len(s.ID), IDSize)
		}
		switch s.App {
		case "", AppSend, AppConsult:
		default:
			return fmt.Errorf("%w: hello app %q", ErrMalformed, s.App)
		}
		switch s.Path {
		case "", PathAuto, PathDirect, PathRelay:
		default:
			return fmt.Errorf("%w: hello path %q", ErrMalformed, s.Path)
		}
		if s.Screen < 0 || s.Screen > MaxScreen {
			return fmt.Errorf("%w: hello screen %d", ErrMalformed, s.Screen)
		}
	case SignalOffer, SignalAnswer:
		if len(s.SDP) > MaxSDP {
			return fmt.Errorf("%w: sdp of %d bytes", ErrTooLarge, len(s.SDP))
		}
		if s.SDP == "" || !utf8.ValidString(s.SDP) {
			return fmt.Errorf("%w: %s without valid sdp", ErrMalformed, s.T)
		}
	case SignalCand:
		if len(s.Cand) > MaxCandidate {
			return fmt.Errorf("%w: candidate of %d bytes", ErrTooLarge, len(s.Cand))
		}
		// A candidate line is pasted into SDP by some stacks: CR, LF or any
		// other control character could smuggle in extra SDP lines.
		if s.Cand == "" || !printableASCII(s.Cand) {
			return fmt.Errorf("%w: candidate is empty or not printable ASCII", ErrMalformed)
		}
		if s.Mid != nil && (len(*s.Mid) > MaxMid || !printableASCII(*s.Mid)) {
			return fmt.Errorf("%w: candidate mid", ErrMalformed)
		}
	case SignalCandEnd, SignalRestart, SignalReconnect:
	case SignalBye:
		if len(s.Reason) > MaxReason {
			return fmt.Errorf("%w: bye reason of %d bytes", ErrTooLarge, len(s.Reason))
		}
		if !validText(s.Reason) {
			return fmt.Errorf("%w: bye reason is not printable UTF-8", ErrMalformed)
		}
	case SignalProof:
		if len(s.Sig) != SigSize {
			return fmt.Errorf("%w: proof signature of %d bytes, want %d", ErrMalformed, len(s.Sig), SigSize)
		}
	default:
		return fmt.Errorf("%w: signal %q", ErrUnknownType, s.T)
	}
	return nil
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// ParseSignal decodes a signal's JSON plaintext and validates it. Unknown
// JSON fields are ignored, as in the mailbox protocol.
func ParseSignal(data []byte) (Signal, error) {
	if len(data) > MaxBody {
		return Signal{}, fmt.Errorf("%w: signal of %d bytes", ErrTooLarge, len(data))
	}
	var s Signal
	if err := json.Unmarshal(data, &s); err != nil {
		return Signal{}, fmt.Errorf("%w: signal json: %v", ErrMalformed, err)
	}
	if err := s.Validate(); err != nil {
		return Signal{}, err
	}
	return s, nil
}

// Marshal validates s and returns its JSON encoding, the plaintext Seal
// encrypts. The encoding is deterministic: fields in struct order, no
// whitespace, empty fields omitted, and no HTML escaping, so that it matches
// what JavaScript's JSON.stringify produces for the same object (see
// testdata/README.md).
func (s Signal) Marshal() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("wire: encode signal: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
