package discovery

import (
	"net/netip"
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

func mustName(t testing.TB, s string) dnsmessage.Name {
	t.Helper()
	n, err := dnsmessage.NewName(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func q(t testing.TB, name string, typ dnsmessage.Type, class dnsmessage.Class) dnsmessage.Question {
	return dnsmessage.Question{Name: mustName(t, name), Type: typ, Class: class}
}

func pack(t testing.TB, m dnsmessage.Message) []byte {
	t.Helper()
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func knownPTR(t testing.TB, target string, ttl uint32) dnsmessage.Resource {
	return dnsmessage.Resource{
		Header: dnsmessage.ResourceHeader{Name: mustName(t, serviceName), Type: dnsmessage.TypePTR, Class: dnsmessage.ClassINET, TTL: ttl},
		Body:   &dnsmessage.PTRResource{PTR: mustName(t, target)},
	}
}

func TestParseQuery(t *testing.T) {
	rs := newTestRecords(t, "direkt-abc", 8080, "47").rs
	in := dnsmessage.ClassINET
	cases := []struct {
		name string
		msg  dnsmessage.Message
		want recordFlags // 0 = no answer
	}{
		{"service PTR", dnsmessage.Message{Questions: []dnsmessage.Question{q(t, serviceName, dnsmessage.TypePTR, in)}}, fPTR},
		{"service PTR, mixed case, QU bit", dnsmessage.Message{Questions: []dnsmessage.Question{q(t, "_DIREKT._tcp.LOCAL.", dnsmessage.TypePTR, in|topBit)}}, fPTR},
		{"service ANY class ANY", dnsmessage.Message{Questions: []dnsmessage.Question{q(t, serviceName, dnsmessage.TypeALL, dnsmessage.ClassANY)}}, fPTR},
		{"instance SRV+TXT", dnsmessage.Message{Questions: []dnsmessage.Question{
			q(t, "direkt-abc._direkt._tcp.local.", dnsmessage.TypeSRV, in),
			q(t, "Direkt-ABC._direkt._tcp.local.", dnsmessage.TypeTXT, in),
		}}, fSRV | fTXT},
		{"host ANY", dnsmessage.Message{Questions: []dnsmessage.Question{q(t, "direkt-abc.local.", dnsmessage.TypeALL, in)}}, fA | fAAAA},
		{"host AAAA", dnsmessage.Message{Questions: []dnsmessage.Question{q(t, "direkt-abc.local.", dnsmessage.TypeAAAA, in)}}, fAAAA},
		{"other service", dnsmessage.Message{Questions: []dnsmessage.Question{q(t, "_http._tcp.local.", dnsmessage.TypePTR, in)}}, 0},
		{"other instance", dnsmessage.Message{Questions: []dnsmessage.Question{q(t, "direkt-xyz._direkt._tcp.local.", dnsmessage.TypeSRV, in)}}, 0},
		{"wrong type", dnsmessage.Message{Questions: []dnsmessage.Question{q(t, serviceName, dnsmessage.TypeA, in)}}, 0},
		{"wrong class", dnsmessage.Message{Questions: []dnsmessage.Question{q(t, serviceName, dnsmessage.TypePTR, dnsmessage.ClassCHAOS)}}, 0},
		{"a response", dnsmessage.Message{Header: dnsmessage.Header{Response: true}, Questions: []dnsmessage.Question{q(t, serviceName, dnsmessage.TypePTR, in)}}, 0},
		{"opcode 1", dnsmessage.Message{Header: dnsmessage.Header{OpCode: 1}, Questions: []dnsmessage.Question{q(t, serviceName, dnsmessage.TypePTR, in)}}, 0},
		{"rcode", dnsmessage.Message{Header: dnsmessage.Header{RCode: dnsmessage.RCodeNameError}, Questions: []dnsmessage.Question{q(t, serviceName, dnsmessage.TypePTR, in)}}, 0},
		{"known answer, fresh", dnsmessage.Message{
			Questions: []dnsmessage.Question{q(t, serviceName, dnsmessage.TypePTR, in)},
			Answers:   []dnsmessage.Resource{knownPTR(t, "DIREKT-abc._direkt._tcp.local.", recordTTL/2)},
		}, 0},
		{"known answer, stale", dnsmessage.Message{
			Questions: []dnsmessage.Question{q(t, serviceName, dnsmessage.TypePTR, in)},
			Answers:   []dnsmessage.Resource{knownPTR(t, "direkt-abc._direkt._tcp.local.", recordTTL/2-1)},
		}, fPTR},
		{"known answer of another instance", dnsmessage.Message{
			Questions: []dnsmessage.Question{q(t, serviceName, dnsmessage.TypePTR, in)},
			Answers:   []dnsmessage.Resource{knownPTR(t, "direkt-xyz._direkt._tcp.local.", recordTTL)},
		}, fPTR},
		{"known SRV and TXT", dnsmessage.Message{
			Questions: []dnsmessage.Question{q(t, "direkt-abc._direkt._tcp.local.", dnsmessage.TypeALL, in)},
			Answers: []dnsmessage.Resource{
				{Header: dnsmessage.ResourceHeader{Name: mustName(t, "direkt-abc._direkt._tcp.local."), Class: in, TTL: recordTTL},
					Body: &dnsmessage.SRVResource{Port: 8080, Target: mustName(t, "direkt-abc.local.")}},
				{Header: dnsmessage.ResourceHeader{Name: mustName(t, "direkt-abc._direkt._tcp.local."), Class: in, TTL: recordTTL},
					Body: &dnsmessage.TXTResource{TXT: []string{"v=1", "np=47"}}},
			},
		}, 0},
		{"known SRV with another port", dnsmessage.Message{
			Questions: []dnsmessage.Question{q(t, "direkt-abc._direkt._tcp.local.", dnsmessage.TypeSRV, in)},
			Answers: []dnsmessage.Resource{
				{Header: dnsmessage.ResourceHeader{Name: mustName(t, "direkt-abc._direkt._tcp.local."), Class: in, TTL: recordTTL},
					Body: &dnsmessage.SRVResource{Port: 8081, Target: mustName(t, "direkt-abc.local.")}},
			},
		}, fSRV},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.msg.ID = 77
			got, ok := parseQuery(rs, pack(t, c.msg))
			if ok != (c.want != 0) || got.answer != c.want {
				t.Fatalf("parseQuery = %+v, %v; want answer %05b", got, ok, c.want)
			}
			if ok && (got.id != 77 || len(got.asked) == 0) {
				t.Errorf("query id %d, %d questions kept; want 77 and ours", got.id, len(got.asked))
			}
		})
	}
}

// TestParseQueryMalformed: garbage and truncations never answer and never
// panic; a packet cut inside its known answers still gets a full answer.
func TestParseQueryMalformed(t *testing.T) {
	rs := newTestRecords(t, "direkt-abc", 8080, "47").rs
	full := pack(t, dnsmessage.Message{
		Questions: []dnsmessage.Question{q(t, serviceName, dnsmessage.TypePTR, dnsmessage.ClassINET)},
		Answers:   []dnsmessage.Resource{knownPTR(t, "direkt-abc._direkt._tcp.local.", recordTTL)},
	})
	if _, ok := parseQuery(rs, full); ok {
		t.Fatal("fully known-answered query answered")
	}
	qEnd := 12 + len(serviceName) + 1 + 4
	for n := range len(full) {
		got, ok := parseQuery(rs, full[:n])
		if want := n >= qEnd; ok != want || ok && got.answer != fPTR {
			t.Errorf("truncated to %d bytes: %+v, %v; want answered=%v", n, got, ok, want)
		}
	}
	// A compression pointer loop in the question name.
	loop := []byte{0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 12, 0, 1}
	if _, ok := parseQuery(rs, loop); ok {
		t.Error("pointer loop answered")
	}
}

func TestLegacyAnswer(t *testing.T) {
	tr := newTestRecords(t, "direkt-abc", 8080, "47")
	qq := q(t, serviceName, dnsmessage.TypePTR, dnsmessage.ClassINET)
	got, ok := parseQuery(tr.rs, pack(t, dnsmessage.Message{Header: dnsmessage.Header{ID: 0x1234}, Questions: []dnsmessage.Question{qq}}))
	if !ok {
		t.Fatal("not answered")
	}
	b, err := tr.rs.build(make([]byte, maxPacket), message{
		id: got.id, questions: got.asked, answer: got.answer, extra: fAll, ttl: legacyTTL, v4: tr.v4, v6: tr.v6,
	})
	if err != nil {
		t.Fatal(err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(b); err != nil {
		t.Fatal(err)
	}
	// RFC 6762 §6.7: ID and question repeated, TTL at most 10, no cache-flush.
	if m.ID != 0x1234 || len(m.Questions) != 1 || m.Questions[0] != qq {
		t.Errorf("header %+v questions %v", m.Header, m.Questions)
	}
	for _, r := range append(m.Answers, m.Additionals...) {
		if r.Header.TTL > legacyTTL || r.Header.Class&topBit != 0 {
			t.Errorf("%v: TTL %d class %#x", r.Header.Type, r.Header.TTL, r.Header.Class)
		}
	}
	// And the resolver takes it when the ID matches, and only then.
	res := newResolver("47")
	src := netip.MustParseAddrPort("192.0.2.10:5353")
	if addrs, _ := res.handle(b, src, nil, 0x1235); addrs != nil {
		t.Errorf("answer with a foreign ID accepted: %v", addrs)
	}
	if addrs, _ := res.handle(b, src, nil, 0x1234); len(addrs) == 0 {
		t.Error("legacy answer not accepted")
	}
}
