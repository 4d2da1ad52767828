package relay

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// The relay's own addresses (issue 7, item 2). A service bound to 0.0.0.0
// on the relay host answers on every one of them, and Linux routes a packet
// the relay sends to one of its own addresses over lo, past most firewalls.
// So no peer address may be the relay's own, with one exception: the
// relayed address itself, on the port of a live allocation. That is how two
// peers relayed by the same server reach each other (relay to relay), and
// all it reaches is another relay socket of this server.

// selfRefresh is how long a computed set of own addresses is used before
// the interfaces are read again, so that an address the host gains later
// (DHCP, a new interface) is refused within seconds.
const selfRefresh = 5 * time.Second

// selfAddrs is one reading of the relay's own addresses.
type selfAddrs struct {
	addrs map[netip.Addr]struct{}
	at    time.Time
}

// self tracks the relay's own addresses and the ports of its relay sockets.
type self struct {
	// hairpin are the addresses relay sockets are reached at: the
	// advertised relay address and a specific RelayBindAddr.
	hairpin []netip.Addr
	// fixed are the configured addresses (listeners, public IP, bind
	// address); interfaces are added to them on each reading.
	fixed      []netip.Addr
	interfaces func() ([]netip.Addr, error)

	cur        atomic.Pointer[selfAddrs]
	refreshing sync.Mutex

	mu    sync.RWMutex
	ports map[uint16]int // relay socket ports, counted: UDP and TCP may share one
}

func newSelf(hairpin, fixed []netip.Addr, interfaces func() ([]netip.Addr, error)) *self {
	s := &self{hairpin: hairpin, fixed: fixed, interfaces: interfaces, ports: make(map[uint16]int)}
	s.refresh()
	return s
}

// refresh reads the interfaces again. If another goroutine is already at
// it, the caller goes on with the current reading.
func (s *self) refresh() {
	if !s.refreshing.TryLock() {
		return
	}
	defer s.refreshing.Unlock()
	m := make(map[netip.Addr]struct{}, len(s.fixed)+8)
	for _, a := range s.fixed {
		m[a] = struct{}{}
	}
	for _, a := range s.hairpin {
		m[a] = struct{}{}
	}
	addrs, err := s.interfaces()
	if err != nil {
		// Keep what the last reading found rather than forget addresses.
		if old := s.cur.Load(); old != nil {
			for a := range old.addrs {
				m[a] = struct{}{}
			}
		}
	}
	for _, a := range addrs {
		m[a.Unmap()] = struct{}{}
	}
	s.cur.Store(&selfAddrs{addrs: m, at: time.Now()})
}

// isOwn reports whether a (unmapped) is an address of the relay host: any
// loopback or unspecified address (both reach local services), an
// interface address, a listener or the relay address.
func (s *self) isOwn(a netip.Addr) bool {
	if a.IsLoopback() || a.IsUnspecified() {
		return true
	}
	cur := s.cur.Load()
	if time.Since(cur.at) > selfRefresh {
		s.refresh()
		cur = s.cur.Load()
	}
	_, ok := cur.addrs[a]
	return ok
}

func (s *self) isHairpin(a netip.Addr) bool {
	for _, h := range s.hairpin {
		if a == h {
			return true
		}
	}
	return false
}

// permit decides a permission for peer address a (see peerAddr) before the
// range policy: ok reports a decision, allow what it is. The relay address
// itself is admitted (its ports are checked per packet), any other own
// address refused.
func (s *self) permit(a netip.Addr) (allow, ok bool) {
	switch {
	case s.isHairpin(a):
		return true, true
	case s.isOwn(a):
		return false, true
	}
	return false, false
}

// dataAllowed reports whether a relay socket may send to, or take a packet
// from, addr: anything that is not an own address, and on the relay
// address only the ports of this server's relay sockets.
func (s *self) dataAllowed(addr net.Addr) bool {
	ip, port := addrIPPort(addr)
	a := peerAddr(ip)
	if !a.IsValid() {
		return false
	}
	if !s.isHairpin(a) {
		return !s.isOwn(a)
	}
	s.mu.RLock()
	n := s.ports[uint16(port)]
	s.mu.RUnlock()
	return n > 0
}

func (s *self) addPort(port int) {
	s.mu.Lock()
	s.ports[uint16(port)]++
	s.mu.Unlock()
}

func (s *self) removePort(port int) {
	s.mu.Lock()
	if s.ports[uint16(port)]--; s.ports[uint16(port)] <= 0 {
		delete(s.ports, uint16(port))
	}
	s.mu.Unlock()
}

// ipAddrs converts interface addresses (*net.IPNet, *net.IPAddr) to netip.
func ipAddrs(in []net.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(in))
	for _, a := range in {
		var ip net.IP
		switch a := a.(type) {
		case *net.IPNet:
			ip = a.IP
		case *net.IPAddr:
			ip = a.IP
		}
		if n, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, n.Unmap())
		}
	}
	return out
}
