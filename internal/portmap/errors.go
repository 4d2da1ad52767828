package portmap

import (
	"errors"
	"fmt"
)

// Errors returned by the package. They are wrapped with context; test for
// them with errors.Is.
var (
	// ErrNoGateway means no gateway was found for the local address: the
	// interface that holds it has no default route.
	ErrNoGateway = errors.New("portmap: no gateway for the local address")

	// ErrUnsupported means the gateway does not offer the protocol: it did
	// not answer, answered "unsupported version" or "unsupported opcode", or
	// (UPnP) has no WANIPConnection or WANPPPConnection service.
	ErrUnsupported = errors.New("portmap: gateway does not offer port mapping")

	// ErrRefused means the gateway understood the request and refused it
	// (not authorised, out of resources, a UPnP fault). The error's text
	// carries the gateway's result code.
	ErrRefused = errors.New("portmap: gateway refused the mapping")

	// ErrMalformed means a reply broke the protocol: wrong size, opcode,
	// nonce, port or address, or unparsable XML. Such replies are dropped;
	// this error is returned when nothing better arrived.
	ErrMalformed = errors.New("portmap: malformed reply")

	// ErrConfig means Config or the local address was unusable.
	ErrConfig = errors.New("portmap: invalid configuration")
)

// resultError is a gateway's refusal with its protocol-specific code. kind
// is ErrRefused or ErrUnsupported.
type resultError struct {
	proto Protocol
	code  int
	text  string
	kind  error
}

func (e *resultError) Error() string {
	if e.text != "" {
		return fmt.Sprintf("portmap: %s: result %d (%s)", e.proto, e.code, e.text)
	}
	return fmt.Sprintf("portmap: %s: result %d", e.proto, e.code)
}

func (e *resultError) Unwrap() error {
	if e.kind == nil {
		return ErrRefused
	}
	return e.kind
}
