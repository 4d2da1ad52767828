package session

import (
	"errors"
	"net/netip"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// writeTTLSockopt sends b to addr with the given TTL by setting the socket's
// TTL (IPv6: unicast hop limit) around the send, holding c.ttlMu exclusively
// meanwhile. It is the portable way (ttl_other.go); Linux has a per-packet
// one, and tests run this one there too.
func writeTTLSockopt(c *punchConn, b []byte, addr netip.AddrPort, ttl int) error {
	c.ttlMu.Lock()
	defer c.ttlMu.Unlock()
	p4 := ipv4.NewConn(c.conn)
	get, set := p4.TTL, p4.SetTTL
	if !c.v4 {
		p6 := ipv6.NewConn(c.conn)
		get, set = p6.HopLimit, p6.SetHopLimit
	}
	old, err := get()
	if err != nil {
		return err
	}
	if err := set(ttl); err != nil {
		return err
	}
	_, werr := c.conn.WriteToUDPAddrPort(b, addr)
	if err := set(old); err != nil {
		// The socket keeps the low TTL: its checks will not reach the peer
		// and ICE falls back to another pair or the relay.
		return errors.Join(werr, err)
	}
	return werr
}
