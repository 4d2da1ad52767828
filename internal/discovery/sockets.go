package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Options configures Announce and Lookup. A nil *Options means all defaults.
type Options struct {
	// Interfaces are the interfaces to announce and query on. Nil means every
	// interface that is up and has the MULTICAST flag; loopback has it only
	// where the system gives it one (Linux does not by default), so loopback
	// is included only then. Interfaces are read once, at the start.
	Interfaces []net.Interface

	// Logger receives debug and warning messages. Nil means no logging.
	// Nameplates are never logged.
	Logger *slog.Logger
}

func (o *Options) logger() *slog.Logger {
	if o == nil || o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger.With("pkg", "discovery")
}

// ifaceInfo is an interface with the addresses it had when we started.
type ifaceInfo struct {
	ifi    net.Interface
	v4, v6 []netip.Prefix // v6 link-local prefixes carry no zone
}

// snapshotInterfaces resolves the interface selection of opts and reads each
// interface's addresses.
func snapshotInterfaces(opts *Options) ([]*ifaceInfo, error) {
	var sel []net.Interface
	if opts != nil && opts.Interfaces != nil {
		sel = opts.Interfaces
	} else {
		all, err := net.Interfaces()
		if err != nil {
			return nil, fmt.Errorf("discovery: list interfaces: %w", err)
		}
		for _, ifi := range all {
			if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0 {
				sel = append(sel, ifi)
			}
		}
	}
	out := make([]*ifaceInfo, 0, len(sel))
	for _, ifi := range sel {
		addrs, err := ifi.Addrs()
		if err != nil {
			return nil, fmt.Errorf("discovery: addresses of %s: %w", ifi.Name, err)
		}
		info := &ifaceInfo{ifi: ifi}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			ip = ip.Unmap()
			if ip.Is4() {
				info.v4 = append(info.v4, netip.PrefixFrom(ip, ones))
			} else {
				info.v6 = append(info.v6, netip.PrefixFrom(ip, ones))
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// addrs returns the interface's addresses of one family.
func (i *ifaceInfo) addrs(v6 bool) []netip.Addr {
	ps := i.v4
	if v6 {
		ps = i.v6
	}
	out := make([]netip.Addr, len(ps))
	for k, p := range ps {
		out[k] = p.Addr()
	}
	return out
}

// onLink reports whether a is a link-local address or lies in one of the
// interface's prefixes: the RFC 6762 §11 source address check.
func (i *ifaceInfo) onLink(a netip.Addr) bool {
	a = a.WithZone("")
	if a.IsLinkLocalUnicast() {
		return true
	}
	for _, p := range i.v4 {
		if p.Contains(a) {
			return true
		}
	}
	for _, p := range i.v6 {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ifaceFor finds the interface a packet from src arrived on: by index when the
// system reports it (IP_PKTINFO and friends), else by src's prefix. Nil means
// the packet is not ours to handle (an interface we did not select) or the
// interface cannot be told.
func ifaceFor(ifaces []*ifaceInfo, ifIndex int, src netip.Addr) *ifaceInfo {
	if ifIndex > 0 {
		for _, i := range ifaces {
			if i.ifi.Index == ifIndex {
				return i
			}
		}
		return nil
	}
	if z := src.Zone(); z != "" {
		// A link-local IPv6 source names its interface.
		for _, i := range ifaces {
			if i.ifi.Name == z || strconv.Itoa(i.ifi.Index) == z {
				return i
			}
		}
		return nil
	}
	for _, i := range ifaces {
		if i.onLink(src) && !src.IsLinkLocalUnicast() {
			return i
		}
	}
	return nil
}

// mconn is one UDP socket of one address family, member of the mDNS group on
// every interface in joined.
type mconn struct {
	v6     bool
	uc     *net.UDPConn
	p4     *ipv4.PacketConn
	p6     *ipv6.PacketConn
	joined []*ifaceInfo
	port   int // local port: 5353, or an ephemeral one for a legacy lookup

	wmu sync.Mutex // serialises SetMulticastInterface with the write that follows
}

// listenMulticast opens a socket of one family on port (0 = ephemeral), with
// SO_REUSEADDR/SO_REUSEPORT so it shares 5353 with avahi and other direkt
// processes, and joins the mDNS group on each interface that has an address
// of that family. join=false skips the group (a legacy lookup listens for
// unicast only). It fails with ErrNoInterfaces when no join succeeded.
func listenMulticast(ctx context.Context, v6 bool, port int, join bool, ifaces []*ifaceInfo, log *slog.Logger) (*mconn, error) {
	network, laddr := "udp4", "0.0.0.0"
	if v6 {
		network, laddr = "udp6", "::" // Go sets IPV6_V6ONLY for "udp6"
	}
	lc := net.ListenConfig{Control: reuseControl}
	pc, err := lc.ListenPacket(ctx, network, net.JoinHostPort(laddr, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("discovery: listen %s port %d: %w", network, port, err)
	}
	c := &mconn{v6: v6, uc: pc.(*net.UDPConn)}
	c.port = c.uc.LocalAddr().(*net.UDPAddr).Port
	if v6 {
		c.p6 = ipv6.NewPacketConn(c.uc)
		// Unsupported on some systems (Windows); the prefix fallback in
		// ifaceFor covers it.
		_ = c.p6.SetControlMessage(ipv6.FlagInterface|ipv6.FlagDst, true)
		_ = c.p6.SetMulticastHopLimit(255) // RFC 6762 §11
		_ = c.p6.SetMulticastLoopback(true)
	} else {
		c.p4 = ipv4.NewPacketConn(c.uc)
		_ = c.p4.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true)
		_ = c.p4.SetMulticastTTL(255)
		_ = c.p4.SetMulticastLoopback(true) // other processes on this host listen too
	}
	group := &net.UDPAddr{IP: groupV4.AsSlice()}
	if v6 {
		group = &net.UDPAddr{IP: groupV6.AsSlice()}
	}
	for _, i := range ifaces {
		if len(i.v4) == 0 && !v6 || len(i.v6) == 0 && v6 {
			continue
		}
		if join {
			if v6 {
				err = c.p6.JoinGroup(&i.ifi, group)
			} else {
				err = c.p4.JoinGroup(&i.ifi, group)
			}
			if err != nil {
				log.Debug("mdns: join group failed", "iface", i.ifi.Name, "ipv6", v6, "err", err)
				continue
			}
		}
		c.joined = append(c.joined, i)
	}
	if len(c.joined) == 0 {
		_ = c.uc.Close()
		return nil, ErrNoInterfaces
	}
	return c, nil
}

// read returns the next datagram with its source and arrival interface index
// (0 when the system does not say).
func (c *mconn) read(buf []byte) (int, netip.AddrPort, int, error) {
	var (
		n       int
		src     net.Addr
		ifIndex int
		err     error
	)
	if c.v6 {
		var cm *ipv6.ControlMessage
		n, cm, src, err = c.p6.ReadFrom(buf)
		if cm != nil {
			ifIndex = cm.IfIndex
		}
	} else {
		var cm *ipv4.ControlMessage
		n, cm, src, err = c.p4.ReadFrom(buf)
		if cm != nil {
			ifIndex = cm.IfIndex
		}
	}
	if err != nil {
		return 0, netip.AddrPort{}, 0, err
	}
	ua, ok := src.(*net.UDPAddr)
	if !ok {
		return 0, netip.AddrPort{}, 0, errors.New("discovery: non-UDP source address")
	}
	ap := ua.AddrPort()
	return n, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()), ifIndex, nil
}

// sendMulticast sends b to the mDNS group out of interface ifi.
func (c *mconn) sendMulticast(ifi *net.Interface, b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var err error
	if c.v6 {
		if err = c.p6.SetMulticastInterface(ifi); err == nil {
			_, err = c.p6.WriteTo(b, nil, &net.UDPAddr{IP: groupV6.AsSlice(), Port: mdnsPort})
		}
	} else {
		if err = c.p4.SetMulticastInterface(ifi); err == nil {
			_, err = c.p4.WriteTo(b, nil, &net.UDPAddr{IP: groupV4.AsSlice(), Port: mdnsPort})
		}
	}
	return err
}

// sendUnicast sends b to dst (a legacy querier).
func (c *mconn) sendUnicast(dst netip.AddrPort, b []byte) error {
	_, err := c.uc.WriteToUDPAddrPort(b, dst)
	return err
}

func (c *mconn) close() error { return c.uc.Close() }

// maxReadErrors bounds a read loop that keeps failing for a reason other
// than its socket being closed, so it cannot spin forever.
const maxReadErrors = 64
