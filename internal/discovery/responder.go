package discovery

import (
	"math/rand/v2"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	// maxQuestions and maxKnownAnswers bound the work one hostile packet can
	// cause; a real query for our records has one to three questions.
	maxQuestions    = 32
	maxKnownAnswers = 64

	// minMulticastInterval is RFC 6762 §6's limit: a record is multicast on
	// one interface at most once per second.
	minMulticastInterval = time.Second

	// announceCount is how many unsolicited announcements follow Announce,
	// minMulticastInterval apart (RFC 6762 §8.3: at least two).
	announceCount = 2
)

// query is what the responder takes from one incoming packet.
type query struct {
	id     uint16
	asked  []dnsmessage.Question // our questions, for a legacy answer
	answer recordFlags           // records asked for, minus known answers
}

// parseQuery reads a packet as a query for the records of rs. It reports
// ok=false for anything that is not a query for us: responses, non-zero
// opcode or rcode (RFC 6762 §18.3, §18.11), malformed packets, questions for
// other names, and queries whose every answer the querier already knows
// (§7.1 known-answer suppression).
func parseQuery(rs *recordSet, pkt []byte) (query, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(pkt)
	if err != nil || h.Response || h.OpCode != 0 || h.RCode != dnsmessage.RCodeSuccess {
		return query{}, false
	}
	q := query{id: h.ID}
	for range maxQuestions {
		qq, err := p.Question()
		if err != nil {
			// ErrSectionDone or a malformed question: answer what parsed.
			break
		}
		if f := rs.match(qq); f != 0 {
			q.answer |= f
			q.asked = append(q.asked, qq)
		}
	}
	if q.answer == 0 {
		return query{}, false
	}
	// Known answers follow the questions. A packet we cannot read that far
	// gets a full answer: answering too much is harmless, too little is not.
	if err := p.SkipAllQuestions(); err != nil {
		return q, true
	}
	for range maxKnownAnswers {
		rh, err := p.AnswerHeader()
		if err != nil {
			break
		}
		known, err := rs.knownAnswer(&p, rh)
		if err != nil {
			break
		}
		q.answer &^= known
	}
	return q, q.answer != 0
}

// match returns the records of rs that question q asks for.
func (rs *recordSet) match(q dnsmessage.Question) recordFlags {
	switch dnsmessage.Class(q.Class &^ topBit) {
	case dnsmessage.ClassINET, dnsmessage.ClassANY:
	default:
		return 0
	}
	switch {
	case nameIs(q.Name, serviceName):
		if q.Type == dnsmessage.TypePTR || q.Type == dnsmessage.TypeALL {
			return fPTR
		}
	case nameIs(q.Name, rs.instanceKey):
		switch q.Type {
		case dnsmessage.TypeSRV:
			return fSRV
		case dnsmessage.TypeTXT:
			return fTXT
		case dnsmessage.TypeALL:
			return fSRV | fTXT
		}
	case nameIs(q.Name, rs.hostKey):
		switch q.Type {
		case dnsmessage.TypeA:
			return fA
		case dnsmessage.TypeAAAA:
			return fAAAA
		case dnsmessage.TypeALL:
			return fA | fAAAA
		}
	}
	return 0
}

