package discovery

import (
	"testing"

	"golang.org/x/net/dns/dnsmessage"
)

// BenchmarkParseQuery is the responder's cost per incoming query for us; it
// runs for every mDNS packet on the link.
func BenchmarkParseQuery(b *testing.B) {
	tr := newTestRecords(b, "direkt-abc", 8080, "47")
	pkt := pack(b, dnsmessage.Message{Questions: []dnsmessage.Question{q(b, serviceName, dnsmessage.TypePTR, dnsmessage.ClassINET)}})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseQuery(tr.rs, pkt); !ok {
			b.Fatal("not answered")
		}
	}
}

// BenchmarkParseQueryOther is the cost of a query for somebody else's
// service, the common case on a busy network.
func BenchmarkParseQueryOther(b *testing.B) {
	tr := newTestRecords(b, "direkt-abc", 8080, "47")
	pkt := pack(b, dnsmessage.Message{Questions: []dnsmessage.Question{q(b, "_googlecast._tcp.local.", dnsmessage.TypePTR, dnsmessage.ClassINET)}})
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseQuery(tr.rs, pkt); ok {
			b.Fatal("answered")
		}
	}
}

func BenchmarkBuildResponse(b *testing.B) {
	tr := newTestRecords(b, "direkt-abc", 8080, "47")
	buf := make([]byte, maxPacket)
	m := message{answer: fPTR, extra: fAll, ttl: recordTTL, flush: true, v4: tr.v4, v6: tr.v6}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tr.rs.build(buf, m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResolverHandle(b *testing.B) {
	tr := newTestRecords(b, "direkt-abc", 8080, "47")
	pkt := tr.response(b, fPTR, fAll, recordTTL)
	in := testIface(false)
	b.ReportAllocs()
	for b.Loop() {
		if addrs, _ := newResolver("47").handle(pkt, peerSrc, in, -1); len(addrs) == 0 {
			b.Fatal("not found")
		}
	}
}
