package wire

import "errors"

var (
	// ErrMalformed means a frame, body or message does not have the shape
	// docs/protocol.md gives it: a wrong length, bad JSON, a missing or
	// out-of-range field.
	ErrMalformed = errors.New("wire: malformed message")

	// ErrTooLarge means a mailbox frame is over MaxFrame, a body over
	// MaxBody, or a field over its limit (MaxSDP, MaxCandidate, …).
	ErrTooLarge = errors.New("wire: message too large")

	// ErrVersion means a pairing frame carries a protocol version other
	// than Version.
	ErrVersion = errors.New("wire: unsupported protocol version")

	// ErrUnknownType means a pairing frame kind, mailbox frame type or
	// signal type that protocol version 1 does not define.
	ErrUnknownType = errors.New("wire: unknown message type")

	// ErrSequence means a sealed frame's sequence number is not the next
	// expected one: it was replayed, reordered or one was skipped
	// (docs/protocol.md, section 4.3). The pairing must end.
	ErrSequence = errors.New("wire: unexpected sequence number")

	// ErrAuth means a sealed frame did not authenticate: it was tampered
	// with, or the peers do not share a key. The pairing must end.
	ErrAuth = errors.New("wire: message authentication failed")

	// ErrBroken is returned by every Open after one has failed: a sealed
	// channel is unusable after its first bad frame. The first failure is
	// wrapped alongside it.
	ErrBroken = errors.New("wire: sealed channel broken by an earlier failure")

	// ErrKeySize means DeriveKeys got an ISK that is not ISKSize bytes, or
	// RejoinChannel a token that is not TokenSize bytes.
	ErrKeySize = errors.New("wire: wrong key size")
)
