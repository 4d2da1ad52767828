package e2e

import "syscall"

// procAttr makes the kernel kill a child when the test process dies, so a
// test binary killed by its timeout leaves no direkt processes behind (and
// thus no namespaces kept alive by them).
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
