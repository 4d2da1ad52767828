package netbed

import (
	"fmt"
	"net/netip"
	"strings"
)

// ruleset is the nftables ruleset of a router of kind k whose host is host.
// The router's interfaces are "wan0" (internet) and "lan0" (the host).
func ruleset(k Kind, host netip.Addr) string {
	var b strings.Builder
	b.WriteString("table ip nat {\n")
	b.WriteString("\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n")
	if k == Hard {
		// A fresh random port per mapping: endpoint-dependent mapping
		// (RFC 4787 section 4.1), which hole punching cannot predict.
		b.WriteString("\t\toifname \"wan0\" masquerade random\n")
	} else {
		// Endpoint-independent mapping: masquerade keeps the source port
		// where it is free and reuses the mapping for every destination.
		b.WriteString("\t\toifname \"wan0\" masquerade\n")
	}
	b.WriteString("\t}\n")
	if k == Open {
		// Full cone: any inbound UDP that no conntrack entry claims goes to
		// the host, on the same port (endpoint-independent filtering).
		fmt.Fprintf(&b, "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t\tiifname \"wan0\" meta l4proto udp dnat to %s\n\t}\n", host)
	}
	b.WriteString("}\n")
	switch k {
	case UDPBlock:
		b.WriteString(`table ip filter {
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "lan0" oifname "wan0" meta l4proto udp drop
	}
}
`)
	case TCP443:
		// A corporate firewall: replies pass, new TCP to 443 leaves, other
		// TCP is refused at once (so a client that tries port 8080 first
		// learns it quickly), and everything else is dropped silently.
		b.WriteString(`table ip filter {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state established,related accept
		iifname "lan0" oifname "wan0" tcp dport 443 accept
		iifname "lan0" oifname "wan0" meta l4proto tcp reject with tcp reset
		iifname "lan0" oifname "wan0" drop
	}
}
`)
	}
	return b.String()
}
