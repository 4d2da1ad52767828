package mailbox

import (
	"errors"

	"github.com/direkt/direkt/internal/wire"
)

// Sentinels for the server's error kinds (docs/protocol.md section 3). A
// *ServerError matches the sentinel of its kind with errors.Is.
var (
	// ErrBadRequest: the server did not understand a frame.
	ErrBadRequest = errors.New("mailbox: bad request")
	// ErrUnknownNameplate: the nameplate was never allocated, is used up or
	// has expired; the server deliberately does not say which.
	ErrUnknownNameplate = errors.New("mailbox: unknown nameplate")
	// ErrCrowded: the mailbox already has two peers.
	ErrCrowded = errors.New("mailbox: mailbox is crowded")
	// ErrRateLimited: too many connections, allocations or claims from this
	// address; also returned by Dial when the server refuses the upgrade
	// with HTTP 429.
	ErrRateLimited = errors.New("mailbox: rate limited")
	// ErrTooLarge: a frame or body exceeded the protocol's size limits.
	// Add returns it before sending a body larger than wire.MaxBody.
	ErrTooLarge = errors.New("mailbox: too large")
	// ErrTooMany: this side has added wire.MaxBodiesPerSide bodies already.
	ErrTooMany = errors.New("mailbox: too many bodies")
	// ErrExpired: the mailbox timed out.
	ErrExpired = errors.New("mailbox: expired")
	// ErrInternal: the server failed.
	ErrInternal = errors.New("mailbox: server internal error")
	// ErrUnavailable: nobody listens on the dialled channel (or nobody
	// answered in time), or the answered ring is over; the server does not
	// say which (docs/protocol.md section 8).
	ErrUnavailable = errors.New("mailbox: unavailable")
	// ErrUnknownMailbox: a reopen found no mailbox to go back to — it
	// ended, its grace period passed, or the token is wrong; the server
	// does not say which (docs/protocol.md section 3).
	ErrUnknownMailbox = errors.New("mailbox: unknown mailbox")
)

var (
	// ErrClosed is returned once the connection has ended: after Close, or
	// when the server closed the WebSocket (always after a "closed" or
	// "error" frame).
	ErrClosed = errors.New("mailbox: connection closed")
	// ErrProtocol is returned when the server breaks the protocol: a wrong
	// subprotocol or version, an unexpected or malformed frame.
	ErrProtocol = errors.New("mailbox: protocol violation by server")
	// ErrState is returned for a call that does not fit the connection's
	// state, such as a second Allocate, an Add before Allocate or Claim, or
	// Listen on a connection that is in a mailbox.
	ErrState = errors.New("mailbox: call out of order")
)

var kindErrors = map[string]error{
	wire.ErrKindBadRequest:       ErrBadRequest,
	wire.ErrKindUnknownNameplate: ErrUnknownNameplate,
	wire.ErrKindCrowded:          ErrCrowded,
	wire.ErrKindRateLimited:      ErrRateLimited,
	wire.ErrKindTooLarge:         ErrTooLarge,
	wire.ErrKindTooMany:          ErrTooMany,
	wire.ErrKindExpired:          ErrExpired,
	wire.ErrKindInternal:         ErrInternal,
	wire.ErrKindUnavailable:      ErrUnavailable,
	wire.ErrKindUnknownMailbox:   ErrUnknownMailbox,
}

// ServerError is an "error" frame from the server. The server closes the
// connection after sending it.
type ServerError struct {
	Kind    string // one of the wire.ErrKind* constants (or an unknown kind from a newer server)
	Message string // the server's explanation, for people
}

func (e *ServerError) Error() string {
	if e.Message == "" {
		return "mailbox: server error: " + e.Kind
	}
	return "mailbox: server error: " + e.Kind + ": " + e.Message
}

// Is reports whether target is the sentinel for e.Kind.
func (e *ServerError) Is(target error) bool {
	s, ok := kindErrors[e.Kind]
	return ok && s == target
}
