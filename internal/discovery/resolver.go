package discovery

import (
	"net"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

const (
	// Bounds on what one lookup remembers, so a flood of answers from a
	// hostile or merely busy network cannot grow it without limit. When full,
	// the oldest entry goes.
	maxInstances     = 32
	maxHosts         = 32
	maxAddrsPerHost  = 16
	maxRecordsPerMsg = 128
	maxKnownInQuery  = 16
)

// candidate is an address heard for a host, with what the arrival interface
// says about it.
type candidate struct {
	addr   netip.Addr // link-local IPv6 carries the arrival interface as zone
	onLink bool       // inside a prefix of the arrival interface
}

type instanceState struct {
	name       dnsmessage.Name
	haveSRV    bool
	port       uint16
	target     string // lower-case host name
	targetName dnsmessage.Name
	haveTXT    bool
	match      bool   // TXT says v=1 and np=<our nameplate>
	ptrTTL     uint32 // for known-answer suppression; 0 = no PTR seen
	sources    []candidate
}

type hostState struct {
	addrs []candidate
}

// resolver is the state of one Lookup: what it has heard so far about
// instances of Service and their hosts. It is not safe for concurrent use.
type resolver struct {
	nameplate string
	service   dnsmessage.Name

	instances map[string]*instanceState // by lower-case instance name
	instOrder []string
	hosts     map[string]*hostState // by lower-case host name; only SRV targets
	hostOrder []string
}

func newResolver(nameplate string) *resolver {
	svc, _ := dnsmessage.NewName(serviceName) // constant, valid
	return &resolver{
		nameplate: nameplate,
		service:   svc,
		instances: make(map[string]*instanceState),
		hosts:     make(map[string]*hostState),
	}
}

// rec is one resource record of interest, parsed.
type rec struct {
	h      dnsmessage.ResourceHeader
	key    string // lower-case owner name
	ptr    dnsmessage.Name
	srv    dnsmessage.SRVResource
	txt    []string
	addr   netip.Addr
	isAddr bool
}

// parseResponse reads every answer and additional record of an mDNS
// response that could concern Service. Any malformation rejects the whole
// packet. wantID >= 0 requires that message ID (a legacy unicast lookup).
func parseResponse(pkt []byte, wantID int) ([]rec, bool) {
	var p dnsmessage.Parser
	h, err := p.Start(pkt)
	if err != nil || !h.Response || h.OpCode != 0 || h.RCode != dnsmessage.RCodeSuccess {
		return nil, false
	}
	if wantID >= 0 && int(h.ID) != wantID {
		return nil, false
	}
	if err := p.SkipAllQuestions(); err != nil {
		return nil, false
	}
	var out []rec
	n := 0
	next := p.AnswerHeader
	skip := p.SkipAnswer
	for section := 0; section < 2; {
		rh, err := next()
		if err == dnsmessage.ErrSectionDone {
			section++
			if section == 1 {
				if err := p.SkipAllAuthorities(); err != nil {
					return nil, false
				}
				next, skip = p.AdditionalHeader, p.SkipAdditional
			}
			continue
		}
		if err != nil {
			return nil, false
		}
		if n++; n > maxRecordsPerMsg {
			break
		}
		if dnsmessage.Class(rh.Class&^topBit) != dnsmessage.ClassINET {
			if err := skip(); err != nil {
				return nil, false
			}
			continue
		}
		r := rec{h: rh, key: strings.ToLower(rh.Name.String())}
		switch rh.Type {
		case dnsmessage.TypePTR:
			v, err := p.PTRResource()
			if err != nil {
				return nil, false
			}
			if r.key != serviceName {
				continue
			}
			r.ptr = v.PTR
		case dnsmessage.TypeSRV:
			v, err := p.SRVResource()
			if err != nil {
				return nil, false
			}
			if !isInstanceKey(r.key) || v.Port == 0 {
				continue // port 0 is no server to connect to
			}
			r.srv = v
		case dnsmessage.TypeTXT:
			v, err := p.TXTResource()
			if err != nil {
				return nil, false
			}
			if !isInstanceKey(r.key) {
				continue
			}
			r.txt = v.TXT
		case dnsmessage.TypeA:
			v, err := p.AResource()
			if err != nil {
				return nil, false
			}
			r.addr, r.isAddr = netip.AddrFrom4(v.A), true
		case dnsmessage.TypeAAAA:
			v, err := p.AAAAResource()
			if err != nil {
				return nil, false
			}
			r.addr, r.isAddr = netip.AddrFrom16(v.AAAA), true
		default:
			if err := skip(); err != nil {
				return nil, false
			}
			continue
		}
		out = append(out, r)
	}
	return out, true
}

// isInstanceKey reports whether a lower-case name is "<label>._direkt._tcp.local.".
func isInstanceKey(key string) bool {
	label, ok := strings.CutSuffix(key, "."+serviceName)
	return ok && label != "" && !strings.Contains(label, ".")
}

// handle takes one response that arrived on interface in (nil when unknown)
// from src. It returns the matching instance's addresses once an instance
// with our nameplate is complete (SRV, TXT and at least one usable address),
// and followUp=true when such an instance is known but incomplete, so the
// caller should ask for the missing records directly.
func (r *resolver) handle(pkt []byte, src netip.AddrPort, in *ifaceInfo, wantID int) (addrs []netip.AddrPort, followUp bool) {
	if src.Port() != mdnsPort {
		return nil, false // RFC 6762 §11: responses come from port 5353
	}
	recs, ok := parseResponse(pkt, wantID)
	if !ok || len(recs) == 0 {
		return nil, false
	}
	// Service records first, so address records in the same packet find
	// the hosts the SRV records name.
	touched := false
	for k := range recs {
		rr := &recs[k]
		switch rr.h.Type {
		case dnsmessage.TypePTR:
			target := strings.ToLower(rr.ptr.String())
			if !isInstanceKey(target) {
				continue
			}
			if rr.h.TTL == 0 { // goodbye (§10.1)
				r.dropInstance(target)
				continue
			}
			r.instance(target, rr.ptr).ptrTTL = rr.h.TTL
		case dnsmessage.TypeSRV:
			if rr.h.TTL == 0 {
				r.dropInstance(rr.key)
				continue
			}
			st := r.instance(rr.key, rr.h.Name)
			st.haveSRV, st.port = true, rr.srv.Port
			st.target, st.targetName = strings.ToLower(rr.srv.Target.String()), rr.srv.Target
			st.sources = addCandidate(st.sources, r.candidateFor(src.Addr(), in))
			touched = true
		case dnsmessage.TypeTXT:
			if rr.h.TTL == 0 {
				r.dropInstance(rr.key)
				continue
			}
			st := r.instance(rr.key, rr.h.Name)
			v, np := parseTXT(rr.txt)
			st.haveTXT, st.match = true, v == txtVersion && np == r.nameplate
			touched = true
		}
	}
	for k := range recs {
		rr := &recs[k]
		if !rr.isAddr || !r.isTarget(rr.key) {
			continue
		}
		c := r.candidateFor(rr.addr, in)
		if !c.addr.IsValid() {
			continue
		}
		hs := r.host(rr.key)
		if rr.h.TTL == 0 {
			hs.addrs = slices.DeleteFunc(hs.addrs, func(x candidate) bool { return x.addr == c.addr })
			continue
		}
		hs.addrs = addCandidate(hs.addrs, c)
		touched = true
	}
	if !touched {
		return nil, false
	}
	for _, key := range r.instOrder {
		st := r.instances[key]
		if !st.match {
			continue
		}
		if !st.haveSRV {
			followUp = true
			continue
		}
		hs := r.hosts[st.target]
		if hs == nil || len(hs.addrs) == 0 {
			followUp = true
			continue
		}
		return result(hs.addrs, st.sources, st.port), false
	}
	return nil, followUp
}

// candidateFor judges address a as heard on interface in. An invalid
// candidate means a is of no use to us: unspecified, multicast, loopback
// heard elsewhere than on loopback, or link-local IPv6 from an unknown
// interface (it needs a zone).
func (r *resolver) candidateFor(a netip.Addr, in *ifaceInfo) candidate {
	a = a.Unmap().WithZone("")
	switch {
	case !a.IsValid(), a.IsUnspecified(), a.IsMulticast():
		return candidate{}
	case a.IsLoopback():
		if in == nil || in.ifi.Flags&net.FlagLoopback == 0 {
			return candidate{}
		}
	}
	if in == nil {
		if a.Is6() && a.IsLinkLocalUnicast() {
			return candidate{}
		}
		return candidate{addr: a}
	}
	c := candidate{addr: a, onLink: in.onLink(a)}
	if a.Is6() && a.IsLinkLocalUnicast() {
		c.addr = a.WithZone(in.ifi.Name)
	}
	return c
}

func addCandidate(cs []candidate, c candidate) []candidate {
	if !c.addr.IsValid() {
		return cs
	}
	for k, x := range cs {
		if x.addr == c.addr {
			cs[k].onLink = x.onLink || c.onLink
			return cs
		}
	}
	if len(cs) >= maxAddrsPerHost {
		cs = cs[1:]
	}
	return append(cs, c)
}

// result orders the addresses of a found instance: IPv4 before IPv6, on-link
// before other, link-local IPv6 last (it needs its zone wherever it is used);
// the packet sources come after the advertised addresses of equal rank.
func result(addrs, sources []candidate, port uint16) []netip.AddrPort {
	all := slices.Clone(addrs)
	for _, s := range sources {
		all = addCandidate(all, s)
	}
	rank := func(c candidate) int {
		switch {
		case c.addr.Is4() && c.onLink:
			return 0
		case c.addr.Is4():
			return 1
		case c.addr.IsLinkLocalUnicast():
			return 4
		case c.onLink:
			return 2
		default:
			return 3
		}
	}
	slices.SortStableFunc(all, func(a, b candidate) int { return rank(a) - rank(b) })
	out := make([]netip.AddrPort, len(all))
	for k, c := range all {
		out[k] = netip.AddrPortFrom(c.addr, port)
	}
	return out
}

func (r *resolver) instance(key string, name dnsmessage.Name) *instanceState {
	if st, ok := r.instances[key]; ok {
		return st
	}
	if len(r.instOrder) >= maxInstances {
		r.dropInstance(r.instOrder[0])
	}
	st := &instanceState{name: name}
	r.instances[key] = st
	r.instOrder = append(r.instOrder, key)
	return st
}

func (r *resolver) dropInstance(key string) {
	if _, ok := r.instances[key]; !ok {
		return
	}
	delete(r.instances, key)
	r.instOrder = slices.DeleteFunc(r.instOrder, func(k string) bool { return k == key })
}

func (r *resolver) isTarget(host string) bool {
	for _, st := range r.instances {
		if st.haveSRV && st.target == host {
			return true
		}
	}
	return false
}

func (r *resolver) host(key string) *hostState {
	if hs, ok := r.hosts[key]; ok {
		return hs
	}
	if len(r.hostOrder) >= maxHosts {
		delete(r.hosts, r.hostOrder[0])
		r.hostOrder = r.hostOrder[1:]
	}
	hs := &hostState{}
	r.hosts[key] = hs
	r.hostOrder = append(r.hostOrder, key)
	return hs
}

// buildQuery appends a query to buf[:0]: PTR for Service, plus direct
// questions for what a matching but incomplete instance lacks, with the PTR
// records of instances known not to match as known answers, so that their
// announcers stay silent (RFC 6762 §7.1).
func (r *resolver) buildQuery(buf []byte, id uint16) ([]byte, error) {
	b := dnsmessage.NewBuilder(buf[:0], dnsmessage.Header{ID: id})
	b.EnableCompression()
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	q := func(name dnsmessage.Name, t dnsmessage.Type) error {
		return b.Question(dnsmessage.Question{Name: name, Type: t, Class: dnsmessage.ClassINET})
	}
	if err := q(r.service, dnsmessage.TypePTR); err != nil {
		return nil, err
	}
	for _, key := range r.instOrder {
		st := r.instances[key]
		if !st.match {
			continue
		}
		if !st.haveSRV {
			if err := q(st.name, dnsmessage.TypeSRV); err != nil {
				return nil, err
			}
			continue
		}
		if hs := r.hosts[st.target]; hs == nil || len(hs.addrs) == 0 {
			if err := q(st.targetName, dnsmessage.TypeA); err != nil {
				return nil, err
			}
			if err := q(st.targetName, dnsmessage.TypeAAAA); err != nil {
				return nil, err
			}
		}
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	known := 0
	for _, key := range r.instOrder {
		st := r.instances[key]
		if !st.haveTXT || st.match || st.ptrTTL == 0 || known >= maxKnownInQuery {
			continue
		}
		h := dnsmessage.ResourceHeader{Name: r.service, Class: dnsmessage.ClassINET, TTL: st.ptrTTL}
		if err := b.PTRResource(h, dnsmessage.PTRResource{PTR: st.name}); err != nil {
			return nil, err
		}
		known++
	}
	return b.Finish()
}
