package session

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/turn/v5"

	"github.com/direkt/direkt/internal/netbed"
	"github.com/direkt/direkt/internal/wire"
)

// Sessions of this process in the namespaces of a netbed: each peer's pion
// opens its sockets in its site's namespace (bedNet), the STUN/TURN server
// listens in the server's, and the signalling is an in-memory channel with
// the latency of a mailbox on the bed's server. No binaries, so many runs
// are cheap.

// bedPrefix names this package's netbed namespaces.
const bedPrefix = "dks"

var sweepOnce sync.Once

// newSessionBed builds a bed (Delay is the one-way latency per site link)
// with a TURN server on it, or skips t when no bed can be built here.
func newSessionBed(t testing.TB, a, b netbed.Kind, delay time.Duration) *sessionBed {
	t.Helper()
	return newSessionBedConfig(t, netbed.Config{A: a, B: b, Delay: delay})
}

// newSessionBedConfig is newSessionBed with a bed of cfg (its Prefix is
// this package's).
func newSessionBedConfig(t testing.TB, cfg netbed.Config) *sessionBed {
	t.Helper()
	if err := netbed.Available(); err != nil {
		t.Skipf("no test bed here: %v", err)
	}
	sweepOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, _ = netbed.SweepStale(ctx, bedPrefix)
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg.Prefix = bedPrefix
	bed, err := netbed.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bed.Close(); err != nil {
			t.Errorf("close bed: %v", err)
		}
	})
	sb := &sessionBed{Bed: bed}
	sb.netA = newBedNet(t, bed.A.Host)
	sb.netB = newBedNet(t, bed.B.Host)
	sb.startTURN(t)
	return sb
}

type sessionBed struct {
	*netbed.Bed
	netA, netB *bedNet
	servers    []wire.ICEServer
}

const bedTURNPort = 3478

