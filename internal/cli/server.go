package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/direkt/direkt/internal/discovery"
	"github.com/direkt/direkt/internal/relay"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/wire"
	"github.com/direkt/direkt/web"
)

func runServer(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("server", env)
	var cfg stackConfig
	fs.StringVar(&cfg.Listen, "listen", ":8080", "HTTP address: mailboxes, /healthz, ICE-server issue")
	fs.StringVar(&cfg.TURNListen, "turn-listen", ":3478", "STUN/TURN address, UDP and TCP")
	publicIP := fs.String("public-ip", "", "relay address to advertise (default: the TURN listen address, or this host's first non-loopback address)")
	fs.BoolVar(&cfg.NoRelay, "no-relay", false, "STUN only: no TURN relay")
	fs.BoolVar(&cfg.RelayPrivate, "relay-private", false, "let the relay reach private, loopback and link-local peer addresses (LAN and tests)")
	fs.Func("relay-allow", "let the relay reach peers in this `CIDR` although its policy refuses the range, e.g. a lab's documentation-range \"public\" addresses; never the relay's own addresses (repeatable)", func(v string) error {
		p, err := netip.ParsePrefix(v)
		if err != nil {
			return errors.New("want a CIDR prefix such as 192.0.2.0/24")
		}
		cfg.RelayAllow = append(cfg.RelayAllow, p.Masked())
		return nil
	})
	// Relay budgets (issue 7, item 6); 0 means the relay's default.
	fs.IntVar(&cfg.RelayLimits.MaxAllocations, "relay-max-allocations", relay.DefaultMaxAllocations, "TURN allocations the relay holds at once; more are refused (508)")
	fs.IntVar(&cfg.RelayLimits.MaxAllocationsPerAddr, "relay-max-allocations-per-addr", relay.DefaultMaxAllocationsPerAddr, "TURN allocations per client IPv4 address or IPv6 /64; more are refused (486)")
	fs.IntVar(&cfg.RelayLimits.MaxConns, "relay-max-conns", relay.DefaultMaxConns, "TURN TCP and TLS connections the relay holds at once; more are closed")
	fs.IntVar(&cfg.RelayLimits.MaxConnsPerAddr, "relay-max-conns-per-addr", relay.DefaultMaxConnsPerAddr, "TURN TCP and TLS connections per client IPv4 address or IPv6 /64; more are closed")
	var tf tlsFlags
	tf.register(fs)
	verbose := fs.Bool("v", false, "log debug details")
	cfg.Limits.register(fs)
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: direkt server [flags]\n\nRuns a rendezvous server with a STUN/TURN relay.\n\n")
		fs.PrintDefaults()
	}
	ev := &events{out: env.Stdout, start: env.Start}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return exitUsage
	}
	if len(pos) > 0 {
		return fail(ev, env, usagef(fmt.Sprintf("server takes no arguments, got %q", pos[0])))
	}
	if l := cfg.RelayLimits; l.MaxAllocations < 0 || l.MaxAllocationsPerAddr < 0 || l.MaxConns < 0 || l.MaxConnsPerAddr < 0 {
		return fail(ev, env, usagef("--relay-max-* limits cannot be negative"))
	}
	if *publicIP != "" {
		if cfg.PublicIP = net.ParseIP(*publicIP); cfg.PublicIP == nil {
			return fail(ev, env, usagef(fmt.Sprintf("--public-ip %q is not an IP address", *publicIP)))
		}
	}
	cfg.Logger = env.Logger
	if cfg.Logger == nil {
		level := slog.LevelInfo
		if *verbose {
			level = slog.LevelDebug
		}
		cfg.Logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	}
	if cfg.TLSListen, cfg.TLS, err = tf.load(cfg.Logger); err != nil {
		return fail(ev, env, err)
	}
	st, err := startStack(cfg)
	if err != nil {
		return fail(ev, env, err)
	}
	attrs := []any{"http", st.HTTPAddr.String(), "turn", cfg.TURNListen, "relay", !cfg.NoRelay, "public_ip", st.PublicIP.String()}
	if st.TLSAddr != nil {
		attrs = append(attrs, "tls", st.TLSAddr.String())
	}
	cfg.Logger.Info("direkt server running", attrs...)
	select {
	case <-ctx.Done():
	case err = <-st.errc:
	}
	cerr := st.Close()
	if err == nil {
		err = cerr
	}
	if err != nil {
		return fail(ev, env, err)
	}
	return exitOK
}

