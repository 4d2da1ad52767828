package netbed

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/ipv4"
)

// probe is a UDP server in the server namespace on several ports: each
// datagram it gets is answered with the sender's address as the server saw
// it, from the port it arrived on.
type probe struct {
	conns map[int]*net.UDPConn
	wg    sync.WaitGroup
}

func startProbe(t *testing.T, b *Bed, ports ...int) *probe {
	t.Helper()
	p := &probe{conns: map[int]*net.UDPConn{}}
	for _, port := range ports {
		var c *net.UDPConn
		if err := Do(b.Server, func() (err error) {
			c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: ServerAddr.AsSlice(), Port: port})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		p.conns[port] = c
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			buf := make([]byte, 1500)
			for {
				_, from, err := c.ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				_, _ = c.WriteToUDPAddrPort([]byte(from.String()), from)
			}
		}()
	}
	t.Cleanup(func() {
		for _, c := range p.conns {
			c.Close()
		}
		p.wg.Wait()
	})
	return p
}

// mapped sends one datagram from c to the probe's port and returns the
// address the probe saw, or false when no answer came within wait.
func mapped(t *testing.T, c *net.UDPConn, port int, wait time.Duration) (netip.AddrPort, bool) {
	t.Helper()
	dst := netip.AddrPortFrom(ServerAddr, uint16(port))
	if _, err := c.WriteToUDPAddrPort([]byte("?"), dst); err != nil {
		t.Fatal(err)
	}
	return readAddr(t, c, wait)
}

// readAddr reads one answer of the probe.
func readAddr(t *testing.T, c *net.UDPConn, wait time.Duration) (netip.AddrPort, bool) {
	t.Helper()
	if err := c.SetReadDeadline(time.Now().Add(wait)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := c.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return netip.AddrPort{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	a, err := netip.ParseAddrPort(string(buf[:n]))
	if err != nil {
		t.Fatalf("probe answered %q: %v", buf[:n], err)
	}
	return a, true
}

// dialTCP reports how a TCP connection from namespace ns to the server's
// port ends: "ok", "refused" or "timeout".
func dialTCP(t *testing.T, ns string, port int) string {
	t.Helper()
	var conn net.Conn
	err := Do(ns, func() (err error) {
		conn, err = net.DialTimeout("tcp4", netip.AddrPortFrom(ServerAddr, uint16(port)).String(), 500*time.Millisecond)
		return err
	})
	switch {
	case err == nil:
		conn.Close()
		return "ok"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, os.ErrDeadlineExceeded) || strings.Contains(err.Error(), "timeout"):
		return "timeout"
	}
	t.Fatalf("dial %d from %s: %v", port, ns, err)
	return ""
}

// TestKinds checks each kind's behaviour (RFC 4787) from the server's side:
// the address a host's UDP socket maps to for two destinations (mapping),
// whether a third port that was never contacted reaches it (filtering), and
// which TCP ports leave the site.
func TestKinds(t *testing.T) {
	const wait = 300 * time.Millisecond // how long the absence of an answer is awaited
	for _, k := range Kinds {
		t.Run(string(k), func(t *testing.T) {
			b := newBed(t, Config{A: k})
			s := b.A
			p := startProbe(t, b, 7001, 7002, 7003)
			// TCP listeners on 443 and 8080.
			serveTCP(t, b, func(c net.Conn) { c.Close() }, 443, 8080)
			var c *net.UDPConn
			if err := Do(s.Host, func() (err error) {
				c, err = net.ListenUDP("udp4", &net.UDPAddr{Port: 40000})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer c.Close()

			m1, ok1 := mapped(t, c, 7001, wait)
			m2, ok2 := mapped(t, c, 7002, wait)
			if !k.UDP() {
				if ok1 || ok2 {
					t.Errorf("UDP left a %s site: mapped to %v, %v", k, m1, m2)
				}
			} else {
				if !ok1 || !ok2 {
					t.Fatalf("no UDP answer from the probe (%v %v)", ok1, ok2)
				}
				if m1.Addr() != s.PublicAddr || m2.Addr() != s.PublicAddr {
					t.Errorf("mapped to %v and %v, want the site's address %v", m1, m2, s.PublicAddr)
				}
				switch k {
				case Hard:
					if m1 == m2 {
						t.Errorf("hard NAT kept mapping %v for two destinations", m1)
					}
				default:
					if m1 != m2 || m1.Port() != 40000 {
						t.Errorf("mappings %v and %v, want one mapping that keeps port 40000", m1, m2)
					}
				}
				// A port the host never sent to.
				if _, err := p.conns[7003].WriteToUDPAddrPort([]byte(ServerAddr.String()+":7003"), m1); err != nil {
					t.Fatal(err)
				}
				_, got := readAddr(t, c, wait)
				if want := k == Public || k == Open; got != want {
					t.Errorf("unsolicited datagram from a new port reached the host: %v, want %v", got, want)
				}
			}
			want443, want8080 := "ok", "ok"
			if k == TCP443 {
				want8080 = "refused"
			}
			if got := dialTCP(t, s.Host, 443); got != want443 {
				t.Errorf("TCP to 443: %s, want %s", got, want443)
			}
			if got := dialTCP(t, s.Host, 8080); got != want8080 {
				t.Errorf("TCP to 8080: %s, want %s", got, want8080)
			}
		})
	}
}

// TestTTLCounts checks that the internet routes rather than bridges, and
// that a delay link adds no hop: a datagram from a NAT site's host needs a
// TTL of 3 to reach the server (router, internet, server), from a public
// host 2.
func TestTTLCounts(t *testing.T) {
	b := newBed(t, Config{A: Easy, B: Public, Delay: time.Millisecond})
	startProbe(t, b, 7001)
	for _, c := range []struct {
		s    *Site
		hops int
	}{{b.A, 3}, {b.B, 2}} {
		var conn *net.UDPConn
		if err := Do(c.s.Host, func() (err error) {
			conn, err = net.ListenUDP("udp4", nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		pc := ipv4.NewConn(conn)
		for _, ttl := range []int{c.hops - 1, c.hops} {
			if err := pc.SetTTL(ttl); err != nil {
				t.Fatal(err)
			}
			_, ok := mapped(t, conn, 7001, 300*time.Millisecond)
			if want := ttl >= c.hops; ok != want {
				t.Errorf("site %s (%s), TTL %d: reached the server %v, want %v", c.s.Name, c.s.Kind, ttl, ok, want)
			}
		}
		conn.Close()
	}
}

// serveTCP listens on ports of ServerAddr in the server's namespace and
// runs handle on each connection, in a goroutine of its own. Cleanup closes
// the listeners and then waits for every goroutine.
func serveTCP(t *testing.T, b *Bed, handle func(net.Conn), ports ...int) {
	t.Helper()
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // runs after the listeners' Close
	for _, port := range ports {
		var l net.Listener
		if err := Do(b.Server, func() (err error) {
			l, err = net.Listen("tcp4", netip.AddrPortFrom(ServerAddr, uint16(port)).String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					handle(c)
				}()
			}
		}()
	}
}
