package session

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v5"
)

// Hole punching that survives the conntrack race.
//
// Two peers behind NATs that keep a port per inside socket (RFC 4787,
// endpoint-independent mapping; Linux "masquerade") can reach each other by
// sending to each other's server-reflexive address at about the same time:
// each outbound packet opens its own NAT for the answer. But a packet that
// reaches the peer's NAT before the peer's own first packet toward us has
// left it leaves a conntrack entry for our address there, unanswered. When
// the peer's packet then leaves, its reply tuple collides with that entry and
// Linux gives the peer's packet another public port: the peer's mapping
// toward us moved, its candidate is stale, and our packets keep hitting (and
// refreshing) the stale entry. On the internet latency usually hides the
// race; with ICE it is still likely, since the answerer learns the offerer's
// candidates about one signalling round trip before the offerer learns its.
//
// The puncher removes the race on the very sockets ICE uses (it wraps
// pion's transport.Net):
//
//   - Pre-punch: as soon as a remote candidate is known and a socket is
//     open, the socket sends the peer's address a short marker packet whose
//     TTL (PunchTTL hops) lets it leave our NAT, which maps it, but expire
//     before it reaches the peer's NAT. From then on our NAT forwards the
//     peer's packets to this socket.
//   - Gate: a socket's own packets to the peer's candidates go out with the
//     same low TTL until PunchDelay after this socket's candidate was handed
//     to the signaller, time for the peer to learn it and pre-punch toward
//     it, or until a packet from that address arrived (then both NATs are
//     open already). ICE's first checks are thus pre-punches too.
//
// A marker that does arrive (no NAT in between, or a TTL larger than the
// path) is dropped by the receiving side before pion sees it, and proves the
// path open. Relay candidates are never gated: their addresses are the TURN
// server's.
const (
	// defaultPunchTTL crosses one NAT at the first hop (a home router) and
	// expires at the next router.
	defaultPunchTTL = 2
	// defaultPunchDelay covers the signalling path (our candidate through
	// the mailbox to the peer) plus the peer's handling. The network path
	// between the NATs adds its own latency on top, so this only has to
	// cover what the detour through the mailbox costs more.
	defaultPunchDelay = 150 * time.Millisecond
	// maxPunchRemotes bounds the remote addresses the puncher tracks; a
	// peer flooding us with candidates gets the rest ungated.
	maxPunchRemotes = maxPendingCandidates
	// maxBindingRequests is how many checks pion sends on a pair before it
	// marks the pair failed for good (pion's default is 7). pion checks
	// every pair not only every 200 ms but also each time a remote
	// candidate arrives, and a peer behind a symmetric NAT brings a burst
	// of peer-reflexive ones (a fresh port per destination): 8 rounds in
	// 60 ms were seen, all while the gate kept the checks to the peer's
	// signalled candidates TTL-limited, so a port-mapped candidate's pair
	// failed before its first check could arrive and the session took the
	// relay (TestPortMapNetns, hard↔hard+miniupnpd, 2 in 110 cells). 40
	// outlasts such bursts and the gate; a dead pair is still given up
	// within the ICE failed timeout.
	maxBindingRequests = 40
)

// punchMarker is the pre-punch payload. Its first byte, 12, lies in the range
// RFC 7983 (and RFC 9443) leave unassigned when demultiplexing STUN, DTLS,
// TURN channels, RTP and QUIC on one socket, so it cannot be mistaken for
// any of them.
var punchMarker = []byte("\x0cdirekt-punch")

// puncher holds what the punching sockets of one session share: the
// peer's direct candidate addresses and the open sockets.
type puncher struct {
	ttl   int
	delay time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	conns   map[*punchConn]struct{}
	remotes map[netip.AddrPort]struct{} // the peer's non-relay UDP candidates

	// guard holds back the checks of a relay disguised as a
	// peer-reflexive candidate (relayguard.go); it learns the candidates
	// the puncher sees. Nil means none.
	guard *relayGuard

	// Counters for logs and tests.
	punches    atomic.Int64 // marker packets sent
	lowWrites  atomic.Int64 // ICE packets sent with the low TTL
	markersIn  atomic.Int64 // markers received (and dropped)
	lowErrors  atomic.Int64 // low-TTL sends the kernel refused
	openedByRx atomic.Int64 // gates opened early by a packet from the peer
}