// knownAnswer consumes the body of the answer-section record rh and returns
// the records of rs it makes redundant: the same data with at least half our
// TTL left (RFC 6762 §7.1). Address records are never suppressed, because
// what we send depends on the interface.
func (rs *recordSet) knownAnswer(p *dnsmessage.Parser, rh dnsmessage.ResourceHeader) (recordFlags, error) {
	fresh := rh.TTL >= recordTTL/2
	switch rh.Type {
	case dnsmessage.TypePTR:
		r, err := p.PTRResource()
		if err != nil {
			return 0, err
		}
		if fresh && nameIs(rh.Name, serviceName) && nameIs(r.PTR, rs.instanceKey) {
			return fPTR, nil
		}
	case dnsmessage.TypeSRV:
		r, err := p.SRVResource()
		if err != nil {
			return 0, err
		}
		if fresh && nameIs(rh.Name, rs.instanceKey) && r.Port == rs.port && nameIs(r.Target, rs.hostKey) {
			return fSRV, nil
		}
	case dnsmessage.TypeTXT:
		r, err := p.TXTResource()
		if err != nil {
			return 0, err
		}
		if fresh && nameIs(rh.Name, rs.instanceKey) && equalStrings(r.TXT, rs.txt) {
			return fTXT, nil
		}
	default:
		if err := p.SkipAnswer(); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// nameIs compares a DNS name with a lower-case key, ASCII case-insensitively
// (RFC 6762 §16), without allocating.
func nameIs(n dnsmessage.Name, key string) bool {
	if int(n.Length) != len(key) {
		return false
	}
	for i := 0; i < len(key); i++ {
		c := n.Data[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != key[i] {
			return false
		}
	}
	return true
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// responseDelay is how long to wait before multicasting an answer: 20–120 ms
// when it contains a shared record, so answers of several responders arrive
// spread out; none when it holds only our unique records (RFC 6762 §6).
func responseDelay(f recordFlags) time.Duration {
	if f&fPTR == 0 {
		return 0
	}
	return 20*time.Millisecond + rand.N(100*time.Millisecond)
}

// schedKey names one interface of one address family: the unit of RFC 6762
// §6's rate limit.
type schedKey struct {
	v6      bool
	ifIndex int
}

type schedEntry struct {
	at    time.Time
	flags recordFlags
}

// scheduler holds the multicast answers waiting to be sent and enforces the
// once-per-second limit per interface. A query that arrives within a second
// of the last answer is not dropped but answered as soon as the limit allows,
// and queries that arrive meanwhile merge into that one answer. It is not
// safe for concurrent use.
type scheduler struct {
	pending  map[schedKey]schedEntry
	last     map[schedKey]time.Time
	announce map[schedKey]int // unsolicited announcements still to send
}

func newScheduler() *scheduler {
	return &scheduler{
		pending:  make(map[schedKey]schedEntry),
		last:     make(map[schedKey]time.Time),
		announce: make(map[schedKey]int),
	}
}

// startAnnouncing queues the first of announceCount announcements on k.
func (s *scheduler) startAnnouncing(k schedKey, now time.Time) {
	s.announce[k] = announceCount - 1
	s.add(k, fAll, now, 0)
}

// add queues an answer with records f on k, due after delay but not before
// the rate limit allows.
func (s *scheduler) add(k schedKey, f recordFlags, now time.Time, delay time.Duration) {
	at := now.Add(delay)
	if last, ok := s.last[k]; ok && at.Before(last.Add(minMulticastInterval)) {
		at = last.Add(minMulticastInterval)
	}
	if e, ok := s.pending[k]; ok {
		e.flags |= f
		if at.Before(e.at) {
			e.at = at
		}
		s.pending[k] = e
		return
	}
	s.pending[k] = schedEntry{at: at, flags: f}
}

// next returns when the earliest answer is due; ok=false when none waits.
func (s *scheduler) next() (at time.Time, ok bool) {
	for _, e := range s.pending {
		if !ok || e.at.Before(at) {
			at, ok = e.at, true
		}
	}
	return at, ok
}

type job struct {
	key   schedKey
	flags recordFlags
}

// due removes and returns the answers due at now and records them as sent.
func (s *scheduler) due(now time.Time) []job {
	var jobs []job
	for k, e := range s.pending {
		if e.at.After(now) {
			continue
		}
		delete(s.pending, k)
		s.last[k] = now
		jobs = append(jobs, job{key: k, flags: e.flags})
		if s.announce[k] > 0 {
			s.announce[k]--
			s.add(k, fAll, now, minMulticastInterval)
		}
	}
	return jobs
}
