package cli

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/relay"
	"github.com/direkt/direkt/internal/wire"
)

// TestEmbeddedServerIsNoWayIn (issue 7, item 1): someone on the LAN finds
// the server that `host` and `send` run in-process (its port is announced
// by mDNS), allocates a nameplate and claims it himself, and so holds
// whatever TURN credentials the paired frame carries. With them he must not
// reach services of the adviser's computer that listen only on loopback or
// on its own LAN address: not with an RFC 6062 TCP allocation and Connect,
// not with a UDP allocation and Send.
func TestEmbeddedServerIsNoWayIn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// The adviser: `direkt host` with no server, as a person runs it.
	host := run(t, ctx, "host", "", "host", "--json", "--no-browser", "--name", "Adviser", "--lang", "en", "--data", t.TempDir())
	ju, err := url.Parse(host.next(ctx, EventCode).str("join_url"))
	if err != nil {
		t.Fatal(err)
	}
	// The attacker comes over the LAN address the join link names.
	server := "http://" + ju.Host

	// The adviser's private services: a TCP one with a banner and a UDP
	// echo on loopback, and a UDP echo on the LAN address.
	banner := "SSH-2.0-only-for-127.0.0.1\r\n"
	tcpSvc, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcpSvc.Close()
	go func() {
		for {
			c, err := tcpSvc.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, banner)
			c.Close()
		}
	}()
	udpTargets := []string{"127.0.0.1"}
	if h := ju.Hostname(); h != "127.0.0.1" {
		udpTargets = append(udpTargets, h)
	}
	var echoes []net.PacketConn
	for _, ip := range udpTargets {
		pc, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		go func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = pc.WriteTo(append([]byte("echo:"), buf[:n]...), from)
			}
		}()
		echoes = append(echoes, pc)
	}

	ice := claimOwnNameplate(ctx, t, server)
	t.Logf("ICE servers in the attacker's paired frame: %+v", ice)
	var tried int
	for _, s := range ice {
		if s.Username != "" {
			t.Errorf("the embedded server issued TURN credentials to a LAN peer: %v", s.URLs)
		}
		for _, u := range s.URLs {
			scheme, rest, _ := strings.Cut(u, ":")
			hostport, query, _ := strings.Cut(rest, "?")
			user, pass := s.Username, s.Credential
			if user == "" {
				// No credentials offered: try the STUN port with
				// credentials a relay of ours could have issued.
				user, pass = strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)+":lan", "guess"
			}
			switch {
			case scheme == "stun" || (scheme == "turn" && query == "transport=udp"):
				for _, pc := range echoes {
					tried++
					if got, err := udpThroughRelay(hostport, user, pass, pc.LocalAddr().String()); err == nil {
						t.Errorf("through %s the attacker reached %v and got %q back", u, pc.LocalAddr(), got)
					} else {
						t.Logf("%s to %v: %v", u, pc.LocalAddr(), err)
					}
				}
			}
			switch {
			case scheme == "stun" || (scheme == "turn" && query == "transport=tcp"):
				tried++
				if got, err := tcpThroughRelay(hostport, user, pass, tcpSvc.Addr().String()); err == nil {
					t.Errorf("through %s (RFC 6062) the attacker reached %v and read %q", u, tcpSvc.Addr(), got)
				} else {
					t.Logf("%s (TCP allocation) to %v: %v", u, tcpSvc.Addr(), err)
				}
			}
		}
	}
	if tried == 0 {
		t.Fatalf("the paired frame named no STUN/TURN server to try: %+v", ice)
	}
}

// claimOwnNameplate allocates a nameplate on server and claims it from a
// second connection, as one attacker holding both ends, and returns the ICE
// servers the paired frame carried.
func claimOwnNameplate(ctx context.Context, t *testing.T, server string) []wire.ICEServer {
	t.Helper()
	opts := pairing.Options{Server: server, Hello: wire.Signal{Name: "LAN guest", App: wire.AppSend}, Logger: quietLogger()}
	pend, err := pairing.Allocate(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		p   *pairing.Pair
		err error
	}
	done := make(chan result, 1)
	go func() {
		p, err := pend.Wait(ctx)
		done <- result{p, err}
	}()
	b, err := pairing.Claim(ctx, opts, pend.Code())
	if err != nil {
		pend.Close()
		<-done
		t.Fatal(err)
	}
	defer b.Close(wire.MoodHappy)
	a := <-done
	if a.err != nil {
		t.Fatal(a.err)
	}
	defer a.p.Close(wire.MoodHappy)
	return b.ICEServers
}

// attackClient is a pion TURN client for server (host:port) over network.
func attackClient(network, server, user, pass string) (*turn.Client, func(), error) {
	var conn net.PacketConn
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp4", "0.0.0.0:0")
		if err != nil {
			return nil, nil, err
		}
		conn = c
	default:
		c, err := net.DialTimeout("tcp4", server, 2*time.Second)
		if err != nil {
			return nil, nil, err
		}
		conn = turn.NewSTUNConn(c)
	}
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: server,
		TURNServerAddr: server,
		Username:       user,
		Password:       pass,
		Conn:           conn,
		RTO:            50 * time.Millisecond,
		LoggerFactory:  relay.NewPionLogger(quietLogger()),
	})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	if err := c.Listen(); err != nil {
		conn.Close()
		c.Close()
		return nil, nil, err
	}
	return c, func() { conn.Close(); c.Close() }, nil
}

// udpThroughRelay allocates over UDP and sends to target through the relay,
// returning what came back.
func udpThroughRelay(server, user, pass, target string) (string, error) {
	c, closeClient, err := attackClient("udp", server, user, pass)
	if err != nil {
		return "", err
	}
	defer closeClient()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	rc, err := c.AllocateWithContext(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	ta, err := net.ResolveUDPAddr("udp4", target)
	if err != nil {
		return "", err
	}
	buf := make([]byte, 1500)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := rc.WriteTo([]byte("hello"), ta); err != nil {
			return "", err
		}
		_ = rc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _, err := rc.ReadFrom(buf); err == nil {
			return string(buf[:n]), nil
		}
	}
	return "", errors.New("nothing came back")
}

// tcpThroughRelay makes an RFC 6062 TCP allocation over a TCP connection and
// connects through it to target, returning what target sent.
func tcpThroughRelay(server, user, pass, target string) (string, error) {
	c, closeClient, err := attackClient("tcp", server, user, pass)
	if err != nil {
		return "", err
	}
	defer closeClient()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	alloc, err := c.AllocateTCPWithContext(ctx)
	if err != nil {
		return "", err
	}
	defer alloc.Close()
	conn, err := alloc.Dial("tcp4", target)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 100)
	n, err := conn.Read(buf)
	if n > 0 {
		return string(buf[:n]), nil
	}
	return "", err
}
