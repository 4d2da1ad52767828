//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"
)

// Port mapping (issue 4, section 4): a site behind a hard (symmetric) NAT
// whose router runs Debian's miniupnpd, which offers UPnP IGD, NAT-PMP and
// PCP, and a real direkt peer behind it with $DIREKT_PORTMAP set to one
// protocol. The peer maps its ICE socket and trickles the mapped address;
// the other peer's checks come in through the mapping, so the pair goes
// direct where without the mapping it needs the relay.
//
// The mapping site's public address is outside every reserved range
// (6.0.0.0/24 and 7.0.0.0/24 here, inside the namespaces only): miniupnpd
// refuses to map on a router whose WAN address is private or reserved,
// RFC 5737's documentation ranges included.

// pmSiteKind is how a port-mapping test site reaches the internet.
type pmSiteKind int

const (
	pmEasy       pmSiteKind = iota // masquerade, no port mapping
	pmHard                         // masquerade random, no port mapping
	pmHardMapped                   // masquerade random, miniupnpd on the router
)

func (k pmSiteKind) String() string {
	return [...]string{"easy", "hard", "hard+miniupnpd"}[k]
}

// pmNet is the internet of a port-mapping test: the server and two sites.
type pmNet struct {
	*lab
	a, b    string // host namespaces
	routers []string
}

func newPMNet(t *testing.T, kindA, kindB pmSiteKind) *pmNet {
	t.Helper()
	n := &pmNet{lab: newLab(t)}
	inet := n.ns("inet")
	n.forward(inet)
	srv := n.ns("srv")
	n.link(inet, "isrv", "203.0.113.1/24", srv, "eth0", srvIP+"/24")
	n.defaultRoute(srv, "203.0.113.1")
	n.a = n.site(inet, "a", kindA, "6.0.0", "10.1.0")
	n.b = n.site(inet, "b", kindB, "7.0.0", "10.2.0")
	p := start(t, "server", procOptions{Netns: srv}, "server",
		"--listen", srvIP+":8080", "--turn-listen", srvIP+":3478", "--public-ip", srvIP)
	awaitServer(testContext(t, 30*time.Second), t, p, "")
	return n
}

// site builds a NAT site and returns its host's namespace.
func (n *pmNet) site(inet, role string, kind pmSiteKind, wan, lan string) string {
	n.t.Helper()
	router := n.ns("r" + role)
	n.routers = append(n.routers, router)
	n.forward(router)
	n.link(inet, "i"+role, wan+".1/24", router, "wan0", wan+".10/24")
	n.defaultRoute(router, wan+".1")
	host := n.ns(role)
	n.link(router, "lan0", lan+".1/24", host, "eth0", lan+".10/24")
	n.defaultRoute(host, lan+".1")
	random := ""
	if kind != pmEasy {
		random = " random"
	}
	// miniupnpd adds its rules to chains of its own (DNAT in
	// prerouting_miniupnpd, accept in the forward chain miniupnpd); the
	// base chains jump to them before the masquerade.
	n.sh(fmt.Sprintf(`table inet filter {
	chain miniupnpd {
	}
	chain forward {
		type filter hook forward priority 0; policy accept;
		jump miniupnpd
	}
}
table inet nat {
	chain prerouting_miniupnpd {
	}
	chain postrouting_miniupnpd {
	}
	chain prerouting {
		type nat hook prerouting priority -100; policy accept;
		jump prerouting_miniupnpd
	}
	chain postrouting {
		type nat hook postrouting priority 100; policy accept;
		jump postrouting_miniupnpd
		oifname "wan0" masquerade%s
	}
}
`, random), "ip", "netns", "exec", router, "nft", "-f", "-")
	if kind == pmHardMapped {
		n.startMiniupnpd(router, lan)
	}
	return host
}

