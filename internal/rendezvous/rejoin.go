package rendezvous

import (
	"crypto/rand"
	"time"

	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/wire"
)

// Known peers (docs/protocol.md, section 8). A host keeps one connection
// that listens on the rejoin channels of its known peers; a client dials one
// channel; the listener gets a ring and answers it on a new connection,
// which meets the dialer in a fresh mailbox. The server learns channels —
// hashes of tokens it never sees — and nothing else.

// maxRingsPerListener bounds the calls a listener has open at once. A dial
// beyond it is answered "unavailable": no peer of a real host rings that
// often, and it keeps a listener's send queue within sendQueue.
const maxRingsPerListener = 16

// ring is one call: a dialer waiting on a channel until the listener
// answers, the ring expires or either side leaves. All fields are guarded
// by Server.mu.
type ring struct {
	id       []byte // wire.RingIDSize random bytes
	channel  string
	dialer   *conn
	listener *conn
	timer    *time.Timer
	mb       *mailbox // the mailbox once answered; nil while it rings
}

// listen replaces c's set of channels. A channel another connection
// listens on moves to c: the latest listener wins, so a host whose old
// connection has not been noticed dead yet is reachable at once.
func (s *Server) listen(c *conn, channels []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.finishing {
		return
	}
	if c.bound {
		s.failLocked(c, wire.ErrKindBadRequest, "a mailbox connection cannot listen")
		return
	}
	if !s.allowLocked(c.key, false) {
		s.log.Info("listen rate limited", "client", c.key)
		s.failLocked(c, wire.ErrKindRateLimited, "too many listen requests, try again in a minute")
		return
	}
	next := make(map[string]struct{}, len(channels))
	for _, ch := range channels {
		next[ch] = struct{}{}
	}
	st := s.ips[c.key]
	if st == nil { // cannot happen for an admitted connection
		s.failLocked(c, wire.ErrKindInternal, "client not admitted")
		return
	}
	switch grow := len(next) - len(c.listens); {
	case st.channels+grow > s.cfg.MaxChannelsPerIP:
		s.log.Info("listen refused: too many channels from one address", "client", c.key)
		s.failLocked(c, wire.ErrKindRateLimited, "too many channels from this address, try again later")
		return
	case s.channelsHeld+grow > s.cfg.MaxChannels:
		s.busyLocked(budgetChannels)
		s.failLocked(c, wire.ErrKindRateLimited, busyMessage)
		return
	}
	for ch := range c.listens {
		if _, keep := next[ch]; !keep {
			s.dropChannelLocked(c, ch)
		}
	}
	if c.listens == nil {
		c.listens = make(map[string]struct{}, len(next))
	}
	for ch := range next {
		if l := s.channels[ch]; l != nil && l != c {
			s.dropChannelLocked(l, ch)
		}
		s.channels[ch] = c
		if _, had := c.listens[ch]; !had {
			c.listens[ch] = struct{}{}
			st.channels++
			s.channelsHeld++
		}
	}
	c.listening = true
	s.enqueueLocked(c, mustMarshal(wire.Frame{Type: wire.TypeListening}))
	s.log.Debug("listening", "channels", len(next))
}

// dropChannelLocked removes ch from l's set and, if l still held it, from
// the server; a ring on it ends ("unavailable" for its dialer).
// s.mu must be held.
func (s *Server) dropChannelLocked(l *conn, ch string) {
	if _, held := l.listens[ch]; held {
		delete(l.listens, ch)
		s.channelsHeld--
		if st := s.ips[l.key]; st != nil {
			st.channels--
		}
	}
	if s.channels[ch] != l {
		return
	}
	delete(s.channels, ch)
	if r := s.ringing[ch]; r != nil {
		s.endRingLocked(r)
	}
}

// dial rings the listener of channel. Nobody listening, and a listener
// with too many open calls, get the same answer: "unavailable".
func (s *Server) dial(c *conn, channel string, reopen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.bindLocked(c, "dial", true, "too many dials") {
		return
	}
	c.reopen = reopen
	l := s.channels[channel]
	switch {
	case l == nil || l.finishing || l.ringCount >= maxRingsPerListener:
		s.failLocked(c, wire.ErrKindUnavailable, "nobody answers on this channel")
		return
	case s.ringing[channel] != nil:
		// One call per channel at a time: the first keeps ringing.
		s.failLocked(c, wire.ErrKindCrowded, "this channel is already ringing")
		return
	}
	r := &ring{id: make([]byte, wire.RingIDSize), channel: channel, dialer: c, listener: l}
	_, _ = rand.Read(r.id)
	r.timer = time.AfterFunc(s.cfg.RingTTL, func() { s.ringTimeout(r) })
	s.rings[string(r.id)] = r
	s.ringing[channel] = r
	l.ringCount++
	c.ring = r
	s.enqueueLocked(l, mustMarshal(wire.Frame{Type: wire.TypeRing, Channel: channel, Ring: r.id}))
	s.log.Info("ringing", "channel", s.logHash(channel))
}

