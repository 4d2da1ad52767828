//go:build linux

package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/netbed"
)

// Namespaces are named nsPrefix + the test process's pid + "x" + a sequence
// number + a role, so that a later run can tell its own from the leftovers of
// a test binary that was killed before its cleanup ran.
const nsPrefix = "dke"

var labSeq atomic.Int32

// removeStaleNamespaces deletes namespaces of earlier test processes that no
// longer run (their cleanup never ran because the binary was killed).
func removeStaleNamespaces() {
	if os.Geteuid() != 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The matrix's beds (internal/netbed) have a sweeper of their own.
	if gone, err := netbed.SweepStale(ctx, matrixPrefix); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: sweeping stale matrix namespaces:", err)
	} else if len(gone) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: removed %d stale matrix namespaces\n", len(gone))
	}
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		rest, ok := strings.CutPrefix(f[0], nsPrefix)
		if !ok {
			continue
		}
		pidText, _, ok := strings.Cut(rest, "x")
		pid, err := strconv.Atoi(pidText)
		if !ok || err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = exec.CommandContext(ctx, "ip", "netns", "del", f[0]).Run()
		}
	}
}

// requireNetns skips unless the test can build network namespaces.
func requireNetns(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespace tests need root (ip netns add, veth)")
	}
	for _, tool := range []string{"ip", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("network namespace tests need %s: %v", tool, err)
		}
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		t.Skipf("no network namespaces here: %v", err)
	}
}

// requireNft skips NAT cases when the nft tool is missing.
func requireNft(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("the NAT cases need the nft tool (Debian package nftables), which is not installed; the cases without NAT ran")
	}
}

// lab is a set of network namespaces that t's cleanup deletes (with every
// veth and bridge in them). Processes the test starts later are cleaned up
// first: cleanups run last-registered first.
type lab struct {
	t  *testing.T
	id string
}

func newLab(t *testing.T) *lab {
	return &lab{t: t, id: fmt.Sprintf("%s%dx%d", nsPrefix, os.Getpid(), labSeq.Add(1))}
}

// sh runs a command with a deadline and fails the test on error.
func (l *lab) sh(stdin string, args ...string) {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		l.t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// ns creates a namespace for role with loopback up.
func (l *lab) ns(role string) string {
	l.t.Helper()
	name := l.id + role
	l.sh("", "ip", "netns", "add", name)
	l.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "ip", "netns", "del", name).CombinedOutput(); err != nil {
			l.t.Errorf("ip netns del %s: %v\n%s", name, err, out)
		}
	})
	l.sh("", "ip", "-n", name, "link", "set", "lo", "up")
	// Addresses are usable at once, without duplicate address detection.
	// Best effort: a kernel without IPv6 has no such setting.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, "ip", "netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0").Run()
	return name
}

// link joins two namespaces with a veth pair and brings both ends up with the
// given addresses ("" for none).
func (l *lab) link(nsA, ifA, addrA, nsB, ifB, addrB string) {
	l.t.Helper()
	l.sh("", "ip", "link", "add", ifA, "netns", nsA, "type", "veth", "peer", "name", ifB, "netns", nsB)
	for _, end := range [][3]string{{nsA, ifA, addrA}, {nsB, ifB, addrB}} {
		if end[2] != "" {
			l.sh("", "ip", "-n", end[0], "addr", "add", end[2], "dev", end[1])
		}
		l.sh("", "ip", "-n", end[0], "link", "set", end[1], "up")
	}
}

func (l *lab) defaultRoute(ns, via string) {
	l.t.Helper()
	l.sh("", "ip", "-n", ns, "route", "add", "default", "via", via)
}

