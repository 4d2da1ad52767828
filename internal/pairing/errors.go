package pairing

import "errors"

var (
	// ErrBadCode means the two sides used different codes: key confirmation
	// failed (or the other side reported that it did). The nameplate is burned.
	ErrBadCode = errors.New("wrong code")
	// ErrUnknownCode means the server knows no such nameplate: mistyped,
	// expired or already used.
	ErrUnknownCode = errors.New("no such code on the server (mistyped, expired or already used)")
	// ErrCrowded means two peers already use this code.
	ErrCrowded = errors.New("this code is already in use by two peers")
	// ErrExpired means the mailbox timed out on the server.
	ErrExpired = errors.New("the code expired")
	// ErrRefused means the server refused the request (rate limit).
	ErrRefused = errors.New("the server refused the request")
	// ErrUnreachable means the rendezvous server could not be reached.
	ErrUnreachable = errors.New("cannot reach the rendezvous server")
	// ErrTampered means a frame failed authentication or broke the protocol:
	// someone between the peers changed it.
	ErrTampered = errors.New("signalling was tampered with")
	// ErrPeerGone means the other side left.
	ErrPeerGone = errors.New("the other side left")
	// ErrClosed means the pair was closed locally.
	ErrClosed = errors.New("pairing closed")
	// ErrUnavailable means a known host cannot be reached without a code:
	// it is offline, does not know this peer (any more), did not answer in
	// time, or a call to it is already ringing; the server deliberately
	// does not say which (docs/protocol.md, section 8). For a host
	// answering a ring it means the call is over.
	ErrUnavailable = errors.New("the host is not available for reconnection")
)
