//go:build !linux

package session

import "net/netip"

// Elsewhere the TTL is a socket option: a low-TTL send sets it, sends and
// restores it, while ttlMu keeps every other send on the socket out.

// writeTTL sends b to addr with the given TTL.
func writeTTL(c *punchConn, b []byte, addr netip.AddrPort, ttl int) error {
	return writeTTLSockopt(c, b, addr, ttl)
}

// writeNormal sends b to addr with the socket's TTL.
func (c *punchConn) writeNormal(b []byte, addr netip.AddrPort) (int, error) {
	c.ttlMu.RLock()
	defer c.ttlMu.RUnlock()
	return c.conn.WriteToUDPAddrPort(b, addr)
}
