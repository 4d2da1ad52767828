package relay_test

import (
	"context"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/relay"
)

// TestTurnutilsUclient runs coturn's test client, turnutils_uclient from
// Debian's coturn package (issue 4, section 7), against this relay on
// loopback: it allocates, installs permissions and channels, and sends
// messages through the relay from one allocation to another (-y, client to
// client: a relay reaches no other address of its own host, loopback
// included), counting what comes back. The credentials are TURN REST ones:
// issued by Credentials, or computed by uclient itself from the shared
// secret (-W), which checks that both ends read
// draft-uberti-behave-turn-rest-00 alike. A UDP echo peer on loopback, an
// address of the relay host, gets nothing even with AllowPrivate, and RFC
// 6062 TCP allocations (-T) are refused.
func TestTurnutilsUclient(t *testing.T) {
	bin, err := exec.LookPath("turnutils_uclient")
	if err != nil {
		t.Skip("turnutils_uclient not found: install Debian's coturn package")
	}
	secret := "the shared secret of the test"
	s := startRelay(t, relay.Config{AllowPrivate: true, Secret: []byte(secret)})
	udpAddr, tcpAddr := serverAddrs(t, s)
	_, udpPort, _ := net.SplitHostPort(udpAddr)
	_, tcpPort, _ := net.SplitHostPort(tcpAddr)
	user, pass, _ := s.Credentials(time.Now())
	// TURN over TLS on the port it shares with HTTPS (Mux), as direkt
	// server's --tls-listen runs it.
	tlsStack := startMux(t, relay.MuxConfig{})
	_, tlsPort, _ := net.SplitHostPort(tlsStack.addr)
	tlsUser, tlsPass, _ := tlsStack.relay.Credentials(time.Now())

	const n = 10 // messages per client
	cases := []struct {
		name string
		args []string
		sent int // messages uclient must send and get back; 0: it must fail to allocate
		echo bool
	}{
		// -c: no second (RTCP) allocation. -y: two clients send to each
		// other's allocation.
		{"udp, channels", []string{"-p", udpPort, "-u", user, "-w", pass, "-c", "-y"}, 2 * n, false},
		{"udp, send indications, uclient's own REST credentials", []string{"-p", udpPort, "-u", "uclient", "-W", secret, "-c", "-s", "-y"}, 2 * n, false},
		{"tcp, channels", []string{"-p", tcpPort, "-t", "-u", user, "-w", pass, "-c", "-y"}, 2 * n, false},
		{"tcp, uclient's own REST credentials", []string{"-p", tcpPort, "-t", "-u", "uclient", "-W", secret, "-c", "-y"}, 2 * n, false},
		// -S: TLS (uclient does not check the certificate).
		{"tls on the shared HTTPS port", []string{"-p", tlsPort, "-t", "-S", "-u", tlsUser, "-w", tlsPass, "-c", "-y"}, 2 * n, false},
		// The relay host's own loopback: nothing arrives.
		{"udp to an echo peer on loopback", []string{"-p", udpPort, "-u", user, "-w", pass, "-c"}, -1, true},
		// -T: TCP relay allocations (RFC 6062) are not offered.
		{"tcp allocations", []string{"-p", tcpPort, "-T", "-u", user, "-w", pass}, 0, false},
		{"wrong secret", []string{"-p", udpPort, "-u", "uclient", "-W", secret + "x", "-c"}, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"-n", strconv.Itoa(n), "-l", "200"}, tc.args...)
			var echo *echoPeer
			if tc.echo {
				echo = startEchoPeer(t)
				_, port, _ := net.SplitHostPort(echo.conn.LocalAddr().String())
				args = append(args, "-e", "127.0.0.1", "-r", port)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append(args, "127.0.0.1")...)
			cmd.WaitDelay = 5 * time.Second
			out, err := cmd.CombinedOutput()
			if tc.sent < 0 {
				if n := echo.count(); n != 0 {
					t.Fatalf("the echo peer on loopback got %d messages through the relay:\n%s", n, out)
				}
				return
			}
			if tc.sent == 0 {
				if err == nil || !regexp.MustCompile(`Cannot complete Allocation|error 508`).Match(out) {
					t.Fatalf("uclient was not refused its allocation: %v\n%s", err, out)
				}
				if echo != nil && echo.count() != 0 {
					t.Fatalf("the echo peer got %d messages from a client that was refused", echo.count())
				}
				return
			}
			if err != nil {
				t.Fatalf("turnutils_uclient %v: %v\n%s", args, err, out)
			}
			m := regexp.MustCompile(`tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\n`).FindAllSubmatch(out, -1)
			lost := regexp.MustCompile(`Total lost packets (\d+) `).FindSubmatch(out)
			if len(m) == 0 || lost == nil {
				t.Fatalf("no totals in uclient's output:\n%s", out)
			}
			last := m[len(m)-1]
			if string(last[1]) != strconv.Itoa(tc.sent) || string(last[2]) != strconv.Itoa(tc.sent) || string(lost[1]) != "0" {
				t.Fatalf("uclient sent %s and got back %s, lost %s; want %d back of %d:\n%s", last[1], last[2], lost[1], tc.sent, tc.sent, out)
			}
			if echo != nil && echo.count() != tc.sent {
				t.Fatalf("the echo peer got %d messages through the relay, want %d", echo.count(), tc.sent)
			}
			t.Logf("%s: %s", tc.name, lost[0])
		})
	}
}

// echoPeer is a UDP peer on loopback that sends every datagram back. It
// stops at cleanup.
type echoPeer struct {
	conn net.PacketConn
	mu   sync.Mutex
	n    int
}

func startEchoPeer(t *testing.T) *echoPeer {
	t.Helper()
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoPeer{conn: conn}
	var wg sync.WaitGroup
	wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			e.mu.Lock()
			e.n++
			e.mu.Unlock()
			_, _ = conn.WriteTo(buf[:n], from)
		}
	})
	t.Cleanup(func() {
		_ = conn.Close()
		wg.Wait()
	})
	return e
}

func (e *echoPeer) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

// TestMuxALPNLikeCoturn: a TURN client that offers "http/1.1" beside
// "stun.turn" by ALPN, as coturn's do, is sorted to TURN, and an HTTP
// client that offers h2 and http/1.1 to HTTP.
func TestMuxALPNLikeCoturn(t *testing.T) {
	s := startMux(t, relay.MuxConfig{})
	s.turnOverTLS(t, []string{relay.ALPNHTTP, relay.ALPNTURN, "stun.nat-discovery"})
	if got := s.get(t, []string{"h2", relay.ALPNHTTP}); got != "hello over https" {
		t.Fatalf("HTTPS GET: %q", got)
	}
}