// newPuncher returns nil when ttl < 0: no pre-punching, no gate.
func newPuncher(ttl int, delay time.Duration, log *slog.Logger) *puncher {
	if ttl < 0 {
		return nil
	}
	if ttl == 0 {
		ttl = defaultPunchTTL
	}
	if ttl > 255 {
		ttl = 255
	}
	if delay == 0 {
		delay = defaultPunchDelay
	}
	if delay < 0 {
		delay = 0
	}
	return &puncher{
		ttl:     ttl,
		delay:   delay,
		log:     log,
		conns:   make(map[*punchConn]struct{}),
		remotes: make(map[netip.AddrPort]struct{}),
	}
}

// setGuard lets the punching sockets hold back what g says.
func (p *puncher) setGuard(g *relayGuard) {
	if p != nil {
		p.guard = g
	}
}

// wrapNet returns n with its UDP sockets punching. A nil puncher returns n.
func (p *puncher) wrapNet(n transport.Net) transport.Net {
	if p == nil {
		return n
	}
	return punchNet{Net: n, p: p}
}

// parseCandidate parses a candidate line ("candidate:..." with or without
// "a="). ok is false for anything that is not a UDP candidate with an IP
// address (TCP, mDNS names, garbage).
func parseCandidate(line string) (c ice.Candidate, addr netip.AddrPort, ok bool) {
	v, found := strings.CutPrefix(candidateLine(line), "candidate:")
	if !found {
		return nil, netip.AddrPort{}, false
	}
	c, err := ice.UnmarshalCandidate(v)
	if err != nil || !c.NetworkType().IsUDP() {
		return nil, netip.AddrPort{}, false
	}
	ip, err := netip.ParseAddr(c.Address())
	if err != nil || c.Port() <= 0 || c.Port() > 0xFFFF {
		return nil, netip.AddrPort{}, false
	}
	return c, netip.AddrPortFrom(ip.Unmap(), uint16(c.Port())), true
}

// learnRemote records one of the peer's candidates and pre-punches toward
// it from every open socket.
func (p *puncher) learnRemote(line string) {
	if p == nil {
		return
	}
	c, addr, ok := parseCandidate(line)
	if ok {
		p.guard.learnRemote(c, addr)
	}
	if !ok || c.Type() == ice.CandidateTypeRelay || !addr.Addr().IsValid() || addr.Addr().IsUnspecified() {
		return
	}
	p.mu.Lock()
	if _, dup := p.remotes[addr]; dup || len(p.remotes) >= maxPunchRemotes {
		p.mu.Unlock()
		return
	}
	p.remotes[addr] = struct{}{}
	conns := make([]*punchConn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.punch(addr)
	}
}

// learnSDP records the candidates of a remote description: a peer that does
// not trickle (a browser) sends them there.
func (p *puncher) learnSDP(sdp string) {
	if p == nil {
		return
	}
	for _, l := range strings.Split(sdp, "\n") {
		if strings.HasPrefix(l, "a=candidate:") {
			p.learnRemote(strings.TrimRight(l, "\r"))
		}
	}
}

// announced is called once one of our candidates went to the signaller: the
// peer will learn it within the signalling delay, so the gate of the socket
// it belongs to opens PunchDelay from now.
func (p *puncher) announced(line string) {
	if p == nil {
		return
	}
	c, addr, ok := parseCandidate(line)
	if !ok {
		return
	}
	p.guard.learnLocal(c, addr)
	port := 0
	switch c.Type() {
	case ice.CandidateTypeHost:
		port = c.Port()
	case ice.CandidateTypeServerReflexive:
		// The related address of a server-reflexive candidate is its base,
		// the socket it was learned on (RFC 8839, section 5.1).
		if r := c.RelatedAddress(); r != nil {
			port = r.Port
		}
	}
	if port == 0 {
		return
	}
	at := time.Now().Add(p.delay).UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if c.port == port {
			c.openAt.CompareAndSwap(0, at)
		}
	}
}

// gated reports whether a packet from c to addr must go out with the low
// TTL: addr is one of the peer's candidates and c's gate is closed for it.
func (p *puncher) gated(c *punchConn, addr netip.AddrPort) bool {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.remotes[addr]; !ok {
		return false
	}
	_, heard := c.heard[addr]
	return !heard
}

