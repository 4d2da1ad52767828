//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/netbed"
)

// Interop with Debian's coturn (issue 4, section 7): two direkt peers use
// coturn as their TURN server (--ice-server, long-term credentials
// configured in coturn) with the relay forced (--path relay), over UDP and
// over TCP and over TLS (turns:, with the test CA given by --ca). The
// rendezvous runs with --no-relay, so coturn is the only relay there is;
// coturn's own log must show it relayed the file.

// coturnPort and coturnTLSPort are where coturn listens in the server's
// namespace, beside direkt server's STUN on 3478.
const (
	coturnPort    = "3479"
	coturnTLSPort = "5349"
)

// coturnUser and coturnPass are the long-term credentials coturn is given.
const (
	coturnUser = "direkt"
	coturnPass = "interop-secret"
)

// coturnFileBytes is the size of the file sent through coturn.
const coturnFileBytes = 4 << 20

func TestCoturnInterop(t *testing.T) {
	requireMatrix(t)
	if _, err := exec.LookPath("turnserver"); err != nil {
		t.Skip("turnserver not found: install Debian's coturn package")
	}
	for _, tc := range []struct {
		transport string      // udp, tcp, tls: the proto the peers must report
		site      netbed.Kind // both peers' sites
	}{
		{"udp", netbed.Hard}, // hard↔hard needs a relay anyway
		{"tcp", netbed.UDPBlock},
		{"tls", netbed.UDPBlock},
	} {
		t.Run(tc.transport, func(t *testing.T) {
			ctx := testContext(t, 2*time.Minute)
			// The matrix's prefix, so that its sweeper removes beds
			// of killed runs of this test too.
			bed := openBed(ctx, t, netbed.Config{Prefix: matrixPrefix, A: tc.site, B: tc.site})
			srvAddr := netbed.ServerAddr.String()
			srv := start(t, "server", procOptions{Netns: bed.Server}, "server", "--no-relay",
				"--listen", srvAddr+":8080", "--turn-listen", srvAddr+":3478", "--public-ip", srvAddr)
			if _, err := srv.awaitStderr(ctx, "direkt server running"); err != nil {
				t.Fatalf("server did not start: %v\n%s", err, srv.eventLog())
			}
			tlsFiles, err := netbed.WriteTLS(t.TempDir(), netbed.ServerAddr)
			if err != nil {
				t.Fatal(err)
			}
			ct := startCoturn(ctx, t, bed, srvAddr, tlsFiles)

			src := filepath.Join(t.TempDir(), "coturn.bin")
			writeRandom(t, src, coturnFileBytes)
			out := t.TempDir()
			iceURL := "turn:" + srvAddr + ":" + coturnPort + "?transport=" + tc.transport
			if tc.transport == "tls" {
				iceURL = "turns:" + srvAddr + ":" + coturnTLSPort + "?transport=tcp"
			}
			flags := []string{"--json", "--server", "http://" + srvAddr + ":8080", "--path", "relay",
				"--ice-server", iceURL, "--ice-user", coturnUser, "--ice-pass", coturnPass, "--ca", tlsFiles.CA}
			send := start(t, "send", procOptions{Netns: bed.A.Host}, append(append([]string{"send"}, flags...), src)...)
			code := send.mustEvent(ctx, "code")
			recv := start(t, "receive", procOptions{Netns: bed.B.Host}, append(append([]string{"receive"}, flags...), "--out", out, code.Code)...)
			if c := recv.wait(ctx); c != 0 {
				t.Fatalf("receive exited %d: %s\n%s", c, describeFailure(recv, nil), recv.eventLog())
			}
			if c := send.wait(ctx); c != 0 {
				t.Fatalf("send exited %d: %s\n%s", c, describeFailure(send, nil), send.eventLog())
			}
			for _, p := range []*proc{send, recv} {
				c, _ := p.last("connected")
				if c.Path != "relay" || c.Local != "relay" || c.Proto != tc.transport {
					t.Errorf("%s connected %s %s→%s over %s, want relay from its own relay candidate over %s",
						p.name, c.Path, c.Local, c.Remote, c.Proto, tc.transport)
				}
			}
			done := recv.mustEvent(ctx, "done")
			var res cellResult
			if !fileIntact(t, out, done, src, &res) {
				t.Fatalf("file not intact: %s", strings.Join(res.problems, "; "))
			}
			// Each peer's allocations end when it closes (a Refresh with
			// lifetime 0); coturn logs what each relayed, in intervals.
			// One allocation must have sent the file on to its peer and
			// one received it.
			usage, err := ct.awaitAllocationsEnded(ctx)
			if err != nil {
				t.Fatalf("coturn's allocations did not end: %v", err)
			}
			var maxSent, maxRecv int64
			for _, u := range usage {
				maxSent, maxRecv = max(maxSent, u.sent), max(maxRecv, u.received)
			}
			if maxSent < coturnFileBytes || maxRecv < coturnFileBytes {
				t.Errorf("coturn's allocations relayed at most %d bytes to and %d from a peer, want the file's %d both ways: %v", maxSent, maxRecv, coturnFileBytes, usage)
			}
			t.Logf("transport %s: coturn's allocations relayed (bytes to, from peers): %v", tc.transport, usage)
		})
	}
}

