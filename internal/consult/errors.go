package consult

import "errors"

// Sentinel errors. They are wrapped with context; test with errors.Is.
var (
	// ErrConfig means Config is unusable: no role, no data folder, a
	// language other than "de" or "en", or a name or agent over the limit.
	ErrConfig = errors.New("consult: invalid configuration")

	// ErrProtocol means the peer broke docs/consult.md: a malformed or
	// oversized line, an unknown message type, a message its role may not
	// send, a field over its limit, an unknown id. The consultation ends
	// with it.
	ErrProtocol = errors.New("consult: protocol violation by the peer")

	// ErrConnectionLost means the session ended, or the peer closed the
	// consultation channel, before either side sent "end".
	ErrConnectionLost = errors.New("consult: connection to the peer lost")

	// ErrEnded means the consultation has ended (or is ending); nothing more
	// can be sent.
	ErrEnded = errors.New("consult: consultation ended")

	// ErrRole means the action belongs to the other role (a client cannot
	// ask, a host cannot answer).
	ErrRole = errors.New("consult: not allowed in this role")

	// ErrInvalid means an argument breaks the protocol's limits: an empty
	// or too long chat message or reason, an unusable file name, a size
	// outside 0–4 GiB, a reader that gave more or fewer bytes than size, an
	// unknown consent request.
	ErrInvalid = errors.New("consult: invalid argument")

	// ErrFull means our side's share of the transcript (MaxShare) has no
	// room for this chat message; the consultation goes on.
	ErrFull = errors.New("consult: the transcript is full")

	// ErrUnknownID means no ask or file has that id in this consultation.
	ErrUnknownID = errors.New("consult: unknown id")

	// ErrNotPending means the ask was already answered or withdrawn.
	ErrNotPending = errors.New("consult: consent request is no longer open")

	// ErrNoConsent means the client has not accepted what the action needs
	// (SendRecord without an accepted "record" ask, Share by the host
	// without an accepted "screen" ask).
	ErrNoConsent = errors.New("consult: the client did not consent")
)
