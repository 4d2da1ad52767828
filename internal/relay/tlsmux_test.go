package relay_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/turn/v5"

	"github.com/direkt/direkt/internal/relay"
)

// testPKI is a private CA and a certificate it signed for 127.0.0.1.
type testPKI struct {
	roots  *x509.CertPool
	server tls.Certificate
}

var (
	pkiOnce sync.Once
	pki     testPKI
)

func loopbackPKI(t *testing.T) testPKI {
	t.Helper()
	pkiOnce.Do(func() {
		caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		now := time.Now()
		caTmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "relay test CA"},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(time.Hour),
			KeyUsage:              x509.KeyUsageCertSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		ca, _ := x509.ParseCertificate(caDER)
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(2),
			Subject:      pkix.Name{CommonName: "127.0.0.1"},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			panic(err)
		}
		pki.roots = x509.NewCertPool()
		pki.roots.AddCert(ca)
		pki.server = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	})
	return pki
}

// muxStack is a Mux on loopback with a relay on its TURN side and an HTTP
// server answering "hello over https" on its HTTP side.
type muxStack struct {
	mux   *relay.Mux
	relay *relay.Server
	addr  string // host:port of the TLS listener
	roots *x509.CertPool
}

func startMux(t *testing.T, cfg relay.MuxConfig) *muxStack {
	t.Helper()
	p := loopbackPKI(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listener = ln
	cfg.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}}
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	m, err := relay.NewMux(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := relay.New(relay.Config{TLSListener: m.TURN(), RelayBindAddr: "127.0.0.1", AllowPrivate: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "hello over https")
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          nil,
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = hs.Serve(m.HTTP()) })
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := m.Close(); err != nil {
			t.Errorf("Mux.Close: %v", err)
		}
		_ = hs.Shutdown(ctx)
		wg.Wait()
		if err := rl.Close(); err != nil {
			t.Errorf("relay Close: %v", err)
		}
	})
	return &muxStack{mux: m, relay: rl, addr: ln.Addr().String(), roots: p.roots}
}

func (s *muxStack) get(t *testing.T, nextProtos []string) string {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.roots, NextProtos: nextProtos}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	resp, err := c.Get("https://" + s.addr + "/")
	if err != nil {
		t.Fatalf("GET over TLS: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// turnOverTLS allocates with pion's TURN client over a TLS connection to
// the mux and relays a datagram each way through the allocation, to a peer
// allocated the same way.
func (s *muxStack) turnOverTLS(t *testing.T, nextProtos []string) {
	t.Helper()
	rc := s.tlsAllocation(t, nextProtos)
	relayRoundTrip(t, rc, s.tlsAllocation(t, nextProtos), "via tls")
}

// tlsAllocation is an allocation made over TURN over TLS; it is released at
// cleanup.
func (s *muxStack) tlsAllocation(t *testing.T, nextProtos []string) net.PacketConn {
	t.Helper()
	raw, err := net.DialTimeout("tcp4", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(raw, &tls.Config{ServerName: "127.0.0.1", RootCAs: s.roots, NextProtos: nextProtos})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		raw.Close()
		t.Fatalf("TLS handshake: %v", err)
	}
	user, pass, _ := s.relay.Credentials(time.Now())
	conn := turn.NewSTUNConn(tc)
	c, err := turn.NewClient(&turn.ClientConfig{
		TURNServerAddr: s.addr,
		Username:       user,
		Password:       pass,
		Conn:           conn,
		RTO:            50 * time.Millisecond,
		LoggerFactory:  relay.NewPionLogger(quiet),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(); c.Close() })
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	rc, err := c.AllocateWithContext(ctx)
	if err != nil {
		t.Fatalf("allocate over TLS: %v", err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

// Both protocols on one port, each sorted by its first bytes (no ALPN) and
// by ALPN.
func TestMuxServesHTTPSAndTURN(t *testing.T) {
	s := startMux(t, relay.MuxConfig{})
	for _, alpn := range []bool{false, true} {
		var httpProtos, turnProtos []string
		if alpn {
			httpProtos, turnProtos = []string{"h2", relay.ALPNHTTP}, []string{relay.ALPNTURN}
		}
		if got := s.get(t, httpProtos); got != "hello over https" {
			t.Errorf("alpn %v: GET returned %q", alpn, got)
		}
		s.turnOverTLS(t, turnProtos)
	}
	// Twice at once: one sort does not hold up another.
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if got := s.get(t, nil); got != "hello over https" {
				t.Errorf("concurrent GET returned %q", got)
			}
		})
		wg.Go(func() { s.turnOverTLS(t, nil) })
	}
	wg.Wait()
}

func TestICEServersWithTLS(t *testing.T) {
	s := startMux(t, relay.MuxConfig{})
	_, port, _ := net.SplitHostPort(s.addr)
	got := s.relay.ICEServers("relay.example:443", time.Now())
	if len(got) != 1 {
		t.Fatalf("ICEServers = %+v, want one TURN entry (no UDP, so no STUN)", got)
	}
	if want := []string{"turns:relay.example:" + port + "?transport=tcp"}; strings.Join(got[0].URLs, " ") != strings.Join(want, " ") {
		t.Errorf("URLs %v, want %v", got[0].URLs, want)
	}
}

// readClosed reports whether the server closed conn within the deadline.
func readClosed(t *testing.T, conn net.Conn, within time.Duration) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(within))
	_, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", within)
	}
}

