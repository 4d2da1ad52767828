package session

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/direkt/direkt/internal/netbed"
	"github.com/direkt/direkt/internal/proxy"
	"github.com/direkt/direkt/internal/wire"
)

// startTURNS runs a pion TURN server behind TLS on loopback with a private
// CA's certificate for 127.0.0.1, and returns its address and the CA.
func startTURNS(t *testing.T) (addr string, roots *x509.CertPool) {
	t.Helper()
	files, err := netbed.WriteTLS(t.TempDir(), netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots = x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	ln, err := tls.Listen("tcp4", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	key := turn.GenerateAuthKey(turnUser, turnRealm, turnPass)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: turnRealm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == turnUser
		},
		ListenerConfigs: []turn.ListenerConfig{{Listener: ln, RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
			RelayAddress: net.ParseIP("127.0.0.1"), Address: "127.0.0.1",
		}}},
		LoggerFactory: pionLogs{log: testLogger()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), roots
}

// connectProxy is a loopback HTTP CONNECT proxy that counts the tunnels it
// opened. Its owner closes it at cleanup.
type connectProxy struct {
	ln      net.Listener
	wg      sync.WaitGroup
	tunnels atomic.Int32
}

func startConnectProxy(t *testing.T) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{ln: ln}
	var mu sync.Mutex
	var open []net.Conn
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			p.wg.Go(func() { p.serve(c, &mu, &open) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open {
			c.Close()
		}
		mu.Unlock()
		p.wg.Wait()
	})
	return p
}

func (p *connectProxy) serve(c net.Conn, mu *sync.Mutex, open *[]net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	if err != nil {
		return
	}
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if h == "\r\n" {
			break
		}
	}
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "CONNECT" {
		_, _ = io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\n\r\n")
		return
	}
	up, err := net.DialTimeout("tcp4", f[1], 5*time.Second)
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	mu.Lock()
	*open = append(*open, up)
	mu.Unlock()
	defer up.Close()
	p.tunnels.Add(1)
	_, _ = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, br)
		_ = up.Close()
	}()
	_, _ = io.Copy(c, up)
	_ = c.Close()
	<-done
}

// viaProxy dials every address through p, loopback included (which
// proxy.Dialer itself keeps direct).
type viaProxy struct{ p *connectProxy }

func (v viaProxy) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, v.p.ln.Addr().String())
	if err != nil {
		return nil, err
	}
	tc, err := proxy.Connect(ctx, conn, &url.URL{Scheme: "http", Host: v.p.ln.Addr().String()}, addr)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return tc, nil
}

// TestTURNOverTLS connects two sessions through a turns: server whose
// certificate only a private CA vouches for, directly and through an HTTP
// CONNECT proxy, and checks that the path names TLS.
func TestTURNOverTLS(t *testing.T) {
	leakCheck(t)
	addr, roots := startTURNS(t)
	servers := []wire.ICEServer{{
		URLs:       []string{"turns:" + addr + "?transport=tcp"},
		Username:   turnUser,
		Credential: turnPass,
	}}
	p := startConnectProxy(t)
	for _, tc := range []struct {
		name    string
		dial    *TURNDial
		tunnels int32
	}{
		{"private CA", &TURNDial{RootCAs: roots}, 0},
		{"private CA through a proxy", &TURNDial{RootCAs: roots, Dialer: viaProxy{p}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := p.tunnels.Load()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ca, cb, _, _ := pairConfigs(Config{Policy: PolicyRelay, ICEServers: servers, TURNDial: tc.dial})
			a, b := mustConnect(t, ctx, ca, cb)
			for _, s := range []*Session{a, b} {
				if got := s.Path(); got.Direct || got.Local != "relay" || got.Proto != "tls" {
					t.Errorf("%c: path %+v, want relay over tls", s.role, got)
				}
			}
			ca2, cb2 := openPair(t, ctx, a, b, "data")
			errc := make(chan error, 1)
			go func() { errc <- writePattern(ca2, 256<<10, 10_000) }()
			if n, err := readPattern(io.LimitReader(cb2, 256<<10), 4096); err != nil || n != 256<<10 {
				t.Fatalf("read %d bytes: %v", n, err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if got := p.tunnels.Load() - before; got != tc.tunnels {
				t.Errorf("proxy opened %d tunnels, want %d (one per peer)", got, tc.tunnels)
			}
		})
	}
}

// The dialer does TLS only for turns: addresses, checks the certificate
// against RootCAs, and gives pion a TCP local address.
func TestTURNDialer(t *testing.T) {
	addr, roots := startTURNS(t)
	plain, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer func() {
		plain.Close()
		wg.Wait()
	}()
	wg.Go(func() {
		for {
			c, err := plain.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
	servers := []wire.ICEServer{{URLs: []string{
		"turns:" + addr + "?transport=tcp",
		"turn:" + plain.Addr().String() + "?transport=tcp",
		"turn:127.0.0.1:3478?transport=udp",
	}}}
	if got := turnsAddrs(servers); len(got) != 1 || got[addr] != "127.0.0.1" {
		t.Fatalf("turnsAddrs = %v, want only %s", got, addr)
	}
	d := &turnDialer{cfg: TURNDial{RootCAs: roots, Dialer: &net.Dialer{}, Timeout: 5 * time.Second}, tlsAddrs: turnsAddrs(servers)}
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		t.Fatalf("turns: with the CA: %v", err)
	}
	if _, ok := c.LocalAddr().(*net.TCPAddr); !ok {
		t.Errorf("LocalAddr is %T, want *net.TCPAddr", c.LocalAddr())
	}
	if cs, ok := c.(tcpAddrConn).Conn.(*tls.Conn); !ok || !cs.ConnectionState().HandshakeComplete {
		t.Errorf("turns: connection is %T, not a finished TLS connection", c.(tcpAddrConn).Conn)
	}
	c.Close()

	c, err = d.Dial("tcp4", plain.Addr().String())
	if err != nil {
		t.Fatalf("turn: over TCP: %v", err)
	}
	if _, isTLS := c.(tcpAddrConn).Conn.(*tls.Conn); isTLS {
		t.Error("turn: over TCP got TLS")
	}
	c.Close()

	// Without the private CA the certificate is refused.
	d.cfg.RootCAs = x509.NewCertPool()
	if c, err := d.Dial("tcp4", addr); err == nil {
		c.Close()
		t.Fatal("turns: accepted a certificate of an unknown CA")
	} else if !errors.As(err, new(x509.UnknownAuthorityError)) {
		t.Errorf("err = %v, want an unknown-authority error", err)
	}
}
