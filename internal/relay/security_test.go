package relay_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/direkt/direkt/internal/relay"
)

// Relay security (issue 4, section 6), tried over the wire: what a client
// holding valid credentials must not get the relay to do. TestPeerAllowed
// pins the policy function; these tests check that every way of naming a
// peer goes through it — CreatePermission, ChannelBind, Send, and RFC 6062
// Connect on TCP allocations — over UDP and TCP, for IPv4 and IPv6 relays.

// peerCase is a peer address and whether the relay may reach it without and
// with AllowPrivate.
type peerCase struct {
	ip             string
	public, anyway bool
	what           string
}

var peers4 = []peerCase{
	{"203.0.113.7", true, true, "a public peer (TEST-NET-3 stands in)"},
	{"127.0.0.1", false, true, "loopback"},
	{"127.1.2.3", false, true, "loopback, not .1"},
	{"0.0.0.0", false, true, "this host"},
	{"10.1.2.3", false, true, "RFC 1918"},
	{"172.16.0.9", false, true, "RFC 1918"},
	{"192.168.1.1", false, true, "RFC 1918"},
	{"100.64.0.1", false, true, "CGNAT"},
	{"169.254.1.1", false, true, "link-local"},
	{"169.254.169.254", false, true, "AWS, GCP, Azure, OpenStack instance metadata"},
	{"169.254.170.2", false, true, "AWS ECS task metadata"},
	{"169.254.0.23", false, true, "Tencent Cloud metadata"},
	{"100.100.100.200", false, true, "Alibaba Cloud metadata"},
	{"192.0.0.192", false, true, "Oracle Cloud metadata"},
	{"168.63.129.16", false, true, "Azure WireServer"},
	{"198.18.0.1", false, true, "benchmarking"},
	{"240.0.0.1", false, true, "reserved"},
	{"224.0.0.1", false, false, "multicast"},
	{"255.255.255.255", false, false, "broadcast"},
}

var peers6 = []peerCase{
	{"2a00:1450:4001:80b::200e", true, true, "a public peer"},
	{"2606:4700:4700::1111", true, true, "a public peer"},
	{"::1", false, true, "loopback"},
	{"::", false, true, "unspecified"},
	{"::127.0.0.1", false, true, "IPv4-compatible loopback"},
	{"fe80::1", false, true, "link-local"},
	{"fe80::a9fe:a9fe", false, true, "link-local"},
	{"fd00:ec2::254", false, true, "AWS instance metadata over IPv6"},
	{"fd00:ec2::23", false, true, "AWS time sync over IPv6"},
	{"fc00::1", false, true, "ULA"},
	{"fd12:3456:789a::1", false, true, "ULA"},
	{"fec0::1", false, true, "site-local"},
	{"2001:db8::1", false, true, "documentation"},
	{"64:ff9b::a9fe:a9fe", false, true, "NAT64 of 169.254.169.254"},
	{"64:ff9b::7f00:1", false, true, "NAT64 of 127.0.0.1"},
	{"64:ff9b:1::1", false, true, "local-use NAT64"},
	{"100::1", false, true, "discard-only"},
	{"ff02::1", false, false, "multicast"},
	{"ff05::1:3", false, false, "multicast"},
}

// startRelayOn runs a relay on UDP and TCP sockets of ip (127.0.0.1 or
// ::1), relaying from the same address. It skips when ip cannot be bound.
func startRelayOn(t *testing.T, ip string, cfg relay.Config) (s *relay.Server, udpAddr, tcpAddr string) {
	t.Helper()
	udp, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Skipf("no %s here: %v", ip, err)
	}
	tcp, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		udp.Close()
		t.Skipf("no %s here: %v", ip, err)
	}
	cfg.UDPConn, cfg.TCPListener, cfg.RelayBindAddr, cfg.Logger = udp, tcp, ip, quiet
	s, err = relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, udp.LocalAddr().String(), tcp.Addr().String()
}

