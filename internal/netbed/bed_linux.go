package netbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultPrefix is the namespace-name prefix when Config.Prefix is empty.
const DefaultPrefix = "nb"

// Config describes one bed. The zero Config is a bed with two public sites
// and no added latency.
type Config struct {
	// Prefix starts every namespace name, followed by this process's pid, an
	// "x", a sequence number and a role, so that [SweepStale] can tell live
	// beds from leftovers. Empty means DefaultPrefix. Keep it short and
	// unique to one test package.
	Prefix string
	// A and B are the kinds of the two client sites. Empty means Public.
	A, B Kind
	// Delay is the one-way latency added in each direction of each site's
	// link to the internet by a userspace forwarder. Peers in A and B then
	// see a round-trip time of 4×Delay, a peer and the server 2×Delay. Zero
	// means plain veths and no forwarder.
	Delay time.Duration
	// Limit makes site A's (index 0) and site B's (index 1) link to the
	// internet a bottleneck ([Limit]): a line of that rate, in each
	// direction, with a router's queue before it. The zero Limit is none.
	Limit [2]Limit
	// Logger receives the bed's progress at debug level and its teardown
	// problems at warn level. Nil means no logging.
	Logger *slog.Logger
}

// Fixed addresses of the bed (RFC 5737 documentation ranges).
var (
	// ServerAddr is the server host's public address.
	ServerAddr = netip.MustParseAddr("203.0.113.10")
	// siteNets are the public /24s of sites A and B, lanNets their LANs.
	siteNets = [2]string{"198.51.100", "192.0.2"}
	lanNets  = [2]string{"10.1.0", "10.2.0"}
)

// SitePrefixes are the sites' public /24s. They stand for the internet but
// are documentation ranges, which a relay refuses as peers; a relay in the
// bed is told to treat them as public (direkt server --relay-allow), as it
// would real public addresses.
func SitePrefixes() []netip.Prefix {
	out := make([]netip.Prefix, len(siteNets))
	for i, n := range siteNets {
		out[i] = netip.MustParsePrefix(n + ".0/24")
	}
	return out
}

// Site is one client site.
type Site struct {
	// Name is "a" or "b".
	Name string
	// Kind is how the site reaches the internet.
	Kind Kind
	// Host is the namespace of the peer's host.
	Host string
	// Router is the namespace of the site's NAT router; empty for a public
	// site.
	Router string
	// HostAddr is the host's own address: the public address for a public
	// site, else its LAN address.
	HostAddr netip.Addr
	// PublicAddr is the site's address on the internet: the host's for a
	// public site, else the router's WAN address.
	PublicAddr netip.Addr
	// Gateway is the router's LAN address (where a proxy listens); invalid
	// for a public site.
	Gateway netip.Addr
	// LAN is the site's LAN prefix; invalid for a public site.
	LAN netip.Prefix

	link *Link // the delay forwarder on the site's uplink, or nil
}

// Bed is a built test internet. Close it.
type Bed struct {
	// Internet is the namespace of the routing core.
	Internet string
	// Server is the namespace of the server host, which holds ServerAddr.
	Server string
	// A and B are the client sites.
	A, B *Site

	cfg    Config
	log    *slog.Logger
	id     string
	mu     sync.Mutex
	nss    []string // created namespaces, in order
	links  []*Link
	procs  []*exec.Cmd // owned processes (proxies)
	closed bool
	once   sync.Once
	err    error
}

var bedSeq atomic.Int32

