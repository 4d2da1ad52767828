package relay

import (
	"net"
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
// goroutine for it closes it.
type trackedListener struct {
	net.Listener
	s    *Server
	once sync.Once
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		l.once.Do(l.s.release)
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.busy++
	l.s.conns[tc] = struct{}{}
	closing := l.s.closing
	l.s.mu.Unlock()
	if closing {
		// Close has already collected the connections; this one's read
		// loop fails at once and pion then calls tc.Close.
		_ = c.Close()
	}
	return tc, nil
}

// trackedConn is an accepted TCP connection. pion closes it when its read
// loop ends, after deleting the connection's allocation.
type trackedConn struct {
	net.Conn
	s    *Server
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.busy--
		c.s.cond.Broadcast()
		c.s.mu.Unlock()
	})
	return err
}

// relayGen hands out relay sockets from pion's static generator and tracks
// each until the allocation closes it.
type relayGen struct {
	s      *Server
	static *turn.RelayAddressGeneratorStatic
}

func (g *relayGen) Validate() error { return g.static.Validate() }

func (g *relayGen) AllocatePacketConn(c turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if !g.s.acquire() {
		return nil, nil, ErrClosed
	}
	conn, addr, err := g.static.AllocatePacketConn(c)
	if err != nil {
		g.s.release()
		return nil, nil, err
	}
	return &relayPacketConn{PacketConn: conn, s: g.s}, addr, nil
}

func (g *relayGen) AllocateListener(c turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	if !g.s.acquire() {
		return nil, nil, ErrClosed
	}
	ln, addr, err := g.static.AllocateListener(c)
	if err != nil {
		g.s.release()
		return nil, nil, err
	}
	return &relayListener{Listener: ln, s: g.s}, addr, nil
}

func (g *relayGen) AllocateConn(c turn.AllocateConnConfig) (net.Conn, error) {
	return g.static.AllocateConn(c)
}

type relayPacketConn struct {
	net.PacketConn
	s    *Server
	once sync.Once
}

func (c *relayPacketConn) Close() error {
	err := c.PacketConn.Close()
	c.once.Do(c.s.release)
	return err
}

type relayListener struct {
	net.Listener
	s    *Server
	once sync.Once
}

func (l *relayListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(l.s.release)
	return err
}
