package relay

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // TURN REST passwords are HMAC-SHA1 by definition (draft-uberti-behave-turn-rest-00 section 2.2).
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/transport/v5"
	"github.com/pion/turn/v5"

	"github.com/direkt/direkt/internal/wire"
)

// Config configures a relay Server. At least one of UDPConn, TCPListener
// and TLSListener must be set. The Server takes ownership of them: Close
// closes them.
type Config struct {
	// UDPConn serves STUN and TURN over UDP. nil = no UDP listener. The
	// caller opens the socket, so tests can bind port 0 and a deployment can
	// bind UDP and TCP on one address.
	UDPConn net.PacketConn
	// TCPListener serves STUN and TURN over TCP (RFC 6062 framing of STUN
	// over a stream). nil = no TCP listener.
	TCPListener net.Listener
	// TLSListener serves TURN over TLS: it returns connections that are
	// already decrypted, such as Mux.TURN, and its Addr's port is the one
	// "turns:" URLs name. nil = no TURN over TLS.
	TLSListener net.Listener
	// PublicIP is the relay address advertised in allocations. nil = the IP
	// the UDP (else TCP) listener is bound to, if that is a specific address;
	// New fails with ErrNoPublicIP when it is unspecified.
	PublicIP net.IP
	// RelayBindAddr is the local address relay sockets bind to. "" = "0.0.0.0".
	RelayBindAddr string
	// Secret is the TURN REST shared secret. nil = 32 random bytes, so
	// credentials are valid only for this process.
	Secret []byte
	// Realm is the STUN long-term credential realm. "" = "direkt".
	Realm string
	// AllowPrivate admits loopback, private, link-local, ULA, unspecified and
	// cloud-metadata peer addresses (tests, LAN relays). false = only
	// addresses routable on the internet are relayed to. Multicast and
	// broadcast are refused either way.
	AllowPrivate bool
	// AllowPeers admits peer addresses in these prefixes that the range
	// policy would refuse: a test bed whose "public" addresses are
	// documentation ranges, a company network the relay should reach. The
	// relay's own addresses stay refused, and so do multicast and
	// broadcast. nil = none.
	AllowPeers []netip.Prefix
	// MaxAllocationsPerUser caps concurrent allocations per credential
	// (the random part of a TURN REST username); beyond it an Allocate is
	// refused with 486 (Allocation Quota Reached). 0 = 8.
	MaxAllocationsPerUser int
	// MaxAllocationsPerAddr caps concurrent allocations per client address
	// (an IPv4 address or an IPv6 /64), whatever credentials they use;
	// beyond it an Allocate is refused with 486. 0 =
	// DefaultMaxAllocationsPerAddr.
	MaxAllocationsPerAddr int
	// MaxAllocations caps concurrent allocations on the whole server;
	// beyond it an Allocate is refused with 508 (Insufficient Capacity).
	// Each allocation holds one UDP socket. 0 = DefaultMaxAllocations.
	MaxAllocations int
	// MaxConnsPerAddr caps concurrent TCP and TLS client connections per
	// client address (IPv4, or IPv6 /64); one more is closed on arrival.
	// 0 = DefaultMaxConnsPerAddr.
	MaxConnsPerAddr int
	// MaxConns caps concurrent TCP and TLS client connections on the whole
	// server; one more is closed on arrival. 0 = DefaultMaxConns.
	MaxConns int
	// CredentialTTL is how long issued credentials stay valid. 0 = 10 minutes.
	CredentialTTL time.Duration
	// NoTURN runs a STUN server only (--no-relay): binding requests are
	// answered, allocations refused and ICEServers offers no TURN URL.
	NoTURN bool
	// Net is the network relay sockets are opened on. nil = the real
	// network (pion/transport stdnet); tests pass a vnet.
	Net transport.Net
	// Logger receives the server's logs and pion's (see NewPionLogger).
	// nil = slog.Default().
	Logger *slog.Logger
}

// Defaults for zero Config fields.
const (
	DefaultRealm                 = "direkt"
	DefaultMaxAllocationsPerUser = 8
	DefaultCredentialTTL         = 10 * time.Minute
	// A peer makes up to one allocation per TURN URL (UDP, TCP, TLS), so
	// 64 per address leaves room for some twenty consultations behind one
	// office NAT.
	DefaultMaxAllocationsPerAddr = 64
	DefaultMaxConnsPerAddr       = 64
	// About 12 KB of heap and stacks per allocation (TestLoad), plus a socket: the
	// budgets fit a small VPS and its default 65536 descriptors.
	DefaultMaxAllocations = 10000
	DefaultMaxConns       = 10000
)

