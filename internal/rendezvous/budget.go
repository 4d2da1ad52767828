package rendezvous

import (
	"time"

	"github.com/direkt/direkt/internal/wire"
)

// Server-wide budgets. The per-address limits (limits.go) keep one address
// from taking more than its share; these bound what all addresses together
// can make the server hold, however many addresses an attacker has (one
// IPv6 subscriber often holds thousands of /64s). A request that would go
// over a budget is refused with a "rate-limited" error whose message says
// the server is busy: existing clients, Go and browser, already tell their
// user to try again. Work already admitted is never cut short to make room.

// Defaults for the budget fields of Config.
const (
	DefaultMaxConns            = 8192
	DefaultMaxMailboxes        = 2048
	DefaultMaxQueuedBytes      = 128 << 20
	DefaultMaxQueuedBytesPerIP = 4 << 20
	DefaultMaxChannels         = 100_000
	DefaultMaxChannelsPerIP    = 4 * wire.MaxListenChannels
)

// MailboxReserve is what every mailbox may queue whatever the other
// mailboxes hold: it is set aside from MaxQueuedBytes when the mailbox is
// opened. A pairing (CPace, offer, answer, a few candidates, each a sealed
// body) needs a fraction of it, and it holds one body of wire.MaxBody; a
// mailbox that is not paired yet can queue no more than this. Paired
// mailboxes draw what they queue beyond it from what is left of
// MaxQueuedBytes.
const MailboxReserve = 32 << 10

// busyMessage is the error message of a refusal for a server-wide budget.
const busyMessage = "the server is busy, try again in a minute"

// busyLogEvery bounds the log lines about refusals for one budget: an
// attack that runs into it logs once per interval, with the count.
const busyLogEvery = 10 * time.Second

// Stats are the server's current counts against its budgets.
type Stats struct {
	// Conns is the open mailbox WebSocket connections (not counting the
	// ones being refused for MaxConns).
	Conns int
	// Mailboxes is the open mailboxes: unclaimed, paired, and answered
	// rings.
	Mailboxes int
	// QueuedBytes is the message bytes the mailboxes account for: each
	// mailbox's MailboxReserve, or what it has queued when that is more.
	QueuedBytes int64
	// Channels is the rejoin channels the listeners hold.
	Channels int
	// Refused counts the requests refused for a server-wide budget since
	// the server started.
	Refused int64
}

// Stats returns the current counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Conns:       s.conns,
		Mailboxes:   s.mailboxCount,
		QueuedBytes: s.queued,
		Channels:    s.channelsHeld,
		Refused:     s.refused,
	}
}

// budgetKind names a budget in logs.
type budgetKind int

const (
	budgetConns budgetKind = iota
	budgetMailboxes
	budgetQueued
	budgetChannels
	numBudgets
)

var budgetNames = [numBudgets]string{"connections", "mailboxes", "queued bytes", "channels"}

// busyLocked counts a refusal for budget b and logs it, at most once per
// busyLogEvery per budget. s.mu must be held.
func (s *Server) busyLocked(b budgetKind) {
	s.refused++
	s.busyCount[b]++
	now := s.cfg.Now()
	if now.Sub(s.busyLogged[b]) < busyLogEvery {
		return
	}
	s.busyLogged[b] = now
	s.log.Warn("server busy: refusing new work", "budget", budgetNames[b], "refused", s.busyCount[b],
		"conns", s.conns, "mailboxes", s.mailboxCount, "queued_bytes", s.queued, "channels", s.channelsHeld)
	s.busyCount[b] = 0
}

// openMailboxLocked reports whether a new mailbox fits the budgets, and
// if so counts it and sets its reserve aside. s.mu must be held.
func (s *Server) openMailboxLocked() bool {
	switch {
	case s.mailboxCount >= s.cfg.MaxMailboxes:
		s.busyLocked(budgetMailboxes)
		return false
	case s.queued+MailboxReserve > s.cfg.MaxQueuedBytes:
		s.busyLocked(budgetQueued)
		return false
	}
	s.mailboxCount++
	s.queued += MailboxReserve
	return true
}

// charge is what one client address queued in a mailbox.
type charge struct {
	key   string
	bytes int64
}

// chargeLocked accounts n more bytes queued in mb by c, or refuses them:
// with an error for c, and false. A mailbox not paired yet keeps within
// its reserve; beyond the reserve the bytes come out of MaxQueuedBytes;
// and c's address keeps within MaxQueuedBytesPerIP. s.mu must be held.
func (s *Server) chargeLocked(mb *mailbox, c *conn, n int64) bool {
	st := s.ips[c.key]
	if st == nil { // cannot happen for an admitted connection
		s.failLocked(c, wire.ErrKindInternal, "client not admitted")
		return false
	}
	extra := max(mb.queued+n, MailboxReserve) - max(mb.queued, MailboxReserve)
	switch {
	case extra > 0 && mb.state == stateWaiting:
		s.log.Info("add refused: too much queued before pairing", "np", mb.np, "client", c.key)
		s.failLocked(c, wire.ErrKindTooMany, "too much queued before the other side arrived")
		return false
	case st.queued+n > s.cfg.MaxQueuedBytesPerIP:
		s.log.Info("add refused: too much queued from one address", "client", c.key)
		s.failLocked(c, wire.ErrKindRateLimited, "too much queued from this address, try again in a minute")
		return false
	case s.queued+extra > s.cfg.MaxQueuedBytes:
		s.busyLocked(budgetQueued)
		s.failLocked(c, wire.ErrKindRateLimited, busyMessage)
		return false
	}
	mb.queued += n
	s.queued += extra
	st.queued += n
	for i := range mb.charges {
		if mb.charges[i].key == c.key {
			mb.charges[i].bytes += n
			return true
		}
	}
	mb.charges = append(mb.charges, charge{c.key, n})
	return true
}

// dropHoldLocked gives back, when c is gone, the budget of the ended
// mailbox whose messages c's send queue held, if c was the last to hold
// them. s.mu must be held.
func (s *Server) dropHoldLocked(c *conn) {
	mb := c.holds
	if mb == nil {
		return
	}
	c.holds = nil
	if mb.holders--; mb.holders == 0 {
		s.closeMailboxLocked(mb)
	}
}

// closeMailboxLocked gives back what mb held: its place, its reserve or
// queued bytes, and each address's charge. It runs once, when mb has
// ended and no connection's send queue holds its messages any more: a
// client that reads slowly keeps them in memory until it is dropped.
// s.mu must be held.
func (s *Server) closeMailboxLocked(mb *mailbox) {
	s.mailboxCount--
	s.queued -= max(mb.queued, MailboxReserve)
	for _, ch := range mb.charges {
		if st := s.ips[ch.key]; st != nil {
			st.queued -= ch.bytes
			st.seen = s.cfg.Now()
		}
	}
	mb.charges, mb.queued = nil, 0
}
