package mailbox

import (
	"context"
	"fmt"

	"github.com/direkt/direkt/internal/wire"
)

// Known peers (docs/protocol.md section 8): a host listens on the rejoin
// channels of its known peers, a client dials one, and the host answers
// the ring on a new connection.

// Listen makes c a listener on channels, the complete set (it replaces the
// set of an earlier Listen; an empty set listens on nothing). It returns
// once the frame is written: the server's "listening" acknowledgement, and
// later its "ring" and "hangup" frames, arrive through Next, in order. A
// connection that listens cannot Allocate, Claim, DialChannel or Answer,
// and one that did cannot Listen (ErrState).
func (c *Conn) Listen(ctx context.Context, channels []string) error {
	c.mu.Lock()
	if c.bound {
		c.mu.Unlock()
		return fmt.Errorf("%w: listen on a mailbox connection", ErrState)
	}
	c.listening = true
	c.mu.Unlock()
	return c.send(ctx, wire.Frame{Type: wire.TypeListen, Channels: channels})
}

// DialChannel calls the host listening on channel and waits until it
// answers; the connection then is side b of a fresh mailbox, whose 16-byte
// id (the CPace sid) it returns. Frames follow through Next as after Claim:
// "paired", then the host's bodies. A channel nobody listens on, and a call
// nobody answers within the server's ring time, return ErrUnavailable; a
// channel that is ringing already returns ErrCrowded.
func (c *Conn) DialChannel(ctx context.Context, channel string) (mailbox []byte, err error) {
	f, err := c.bind(ctx, wire.Frame{Type: wire.TypeDial, Channel: channel}, wire.TypeDialed)
	if err != nil {
		return nil, err
	}
	return f.Mailbox, nil
}

// Answer takes the call ring (the id from a "ring" frame on the listening
// connection) on this fresh connection, which becomes side a of the new
// mailbox; it returns the mailbox id. A ring that is over returns
// ErrUnavailable, one answered already ErrCrowded.
func (c *Conn) Answer(ctx context.Context, ring []byte) (mailbox []byte, err error) {
	f, err := c.bind(ctx, wire.Frame{Type: wire.TypeAnswer, Ring: ring}, wire.TypeAnswered)
	if err != nil {
		return nil, err
	}
	return f.Mailbox, nil
}
