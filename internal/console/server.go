package console

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Config configures a console Server.
type Config struct {
	// Addr is the address to listen on, host:port. The host must be a
	// loopback IP literal (127.0.0.0/8, ::1) or "localhost" (which means
	// 127.0.0.1); anything else is refused with ErrNotLoopback. Port 0 picks
	// a free port. Zero ("") means "127.0.0.1:0".
	Addr string
	// Backend is the running peer the console shows and drives. Required.
	Backend Backend
	// Logger receives the console's logs. Nil means no logs.
	Logger *slog.Logger
	// Lang is the UI language used when Backend's State.Lang is empty: "de"
	// or "en". Zero ("") leaves the choice to the browser's language. The
	// user can switch the language in the page either way.
	Lang string
	// LaunchDir is the folder in which OpenBrowser makes its private
	// folder (mode 0700) for the page that takes the browser to the
	// console. Zero means $XDG_RUNTIME_DIR, else the user's cache folder,
	// else the temp folder.
	LaunchDir string
}

// Timeouts of the HTTP server. Streams (events, uploads, downloads) replace
// the whole-request deadlines by rolling ones (see streamDeadline).
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	// streamIdle is how long an upload or download may stall before the
	// connection is dropped.
	streamIdle = time.Minute
	// shutdownGrace bounds how long Serve waits for requests after ctx ends
	// before it closes their connections.
	shutdownGrace = 5 * time.Second
	// keepaliveEvery is how often /api/events sends a comment, so that
	// the page notices a dead console and proxies don't time the stream out.
	keepaliveEvery = 20 * time.Second
)

// Server is the console of one running peer. Create it with New, run it with
// Serve; URL is the only way in.
type Server struct {
	backend Backend
	log     *slog.Logger
	lang    string

	ln     net.Listener
	port   string
	token  string
	cookie string
	// hosts are the Host header values the console answers to: its own
	// IP literal and localhost, both with its port.
	hosts []string
	url   string

	srv     *http.Server
	handler http.Handler
	// keepalive is keepaliveEvery; tests shorten it.
	keepalive time.Duration

	// launchBase is Config.LaunchDir.
	launchBase string

	mu sync.Mutex
	// started is true once Serve or Close was called (mu).
	started bool
	// launchDir is the private folder of OpenBrowser's page, "" before
	// it is written (mu); launchGone is set once the console stopped and
	// the page was removed (mu).
	launchDir  string
	launchGone bool
	closing    chan struct{} // closed by Close
	done       chan struct{} // closed when Serve has returned, or by Close without Serve
	once       sync.Once
}

// New checks cfg, listens on its loopback address and generates the per-run
// token. The server answers nothing until Serve runs; call Serve or Close to
// release the listener.
func New(cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, fmt.Errorf("%w: no Backend", ErrConfig)
	}
	switch cfg.Lang {
	case "", "de", "en":
	default:
		return nil, fmt.Errorf("%w: language %q (want de or en)", ErrConfig, cfg.Lang)
	}
	ip, port, err := loopbackAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), port))
	if err != nil {
		return nil, fmt.Errorf("console: listen: %w", err)
	}
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("%w: listening on %v", ErrNotLoopback, ln.Addr())
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var raw [32]byte
	rand.Read(raw[:]) // never fails (crypto/rand, Go 1.24+)
	s := &Server{
		backend:    cfg.Backend,
		log:        log,
		lang:       cfg.Lang,
		ln:         ln,
		launchBase: cfg.LaunchDir,
		port:       strconv.Itoa(tcp.Port),
		token:      base64.RawURLEncoding.EncodeToString(raw[:]),
		keepalive:  keepaliveEvery,
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
	}
	hostport := net.JoinHostPort(tcp.IP.String(), s.port)
	s.hosts = []string{hostport, net.JoinHostPort("localhost", s.port)}
	// One cookie per port: cookies ignore ports, and a host and a join
	// console may run side by side on 127.0.0.1.
	s.cookie = "direkt_console_" + s.port
	s.url = "http://" + hostport + "/?t=" + s.token
	s.handler = s.routes()
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return s, nil
}

// loopbackAddr parses addr and refuses anything but a loopback host.
func loopbackAddr(addr string) (net.IP, string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, "", fmt.Errorf("%w: address %q: %v", ErrConfig, addr, err)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || strconv.FormatUint(n, 10) != port {
		return nil, "", fmt.Errorf("%w: address %q: bad port", ErrConfig, addr)
	}
	if host == "localhost" {
		host = "127.0.0.1" // no resolver: localhost may resolve to anything
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return nil, "", fmt.Errorf("%w: %q", ErrNotLoopback, addr)
	}
	if v4 := ip.To4(); v4 != nil {
		ip = v4
	}
	return ip, port, nil
}

// URL is the address the user opens: http://127.0.0.1:PORT/?t=TOKEN. It holds
// the token, so it is printed to the user, never logged and never passed to
// another program on its command line (OpenBrowser).
func (s *Server) URL() string { return s.url }

// Serve answers requests until ctx ends or Close is called, then shuts down:
// it ends the event streams, waits up to a few seconds for requests in flight,
// closes what is left, and returns nil once all handlers have returned. It
// returns ErrServed when called twice or after Close, and another error only
// if the listener fails.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return ErrServed
	}
	s.started = true
	s.mu.Unlock()
	defer close(s.done)
	defer s.removeLauncher()

	// Request contexts derive from reqCtx, so cancelling it ends the
	// long-lived event streams, which Shutdown alone would wait for.
	reqCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s.srv.BaseContext = func(net.Listener) context.Context { return reqCtx }

	s.log.Info("console: serving", "addr", s.ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()

	var serveErr error
	select {
	case <-ctx.Done():
	case <-s.closing:
	case serveErr = <-errc:
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer scancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.srv.Close()
	}
	if serveErr == nil {
		serveErr = <-errc
	}
	s.log.Info("console: stopped")
	if errors.Is(serveErr, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("console: serve: %w", serveErr)
}

// Close stops Serve and returns once it has returned; without Serve it
// releases the listener. It is safe to call more than once and concurrently
// with Serve's ctx ending.
func (s *Server) Close() error {
	s.once.Do(func() { close(s.closing) })
	s.mu.Lock()
	serving := s.started
	s.started = true
	s.mu.Unlock()
	if !serving {
		// Only the first caller gets here (started is set under mu).
		s.ln.Close()
		close(s.done)
	}
	<-s.done
	s.removeLauncher()
	return nil
}
