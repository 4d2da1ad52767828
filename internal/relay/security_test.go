package relay_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/direkt/direkt/internal/relay"
)

// Relay security (issue 4, section 6; issue 7, items 1 and 2), tried over
// the wire: what a client holding valid credentials must not get the relay
// to do. TestPeerAllowed pins the policy function; these tests check that
// every way of naming a peer goes through it — CreatePermission,
// ChannelBind, Send and ChannelData — over UDP and TCP, for IPv4 and IPv6
// relays, that the relay host's own addresses are refused on top, and that
// RFC 6062 TCP allocations (and so Connect) are not offered at all.

// peerCase is a peer address and whether the relay may reach it without and
// with AllowPrivate.
type peerCase struct {
	ip             string
	public, anyway bool
	what           string
}

var peers4 = []peerCase{
	{"8.8.8.8", true, true, "a public peer (only permissions are made)"},
	{"127.1.2.3", false, false, "loopback besides the relay's address: the relay host"},
	{"0.0.0.0", false, false, "this host"},
	{"192.0.2.1", false, true, "documentation TEST-NET-1"},
	{"198.51.100.7", false, true, "documentation TEST-NET-2"},
	{"203.0.113.7", false, true, "documentation TEST-NET-3"},
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
	{"::", false, false, "unspecified: the relay host"},
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
	{"64:ff9b::7f00:1", false, false, "NAT64 of 127.0.0.1: the relay host"},
	{"2002:7f00:1::1", false, false, "6to4 of 127.0.0.1: the relay host"},
	{"3fff::1", false, true, "documentation, RFC 9637"},
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
					for i, p := range append(fam.peers, ownPeers(t, fam.ip)...) {
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
					}
				})
			}
		}
	}
}

// ownIPs are this host's interface addresses of one family, without
// loopback and link-local ones: addresses of the relay host that a relay
// must not reach.
func ownIPs(t *testing.T, v6 bool) []netip.Addr {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		n, ok := netip.AddrFromSlice(ipn.IP)
		if !ok || n.Unmap().Is6() != v6 || n.IsLoopback() || n.IsLinkLocalUnicast() {
			continue
		}
		out = append(out, n.Unmap())
	}
	return out
}

// ownPeers are the host's interface addresses of relayIP's family as peer
// cases: refused whatever the policy, as the relay host's own.
func ownPeers(t *testing.T, relayIP string) []peerCase {
	var out []peerCase
	for _, a := range ownIPs(t, strings.Contains(relayIP, ":")) {
		out = append(out, peerCase{a.String(), false, false, "an interface address of the relay host"})
	}
	return out
}

// TestSendWithoutPermission: a client that skips CreatePermission and sends
// a Send indication gets nothing through to a peer that really listens —
// another allocation on the same relay, the one peer a relay on loopback
// may reach. With the permission the same steps deliver (the control).
func TestSendWithoutPermission(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "::1"} {
		for _, allow := range []bool{false, true} {
			for _, perm := range []bool{false, true} {
				t.Run(ip+"/AllowPrivate="+strconv.FormatBool(allow)+"/permission="+strconv.FormatBool(perm), func(t *testing.T) {
					s, udpAddr, _ := startRelayOn(t, ip, relay.Config{AllowPrivate: allow})
					user, pass, _ := s.Credentials(time.Now())
					c := newRawClient(t, "udp", udpAddr, user, pass)
					relayed := c.allocate(17).(*net.UDPAddr)
					peer := newRawClient(t, "udp", udpAddr, user, pass)
					pa := peer.allocate(17).(*net.UDPAddr)
					peer.permit(relayed.IP)
					if perm {
						c.permit(pa.IP)
					}
					c.send(stun.MethodSend, peerAddr{ip: pa.IP, port: pa.Port}, dataAttr([]byte("let me in")))
					c.barrier()
					wait := 200 * time.Millisecond
					if perm {
						wait = 5 * time.Second
					}
					got := peer.poll(stun.MethodData, wait)
					switch {
					case perm && got == nil:
						t.Fatal("control: nothing arrived")
					case perm:
						checkData(t, got, "let me in", relayed)
					case got != nil:
						t.Fatalf("the relay forwarded a Send without a permission: %v", got)
					}
				})
			}
		}
	}
}