// Server is a running STUN/TURN server. Its methods are safe for concurrent use.
type Server struct {
	cfg     Config
	log     *slog.Logger
	secret  []byte
	udpPort int // 0 = no UDP listener
	tcpPort int // 0 = no TCP listener
	tlsPort int // 0 = no TURN over TLS
	turn    *turn.Server

	closeOnce sync.Once
	closeErr  error

	// mu guards the fields below; cond is signalled whenever busy or allocs
	// drop, so that Close can wait for teardown.
	mu      sync.Mutex
	cond    *sync.Cond
	closing bool
	// busy counts pion goroutines and sockets that must end before Close
	// returns: the UDP read loop, the TCP accept loop, each accepted TCP
	// connection and each relay socket.
	busy    int
	conns   map[*trackedConn]struct{}
	allocs  int
	perUser map[string]int
	// relays counts live relay sockets: the allocations MaxAllocations
	// caps. perAddr counts allocations and connsPerAddr connections by
	// client address (addrKey).
	relays       int
	perAddr      map[netip.Addr]int
	connsPerAddr map[netip.Addr]int

	self    *self
	refusal logLimiter
}

// Stats is a snapshot of what the server holds.
type Stats struct {
	Allocations int // live allocations (relay sockets)
	Conns       int // open TCP and TLS client connections
}

// Stats reports what the server holds now.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Allocations: s.relays, Conns: len(s.conns)}
}