// startMiniupnpd runs miniupnpd in the foreground (-d) on router, serving
// the LAN lan.0/24, and waits until it listens for NAT-PMP and PCP (it
// starts its SSDP and HTTP listeners before that).
func (n *pmNet) startMiniupnpd(router, lan string) {
	n.t.Helper()
	dir := n.t.TempDir()
	conf := filepath.Join(dir, "miniupnpd.conf")
	if err := os.WriteFile(conf, []byte(`ext_ifname=wan0
listening_ip=lan0
http_port=0
enable_natpmp=yes
enable_upnp=yes
secure_mode=yes
system_uptime=no
upnp_table_name=filter
upnp_nat_table_name=nat
upnp_forward_chain=miniupnpd
upnp_nat_chain=prerouting_miniupnpd
upnp_nat_postrouting_chain=postrouting_miniupnpd
uuid=6a8c2e1c-4d0b-4b8e-9d62-1f6d0c9a7e01
allow 1024-65535 `+lan+`.0/24 1024-65535
deny 0-65535 0.0.0.0/0 0-65535
`), 0o644); err != nil {
		n.t.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", router, "miniupnpd", "-d", "-f", conf, "-P", filepath.Join(dir, "miniupnpd.pid"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		n.t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		n.t.Fatalf("start miniupnpd: %v", err)
	}
	var (
		mu    sync.Mutex
		lines []string
	)
	ready := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
			if strings.Contains(sc.Text(), "Listening for NAT-PMP/PCP traffic") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	// Cleanups run last-registered first: the peers stop (and delete their
	// mappings) before miniupnpd, and miniupnpd before its namespace.
	n.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-drained
		_ = cmd.Wait()
		if n.t.Failed() {
			mu.Lock()
			n.t.Logf("miniupnpd on %s:\n  %s", router, strings.Join(lines, "\n  "))
			mu.Unlock()
		}
	})
	t := time.NewTimer(10 * time.Second)
	defer t.Stop()
	select {
	case <-ready:
	case <-drained:
		n.t.Fatalf("miniupnpd on %s exited before it listened", router)
	case <-t.C:
		n.t.Fatalf("miniupnpd on %s did not listen within 10 s", router)
	}
}

// redirects lists the port forwards miniupnpd holds on router.
func (n *pmNet) redirects(router string) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "exec", router, "nft", "list", "chain", "inet", "nat", "prerouting_miniupnpd").CombinedOutput()
	if err != nil {
		n.t.Fatalf("nft list chain on %s: %v\n%s", router, err, out)
	}
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "dnat") {
			rules = append(rules, strings.TrimSpace(l))
		}
	}
	return rules
}

// requireMiniupnpd skips when miniupnpd is not installed.
func requireMiniupnpd(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("miniupnpd"); err != nil {
		t.Skip("the port-mapping cases need miniupnpd (Debian package miniupnpd-nftables)")
	}
}

// transferEnv is transfer (netns_linux_test.go) with extra environment
// variables for both peers.
func transferEnv(ctx context.Context, t *testing.T, nsA, nsB string, env []string) pairRun {
	t.Helper()
	src := filepath.Join(t.TempDir(), "report.pdf")
	writeRandom(t, src, 1<<20)
	out := t.TempDir()
	var r pairRun
	// -v: a failed cell logs both peers' debug logs (ICE, port mapping,
	// hole punching) with their output.
	r.send = start(t, "send", procOptions{Netns: nsA, Env: env}, "send", "-v", "--json", "--server", serverURL, src)
	c := r.send.mustEvent(ctx, "code").Code
	r.recv = start(t, "receive", procOptions{Netns: nsB, Env: env}, "receive", "-v", "--json", "--out", out, "--server", serverURL, c)
	if ec := r.recv.wait(ctx); ec != 0 {
		t.Fatalf("receive exited %d:\n%s\nsender:\n%s", ec, r.recv.eventLog(), r.send.eventLog())
	}
	if ec := r.send.wait(ctx); ec != 0 {
		t.Fatalf("send exited %d:\n%s", ec, r.send.eventLog())
	}
	done, _ := r.recv.last("done")
	checkReceived(t, out, done, map[string]string{"report.pdf": src})
	r.sc, _ = r.send.last("connected")
	r.rc, _ = r.recv.last("connected")
	if r.sc.Path == "" || r.sc.Path != r.rc.Path {
		t.Errorf("the sides report different paths: send %q, receive %q", r.sc.raw, r.rc.raw)
	}
	return r
}

