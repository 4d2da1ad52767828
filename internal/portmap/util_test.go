package portmap

import (
	"encoding/binary"
	"strconv"
)

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

func isLittleEndian() bool {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	return b[0] == 1
}
