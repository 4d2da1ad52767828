package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/transfer"
)

// Exit codes (README, "Exit codes").
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitBadCode = 3
)

// errInterrupted marks a command stopped by the user (its context ended).
var errInterrupted = errors.New("interrupted")

// usageError is a mistake on the command line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(msg string) error { return &usageError{msg} }

// classify maps an error to its --json kind and the process exit code.
func classify(err error) (kind string, exit int) {
	var ue *usageError
	switch {
	case errors.Is(err, errInterrupted):
		return KindInterrupted, exitFailure
	case errors.As(err, &ue):
		return KindUsage, exitUsage
	case errors.Is(err, code.ErrEmpty), errors.Is(err, code.ErrNameplate),
		errors.Is(err, code.ErrWordCount), errors.Is(err, code.ErrUnknownWord):
		// Caught before it reached the server: nothing is burned, but to a
		// script it is the same mistake as a code the other side refused.
		return KindBadCode, exitBadCode
	case errors.Is(err, pairing.ErrBadCode), errors.Is(err, pairing.ErrUnknownCode):
		return KindBadCode, exitBadCode
	case errors.Is(err, pairing.ErrCrowded), errors.Is(err, pairing.ErrRefused),
		errors.Is(err, pairing.ErrTampered), errors.Is(err, session.ErrBinding),
		errors.Is(err, session.ErrDTLS), errors.Is(err, session.ErrProtocol),
		errors.Is(err, transfer.ErrRejected), errors.Is(err, transfer.ErrProtocol):
		return KindRefused, exitFailure
	case errors.Is(err, pairing.ErrExpired), errors.Is(err, context.DeadlineExceeded):
		return KindTimeout, exitFailure
	case errors.Is(err, pairing.ErrUnreachable), errors.Is(err, session.ErrICEFailed),
		errors.Is(err, session.ErrSignalling), errors.Is(err, errNoLocalServer):
		return KindUnreachable, exitFailure
	case errors.Is(err, transfer.ErrDiskFull), errors.Is(err, transfer.ErrHashMismatch),
		errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return KindIO, exitFailure
	case errors.Is(err, pairing.ErrPeerGone), errors.Is(err, transfer.ErrPeerGone),
		errors.Is(err, transfer.ErrPeerAborted), errors.Is(err, session.ErrPeerClosed),
		errors.Is(err, session.ErrClosed):
		return KindUnreachable, exitFailure
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return KindUnreachable, exitFailure
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return KindIO, exitFailure
	}
	return KindIO, exitFailure
}

// sentence is the one line a person reads for err.
func sentence(err error) string {
	switch {
	case errors.Is(err, pairing.ErrBadCode):
		return "wrong code: the two sides did not use the same code. This code is now used up; start again with a new one."
	case errors.Is(err, pairing.ErrUnknownCode):
		return "no such code: it was mistyped, has expired, or was already used."
	case errors.Is(err, pairing.ErrCrowded):
		return "this code is already in use by two other peers."
	case errors.Is(err, pairing.ErrTampered), errors.Is(err, session.ErrBinding), errors.Is(err, session.ErrDTLS):
		return "the connection was tampered with on the way; nothing was transferred. " + err.Error()
	case errors.Is(err, pairing.ErrUnreachable):
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Err != nil {
			return fmt.Sprintf("cannot reach the rendezvous server: %v.", rootCause(oe.Err))
		}
		return err.Error()
	case errors.Is(err, transfer.ErrPeerGone):
		return "the connection to the other side was lost during the transfer; what arrived is kept, and running the same commands again resumes it."
	case errors.Is(err, session.ErrICEFailed):
		return "no network path to the other side was found (neither direct nor through the relay)."
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out: " + err.Error()
	case errors.Is(err, errInterrupted):
		return "interrupted."
	}
	return err.Error()
}

// rootCause is the innermost error of a chain ("connection refused").
func rootCause(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}
