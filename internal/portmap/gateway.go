package portmap

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// interfaceOf returns the name of the interface that holds addr and the
// prefix of that address.
func interfaceOf(addr netip.Addr) (string, netip.Prefix, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", netip.Prefix{}, fmt.Errorf("portmap: interfaces: %w", err)
	}
	for _, ifi := range ifs {
		addrs, err := ifi.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipn.IP)
			if !ok || ip.Unmap() != addr {
				continue
			}
			ones, _ := ipn.Mask.Size()
			return ifi.Name, netip.PrefixFrom(addr, ones), nil
		}
	}
	return "", netip.Prefix{}, fmt.Errorf("%w: no interface holds %v", ErrNoGateway, addr)
}

// rtfUp and rtfGateway are the route flags of <linux/route.h>.
const (
	rtfUp      = 0x1
	rtfGateway = 0x2
)

// parseProcRoute reads the IPv4 routing table in the format of Linux's
// /proc/net/route and returns the gateway of the default route with the
// lowest metric on interface ifname. Addresses there are the kernel's
// 32-bit values in hex, in host byte order.
func parseProcRoute(table []byte, ifname string) (netip.Addr, error) {
	var (
		best   netip.Addr
		metric = -1
	)
	sc := bufio.NewScanner(bytes.NewReader(table))
	first := true
	for sc.Scan() {
		if first { // the header line
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 8 || f[0] != ifname {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		gw, err2 := strconv.ParseUint(f[2], 16, 32)
		flags, err3 := strconv.ParseUint(f[3], 16, 16)
		m, err4 := strconv.Atoi(f[6])
		mask, err5 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil || err5 != nil {
			continue
		}
		if dst != 0 || mask != 0 || flags&(rtfUp|rtfGateway) != rtfUp|rtfGateway || gw == 0 {
			continue
		}
		if metric >= 0 && m >= metric {
			continue
		}
		var b [4]byte
		binary.NativeEndian.PutUint32(b[:], uint32(gw))
		best, metric = netip.AddrFrom4(b), m
	}
	if !best.IsValid() {
		return netip.Addr{}, fmt.Errorf("%w: no default route on %s", ErrNoGateway, ifname)
	}
	return best, nil
}
