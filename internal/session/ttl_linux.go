package session

import (
	"encoding/binary"
	"net/netip"
	"syscall"
	"unsafe"
)

// Linux takes the TTL (IPv6: hop limit) of a single datagram as a control
// message (ip(7) IP_TTL, ipv6(7) IPV6_HOPLIMIT), so a low-TTL send needs no
// lock and never touches the socket's own TTL.

// writeTTL sends b to addr with the given TTL.
func writeTTL(c *punchConn, b []byte, addr netip.AddrPort, ttl int) error {
	_, _, err := c.conn.WriteMsgUDPAddrPort(b, ttlControl(c.v4, ttl), addr)
	return err
}

// writeNormal sends b to addr with the socket's TTL.
func (c *punchConn) writeNormal(b []byte, addr netip.AddrPort) (int, error) {
	return c.conn.WriteToUDPAddrPort(b, addr)
}

// ttlControl builds the control message that sets one datagram's TTL.
func ttlControl(v4 bool, ttl int) []byte {
	level, typ := syscall.IPPROTO_IP, syscall.IP_TTL
	if !v4 {
		level, typ = syscall.IPPROTO_IPV6, syscall.IPV6_HOPLIMIT
	}
	b := make([]byte, syscall.CmsgSpace(4))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level = int32(level)
	h.Type = int32(typ)
	h.SetLen(syscall.CmsgLen(4))
	binary.NativeEndian.PutUint32(b[syscall.CmsgLen(0):], uint32(ttl))
	return b
}