// stackConfig configures a rendezvous server with its relay.
type stackConfig struct {
	// Listen is the HTTP address; ":0" picks a port.
	Listen string
	// TURNListen is the STUN/TURN address (UDP and TCP); ":0" picks ports.
	TURNListen string
	// TLSListen is the address of HTTPS and TURN over TLS on one port
	// (relay.Mux); "" means none. TLS holds its certificate and is required
	// with it.
	TLSListen string
	TLS       *tls.Config
	// PublicIP is advertised in relay allocations; nil means derive it.
	PublicIP     net.IP
	NoRelay      bool
	RelayPrivate bool
	// RelayAllow: see relay.Config.AllowPeers.
	RelayAllow []netip.Prefix
	// MinNameplateDigits: see rendezvous.Config.
	MinNameplateDigits int
	// Limits are the rendezvous budgets; zero fields take the defaults.
	Limits rendezvousLimits
	Logger *slog.Logger

	// RelayLimits are the relay's budgets; zero fields mean its defaults.
	RelayLimits relayLimits
}

// relayLimits are the relay.Config budgets the server's flags set.
type relayLimits struct {
	MaxAllocations, MaxAllocationsPerAddr, MaxConns, MaxConnsPerAddr int
}

// stack is a running rendezvous server and relay.
type stack struct {
	HTTPAddr net.Addr
	TLSAddr  net.Addr // nil without TLSListen
	PublicIP net.IP
	mux      *relay.Mux // nil without TLSListen
	rv       *rendezvous.Server
	relay    *relay.Server
	http     *http.Server
	errc     chan error
	wg       sync.WaitGroup
	once     sync.Once
}

func startStack(cfg stackConfig) (_ *stack, err error) {
	var cleanup []func()
	defer func() {
		if err != nil {
			for i := len(cleanup) - 1; i >= 0; i-- {
				cleanup[i]()
			}
		}
	}()
	pc, err := net.ListenPacket("udp", cfg.TURNListen)
	if err != nil {
		return nil, fmt.Errorf("STUN/TURN on UDP %s: %w", cfg.TURNListen, err)
	}
	cleanup = append(cleanup, func() { pc.Close() })
	// TCP TURN on the same port number when it is free, else any port.
	tcpAddr := cfg.TURNListen
	if host, port, err := net.SplitHostPort(cfg.TURNListen); err == nil && port == "0" {
		tcpAddr = net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
	}
	tl, err := net.Listen("tcp", tcpAddr)
	if err != nil && tcpAddr != cfg.TURNListen {
		tl, err = net.Listen("tcp", cfg.TURNListen)
	}
	if err != nil {
		return nil, fmt.Errorf("TURN on TCP %s: %w", cfg.TURNListen, err)
	}
	cleanup = append(cleanup, func() { tl.Close() })
	publicIP := cfg.PublicIP
	if publicIP == nil {
		publicIP = advertisedIP(pc.LocalAddr())
	}
	var mux *relay.Mux
	var turnTLS net.Listener
	if cfg.TLSListen != "" {
		ln, err := net.Listen("tcp", cfg.TLSListen)
		if err != nil {
			return nil, fmt.Errorf("HTTPS and TURN over TLS on %s: %w", cfg.TLSListen, err)
		}
		mux, err = relay.NewMux(relay.MuxConfig{Listener: ln, TLS: cfg.TLS, Logger: cfg.Logger})
		if err != nil {
			ln.Close()
			return nil, err
		}
		cleanup = append(cleanup, func() { mux.Close() })
		turnTLS = mux.TURN()
	}
	rl, err := relay.New(relay.Config{
		UDPConn:      pc,
		TCPListener:  tl,
		TLSListener:  turnTLS,
		PublicIP:     publicIP,
		AllowPrivate: cfg.RelayPrivate,
		AllowPeers:   cfg.RelayAllow,
		NoTURN:       cfg.NoRelay,
		Logger:       cfg.Logger,

		MaxAllocations:        cfg.RelayLimits.MaxAllocations,
		MaxAllocationsPerAddr: cfg.RelayLimits.MaxAllocationsPerAddr,
		MaxConns:              cfg.RelayLimits.MaxConns,
		MaxConnsPerAddr:       cfg.RelayLimits.MaxConnsPerAddr,
	})
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	cleanup = append(cleanup, func() { rl.Close() })
	rv := rendezvous.New(rendezvous.Config{
		Pages: web.Handler(),
		ICEServers: func(r *http.Request, now time.Time) []wire.ICEServer {
			return rl.ICEServers(requestHost(r), now)
		},
		MinNameplateDigits:  cfg.MinNameplateDigits,
		MaxConns:            cfg.Limits.Conns,
		MaxMailboxes:        cfg.Limits.Mailboxes,
		MaxQueuedBytes:      int64(cfg.Limits.QueuedMiB) << 20,
		MaxQueuedBytesPerIP: int64(cfg.Limits.QueuedMiBPerIP) << 20,
		MaxChannels:         cfg.Limits.Channels,
		Logger:              cfg.Logger,
	})
	cleanup = append(cleanup, func() { rv.Close() })
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("HTTP on %s: %w", cfg.Listen, err)
	}
	hs := rendezvous.NewHTTPServer(cfg.Listen, rv.Handler())
	s := &stack{HTTPAddr: ln.Addr(), PublicIP: publicIP, mux: mux, rv: rv, relay: rl, http: hs, errc: make(chan error, 1)}
	serve := func(l net.Listener, what string) {
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			select {
			case s.errc <- fmt.Errorf("%s server: %w", what, err):
			default: // the first error is the one reported
			}
		}
	}
	s.wg.Go(func() { serve(ln, "HTTP") })
	if mux != nil {
		s.TLSAddr = mux.Addr()
		s.wg.Go(func() { serve(mux.HTTP(), "HTTPS") })
	}
	return s, nil
}

