package relay_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v4"

	"github.com/direkt/direkt/internal/relay"
)

// Issue 7, item 6: allocation limits per client address and in total, and
// connection limits, so that hostile clients are refused instead of making
// the server grow.

// allocateFrom makes one UDP allocation from a fresh socket on srcIP with
// its own credentials, as a hostile client with many pairings would, and
// returns the final response's error code (0: allocated). The socket is
// closed before it returns: the allocation lives on in the server.
func allocateFrom(s *relay.Server, srcIP, server string) (stun.ErrorCode, error) {
	conn, err := net.ListenPacket("udp4", net.JoinHostPort(srcIP, "0"))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	sa, err := net.ResolveUDPAddr("udp4", server)
	if err != nil {
		return 0, err
	}
	user, pass, _ := s.Credentials(time.Now())
	buf := make([]byte, 1500)
	roundTrip := func(m *stun.Message) (*stun.Message, error) {
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := conn.WriteTo(m.Raw, sa); err != nil {
			return nil, err
		}
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return nil, err
			}
			res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if res.Decode() == nil && res.TransactionID == m.TransactionID {
				return res, nil
			}
		}
	}
	res, err := roundTrip(stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		requestedTransport(17), stun.Fingerprint))
	if err != nil {
		return 0, err
	}
	var realm stun.Realm
	var nonce stun.Nonce
	if realm.GetFrom(res) != nil || nonce.GetFrom(res) != nil {
		return errorCode(res), errors.New("no challenge")
	}
	res, err = roundTrip(stun.MustBuild(stun.TransactionID, stun.NewType(stun.MethodAllocate, stun.ClassRequest),
		requestedTransport(17), stun.NewUsername(user), realm, nonce,
		stun.NewLongTermIntegrity(user, realm.String(), pass), stun.Fingerprint))
	if err != nil {
		return 0, err
	}
	return errorCode(res), nil
}

// TestAllocationLimits: beyond MaxAllocationsPerAddr one address is refused
// with 486 whatever credentials it uses, while another address still
// allocates; beyond MaxAllocations everyone is refused with 508.
func TestAllocationLimits(t *testing.T) {
	s, udpAddr, _ := startRelayOn(t, "127.0.0.1", relay.Config{MaxAllocationsPerAddr: 2, MaxAllocations: 3})
	for i, tc := range []struct {
		src  string
		want stun.ErrorCode
	}{
		{"127.0.0.1", 0},
		{"127.0.0.1", 0},
		{"127.0.0.1", stun.CodeAllocQuotaReached}, // a third from one address
		{"127.0.0.2", 0},
		{"127.0.0.3", stun.CodeInsufficientCapacity}, // a fourth on the server
	} {
		code, err := allocateFrom(s, tc.src, udpAddr)
		if err != nil || code != tc.want {
			t.Fatalf("allocation %d from %s: code %d (%v), want %d", i+1, tc.src, code, err, tc.want)
		}
	}
	if st := s.Stats(); st.Allocations != 3 {
		t.Fatalf("server holds %d allocations, want 3", st.Allocations)
	}
}

// TestConnLimits: a TCP connection beyond MaxConnsPerAddr, or beyond
// MaxConns, is closed on arrival; the ones before it stay open.
func TestConnLimits(t *testing.T) {
	s, _, tcpAddr := startRelayOn(t, "127.0.0.1", relay.Config{MaxConnsPerAddr: 2, MaxConns: 3})
	dial := func(src string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp4", tcpAddr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	open := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err := c.Read(make([]byte, 1))
		return isTimeout(err)
	}
	a1, a2, a3 := dial("127.0.0.1"), dial("127.0.0.1"), dial("127.0.0.1")
	if !open(a1) || !open(a2) || open(a3) {
		t.Fatalf("three connections from one address: open %v %v %v, want true true false", open(a1), open(a2), open(a3))
	}
	b1, b2 := dial("127.0.0.2"), dial("127.0.0.3")
	if !open(b1) || open(b2) {
		t.Fatal("beyond MaxConns a connection stayed open, or before it one was closed")
	}
	if st := s.Stats(); st.Conns != 3 {
		t.Fatalf("server holds %d connections, want 3", st.Conns)
	}
}