// New builds a bed. On error nothing of it is left behind.
func New(ctx context.Context, cfg Config) (b *Bed, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	for _, k := range []*Kind{&cfg.A, &cfg.B} {
		if *k == "" {
			*k = Public
		}
		if _, err := ParseKind(string(*k)); err != nil {
			return nil, err
		}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	b = &Bed{cfg: cfg, log: log, id: fmt.Sprintf("%s%dx%d", cfg.Prefix, os.Getpid(), bedSeq.Add(1))}
	defer func() {
		if err != nil {
			err = errors.Join(err, b.Close())
			b = nil
		}
	}()
	if b.Internet, err = b.ns(ctx, "inet", true); err != nil {
		return nil, err
	}
	if b.Server, err = b.ns(ctx, "srv", false); err != nil {
		return nil, err
	}
	if err := b.veth(ctx, b.Internet, "isrv", "203.0.113.1/24", b.Server, "eth0", ServerAddr.String()+"/24"); err != nil {
		return nil, err
	}
	if err := run(ctx, "", "ip", "-n", b.Server, "route", "add", "default", "via", "203.0.113.1"); err != nil {
		return nil, err
	}
	for i, k := range []Kind{cfg.A, cfg.B} {
		s, err := b.site(ctx, i, k)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			b.A = s
		} else {
			b.B = s
		}
	}
	log.Debug("netbed: built", "id", b.id, "a", cfg.A, "b", cfg.B, "delay", cfg.Delay, "limit", cfg.Limit)
	return b, nil
}

// ID is the common prefix of the bed's namespace names.
func (b *Bed) ID() string { return b.id }

// Delay is the configured one-way delay per site link.
func (b *Bed) Delay() time.Duration { return b.cfg.Delay }

// ns creates a namespace for role with loopback up and IPv6 off.
func (b *Bed) ns(ctx context.Context, role string, forward bool) (string, error) {
	name := b.id + role
	if err := run(ctx, "", "ip", "netns", "add", name); err != nil {
		return "", err
	}
	b.mu.Lock()
	b.nss = append(b.nss, name)
	b.mu.Unlock()
	sysctls := []string{"net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1"}
	if forward {
		sysctls = append(sysctls, "net.ipv4.ip_forward=1")
	}
	if err := run(ctx, "", append([]string{"ip", "netns", "exec", name, "sysctl", "-qw"}, sysctls...)...); err != nil {
		return "", err
	}
	if err := run(ctx, "", "ip", "-n", name, "link", "set", "lo", "up"); err != nil {
		return "", err
	}
	return name, nil
}

// veth joins two namespaces with a veth pair and brings both ends up with
// the given addresses ("" for none).
func (b *Bed) veth(ctx context.Context, nsA, ifA, addrA, nsB, ifB, addrB string) error {
	if err := run(ctx, "", "ip", "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB); err != nil {
		return err
	}
	for _, end := range [][3]string{{nsA, ifA, addrA}, {nsB, ifB, addrB}} {
		if end[2] != "" {
			if err := run(ctx, "", "ip", "-n", end[0], "addr", "add", end[2], "dev", end[1]); err != nil {
				return err
			}
		}
		if err := run(ctx, "", "ip", "-n", end[0], "link", "set", end[1], "up"); err != nil {
			return err
		}
	}
	return nil
}

// uplink joins the internet's interface inetIf to the site's interface
// siteIf in namespace siteNS, through a forwarder's namespace when the bed
// has a delay or the site a limit.
func (b *Bed) uplink(ctx context.Context, name string, limit Limit, inetIf, inetAddr, siteNS, siteIf, siteAddr string) (*Link, error) {
	if b.cfg.Delay <= 0 && limit.Rate <= 0 {
		return nil, b.veth(ctx, b.Internet, inetIf, inetAddr, siteNS, siteIf, siteAddr)
	}
	dns, err := b.ns(ctx, "d"+name, false)
	if err != nil {
		return nil, err
	}
	if err := b.veth(ctx, b.Internet, inetIf, inetAddr, dns, "up0", ""); err != nil {
		return nil, err
	}
	if err := b.veth(ctx, dns, "dn0", "", siteNS, siteIf, siteAddr); err != nil {
		return nil, err
	}
	l, err := NewLimitedLink(dns, "up0", "dn0", max(b.cfg.Delay, 0), limit)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	b.links = append(b.links, l)
	b.mu.Unlock()
	return l, nil
}

