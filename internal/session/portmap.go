package session

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"sync"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/direkt/direkt/internal/portmap"
	"github.com/direkt/direkt/internal/wire"
)

// PortMapEnv names the environment variable that enables port mapping when
// Config.PortMap is nil: a comma list of "pcp", "natpmp" and "upnp", or
// "all"; unset, empty or "off" means none. Off by default because the
// requests go to the machine's real gateway.
const PortMapEnv = "DIREKT_PORTMAP"

// Port mapping (package portmap) makes a peer behind an endpoint-dependent
// ("hard") NAT reachable: the router forwards a public port to the ICE
// socket of a host candidate, and the mapped address goes to the peer as an
// extra server-reflexive candidate. The peer's checks then arrive through
// the mapping at that very socket, which answers them (RFC 8445, section
// 7.3) and learns the peer as peer-reflexive.
//
// Mapping runs beside ICE gathering and never holds up the connection: the
// candidate is trickled when the gateway answers. Only end-of-candidates
// waits for it, for at most portmap's attempt timeout, so that a browser
// peer does not see a candidate after the end.

// portMapConfig returns the port-mapping configuration the session uses, or
// nil for none.
func portMapConfig(cfg Config) *portmap.Config {
	if cfg.Policy == PolicyRelay {
		return nil // no host candidates, nothing to map
	}
	if cfg.PortMap != nil {
		pm := *cfg.PortMap
		if pm.Logger == nil {
			pm.Logger = cfg.Logger
		}
		return &pm
	}
	if cfg.Net != nil {
		return nil // a test network: never ask the real gateway
	}
	v, ok := os.LookupEnv(PortMapEnv)
	if !ok {
		return nil
	}
	protos, err := portmap.ParseProtocols(v)
	if err != nil || protos == 0 {
		return nil
	}
	return &portmap.Config{Protocols: protos, Logger: cfg.Logger}
}

// portMapper maps the ports of the session's host candidates. Its
// goroutines are owned by the session: one waits for the session's context
// and then for every mapper, which deletes its mapping before it returns.
type portMapper struct {
	s    *Session
	cfg  portmap.Config
	next func(*webrtc.ICECandidate)

	mu      sync.Mutex
	closed  bool                    // the session is tearing down; start no mapper
	seen    map[netip.AddrPort]bool // host sockets already mapped
	pending int                     // mappers whose first attempt is running
	heldEnd bool                    // end-of-candidates waits for pending
	wg      sync.WaitGroup          // the mappers
}

// withPortMap wraps the local-candidate callback next so that the ports of
// private IPv4 host candidates are mapped on the gateway when cfg enables it;
// otherwise it returns next unchanged.
func (s *Session) withPortMap(cfg Config, next func(*webrtc.ICECandidate)) func(*webrtc.ICECandidate) {
	pc := portMapConfig(cfg)
	if pc == nil {
		return next
	}
	if pc.Logger == nil {
		pc.Logger = s.log
	}
	m := &portMapper{s: s, cfg: *pc, next: next, seen: map[netip.AddrPort]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		<-s.ctx.Done()
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.wg.Wait()
	}()
	return m.onCandidate
}

func (m *portMapper) onCandidate(c *webrtc.ICECandidate) {
	if c == nil {
		m.mu.Lock()
		hold := m.pending > 0
		m.heldEnd = hold
		m.mu.Unlock()
		if !hold {
			m.next(nil)
		}
		return
	}
	m.next(c)
	local, ok := mappable(c)
	if !ok {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.seen[local] {
		return
	}
	mapper, err := portmap.New(m.cfg, local)
	if err != nil {
		return
	}
	m.seen[local] = true
	m.pending++
	m.wg.Add(1)
	init := c.ToJSON()
	go m.run(mapper, local, init)
}

// run holds one mapping until the session ends.
func (m *portMapper) run(mapper *portmap.Mapper, local netip.AddrPort, host webrtc.ICECandidateInit) {
	defer m.wg.Done()
	first := true
	settle := func() {
		if !first {
			return
		}
		first = false
		m.mu.Lock()
		m.pending--
		release := m.pending == 0 && m.heldEnd
		if release {
			m.heldEnd = false
		}
		m.mu.Unlock()
		if release {
			m.next(nil)
		}
	}
	defer settle()
	err := mapper.Run(m.s.ctx, func(pm portmap.Mapping) {
		line, err := mappedCandidate(pm, local)
		if err != nil {
			m.s.log.Debug("port mapping: cannot make a candidate", "err", err)
		} else {
			m.s.log.Debug("port mapped on the gateway", "protocol", pm.Protocol.String(), "external", pm.External.String())
			m.s.postCandidate(wire.Signal{T: wire.SignalCand, Cand: line, Mid: host.SDPMid, Idx: host.SDPMLineIndex})
		}
		settle()
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		m.s.log.Debug("no port mapping", "err", err)
	}
}

// mappable reports whether c is a UDP host candidate on a private IPv4
// address (RFC 1918 or the shared range of RFC 6598), the kind a NAT
// gateway stands in front of, and returns its socket address.
func mappable(c *webrtc.ICECandidate) (netip.AddrPort, bool) {
	if c.Typ != webrtc.ICECandidateTypeHost || c.Protocol != webrtc.ICEProtocolUDP {
		return netip.AddrPort{}, false
	}
	a, err := netip.ParseAddr(c.Address)
	if err != nil || !a.Is4() || c.Port == 0 {
		return netip.AddrPort{}, false
	}
	if !a.IsPrivate() && !sharedAddressSpace.Contains(a) {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, c.Port), true
}

var sharedAddressSpace = netip.MustParsePrefix("100.64.0.0/10")

// mappedCandidate is the candidate line (RFC 8839, section 5.1) of a
// mapping: server-reflexive, since the gateway reflects it like a STUN
// server would, with the host socket as its related address.
func mappedCandidate(pm portmap.Mapping, local netip.AddrPort) (string, error) {
	c, err := ice.NewCandidateServerReflexive(&ice.CandidateServerReflexiveConfig{
		Network:   "udp",
		Address:   pm.External.Addr().String(),
		Port:      int(pm.External.Port()),
		Component: 1,
		RelAddr:   local.Addr().String(),
		RelPort:   int(local.Port()),
	})
	if err != nil {
		return "", err
	}
	return "candidate:" + c.Marshal(), nil
}
