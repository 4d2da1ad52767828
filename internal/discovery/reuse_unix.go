//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package discovery

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// reuseControl lets several sockets bind UDP 5353 at once: avahi sets
// SO_REUSEADDR, mDNSResponder and other direkt processes SO_REUSEPORT, and a
// socket that sets both shares the port with either kind. Multicast datagrams
// are delivered to every socket bound to the port.
func reuseControl(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); serr != nil {
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
