package relay

import (
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// One TLS port for HTTPS and TURN (issue 4, section 3): networks that let
// only TCP to port 443 out must reach both the mailbox and the relay there.
// Mux terminates TLS and sorts each connection by ALPN when the client
// offered one of ours, else by its first bytes: every STUN message (and so
// every TURN request a client opens with) starts with two zero bits and has
// the magic cookie 0x2112A442 at bytes 4–7 (RFC 8489, section 5); an HTTP
// request starts with a method and a space.

// ALPN protocol IDs the Mux offers: TURN's from RFC 7443, section 3, and
// HTTP/1.1 (no h2: the mailbox is a WebSocket over HTTP/1.1).
const (
	ALPNTURN = "stun.turn"
	ALPNHTTP = "http/1.1"
)

// MuxConfig configures a Mux.
type MuxConfig struct {
	// Listener accepts the raw TCP connections. Required; the Mux owns it
	// and closes it in Close.
	Listener net.Listener
	// TLS holds the server's certificate (Certificates or GetCertificate).
	// Required. The Mux uses a copy with its own NextProtos and at least
	// TLS 1.2.
	TLS *tls.Config
	// HandshakeTimeout bounds the TLS handshake plus the wait for the first
	// bytes of a connection that named no protocol by ALPN: a client that
	// goes silent is dropped then. Zero means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// MaxPending caps connections in handshake or sniffing at once; more
	// are closed on arrival. Zero means DefaultMaxPending.
	MaxPending int
	// Logger receives the Mux's logs. nil = slog.Default().
	Logger *slog.Logger
}

// Defaults for zero MuxConfig fields.
const (
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxPending       = 256
)

// Mux demultiplexes TLS connections on one listener into HTTPS and TURN
// over TLS. The connections its HTTP and TURN listeners return are
// decrypted: serve them with http.Server.Serve and Config.TLSListener.
type Mux struct {
	cfg  MuxConfig
	tls  *tls.Config
	log  *slog.Logger
	http *muxListener
	turn *muxListener
	sem  chan struct{}

	closeOnce sync.Once
	done      chan struct{} // closed by Close
	wg        sync.WaitGroup

	mu      sync.Mutex
	pending map[net.Conn]struct{} // raw conns in handshake or sniffing
}

// NewMux starts accepting on cfg.Listener. Close stops it.
func NewMux(cfg MuxConfig) (*Mux, error) {
	if cfg.Listener == nil || cfg.TLS == nil {
		return nil, fmt.Errorf("%w: Mux needs a listener and a TLS config", ErrBadConfig)
	}
	if cfg.HandshakeTimeout < 0 || cfg.MaxPending < 0 {
		return nil, fmt.Errorf("%w: negative Mux timeout or limit", ErrBadConfig)
	}
	if cfg.HandshakeTimeout == 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tc := cfg.TLS.Clone()
	// TURN first: Go picks by the server's order, and coturn's clients
	// (turnutils_uclient) offer "http/1.1" beside "stun.turn"; no HTTP
	// client offers "stun.turn".
	tc.NextProtos = []string{ALPNTURN, ALPNHTTP}
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	m := &Mux{
		cfg:     cfg,
		tls:     tc,
		log:     cfg.Logger.With("component", "tlsmux"),
		sem:     make(chan struct{}, cfg.MaxPending),
		done:    make(chan struct{}),
		pending: make(map[net.Conn]struct{}),
	}
	m.http = newMuxListener(m, "http")
	m.turn = newMuxListener(m, "turn")
	m.wg.Go(m.acceptLoop)
	return m, nil
}

// HTTP returns the listener of HTTPS connections, decrypted.
func (m *Mux) HTTP() net.Listener { return m.http }

// TURN returns the listener of TURN-over-TLS connections, decrypted.
func (m *Mux) TURN() net.Listener { return m.turn }

// Addr is the address of the underlying listener.
func (m *Mux) Addr() net.Addr { return m.cfg.Listener.Addr() }

// Close closes the listener and both sub-listeners, drops connections still
// in handshake and returns once the Mux's goroutines have ended.
// Connections already handed out belong to whoever accepted them. It runs
// once; later calls return nil.
func (m *Mux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.done)
		err = m.cfg.Listener.Close()
		m.mu.Lock()
		for c := range m.pending {
			_ = c.Close()
		}
		m.mu.Unlock()
		m.wg.Wait()
		_ = m.http.Close()
		_ = m.turn.Close()
	})
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (m *Mux) acceptLoop() {
	var delay time.Duration
	for {
		c, err := m.cfg.Listener.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				m.log.Error("TLS listener closed under the Mux", "err", err)
				_ = m.http.Close()
				_ = m.turn.Close()
				return
			}
			// Out of file descriptors and the like: back off as
			// net/http does, then try again.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			m.log.Warn("accept failed; retrying", "err", err, "delay", delay)
			select {
			case <-time.After(delay):
				continue
			case <-m.done:
				return
			}
		}
		delay = 0
		select {
		case m.sem <- struct{}{}:
		default:
			m.log.Debug("too many TLS handshakes in progress; connection dropped")
			_ = c.Close()
			continue
		}
		m.mu.Lock()
		select {
		case <-m.done:
			m.mu.Unlock()
			_ = c.Close()
			<-m.sem
			return
		default:
		}
		m.pending[c] = struct{}{}
		m.mu.Unlock()
		m.wg.Go(func() { m.sort(c) })
	}
}