func (l *lab) forward(ns string) {
	l.t.Helper()
	l.sh("", "ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
}

// siteKind is how a client site reaches the internet.
type siteKind int

const (
	public  siteKind = iota // the host has a public address
	easyNAT                 // nft "masquerade": endpoint-independent mapping, port-restricted filtering
	hardNAT                 // nft "masquerade random": endpoint-dependent mapping (symmetric)
)

func (k siteKind) String() string {
	return [...]string{"public", "easy NAT", "symmetric NAT"}[k]
}

// internet is a router namespace ("inet") joining three sites: the server's
// (203.0.113.0/24) and two client sites A (198.51.100.0/24) and B
// (192.0.2.0/24), all documentation ranges (RFC 5737) that the relay treats
// as public. A NAT site has a router namespace holding the site's public
// address, with the host behind it on 10.1.0.0/24 or 10.2.0.0/24; the
// internet has no route to those.
type internet struct {
	*lab
	srv, a, b string   // namespaces of the server and the two hosts
	routers   []string // namespaces of the NAT routers
}

const (
	srvIP     = "203.0.113.10"
	serverURL = "http://" + srvIP + ":8080"
)

func newInternet(t *testing.T, kindA, kindB siteKind) *internet {
	t.Helper()
	n := &internet{lab: newLab(t)}
	inet := n.ns("inet")
	n.forward(inet)
	n.srv = n.ns("srv")
	n.link(inet, "isrv", "203.0.113.1/24", n.srv, "eth0", srvIP+"/24")
	n.defaultRoute(n.srv, "203.0.113.1")
	n.a = n.site(inet, "a", kindA, "198.51.100", "10.1.0")
	n.b = n.site(inet, "b", kindB, "192.0.2", "10.2.0")
	return n
}

// site builds a client site and returns the namespace of its host.
func (n *internet) site(inet, role string, kind siteKind, wan, lan string) string {
	n.t.Helper()
	if kind == public {
		host := n.ns(role)
		n.link(inet, "i"+role, wan+".1/24", host, "eth0", wan+".10/24")
		n.defaultRoute(host, wan+".1")
		return host
	}
	router := n.ns("r" + role)
	n.routers = append(n.routers, router)
	n.forward(router)
	n.link(inet, "i"+role, wan+".1/24", router, "wan0", wan+".10/24")
	n.defaultRoute(router, wan+".1")
	host := n.ns(role)
	n.link(router, "lan0", lan+".1/24", host, "eth0", lan+".10/24")
	n.defaultRoute(host, lan+".1")
	flags := ""
	if kind == hardNAT {
		// A fresh random port per mapping: endpoint-dependent (RFC 4787
		// section 4.1), what hole punching cannot predict.
		flags = " random"
	}
	n.sh(fmt.Sprintf(`table ip nat {
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		oifname "wan0" masquerade%s
	}
}
`, flags), "ip", "netns", "exec", router, "nft", "-f", "-")
	return host
}

// startServer runs "direkt server" in the server namespace with its public
// address, and no --relay-private: the relay is as strict as in production.
func (n *internet) startServer(ctx context.Context) *server {
	n.t.Helper()
	p := start(n.t, "server", procOptions{Netns: n.srv}, append([]string{"server",
		"--listen", srvIP + ":8080", "--turn-listen", srvIP + ":3478", "--public-ip", srvIP}, relayAllow()...)...)
	return awaitServer(ctx, n.t, p, "")
}

// logConntrack summarises the routers' UDP connection tracking: how many
// outbound mappings the peers' ICE checks made, how many of them the NAT
// moved to another port than the host's, and how many inbound packets
// arrived with no mapping (punches that came too early or to a wrong port).
// With zero latency a punch from the other side often arrives before this
// side's own first packet to it; conntrack then holds an unreplied inbound
// entry for exactly the tuple the outbound packet needs, and masquerade
// gives the outbound packet a new port (DESIGN.md, "Facts about these Linux
// test machines").
func (n *internet) logConntrack() {
	for _, r := range n.routers {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, "ip", "netns", "exec", r, "cat", "/proc/net/nf_conntrack").Output()
		cancel()
		if err != nil {
			n.t.Logf("conntrack of %s: %v", r, err)
			continue
		}
		var outbound, moved, inbound int
		for _, line := range strings.Split(string(out), "\n") {
			if !strings.Contains(line, " udp ") {
				continue
			}
			// The original tuple comes first, the reply tuple second.
			var src, sport, rdport []string
			for _, f := range strings.Fields(line) {
				k, v, _ := strings.Cut(f, "=")
				switch k {
				case "src":
					src = append(src, v)
				case "sport":
					sport = append(sport, v)
				case "dport":
					rdport = append(rdport, v)
				}
			}
			if len(src) != 2 || len(sport) != 2 || len(rdport) != 2 {
				continue
			}
			switch {
			case strings.HasPrefix(src[0], "10."):
				outbound++
				if rdport[1] != sport[0] {
					moved++
				}
			case strings.Contains(line, "[UNREPLIED]"):
				inbound++
			}
		}
		n.t.Logf("conntrack of %s: %d outbound UDP mappings, %d of them moved to another port; %d inbound UDP flows never answered",
			r, outbound, moved, inbound)
	}
}

// pairRun is one send→receive between two namespaces.
type pairRun struct {
	send, recv *proc
	sc, rc     event // connected events
}