// TestLoad: thousands of hostile clients from hundreds of addresses, each
// with credentials of its own, try to allocate and to hold TCP connections.
// The server holds exactly its budgets, refuses the rest with 486 or 508
// (or by closing), and its heap stays where the budget puts it: refused
// clients cost nothing that lasts. It reports heap per allocation and per
// connection, from which the defaults' cost follows.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	const (
		maxAllocs     = 1000
		perAddr       = 3
		addrs         = 400 // 1200 allocations allowed by address, 1000 in all
		clientsPerIP  = 8   // 3200 clients, 2200 of them beyond a budget
		maxConns      = 500
		connsPerAddr  = 4
		connAddrs     = 200
		connsPerIP    = 6 // 1200 connections
		workers       = 32
		clientsAtOnce = addrs * clientsPerIP
	)
	s, udpAddr, tcpAddr := startRelayOn(t, "127.0.0.1", relay.Config{
		MaxAllocations: maxAllocs, MaxAllocationsPerAddr: perAddr, MaxConns: maxConns, MaxConnsPerAddr: connsPerAddr,
	})
	// The server runs in this process: its heap and goroutine stacks are
	// this process's, less what the test itself holds.
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc + m.StackInuse
	}
	base := heap()

	// UDP: every client from one of the addresses 127.1.x.y.
	var codes sync.Map // stun.ErrorCode -> *atomic.Int64
	count := func(c stun.ErrorCode) {
		v, _ := codes.LoadOrStore(c, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	run := func(from, to int) {
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for i := range jobs {
					ip := fmt.Sprintf("127.1.%d.%d", (i%addrs)/200, (i%addrs)%200+1)
					code, err := allocateFrom(s, ip, udpAddr)
					if err != nil {
						t.Errorf("client %d from %s: %v", i, ip, err)
						return
					}
					count(code)
				}
			})
		}
		for i := from; i < to; i++ {
			jobs <- i
		}
		close(jobs)
		wg.Wait()
	}
	start := time.Now()
	run(0, clientsAtOnce/2)
	atBudget := heap()
	held := s.Stats().Allocations
	run(clientsAtOnce/2, clientsAtOnce)
	after := heap()
	took := time.Since(start)
	got := map[stun.ErrorCode]int64{}
	codes.Range(func(k, v any) bool { got[k.(stun.ErrorCode)] = v.(*atomic.Int64).Load(); return true })
	if st := s.Stats(); st.Allocations != maxAllocs || held != maxAllocs {
		t.Fatalf("server holds %d allocations (%d after the first third), want exactly %d", st.Allocations, held, maxAllocs)
	}
	// 437 (Allocation Mismatch): the kernel gave a new client the port of
	// a closed one whose allocation lives on, the same 5-tuple.
	if got[0] != maxAllocs || got[stun.CodeAllocQuotaReached] == 0 || got[stun.CodeInsufficientCapacity] == 0 ||
		got[0]+got[stun.CodeAllocQuotaReached]+got[stun.CodeInsufficientCapacity]+got[stun.CodeAllocMismatch] != clientsAtOnce {
		t.Fatalf("answers %v, want %d allocated and the rest 486 or 508 (or 437)", got, maxAllocs)
	}
	perAlloc := float64(atBudget-base) / maxAllocs
	// Refused clients must not leave state behind: allow 1 MiB of noise.
	if after > atBudget+1<<20 {
		t.Errorf("heap grew from %d to %d bytes while %d clients were refused", atBudget, after, clientsAtOnce/2)
	}
	t.Logf("UDP: %d clients from %d addresses in %v: %d allocated, %d refused 486, %d refused 508; heap+stacks %+d bytes at the budget (%.0f B per allocation), %+d bytes after %d more clients",
		clientsAtOnce, addrs, took.Round(time.Millisecond), got[0], got[stun.CodeAllocQuotaReached], got[stun.CodeInsufficientCapacity],
		int64(atBudget-base), perAlloc, int64(after)-int64(atBudget), clientsAtOnce/2)

	// TCP: connections that send nothing, from 127.2.0.x.
	before := heap()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range connAddrs * connsPerIP {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.2.%d.%d", (i%connAddrs)/250, (i%connAddrs)%250+1))}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp4", tcpAddr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	// Once the server holds its budget, the rest are closed or about to
	// be: count them from this side.
	for deadline := time.Now().Add(10 * time.Second); s.Stats().Conns < maxConns && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	var closed int
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); errors.Is(err, io.EOF) || (err != nil && !isTimeout(err)) {
			closed++
		}
	}
	st := s.Stats()
	if st.Conns != maxConns || closed != len(conns)-maxConns {
		t.Fatalf("server holds %d connections and closed %d of %d, want %d held", st.Conns, closed, len(conns), maxConns)
	}
	connHeap := heap() - before
	t.Logf("TCP: %d connections from %d addresses: %d held, %d closed on arrival; heap+stacks %+d bytes (%.0f B per held connection, this side's sockets included)",
		len(conns), connAddrs, st.Conns, closed, int64(connHeap), float64(connHeap)/maxConns)
}