func TestPeerPolicyOverTheWire(t *testing.T) {
	for _, fam := range []struct {
		name, ip string
		peers    []peerCase
	}{{"ipv4", "127.0.0.1", peers4}, {"ipv6", "::1", peers6}} {
		for _, allow := range []bool{false, true} {
			for _, network := range []string{"udp", "tcp"} {
				t.Run(fam.name+"/"+network+"/AllowPrivate="+strconv.FormatBool(allow), func(t *testing.T) {
					s, udpAddr, tcpAddr := startRelayOn(t, fam.ip, relay.Config{AllowPrivate: allow})
					addr := udpAddr
					if network == "tcp" {
						addr = tcpAddr
					}
					user, pass, _ := s.Credentials(time.Now())
					c := newRawClient(t, network, addr, user, pass)
					c.allocate(17)
					// RFC 6062 TCP allocations exist only over TCP.
					var tc *rawClient
					if network == "tcp" {
						tc = newRawClient(t, network, addr, user, pass)
						tc.allocate(6)
					}
					for i, p := range fam.peers {
						want := p.public
						if allow {
							want = p.anyway
						}
						peer := peerAddr{ip: net.ParseIP(p.ip), port: 9}
						res := c.request(stun.MethodCreatePermission, peer)
						if got := res.Type.Class == stun.ClassSuccessResponse; got != want {
							t.Errorf("CreatePermission to %s (%s): %v (code %d), want allowed=%v", p.ip, p.what, res.Type, errorCode(res), want)
						}
						res = c.request(stun.MethodChannelBind, channelNumber(0x4000+uint16(i)), peer)
						if got := res.Type.Class == stun.ClassSuccessResponse; got != want {
							t.Errorf("ChannelBind to %s (%s): %v (code %d), want allowed=%v", p.ip, p.what, res.Type, errorCode(res), want)
						}
						// A Connect to an allowed address would really dial it
						// (and time out after 30 s); TestTCPAllocationPolicy
						// connects to a listener.
						if tc != nil && !want {
							res := tc.request(stun.MethodConnect, peer)
							if res.Type.Class == stun.ClassSuccessResponse || errorCode(res) != stun.CodeForbidden {
								t.Errorf("Connect to %s (%s): %v (code %d), want 403", p.ip, p.what, res.Type, errorCode(res))
							}
						}
					}
				})
			}
		}
	}
}

// TestSendWithoutPermission: a client that skips CreatePermission and sends
// a Send indication (or a permission that was refused) gets nothing through
// to a peer that really listens.
func TestSendWithoutPermission(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "::1"} {
		for _, tc := range []struct {
			name  string
			allow bool
			perm  bool // ask for a permission first
			want  bool
		}{
			{"refused permission", false, true, false},
			{"no permission", false, false, false},
			{"no permission, AllowPrivate", true, false, false},
			{"permission, AllowPrivate", true, true, true}, // the control: the same steps deliver
		} {
			t.Run(ip+"/"+tc.name, func(t *testing.T) {
				s, udpAddr, _ := startRelayOn(t, ip, relay.Config{AllowPrivate: tc.allow})
				peer, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
				if err != nil {
					t.Fatal(err)
				}
				defer peer.Close()
				pa := peer.LocalAddr().(*net.UDPAddr)
				user, pass, _ := s.Credentials(time.Now())
				c := newRawClient(t, "udp", udpAddr, user, pass)
				relayed := c.allocate(17)
				if tc.perm {
					res := c.request(stun.MethodCreatePermission, peerAddr{ip: pa.IP, port: pa.Port})
					if ok := res.Type.Class == stun.ClassSuccessResponse; ok != tc.allow {
						t.Fatalf("CreatePermission: %v (code %d)", res.Type, errorCode(res))
					}
				}
				c.send(stun.MethodSend, peerAddr{ip: pa.IP, port: pa.Port}, dataAttr([]byte("let me in")))
				c.barrier()
				// After the barrier a relayed datagram has been sent on
				// loopback; the deadline only covers its delivery.
				wait := 200 * time.Millisecond
				if tc.want {
					wait = 5 * time.Second
				}
				_ = peer.SetReadDeadline(time.Now().Add(wait))
				buf := make([]byte, 100)
				n, from, err := peer.ReadFrom(buf)
				switch {
				case tc.want && err != nil:
					t.Fatalf("control: nothing arrived: %v", err)
				case tc.want && (string(buf[:n]) != "let me in" || from.String() != relayed.String()):
					t.Fatalf("control: %q from %v, want from the relayed address %v", buf[:n], from, relayed)
				case !tc.want && err == nil:
					t.Fatalf("the relay forwarded %q to %v without a permission", buf[:n], pa)
				case !tc.want && !isTimeout(err):
					t.Fatal(err)
				}
			})
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestTCPAllocationPolicy: on an RFC 6062 TCP allocation, neither an
// outgoing Connect nor an incoming connection reaches or admits a refused
// peer; with AllowPrivate the same steps connect (the control).
func TestTCPAllocationPolicy(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "::1"} {
		for _, allow := range []bool{false, true} {
			t.Run(ip+"/AllowPrivate="+strconv.FormatBool(allow), func(t *testing.T) {
				s, _, tcpAddr := startRelayOn(t, ip, relay.Config{AllowPrivate: allow})
				ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
				if err != nil {
					t.Fatal(err)
				}
				defer ln.Close()
				la := ln.Addr().(*net.TCPAddr)
				user, pass, _ := s.Credentials(time.Now())
				c := newRawClient(t, "tcp", tcpAddr, user, pass)
				relayed := c.allocate(6).(*net.TCPAddr)

				// Outgoing: Connect dials before it answers, so once the
				// answer is here the listener has the connection or never
				// will.
				res := c.request(stun.MethodConnect, peerAddr{ip: la.IP, port: la.Port})
				if ok := res.Type.Class == stun.ClassSuccessResponse; ok != allow {
					t.Fatalf("Connect to %v: %v (code %d), want success=%v", la, res.Type, errorCode(res), allow)
				}
				if !allow && errorCode(res) != stun.CodeForbidden {
					t.Errorf("Connect to %v: code %d, want 403", la, errorCode(res))
				}
				_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(time.Millisecond))
				conn, err := ln.Accept()
				if got := err == nil; got != allow {
					t.Fatalf("listener accepted=%v (%v), want %v", got, err, allow)
				}
				if conn != nil {
					conn.Close()
				}

				// Incoming: a peer on ip dials the relayed address. Without a
				// permission for it the relay hangs up; the permission it
				// needs is refused unless AllowPrivate.
				res = c.request(stun.MethodCreatePermission, peerAddr{ip: net.ParseIP(ip), port: 1})
				if ok := res.Type.Class == stun.ClassSuccessResponse; ok != allow {
					t.Fatalf("CreatePermission for %s: %v (code %d)", ip, res.Type, errorCode(res))
				}
				in, err := net.Dial("tcp", net.JoinHostPort(ip, strconv.Itoa(relayed.Port)))
				if err != nil {
					t.Fatalf("dial the relayed address: %v", err)
				}
				defer in.Close()
				if allow {
					// The control: the client hears of the connection.
					ind := c.next(stun.MethodConnectionAttempt)
					var from stun.XORMappedAddress
					if err := from.GetFromAs(ind, stun.AttrXORPeerAddress); err != nil || from.Port != in.LocalAddr().(*net.TCPAddr).Port {
						t.Fatalf("ConnectionAttempt names %v (%v), want the peer %v", from, err, in.LocalAddr())
					}
					return
				}
				_ = in.SetReadDeadline(time.Now().Add(5 * time.Second))
				if n, err := in.Read(make([]byte, 1)); err == nil || isTimeout(err) {
					t.Fatalf("the relay kept an incoming connection from a refused peer open (read %d, %v)", n, err)
				}
			})
		}
	}
}

