package proxy

import (
	"net"
	"net/netip"
	"strings"
)

// noProxy is a parsed NO_PROXY list: the destinations that go direct.
// Entries are separated by commas or spaces:
//
//   - "*" matches everything;
//   - an IP address or a CIDR prefix matches destinations given as such;
//   - "example.com" matches that name and every name under it, and
//     ".example.com" or "*.example.com" only the names under it;
//   - any entry may end in ":port" to match that port only.
//
// Names are compared without case and without a trailing dot; loopback
// addresses and "localhost" always go direct.
type noProxy struct {
	all      bool
	prefixes []portPrefix
	domains  []portDomain
}

type portPrefix struct {
	p    netip.Prefix
	port string // "" = any
}

type portDomain struct {
	suffix   string // ".example.com"
	withSelf bool   // also "example.com" itself
	port     string
}

func parseNoProxy(s string) noProxy {
	var n noProxy
	for _, e := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
		e = strings.ToLower(e)
		if e == "*" {
			n.all = true
			continue
		}
		if p, err := netip.ParsePrefix(e); err == nil {
			n.prefixes = append(n.prefixes, portPrefix{p: p.Masked()})
			continue
		}
		host, port := e, ""
		if h, p, err := net.SplitHostPort(e); err == nil {
			host, port = h, p
		}
		if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
			n.prefixes = append(n.prefixes, portPrefix{p: netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), port: port})
			continue
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "*"), ".")
		if host == "" || host == "." {
			continue
		}
		d := portDomain{suffix: host, port: port}
		if !strings.HasPrefix(host, ".") {
			d.suffix, d.withSelf = "."+host, true
		}
		n.domains = append(n.domains, d)
	}
	return n
}

// match reports whether addr (host:port) goes direct.
func (n noProxy) match(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		if a.IsLoopback() {
			return true
		}
		if n.all {
			return true
		}
		for _, p := range n.prefixes {
			if p.p.Contains(a) && (p.port == "" || p.port == port) {
				return true
			}
		}
		return false
	}
	if n.all {
		return true
	}
	for _, d := range n.domains {
		if d.port != "" && d.port != port {
			continue
		}
		if strings.HasSuffix(host, d.suffix) || (d.withSelf && host == d.suffix[1:]) {
			return true
		}
	}
	return false
}