// Close stops HTTP, the mailboxes and the relay, and waits for them.
func (s *stack) Close() error {
	var err error
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		// Hijacked WebSockets are not covered by Shutdown: rv.Close ends them.
		s.rv.Close()
		if e := s.http.Shutdown(ctx); e != nil {
			s.http.Close()
		}
		s.wg.Wait()
		err = s.relay.Close()
		if s.mux != nil {
			// After the HTTP server and the relay: their listeners are
			// closed, so nothing the Mux still sorts is taken.
			if e := s.mux.Close(); err == nil {
				err = e
			}
		}
	})
	return err
}

// requestHost is the host the client used to reach us, for STUN/TURN URLs.
func requestHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.Host)
	if err != nil {
		host = r.Host
	}
	if host == "" {
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			host, _, _ = net.SplitHostPort(a.String())
		}
	}
	return host
}

// advertisedIP is the relay address for a listener: its own address when it
// is specific, else the first non-loopback address of this host.
func advertisedIP(a net.Addr) net.IP {
	if ua, ok := a.(*net.UDPAddr); ok && !ua.IP.IsUnspecified() {
		return ua.IP
	}
	if ip := primaryIP(); ip != nil {
		return ip
	}
	return net.IPv4(127, 0, 0, 1)
}

// primaryIP is this host's first up, non-loopback IPv4 address (else IPv6).
func primaryIP() net.IP {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil
	}
	var v6 net.IP
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			if ip4 := ipn.IP.To4(); ip4 != nil {
				return ip4
			}
			if v6 == nil {
				v6 = ipn.IP
			}
		}
	}
	return v6
}

// errNoLocalServer: no server given and none found on the local network.
var errNoLocalServer = errors.New("no --server given and no sender found on the local network for this code (set --server or $DIREKT_SERVER if the sender uses one)")

// localServer is the rendezvous a peer runs in-process when no server is
// configured, announced on the local network by mDNS. It answers STUN but
// relays nothing (issue 7, item 1): on one LAN the peers reach each other by
// their host candidates, and a relay on the adviser's computer, handing
// credentials to whoever pairs with himself, would let anyone on the network
// reach that computer's loopback and LAN services through it. A network
// where two hosts cannot reach each other directly (a guest network that
// isolates clients) blocks the embedded server just as well.
type localServer struct {
	// URL is how this process reaches it; JoinBase is how others on the
	// LAN reach its join page.
	URL      string
	JoinBase string
	st       *stack
	log      *slog.Logger
}

