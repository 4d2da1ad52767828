package session

import (
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// TestPunchConnTTL sends through a punching socket on loopback and reads
// each datagram's TTL on the receiving side: the per-packet way of this
// platform (writeTTL) and the socket-option way (writeTTLSockopt) both send
// with the low TTL and leave the socket's own TTL as it was.
func TestPunchConnTTL(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	prx := ipv4.NewPacketConn(rx)
	if err := prx.SetControlMessage(ipv4.FlagTTL, true); err != nil {
		t.Skipf("no TTL control messages here: %v", err)
	}
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	p := newPuncher(3, 0, slog.New(slog.DiscardHandler))
	c := &punchConn{conn: tx, p: p, v4: true, heard: map[netip.AddrPort]struct{}{}}
	defer c.Close()
	to := rx.LocalAddr().(*net.UDPAddr).AddrPort()

	ttl := func() int {
		t.Helper()
		b := make([]byte, 64)
		_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, cm, _, err := prx.ReadFrom(b)
		if err != nil {
			t.Fatal(err)
		}
		if cm == nil {
			t.Fatal("no control message")
		}
		return cm.TTL
	}
	if _, err := c.writeNormal([]byte("a"), to); err != nil {
		t.Fatal(err)
	}
	normal := ttl()
	if normal <= 3 {
		t.Fatalf("normal TTL %d", normal)
	}
	for name, write := range map[string]func([]byte, netip.AddrPort, int) error{
		"writeTTL":        func(b []byte, a netip.AddrPort, n int) error { return writeTTL(c, b, a, n) },
		"writeTTLSockopt": func(b []byte, a netip.AddrPort, n int) error { return writeTTLSockopt(c, b, a, n) },
	} {
		if err := write([]byte("b"), to, 3); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := ttl(); got != 3 {
			t.Errorf("%s: TTL %d, want 3", name, got)
		}
		if _, err := c.writeNormal([]byte("c"), to); err != nil {
			t.Fatal(err)
		}
		if got := ttl(); got != normal {
			t.Errorf("after %s: TTL %d, want %d", name, got, normal)
		}
	}

	// The gate: a peer candidate gets the low TTL until heard from.
	p.learnRemote("candidate:1 1 udp 2130706431 " + to.Addr().String() + " " + itoa(int64(to.Port())) + " typ host")
	if _, err := c.WriteToAddrPort([]byte("d"), to); err != nil {
		t.Fatal(err)
	}
	if got := ttl(); got != 3 {
		t.Errorf("gated write: TTL %d, want 3", got)
	}
	if drop := c.received([]byte("x"), to); drop {
		t.Error("a packet that is no marker was dropped")
	}
	if _, err := c.WriteToAddrPort([]byte("e"), to); err != nil {
		t.Fatal(err)
	}
	if got := ttl(); got != normal {
		t.Errorf("write after hearing the peer: TTL %d, want %d", got, normal)
	}
	if !c.received(punchMarker, to) {
		t.Error("a marker was passed on to ICE")
	}
}

// FuzzParseCandidate feeds the puncher's candidate parser (it reads lines
// the peer sent): it must not panic, and what it accepts is a UDP address.
func FuzzParseCandidate(f *testing.F) {
	f.Add("candidate:1 1 udp 2130706431 10.0.0.1 5000 typ host")
	f.Add("a=candidate:2 1 udp 1694498815 192.0.2.1 6000 typ srflx raddr 10.0.0.1 rport 5000")
	f.Add("candidate:3 1 tcp 1 10.0.0.1 9 typ host tcptype active")
	f.Add("candidate:4 1 udp 1 abc.local 5000 typ host")
	f.Add("candidate:5 1 udp 1 ::1 70000 typ host")
	f.Fuzz(func(t *testing.T, line string) {
		_, addr, ok := parseCandidate(line)
		if ok && (!addr.IsValid() || addr.Port() == 0) {
			t.Fatalf("accepted %q as %v", line, addr)
		}
		p := newPuncher(0, 0, slog.New(slog.DiscardHandler))
		p.learnRemote(line)
		p.announced(line)
	})
}
