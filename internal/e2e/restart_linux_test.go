package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/netbed"
)

// The network changes under a running transfer (issue 4, section 5): the
// real direkt send and receive in a netbed, the receiver behind an easy NAT,
// and mid-transfer its network changes. The session restarts ICE over the
// mailbox — still open, or re-opened when the change killed its WebSocket
// too (docs/protocol.md, section 3.1); the same processes finish the
// transfer, the file is intact, nothing was resumed, and the receiver's
// events show the path before ("connected") and after ("path").

// restartBytes is the file size: $DIREKT_RESTART_MIB MiB, default 64.
func restartBytes() int64 {
	if n, err := strconv.Atoi(os.Getenv("DIREKT_RESTART_MIB")); err == nil && n > 0 {
		return int64(n) << 20
	}
	return 64 << 20
}

// restartOutage is how long an interface stays down: longer than ICE's 5 s
// "disconnected" timeout, so that the path fails and must be restarted.
const restartOutage = 7 * time.Second

func TestRestartNetns(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace test")
	}
	requireMatrix(t)
	for _, tc := range []struct {
		name    string
		disrupt func(ctx context.Context, s *netbed.Site) error
		// conntrack: the disruption runs conntrack(8).
		conntrack bool
		// reopens: the change kills the receiver's mailbox WebSocket, so
		// the receiver must re-open the mailbox.
		reopens bool
	}{
		{"down-up", hostDownUp, false, false},
		{"nat-forgets-udp", natForgetsUDP, true, false},
		{"new-address", hostNewAddress, false, true},
		{"conntrack-flush", routerReboot, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := exec.LookPath("conntrack"); err != nil && tc.conntrack {
				t.Skip("needs conntrack (Debian package conntrack)")
			}
			runRestart(t, tc.disrupt, tc.reopens)
		})
	}
}

