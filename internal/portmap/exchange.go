package portmap

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// exchange sends req to server over UDP from the local address and hands
// every reply to accept until accept returns nil. It retransmits, doubling
// the interval from first, until ctx ends (RFC 6886, section 3.1). A reply
// accept rejects is dropped and the wait goes on; when ctx ends, the last
// rejection is returned, or ErrUnsupported if nothing answered.
//
// The socket is connected, so the kernel delivers only the server's
// datagrams and reports an ICMP port unreachable, which means the gateway
// runs no such server.
func exchange(ctx context.Context, local netip.Addr, server netip.AddrPort, req []byte, first time.Duration, accept func([]byte) error) error {
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)), net.UDPAddrFromAddrPort(server))
	if err != nil {
		return fmt.Errorf("portmap: socket to %v: %w", server, err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()

	var rejected error
	buf := make([]byte, maxReply+1)
	interval := first
	for {
		if _, err := c.Write(req); err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return fmt.Errorf("%w: %v refused the request", ErrUnsupported, server)
			}
			return fmt.Errorf("portmap: send to %v: %w", server, err)
		}
		next := time.Now().Add(interval)
		interval *= 2
		for {
			if ctx.Err() != nil {
				return noAnswer(ctx, server, rejected)
			}
			_ = c.SetReadDeadline(next)
			if ctx.Err() != nil { // raced with AfterFunc's deadline
				return noAnswer(ctx, server, rejected)
			}
			n, err := c.Read(buf)
			if err != nil {
				if errors.Is(err, syscall.ECONNREFUSED) {
					return fmt.Errorf("%w: %v refused the request", ErrUnsupported, server)
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break // retransmit, or give up if ctx ended
				}
				return fmt.Errorf("portmap: read from %v: %w", server, err)
			}
			aerr := accept(buf[:n])
			if aerr == nil {
				return nil
			}
			if errors.Is(aerr, ErrRefused) || errors.Is(aerr, ErrUnsupported) {
				// The gateway's own verdict on our request.
				return aerr
			}
			rejected = aerr
		}
	}
}

func noAnswer(ctx context.Context, server netip.AddrPort, rejected error) error {
	if rejected != nil {
		return rejected
	}
	return fmt.Errorf("%w: no answer from %v: %w", ErrUnsupported, server, context.Cause(ctx))
}

// epochTracker checks the server's epoch (seconds since its mapping table
// was reset) against the local clock: RFC 6886, section 3.6 and RFC 6887,
// section 8.5. An epoch that goes backwards or drifts from the local clock
// by more than the allowed slack means the gateway restarted and lost its
// mappings.
type epochTracker struct {
	have   bool
	server uint32
	client time.Time
}

// observe records a reply's epoch received at now and reports whether it is
// consistent with the previous one (always true for the first).
func (e *epochTracker) observe(epoch uint32, now time.Time) bool {
	ok := true
	if e.have {
		ok = epochConsistent(e.server, e.client, epoch, now)
	}
	e.have, e.server, e.client = true, epoch, now
	return ok
}

// epochConsistent implements the check of RFC 6887, section 8.5: the
// server's clock may not go back by more than a second, and the two
// elapsed times may differ by at most 2 s plus 1/16.
func epochConsistent(prevServer uint32, prevClient time.Time, server uint32, client time.Time) bool {
	if uint64(server)+1 < uint64(prevServer) {
		return false
	}
	sd := int64(server) - int64(prevServer)
	cd := int64(client.Sub(prevClient) / time.Second)
	if cd < 0 {
		cd = 0
	}
	if cd+2 < sd-sd/16 || sd+2 < cd-cd/16 {
		return false
	}
	return true
}
