// Package session is one connected pair of peers: a pion/webrtc PeerConnection
// set up over an authenticated signalling channel, with labelled byte-stream
// channels for services and a report of the path the connection took.
//
// Services (transfer, consult, screen) use Session and Channel only; they never
// touch pion. session imports wire (signalling message types) and nothing else
// of direkt's.
package session

import (
	"context"

	"github.com/direkt/direkt/internal/wire"
)

// Signaller carries sealed signalling messages to the other peer and back. It
// is implemented by pairing (sealed frames over the rendezvous mailbox). Send
// and Recv may be called concurrently with each other, but each only from one
// goroutine at a time. Recv returns messages in the order the peer sent them.
type Signaller interface {
	Send(ctx context.Context, s wire.Signal) error
	Recv(ctx context.Context) (wire.Signal, error)
}
