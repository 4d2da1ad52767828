package relay

import (
	"net"
	"net/netip"
)

// blockedPrefixes are peer ranges a public relay must not reach besides those
// netip classifies itself (loopback, RFC 1918 / RFC 4193 private, link-local,
// unspecified). A TURN server relays to whatever address a client names
// (RFC 8656 section 21.3.1 warns of exactly this), so without the policy any
// client holding credentials could talk to services next to the relay. The
// relay's own addresses are refused apart from this list (self.go).
var blockedPrefixes = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network", RFC 791 / RFC 6890
	netip.MustParsePrefix("100.64.0.0/10"),   // CGNAT shared space, RFC 6598 (incl. Alibaba's 100.100.100.200 metadata)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments, RFC 6890 (incl. Oracle's 192.0.0.192 metadata)
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation TEST-NET-1, RFC 5737: never routed
	netip.MustParsePrefix("198.51.100.0/24"), // documentation TEST-NET-2, RFC 5737
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation TEST-NET-3, RFC 5737
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking, RFC 2544
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, incl. 255.255.255.255
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated, RFC 4291), incl. :: and ::1
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64, RFC 8215
	netip.MustParsePrefix("100::/64"),        // discard-only, RFC 6666
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated, RFC 3879)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation, RFC 3849: never routed
	netip.MustParsePrefix("3fff::/20"),       // documentation, RFC 9637
	netip.MustParsePrefix("2001:2::/48"),     // benchmarking, RFC 5180
	// Azure's WireServer: a public address that answers only inside
	// Azure, where it serves the VM agent's configuration.
	netip.MustParsePrefix("168.63.129.16/32"),
}

// nat64 is the well-known NAT64 prefix (RFC 6052): an address in it reaches
// the IPv4 address in its last 32 bits, which is judged instead. A 6to4
// address (RFC 3056) carries its relay router's IPv4 address in bits 16-47,
// judged the same way.
var (
	nat64   = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4  = netip.MustParsePrefix("2002::/16")
	bcast4  = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	invalid = netip.Addr{}
)

// peerAddr is the address a relayed packet to ip really reaches, as far as
// the relay can tell: IPv4-mapped addresses unmapped, NAT64 and 6to4 ones
// reduced to the IPv4 address inside. It is the zero Addr for a malformed ip.
func peerAddr(ip net.IP) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return invalid
	}
	a = a.Unmap()
	switch b := a.As16(); {
	case nat64.Contains(a):
		a = netip.AddrFrom4([4]byte(b[12:16]))
	case sixTo4.Contains(a):
		a = netip.AddrFrom4([4]byte(b[2:6]))
	}
	return a
}

// peerAllowed reports whether the relay may open a permission to ip.
//
// Multicast and broadcast are never allowed: a relayed permission is for one
// peer. With allowPrivate (tests, a LAN-only relay) loopback, private,
// link-local, ULA, unspecified and metadata addresses are admitted too. Cloud
// metadata addresses (169.254.169.254, fd00:ec2::254, ...) fall under
// link-local, ULA, CGNAT or 192.0.0.0/24 above; Azure's WireServer is listed
// by itself.
func peerAllowed(ip net.IP, allowPrivate bool) bool {
	a := peerAddr(ip)
	if !a.IsValid() || a.IsMulticast() || a == bcast4 {
		return false
	}
	if allowPrivate {
		return true
	}
	if a.IsUnspecified() || a.IsLoopback() || a.IsPrivate() ||
		a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range blockedPrefixes {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// peerListed reports whether ip lies in one of the prefixes, and is neither
// multicast nor broadcast (which nothing admits).
func peerListed(ip net.IP, prefixes []netip.Prefix) bool {
	a := peerAddr(ip)
	if !a.IsValid() || a.IsMulticast() || a == bcast4 {
		return false
	}
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
