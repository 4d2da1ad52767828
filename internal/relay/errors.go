package relay

import "errors"

var (
	// ErrNoListener is returned by New when Config has no UDP socket, no
	// TCP listener and no TLS listener.
	ErrNoListener = errors.New("relay: no UDP socket and no TCP or TLS listener")

	// ErrNoPublicIP is returned by New when Config.PublicIP is nil and the
	// listeners are bound to an unspecified address, so the relay address to
	// advertise in allocations cannot be derived.
	ErrNoPublicIP = errors.New("relay: public IP not set and listener address is unspecified")

	// ErrBadConfig is returned by New for a Config field that is out of range.
	ErrBadConfig = errors.New("relay: invalid configuration")

	// ErrClosed is returned when a relay socket is requested from a server
	// that is closing.
	ErrClosed = errors.New("relay: server closed")
)

// Refusals inside the server; pion turns them into STUN error responses.
var (
	// errCapacity: MaxAllocations is reached (508 Insufficient Capacity).
	errCapacity = errors.New("relay: allocation budget spent")
	// errTCPAllocation: RFC 6062 TCP allocations are not offered (508).
	errTCPAllocation = errors.New("relay: TCP allocations (RFC 6062) are not offered")
)
