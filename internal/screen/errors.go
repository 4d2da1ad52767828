package screen

import (
	"errors"
	"fmt"
	"net"
)

// Errors of Page.
var (
	// ErrTooLarge: the page's offer is over MaxSDP.
	ErrTooLarge = errors.New("screen: offer too large")
	// ErrOffer: the page's offer is not a usable SDP offer with a video
	// m-line that has VP8.
	ErrOffer = errors.New("screen: bad offer")
	// ErrClosed: the Service was closed. It wraps net.ErrClosed.
	ErrClosed = fmt.Errorf("screen: service closed: %w", net.ErrClosed)
)