// heard records that c received a packet from addr while its gate was
// closed: from then on c talks to addr normally.
func (p *puncher) heard(c *punchConn, addr netip.AddrPort) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := c.heard[addr]; ok {
		return
	}
	if _, ok := p.remotes[addr]; !ok {
		return
	}
	if len(c.heard) < maxPunchRemotes {
		c.heard[addr] = struct{}{}
		p.openedByRx.Add(1)
	}
}

func (p *puncher) register(c *punchConn) {
	p.mu.Lock()
	p.conns[c] = struct{}{}
	remotes := make([]netip.AddrPort, 0, len(p.remotes))
	for a := range p.remotes {
		remotes = append(remotes, a)
	}
	p.mu.Unlock()
	for _, a := range remotes {
		c.punch(a)
	}
}

func (p *puncher) unregister(c *punchConn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// logStats logs what the puncher did, at debug level.
func (p *puncher) logStats() {
	if p == nil {
		return
	}
	p.log.Debug("hole punching", "ttl", p.ttl, "delay", p.delay,
		"punches", p.punches.Load(), "gatedWrites", p.lowWrites.Load(),
		"markersIn", p.markersIn.Load(), "openedByPeer", p.openedByRx.Load(),
		"refused", p.lowErrors.Load(), "relayChecksHeld", p.guard.heldCount())
}

// punchNet is a transport.Net whose UDP sockets punch.
type punchNet struct {
	transport.Net
	p *puncher
}

// ListenUDP wraps the sockets ICE gathers host and server-reflexive
// candidates on. Multicast sockets (mDNS) and sockets that are not real
// (vnet) stay as they are: the first need their socket options, the second
// have no TTL.
func (n punchNet) ListenUDP(network string, laddr *net.UDPAddr) (transport.UDPConn, error) {
	c, err := n.Net.ListenUDP(network, laddr)
	if err != nil {
		return c, err
	}
	if laddr != nil && laddr.IP.IsMulticast() {
		return c, nil
	}
	u, ok := c.(*net.UDPConn)
	if !ok {
		return c, nil
	}
	local, ok := u.LocalAddr().(*net.UDPAddr)
	if !ok {
		return c, nil
	}
	pc := &punchConn{
		conn:  u,
		p:     n.p,
		port:  local.Port,
		v4:    local.IP.To4() != nil,
		heard: make(map[netip.AddrPort]struct{}),
	}
	n.p.register(pc)
	return pc, nil
}

// punchConn is a UDP socket of ICE's that pre-punches and gates (see the
// package comment above). It does not embed *net.UDPConn so that no write
// method bypasses the gate.
type punchConn struct {
	conn *net.UDPConn
	p    *puncher
	port int
	v4   bool // an IPv4 socket; IPv6 ones send only to IPv6 addresses

	// openAt is when the gate opens (Unix ns); 0 while this socket's
	// candidate was not announced. open caches "now >= openAt".
	openAt atomic.Int64
	open   atomic.Bool
	// heard holds the peer addresses that reached us while the gate was
	// closed. Guarded by p.mu.
	heard map[netip.AddrPort]struct{}

	// ttlMu orders the TTL toggling where the kernel takes no per-packet
	// TTL (see ttl_*.go): writers with the low TTL hold it exclusively.
	ttlMu sync.RWMutex

	closeOnce sync.Once
}

var (
	_ transport.UDPConn        = (*punchConn)(nil)
	_ ice.AddrPortReaderWriter = (*punchConn)(nil)
)

// family reports whether addr can be sent to from this socket.
func (c *punchConn) family(addr netip.AddrPort) bool {
	return c.v4 == (addr.Addr().Is4() || addr.Addr().Is4In6())
}

// punch sends the marker to addr with the low TTL.
func (c *punchConn) punch(addr netip.AddrPort) {
	if !c.family(addr) {
		return
	}
	c.p.punches.Add(1)
	c.writeLow(punchMarker, addr)
}

// writeLow sends b to addr with the puncher's TTL. A send the kernel refuses
// is dropped, not retried with the normal TTL: that packet might be the one
// that reaches the peer's NAT too early. UDP may lose packets anyway.
func (c *punchConn) writeLow(b []byte, addr netip.AddrPort) (int, error) {
	if err := writeTTL(c, b, addr, c.p.ttl); err != nil {
		if c.p.lowErrors.Add(1) == 1 {
			c.p.log.Debug("a TTL-limited send failed; dropped", "err", err)
		}
	}
	return len(b), nil
}

// isGated is the gate of the package comment.
func (c *punchConn) isGated(addr netip.AddrPort) bool {
	if c.open.Load() {
		return false
	}
	if at := c.openAt.Load(); at != 0 && time.Now().UnixNano() >= at {
		c.open.Store(true)
		return false
	}
	return c.family(addr) && c.p.gated(c, addr)
}

// received filters what the socket read: markers are counted and dropped
// (true), so are the checks the relay guard holds back, and while the gate
// is closed a packet from a peer's address opens it for that address.
func (c *punchConn) received(b []byte, from netip.AddrPort) (drop bool) {
	marker := len(b) == len(punchMarker) && bytes.Equal(b, punchMarker)
	if marker {
		c.p.markersIn.Add(1)
	}
	if !marker && c.p.guard.hold(b, from) {
		return true
	}
	if !c.open.Load() {
		c.p.heard(c, from)
	}
	return marker
}

func (c *punchConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, from, err := c.conn.ReadFromUDPAddrPort(b)
		if err == nil && c.received(b[:n], from) {
			continue
		}
		return n, from, err
	}
}

