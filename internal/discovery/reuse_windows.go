//go:build windows

package discovery

import "syscall"

// reuseControl sets SO_REUSEADDR, which on Windows alone lets several
// sockets bind UDP 5353 (the Bonjour service and Windows' own mDNS do too).
func reuseControl(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(syscall.Handle(fd), syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
	})
	if err != nil {
		return err
	}
	return serr
}