// New starts a server on the listeners in cfg.
func New(cfg Config) (*Server, error) {
	if cfg.UDPConn == nil && cfg.TCPListener == nil && cfg.TLSListener == nil {
		return nil, ErrNoListener
	}
	if cfg.MaxAllocationsPerUser < 0 || cfg.CredentialTTL < 0 || cfg.MaxAllocationsPerAddr < 0 ||
		cfg.MaxAllocations < 0 || cfg.MaxConnsPerAddr < 0 || cfg.MaxConns < 0 {
		return nil, fmt.Errorf("%w: negative quota, budget or credential lifetime", ErrBadConfig)
	}
	if cfg.Realm == "" {
		cfg.Realm = DefaultRealm
	}
	if cfg.RelayBindAddr == "" {
		cfg.RelayBindAddr = "0.0.0.0"
	}
	if cfg.MaxAllocationsPerUser == 0 {
		cfg.MaxAllocationsPerUser = DefaultMaxAllocationsPerUser
	}
	if cfg.CredentialTTL == 0 {
		cfg.CredentialTTL = DefaultCredentialTTL
	}
	cfg.MaxAllocationsPerAddr = cmp.Or(cfg.MaxAllocationsPerAddr, DefaultMaxAllocationsPerAddr)
	cfg.MaxAllocations = cmp.Or(cfg.MaxAllocations, DefaultMaxAllocations)
	cfg.MaxConnsPerAddr = cmp.Or(cfg.MaxConnsPerAddr, DefaultMaxConnsPerAddr)
	cfg.MaxConns = cmp.Or(cfg.MaxConns, DefaultMaxConns)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "relay"),
		conns:   make(map[*trackedConn]struct{}),
		perUser: make(map[string]int),

		perAddr:      make(map[netip.Addr]int),
		connsPerAddr: make(map[netip.Addr]int),
	}
	s.cond = sync.NewCond(&s.mu)

	s.secret = cfg.Secret
	if s.secret == nil {
		s.secret = make([]byte, 32)
		_, _ = rand.Read(s.secret) // crypto/rand.Read never fails (Go 1.24+)
	}

	publicIP := cfg.PublicIP
	var fixed []netip.Addr // the listeners' own addresses
	listening := func(a net.Addr) int {
		ip, port := addrIPPort(a)
		if n, ok := netip.AddrFromSlice(ip); ok {
			fixed = append(fixed, n.Unmap())
		}
		if publicIP == nil && ip != nil && !ip.IsUnspecified() {
			publicIP = ip
		}
		return port
	}
	if cfg.UDPConn != nil {
		s.udpPort = listening(cfg.UDPConn.LocalAddr())
	}
	if cfg.TCPListener != nil {
		s.tcpPort = listening(cfg.TCPListener.Addr())
	}
	if cfg.TLSListener != nil {
		s.tlsPort = listening(cfg.TLSListener.Addr())
	}
	if publicIP == nil {
		return nil, ErrNoPublicIP
	}
	var hairpin []netip.Addr
	if a, ok := netip.AddrFromSlice(publicIP); ok {
		hairpin = append(hairpin, a.Unmap())
	}
	if a, err := netip.ParseAddr(cfg.RelayBindAddr); err == nil && !a.IsUnspecified() {
		hairpin = append(hairpin, a.Unmap())
	}
	s.self = newSelf(hairpin, fixed, interfaceAddrs(cfg.Net))

	pionLog := NewPionLogger(s.log)
	gen := &relayGen{s: s, static: &turn.RelayAddressGeneratorStatic{
		RelayAddress: publicIP,
		Address:      cfg.RelayBindAddr,
		Net:          cfg.Net,
	}}
	if err := gen.Validate(); err != nil {
		return nil, fmt.Errorf("relay: relay address generator: %w", err)
	}
	permit := func(client net.Addr, peer net.IP) bool {
		ok, decided := s.self.permit(peerAddr(peer))
		if !decided {
			ok = peerAllowed(peer, cfg.AllowPrivate) || peerListed(peer, cfg.AllowPeers)
		}
		if !ok {
			s.log.Debug("peer address refused", "peer", peer.String())
		}
		return ok
	}

	sc := turn.ServerConfig{
		LoggerFactory: pionLog,
		Realm:         cfg.Realm,
		QuotaHandler:  s.quota,
		EventHandler: turn.EventHandler{
			OnAllocationCreated: s.allocationCreated,
			OnAllocationDeleted: s.allocationDeleted,
		},
	}
	// Without an AuthHandler pion answers an authenticated Allocate with a
	// 400 that its own client drops (it retransmits for seconds), so a
	// STUN-only server refuses every credential instead: 401 at once.
	sc.AuthHandler = s.refuseAll
	if !cfg.NoTURN {
		sc.AuthHandler = s.authenticate
	}
	// busy is raised before pion starts its loops; each wrapper lowers it
	// once when pion's loop sees its terminal error.
	if cfg.UDPConn != nil {
		s.busy++
		sc.PacketConnConfigs = []turn.PacketConnConfig{{
			PacketConn:            &loopPacketConn{PacketConn: cfg.UDPConn, s: s},
			RelayAddressGenerator: gen,
			PermissionHandler:     permit,
		}}
	}
	if cfg.TCPListener != nil {
		s.busy++
		sc.ListenerConfigs = []turn.ListenerConfig{{
			Listener:              &trackedListener{Listener: cfg.TCPListener, s: s},
			RelayAddressGenerator: gen,
			PermissionHandler:     permit,
		}}
	}
	if cfg.TLSListener != nil {
		s.busy++
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{
			Listener:              &trackedListener{Listener: cfg.TLSListener, s: s},
			RelayAddressGenerator: gen,
			PermissionHandler:     permit,
		})
	}
	ts, err := turn.NewServer(sc)
	if err != nil {
		return nil, fmt.Errorf("relay: start TURN server: %w", err)
	}
	s.turn = ts
	s.log.Info("relay started", "udp_port", s.udpPort, "tcp_port", s.tcpPort, "tls_port", s.tlsPort,
		"public_ip", publicIP.String(), "turn", !cfg.NoTURN,
		"max_allocations", cfg.MaxAllocations, "max_allocations_per_addr", cfg.MaxAllocationsPerAddr,
		"max_conns", cfg.MaxConns, "max_conns_per_addr", cfg.MaxConnsPerAddr)
	return s, nil
}

// Close stops the server: it closes the listeners, every TCP connection and
// every allocation, and returns once pion's goroutines for them have ended.
// It runs once; later calls return the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closing = true
		conns := make([]*trackedConn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		s.mu.Unlock()

		// Closing the listeners ends pion's read and accept loops, which
		// then close their allocation managers and so every allocation.
		err := s.turn.Close()
		// pion does not close accepted TCP connections itself; closing the
		// underlying conn ends their read loops, which delete their
		// allocations and then call trackedConn.Close.
		for _, c := range conns {
			_ = c.Conn.Close()
		}

		s.mu.Lock()
		for s.busy > 0 || s.allocs > 0 {
			s.cond.Wait()
		}
		s.mu.Unlock()
		if err != nil {
			s.closeErr = fmt.Errorf("relay: close: %w", err)
		}
		s.log.Info("relay stopped")
	})
	return s.closeErr
}

