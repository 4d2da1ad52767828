package discovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

func TestValidNameplate(t *testing.T) {
	for np, want := range map[string]bool{
		"1": true, "47": true, "9999999999": true,
		"": false, "0": false, "047": false, "12345678901": false,
		"47-nordsee-tulpe": false, "4 7": false, "٤٧": false, "+1": false,
	} {
		if got := validNameplate(np); got != want {
			t.Errorf("validNameplate(%q) = %v, want %v", np, got, want)
		}
	}
}

func TestValidInstance(t *testing.T) {
	for s, want := range map[string]bool{
		"direkt-0a1b2c3d4e5f": true, "A": true, strings.Repeat("a", 63): true,
		"": false, strings.Repeat("a", 64): false, "-a": false, "a-": false,
		"a.b": false, "a b": false, "ä": false, "a_b": false,
	} {
		if got := validInstance(s); got != want {
			t.Errorf("validInstance(%q) = %v, want %v", s, got, want)
		}
	}
	r := randomInstance()
	if !validInstance(r) || !strings.HasPrefix(r, "direkt-") || r == randomInstance() {
		t.Errorf("randomInstance() = %q: not a fresh valid name", r)
	}
}

func TestParseTXT(t *testing.T) {
	v, np := parseTXT([]string{"junk", "V=1", "NP=47", "np=48", "v=2"})
	if v != "1" || np != "47" {
		t.Errorf("parseTXT = %q, %q; want first occurrences 1, 47 (RFC 6763 §6.4)", v, np)
	}
	if v, np := parseTXT(nil); v != "" || np != "" {
		t.Errorf("parseTXT(nil) = %q, %q", v, np)
	}
}