func (c *punchConn) ReadFromUDP(b []byte) (int, *net.UDPAddr, error) {
	n, from, err := c.ReadFromAddrPort(b)
	if err != nil && !from.IsValid() {
		return n, nil, err
	}
	return n, net.UDPAddrFromAddrPort(from), err
}

func (c *punchConn) ReadFrom(b []byte) (int, net.Addr, error) {
	n, from, err := c.ReadFromUDP(b)
	if from == nil {
		return n, nil, err
	}
	return n, from, err
}

func (c *punchConn) ReadMsgUDP(b, oob []byte) (n, oobn, flags int, addr *net.UDPAddr, err error) {
	for {
		var from netip.AddrPort
		n, oobn, flags, from, err = c.conn.ReadMsgUDPAddrPort(b, oob)
		if err == nil && c.received(b[:n], from) {
			continue
		}
		if from.IsValid() {
			addr = net.UDPAddrFromAddrPort(from)
		}
		return n, oobn, flags, addr, err
	}
}

func (c *punchConn) WriteToAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	if c.isGated(addr) {
		c.p.lowWrites.Add(1)
		return c.writeLow(b, addr)
	}
	return c.writeNormal(b, addr)
}

func (c *punchConn) WriteToUDP(b []byte, addr *net.UDPAddr) (int, error) {
	if addr == nil {
		return c.conn.WriteToUDP(b, addr)
	}
	return c.WriteToAddrPort(b, addr.AddrPort())
}

func (c *punchConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	if u, ok := addr.(*net.UDPAddr); ok {
		return c.WriteToUDP(b, u)
	}
	return c.conn.WriteTo(b, addr)
}

// WriteMsgUDP is gated like WriteTo when it carries no control data of its
// own (pion does not use it).
func (c *punchConn) WriteMsgUDP(b, oob []byte, addr *net.UDPAddr) (n, oobn int, err error) {
	if len(oob) == 0 && addr != nil {
		n, err = c.WriteToAddrPort(b, addr.AddrPort())
		return n, 0, err
	}
	return c.conn.WriteMsgUDP(b, oob, addr)
}

// Read and Write are for connected sockets, which ICE's are not.
func (c *punchConn) Read(b []byte) (int, error)  { return c.conn.Read(b) }
func (c *punchConn) Write(b []byte) (int, error) { return c.conn.Write(b) }

func (c *punchConn) Close() error {
	c.closeOnce.Do(func() { c.p.unregister(c) })
	return c.conn.Close()
}

func (c *punchConn) LocalAddr() net.Addr                { return c.conn.LocalAddr() }
func (c *punchConn) RemoteAddr() net.Addr               { return c.conn.RemoteAddr() }
func (c *punchConn) SetDeadline(t time.Time) error      { return c.conn.SetDeadline(t) }
func (c *punchConn) SetReadDeadline(t time.Time) error  { return c.conn.SetReadDeadline(t) }
func (c *punchConn) SetWriteDeadline(t time.Time) error { return c.conn.SetWriteDeadline(t) }
func (c *punchConn) SetReadBuffer(n int) error          { return c.conn.SetReadBuffer(n) }
func (c *punchConn) SetWriteBuffer(n int) error         { return c.conn.SetWriteBuffer(n) }
