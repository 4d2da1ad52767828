package rendezvous

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/direkt/direkt/internal/wire"
)

// Config configures a Server. The zero Config is a working server with the
// defaults below and no ICE servers.
type Config struct {
	// ICEServers returns the STUN/TURN servers for one side of a mailbox
	// that has just been paired; it is called once per side, with that
	// side's upgrade request, so credentials can name the Host the peer
	// reached. It is called without the server's lock held and may be
	// called concurrently. r's connection has been taken over by the
	// WebSocket: read its Host, headers and TLS state, not its Context.
	// nil = no ICE servers.
	ICEServers func(r *http.Request, now time.Time) []wire.ICEServer
	// NameplateTTL is how long an allocated nameplate waits to be claimed,
	// and how long a connection may stay without allocating or claiming.
	// 0 = 10 minutes.
	NameplateTTL time.Duration
	// Pages serves every path but the mailbox and /healthz: the browser
	// join page (web.Handler). nil = 404 for those paths.
	Pages http.Handler
	// MinNameplateDigits is the shortest nameplate allocated. An embedded
	// server on a LAN uses 3 so that two senders on one network seldom draw
	// the same number (receivers find them by nameplate). 0 = 1.
	MinNameplateDigits int
	// MailboxTTL is how long a paired mailbox lives. 0 = 1 hour.
	MailboxTTL time.Duration
	// ReopenGrace is how long a paired mailbox waits for a side that holds
	// a reopen token and whose connection dropped to reopen it
	// (docs/protocol.md, section 3). 0 = wire.ReopenGrace (60 s).
	ReopenGrace time.Duration
	// RingTTL is how long a dial rings before the dialer is told
	// "unavailable" (docs/protocol.md, section 8). 0 = 30 seconds.
	RingTTL time.Duration
	// MaxConnsPerIP caps concurrent WebSocket connections per client
	// address (an IPv6 client counts per /64). 0 = 32.
	MaxConnsPerIP int
	// AllocsPerMinute and ClaimsPerMinute are the per-address token bucket
	// rates (and bursts) for allocate and claim. 0 = 20 each. listen and
	// answer take their tokens from the allocate bucket (they reserve
	// server state), dial from the claim bucket (it tries a secret).
	AllocsPerMinute, ClaimsPerMinute int
	// MaxConns caps the WebSocket connections open at once, from all
	// addresses together. Beyond it a connection is told the server is
	// busy and closed. 0 = DefaultMaxConns (8192).
	MaxConns int
	// MaxMailboxes caps the open mailboxes (unclaimed nameplates, paired
	// mailboxes, answered rings) from all addresses together; allocate and
	// answer beyond it are refused as busy, while claims of nameplates
	// already allocated go on. 0 = DefaultMaxMailboxes (2048).
	MaxMailboxes int
	// MaxQueuedBytes caps the message bytes all mailboxes together hold:
	// every open mailbox counts MailboxReserve (32 KiB), or what it has
	// queued when that is more. A new mailbox that does not fit, and a
	// body a paired mailbox adds beyond its reserve that does not fit,
	// are refused as busy. 0 = DefaultMaxQueuedBytes (128 MiB); it is
	// raised to at least one reserve.
	MaxQueuedBytes int64
	// MaxQueuedBytesPerIP caps the message bytes one client address has
	// queued in mailboxes that are still open. 0 =
	// DefaultMaxQueuedBytesPerIP (4 MiB).
	MaxQueuedBytesPerIP int64
	// MaxChannels and MaxChannelsPerIP cap the rejoin channels listeners
	// hold, in all and per client address; a listen beyond them is
	// refused. 0 = DefaultMaxChannels (100,000) and
	// DefaultMaxChannelsPerIP (4096).
	MaxChannels, MaxChannelsPerIP int
	// TrustProxyHeaders takes the client address from the last
	// X-Forwarded-For entry, for a server behind a reverse proxy that
	// appends it. false = the client address is RemoteAddr only.
	TrustProxyHeaders bool
	// MOTD is sent in the welcome frame. "" = none.
	MOTD string
	// PingInterval is how often each connection is pinged; a client that
	// has not answered within the next interval is dropped. 0 = 20 s.
	PingInterval time.Duration
	// WriteTimeout bounds writing one frame to a client; a client that
	// reads slower than that is dropped. 0 = 10 s.
	WriteTimeout time.Duration
	// Logger receives the server's logs. nil = slog.Default().
	Logger *slog.Logger
	// Now is the clock for rate limiting and credential issue. nil =
	// time.Now. Expiry uses real timers of NameplateTTL and MailboxTTL.
	Now func() time.Time
}

