package rendezvous

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// ipState is the per-address bookkeeping: open connections and the token
// buckets for allocate and claim. It outlives connections, so that
// reconnecting does not refill a bucket; idle entries are swept once their
// buckets are full again.
type ipState struct {
	conns        int
	alloc, claim *rate.Limiter
	seen         time.Time
	queued       int64 // message bytes its connections queued in open mailboxes
	channels     int   // rejoin channels its listeners hold
}

// sweepEvery is how often idle ipStates are dropped. A bucket refills
// completely within a minute (its rate is its burst per minute), so an
// entry idle that long carries no state worth keeping.
const sweepEvery = time.Minute

// clientKey is the address the limits are kept for: the client's IPv4
// address, or its IPv6 /64 (one subscriber usually holds a whole /64).
func (s *Server) clientKey(r *http.Request) string {
	host := r.RemoteAddr
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if s.cfg.TrustProxyHeaders {
		// The proxy appends the address it saw last; earlier entries are
		// whatever the client chose to send.
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if last := strings.TrimSpace(parts[len(parts)-1]); last != "" {
				host = last
			}
		}
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// admit counts a new connection from key. It fails with the HTTP status to
// answer when the server is closed or key is at MaxConnsPerIP. busy means
// the server is at MaxConns: the connection is let in only to be told so
// (welcome, then a "rate-limited" error), which both clients show as a
// sentence; past maxRefusing such connections at once it gets a bare 503.
func (s *Server) admit(key string) (status int, busy, ok bool) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return http.StatusServiceUnavailable, false, false
	}
	if now.Sub(s.lastSweep) >= sweepEvery {
		s.sweepLocked(now)
	}
	st := s.ips[key]
	if st == nil {
		perMin := func(n int) *rate.Limiter { return rate.NewLimiter(rate.Every(time.Minute/time.Duration(n)), n) }
		st = &ipState{alloc: perMin(s.cfg.AllocsPerMinute), claim: perMin(s.cfg.ClaimsPerMinute)}
		s.ips[key] = st
	}
	st.seen = now
	if st.conns >= s.cfg.MaxConnsPerIP {
		return http.StatusTooManyRequests, false, false
	}
	if s.conns >= s.cfg.MaxConns {
		s.busyLocked(budgetConns)
		if s.refusing >= s.maxRefusing() {
			return http.StatusServiceUnavailable, true, false
		}
		busy = true
		s.refusing++
	} else {
		s.conns++
	}
	st.conns++
	s.wg.Add(1)
	return 0, busy, true
}

// maxRefusing bounds the connections let in at once only to be told the
// server is busy.
func (s *Server) maxRefusing() int { return max(s.cfg.MaxConns/16, 16) }

// release undoes admit when the connection's handler returns.
func (s *Server) release(key string, busy bool) {
	s.mu.Lock()
	if busy {
		s.refusing--
	} else {
		s.conns--
	}
	if st := s.ips[key]; st != nil {
		st.conns--
		st.seen = s.cfg.Now()
	}
	s.mu.Unlock()
	s.wg.Done()
}

// allowLocked takes a token from key's allocate or claim bucket.
// s.mu must be held.
func (s *Server) allowLocked(key string, claim bool) bool {
	st := s.ips[key]
	if st == nil { // cannot happen for an admitted connection
		return false
	}
	l := st.alloc
	if claim {
		l = st.claim
	}
	return l.AllowN(s.cfg.Now(), 1)
}

// sweepLocked drops idle entries. s.mu must be held.
func (s *Server) sweepLocked(now time.Time) {
	for k, st := range s.ips {
		if st.conns == 0 && st.queued == 0 && now.Sub(st.seen) >= sweepEvery {
			delete(s.ips, k)
		}
	}
	s.lastSweep = now
}