// coturn is a running turnserver whose log the test reads.
type coturn struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every log line and at exit
	lines   []string
	exited  bool
}

// startCoturn runs Debian's turnserver in the server's namespace on
// addr:coturnPort, UDP and TCP, and on addr:coturnTLSPort, TLS, with one
// long-term user, and waits until it listens. It stops at cleanup (before
// the bed goes).
func startCoturn(ctx context.Context, t *testing.T, bed *netbed.Bed, addr string, tlsFiles netbed.TLSFiles) *coturn {
	t.Helper()
	dir := t.TempDir()
	cmd := bed.Command(context.WithoutCancel(ctx), bed.Server, "turnserver", "-n", // no configuration file
		"--listening-ip="+addr, "--relay-ip="+addr, "--listening-port="+coturnPort,
		"--tls-listening-port="+coturnTLSPort, "--cert="+tlsFiles.Cert, "--pkey="+tlsFiles.Key,
		"--min-port=49152", "--max-port=49999",
		"--lt-cred-mech", "--user="+coturnUser+":"+coturnPass, "--realm=direkt.test",
		"--no-dtls", "--no-cli", "--no-rfc5780",
		"--log-file=stdout", "--simple-log", "--verbose",
		"--pidfile="+filepath.Join(dir, "turnserver.pid"), "--userdb="+filepath.Join(dir, "turndb"))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start turnserver: %v", err)
	}
	c := &coturn{changed: make(chan struct{})}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			close(c.changed)
			c.changed = make(chan struct{})
			c.mu.Unlock()
		}
		c.mu.Lock()
		c.exited = true
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-drained
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("turnserver:\n%s", c.log())
		}
	})
	for _, l := range []struct{ proto, port string }{{"UDP", coturnPort}, {"TCP", coturnPort}, {"TLS", coturnTLSPort}} {
		re := regexp.MustCompile(l.proto + `.* listener opened on ?: ` + regexp.QuoteMeta(addr) + `:` + l.port)
		if l.proto == "TLS" {
			re = regexp.MustCompile(`TLS/TCP listener opened on ?: ` + regexp.QuoteMeta(addr) + `:` + l.port)
		}
		if _, err := c.await(ctx, 0, re); err != nil {
			t.Fatalf("turnserver did not open its %s listener: %v\n%s", l.proto, err, c.log())
		}
	}
	return c
}

// await returns the n-th (from 0) log line that matches re.
func (c *coturn) await(ctx context.Context, n int, re *regexp.Regexp) (string, error) {
	for {
		c.mu.Lock()
		lines, exited, changed := c.lines, c.exited, c.changed
		c.mu.Unlock()
		seen := 0
		for _, l := range lines {
			if re.MatchString(l) {
				if seen == n {
					return l, nil
				}
				seen++
			}
		}
		if exited {
			return "", errEOF
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// coturnUsage is what one coturn allocation (a "session" in its log)
// relayed between its relayed address and its peers.
type coturnUsage struct {
	sent, received int64
}

func (u coturnUsage) String() string { return fmt.Sprintf("%d/%d", u.sent, u.received) }

var (
	sessionNew     = regexp.MustCompile(`session (\d+): new, realm=<[^>]*>, username=<` + coturnUser + `>`)
	sessionDeleted = regexp.MustCompile(`session (\d+): delete: `)
	// "peer usage" lines come every few seconds and at the end, each with
	// the bytes since the last one.
	peerUsage = regexp.MustCompile(`session (\d+): peer usage: realm=<[^>]*>, username=<[^>]*>, rp=\d+, rb=(\d+), sp=\d+, sb=(\d+)`)
)

// awaitAllocationsEnded waits until every allocation coturn made has been
// deleted and returns what each relayed, by session.
func (c *coturn) awaitAllocationsEnded(ctx context.Context) (map[string]coturnUsage, error) {
	for {
		c.mu.Lock()
		lines, exited, changed := c.lines, c.exited, c.changed
		c.mu.Unlock()
		made, gone := map[string]bool{}, map[string]bool{}
		usage := map[string]coturnUsage{}
		for _, l := range lines {
			if m := sessionNew.FindStringSubmatch(l); m != nil {
				made[m[1]] = true
			}
			if m := sessionDeleted.FindStringSubmatch(l); m != nil {
				gone[m[1]] = true
			}
			if m := peerUsage.FindStringSubmatch(l); m != nil {
				rb, _ := strconv.ParseInt(m[2], 10, 64)
				sb, _ := strconv.ParseInt(m[3], 10, 64)
				u := usage[m[1]]
				u.received += rb
				u.sent += sb
				usage[m[1]] = u
			}
		}
		ended := len(made) > 0
		for id := range made {
			ended = ended && gone[id]
		}
		if ended {
			return usage, nil
		}
		if exited {
			return nil, errEOF
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %d made, %d deleted", ctx.Err(), len(made), len(gone))
		}
	}
}

func (c *coturn) log() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.lines, "\n")
}