// sort runs the handshake on raw, decides which listener gets it and
// hands it over.
func (m *Mux) sort(raw net.Conn) {
	defer func() { <-m.sem }()
	conn, kind, err := m.classify(raw)
	m.mu.Lock()
	delete(m.pending, raw)
	m.mu.Unlock()
	if err != nil {
		// Anyone can cause these: debug level only.
		m.log.Debug("TLS connection dropped", "remote", raw.RemoteAddr().String(), "err", err)
		_ = raw.Close()
		return
	}
	l := m.http
	if kind == kindTURN {
		l = m.turn
	}
	if !l.deliver(conn) {
		_ = conn.Close()
	}
}

// classify does the TLS handshake and reads as far as needed to tell the
// protocol, all within HandshakeTimeout.
func (m *Mux) classify(raw net.Conn) (net.Conn, connKind, error) {
	_ = raw.SetDeadline(time.Now().Add(m.cfg.HandshakeTimeout))
	tc := tls.Server(raw, m.tls)
	// The deadline bounds the handshake; Close ends it early by closing raw.
	if err := tc.Handshake(); err != nil {
		return nil, 0, fmt.Errorf("handshake: %w", err)
	}
	switch tc.ConnectionState().NegotiatedProtocol {
	case ALPNHTTP:
		_ = raw.SetDeadline(time.Time{})
		return tc, kindHTTP, nil
	case ALPNTURN:
		_ = raw.SetDeadline(time.Time{})
		return tc, kindTURN, nil
	}
	var head [sniffLen]byte
	if _, err := io.ReadFull(tc, head[:]); err != nil {
		return nil, 0, fmt.Errorf("first bytes: %w", err)
	}
	kind := classifyFirstBytes(head[:])
	if kind == kindUnknown {
		return nil, 0, errors.New("neither STUN nor HTTP")
	}
	_ = raw.SetDeadline(time.Time{})
	return &prefixConn{Conn: tc, prefix: append([]byte(nil), head[:]...)}, kind, nil
}

type connKind int

const (
	kindUnknown connKind = iota
	kindHTTP
	kindTURN
)

// sniffLen is how many bytes classifyFirstBytes needs: a STUN header up to
// the end of the magic cookie. Every HTTP request line is longer.
const sniffLen = 8

// stunMagicCookie is the fixed value at bytes 4–7 of every STUN message
// (RFC 8489, section 5).
const stunMagicCookie = 0x2112A442

// httpMethods are the request methods (RFC 9110, section 9) a client of the
// rendezvous might send, each with the space that ends it.
var httpMethods = []string{"GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ", "TRACE ", "PATCH "}

// classifyFirstBytes tells a STUN message from an HTTP request by the first
// sniffLen bytes of a connection.
func classifyFirstBytes(b []byte) connKind {
	if len(b) < sniffLen {
		return kindUnknown
	}
	if b[0]&0xC0 == 0 && binary.BigEndian.Uint32(b[4:8]) == stunMagicCookie {
		return kindTURN
	}
	for _, m := range httpMethods {
		n := min(len(m), len(b))
		if string(b[:n]) == m[:n] {
			return kindHTTP
		}
	}
	return kindUnknown
}

// prefixConn gives back the bytes classify read before reading on.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// muxListener is one of the Mux's two outputs.
type muxListener struct {
	m      *Mux
	name   string
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newMuxListener(m *Mux, name string) *muxListener {
	return &muxListener{m: m, name: name, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// deliver waits for Accept to take c; false when the listener or the Mux
// closed first.
func (l *muxListener) deliver(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	case <-l.m.done:
		return false
	}
}

func (l *muxListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, fmt.Errorf("relay: %s listener: %w", l.name, net.ErrClosed)
	}
}

// Close stops this listener only; the Mux drops later connections of its
// kind.
func (l *muxListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *muxListener) Addr() net.Addr { return l.m.cfg.Listener.Addr() }
