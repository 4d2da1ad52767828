//go:build linux

package discovery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"
)

// These tests send real multicast between network namespaces joined by a
// veth pair, as root. Every socket is created on a thread switched into its
// namespace (a socket stays in the namespace it was created in), and package
// discovery reads interfaces only during Announce and Lookup, on the
// caller's thread, so the same process can play both hosts.

var nsSeq atomic.Int32

func requireNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces and veth pairs")
	}
	for _, tool := range []string{"ip", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	if _, err := os.Stat("/proc/thread-self/ns/net"); err != nil {
		t.Skipf("network namespaces unavailable: %v", err)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// inNetns runs fn on a thread switched into network namespace ns.
func inNetns(t *testing.T, ns string, fn func()) {
	t.Helper()
	if err := tryNetns(ns, fn); err != nil {
		t.Fatal(err)
	}
}

// tryNetns is inNetns for any goroutine. If the thread cannot be switched
// back it stays locked, and the runtime ends it with the goroutine.
func tryNetns(ns string, fn func()) error {
	var setupErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			setupErr = err
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			setupErr = err
			return
		}
		err = unix.Setns(target, unix.CLONE_NEWNET)
		unix.Close(target)
		if err != nil {
			runtime.UnlockOSThread()
			setupErr = err
			return
		}
		fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	<-done
	if setupErr != nil {
		return fmt.Errorf("enter netns %s: %w", ns, setupErr)
	}
	return nil
}

// netnsPair is two namespaces, A and B, joined by a veth pair.
type netnsPair struct {
	nsA, nsB string
	ifA, ifB string
	v4A, v4B netip.Addr // invalid when the pair is IPv6-only
	llA      netip.Addr // A's IPv6 link-local address
}

func newNetnsPair(t *testing.T, withV4 bool) *netnsPair {
	t.Helper()
	n := nsSeq.Add(1)
	id := fmt.Sprintf("dkd%d-%d", os.Getpid(), n)
	p := &netnsPair{
		nsA: id + "a", nsB: id + "b",
		// Fresh names per pair: package net caches interface names by index,
		// and an old pair's name must not resolve to a new pair's index.
		ifA: fmt.Sprintf("dkd%da", n), ifB: fmt.Sprintf("dkd%db", n),
	}
	for _, ns := range []string{p.nsA, p.nsB} {
		run(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	run(t, "ip", "link", "add", p.ifA, "netns", p.nsA, "type", "veth", "peer", "name", p.ifB, "netns", p.nsB)
	if withV4 {
		p.v4A = netip.AddrFrom4([4]byte{10, 77, byte(n), 1})
		p.v4B = netip.AddrFrom4([4]byte{10, 77, byte(n), 2})
	}
	for _, side := range []struct {
		ns, ifname string
		v4         netip.Addr
	}{{p.nsA, p.ifA, p.v4A}, {p.nsB, p.ifB, p.v4B}} {
		// Without duplicate address detection the link-local address is
		// usable the moment the link is up.
		// A host has loopback up (package net's IPv6 probe binds ::1).
		run(t, "ip", "-n", side.ns, "link", "set", "lo", "up")
		run(t, "ip", "netns", "exec", side.ns, "sysctl", "-qw", "net.ipv6.conf."+side.ifname+".accept_dad=0")
		if side.v4.IsValid() {
			run(t, "ip", "-n", side.ns, "addr", "add", side.v4.String()+"/24", "dev", side.ifname)
		}
		run(t, "ip", "-n", side.ns, "link", "set", side.ifname, "up")
	}
	p.llA = waitLinkLocal(t, p.nsA, p.ifA)
	waitLinkLocal(t, p.nsB, p.ifB)
	return p
}

// waitLinkLocal polls until the kernel has given ifname (in namespace ns,
// "" for the host's) its IPv6 link-local address; it does so asynchronously
// once the link has carrier.
func waitLinkLocal(t *testing.T, ns, ifname string) netip.Addr {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		args := []string{"-6", "-o", "addr", "show", "dev", ifname, "scope", "link"}
		if ns != "" {
			args = append([]string{"-n", ns}, args...)
		}
		for _, f := range strings.Fields(run(t, "ip", args...)) {
			if p, err := netip.ParsePrefix(f); err == nil && p.Addr().IsLinkLocalUnicast() {
				return p.Addr()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s in %s got no link-local address", ifname, ns)
		}
		time.Sleep(20 * time.Millisecond) // polling a kernel state, not synchronising goroutines
	}
}

// banner is a TCP server that writes "direkt" to each connection: it stands
// for the embedded rendezvous server, to show that returned addresses work.
type banner struct {
	ln   net.Listener
	wg   sync.WaitGroup
	port int
}

func startBanner(t *testing.T, ns string) *banner {
	t.Helper()
	var b banner
	var err error
	inNetns(t, ns, func() { b.ln, err = net.Listen("tcp", ":0") })
	if err != nil {
		t.Fatal(err)
	}
	b.port = b.ln.Addr().(*net.TCPAddr).Port
	b.wg.Go(func() {
		for {
			c, err := b.ln.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("direkt"))
			_ = c.Close()
		}
	})
	t.Cleanup(func() { _ = b.ln.Close(); b.wg.Wait() })
	return &b
}

// dialAll connects from namespace ns to every address and checks the banner.
func dialAll(t *testing.T, ns string, addrs []netip.AddrPort) {
	t.Helper()
	inNetns(t, ns, func() {
		for _, ap := range addrs {
			d := net.Dialer{Timeout: 3 * time.Second}
			c, err := d.Dial("tcp", ap.String())
			if err != nil {
				t.Errorf("dial %v: %v", ap, err)
				continue
			}
			_ = c.SetDeadline(time.Now().Add(3 * time.Second))
			got, err := io.ReadAll(c)
			_ = c.Close()
			if err != nil || string(got) != "direkt" {
				t.Errorf("from %v read %q, %v", ap, got, err)
			}
		}
	})
}

func announceIn(t *testing.T, ctx context.Context, ns string, a Announcement, opts *Options) *Announcer {
	t.Helper()
	var an *Announcer
	var err error
	inNetns(t, ns, func() { an, err = Announce(ctx, a, opts) })
	if err != nil {
		t.Fatalf("Announce in %s: %v", ns, err)
	}
	t.Cleanup(func() {
		if err := an.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return an
}

// lookupIn runs Lookup in namespace ns; any goroutine may call it.
func lookupIn(ctx context.Context, ns, nameplate string) ([]netip.AddrPort, time.Duration, error) {
	var addrs []netip.AddrPort
	var err error
	start := time.Now()
	if nsErr := tryNetns(ns, func() { addrs, err = Lookup(ctx, nameplate, nil) }); nsErr != nil {
		return nil, 0, nsErr
	}
	return addrs, time.Since(start), err
}

func TestNetnsAnnounceLookup(t *testing.T) {
	requireNetns(t)
	p := newNetnsPair(t, true)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	srv := startBanner(t, p.nsA)
	announceIn(t, ctx, p.nsA, Announcement{Port: srv.port, Nameplate: "47"}, nil)

	addrs, took, err := lookupIn(ctx, p.nsB, "47")
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	t.Logf("found %v in %v", addrs, took)
	want := []netip.AddrPort{
		netip.AddrPortFrom(p.v4A, uint16(srv.port)),
		netip.AddrPortFrom(p.llA.WithZone(p.ifB), uint16(srv.port)),
	}
	if fmt.Sprint(addrs) != fmt.Sprint(want) {
		t.Errorf("Lookup = %v, want %v", addrs, want)
	}
	dialAll(t, p.nsB, addrs)

	// Another nameplate is not there. Its queries carry the instance above
	// as a known answer once heard (RFC 6762 §7.1), so that announcer falls
	// quiet meanwhile.
	short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
	defer cancelShort()
	addrs, took, err = lookupIn(short, p.nsB, "48")
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, context.DeadlineExceeded) || addrs != nil {
		t.Errorf("Lookup(48) = %v, %v; want ErrNotFound after the deadline", addrs, err)
	}
	if took > 2500*time.Millisecond {
		t.Errorf("Lookup(48) took %v past a 2 s deadline", took)
	}

	// A lookup that finds the announcer quiet for a second (the usual case:
	// a person reads out the code) gets its answer after the 20–120 ms
	// response delay. Within a second of its last multicast, RFC 6762 §6
	// makes the announcer wait for the rest of that second.
	addrs, took, err = lookupIn(ctx, p.nsB, "47")
	if err != nil || len(addrs) == 0 {
		t.Fatalf("second Lookup: %v, %v", addrs, err)
	}
	t.Logf("found again in %v", took)
	if took > 500*time.Millisecond {
		t.Errorf("Lookup of a quiet announcer took %v", took)
	}
}

func TestNetnsIPv6Only(t *testing.T) {
	requireNetns(t)
	p := newNetnsPair(t, false)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	srv := startBanner(t, p.nsA)
	announceIn(t, ctx, p.nsA, Announcement{Port: srv.port, Nameplate: "3"}, nil)
	addrs, took, err := lookupIn(ctx, p.nsB, "3")
	if err != nil {
		t.Fatalf("Lookup: %v", err)
	}
	t.Logf("found %v in %v", addrs, took)
	if want := netip.AddrPortFrom(p.llA.WithZone(p.ifB), uint16(srv.port)); len(addrs) != 1 || addrs[0] != want {
		t.Errorf("Lookup = %v, want [%v]", addrs, want)
	}
	dialAll(t, p.nsB, addrs)
}

// TestNetnsSeveralOnOneHost: two `direkt send` on one host, two lookups at
// once on another, and a lookup on the announcers' own host.
func TestNetnsSeveralOnOneHost(t *testing.T) {
	requireNetns(t)
	p := newNetnsPair(t, true)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	announceIn(t, ctx, p.nsA, Announcement{Port: 1005, Nameplate: "5"}, nil)
	announceIn(t, ctx, p.nsA, Announcement{Port: 1006, Nameplate: "6"}, nil)

	type result struct {
		addrs []netip.AddrPort
		err   error
	}
	var wg sync.WaitGroup
	results := make([]result, 3)
	for k, c := range []struct{ ns, np string }{{p.nsB, "5"}, {p.nsB, "6"}, {p.nsA, "6"}} {
		wg.Go(func() {
			addrs, _, err := lookupIn(ctx, c.ns, c.np)
			results[k] = result{addrs, err}
		})
	}
	wg.Wait()
	for k, want := range []uint16{1005, 1006, 1006} {
		r := results[k]
		if r.err != nil || len(r.addrs) == 0 {
			t.Errorf("lookup %d: %v, %v", k, r.addrs, r.err)
			continue
		}
		if r.addrs[0] != netip.AddrPortFrom(p.v4A, want) {
			t.Errorf("lookup %d = %v, want %v first", k, r.addrs, netip.AddrPortFrom(p.v4A, want))
		}
	}
}

// mdnsListener joins the mDNS group in ns on every interface, as a third
// party on the link would.
func mdnsListener(t *testing.T, ctx context.Context, ns string) *mconn {
	t.Helper()
	var c *mconn
	var err error
	inNetns(t, ns, func() {
		var ifaces []*ifaceInfo
		if ifaces, err = snapshotInterfaces(nil); err == nil {
			c, err = listenMulticast(ctx, false, mdnsPort, true, ifaces, (*Options)(nil).logger())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.close() })
	return c
}

// nextResponse reads until a response whose answer section holds our PTR
// arrives, and returns the TTLs of its answer records.
func nextResponse(t *testing.T, ctx context.Context, c *mconn, instance string) []uint32 {
	t.Helper()
	dl, _ := ctx.Deadline()
	_ = c.uc.SetReadDeadline(dl)
	buf := make([]byte, maxPacket)
	for {
		n, _, _, err := c.read(buf)
		if err != nil {
			t.Fatalf("waiting for a response from %s: %v", instance, err)
		}
		var m dnsmessage.Message
		if m.Unpack(buf[:n]) != nil || !m.Response || len(m.Answers) == 0 {
			continue
		}
		ptr, ok := m.Answers[0].Body.(*dnsmessage.PTRResource)
		if !ok || ptr.PTR.String() != instance+"."+serviceName {
			continue
		}
		var ttls []uint32
		for _, r := range m.Answers {
			ttls = append(ttls, r.Header.TTL)
		}
		return ttls
	}
}

// TestNetnsAnnouncementsAndGoodbye: a new announcer speaks first (RFC 6762
// §8.3), twice, and says goodbye with TTL 0 when its context ends (§10.1).
func TestNetnsAnnouncementsAndGoodbye(t *testing.T) {
	requireNetns(t)
	p := newNetnsPair(t, true)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	c := mdnsListener(t, ctx, p.nsB)

	anCtx, stop := context.WithCancel(ctx)
	an := announceIn(t, anCtx, p.nsA, Announcement{Instance: "direkt-test", Port: 1234, Nameplate: "9"}, nil)
	first := time.Now()
	for k := range announceCount {
		ttls := nextResponse(t, ctx, c, an.Instance())
		if len(ttls) != 5 || ttls[0] != recordTTL { // PTR, SRV, TXT, A, AAAA
			t.Fatalf("announcement %d: answer TTLs %v", k, ttls)
		}
	}
	if gap := time.Since(first); gap < 900*time.Millisecond {
		t.Errorf("two announcements within %v; RFC 6762 §8.3 wants a second between them", gap)
	}
	stop()
	ttls := nextResponse(t, ctx, c, an.Instance())
	for _, ttl := range ttls {
		if ttl != 0 {
			t.Fatalf("goodbye TTLs %v, want all 0", ttls)
		}
	}
	if err := an.Close(); err != nil {
		t.Errorf("Close after the context ended: %v", err)
	}
}

// TestNetnsLegacyFallback: when 5353 is held by a socket that does not share
// it, Lookup queries from an ephemeral port and the announcer answers by
// unicast (RFC 6762 §5.1, §6.7), over IPv4 and over link-local IPv6.
func TestNetnsLegacyFallback(t *testing.T) {
	requireNetns(t)
	p := newNetnsPair(t, true)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var err4, err6 error
	var hog4, hog6 *net.UDPConn
	inNetns(t, p.nsB, func() {
		hog4, err4 = net.ListenUDP("udp4", &net.UDPAddr{Port: mdnsPort})
		hog6, err6 = net.ListenUDP("udp6", &net.UDPAddr{Port: mdnsPort})
	})
	if err4 != nil || err6 != nil {
		t.Fatal(err4, err6)
	}
	defer hog4.Close()
	defer hog6.Close()

	announceIn(t, ctx, p.nsA, Announcement{Port: 2222, Nameplate: "12"}, nil)
	addrs, took, err := lookupIn(ctx, p.nsB, "12")
	if err != nil {
		t.Fatalf("Lookup with 5353 taken: %v", err)
	}
	t.Logf("found %v in %v", addrs, took)
	if len(addrs) == 0 || addrs[0] != netip.AddrPortFrom(p.v4A, 2222) {
		t.Errorf("Lookup = %v", addrs)
	}

	// The same over IPv6 alone: a v6-only pair, 5353 taken for IPv6.
	p6 := newNetnsPair(t, false)
	inNetns(t, p6.nsB, func() { hog6, err6 = net.ListenUDP("udp6", &net.UDPAddr{Port: mdnsPort}) })
	if err6 != nil {
		t.Fatal(err6)
	}
	defer hog6.Close()
	announceIn(t, ctx, p6.nsA, Announcement{Port: 2223, Nameplate: "13"}, nil)
	addrs, _, err = lookupIn(ctx, p6.nsB, "13")
	if want := netip.AddrPortFrom(p6.llA.WithZone(p6.ifB), 2223); err != nil || len(addrs) != 1 || addrs[0] != want {
		t.Errorf("IPv6 legacy Lookup = %v, %v; want [%v]", addrs, err, want)
	}
}

// TestNetnsCoexistsWithAvahi: a daemon that bound 5353 with SO_REUSEADDR
// only, as avahi does, keeps receiving while we announce and look up.
func TestNetnsCoexistsWithAvahi(t *testing.T) {
	requireNetns(t)
	p := newNetnsPair(t, true)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	var avahi *mconn
	var err error
	inNetns(t, p.nsA, func() {
		lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1) })
		}}
		var pc net.PacketConn
		if pc, err = lc.ListenPacket(ctx, "udp4", ":5353"); err != nil {
			return
		}
		avahi = &mconn{uc: pc.(*net.UDPConn)}
		avahi.p4 = ipv4.NewPacketConn(avahi.uc)
		var ifi *net.Interface
		if ifi, err = net.InterfaceByName(p.ifA); err == nil {
			err = avahi.p4.JoinGroup(ifi, &net.UDPAddr{IP: groupV4.AsSlice()})
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer avahi.close()

	announceIn(t, ctx, p.nsA, Announcement{Port: 3333, Nameplate: "77"}, nil)
	addrs, _, err := lookupIn(ctx, p.nsB, "77")
	if err != nil || len(addrs) == 0 || addrs[0].Port() != 3333 {
		t.Fatalf("Lookup next to avahi = %v, %v", addrs, err)
	}
	// The daemon saw the lookup's query too.
	_ = avahi.uc.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, maxPacket)
	for {
		n, _, err := avahi.uc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("avahi-like socket heard no query: %v", err)
		}
		var m dnsmessage.Message
		if m.Unpack(buf[:n]) == nil && !m.Response && len(m.Questions) > 0 && m.Questions[0].Name.String() == serviceName {
			return
		}
	}
}

// TestNetnsLoopbackWithMulticast: where loopback has the MULTICAST flag, the
// default interface selection includes it, and a lookup on the same host
// gets loopback addresses (usable because the answer came over loopback).
func TestNetnsLoopbackWithMulticast(t *testing.T) {
	requireNetns(t)
	ns := fmt.Sprintf("dkd%d-%dlo", os.Getpid(), nsSeq.Add(1))
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	run(t, "ip", "-n", ns, "link", "set", "lo", "multicast", "on", "up")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	announceIn(t, ctx, ns, Announcement{Port: 4444, Nameplate: "8"}, nil)
	addrs, _, err := lookupIn(ctx, ns, "8")
	want := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:4444"), netip.MustParseAddrPort("[::1]:4444")}
	if err != nil || fmt.Sprint(addrs) != fmt.Sprint(want) {
		t.Errorf("Lookup over loopback = %v, %v; want %v", addrs, err, want)
	}
}
