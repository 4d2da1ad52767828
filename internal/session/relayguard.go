package session

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"

	"github.com/direkt/direkt/internal/wire"
)

// A relay disguised as a peer-reflexive candidate.
//
// When our host socket is reachable from outside (a public address, a
// full-cone NAT, a port mapping), the peer's relay candidate can reach it
// before the peer's candidate line for that relay has come through the
// mailbox: the TURN server relays the peer's checks, which come from the
// TURN server's relayed address. pion has never heard of that address and
// learns it as a peer-reflexive candidate (RFC 8445, section 7.3.1.3).
// Then the pair is a relay path that pion neither holds back for the relay
// acceptance wait (it waits the peer-reflexive one) nor reports as relay:
// the controlling agent nominates it before the direct pair it was waiting
// for, and Path calls it direct.
//
// The relay guard knows the addresses TURN servers relay from: the IPs of
// the configured turn: and turns: servers, of our own relay candidates and
// of the peer's. On ICE's host sockets (the puncher's wrapper, punch.go) it
// holds back STUN Binding requests from such an IP and a port that is none
// of the peer's candidates, until the peer's relay candidate with exactly
// that address arrived (pion then knows it as relay) or until the relay
// acceptance wait has passed since the remote description was set (a
// relayed pair could be nominated by then anyway). The peer retransmits its
// checks, so one held back is only late. And Path reports a selected
// peer-reflexive remote at such an address as relay.
//
// A peer that truly sends from a TURN server's IP (one on the server's
// machine, or behind the server's NAT) has its peer-reflexive candidate
// delayed by at most the relay wait and reported as relay; its signalled
// candidates are never affected.
type relayGuard struct {
	mu    sync.Mutex
	ips   map[netip.Addr]struct{} // TURN servers' and relayed addresses' IPs
	peer  map[netip.AddrPort]bool // the peer's candidates: true for relay ones
	names []string                // TURN server host names to resolve
	until atomic.Int64            // hold-back ends (Unix ns); 0 before the remote description

	held atomic.Int64 // requests held back, for logs
}

// maxGuardAddrs bounds what the guard remembers from the peer's candidates.
const maxGuardAddrs = maxPendingCandidates

// newRelayGuard starts with the IP literals of the turn: and turns: URLs;
// host names are left for resolve.
func newRelayGuard(servers []wire.ICEServer) *relayGuard {
	g := &relayGuard{ips: map[netip.Addr]struct{}{}, peer: map[netip.AddrPort]bool{}}
	for _, s := range servers {
		for _, u := range s.URLs {
			host, ok := turnHost(u)
			if !ok {
				continue
			}
			if a, err := netip.ParseAddr(host); err == nil {
				g.ips[a.Unmap()] = struct{}{}
			} else if len(g.names) < 16 {
				g.names = append(g.names, host)
			}
		}
	}
	return g
}

// turnHost returns the host of a turn: or turns: URL (RFC 7065:
// "turn:host[:port][?transport=udp|tcp]").
func turnHost(u string) (string, bool) {
	rest, ok := strings.CutPrefix(u, "turn:")
	if !ok {
		if rest, ok = strings.CutPrefix(u, "turns:"); !ok {
			return "", false
		}
	}
	rest, _, _ = strings.Cut(rest, "?")
	if h, _, err := net.SplitHostPort(rest); err == nil {
		rest = h
	}
	rest = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]")
	return rest, rest != ""
}

// resolve looks up the TURN servers' host names (the real network's
// resolver; not for test networks) and adds their addresses. It returns
// when done or when ctx ends.
func (g *relayGuard) resolve(ctx context.Context) {
	for _, name := range g.names {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		addrs, err := net.DefaultResolver.LookupNetIP(lctx, "ip", name)
		cancel()
		if err != nil {
			continue
		}
		g.mu.Lock()
		for _, a := range addrs {
			g.ips[a.Unmap()] = struct{}{}
		}
		g.mu.Unlock()
	}
}

// started is called when a remote description was set: ICE (re)starts its
// checks, and with them the relay acceptance wait.
func (g *relayGuard) started(wait time.Duration) {
	if g == nil {
		return
	}
	g.until.Store(time.Now().Add(wait).UnixNano())
}

// learnLocal records one of our candidates; a relay candidate's address is
// one a TURN server relays from.
func (g *relayGuard) learnLocal(c ice.Candidate, addr netip.AddrPort) {
	if g == nil || c.Type() != ice.CandidateTypeRelay {
		return
	}
	g.mu.Lock()
	g.ips[addr.Addr()] = struct{}{}
	g.mu.Unlock()
}

// learnRemote records one of the peer's candidates.
func (g *relayGuard) learnRemote(c ice.Candidate, addr netip.AddrPort) {
	if g == nil {
		return
	}
	relay := c.Type() == ice.CandidateTypeRelay
	g.mu.Lock()
	defer g.mu.Unlock()
	if relay {
		if len(g.ips) < maxGuardAddrs {
			g.ips[addr.Addr()] = struct{}{}
		}
	}
	if _, ok := g.peer[addr]; !ok && len(g.peer) < maxGuardAddrs {
		g.peer[addr] = relay
	}
}

// hold reports whether a packet b from addr that arrived on a host socket
// must be dropped for now: a STUN Binding request from a relayed address
// the peer has not signalled, while the hold-back lasts.
func (g *relayGuard) hold(b []byte, from netip.AddrPort) bool {
	if g == nil || !isBindingRequest(b) {
		return false
	}
	until := g.until.Load()
	if until == 0 || time.Now().UnixNano() >= until {
		return false
	}
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.ips[from.Addr()]; !ok {
		return false
	}
	if _, ok := g.peer[from]; ok {
		return false // signalled: pion knows its type
	}
	g.held.Add(1)
	return true
}

// disguised reports whether a peer-reflexive remote candidate at addr
// ("host:port") is a TURN server's relayed address.
func (g *relayGuard) disguised(addr string) bool {
	if g == nil {
		return false
	}
	a, err := netip.ParseAddrPort(addr)
	if err != nil {
		return false
	}
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.ips[a.Addr()]; !ok {
		return false
	}
	relay, signalled := g.peer[a]
	return relay || !signalled
}

// unmask corrects a Path whose remote end is a relay disguised as a
// peer-reflexive candidate: it is a relayed path.
func (g *relayGuard) unmask(p Path) Path {
	if p.Remote == "prflx" && g.disguised(p.RemoteAddr) {
		p.Remote = "relay"
		p.Direct = false
	}
	return p
}

// isBindingRequest reports whether b is a STUN Binding request (RFC 8489,
// section 5: type 0x0001, the magic cookie at bytes 4-7).
func isBindingRequest(b []byte) bool {
	return len(b) >= 20 && b[0] == 0x00 && b[1] == 0x01 &&
		binary.BigEndian.Uint32(b[4:8]) == 0x2112A442
}

// heldCount is how many requests were held back.
func (g *relayGuard) heldCount() int64 {
	if g == nil {
		return 0
	}
	return g.held.Load()
}