func runRestart(t *testing.T, disrupt func(ctx context.Context, s *netbed.Site) error, reopens bool) {
	ctx := testContext(t, 3*time.Minute)
	// 5 ms one way per site link (20 ms RTT between the peers) keeps the
	// transfer slow enough to be cut in the middle.
	bed, err := netbed.New(ctx, netbed.Config{Prefix: matrixPrefix, A: netbed.Public, B: netbed.Easy, Delay: 5 * time.Millisecond})
	if err != nil {
		t.Fatalf("bed: %v", err)
	}
	t.Cleanup(func() {
		if err := bed.Close(); err != nil {
			t.Errorf("bed: %v", err)
		}
	})
	srvAddr := netbed.ServerAddr.String()
	srv := start(t, "server", procOptions{Netns: bed.Server}, "server", "--listen", srvAddr+":8080", "--turn-listen", srvAddr+":3478", "--public-ip", srvAddr)
	if _, err := srv.awaitStderr(ctx, "direkt server running"); err != nil {
		t.Fatalf("server did not start: %v\n%s", err, srv.eventLog())
	}
	server := "http://" + srvAddr + ":8080"

	src := filepath.Join(t.TempDir(), "restart.bin")
	size := restartBytes()
	writeRandom(t, src, size)
	out := t.TempDir()
	send := start(t, "send", procOptions{Netns: bed.A.Host}, "send", "--json", "-v", "--server", server, src)
	codeEv, _, err := send.await(ctx, 0, func(e event) bool { return e.Event == "code" || e.Event == "error" })
	if err != nil || codeEv.Event != "code" {
		t.Fatalf("sender got no code: %s", describeFailure(send, err))
	}
	recv := start(t, "receive", procOptions{Netns: bed.B.Host}, "receive", "--json", "-v", "--out", out, "--server", server, codeEv.Code)
	// Cut the network once a little of the file arrived.
	prog, _, err := recv.await(ctx, 0, func(e event) bool {
		return (e.Event == "progress" && e.Bytes >= 4<<20) || e.Event == "done" || e.Event == "error"
	})
	if err != nil || prog.Event != "progress" {
		t.Fatalf("no progress to interrupt: %s", describeFailure(recv, err))
	}
	if prog.Bytes >= size {
		t.Fatalf("the transfer finished before the network changed (%d bytes): make the file bigger", prog.Bytes)
	}
	cut := time.Now()
	if err := disrupt(ctx, bed.B); err != nil {
		t.Fatal(err)
	}
	t.Logf("network changed at %d of %d bytes (%s)", prog.Bytes, size, time.Since(cut).Round(time.Millisecond))

	rcode, rok := exitCode(ctx, recv)
	scode, sok := exitCode(ctx, send)
	if !rok || !sok || rcode != 0 || scode != 0 {
		t.Fatalf("exit: receive %d (%v), send %d (%v)\nreceive: %s\nsend: %s", rcode, rok, scode, sok,
			describeFailure(recv, nil), describeFailure(send, nil))
	}
	t.Logf("transfer took %s after the change", time.Since(cut).Round(time.Millisecond))
	done, ok := recv.last("done")
	if !ok {
		t.Fatal("no done event from the receiver")
	}
	var res cellResult
	if !fileIntact(t, out, done, src, &res) {
		t.Fatalf("file not intact: %v", res.problems)
	}
	if done.Resumed == nil || *done.Resumed != 0 {
		t.Errorf("done event resumed %v bytes, want 0: the same transfer must carry on", done.Resumed)
	}
	for _, p := range []*proc{send, recv} {
		var connected, paths []string
		for _, e := range p.all() {
			switch e.Event {
			case "connected":
				connected = append(connected, e.raw)
			case "path":
				paths = append(paths, e.raw)
			}
		}
		t.Logf("%s: connected %s; then %s", p.name, strings.Join(connected, " "), strings.Join(paths, " "))
		if len(connected) != 1 {
			t.Errorf("%s: %d connected events, want 1", p.name, len(connected))
		}
		if len(paths) == 0 {
			t.Errorf("%s: no path event after the network changed", p.name)
		}
	}
	if _, ok := recv.stderrContains("answered an ICE restart"); !ok {
		t.Errorf("the receiver did not answer an ICE restart")
	}
	line, reopened := recv.stderrContains("mailbox reopened")
	t.Logf("receiver re-opened its mailbox: %t %s", reopened, line)
	if reopens && !reopened {
		t.Errorf("the receiver's mailbox connection was not re-opened")
	}
}

// bedIP runs ip(8) in namespace ns.
func bedIP(ctx context.Context, ns string, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip -n %s %s: %w: %s", ns, strings.Join(args, " "), err, out)
	}
	return nil
}

// hostDownUp takes the receiver's interface down for restartOutage and
// brings it back with its default route, which the kernel dropped with the
// link, as a DHCP client would.
func hostDownUp(ctx context.Context, s *netbed.Site) error {
	out, err := exec.CommandContext(ctx, "ip", "-n", s.Host, "route", "show", "default").Output()
	route := strings.Fields(string(out))
	if err != nil || len(route) < 3 {
		return fmt.Errorf("default route of %s: %q, %v", s.Host, out, err)
	}
	if err := bedIP(ctx, s.Host, "link", "set", "eth0", "down"); err != nil {
		return err
	}
	t := time.NewTimer(restartOutage)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := bedIP(ctx, s.Host, "link", "set", "eth0", "up"); err != nil {
		return err
	}
	return bedIP(ctx, s.Host, append([]string{"route", "add"}, route...)...)
}

