package discovery

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func testIface(loopback bool) *ifaceInfo {
	i := &ifaceInfo{
		ifi: net.Interface{Index: 2, Name: "eth9", Flags: net.FlagUp | net.FlagMulticast},
		v4:  []netip.Prefix{netip.MustParsePrefix("192.0.2.1/24")},
		v6:  []netip.Prefix{netip.MustParsePrefix("fe80::1/64")},
	}
	if loopback {
		i.ifi = net.Interface{Index: 1, Name: "lo", Flags: net.FlagUp | net.FlagMulticast | net.FlagLoopback}
		i.v4 = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/8")}
	}
	return i
}

var peerSrc = netip.MustParseAddrPort("192.0.2.10:5353")

func addrStrings(aps []netip.AddrPort) []string {
	var s []string
	for _, ap := range aps {
		s = append(s, ap.String())
	}
	return s
}

func TestResolverFullAnswer(t *testing.T) {
	tr := newTestRecords(t, "direkt-abc", 8080, "47")
	tr.v4 = append(tr.v4, netip.MustParseAddr("198.51.100.7"))
	res := newResolver("47")
	addrs, _ := res.handle(tr.response(t, fPTR, fAll, recordTTL), peerSrc, testIface(false), -1)
	want := []string{"192.0.2.10:8080", "198.51.100.7:8080", "[2001:db8::10]:8080", "[fe80::10%eth9]:8080"}
	if !slices.Equal(addrStrings(addrs), want) {
		t.Errorf("addresses %v, want %v", addrs, want)
	}
}