// Defaults for zero Config fields.
const (
	DefaultNameplateTTL    = 10 * time.Minute
	DefaultMailboxTTL      = time.Hour
	DefaultRingTTL         = 30 * time.Second
	DefaultMaxConnsPerIP   = 32
	DefaultAllocsPerMinute = 20
	DefaultClaimsPerMinute = 20
	DefaultPingInterval    = 20 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
)

// maxDigits bounds nameplates to 1..999999999; a server would need half a
// billion open mailboxes to run out.
const maxDigits = 9

// Server is the rendezvous server. Its methods are safe for concurrent use.
type Server struct {
	cfg    Config
	log    *slog.Logger
	logKey [32]byte // keys the nameplate hash in logs; never leaves the process

	welcome []byte // the marshaled welcome frame

	ctx    context.Context // parent of every connection's context
	cancel context.CancelFunc
	wg     sync.WaitGroup // one per admitted connection, Done when its handler returns

	closeOnce sync.Once

	// mu guards everything below, and the mailbox and conn fields marked
	// "guarded by Server.mu".
	mu         sync.Mutex
	closed     bool
	nameplates map[int]*mailbox   // numbers in use, unclaimed or paired
	rangeUsed  [maxDigits + 1]int // numbers in use per digit count
	ips        map[string]*ipState
	lastSweep  time.Time
	// Known peers (section 8): who listens on each channel, the ring a
	// channel has that is not answered yet, and every ring by id until its
	// mailbox ends.
	channels map[string]*conn
	ringing  map[string]*ring
	rings    map[string]*ring
	// mailboxes are the paired mailboxes with a reopen token, by id.
	mailboxes map[string]*mailbox
	// Counts against the server-wide budgets (budget.go).
	conns        int   // admitted connections, not counting refusing
	refusing     int   // connections let in only to be told the server is busy
	mailboxCount int   // open mailboxes
	queued       int64 // reserves and queued bytes beyond them
	channelsHeld int   // sum of the listeners' channel sets
	refused      int64
	busyCount    [numBudgets]int
	busyLogged   [numBudgets]time.Time
}

