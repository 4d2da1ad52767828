package portmap

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// Protocol is a set of port-mapping protocols.
type Protocol uint8

// The protocols. PCP and NAT-PMP share the gateway's UDP port 5351; PCP is
// NAT-PMP's successor and tried first.
const (
	PCP Protocol = 1 << iota
	NATPMP
	UPnP

	// All is every protocol, what the zero Config.Protocols means.
	All = PCP | NATPMP | UPnP
)

func (p Protocol) String() string {
	if p == 0 {
		return "none"
	}
	var names []string
	for _, x := range []struct {
		p    Protocol
		name string
	}{{PCP, "pcp"}, {NATPMP, "natpmp"}, {UPnP, "upnp"}} {
		if p&x.p != 0 {
			names = append(names, x.name)
		}
	}
	if p&^All != 0 {
		names = append(names, fmt.Sprintf("0x%x", uint8(p&^All)))
	}
	return strings.Join(names, ",")
}

// ParseProtocols reads a comma-separated list of "pcp", "natpmp" and
// "upnp", or "all", or "off" (also "none" and the empty string), the form of
// a command-line flag or an environment variable. Off is 0.
func ParseProtocols(s string) (Protocol, error) {
	var p Protocol
	for _, f := range strings.Split(strings.ToLower(strings.TrimSpace(s)), ",") {
		switch strings.TrimSpace(f) {
		case "", "off", "none":
		case "all", "on", "auto":
			p |= All
		case "pcp":
			p |= PCP
		case "natpmp", "nat-pmp", "pmp":
			p |= NATPMP
		case "upnp", "igd":
			p |= UPnP
		default:
			return 0, fmt.Errorf("%w: unknown port-mapping protocol %q (want pcp, natpmp, upnp, all or off)", ErrConfig, f)
		}
	}
	return p, nil
}

// Defaults.
const (
	// DefaultLifetime is the lease asked for. A mapping outlives a crashed
	// peer by at most this long; it is renewed at half its lifetime.
	DefaultLifetime = 15 * time.Minute
	// DefaultTimeout bounds one attempt to get a mapping: the gateway is one
	// hop away and answers in milliseconds if at all, and the session must
	// not wait on a router that ignores us.
	DefaultTimeout = 2 * time.Second
	// deleteTimeout bounds the delete when the mapper stops.
	deleteTimeout = time.Second
	// minRenew keeps a gateway that grants tiny leases from making us
	// send a request in a tight loop.
	minRenew = time.Second
)

// Config configures a Mapper. The zero Config tries every protocol on the
// default gateway of the local address's interface.
type Config struct {
	// Protocols are the protocols to try. Zero means All.
	Protocols Protocol
	// Gateway is the router to ask. The zero Addr means the gateway of the
	// default route on the interface that holds the local address.
	Gateway netip.Addr
	// Lifetime is the lease to ask for. Zero means DefaultLifetime. Gateways
	// may grant less (or, for UPnP, only permanent leases, which the mapper
	// deletes on exit as it does every mapping).
	Lifetime time.Duration
	// Timeout bounds one attempt to get or renew a mapping, over all
	// protocols at once. Zero means DefaultTimeout.
	Timeout time.Duration
	// Description names the mapping in a UPnP router's table. Empty means
	// "direkt".
	Description string
	// Logger receives progress at debug level. Nil means slog.Default().
	Logger *slog.Logger

	// Test hooks; zero means the protocols' well-known values.
	pmpPort     uint16 // the gateway's NAT-PMP/PCP port, 5351
	ssdpUnicast uint16 // the gateway's SSDP port for unicast M-SEARCH, 1900
	noMulticast bool   // send no multicast M-SEARCH (tests on loopback)
	retransmit0 time.Duration
}

const (
	pmpServerPort = 5351
	ssdpPort      = 1900
	// pmpRetransmit is the first retransmission interval of NAT-PMP and
	// PCP, doubled after each try (RFC 6886, section 3.1; RFC 6887,
	// section 8.1.1).
	pmpRetransmit = 250 * time.Millisecond
)

func (c Config) protocols() Protocol {
	if c.Protocols == 0 {
		return All
	}
	return c.Protocols & All
}

func (c Config) lifetime() time.Duration {
	if c.Lifetime <= 0 {
		return DefaultLifetime
	}
	return c.Lifetime
}

func (c Config) timeout() time.Duration {
	if c.Timeout <= 0 {
		return DefaultTimeout
	}
	return c.Timeout
}

func (c Config) description() string {
	if c.Description == "" {
		return "direkt"
	}
	return c.Description
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

func (c Config) pmpServer(gw netip.Addr) netip.AddrPort {
	port := c.pmpPort
	if port == 0 {
		port = pmpServerPort
	}
	return netip.AddrPortFrom(gw, port)
}

func (c Config) retransmit() time.Duration {
	if c.retransmit0 > 0 {
		return c.retransmit0
	}
	return pmpRetransmit
}

// Mapping is a port mapping the gateway granted.
type Mapping struct {
	// Protocol is the one protocol that made it.
	Protocol Protocol
	// Internal is the local socket the mapping forwards to.
	Internal netip.AddrPort
	// External is the address and port on the gateway's outside that
	// reaches Internal.
	External netip.AddrPort
	// Lifetime is the lease granted; zero for a permanent UPnP mapping.
	Lifetime time.Duration
	// Gateway is the router that holds the mapping.
	Gateway netip.Addr
}