// site builds client site i (0 for A, 1 for B) of kind k.
func (b *Bed) site(ctx context.Context, i int, k Kind) (*Site, error) {
	name := string(rune('a' + i))
	wan, lan := siteNets[i], lanNets[i]
	s := &Site{Name: name, Kind: k, PublicAddr: netip.MustParseAddr(wan + ".10")}
	var err error
	if !k.NAT() {
		if s.Host, err = b.ns(ctx, name, false); err != nil {
			return nil, err
		}
		s.HostAddr = s.PublicAddr
		if s.link, err = b.uplink(ctx, name, b.cfg.Limit[i], "i"+name, wan+".1/24", s.Host, "eth0", wan+".10/24"); err != nil {
			return nil, err
		}
		return s, run(ctx, "", "ip", "-n", s.Host, "route", "add", "default", "via", wan+".1")
	}
	if s.Router, err = b.ns(ctx, "r"+name, true); err != nil {
		return nil, err
	}
	if s.link, err = b.uplink(ctx, name, b.cfg.Limit[i], "i"+name, wan+".1/24", s.Router, "wan0", wan+".10/24"); err != nil {
		return nil, err
	}
	if err := run(ctx, "", "ip", "-n", s.Router, "route", "add", "default", "via", wan+".1"); err != nil {
		return nil, err
	}
	if s.Host, err = b.ns(ctx, name, false); err != nil {
		return nil, err
	}
	s.HostAddr = netip.MustParseAddr(lan + ".10")
	s.Gateway = netip.MustParseAddr(lan + ".1")
	s.LAN = netip.MustParsePrefix(lan + ".0/24")
	if err := b.veth(ctx, s.Router, "lan0", lan+".1/24", s.Host, "eth0", lan+".10/24"); err != nil {
		return nil, err
	}
	if err := run(ctx, "", "ip", "-n", s.Host, "route", "add", "default", "via", lan+".1"); err != nil {
		return nil, err
	}
	return s, run(ctx, ruleset(k, s.HostAddr), "ip", "netns", "exec", s.Router, "nft", "-f", "-")
}

// Site returns site "a" or "b".
func (b *Bed) Site(name string) *Site {
	switch name {
	case "a":
		return b.A
	case "b":
		return b.B
	}
	return nil
}

// Command returns a command that runs name with args in network namespace
// ns. The caller starts it and owns it. It is killed (SIGKILL) if this
// process dies first, so a killed test leaves no processes that keep a
// namespace alive.
func (b *Bed) Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// LinkStats returns the statistics of the forwarders of sites A and B, in
// that order (zero for a site without one: no delay and no limit).
func (b *Bed) LinkStats() [2]LinkStats {
	var st [2]LinkStats
	for i, s := range []*Site{b.A, b.B} {
		if s != nil && s.link != nil {
			st[i] = s.link.Stats()
		}
	}
	return st
}

// Close stops the bed's processes and forwarders and deletes its namespaces
// (and with them every veth and nftables rule). It runs once; later calls
// return the first call's result.
func (b *Bed) Close() error {
	b.once.Do(func() {
		b.mu.Lock()
		b.closed = true
		procs, links, nss := b.procs, b.links, b.nss
		b.mu.Unlock()
		var errs []error
		for _, p := range procs {
			stopProc(p)
		}
		for _, l := range links {
			if err := l.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := len(nss) - 1; i >= 0; i-- {
			if err := run(ctx, "", "ip", "netns", "del", nss[i]); err != nil {
				errs = append(errs, err)
			}
		}
		b.err = errors.Join(errs...)
		if b.err != nil {
			b.log.Warn("netbed: teardown", "id", b.id, "err", b.err)
		}
	})
	return b.err
}

// stopProc ends an owned process: SIGTERM, then SIGKILL after a grace
// period, and waits for it.
func stopProc(cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = cmd.Wait()
	}()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}
