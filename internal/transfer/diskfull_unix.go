//go:build unix

package transfer

import (
	"errors"
	"syscall"
)

// isDiskFull reports ENOSPC and EDQUOT.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
