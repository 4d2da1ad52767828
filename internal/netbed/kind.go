package netbed

import (
	"fmt"
	"strings"
)

// Kind is how a site reaches the internet. The nftables recipes are the ones
// DESIGN.md lists; RFC 4787 names the behaviours.
type Kind string

const (
	// Public: the peer's host holds a public address; no NAT, no firewall.
	Public Kind = "public"
	// Open: NAT with every inbound UDP packet forwarded to the host (full
	// cone: endpoint-independent mapping and filtering). nft "masquerade"
	// plus a "dnat" of all inbound UDP to the host.
	Open Kind = "open"
	// Easy: nft "masquerade": endpoint-independent mapping (the source port
	// is kept where free), address- and port-dependent filtering.
	Easy Kind = "easy"
	// Hard: nft "masquerade random": endpoint-dependent mapping (symmetric
	// NAT), a fresh random port for every destination.
	Hard Kind = "hard"
	// UDPBlock: an Easy NAT whose firewall drops every UDP packet leaving the
	// LAN.
	UDPBlock Kind = "udpblock"
	// TCP443: an Easy NAT whose firewall lets only TCP to port 443 leave the
	// LAN; other TCP is refused with a reset, everything else dropped.
	TCP443 Kind = "tcp443"
)

// Kinds lists the six kinds, from the most to the least open.
var Kinds = []Kind{Public, Open, Easy, Hard, UDPBlock, TCP443}

// ParseKind returns the kind named s (case-insensitive, surrounding space
// ignored).
func ParseKind(s string) (Kind, error) {
	k := Kind(strings.ToLower(strings.TrimSpace(s)))
	for _, known := range Kinds {
		if k == known {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w %q (want one of public, open, easy, hard, udpblock, tcp443)", ErrUnknownKind, s)
}

// NAT reports whether the site sits behind a router.
func (k Kind) NAT() bool { return k != Public && k != "" }

// UDP reports whether UDP can leave the site.
func (k Kind) UDP() bool { return k != UDPBlock && k != TCP443 }
