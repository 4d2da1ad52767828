package session

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/stun/v4"

	"github.com/direkt/direkt/internal/wire"
)

func TestTURNHost(t *testing.T) {
	for _, tc := range []struct {
		url, host string
		ok        bool
	}{
		{"turn:203.0.113.10:3478?transport=udp", "203.0.113.10", true},
		{"turns:relay.example.org:443?transport=tcp", "relay.example.org", true},
		{"turn:[2001:db8::1]:3478", "2001:db8::1", true},
		{"turn:relay.example.org", "relay.example.org", true},
		{"stun:203.0.113.10:3478", "", false},
		{"turn:", "", false},
		{"turn:?transport=udp", "", false},
	} {
		host, ok := turnHost(tc.url)
		if host != tc.host || ok != tc.ok {
			t.Errorf("turnHost(%q) = %q, %v; want %q, %v", tc.url, host, ok, tc.host, tc.ok)
		}
	}
}

func bindingRequest(t *testing.T) []byte {
	t.Helper()
	m, err := stun.Build(stun.BindingRequest, stun.TransactionID, stun.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	return m.Raw
}

func mustCand(t *testing.T, line string) (c candidate) {
	t.Helper()
	ic, addr, ok := parseCandidate(line)
	if !ok {
		t.Fatalf("cannot parse %q", line)
	}
	return candidate{ic, addr}
}

// TestRelayGuard: a Binding request from a TURN server's IP on a port the
// peer did not signal is held back during the relay wait, unless the peer
// signalled that address; Path reports such a peer-reflexive remote as
// relay.
func TestRelayGuard(t *testing.T) {
	g := newRelayGuard([]wire.ICEServer{
		{URLs: []string{"stun:198.51.100.1:3478"}},
		{URLs: []string{"turn:203.0.113.10:3478?transport=udp", "turns:relay.example.org:443?transport=tcp"}},
	})
	if len(g.names) != 1 || g.names[0] != "relay.example.org" {
		t.Errorf("names to resolve: %q", g.names)
	}
	req := bindingRequest(t)
	relayed := netip.MustParseAddrPort("203.0.113.10:50000")
	stunSrv := netip.MustParseAddrPort("198.51.100.1:40000")

	if g.hold(req, relayed) {
		t.Error("held back before the remote description was set")
	}
	g.started(time.Hour)
	if !g.hold(req, relayed) {
		t.Error("a request from the TURN server's relayed address was not held back")
	}
	if g.hold(req, netip.MustParseAddrPort("[::ffff:203.0.113.10]:50000")) != true {
		t.Error("a v4-mapped source escaped the guard")
	}
	if g.hold(req, stunSrv) {
		t.Error("a STUN-only server's address was held back")
	}
	if g.hold([]byte("\x17\xfe\xfd not stun, DTLS"), relayed) {
		t.Error("a packet that is no Binding request was held back")
	}
	resp := append([]byte(nil), req...)
	resp[1] = 0x01
	resp[0] = 0x01 // Binding success response
	if g.hold(resp, relayed) {
		t.Error("a Binding response was held back")
	}
	if g.heldCount() != 2 {
		t.Errorf("held %d, want 2", g.heldCount())
	}

	// Our own relay candidate names another relayed IP.
	own := mustCand(t, "candidate:1 1 udp 16777215 192.0.2.77 61000 typ relay raddr 10.0.0.2 rport 5000")
	g.learnLocal(own.c, own.addr)
	if !g.hold(req, netip.MustParseAddrPort("192.0.2.77:61001")) {
		t.Error("a request from our own relay's IP was not held back")
	}

	// The peer signals its relay candidate: pion knows it as relay now.
	peerRelay := mustCand(t, "candidate:2 1 udp 16777215 203.0.113.10 50000 typ relay raddr 7.0.0.10 rport 4000")
	g.learnRemote(peerRelay.c, peerRelay.addr)
	if g.hold(req, relayed) {
		t.Error("held back a request from the peer's signalled relay candidate")
	}
	// A peer candidate on the server's IP (a peer on the server's machine).
	peerHost := mustCand(t, "candidate:3 1 udp 2130706431 203.0.113.10 40000 typ host")
	g.learnRemote(peerHost.c, peerHost.addr)
	if g.hold(req, peerHost.addr) {
		t.Error("held back a request from the peer's signalled host candidate")
	}

	// Path.
	for _, tc := range []struct {
		remote, addr string
		direct       bool
	}{
		{"prflx", "203.0.113.10:50001", false}, // unsignalled, relayed IP
		{"prflx", "203.0.113.10:50000", false}, // the peer's relay, learned as prflx first
		{"prflx", "203.0.113.10:40000", true},  // the peer's host candidate
		{"prflx", "7.0.0.10:4000", true},       // a NAT's port
		{"srflx", "203.0.113.10:50001", true},  // signalled srflx: as the peer says
	} {
		p := g.unmask(Path{Direct: true, Local: "host", Remote: tc.remote, RemoteAddr: tc.addr})
		if p.Direct != tc.direct {
			t.Errorf("%s %s: direct %v, want %v (%+v)", tc.remote, tc.addr, p.Direct, tc.direct, p)
		}
		if !p.Direct && p.Remote != "relay" {
			t.Errorf("%s %s: remote %q, want relay", tc.remote, tc.addr, p.Remote)
		}
	}

	// After the relay wait nothing is held back.
	g.started(-time.Millisecond)
	if g.hold(req, netip.MustParseAddrPort("203.0.113.10:50002")) {
		t.Error("held back after the relay wait")
	}
	var nilGuard *relayGuard
	if nilGuard.hold(req, relayed) || nilGuard.disguised("203.0.113.10:1") {
		t.Error("a nil guard acts")
	}
}

type candidate struct {
	c    ice.Candidate
	addr netip.AddrPort
}

// FuzzRelayGuard feeds hostile packets and candidate lines to the guard.
func FuzzRelayGuard(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, "candidate:2 1 udp 16777215 203.0.113.10 50000 typ relay raddr 7.0.0.10 rport 4000", "turn:203.0.113.10:3478")
	f.Add([]byte{0, 1}, "candidate:garbage", "turns:[::1")
	f.Fuzz(func(t *testing.T, pkt []byte, line, url string) {
		g := newRelayGuard([]wire.ICEServer{{URLs: []string{url}}})
		g.started(time.Hour)
		if c, addr, ok := parseCandidate(line); ok {
			g.learnRemote(c, addr)
			g.learnLocal(c, addr)
			_ = g.unmask(Path{Remote: "prflx", RemoteAddr: addr.String()})
		}
		_ = g.hold(pkt, netip.MustParseAddrPort("203.0.113.10:1"))
		_, _ = turnHost(url)
	})
}