// transfer sends a 1 MiB file from nsA to nsB (with the extra flags given
// for each side), checks that it arrives intact and that both sides exit 0,
// and returns the runs' connected events.
func transfer(ctx context.Context, t *testing.T, nsA, nsB string, sendFlags, recvFlags []string) pairRun {
	t.Helper()
	src := filepath.Join(t.TempDir(), "report.pdf")
	writeRandom(t, src, 1<<20)
	out := t.TempDir()
	var r pairRun
	r.send = start(t, "send", procOptions{Netns: nsA}, append(append([]string{"send", "--json"}, sendFlags...), src)...)
	c := r.send.mustEvent(ctx, "code").Code
	r.recv = start(t, "receive", procOptions{Netns: nsB}, append(append([]string{"receive", "--json", "--out", out}, recvFlags...), c)...)
	if ec := r.recv.wait(ctx); ec != 0 {
		t.Fatalf("receive exited %d:\n%s\nsender:\n%s", ec, r.recv.eventLog(), r.send.eventLog())
	}
	if ec := r.send.wait(ctx); ec != 0 {
		t.Fatalf("send exited %d:\n%s", ec, r.send.eventLog())
	}
	done, _ := r.recv.last("done")
	sdone, _ := r.send.last("done")
	if !sameFiles(done.Files, sdone.Files) {
		t.Errorf("done events disagree:\n send    %s\n receive %s", sdone.raw, done.raw)
	}
	checkReceived(t, out, done, map[string]string{"report.pdf": src})
	r.sc, _ = r.send.last("connected")
	r.rc, _ = r.recv.last("connected")
	if r.sc.Path == "" || r.sc.Path != r.rc.Path {
		t.Errorf("the sides report different paths: send %q, receive %q", r.sc.raw, r.rc.raw)
	}
	if r.sc.Phrase == "" || r.sc.Phrase != r.rc.Phrase {
		t.Errorf("check phrases differ: %q and %q", r.sc.Phrase, r.rc.Phrase)
	}
	t.Logf("path %s; sender %s→%s, receiver %s→%s (local→remote candidate types); proto %s/%s; code entered to connected %d ms",
		r.rc.Path, r.sc.Local, r.sc.Remote, r.rc.Local, r.rc.Remote, r.sc.Proto, r.rc.Proto, r.rc.ms())
	return r
}

// TestNetns runs send and receive in two sites of a namespace internet, with
// the server in a third, and a server-less pair on one LAN segment.
func TestNetns(t *testing.T) {
	requireNetns(t)
	wantPath := func(t *testing.T, r pairRun, path string) {
		t.Helper()
		for _, e := range []event{r.sc, r.rc} {
			if e.Path != path {
				t.Errorf("connected %s, want path %s", e.raw, path)
			}
		}
	}
	t.Run("public", func(t *testing.T) {
		ctx := testContext(t, 90*time.Second)
		n := newInternet(t, public, public)
		n.startServer(ctx)
		r := transfer(ctx, t, n.a, n.b, []string{"--server", serverURL}, []string{"--server", serverURL})
		wantPath(t, r, "direct")
	})
	t.Run("easy-nat", func(t *testing.T) {
		requireNft(t)
		ctx := testContext(t, 90*time.Second)
		n := newInternet(t, easyNAT, easyNAT)
		n.startServer(ctx)
		r := transfer(ctx, t, n.a, n.b, []string{"--server", serverURL}, []string{"--server", serverURL})
		// Hole punching between two endpoint-independent NATs can work, but
		// with zero latency Linux conntrack may defeat it (DESIGN.md); the
		// issue asks only for a connection here and a record of the path.
		t.Logf("both behind easy NAT: connected %s", r.rc.Path)
		n.logConntrack()
	})
	t.Run("symmetric-nat", func(t *testing.T) {
		requireNft(t)
		ctx := testContext(t, 90*time.Second)
		n := newInternet(t, hardNAT, hardNAT)
		n.startServer(ctx)
		r := transfer(ctx, t, n.a, n.b, []string{"--server", serverURL}, []string{"--server", serverURL})
		wantPath(t, r, "relay")
	})
	t.Run("forced-relay", func(t *testing.T) {
		ctx := testContext(t, 90*time.Second)
		n := newInternet(t, public, public)
		n.startServer(ctx)
		// Only the sender asks for the relay; the receiver follows.
		r := transfer(ctx, t, n.a, n.b, []string{"--server", serverURL, "--path", "relay"}, []string{"--server", serverURL})
		wantPath(t, r, "relay")
		for _, e := range []event{r.sc, r.rc} {
			if e.Local != "relay" && e.Remote != "relay" {
				t.Errorf("relay path without a relay candidate: %s", e.raw)
			}
		}
	})
	t.Run("lan-mdns", func(t *testing.T) {
		ctx := testContext(t, 90*time.Second)
		l := newLab(t)
		sw := l.ns("sw")
		l.sh("", "ip", "-n", sw, "link", "add", "br0", "type", "bridge")
		l.sh("", "ip", "-n", sw, "link", "set", "br0", "up")
		a, b := l.ns("a"), l.ns("b")
		l.link(a, "eth0", "10.9.0.10/24", sw, "pa", "")
		l.link(b, "eth0", "10.9.0.20/24", sw, "pb", "")
		for _, port := range []string{"pa", "pb"} {
			l.sh("", "ip", "-n", sw, "link", "set", port, "master", "br0")
		}
		// No --server and no $DIREKT_SERVER: the sender runs its own
		// rendezvous and the receiver finds it by mDNS.
		r := transfer(ctx, t, a, b, nil, nil)
		wantPath(t, r, "direct")
	})
}