func TestResolverOtherNameplateAndVersion(t *testing.T) {
	res := newResolver("47")
	for _, tr := range []testRecords{
		newTestRecords(t, "direkt-one", 8080, "4"),
		newTestRecords(t, "direkt-two", 8080, "470"),
	} {
		if addrs, follow := res.handle(tr.response(t, fPTR, fAll, recordTTL), peerSrc, testIface(false), -1); addrs != nil || follow {
			t.Errorf("other nameplate matched: %v, %v", addrs, follow)
		}
	}
	v2 := newTestRecords(t, "direkt-three", 8080, "47")
	v2.rs.txt = []string{"v=2", "np=47"}
	if addrs, _ := res.handle(v2.response(t, fPTR, fAll, recordTTL), peerSrc, testIface(false), -1); addrs != nil {
		t.Errorf("version 2 matched: %v", addrs)
	}
	// Those three are now known answers in the next query, so their
	// announcers keep quiet (RFC 6762 §7.1).
	b, err := res.buildQuery(make([]byte, maxPacket), 0)
	if err != nil {
		t.Fatal(err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(b); err != nil {
		t.Fatal(err)
	}
	if len(m.Questions) != 1 || m.Questions[0].Type != dnsmessage.TypePTR || len(m.Answers) != 3 {
		t.Errorf("query: %d questions, %d known answers; want 1, 3", len(m.Questions), len(m.Answers))
	}
	for _, qq := range []string{"direkt-one", "direkt-two", "direkt-three"} {
		if _, ok := parseQuery(newTestRecords(t, qq, 8080, "1").rs, b); ok {
			t.Errorf("%s would answer a query that lists it as known", qq)
		}
	}
	if _, ok := parseQuery(newTestRecords(t, "direkt-four", 8080, "47").rs, b); !ok {
		t.Error("an unknown instance would not answer")
	}
}

// TestResolverSplitAnswers: records arriving in separate packets, with a
// follow-up query asking directly for what is missing.
func TestResolverSplitAnswers(t *testing.T) {
	tr := newTestRecords(t, "direkt-abc", 8080, "47")
	res := newResolver("47")
	in := testIface(false)
	if addrs, follow := res.handle(tr.response(t, fPTR|fTXT, 0, recordTTL), peerSrc, in, -1); addrs != nil || !follow {
		t.Fatalf("TXT alone: %v, follow-up %v; want none, true", addrs, follow)
	}
	if qs := queryQuestions(t, res); !slices.Contains(qs, "direkt-abc._direkt._tcp.local. TypeSRV") {
		t.Errorf("follow-up questions %v lack the SRV", qs)
	}
	if addrs, follow := res.handle(tr.response(t, fSRV, 0, recordTTL), peerSrc, in, -1); addrs != nil || !follow {
		t.Fatalf("SRV without address: %v, follow-up %v", addrs, follow)
	}
	if qs := queryQuestions(t, res); !slices.Contains(qs, "direkt-abc.local. TypeA") || !slices.Contains(qs, "direkt-abc.local. TypeAAAA") {
		t.Errorf("follow-up questions %v lack A and AAAA", qs)
	}
	tr.v6 = nil
	addrs, _ := res.handle(tr.response(t, fA, 0, recordTTL), peerSrc, in, -1)
	if want := []string{"192.0.2.10:8080"}; !slices.Equal(addrStrings(addrs), want) {
		t.Errorf("addresses %v, want %v", addrs, want)
	}
}

func queryQuestions(t *testing.T, res *resolver) []string {
	t.Helper()
	b, err := res.buildQuery(make([]byte, maxPacket), 0)
	if err != nil {
		t.Fatal(err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(b); err != nil {
		t.Fatal(err)
	}
	var qs []string
	for _, qq := range m.Questions {
		qs = append(qs, qq.Name.String()+" "+qq.Type.String())
	}
	return qs
}

func TestResolverGoodbye(t *testing.T) {
	tr := newTestRecords(t, "direkt-abc", 8080, "47")
	res := newResolver("47")
	in := testIface(false)
	res.handle(tr.response(t, fTXT|fSRV, 0, recordTTL), peerSrc, in, -1)
	res.handle(tr.response(t, fAll, 0, 0), peerSrc, in, -1) // goodbye
	if addrs, _ := res.handle(tr.response(t, fA, 0, recordTTL), peerSrc, in, -1); addrs != nil {
		t.Errorf("instance that said goodbye found: %v", addrs)
	}
}

func TestResolverRejects(t *testing.T) {
	tr := newTestRecords(t, "direkt-abc", 8080, "47")
	pkt := tr.response(t, fPTR, fAll, recordTTL)
	if addrs, _ := newResolver("47").handle(pkt, netip.MustParseAddrPort("192.0.2.10:5354"), testIface(false), -1); addrs != nil {
		t.Error("answer from a port other than 5353 accepted (RFC 6762 §11)")
	}
	// Addresses no one could use are dropped; nothing left means not found.
	tr.v4 = []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("224.0.0.251")}
	tr.v6 = []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("ff02::1")}
	pkt = tr.response(t, fPTR, fAll, recordTTL)
	if addrs, follow := newResolver("47").handle(pkt, netip.MustParseAddrPort("[::1]:5353"), testIface(false), -1); addrs != nil || !follow {
		t.Errorf("unusable addresses: %v, follow-up %v", addrs, follow)
	}
	// Heard on loopback, loopback is fine.
	addrs, _ := newResolver("47").handle(pkt, netip.MustParseAddrPort("127.0.0.1:5353"), testIface(true), -1)
	if want := []string{"127.0.0.1:8080", "[::1]:8080"}; !slices.Equal(addrStrings(addrs), want) {
		t.Errorf("on loopback: %v, want %v", addrs, want)
	}
	// Link-local IPv6 from an unknown interface has no zone and is dropped.
	tr.v4, tr.v6 = nil, []netip.Addr{netip.MustParseAddr("fe80::10")}
	if addrs, _ := newResolver("47").handle(tr.response(t, fPTR, fAll, recordTTL), netip.MustParseAddrPort("[fe80::10]:5353"), nil, -1); addrs != nil {
		t.Errorf("zone-less link-local returned: %v", addrs)
	}
	// A query is not an answer.
	if addrs, _ := newResolver("47").handle(pack(t, dnsmessage.Message{}), peerSrc, nil, -1); addrs != nil {
		t.Error("query accepted as answer")
	}
}

// TestResolverFlood: a network full of other instances neither grows the
// state without bound nor hides the one we want.
func TestResolverFlood(t *testing.T) {
	res := newResolver("47")
	in := testIface(false)
	for k := range 500 {
		tr := newTestRecords(t, fmt.Sprintf("direkt-%d", k), 8080, "9")
		res.handle(tr.response(t, fPTR, fAll, recordTTL), peerSrc, in, -1)
	}
	if len(res.instances) > maxInstances || len(res.instOrder) > maxInstances || len(res.hosts) > maxHosts {
		t.Fatalf("state grew to %d instances, %d hosts", len(res.instances), len(res.hosts))
	}
	if b, err := res.buildQuery(make([]byte, maxPacket), 0); err != nil || len(b) > 1500 {
		t.Errorf("query of %d bytes, err %v: known answers must keep it in one packet", len(b), err)
	}
	tr := newTestRecords(t, "direkt-ours", 9090, "47")
	if addrs, _ := res.handle(tr.response(t, fPTR, fAll, recordTTL), peerSrc, in, -1); len(addrs) == 0 || addrs[0].Port() != 9090 {
		t.Errorf("after a flood: %v", addrs)
	}
}
