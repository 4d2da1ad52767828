//go:build windows

package transfer

import (
	"errors"
	"syscall"
)

// Windows error codes for a full disk (winerror.h).
const (
	errorHandleDiskFull syscall.Errno = 39
	errorDiskFull       syscall.Errno = 112
	errorDiskQuota      syscall.Errno = 1295
)

// isDiskFull reports the platform's "disk full" and "quota exceeded" errors.
func isDiskFull(err error) bool {
	return errors.Is(err, errorHandleDiskFull) || errors.Is(err, errorDiskFull) || errors.Is(err, errorDiskQuota)
}