// Credentials issues TURN REST credentials valid until now+CredentialTTL:
// username "<unix-expiry>:<random>", password base64(HMAC-SHA1(secret,
// username)) (draft-uberti-behave-turn-rest-00 section 2.2). The random part
// is the "user" the allocation quota counts.
func (s *Server) Credentials(now time.Time) (username, password string, expires time.Time) {
	expires = now.Add(s.cfg.CredentialTTL).Truncate(time.Second)
	var r [12]byte
	_, _ = rand.Read(r[:])
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + base64.RawURLEncoding.EncodeToString(r[:])
	return username, s.password(username), expires
}

func (s *Server) password(username string) string {
	mac := hmac.New(sha1.New, s.secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// ICEServers describes this server for a peer that reached the rendezvous at
// host (a host name or IP, with or without ":port"; the port is replaced by
// the relay's): "stun:host:port" when UDP is served, and unless NoTURN one
// TURN entry with "turn:host:port?transport=udp", "?transport=tcp" and
// "turns:host:port?transport=tcp" for the listeners that exist, carrying
// fresh credentials from Credentials(now). A "turns:" URL names host as the
// client reached it, so a certificate for that name must be served there.
func (s *Server) ICEServers(host string, now time.Time) []wire.ICEServer {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	var out []wire.ICEServer
	if s.udpPort != 0 {
		out = append(out, wire.ICEServer{URLs: []string{"stun:" + net.JoinHostPort(host, strconv.Itoa(s.udpPort))}})
	}
	if s.cfg.NoTURN {
		return out
	}
	var urls []string
	if s.udpPort != 0 {
		urls = append(urls, "turn:"+net.JoinHostPort(host, strconv.Itoa(s.udpPort))+"?transport=udp")
	}
	if s.tcpPort != 0 {
		urls = append(urls, "turn:"+net.JoinHostPort(host, strconv.Itoa(s.tcpPort))+"?transport=tcp")
	}
	if s.tlsPort != 0 {
		urls = append(urls, "turns:"+net.JoinHostPort(host, strconv.Itoa(s.tlsPort))+"?transport=tcp")
	}
	user, pass, _ := s.Credentials(now)
	return append(out, wire.ICEServer{URLs: urls, Username: user, Credential: pass})
}

// RefreshGrace is how long past its credentials' expiry an allocation made
// with them may still be refreshed and given permissions and channels. A
// browser cannot swap credentials in the middle of a session, so strict
// expiry on Refresh would cut every relayed session at CredentialTTL; only
// new allocations need fresh credentials.
const RefreshGrace = 12 * time.Hour

// authenticate implements TURN REST (draft-uberti-behave-turn-rest-00
// section 2.2): the username is "<unix-expiry>:<user>", the password
// base64(HMAC-SHA1(secret, username)), and the long-term key
// MD5(username:realm:password) (RFC 8489 section 9.2.2). The quota counts
// <user>. Refusals are logged at debug level: anyone can trigger them.
func (s *Server) authenticate(ra *turn.RequestAttributes) (string, []byte, bool) {
	if ra.Realm != s.cfg.Realm {
		s.log.Debug("turn auth refused: wrong realm")
		return "", nil, false
	}
	exp, user, ok := strings.Cut(ra.Username, ":")
	t, err := strconv.ParseInt(exp, 10, 64)
	if !ok || user == "" || err != nil {
		s.log.Debug("turn auth refused: username not in TURN REST form")
		return "", nil, false
	}
	deadline := time.Unix(t, 0)
	if ra.Method != stun.MethodAllocate {
		deadline = deadline.Add(RefreshGrace)
	}
	if time.Now().After(deadline) {
		s.log.Debug("turn auth refused: credentials expired", "method", ra.Method.String())
		return "", nil, false
	}
	return user, turn.GenerateAuthKey(ra.Username, ra.Realm, s.password(ra.Username)), true
}

func (s *Server) refuseAll(*turn.RequestAttributes) (string, []byte, bool) {
	s.log.Debug("turn auth refused: STUN only")
	return "", nil, false
}

// quota admits an allocation while the credential holds fewer than
// MaxAllocationsPerUser and the client's address fewer than
// MaxAllocationsPerAddr; pion answers a refusal with 486. Allocations are
// counted by the created/deleted events, so allocate requests racing on
// separate TCP connections of one address can overshoot by as many as race
// (at most MaxConnsPerAddr); MaxAllocations, counted where the relay
// socket is made, is exact.
func (s *Server) quota(userID, _ string, src net.Addr) bool {
	key := addrKey(src)
	s.mu.Lock()
	perUser, perAddr := s.perUser[userID], s.perAddr[key]
	s.mu.Unlock()
	switch {
	case perUser >= s.cfg.MaxAllocationsPerUser:
		s.log.Debug("allocation refused: credential quota reached")
		return false
	case perAddr >= s.cfg.MaxAllocationsPerAddr:
		s.refusal.log(s.log, "addr-allocations", "allocation refused: too many allocations from one address",
			"client", key.String(), "limit", s.cfg.MaxAllocationsPerAddr)
		return false
	}
	return true
}

func (s *Server) allocationCreated(src, _ net.Addr, protocol, userID, _ string, relayAddr net.Addr, _ int) {
	s.mu.Lock()
	s.allocs++
	s.perUser[userID]++
	s.perAddr[addrKey(src)]++
	s.mu.Unlock()
	s.log.Debug("allocation created", "protocol", protocol, "relay", relayAddr.String())
}

func (s *Server) allocationDeleted(src, _ net.Addr, protocol, userID, _ string) {
	key := addrKey(src)
	s.mu.Lock()
	s.allocs--
	if s.perUser[userID]--; s.perUser[userID] <= 0 {
		delete(s.perUser, userID)
	}
	if s.perAddr[key]--; s.perAddr[key] <= 0 {
		delete(s.perAddr, key)
	}
	s.cond.Broadcast()
	s.mu.Unlock()
	s.log.Debug("allocation deleted", "protocol", protocol)
}

// acquireRelay reserves a relay socket within MaxAllocations; it fails once
// the server is closing (ErrClosed) or the budget is spent (errCapacity).
func (s *Server) acquireRelay() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrClosed
	}
	if s.relays >= s.cfg.MaxAllocations {
		s.refusal.log(s.log, "allocations", "allocation refused: the server's allocation budget is spent",
			"limit", s.cfg.MaxAllocations)
		return errCapacity
	}
	s.busy++
	s.relays++
	return nil
}

