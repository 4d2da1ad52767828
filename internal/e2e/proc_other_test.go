//go:build !linux

package e2e

import "syscall"

// procAttr: only Linux can tie a child's life to its parent's.
func procAttr() *syscall.SysProcAttr { return nil }

// removeStaleNamespaces: network namespaces are Linux only.
func removeStaleNamespaces() {}
