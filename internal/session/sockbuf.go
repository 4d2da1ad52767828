package session

import (
	"net"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
)

// socketBuffer is the UDP send and receive buffer asked for on ICE sockets.
// The kernel default (about 208 KiB on Linux) overflows at the start of a bulk
// transfer: dropped packets then stall SCTP for its 1 s retransmission timeout
// and restart it from a one-packet window. The kernel caps the request at
// net.core.rmem_max/wmem_max; asking is best effort, as quic-go does.
const socketBuffer = 4 << 20

// bufferedNet is the real network with larger UDP socket buffers.
type bufferedNet struct {
	transport.Net
}

func newBufferedNet() (transport.Net, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, err
	}
	return bufferedNet{n}, nil
}

type buffered interface {
	SetReadBuffer(int) error
	SetWriteBuffer(int) error
}

func grow(c any) {
	if b, ok := c.(buffered); ok {
		_ = b.SetReadBuffer(socketBuffer)
		_ = b.SetWriteBuffer(socketBuffer)
	}
}

func (n bufferedNet) ListenPacket(network, address string) (net.PacketConn, error) {
	c, err := n.Net.ListenPacket(network, address)
	if err == nil {
		grow(c)
	}
	return c, err
}

func (n bufferedNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err == nil {
		grow(c)
	}
	return c, err
}
