package e2e

import (
	"context"
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
	bed := openBed(ctx, t, netbed.Config{Prefix: matrixPrefix, A: netbed.Public, B: netbed.Easy, Delay: 5 * time.Millisecond})
	srvAddr := netbed.ServerAddr.String()
	srv := start(t, "server", procOptions{Netns: bed.Server}, append([]string{"server", "--listen", srvAddr + ":8080", "--turn-listen", srvAddr + ":3478", "--public-ip", srvAddr}, relayAllow()...)...)
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

// The disruptions, on the receiver's site (internal/netbed). A router
// reboot also makes the router strict about TCP in mid-stream, as many home
// routers are: the mailbox's TCP connection dies and the receiver must
// re-open the mailbox to signal the restart. When only the UDP mappings are
// forgotten, the mailbox's connection survives.
func hostDownUp(ctx context.Context, s *netbed.Site) error { return s.DownUp(ctx, restartOutage) }

func hostNewAddress(ctx context.Context, s *netbed.Site) error {
	_, err := s.NewAddress(ctx)
	return err
}

func routerReboot(ctx context.Context, s *netbed.Site) error { return s.RouterReboot(ctx, true) }

func natForgetsUDP(ctx context.Context, s *netbed.Site) error { return s.NATForgetsUDP(ctx) }
