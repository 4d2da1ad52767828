package console

import "errors"

// Errors returned by New, Serve, Close, OpenBrowser and the QR functions. They
// are wrapped with context; test for them with errors.Is.
var (
	// ErrConfig means Config was unusable: a nil Backend, a Lang other than
	// "", "de" or "en", or an Addr that is not host:port.
	ErrConfig = errors.New("console: invalid configuration")

	// ErrNotLoopback means Config.Addr names an address other than a
	// loopback one (127.0.0.0/8, ::1 or localhost). The console must never be
	// reachable from the network.
	ErrNotLoopback = errors.New("console: address is not a loopback address")

	// ErrServed means Serve was called a second time, or after Close.
	ErrServed = errors.New("console: server already served or closed")

	// ErrNoBrowser means OpenBrowser found no program that opened the
	// console, or the console has stopped; the caller prints the URL for
	// the user instead.
	ErrNoBrowser = errors.New("console: no browser could be opened")

	// ErrQR means the text could not be encoded as a QR code (too long) or
	// the requested size was out of range.
	ErrQR = errors.New("console: cannot make a QR code")
)