// New returns a Server for cfg. It starts no goroutines until connections
// arrive.
func New(cfg Config) *Server {
	if cfg.NameplateTTL <= 0 {
		cfg.NameplateTTL = DefaultNameplateTTL
	}
	if cfg.MailboxTTL <= 0 {
		cfg.MailboxTTL = DefaultMailboxTTL
	}
	if cfg.ReopenGrace <= 0 {
		cfg.ReopenGrace = wire.ReopenGrace
	}
	if cfg.RingTTL <= 0 {
		cfg.RingTTL = DefaultRingTTL
	}
	if cfg.MaxConnsPerIP <= 0 {
		cfg.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if cfg.AllocsPerMinute <= 0 {
		cfg.AllocsPerMinute = DefaultAllocsPerMinute
	}
	if cfg.ClaimsPerMinute <= 0 {
		cfg.ClaimsPerMinute = DefaultClaimsPerMinute
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.MaxMailboxes <= 0 {
		cfg.MaxMailboxes = DefaultMaxMailboxes
	}
	if cfg.MaxQueuedBytes <= 0 {
		cfg.MaxQueuedBytes = DefaultMaxQueuedBytes
	}
	cfg.MaxQueuedBytes = max(cfg.MaxQueuedBytes, MailboxReserve)
	if cfg.MaxQueuedBytesPerIP <= 0 {
		cfg.MaxQueuedBytesPerIP = DefaultMaxQueuedBytesPerIP
	}
	if cfg.MaxChannels <= 0 {
		cfg.MaxChannels = DefaultMaxChannels
	}
	if cfg.MaxChannelsPerIP <= 0 {
		cfg.MaxChannelsPerIP = DefaultMaxChannelsPerIP
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	cfg.MinNameplateDigits = min(max(cfg.MinNameplateDigits, 1), maxDigits)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "rendezvous"),
		nameplates: make(map[int]*mailbox),
		ips:        make(map[string]*ipState),
		channels:   make(map[string]*conn),
		ringing:    make(map[string]*ring),
		rings:      make(map[string]*ring),
		mailboxes:  make(map[string]*mailbox),
	}
	_, _ = rand.Read(s.logKey[:])
	welcome := wire.Frame{Type: wire.TypeWelcome, Version: 1, MOTD: cfg.MOTD}
	b, err := welcome.Marshal()
	if err != nil {
		s.log.Warn("MOTD not sendable, left out", "err", err)
		welcome.MOTD = ""
		b, _ = welcome.Marshal()
	}
	s.welcome = b
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Handler returns the server's HTTP routes: the mailbox WebSocket at
// wire.MailboxPath, "/healthz", and 404 for everything else.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+wire.MailboxPath, s.serveMailbox)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok"))
	})
	// Everything else (the browser join page at /j/) is Pages'.
	if s.cfg.Pages != nil {
		mux.Handle("/", s.cfg.Pages)
	} else {
		mux.Handle("/", http.NotFoundHandler())
	}
	return mux
}

// Close closes every mailbox and WebSocket and returns when all connection
// goroutines have ended. New connections are refused with 503 afterwards.
// It runs once; later calls return at once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		for _, mb := range s.nameplates {
			mb.timer.Stop()
		}
		for _, mb := range s.mailboxes {
			mb.timer.Stop()
			s.stopGraceLocked(mb)
		}
		for _, r := range s.rings {
			r.timer.Stop()
			if r.mb != nil {
				r.mb.timer.Stop()
			}
		}
		s.mu.Unlock()
		// Cancelling the parent context closes every WebSocket: each
		// handler's read fails, and it tears its connection down.
		s.cancel()
		s.wg.Wait()
		s.log.Info("rendezvous stopped")
	})
	return nil
}

// NewHTTPServer returns an http.Server for h on addr with every timeout
// and the header size set. The read and write timeouts do not apply to
// mailbox WebSockets: the handler clears the deadlines of a connection it
// takes over, and bounds it with its own pings and write timeout instead.
func NewHTTPServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
}

// npHash is how nameplates appear in logs: a keyed hash, so that logs
// correlate events of one mailbox without recording the nameplate.
func (s *Server) npHash(n int) string {
	return s.logHash(strconv.Itoa(n))
}

// logHash is a keyed hash of a value logs must not record (nameplates,
// rejoin channels, ring ids).
func (s *Server) logHash(v string) string {
	m := hmac.New(sha256.New, s.logKey[:])
	m.Write([]byte(v))
	return hex.EncodeToString(m.Sum(nil)[:6])
}

// credentialTTL derives the "ttl" of a paired frame from TURN REST
// usernames ("<unix-expiry>:<user>"): the seconds until the earliest
// expiry. 0 (omitted) when no server carries such credentials.
func credentialTTL(servers []wire.ICEServer, now time.Time) int {
	ttl := 0
	for _, is := range servers {
		exp, _, ok := strings.Cut(is.Username, ":")
		if !ok {
			continue
		}
		t, err := strconv.ParseInt(exp, 10, 64)
		if err != nil {
			continue
		}
		if d := int(t - now.Unix()); d > 0 && (ttl == 0 || d < ttl) {
			ttl = d
		}
	}
	return ttl
}