// startTURN runs a pion TURN server (and with it STUN) on the server host,
// on UDP and TCP port 3478, relaying from the server's address.
func (b *sessionBed) startTURN(t testing.TB) {
	t.Helper()
	srv := newBedNet(t, b.Server)
	addr := fmt.Sprintf("%s:%d", netbed.ServerAddr, bedTURNPort)
	pc, err := srv.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := netbed.Do(b.Server, func() (err error) {
		l, err := net.Listen("tcp4", addr)
		ln = &trackingListener{Listener: l}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	s := newTURNServer(t, pc, ln, func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorStatic{
			RelayAddress: net.IP(netbed.ServerAddr.AsSlice()),
			Address:      netbed.ServerAddr.String(),
			Net:          srv,
		}
	})
	t.Cleanup(func() {
		_ = s.Close()
		// pion's TURN server leaves accepted TCP connections to their
		// clients; a client in a namespace deleted before it closed never
		// does.
		ln.(*trackingListener).closeAll()
	})
	b.servers = []wire.ICEServer{
		{URLs: []string{"stun:" + addr}},
		{
			URLs:       []string{"turn:" + addr + "?transport=udp", "turn:" + addr + "?transport=tcp"},
			Username:   turnUser,
			Credential: turnPass,
		},
	}
}

// configs returns the two peers' configurations: a in site A, b in site B,
// signalling with the latency of a mailbox on the bed's server.
func (b *sessionBed) configs(base Config) (a, bb Config) {
	base.ICEServers = b.servers
	if base.Logger == nil {
		base.Logger = testLogger()
	}
	if base.BindingKey == ([32]byte{}) {
		base.BindingKey = testKey
	}
	if raceEnabled && base.relayWait == 0 {
		// The race detector slows ICE's checks so much that the first
		// direct pair of a symmetric NAT came after the relay wait: in
		// BenchmarkBedMatrix under -race with four busy loops on two
		// cores, up to 854 ms at 0 ms RTT and 1225 ms at 40 ms
		// (without -race, same load: 518 ms). The tests check which path
		// is found; how soon is the benchmarks' business.
		base.relayWait = 3 * relayAcceptanceWait
	}
	// Site to server and on to the other site: two site links each way.
	sa, sb := delayedSignallers(2 * b.Delay())
	a, bb = base, base
	a.Role, a.Signaller, a.Net = wire.RoleA, sa, b.netA
	bb.Role, bb.Signaller, bb.Net = wire.RoleB, sb, b.netB
	return a, bb
}

// bedNet is the real network as seen from one namespace: the interfaces are
// the namespace's and every socket is opened inside it.
type bedNet struct {
	*stdnet.Net
	ns string
}

var _ transport.Net = (*bedNet)(nil)

func newBedNet(t testing.TB, ns string) *bedNet {
	t.Helper()
	var n *stdnet.Net
	if err := netbed.Do(ns, func() (err error) {
		n, err = stdnet.NewNet()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return &bedNet{Net: n, ns: ns}
}

func (n *bedNet) ListenPacket(network, address string) (c net.PacketConn, err error) {
	if derr := netbed.Do(n.ns, func() error { c, err = n.Net.ListenPacket(network, address); return nil }); derr != nil {
		return nil, derr
	}
	return c, err
}

func (n *bedNet) ListenUDP(network string, laddr *net.UDPAddr) (c transport.UDPConn, err error) {
	if derr := netbed.Do(n.ns, func() error { c, err = n.Net.ListenUDP(network, laddr); return nil }); derr != nil {
		return nil, derr
	}
	return c, err
}

func (n *bedNet) ListenTCP(network string, laddr *net.TCPAddr) (l transport.TCPListener, err error) {
	if derr := netbed.Do(n.ns, func() error { l, err = n.Net.ListenTCP(network, laddr); return nil }); derr != nil {
		return nil, derr
	}
	return l, err
}

func (n *bedNet) Dial(network, address string) (c net.Conn, err error) {
	if derr := netbed.Do(n.ns, func() error { c, err = n.Net.Dial(network, address); return nil }); derr != nil {
		return nil, derr
	}
	return c, err
}

func (n *bedNet) DialUDP(network string, laddr, raddr *net.UDPAddr) (c transport.UDPConn, err error) {
	if derr := netbed.Do(n.ns, func() error { c, err = n.Net.DialUDP(network, laddr, raddr); return nil }); derr != nil {
		return nil, derr
	}
	return c, err
}

func (n *bedNet) DialTCP(network string, laddr, raddr *net.TCPAddr) (c transport.TCPConn, err error) {
	if derr := netbed.Do(n.ns, func() error { c, err = n.Net.DialTCP(network, laddr, raddr); return nil }); derr != nil {
		return nil, derr
	}
	return c, err
}

func (n *bedNet) CreateDialer(d *net.Dialer) transport.Dialer {
	return bedDialer{ns: n.ns, d: d}
}

type bedDialer struct {
	ns string
	d  *net.Dialer
}

func (d bedDialer) Dial(network, address string) (c net.Conn, err error) {
	if derr := netbed.Do(d.ns, func() error { c, err = d.d.Dial(network, address); return nil }); derr != nil {
		return nil, derr
	}
	return c, err
}

// delayedSignallers returns two ends of an in-memory signalling channel
// that delivers each message d after it was sent, in order: the mailbox.
func delayedSignallers(d time.Duration) (a, b *delayedSignaller) {
	ab := make(chan delayedSignal, 1024)
	ba := make(chan delayedSignal, 1024)
	return &delayedSignaller{in: ba, out: ab, d: d}, &delayedSignaller{in: ab, out: ba, d: d}
}

type delayedSignal struct {
	at time.Time
	s  wire.Signal
}

type delayedSignaller struct {
	in  <-chan delayedSignal
	out chan<- delayedSignal
	d   time.Duration
}

func (p *delayedSignaller) Send(ctx context.Context, s wire.Signal) error {
	if err := s.Validate(); err != nil {
		return err
	}
	select {
	case p.out <- delayedSignal{at: time.Now().Add(p.d), s: s}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *delayedSignaller) Recv(ctx context.Context) (wire.Signal, error) {
	var m delayedSignal
	select {
	case m = <-p.in:
	case <-ctx.Done():
		return wire.Signal{}, ctx.Err()
	}
	if wait := time.Until(m.at); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return wire.Signal{}, ctx.Err()
		}
	}
	return m.s, nil
}

// bedRun is the outcome of one connection in the bed.
type bedRun struct {
	pathA, pathB Path
	ms           float64 // both Connect calls started to both returned
	err          error
}

// connectInBed connects a peer in site A with one in site B and closes both.
func connectInBed(ctx context.Context, b *sessionBed, base Config) bedRun {
	a, bb := b.configs(base)
	start := time.Now()
	ra, rb := connectBoth(ctx, a, bb)
	r := bedRun{ms: float64(time.Since(start).Microseconds()) / 1000}
	for _, x := range []connectResult{ra, rb} {
		if x.err != nil && r.err == nil {
			r.err = x.err
		}
	}
	if ra.s != nil {
		r.pathA = ra.s.Path()
		_ = ra.s.Close()
	}
	if rb.s != nil {
		r.pathB = rb.s.Path()
		_ = rb.s.Close()
	}
	return r
}

// trackingListener remembers the connections it accepted, to close them.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		_ = c.Close()
	}
}

// timeline records, from pion's trace logs of one peer, when its ICE agent
// started and when it found its first valid direct and relay pairs: what
// the acceptance waits have to be weighed against.
type timeline struct {
	next slog.Handler // the test logger, or nil

	mu                   sync.Mutex
	start, direct, relay time.Time
}

func (h *timeline) Enabled(ctx context.Context, l slog.Level) bool { return true }
func (h *timeline) WithGroup(string) slog.Handler                  { return h }

// WithAttrs keeps the records of peer a, the controlling one, and passes
// the others on.
func (h *timeline) WithAttrs(as []slog.Attr) slog.Handler {
	for _, a := range as {
		if a.Key == "role" {
			return timelineRole{h, a.Value.String() == "a"}
		}
	}
	return h
}

type timelineRole struct {
	*timeline
	record bool
}

func (h timelineRole) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h timelineRole) Handle(ctx context.Context, r slog.Record) error {
	if h.record {
		return h.timeline.Handle(ctx, r)
	}
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *timeline) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	switch {
	case strings.HasPrefix(r.Message, "Started agent"):
		h.start = r.Time
	case strings.HasPrefix(r.Message, "Found valid candidate pair"):
		relay := strings.Contains(r.Message, " relay ")
		if relay && h.relay.IsZero() {
			h.relay = r.Time
		}
		if !relay && h.direct.IsZero() {
			h.direct = r.Time
		}
	}
	h.mu.Unlock()
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

// since returns how long after the agent started t was, in ms; -1 if never.
func (h *timeline) since(t time.Time) float64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if t.IsZero() || h.start.IsZero() {
		return -1
	}
	return float64(t.Sub(h.start).Microseconds()) / 1000
}
