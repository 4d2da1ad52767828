package netbed

import (
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Network changes under a running peer, for tests of what survives them
// (ICE restart, a re-opened mailbox). Each acts on one site: its host's
// interface eth0 or its router.

// DownUp takes the host's interface down for outage and brings it back
// with its default route (which the kernel drops with the link), as a DHCP
// client would.
func (s *Site) DownUp(ctx context.Context, outage time.Duration) error {
	route, err := defaultRoute(ctx, s.Host)
	if err != nil {
		return err
	}
	if err := run(ctx, "", "ip", "-n", s.Host, "link", "set", "eth0", "down"); err != nil {
		return err
	}
	if err := sleep(ctx, outage); err != nil {
		return err
	}
	if err := run(ctx, "", "ip", "-n", s.Host, "link", "set", "eth0", "up"); err != nil {
		return err
	}
	return run(ctx, "", append([]string{"ip", "-n", s.Host, "route", "add"}, route...)...)
}

// NewAddress moves a NAT site's host to another address on its LAN, as a
// DHCP lease change does: the old address is deleted (the kernel may drop
// the default route with it), a new one added, the default route restored.
// Connections from the old address die: answers to it reach nobody.
func (s *Site) NewAddress(ctx context.Context) (netip.Addr, error) {
	if !s.LAN.IsValid() || !s.LAN.Addr().Is4() {
		return netip.Addr{}, fmt.Errorf("netbed: site %s has no IPv4 LAN", s.Name)
	}
	route, err := defaultRoute(ctx, s.Host)
	if err != nil {
		return netip.Addr{}, err
	}
	a := s.LAN.Masked().Addr().As4()
	a[3] = 0x42
	next := netip.AddrFrom4(a)
	if next == s.HostAddr || next == s.Gateway {
		a[3] = 0x43
		next = netip.AddrFrom4(a)
	}
	bits := "/" + strconv.Itoa(s.LAN.Bits())
	if err := run(ctx, "", "ip", "-n", s.Host, "addr", "del", s.HostAddr.String()+bits, "dev", "eth0"); err != nil {
		return netip.Addr{}, err
	}
	if err := run(ctx, "", "ip", "-n", s.Host, "addr", "add", next.String()+bits, "dev", "eth0"); err != nil {
		return netip.Addr{}, err
	}
	// replace says the same whether or not the kernel kept the route.
	return next, run(ctx, "", append([]string{"ip", "-n", s.Host, "route", "replace"}, route...)...)
}

// RouterReboot makes a NAT site's router forget every conntrack entry (UDP
// and TCP) while for a second nothing from the LAN gets through, so that
// the peer's packets reach the router first and leave entries that move the
// host's mapping to a new port when it speaks again (the conntrack race).
// With strictTCP the fresh router also does not pick up TCP connections in
// mid-stream (nf_conntrack_tcp_loose=0), as many home routers do not: a TCP
// connection through it dies.
func (s *Site) RouterReboot(ctx context.Context, strictTCP bool) error {
	if strictTCP {
		if err := run(ctx, "", "ip", "netns", "exec", s.Router, "sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0"); err != nil {
			return err
		}
	}
	return s.routerForget(ctx, "-F")
}

// NATForgetsUDP makes a NAT site's router forget its UDP mappings, as when
// their short timeouts expire (TCP's do not), with the LAN cut off for a
// second meanwhile like RouterReboot.
func (s *Site) NATForgetsUDP(ctx context.Context) error {
	return s.routerForget(ctx, "-D", "-p", "udp")
}

// routerForget stops forwarding from the LAN for a second and runs
// conntrack with args in the router meanwhile.
func (s *Site) routerForget(ctx context.Context, args ...string) error {
	if s.Router == "" {
		return fmt.Errorf("netbed: site %s has no router", s.Name)
	}
	nft := func(script string) error {
		return run(ctx, script, "ip", "netns", "exec", s.Router, "nft", "-f", "-")
	}
	if err := nft("table ip reboot {\n\tchain forward {\n\t\ttype filter hook forward priority -10; policy accept;\n\t\tiifname \"lan0\" drop\n\t}\n}\n"); err != nil {
		return err
	}
	cmd := append([]string{"netns", "exec", s.Router, "conntrack"}, args...)
	out, err := exec.CommandContext(ctx, "ip", cmd...).CombinedOutput()
	// conntrack -D exits 1 when it found nothing to delete.
	if err != nil && !strings.Contains(string(out), "flow entries") {
		return fmt.Errorf("netbed: conntrack %s in %s: %w: %s", strings.Join(args, " "), s.Router, err, out)
	}
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	return nft("delete table ip reboot\n")
}

// defaultRoute returns the default route of ns as ip(8) prints it.
func defaultRoute(ctx context.Context, ns string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "ip", "-n", ns, "route", "show", "default").Output()
	if err != nil {
		return nil, fmt.Errorf("netbed: default route of %s: %w", ns, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return nil, fmt.Errorf("netbed: no default route in %s: %q", ns, out)
	}
	return f, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