func startLocalServer(ctx context.Context, log *slog.Logger) (*localServer, error) {
	st, err := startStack(stackConfig{
		Listen:     ":0",
		TURNListen: ":0",
		NoRelay:    true, // STUN only: see localServer
		// Receivers find senders by nameplate: make two senders on one
		// network unlikely to draw the same one.
		MinNameplateDigits: 3,
		Logger:             log,
	})
	if err != nil {
		return nil, fmt.Errorf("local server: %w", err)
	}
	port := strconv.Itoa(st.HTTPAddr.(*net.TCPAddr).Port)
	lan := "127.0.0.1"
	if ip := primaryIP(); ip != nil {
		lan = ip.String()
	}
	return &localServer{
		URL:      "http://127.0.0.1:" + port,
		JoinBase: "http://" + net.JoinHostPort(lan, port) + web.PagePath,
		st:       st,
		log:      log,
	}, nil
}

// Announce makes the nameplate findable on the local network until stop.
func (l *localServer) Announce(ctx context.Context, nameplate string) (stop func(), err error) {
	a, err := discovery.Announce(ctx, discovery.Announcement{
		Port:      l.st.HTTPAddr.(*net.TCPAddr).Port,
		Nameplate: nameplate,
	}, &discovery.Options{Logger: l.log})
	if err != nil {
		return nil, fmt.Errorf("announce on the local network: %w", err)
	}
	return func() { a.Close() }, nil
}

func (l *localServer) Close() error { return l.st.Close() }

// findLocalServer looks the nameplate up by mDNS and returns the URL of the
// sender's embedded server.
func findLocalServer(ctx context.Context, nameplate string, log *slog.Logger) (string, error) {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := discovery.Lookup(lctx, nameplate, &discovery.Options{Logger: log})
	if err != nil || len(addrs) == 0 {
		if errors.Is(err, discovery.ErrNotFound) || err == nil || errors.Is(err, context.DeadlineExceeded) {
			return "", errNoLocalServer
		}
		return "", fmt.Errorf("%w: %w", errNoLocalServer, err)
	}
	// The first address that answers /healthz wins.
	client := &http.Client{Timeout: 2 * time.Second}
	for _, ap := range addrs {
		u := "http://" + ap.String()
		req, _ := http.NewRequestWithContext(lctx, http.MethodGet, u+"/healthz", nil)
		resp, err := client.Do(req)
		if err != nil {
			log.Debug("local server candidate unreachable", "addr", ap.String(), "err", err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return u, nil
		}
	}
	return "", errNoLocalServer
}

// rendezvousLimits are the server-wide budgets of the rendezvous (and one
// per-address limit) as `direkt server` flags; see rendezvous.Config.
type rendezvousLimits struct {
	Conns, Mailboxes, Channels int
	QueuedMiB, QueuedMiBPerIP  int
}

func (l *rendezvousLimits) register(fs *flag.FlagSet) {
	fs.IntVar(&l.Conns, "max-conns", rendezvous.DefaultMaxConns, "most mailbox WebSocket connections at once; more are told the server is busy")
	fs.IntVar(&l.Mailboxes, "max-mailboxes", rendezvous.DefaultMaxMailboxes, "most open mailboxes (codes waiting or in use); new codes beyond it are refused as busy")
	fs.IntVar(&l.QueuedMiB, "max-queued-mib", rendezvous.DefaultMaxQueuedBytes>>20, "MiB of messages all mailboxes may hold together (each mailbox reserves 32 KiB)")
	fs.IntVar(&l.QueuedMiBPerIP, "max-queued-mib-per-ip", rendezvous.DefaultMaxQueuedBytesPerIP>>20, "MiB of messages one client address (IPv6: /64) may have queued")
	fs.IntVar(&l.Channels, "max-channels", rendezvous.DefaultMaxChannels, "most rejoin channels all listening hosts together may hold")
}