// TestPortMapNetns runs send (site A, hard NAT with miniupnpd) and receive
// (site B) over each protocol miniupnpd offers, against an easy site, a
// hard site without mapping and a hard site with mapping, and checks that
// every such pair goes direct and that the mappings are gone after the
// peers exit. A control pair of two hard sites without mapping must use the
// relay. It logs a table of the connect times.
func TestPortMapNetns(t *testing.T) {
	requireNetns(t)
	requireNft(t)
	requireMiniupnpd(t)
	type row struct {
		proto, a, b         string
		path, local, remote string
		sendMS, recvMS      int64
	}
	var (
		mu   sync.Mutex
		rows []row
	)
	cell := func(t *testing.T, proto string, kindA, kindB pmSiteKind, want string) {
		ctx := testContext(t, 90*time.Second)
		n := newPMNet(t, kindA, kindB)
		env := []string{"DIREKT_PORTMAP=" + proto}
		r := transferEnv(ctx, t, n.a, n.b, env)
		for _, e := range []event{r.sc, r.rc} {
			if e.Path != want {
				t.Errorf("connected %s, want path %s", e.raw, want)
			}
		}
		// One peer reached the other at its mapped address, a
		// server-reflexive candidate: the STUN-learned ones sit behind a
		// symmetric NAT that lets nothing in from the other peer. With both
		// sites mapped, either mapping may carry the pair.
		mappedA, mappedB := kindA == pmHardMapped, kindB == pmHardMapped
		viaA, viaB := r.rc.Remote == "srflx", r.sc.Remote == "srflx"
		if (mappedA && !mappedB && !viaA) || (mappedB && !mappedA && !viaB) || (mappedA && mappedB && !viaA && !viaB) {
			t.Errorf("no side's remote candidate is the mapped srflx:\n send    %s\n receive %s", r.sc.raw, r.rc.raw)
		}
		// The peers deleted their mappings when they closed.
		for i, k := range []pmSiteKind{kindA, kindB} {
			if k == pmHardMapped {
				if rules := n.redirects(n.routers[i]); len(rules) != 0 {
					t.Errorf("mappings left on %s after the peers exited: %q", n.routers[i], rules)
				}
			}
		}
		t.Logf("%s: %s↔%s path %s; sender %s→%s, receiver %s→%s; connected after %d/%d ms",
			proto, kindA, kindB, r.rc.Path, r.sc.Local, r.sc.Remote, r.rc.Local, r.rc.Remote, r.sc.ms(), r.rc.ms())
		mu.Lock()
		rows = append(rows, row{proto, kindA.String(), kindB.String(), r.rc.Path, r.rc.Local, r.rc.Remote, r.sc.ms(), r.rc.ms()})
		mu.Unlock()
	}
	for _, proto := range []string{"pcp", "natpmp", "upnp"} {
		for _, b := range []pmSiteKind{pmEasy, pmHard, pmHardMapped} {
			t.Run(proto+"/hard-mapped-"+b.String(), func(t *testing.T) {
				cell(t, proto, pmHardMapped, b, "direct")
			})
		}
	}
	// The mapped site answering (ICE controlled) rather than offering.
	t.Run("pcp/easy-hard-mapped", func(t *testing.T) {
		cell(t, "pcp", pmEasy, pmHardMapped, "direct")
	})
	t.Run("control/hard-hard", func(t *testing.T) {
		cell(t, "off", pmHard, pmHard, "relay")
	})

	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "protocol\tsite A (send)\tsite B (receive)\tpath\treceiver local→remote\tsend connected ms\treceive connected ms")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s→%s\t%d\t%d\n", r.proto, r.a, r.b, r.path, r.local, r.remote, r.sendMS, r.recvMS)
	}
	tw.Flush()
	t.Logf("port mapping, hard NAT with miniupnpd in site A (0 ms added latency):\n%s", b.String())
}