func (s *Server) releaseRelay() {
	s.mu.Lock()
	s.busy--
	s.relays--
	s.cond.Broadcast()
	s.mu.Unlock()
}

// release lowers busy for a loop or connection that has ended.
func (s *Server) release() {
	s.mu.Lock()
	s.busy--
	s.cond.Broadcast()
	s.mu.Unlock()
}

// addrKey is what the per-address limits count a client by: its IPv4
// address, or the /64 of its IPv6 address (one subscriber's usual share).
func addrKey(a net.Addr) netip.Addr {
	ip, _ := addrIPPort(a)
	n, ok := netip.AddrFromSlice(ip)
	if !ok {
		return netip.Addr{}
	}
	n = n.Unmap()
	if n.Is6() {
		p, _ := n.Prefix(64)
		return p.Addr()
	}
	return n
}

// interfaceAddrs reads the host's interface addresses from n, or from the
// real network when n is nil.
func interfaceAddrs(n transport.Net) func() ([]netip.Addr, error) {
	if n == nil {
		return func() ([]netip.Addr, error) {
			addrs, err := net.InterfaceAddrs()
			return ipAddrs(addrs), err
		}
	}
	return func() ([]netip.Addr, error) {
		ifs, err := n.Interfaces()
		var out []netip.Addr
		for _, ifc := range ifs {
			addrs, _ := ifc.Addrs()
			out = append(out, ipAddrs(addrs)...)
		}
		return out, err
	}
}

// logLimiter logs a kind of refusal at most once per logEvery, with the
// number refused since: a flood of refusals must not become a flood of logs.
type logLimiter struct {
	mu   sync.Mutex
	last map[string]time.Time
	n    map[string]int
}

const logEvery = 10 * time.Second

func (l *logLimiter) log(log *slog.Logger, kind, msg string, args ...any) {
	l.mu.Lock()
	if l.last == nil {
		l.last, l.n = make(map[string]time.Time), make(map[string]int)
	}
	now := time.Now()
	if now.Sub(l.last[kind]) < logEvery {
		l.n[kind]++
		l.mu.Unlock()
		return
	}
	n := l.n[kind]
	l.last[kind], l.n[kind] = now, 0
	l.mu.Unlock()
	log.Warn(msg, append(args, "refused_since_last_line", n)...)
}

func addrIPPort(a net.Addr) (net.IP, int) {
	switch a := a.(type) {
	case *net.UDPAddr:
		return a.IP, a.Port
	case *net.TCPAddr:
		return a.IP, a.Port
	}
	h, p, err := net.SplitHostPort(a.String())
	if err != nil {
		return nil, 0
	}
	port, _ := strconv.Atoi(p)
	return net.ParseIP(h), port
}
