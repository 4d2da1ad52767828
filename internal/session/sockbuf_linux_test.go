package session

import (
	"net"
	"syscall"
	"testing"
)

// TestBufferedNetGrowsSockets checks the ICE sockets really get larger
// buffers than the kernel default.
func TestBufferedNetGrowsSockets(t *testing.T) {
	n, err := newBufferedNet()
	if err != nil {
		t.Fatal(err)
	}
	c, err := n.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	plain, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	got, def := rcvbuf(t, c.(syscall.Conn)), rcvbuf(t, plain)
	t.Logf("receive buffer %d bytes (default %d)", got, def)
	if got <= def {
		t.Skipf("kernel kept the default receive buffer (%d); net.core.rmem_max too small to grow it", def)
	}
}

func rcvbuf(t *testing.T, c syscall.Conn) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		n, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	}); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return n
}