// checkData checks that a Data indication carries msg from the peer from.
func checkData(t *testing.T, m *stun.Message, msg string, from *net.UDPAddr) {
	t.Helper()
	var src stun.XORMappedAddress
	data, err := m.Get(stun.AttrData)
	if err != nil || string(data) != msg {
		t.Fatalf("Data indication carries %q (%v), want %q", data, err, msg)
	}
	if err := src.GetFromAs(m, stun.AttrXORPeerAddress); err != nil || src.Port != from.Port || !src.IP.Equal(from.IP) {
		t.Fatalf("Data indication from %v (%v), want %v", src, err, from)
	}
}

// TestOwnAddresses (issue 7, item 2): a relayed client reaches none of the
// relay host's own addresses — the relay address on any port but a relay
// socket's, other loopback addresses, the interface addresses — by Send or
// by ChannelData, over a permission or a channel; it cannot even make a
// permission or channel for an own address other than the relay address.
// Two relayed peers of the server still reach each other (the control).
// "deployed" is the production set-up: listeners on 0.0.0.0, --public-ip
// set to an interface address, no AllowPrivate.
func TestOwnAddresses(t *testing.T) {
	type setup struct {
		name, listen string
		cfg          relay.Config
		targets      []string // peers bound on these, besides the relay address
	}
	setups := []setup{
		{"loopback4", "127.0.0.1", relay.Config{AllowPrivate: true}, []string{"127.0.0.2"}},
		{"loopback6", "::1", relay.Config{AllowPrivate: true}, nil},
	}
	for _, a := range ownIPs(t, false) {
		setups[0].targets = append(setups[0].targets, a.String())
	}
	for _, a := range ownIPs(t, true) {
		setups[1].targets = append(setups[1].targets, a.String())
	}
	if own := ownIPs(t, false); len(own) > 0 {
		setups = append(setups, setup{"deployed", "0.0.0.0",
			relay.Config{PublicIP: own[0].AsSlice()}, []string{"127.0.0.1", "127.0.0.2"}})
	}
	for _, su := range setups {
		t.Run(su.name, func(t *testing.T) {
			s, udpAddr, tcpAddr := startRelayOn(t, su.listen, su.cfg)
			relayIP := su.cfg.PublicIP
			if relayIP == nil {
				relayIP = net.ParseIP(su.listen)
			}
			// The relay address itself first: only relay sockets there.
			targets := append([]string{relayIP.String()}, su.targets...)
			for _, network := range []string{"udp", "tcp"} {
				addr := udpAddr
				if network == "tcp" {
					addr = tcpAddr
				}
				if su.listen == "0.0.0.0" {
					// Listening on all addresses: come over loopback.
					_, port, _ := net.SplitHostPort(addr)
					addr = net.JoinHostPort("127.0.0.1", port)
				}
				t.Run(network, func(t *testing.T) {
					user, pass, _ := s.Credentials(time.Now())
					c := newRawClient(t, network, addr, user, pass)
					relayed := c.allocate(17).(*net.UDPAddr)
					for i, ip := range targets {
						pc, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
						if err != nil {
							t.Logf("cannot bind %s: %v", ip, err)
							continue
						}
						defer pc.Close()
						pa := pc.LocalAddr().(*net.UDPAddr)
						peer := peerAddr{ip: pa.IP, port: pa.Port}
						isRelay := pa.IP.Equal(relayIP)
						res := c.request(stun.MethodCreatePermission, peer)
						if ok := res.Type.Class == stun.ClassSuccessResponse; ok != isRelay {
							t.Errorf("CreatePermission to %v: %v (code %d), want success=%v", pa, res.Type, errorCode(res), isRelay)
						}
						ch := uint16(0x4000 + i)
						res = c.request(stun.MethodChannelBind, channelNumber(ch), peer)
						bound := res.Type.Class == stun.ClassSuccessResponse
						if bound != isRelay {
							t.Errorf("ChannelBind to %v: %v (code %d), want success=%v", pa, res.Type, errorCode(res), isRelay)
						}
						c.send(stun.MethodSend, peer, dataAttr([]byte("send to "+ip)))
						c.channelData(ch, []byte("channel to "+ip))
						c.barrier()
						_ = pc.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
						buf := make([]byte, 100)
						if n, from, err := pc.ReadFrom(buf); err == nil {
							t.Errorf("the relay reached its own address %v: %q from %v", pa, buf[:n], from)
						} else if !isTimeout(err) {
							t.Fatal(err)
						}
					}

					// The control: another allocation on the relay address
					// gets both a Send and ChannelData.
					peer := newRawClient(t, network, addr, user, pass)
					pa := peer.allocate(17).(*net.UDPAddr)
					if !pa.IP.Equal(relayIP) || !relayed.IP.Equal(relayIP) {
						t.Fatalf("relayed addresses %v and %v, want on %v", relayed, pa, relayIP)
					}
					peer.permit(relayed.IP)
					c.permit(pa.IP)
					c.send(stun.MethodSend, peerAddr{ip: pa.IP, port: pa.Port}, dataAttr([]byte("relay to relay")))
					got := peer.poll(stun.MethodData, 5*time.Second)
					if got == nil {
						t.Fatal("control: a Send to another allocation did not arrive")
					}
					checkData(t, got, "relay to relay", relayed)
					res := c.request(stun.MethodChannelBind, channelNumber(0x7000), peerAddr{ip: pa.IP, port: pa.Port})
					if res.Type.Class != stun.ClassSuccessResponse {
						t.Fatalf("control: ChannelBind to another allocation: %v (code %d)", res.Type, errorCode(res))
					}
					c.channelData(0x7000, []byte("over a channel"))
					got = peer.poll(stun.MethodData, 5*time.Second)
					if got == nil {
						t.Fatal("control: ChannelData to another allocation did not arrive")
					}
					checkData(t, got, "over a channel", relayed)
				})
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// TestNoTCPAllocations (issue 7, item 1): RFC 6062 TCP allocations are not
// offered, however permissive the policy: the Allocate is refused with 508
// and a Connect, which would dial a TCP service for the client, reaches
// nothing.
func TestNoTCPAllocations(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "::1"} {
		t.Run(ip, func(t *testing.T) {
			s, _, tcpAddr := startRelayOn(t, ip, relay.Config{AllowPrivate: true})
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			la := ln.Addr().(*net.TCPAddr)
			user, pass, _ := s.Credentials(time.Now())
			c := newRawClient(t, "tcp", tcpAddr, user, pass)
			res := c.request(stun.MethodAllocate, requestedTransport(6))
			if errorCode(res) != stun.CodeInsufficientCapacity {
				t.Fatalf("TCP allocation: %v (code %d), want 508", res.Type, errorCode(res))
			}
			// pion does not answer a Connect without a TCP allocation; the
			// barrier returns once it has been handled.
			c.fire(stun.MethodConnect, peerAddr{ip: la.IP, port: la.Port})
			c.barrier()
			_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(100 * time.Millisecond))
			if conn, err := ln.Accept(); err == nil {
				conn.Close()
				t.Fatal("the relay connected to the listener")
			}
			// The same client still gets a UDP allocation (the control).
			c.allocate(17)
		})
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
		for _, protocol := range []byte{17} {
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

// TestAllowPeers: a listed prefix admits peers the range policy refuses (a
// test bed's documentation-range "public" addresses) and nothing else; the
// relay's own addresses, multicast and broadcast stay refused even when a
// listed prefix covers them.
func TestAllowPeers(t *testing.T) {
	allow := []netip.Prefix{
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("127.0.0.0/8"),
		netip.MustParsePrefix("224.0.0.0/4"),
		netip.MustParsePrefix("255.255.255.255/32"),
	}
	s, udpAddr, _ := startRelayOn(t, "127.0.0.1", relay.Config{AllowPeers: allow})
	user, pass, _ := s.Credentials(time.Now())
	c := newRawClient(t, "udp", udpAddr, user, pass)
	c.allocate(17)
	for _, p := range []struct {
		ip   string
		want bool
		what string
	}{
		{"198.51.100.7", true, "listed documentation range"},
		{"203.0.113.7", false, "documentation range not listed"},
		{"10.1.2.3", false, "private, not listed"},
		{"8.8.8.8", true, "public"},
		{"127.1.2.3", false, "loopback, listed: still the relay host"},
		{"224.0.0.1", false, "multicast, listed"},
		{"255.255.255.255", false, "broadcast, listed"},
	} {
		res := c.request(stun.MethodCreatePermission, peerAddr{ip: net.ParseIP(p.ip), port: 9})
		if got := res.Type.Class == stun.ClassSuccessResponse; got != p.want {
			t.Errorf("CreatePermission to %s (%s): %v (code %d), want allowed=%v", p.ip, p.what, res.Type, errorCode(res), p.want)
		}
	}
}
