package relay

import (
	"net"
	"net/netip"
	"sync"

	"github.com/pion/turn/v5"
)

// pion/turn's Server.Close closes the listeners and returns at once; its
// read loops, per-connection goroutines and relay goroutines end later, and
// accepted TCP connections are not closed at all. These wrappers tell the
// Server when each of them has ended, so that Close can wait for them.

// loopPacketConn wraps the UDP listener socket. pion's read loop exits on
// the first ReadFrom error, so that error marks the loop's end.
type loopPacketConn struct {
	net.PacketConn
	s    *Server
	once sync.Once
}

func (c *loopPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if err != nil {
		c.once.Do(c.s.release)
	}
	return n, addr, err
}

// trackedListener wraps the TCP listener: pion's accept loop exits on the
// first Accept error, and every accepted connection is tracked until pion's
// goroutine for it closes it. A connection beyond MaxConns or
// MaxConnsPerAddr is closed at once and never reaches pion.
type trackedListener struct {
	net.Listener
	s    *Server
	once sync.Once
}

func (l *trackedListener) Accept() (net.Conn, error) {
	s := l.s
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			l.once.Do(s.release)
			return nil, err
		}
		key := addrKey(c.RemoteAddr())
		tc := &trackedConn{Conn: c, s: s, key: key}
		s.mu.Lock()
		total, perAddr := len(s.conns), s.connsPerAddr[key]
		full := total >= s.cfg.MaxConns || perAddr >= s.cfg.MaxConnsPerAddr
		if !full {
			s.busy++
			s.conns[tc] = struct{}{}
			s.connsPerAddr[key]++
		}
		closing := s.closing
		s.mu.Unlock()
		if full {
			_ = c.Close()
			if total >= s.cfg.MaxConns {
				s.refusal.log(s.log, "conns", "connection refused: the server's connection budget is spent", "limit", s.cfg.MaxConns)
			} else {
				s.refusal.log(s.log, "addr-conns", "connection refused: too many connections from one address",
					"client", key.String(), "limit", s.cfg.MaxConnsPerAddr)
			}
			continue
		}
		if closing {
			// Close has already collected the connections; this one's read
			// loop fails at once and pion then calls tc.Close.
			_ = c.Close()
		}
		return tc, nil
	}
}

// trackedConn is an accepted TCP connection. pion closes it when its read
// loop ends, after deleting the connection's allocation.
type trackedConn struct {
	net.Conn
	s    *Server
	key  netip.Addr
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		if c.s.connsPerAddr[c.key]--; c.s.connsPerAddr[c.key] <= 0 {
			delete(c.s.connsPerAddr, c.key)
		}
		c.s.busy--
		c.s.cond.Broadcast()
		c.s.mu.Unlock()
	})
	return err
}

// relayGen hands out relay sockets from pion's static generator within
// MaxAllocations and tracks each until the allocation closes it.
//
// It makes no RFC 6062 TCP allocations: neither direkt (pion/ice allocates
// over UDP only) nor browsers ask for them, and a TCP allocation's Connect
// dials any TCP service the policy lets through, a port scanner with the
// relay's address. pion answers the refusal with 508.
type relayGen struct {
	s      *Server
	static *turn.RelayAddressGeneratorStatic
}

func (g *relayGen) Validate() error { return g.static.Validate() }

func (g *relayGen) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if err := g.s.acquireRelay(); err != nil {
		return nil, nil, err
	}
	conn, addr, err := g.static.AllocatePacketConn(c)
	if err != nil {
		g.s.releaseRelay()
		return nil, nil, err
	}
	_, port := addrIPPort(conn.LocalAddr())
	g.s.self.addPort(port)
	return &relayPacketConn{PacketConn: conn, s: g.s, port: port}, addr, nil
}

func (g *relayGen) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	g.s.log.Debug("allocation refused: TCP allocation (RFC 6062)")
	return nil, nil, errTCPAllocation
}

func (g *relayGen) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errTCPAllocation
}

// relayPacketConn is an allocation's relay socket. It neither sends to nor
// takes packets from the relay host's own addresses, except other relay
// sockets of this server (self.dataAllowed): pion checks permissions by IP
// only, and the relay address must be permitted for relay-to-relay paths.
type relayPacketConn struct {
	net.PacketConn
	s    *Server
	port int
	once sync.Once
}

func (c *relayPacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if !c.s.self.dataAllowed(addr) {
		// Dropped like any datagram: an error would only make pion log.
		c.s.log.Debug("relayed packet to an own address dropped", "peer", addr.String())
		return len(p), nil
	}
	return c.PacketConn.WriteTo(p, addr)
}

func (c *relayPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(p)
		if err != nil || c.s.self.dataAllowed(addr) {
			return n, addr, err
		}
	}
}

func (c *relayPacketConn) Close() error {
	err := c.PacketConn.Close()
	c.once.Do(func() {
		c.s.self.removePort(c.port)
		c.s.releaseRelay()
	})
	return err
}
