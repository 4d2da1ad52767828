//go:build linux

package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestHostVeth announces and looks up on the host itself. Loopback has no
// MULTICAST flag on Linux, so the test adds a veth pair of its own, without
// routes, and selects it explicitly (Options.Interfaces): nothing leaves the
// machine and nothing else on the host is touched.
func TestHostVeth(t *testing.T) {
	requireNetns(t)
	if lo, err := net.InterfaceByName("lo"); err == nil && lo.Flags&net.FlagMulticast != 0 {
		t.Log("loopback has MULTICAST here; testing on a veth pair anyway")
	}
	n := nsSeq.Add(1)
	a, b := fmt.Sprintf("dkh%d-%da", os.Getpid()%100000, n), fmt.Sprintf("dkh%d-%db", os.Getpid()%100000, n)
	run(t, "ip", "link", "add", a, "type", "veth", "peer", "name", b)
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", a).Run() })
	third := byte(os.Getpid() % 250)
	v4A := netip.AddrFrom4([4]byte{198, 18, third, 1}) // RFC 2544 test range
	for k, ifname := range []string{a, b} {
		run(t, "sysctl", "-qw", "net.ipv6.conf."+ifname+".accept_dad=0")
		// Both ends are local addresses of this host; without accept_local
		// the kernel drops what one end receives from the other as martian.
		run(t, "sysctl", "-qw", "net.ipv4.conf."+ifname+".accept_local=1")
		addr := netip.AddrFrom4([4]byte{198, 18, third, byte(k + 1)})
		run(t, "ip", "addr", "add", addr.String()+"/30", "dev", ifname, "noprefixroute")
		run(t, "ip", "link", "set", ifname, "up")
	}
	waitLinkLocal(t, "", a)
	waitLinkLocal(t, "", b)
	ifA, err := net.InterfaceByName(a)
	if err != nil {
		t.Fatal(err)
	}
	ifB, err := net.InterfaceByName(b)
	if err != nil {
		t.Fatal(err)
	}
	onA := &Options{Interfaces: []net.Interface{*ifA}}
	onB := &Options{Interfaces: []net.Interface{*ifB}}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	for _, an := range []Announcement{{Port: 1111, Nameplate: "21"}, {Port: 1112, Nameplate: "22"}} {
		x, err := Announce(ctx, an, onA)
		if err != nil {
			t.Fatal(err)
		}
		defer x.Close()
	}
	for _, c := range []struct {
		np   string
		opts *Options
		port uint16
	}{
		{"22", onB, 1112}, // across the veth
		{"21", onB, 1111},
		{"21", onA, 1111}, // on the announcers' own interface
	} {
		start := time.Now()
		addrs, err := Lookup(ctx, c.np, c.opts)
		if err != nil {
			t.Fatalf("Lookup(%s) on %s: %v", c.np, c.opts.Interfaces[0].Name, err)
		}
		t.Logf("Lookup(%s) on %s: %v in %v", c.np, c.opts.Interfaces[0].Name, addrs, time.Since(start))
		if want := netip.AddrPortFrom(v4A, c.port); addrs[0] != want {
			t.Errorf("Lookup(%s) = %v, want %v first", c.np, addrs, want)
		}
	}
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	defer cancelShort()
	if addrs, err := Lookup(short, "23", onB); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup(23) = %v, %v; want ErrNotFound", addrs, err)
	}
}
