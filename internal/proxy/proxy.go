package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// MaxReply bounds the proxy's reply to CONNECT (status line and headers).
const MaxReply = 16 << 10

// ContextDialer is what Dialer dials through, and what it is itself.
type ContextDialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}

// Config says which proxy to use. The zero Config means no proxy at all.
type Config struct {
	// URL is the proxy for every destination: http://[user:password@]host[:port]
	// (port 80 when absent; a bare host:port is taken as http). "" means
	// as the environment says (HTTPS_PROXY, then https_proxy).
	URL string
	// Getenv reads HTTPS_PROXY, https_proxy, NO_PROXY and no_proxy. nil
	// means no environment: only URL counts and NO_PROXY is empty.
	Getenv func(string) string
	// Forward dials the proxy, or the destination when it goes direct. nil
	// means a net.Dialer.
	Forward ContextDialer
}

// Dialer opens TCP connections, through the proxy Config names for the
// destination or directly. Its methods are safe for concurrent use.
type Dialer struct {
	forward ContextDialer
	proxy   *url.URL // nil: always direct
	noProxy noProxy
}

// New checks cfg and returns its Dialer.
func New(cfg Config) (*Dialer, error) {
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	raw := cfg.URL
	if raw == "" {
		raw = firstEnv(getenv, "HTTPS_PROXY", "https_proxy")
	}
	d := &Dialer{forward: cfg.Forward}
	if d.forward == nil {
		d.forward = &net.Dialer{}
	}
	if raw == "" {
		return d, nil
	}
	u, err := ParseURL(raw)
	if err != nil {
		return nil, err
	}
	d.proxy = u
	d.noProxy = parseNoProxy(firstEnv(getenv, "NO_PROXY", "no_proxy"))
	return d, nil
}

func firstEnv(getenv func(string) string, names ...string) string {
	for _, n := range names {
		if v := getenv(n); v != "" {
			return v
		}
	}
	return ""
}

// ParseURL parses a proxy URL: http://[user:password@]host[:port], or a
// bare host:port. Errors never repeat the URL, which may hold a password.
func ParseURL(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: does not parse", ErrProxyURL)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("%w: scheme %q, want http", ErrProxyURL, u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: no host", ErrProxyURL)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: a proxy URL has no path, query or fragment", ErrProxyURL)
	}
	return u, nil
}

// Proxy returns the proxy for a TCP destination host:port ("" when it
// goes direct), without credentials: for logs and tests.
func (d *Dialer) Proxy(addr string) string {
	if u := d.lookup(addr); u != nil {
		return proxyHostPort(u)
	}
	return ""
}

func (d *Dialer) lookup(addr string) *url.URL {
	if d.proxy == nil || d.noProxy.match(addr) {
		return nil
	}
	return d.proxy
}

// DialContext connects to addr (host:port), through the proxy when one
// applies. ctx bounds the dial and the CONNECT exchange; once the tunnel is
// up it no longer matters. network must be tcp, tcp4 or tcp6; it applies
// to the connection to the proxy when there is one.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("proxy: network %q: only TCP goes through a proxy", network)
	}
	u := d.lookup(addr)
	if u == nil {
		return d.forward.DialContext(ctx, network, addr)
	}
	conn, err := d.forward.DialContext(ctx, network, proxyHostPort(u))
	if err != nil {
		return nil, fmt.Errorf("proxy: dial proxy %s: %w", proxyHostPort(u), err)
	}
	tc, err := Connect(ctx, conn, u, addr)
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	return tc, nil
}

// proxyHostPort is the proxy's host:port, with the default port 80.
func proxyHostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// Connect asks the proxy at the other end of conn to open a tunnel to addr
// and returns the tunnel: conn itself, or a wrapper when the proxy sent
// bytes of the tunnel along with its reply. ctx bounds the exchange. On
// error the caller still owns conn and must close it.
func Connect(ctx context.Context, conn net.Conn, proxyURL *url.URL, addr string) (net.Conn, error) {
	// The context alone ends the exchange (a conn deadline of its own
	// would fire a hair before ctx reports why).
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	req := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: addr},
		Host:   addr,
		Header: http.Header{"User-Agent": {"direkt"}},
	}
	if u := proxyURL.User; u != nil {
		pass, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)))
	}
	werr := req.Write(conn)
	var br *bufio.Reader
	var rerr error
	if werr == nil {
		br = bufio.NewReaderSize(&limitReader{r: conn, n: MaxReply}, 4096)
		rerr = ReadReply(br)
	}
	stopped := stop()
	if !stopped || ((werr != nil || rerr != nil) && ctx.Err() != nil) {
		// The deadline or the cancellation is the cause, not the proxy.
		return nil, fmt.Errorf("proxy: CONNECT %s via %s: %w", addr, proxyHostPort(proxyURL), ctx.Err())
	}
	if werr != nil {
		return nil, fmt.Errorf("proxy: CONNECT %s via %s: %w", addr, proxyHostPort(proxyURL), werr)
	}
	if rerr != nil {
		return nil, fmt.Errorf("proxy: CONNECT %s via %s: %w", addr, proxyHostPort(proxyURL), rerr)
	}
	_ = conn.SetDeadline(time.Time{})
	if n := br.Buffered(); n > 0 {
		early, _ := br.Peek(n)
		return &prefixConn{Conn: conn, prefix: append([]byte(nil), early...)}, nil
	}
	return conn, nil
}

// ReadReply reads the proxy's reply to CONNECT from br and returns nil for
// a 2xx status (RFC 9110, section 9.3.6: any 2xx means the tunnel is up),
// ErrRefused for another status and ErrReply for anything that is not an
// HTTP/1.x response. br is left at the first byte of the tunnel.
func ReadReply(br *bufio.Reader) error {
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		if errors.Is(err, errLimit) {
			return fmt.Errorf("%w: longer than %d bytes", ErrReply, MaxReply)
		}
		return fmt.Errorf("%w: %w", ErrReply, err)
	}
	if resp.ProtoMajor != 1 {
		return fmt.Errorf("%w: protocol %s", ErrReply, resp.Proto)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%w: %s", ErrRefused, resp.Status)
	}
	return nil
}

var errLimit = errors.New("reply too long")

// limitReader fails with errLimit after n bytes: it bounds the reply while
// ReadReply reads through it. The tunnel itself is read from the conn.
type limitReader struct {
	r io.Reader
	n int
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errLimit
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= n
	return n, err
}

// prefixConn returns bytes the proxy sent after its reply before reading
// the connection again. Reads must come from one goroutine at a time, as
// for any net.Conn a protocol reads.
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