// ringTimeout ends a ring nobody answered within RingTTL.
func (s *Server) ringTimeout(r *ring) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.ringing[r.channel] != r {
		return
	}
	s.log.Info("ring expired", "channel", s.logHash(r.channel))
	s.endRingLocked(r)
}

// endRingLocked ends a ring that was not answered: the listener gets
// "hangup", the dialer (unless it is the one leaving) "unavailable".
// s.mu must be held.
func (s *Server) endRingLocked(r *ring) {
	if s.ringing[r.channel] != r {
		return
	}
	r.timer.Stop()
	delete(s.ringing, r.channel)
	delete(s.rings, string(r.id))
	r.listener.ringCount--
	s.enqueueLocked(r.listener, mustMarshal(wire.Frame{Type: wire.TypeHangup, Ring: r.id}))
	r.dialer.ring = nil
	s.failLocked(r.dialer, wire.ErrKindUnavailable, "nobody answered")
}

// answer pairs the connection that answers a ring (side a) with its dialer
// (side b) in a fresh mailbox.
func (s *Server) answer(c *conn, id []byte, reopen bool) {
	s.mu.Lock()
	if !s.bindLocked(c, "answer", false, "too many answers") {
		s.mu.Unlock()
		return
	}
	c.reopen = reopen
	r := s.rings[string(id)]
	switch {
	case r == nil:
		// Never rung, expired, or the dialer left: the call is over.
		s.failLocked(c, wire.ErrKindUnavailable, "no such ring")
		s.mu.Unlock()
		return
	case r.mb != nil:
		s.failLocked(c, wire.ErrKindCrowded, "this ring was answered already")
		s.mu.Unlock()
		return
	}
	if !s.openMailboxLocked() {
		// The ring goes on: the listener may answer again in a minute, or
		// it expires as unanswered.
		s.failLocked(c, wire.ErrKindRateLimited, busyMessage)
		s.mu.Unlock()
		return
	}
	r.timer.Stop()
	delete(s.ringing, r.channel)
	r.listener.ringCount--
	s.enqueueLocked(r.listener, mustMarshal(wire.Frame{Type: wire.TypeHangup, Ring: r.id}))
	d := r.dialer
	d.ring = nil
	mb := &mailbox{id: make([]byte, wire.MailboxIDSize), ring: r, state: statePairing}
	_, _ = rand.Read(mb.id)
	mb.np = "r" + s.logHash(string(mb.id))
	mb.sides = [2]*conn{sideA: c, sideB: d}
	mb.informLater = [2]bool{true, true}
	r.mb = mb
	c.mb, c.side = mb, sideA
	d.mb, d.side = mb, sideB
	s.armLocked(mb, s.cfg.MailboxTTL)
	tokens := [2][]byte{newToken(c.reopen), newToken(d.reopen)}
	s.mu.Unlock()

	// Issue ICE servers outside the lock, as claim does; bodies either side
	// adds meanwhile wait in the log.
	now := s.cfg.Now()
	pairedA := s.pairedFrame(c.req, now, tokens[sideA])
	pairedB := s.pairedFrame(d.req, now, tokens[sideB])

	s.mu.Lock()
	defer s.mu.Unlock()
	answered := mustMarshal(wire.Frame{Type: wire.TypeAnswered, Mailbox: mb.id})
	dialed := mustMarshal(wire.Frame{Type: wire.TypeDialed, Mailbox: mb.id})
	if mb.state == stateEnded {
		closed := mustMarshal(wire.Frame{Type: wire.TypeClosed, Mood: mb.endMood})
		s.enqueueLocked(c, answered)
		s.finalLocked(c, closed, websocket.StatusNormalClosure, "mailbox closed")
		s.enqueueLocked(d, dialed)
		s.finalLocked(d, closed, websocket.StatusNormalClosure, "mailbox closed")
		return
	}
	mb.state = statePaired
	mb.informLater = [2]bool{}
	s.setTokensLocked(mb, tokens)
	s.enqueueLocked(c, answered)
	s.enqueueLocked(d, dialed)
	s.enqueueLocked(c, pairedA)
	s.enqueueLocked(d, pairedB)
	s.flushPendingLocked(mb)
	s.log.Info("ring answered", "channel", s.logHash(r.channel), "np", mb.np)
}

// detachLocked ends what c takes part in besides a mailbox: a dialer's
// ring, a listener's channels. s.mu must be held.
func (s *Server) detachLocked(c *conn) {
	if r := c.ring; r != nil {
		c.ring = nil
		s.endRingLocked(r)
	}
	for ch := range c.listens {
		s.dropChannelLocked(c, ch)
	}
}