// hostNewAddress moves the receiver to a new address on its LAN, as a
// DHCP lease change or a hop to another network does: the old address is
// deleted (the kernel drops the default route with it) and a new one is
// added with the default route. ICE's pair and the mailbox's TCP
// connection both ran from the old address: the answers to them are
// routed to an address nobody holds any more, so both die. The session
// restarts ICE over a re-opened mailbox.
func hostNewAddress(ctx context.Context, s *netbed.Site) error {
	out, err := exec.CommandContext(ctx, "ip", "-n", s.Host, "route", "show", "default").Output()
	route := strings.Fields(string(out))
	if err != nil || len(route) < 3 {
		return fmt.Errorf("default route of %s: %q, %v", s.Host, out, err)
	}
	if !s.LAN.IsValid() || !s.LAN.Addr().Is4() {
		return fmt.Errorf("site %s has no IPv4 LAN", s.Name)
	}
	a := s.LAN.Masked().Addr().As4()
	a[3] = 0x42
	next := netip.AddrFrom4(a)
	if next == s.HostAddr || next == s.Gateway {
		a[3] = 0x43
		next = netip.AddrFrom4(a)
	}
	bits := strconv.Itoa(s.LAN.Bits())
	if err := bedIP(ctx, s.Host, "addr", "del", s.HostAddr.String()+"/"+bits, "dev", "eth0"); err != nil {
		return err
	}
	if err := bedIP(ctx, s.Host, "addr", "add", next.String()+"/"+bits, "dev", "eth0"); err != nil {
		return err
	}
	// The kernel may or may not have kept the route; replace says the same
	// either way.
	return bedIP(ctx, s.Host, append([]string{"route", "replace"}, route...)...)
}

// routerReboot is a router that reboots: for a second nothing from the
// LAN gets through, every conntrack entry is flushed ("conntrack -F": UDP
// and TCP), and, as many home routers do, the fresh router does not pick
// up TCP connections in mid-stream (nf_conntrack_tcp_loose=0). The peer's
// UDP packets reach the router first and move the host's mapping to a new
// port (DESIGN.md, the conntrack race), so ICE fails; the mailbox's TCP
// connection is reset by the router (the server's segments) or black-holed
// (the host's, which leave un-NATed), so the receiver must re-open the
// mailbox to signal the restart.
func routerReboot(ctx context.Context, s *netbed.Site) error {
	return rebootRouter(ctx, s, "-F")
}

// natForgetsUDP makes the receiver's NAT forget its UDP mappings, as when
// their short timeouts expire (TCP's do not), the way a router reboot
// does: conntrack's UDP entries deleted while for a second nothing from the
// LAN gets out, so that the peer's packets reach the router first and leave
// entries that move the host's mapping to a new port when it speaks again
// (DESIGN.md, the conntrack race). The mailbox's TCP connection survives;
// routerReboot flushes it too.
func natForgetsUDP(ctx context.Context, s *netbed.Site) error {
	return rebootRouter(ctx, s, "-D", "-p", "udp")
}

// rebootRouter stops forwarding from s's LAN for a second and runs
// conntrack with flush (the rest of the arguments) in s's router meanwhile.
// A full flush ("-F") also makes the router strict about TCP in mid-stream.
func rebootRouter(ctx context.Context, s *netbed.Site, flush ...string) error {
	nft := func(script string) error {
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", s.Router, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft in %s: %w: %s", s.Router, err, out)
		}
		return nil
	}
	if err := nft("table ip reboot {\n\tchain forward {\n\t\ttype filter hook forward priority -10; policy accept;\n\t\tiifname \"lan0\" drop\n\t}\n}\n"); err != nil {
		return err
	}
	if flush[0] == "-F" {
		args := []string{"netns", "exec", s.Router, "sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_loose=0"}
		if out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(args[3:], " "), err, out)
		}
	}
	args := append([]string{"netns", "exec", s.Router, "conntrack"}, flush...)
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	// conntrack -D exits 1 when it found nothing to delete.
	if err != nil && !strings.Contains(string(out), "flow entries") {
		return fmt.Errorf("%s: %w: %s", strings.Join(args[3:], " "), err, out)
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nft("delete table ip reboot\n")
}