// next returns the next indication of method, skipping anything else.
func (c *rawClient) next(method stun.Method) *stun.Message {
	c.t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			c.t.Fatalf("no %v indication: %v", method, err)
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if stun.IsMessage(m.Raw) && m.Decode() == nil && m.Type.Method == method && m.Type.Class == stun.ClassIndication {
			return m
		}
	}
}

// TestQuotaTCPAllocations: RFC 6062 TCP allocations count against the same
// per-credential quota as UDP ones.
func TestQuotaTCPAllocations(t *testing.T) {
	s, _, tcpAddr := startRelayOn(t, "127.0.0.1", relay.Config{AllowPrivate: true, MaxAllocationsPerUser: 2})
	user, pass, _ := s.Credentials(time.Now())
	newRawClient(t, "tcp", tcpAddr, user, pass).allocate(17)
	newRawClient(t, "tcp", tcpAddr, user, pass).allocate(6)
	res := newRawClient(t, "tcp", tcpAddr, user, pass).request(stun.MethodAllocate, requestedTransport(6))
	if errorCode(res) != stun.CodeAllocQuotaReached {
		t.Fatalf("third allocation (TCP): %v (code %d), want 486", res.Type, errorCode(res))
	}
}

// TestForgedExpiry: a client that moves the expiry in its TURN REST user
// name forward, keeping the password, is refused: the expiry is part of
// what the HMAC signs. So are user names the server could not have issued.
func TestForgedExpiry(t *testing.T) {
	secret := []byte("the test's shared secret")
	s, udpAddr, tcpAddr := startRelayOn(t, "127.0.0.1", relay.Config{AllowPrivate: true, Secret: secret})
	user, pass, _ := s.Credentials(time.Now())
	if restPassword(secret, user) != pass {
		t.Fatal("the test computes passwords differently from the server")
	}
	exp, id, _ := strings.Cut(user, ":")
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, user, pass string }{
		{"expiry moved a day on", strconv.FormatInt(e+86400, 10) + ":" + id, pass},
		{"another user's id", exp + ":" + id + "x", pass},
		{"no id", exp + ":", restPassword(secret, exp+":")},
		{"expiry not a number", "soon:" + id, restPassword(secret, "soon:"+id)},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, protocol := range []byte{17, 6} {
			if network == "udp" && protocol == 6 {
				continue
			}
			addr := udpAddr
			if network == "tcp" {
				addr = tcpAddr
			}
			for _, tc := range cases {
				t.Run(network+"/"+strconv.Itoa(int(protocol))+"/"+tc.name, func(t *testing.T) {
					res := newRawClient(t, network, addr, tc.user, tc.pass).request(stun.MethodAllocate, requestedTransport(protocol))
					if errorCode(res) != stun.CodeUnauthorized {
						t.Fatalf("allocate: %v (code %d), want 401", res.Type, errorCode(res))
					}
				})
			}
			// The control: the credentials as issued work.
			res := newRawClient(t, network, addr, user, pass).request(stun.MethodAllocate, requestedTransport(protocol))
			if res.Type.Class != stun.ClassSuccessResponse {
				t.Fatalf("%s/%d: issued credentials refused: code %d", network, protocol, errorCode(res))
			}
		}
	}
}

// restPassword is base64(HMAC-SHA1(secret, user)), as the TURN REST draft
// (draft-uberti-behave-turn-rest-00, section 2.2) defines it.
func restPassword(secret []byte, user string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(user))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
