package discovery

import (
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// seedPackets are real packets of both kinds, plus a few broken ones.
func seedPackets(f *testing.F) {
	tr := newTestRecords(f, "direkt-abc", 8080, "47")
	for _, fl := range []recordFlags{fPTR, fSRV | fTXT, fA | fAAAA, fAll} {
		f.Add(tr.response(f, fl, fAll, recordTTL))
	}
	f.Add(tr.response(f, fAll, 0, 0)) // goodbye
	legacy, _ := tr.rs.build(make([]byte, maxPacket), message{id: 9, questions: []dnsmessage.Question{
		{Name: tr.rs.service, Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET},
	}, answer: fPTR, extra: fAll, ttl: legacyTTL, v4: tr.v4})
	f.Add(legacy)

	res := newResolver("47")
	res.handle(newTestRecords(f, "direkt-other", 1, "5").response(f, fPTR, fAll, recordTTL), peerSrc, testIface(false), -1)
	res.handle(tr.response(f, fTXT, 0, recordTTL), peerSrc, testIface(false), -1)
	query, _ := res.buildQuery(make([]byte, maxPacket), 0) // with a known answer and follow-up questions
	f.Add(query)
	f.Add(pack(f, dnsmessage.Message{Questions: []dnsmessage.Question{
		q(f, "direkt-abc.local.", dnsmessage.TypeALL, dnsmessage.ClassANY|topBit),
		q(f, "direkt-abc._direkt._tcp.local.", dnsmessage.TypeTXT, dnsmessage.ClassINET),
	}}))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 120, 0, 2, 0xc0, 12}) // pointer loop
	f.Add(query[:len(query)-3])
}

// FuzzParseQuery feeds arbitrary packets to the responder's parser: it must
// not panic, must only ever ask for our records, and whatever it accepts must
// turn into a well-formed answer.
func FuzzParseQuery(f *testing.F) {
	seedPackets(f)
	tr := newTestRecords(f, "direkt-abc", 8080, "47")
	buf := make([]byte, maxPacket)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		got, ok := parseQuery(tr.rs, pkt)
		if !ok {
			return
		}
		if got.answer == 0 || got.answer&^fAll != 0 || len(got.asked) == 0 || len(got.asked) > maxQuestions {
			t.Fatalf("accepted query %+v", got)
		}
		b, err := tr.rs.build(buf, message{id: got.id, questions: got.asked, answer: got.answer, extra: fAll, ttl: legacyTTL, v4: tr.v4, v6: tr.v6})
		if err != nil {
			t.Fatalf("answer to an accepted query: %v", err)
		}
		var m dnsmessage.Message
		if err := m.Unpack(b); err != nil || len(m.Answers) == 0 || len(b) > maxPacket {
			t.Fatalf("answer of %d bytes unpacks to %d answers, %v", len(b), len(m.Answers), err)
		}
	})
}

// FuzzResolverHandle feeds arbitrary packets to the lookup side, twice into
// the same state: it must not panic, must return only usable addresses with
// a port, keep its state bounded and keep building valid queries.
func FuzzResolverHandle(f *testing.F) {
	seedPackets(f)
	in := testIface(false)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		res := newResolver("47")
		for range 2 {
			addrs, _ := res.handle(pkt, peerSrc, in, -1)
			for _, ap := range addrs {
				a := ap.Addr()
				if ap.Port() == 0 || !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() ||
					a.Is6() && a.IsLinkLocalUnicast() && a.Zone() != in.ifi.Name {
					t.Fatalf("unusable address %v in %v", ap, addrs)
				}
			}
		}
		if len(res.instances) > maxInstances || len(res.hosts) > maxHosts {
			t.Fatalf("state: %d instances, %d hosts", len(res.instances), len(res.hosts))
		}
		b, err := res.buildQuery(make([]byte, maxPacket), 0)
		if err != nil {
			t.Fatalf("buildQuery: %v", err)
		}
		var m dnsmessage.Message
		if err := m.Unpack(b); err != nil || len(m.Questions) == 0 {
			t.Fatalf("query unpacks to %d questions, %v", len(m.Questions), err)
		}
		_, _ = res.handle(pkt, netip.MustParseAddrPort("[fe80::1]:5353"), nil, 7)
	})
}