func TestMuxDropsGarbage(t *testing.T) {
	s := startMux(t, relay.MuxConfig{})
	t.Run("not TLS", func(t *testing.T) {
		conn, err := net.Dial("tcp4", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		readClosed(t, conn, 5*time.Second)
	})
	for name, first := range map[string]string{
		"binary":          "\x80\x01\x02\x03\x04\x05\x06\x07 and more",
		"lowercase http":  "get / HTTP/1.1\r\n\r\n",
		"stun sans magic": "\x00\x01\x00\x00\x21\x12\xa4\x43" + strings.Repeat("\x00", 12),
		"ssh":             "SSH-2.0-OpenSSH_9.2\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := tls.Dial("tcp4", s.addr, &tls.Config{RootCAs: s.roots})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_, _ = io.WriteString(conn, first)
			readClosed(t, conn, 5*time.Second)
		})
	}
	// The mux still serves after all that.
	if got := s.get(t, nil); got != "hello over https" {
		t.Errorf("GET after garbage returned %q", got)
	}
}

// Slowloris: a client that connects and says nothing, or finishes the
// handshake and says nothing, is dropped at HandshakeTimeout.
func TestMuxDropsSilence(t *testing.T) {
	s := startMux(t, relay.MuxConfig{HandshakeTimeout: 200 * time.Millisecond})
	t.Run("before handshake", func(t *testing.T) {
		conn, err := net.Dial("tcp4", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		readClosed(t, conn, 5*time.Second)
	})
	t.Run("after handshake", func(t *testing.T) {
		conn, err := tls.Dial("tcp4", s.addr, &tls.Config{RootCAs: s.roots})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		readClosed(t, conn, 5*time.Second)
	})
	t.Run("half a header", func(t *testing.T) {
		conn, err := tls.Dial("tcp4", s.addr, &tls.Config{RootCAs: s.roots})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_, _ = io.WriteString(conn, "GE")
		readClosed(t, conn, 5*time.Second)
	})
}

// Past MaxPending, new connections are closed at once while the earlier
// ones still wait out their handshake.
func TestMuxMaxPending(t *testing.T) {
	s := startMux(t, relay.MuxConfig{MaxPending: 1, HandshakeTimeout: time.Minute})
	first, err := net.Dial("tcp4", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	second, err := net.Dial("tcp4", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	readClosed(t, second, 5*time.Second)
	// The first is still in its handshake: finish it and get served.
	tc := tls.Client(first, &tls.Config{ServerName: "127.0.0.1", RootCAs: s.roots})
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("first connection: %v", err)
	}
	if _, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(tc)
	if !strings.Contains(string(b), "hello over https") {
		t.Fatalf("first connection got %q", b)
	}
}

func TestMuxClose(t *testing.T) {
	p := loopbackPKI(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := relay.NewMux(relay.MuxConfig{Listener: ln, TLS: &tls.Config{Certificates: []tls.Certificate{p.server}}, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	// A connection stuck in its handshake must not hold Close up.
	stuck, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	accepted := make(chan error, 2)
	for _, l := range []net.Listener{m.HTTP(), m.TURN()} {
		go func() {
			c, err := l.Accept()
			if err == nil {
				c.Close()
			}
			accepted <- err
		}()
	}
	done := make(chan error, 1)
	go func() { done <- m.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	for range 2 {
		if err := <-accepted; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	}
	readClosed(t, stuck, 5*time.Second)
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := relay.NewMux(relay.MuxConfig{Listener: ln}); !errors.Is(err, relay.ErrBadConfig) {
		t.Errorf("NewMux without TLS: %v, want ErrBadConfig", err)
	}
}
