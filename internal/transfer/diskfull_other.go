//go:build !unix && !windows

package transfer

// isDiskFull has no way to tell on this platform.
func isDiskFull(error) bool { return false }
