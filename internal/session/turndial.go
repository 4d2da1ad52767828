package session

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/webrtc/v4"

	"github.com/direkt/direkt/internal/wire"
)

// TURNDial says how a session reaches TURN servers over TCP and TLS: through
// a proxy, and with which roots a "turns:" server's certificate is checked.
// pion verifies turns: servers only against the system's roots and dials
// them only directly; with a TURNDial the session opens those connections
// itself and hands them to pion (SettingEngine.SetICEProxyDialer). UDP is
// never affected.
type TURNDial struct {
	// RootCAs verifies the certificates of turns: servers. nil means the
	// system's roots.
	RootCAs *x509.CertPool
	// Dialer opens the TCP connections to TURN servers, for example
	// through an HTTP CONNECT proxy (package proxy). nil means a direct
	// net.Dialer.
	Dialer ContextDialer
	// Timeout bounds one connection: the dial, any proxy exchange and the
	// TLS handshake. Zero means DefaultTURNDialTimeout.
	Timeout time.Duration
}

// ContextDialer opens stream connections; *net.Dialer and *proxy.Dialer are
// ContextDialers.
type ContextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// DefaultTURNDialTimeout is TURNDial.Timeout's zero value.
const DefaultTURNDialTimeout = 10 * time.Second

// setTURNDial makes pion open its TCP and TLS TURN connections through d.
// pion hands every TCP TURN URL, turn: and turns: alike, to the dialer
// with nothing but the address, and for turns: expects the TLS to be done
// by it: so the dialer learns which addresses are turns: ones from the
// servers themselves.
func setTURNDial(se *webrtc.SettingEngine, d *TURNDial, servers []wire.ICEServer) {
	if d == nil {
		return
	}
	td := &turnDialer{cfg: *d, tlsAddrs: turnsAddrs(servers)}
	if td.cfg.Dialer == nil {
		td.cfg.Dialer = &net.Dialer{}
	}
	if td.cfg.Timeout <= 0 {
		td.cfg.Timeout = DefaultTURNDialTimeout
	}
	se.SetICEProxyDialer(td)
}

// turnsAddrs maps "host:port" of every turns: URL over TCP to its host (the
// TLS server name), as pion will name them to the dialer.
func turnsAddrs(servers []wire.ICEServer) map[string]string {
	out := make(map[string]string)
	for _, s := range servers {
		for _, raw := range s.URLs {
			u, err := stun.ParseURI(raw)
			if err != nil || u.Scheme != stun.SchemeTypeTURNS || u.Proto != stun.ProtoTypeTCP {
				continue
			}
			out[net.JoinHostPort(u.Host, strconv.Itoa(u.Port))] = u.Host
		}
	}
	return out
}

// turnDialer implements golang.org/x/net/proxy.Dialer for pion's TURN
// gathering. pion calls it from its gathering goroutines; it holds no
// state of its own between calls.
type turnDialer struct {
	cfg      TURNDial
	tlsAddrs map[string]string
}

// Dial opens a connection to the TURN server at addr and, for a turns:
// server, completes the TLS handshake. network is "tcp4" or "tcp6"; the
// connection to a proxy uses it too.
func (t *turnDialer) Dial(network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), t.cfg.Timeout)
	defer cancel()
	conn, err := t.cfg.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("session: TURN over TCP to %s: %w", addr, err)
	}
	host, ok := t.tlsAddrs[addr]
	if !ok {
		return tcpAddrConn{conn}, nil
	}
	tc := tls.Client(conn, &tls.Config{
		ServerName: strings.Trim(host, "[]"),
		RootCAs:    t.cfg.RootCAs,
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"stun.turn"}, // RFC 7443, section 3
	})
	if err := tc.HandshakeContext(ctx); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("session: TURN over TLS to %s: %w", addr, err)
	}
	return tcpAddrConn{tc}, nil
}

// tcpAddrConn guarantees the *net.TCPAddr pion's gathering asserts on its
// LocalAddr; a wrapped or proxied connection might report another type.
type tcpAddrConn struct{ net.Conn }

func (c tcpAddrConn) LocalAddr() net.Addr {
	a := c.Conn.LocalAddr()
	if _, ok := a.(*net.TCPAddr); ok {
		return a
	}
	if a != nil {
		if ap, err := netip.ParseAddrPort(a.String()); err == nil {
			return net.TCPAddrFromAddrPort(ap)
		}
	}
	return &net.TCPAddr{}
}
