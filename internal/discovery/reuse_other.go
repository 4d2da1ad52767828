//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly || windows)

package discovery

import "syscall"

// reuseControl does nothing where port sharing is not known to work; the
// first process to bind 5353 owns it there.
func reuseControl(_, _ string, _ syscall.RawConn) error { return nil }