// TestArgumentValidation checks what Announce and Lookup refuse before they
// touch the network.
func TestArgumentValidation(t *testing.T) {
	ctx := t.Context()
	for _, a := range []Announcement{
		{Port: 80, Nameplate: "47-nordsee-tulpe"},
		{Port: 80, Nameplate: ""},
	} {
		if _, err := Announce(ctx, a, nil); !errors.Is(err, ErrInvalidNameplate) {
			t.Errorf("Announce(%+v) error = %v, want ErrInvalidNameplate", a, err)
		}
	}
	for _, a := range []Announcement{
		{Port: 0, Nameplate: "4"},
		{Port: 70000, Nameplate: "4"},
		{Port: 80, Nameplate: "4", Instance: "bad.name"},
	} {
		if _, err := Announce(ctx, a, nil); !errors.Is(err, ErrInvalidAnnouncement) {
			t.Errorf("Announce(%+v) error = %v, want ErrInvalidAnnouncement", a, err)
		}
	}
	if _, err := Lookup(ctx, "47 nordsee tulpe", nil); !errors.Is(err, ErrInvalidNameplate) {
		t.Errorf("Lookup(code) error = %v, want ErrInvalidNameplate", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Lookup(done, "47", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup(cancelled) error = %v, want ErrNotFound", err)
	}
	if _, err := Announce(done, Announcement{Port: 80, Nameplate: "4"}, nil); err == nil {
		t.Error("Announce(cancelled) succeeded")
	}
	// No interface selected at all: an empty, non-nil list.
	if _, err := Lookup(ctx, "47", &Options{Interfaces: []net.Interface{}}); !errors.Is(err, ErrNoInterfaces) {
		t.Errorf("Lookup(no interfaces) error = %v, want ErrNoInterfaces", err)
	}
}

// testRecords is a record set with addresses for building test packets.
type testRecords struct {
	rs     *recordSet
	v4, v6 []netip.Addr
}

func newTestRecords(t testing.TB, instance string, port uint16, np string) testRecords {
	t.Helper()
	rs, err := newRecordSet(instance, port, np)
	if err != nil {
		t.Fatal(err)
	}
	return testRecords{
		rs: rs,
		v4: []netip.Addr{netip.MustParseAddr("192.0.2.10")},
		v6: []netip.Addr{netip.MustParseAddr("fe80::10"), netip.MustParseAddr("2001:db8::10")},
	}
}

func (tr testRecords) response(t testing.TB, answer, extra recordFlags, ttl uint32) []byte {
	t.Helper()
	b, err := tr.rs.build(make([]byte, maxPacket), message{answer: answer, extra: extra, ttl: ttl, flush: true, v4: tr.v4, v6: tr.v6})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBuildResponse(t *testing.T) {
	tr := newTestRecords(t, "Direkt-ABC", 8080, "47")
	pkt := tr.response(t, fPTR, fAll, recordTTL)
	var m dnsmessage.Message
	if err := m.Unpack(pkt); err != nil {
		t.Fatal(err)
	}
	if !m.Response || !m.Authoritative || m.ID != 0 || len(m.Questions) != 0 {
		t.Errorf("header %+v, %d questions: want an authoritative response with ID 0 and no questions", m.Header, len(m.Questions))
	}
	if len(m.Answers) != 1 || m.Answers[0].Header.Type != dnsmessage.TypePTR {
		t.Fatalf("answers = %v, want the PTR alone", m.Answers)
	}
	if got := m.Answers[0].Body.(*dnsmessage.PTRResource).PTR.String(); got != "Direkt-ABC._direkt._tcp.local." {
		t.Errorf("PTR target %q", got)
	}
	if m.Answers[0].Header.Class != dnsmessage.ClassINET {
		t.Errorf("PTR class %#x: a shared record must not carry the cache-flush bit", m.Answers[0].Header.Class)
	}
	types := map[dnsmessage.Type]int{}
	for _, r := range m.Additionals {
		types[r.Header.Type]++
		if r.Header.Class != dnsmessage.ClassINET|topBit {
			t.Errorf("%v class %#x: unique records carry the cache-flush bit", r.Header.Type, r.Header.Class)
		}
		if r.Header.TTL != recordTTL {
			t.Errorf("%v TTL %d", r.Header.Type, r.Header.TTL)
		}
		switch b := r.Body.(type) {
		case *dnsmessage.SRVResource:
			if b.Port != 8080 || b.Target.String() != "Direkt-ABC.local." {
				t.Errorf("SRV %+v", b)
			}
		case *dnsmessage.TXTResource:
			if strings.Join(b.TXT, ",") != "v=1,np=47" {
				t.Errorf("TXT %q", b.TXT)
			}
		}
	}
	if types[dnsmessage.TypeSRV] != 1 || types[dnsmessage.TypeTXT] != 1 || types[dnsmessage.TypeA] != 1 || types[dnsmessage.TypeAAAA] != 2 {
		t.Errorf("additional record types %v", types)
	}
}

func TestSchedulerRateLimit(t *testing.T) {
	s := newScheduler()
	k := schedKey{ifIndex: 3}
	t0 := time.Unix(1000, 0)
	s.startAnnouncing(k, t0)
	if jobs := s.due(t0); len(jobs) != 1 || jobs[0].flags != fAll {
		t.Fatalf("first announcement: %v", jobs)
	}
	// A query 300 ms later must wait for the second since the last multicast
	// and merge with the second announcement due then.
	s.add(k, fPTR, t0.Add(300*time.Millisecond), 50*time.Millisecond)
	if at, ok := s.next(); !ok || !at.Equal(t0.Add(time.Second)) {
		t.Fatalf("next = %v, %v; want t0+1s", at, ok)
	}
	if jobs := s.due(t0.Add(999 * time.Millisecond)); len(jobs) != 0 {
		t.Fatalf("sent before the rate limit allows: %v", jobs)
	}
	if jobs := s.due(t0.Add(time.Second)); len(jobs) != 1 || jobs[0].flags != fAll {
		t.Fatalf("second announcement: %v", jobs)
	}
	if _, ok := s.next(); ok {
		t.Fatal("a third announcement was scheduled; RFC 6762 §8.3 asks for two here")
	}
	// A query long after: answered after its delay, on its own interface only.
	t2 := t0.Add(10 * time.Second)
	s.add(k, fSRV, t2, 0)
	s.add(schedKey{v6: true, ifIndex: 3}, fA, t2, 0)
	if jobs := s.due(t2); len(jobs) != 2 {
		t.Fatalf("due = %v, want one per family", jobs)
	}
}

func TestResponseDelay(t *testing.T) {
	if d := responseDelay(fSRV | fTXT); d != 0 {
		t.Errorf("unique-only answer delayed %v; RFC 6762 §6 wants it at once", d)
	}
	for range 100 {
		if d := responseDelay(fPTR); d < 20*time.Millisecond || d > 120*time.Millisecond {
			t.Fatalf("shared answer delayed %v, want 20–120 ms", d)
		}
	}
}

func TestQuerySchedule(t *testing.T) {
	var at time.Duration
	var got []time.Duration
	for k := range 6 {
		got = append(got, at)
		at += queryDelay(k)
	}
	want := []time.Duration{0, 250 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("queries at %v, want %v", got, want)
	}
	if d := queryDelay(1000); d != time.Hour {
		t.Errorf("late interval %v, want the one-hour cap (RFC 6762 §5.2)", d)
	}
}
