package rendezvous

import (
	"crypto/rand"
	"errors"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/wire"
)

type side int

const (
	sideA side = iota // allocated the nameplate
	sideB             // claimed it
)

type mbState int

const (
	stateWaiting mbState = iota // allocated, not claimed
	statePairing                // claimed; ICE servers are being issued outside the lock
	statePaired                 // both sides present
	stateEnded                  // closed, expired or failed; the nameplate is free again
)

// mailbox is the meeting point of two peers: a nameplate's (allocate and
// claim), or an answered ring's (section 8: answer and dial). All fields are
// guarded by Server.mu.
type mailbox struct {
	id      []byte // 16 random bytes, the CPace sid
	n       int    // the nameplate; 0 for an answered ring, which has none
	ring    *ring  // the answered ring, nil for a nameplate's mailbox
	np      string // the nameplate's (or mailbox id's) keyed hash, for logs
	state   mbState
	sides   [2]*conn // nil for a side whose connection dropped and that may reopen
	added   [2]int   // bodies accepted from each side
	endMood string   // why it ended, for sides that were pairing then
	// log holds the message frames addressed to each side, the first of
	// them being number base; sent counts those queued on the side's
	// current connection. A side with a reopen token keeps them all (at
	// most wire.MaxBodiesPerSide), so that a reopen can send again what
	// its dropped connection lost; a side without one keeps only what it
	// has not been sent yet (bodies waiting for the pairing).
	log  [2][][]byte
	base [2]int
	sent [2]int
	// tokens are the sides' reopen tokens once paired; nil for a side
	// that did not ask for one. grace runs while a side is away.
	tokens   [2][]byte
	grace    *time.Timer
	graceGen int
	// informLater marks the sides whose reply (claimed, answered, dialed)
	// the pairing code outside the lock still has to send: if the mailbox
	// ends meanwhile, that code sends the reply and then "closed".
	informLater [2]bool
	// queued is the bytes of the message frames added to it, each
	// address's share in charges (budget.go); they are given back when it
	// ends.
	queued  int64
	charges []charge
	// holders counts the connections of an ended mailbox that are still
	// sending what was queued for them; its budget is given back when the
	// last is gone.
	holders int
	timer   *time.Timer
	gen     int // timer generation: a timer that fired late for an older deadline is ignored
}

// handleFrame dispatches one frame a client sent. It never touches the
// WebSocket itself; replies go through the connection's send queue.
func (s *Server) handleFrame(c *conn, typ websocket.MessageType, data []byte) {
	if c.busy {
		s.fail(c, wire.ErrKindRateLimited, busyMessage)
		return
	}
	if typ != websocket.MessageText {
		s.fail(c, wire.ErrKindBadRequest, "text frames only")
		return
	}
	f, err := wire.ParseFrame(data)
	if err != nil {
		if errors.Is(err, wire.ErrTooLarge) {
			s.fail(c, wire.ErrKindTooLarge, "body or frame too large")
		} else {
			s.fail(c, wire.ErrKindBadRequest, "malformed frame or unknown type")
		}
		return
	}
	switch f.Type {
	case wire.TypeAllocate:
		s.allocate(c, f.Reopen)
	case wire.TypeClaim:
		s.claim(c, f.Nameplate, f.Reopen)
	case wire.TypeAdd:
		s.add(c, f.Body)
	case wire.TypeClose:
		s.leave(c, f.Mood)
	case wire.TypeListen:
		s.listen(c, f.Channels)
	case wire.TypeDial:
		s.dial(c, f.Channel, f.Reopen)
	case wire.TypeAnswer:
		s.answer(c, f.Ring, f.Reopen)
	case wire.TypeReopen:
		s.reopen(c, f.Mailbox, f.Token, f.Received)
	default:
		s.fail(c, wire.ErrKindBadRequest, "not a client frame type")
	}
}

func (s *Server) fail(c *conn, kind, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failLocked(c, kind, message)
}

func (s *Server) allocate(c *conn, reopen bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.finishing {
		return
	}
	if c.bound || c.listening {
		s.failLocked(c, wire.ErrKindBadRequest, "already allocated, claimed or listening")
		return
	}
	if !s.allowLocked(c.key, false) {
		s.log.Info("allocate rate limited", "client", c.key)
		s.failLocked(c, wire.ErrKindRateLimited, "too many allocations, try again in a minute")
		return
	}
	if !s.openMailboxLocked() {
		s.failLocked(c, wire.ErrKindRateLimited, busyMessage)
		return
	}
	n, ok := s.pickNameplateLocked()
	if !ok {
		s.closeMailboxLocked(&mailbox{})
		s.log.Error("no free nameplate")
		s.failLocked(c, wire.ErrKindInternal, "no free nameplate")
		return
	}
	mb := &mailbox{id: make([]byte, wire.MailboxIDSize), n: n, np: s.npHash(n), state: stateWaiting}
	_, _ = rand.Read(mb.id)
	mb.sides[sideA] = c
	s.armLocked(mb, s.cfg.NameplateTTL)
	s.nameplates[n] = mb
	s.rangeUsed[digits(n)]++
	c.bound, c.mb, c.side, c.reopen = true, mb, sideA, reopen
	s.enqueueLocked(c, mustMarshal(wire.Frame{Type: wire.TypeAllocated, Nameplate: strconv.Itoa(n), Mailbox: mb.id}))
	s.log.Info("nameplate allocated", "np", mb.np)
}

func (s *Server) claim(c *conn, nameplate string, reopen bool) {
	// wire.ParseFrame admits only short decimal nameplates without a
	// leading zero, so this cannot fail or overflow.
	n, err := strconv.Atoi(nameplate)
	s.mu.Lock()
	if c.finishing {
		s.mu.Unlock()
		return
	}
	if c.bound || c.listening || err != nil {
		s.failLocked(c, wire.ErrKindBadRequest, "already allocated, claimed or listening, or bad nameplate")
		s.mu.Unlock()
		return
	}
	if !s.allowLocked(c.key, true) {
		s.log.Info("claim rate limited", "client", c.key)
		s.failLocked(c, wire.ErrKindRateLimited, "too many claims, try again in a minute")
		s.mu.Unlock()
		return
	}
	mb := s.nameplates[n]
	switch {
	case mb == nil:
		// Never allocated, used up, or expired: deliberately the same answer.
		s.failLocked(c, wire.ErrKindUnknownNameplate, "unknown nameplate")
		s.mu.Unlock()
		return
	case mb.state != stateWaiting:
		s.log.Info("claim refused: crowded", "np", mb.np)
		s.failLocked(c, wire.ErrKindCrowded, "mailbox already has two peers")
		s.mu.Unlock()
		return
	}
	mb.state = statePairing
	mb.sides[sideB] = c
	mb.informLater[sideB] = true
	c.bound, c.mb, c.side, c.reopen = true, mb, sideB, reopen
	a := mb.sides[sideA]
	tokens := [2][]byte{newToken(a.reopen), newToken(reopen)}
	s.mu.Unlock()

	// Issue ICE servers (TURN credentials) outside the lock. Meanwhile a's
	// bodies keep queueing in the log, and if a leaves or the nameplate
	// expires, endMailboxLocked leaves the news to the code below, so b's
	// frames stay in order: claimed first.
	now := s.cfg.Now()
	pairedA := s.pairedFrame(a.req, now, tokens[sideA])
	pairedB := s.pairedFrame(c.req, now, tokens[sideB])

	s.mu.Lock()
	defer s.mu.Unlock()
	claimed := mustMarshal(wire.Frame{Type: wire.TypeClaimed, Mailbox: mb.id})
	if mb.state == stateEnded {
		s.enqueueLocked(c, claimed)
		s.finalLocked(c, mustMarshal(wire.Frame{Type: wire.TypeClosed, Mood: mb.endMood}), websocket.StatusNormalClosure, "mailbox closed")
		return
	}
	mb.state = statePaired
	mb.informLater = [2]bool{}
	s.setTokensLocked(mb, tokens)
	s.armLocked(mb, s.cfg.MailboxTTL)
	s.enqueueLocked(c, claimed)
	s.enqueueLocked(c, pairedB)
	s.enqueueLocked(a, pairedA)
	s.flushPendingLocked(mb)
	s.log.Info("mailbox paired", "np", mb.np)
}

// pairedFrame builds the "paired" frame for the side that connected with r;
// token is its reopen token (nil: it did not ask for one).
func (s *Server) pairedFrame(r *http.Request, now time.Time, token []byte) []byte {
	var ice []wire.ICEServer
	if s.cfg.ICEServers != nil {
		ice = s.cfg.ICEServers(r, now)
	}
	b, err := wire.Frame{Type: wire.TypePaired, ICEServers: ice, TTL: credentialTTL(ice, now), Token: token}.Marshal()
	if err != nil {
		s.log.Error("ICE servers not sendable, pairing without them", "err", err)
		return mustMarshal(wire.Frame{Type: wire.TypePaired, Token: token})
	}
	return b
}

func (s *Server) add(c *conn, body []byte) {
	msg := mustMarshal(wire.Frame{Type: wire.TypeMessage, Body: body})
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.finishing {
		return
	}
	mb := c.mb
	if mb == nil {
		s.failLocked(c, wire.ErrKindBadRequest, "add before allocate or claim")
		return
	}
	if mb.added[c.side] >= wire.MaxBodiesPerSide {
		s.failLocked(c, wire.ErrKindTooMany, "too many bodies")
		return
	}
	if !s.chargeLocked(mb, c, int64(cap(msg))) {
		return
	}
	mb.added[c.side]++
	to := 1 - c.side
	mb.log[to] = append(mb.log[to], msg)
	// Before pairing completes the other side has not had its reply yet;
	// a side that is away gets it when it reopens.
	if mb.state == statePaired {
		s.flushSideLocked(mb, to)
	}
}

// flushPendingLocked delivers the bodies each side added before mb was
// paired to the other side. s.mu must be held.
func (s *Server) flushPendingLocked(mb *mailbox) {
	s.flushSideLocked(mb, sideA)
	s.flushSideLocked(mb, sideB)
}

// flushSideLocked queues the messages side to has not been sent on its
// current connection, if it has one. s.mu must be held.
func (s *Server) flushSideLocked(mb *mailbox, to side) {
	c := mb.sides[to]
	if c == nil {
		return
	}
	for ; mb.sent[to] < mb.base[to]+len(mb.log[to]); mb.sent[to]++ {
		s.enqueueLocked(c, mb.log[to][mb.sent[to]-mb.base[to]])
	}
	if mb.tokens[to] == nil {
		mb.log[to], mb.base[to] = nil, mb.sent[to]
	}
}

// leave handles a client's close frame.
func (s *Server) leave(c *conn, mood string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.finishing {
		return
	}
	if c.mb == nil {
		s.finalLocked(c, nil, websocket.StatusNormalClosure, "")
		s.detachLocked(c)
		return
	}
	s.endMailboxLocked(c.mb, c, mood)
}

// endMailboxLocked ends mb for good: the nameplate returns to the pool, the
// side that left (if any) is closed, and the other side gets "closed" with
// mood. Any mood ends the mailbox at once, so a "scary" close after a
// failed pairing burns the code: the next claim of that number meets a
// fresh allocation (with fresh words) or "unknown-nameplate".
// s.mu must be held.
func (s *Server) endMailboxLocked(mb *mailbox, leaver *conn, mood string) {
	if mb.state == stateEnded {
		return
	}
	wasPairing, wasPaired := mb.state == statePairing, mb.state == statePaired
	mb.state = stateEnded
	mb.endMood = mood
	mb.timer.Stop()
	mb.log = [2][][]byte{}
	s.stopGraceLocked(mb)
	if len(mb.tokens[sideA])+len(mb.tokens[sideB]) > 0 {
		delete(s.mailboxes, string(mb.id))
	}
	if mb.n != 0 {
		delete(s.nameplates, mb.n)
		s.rangeUsed[digits(mb.n)]--
	}
	if mb.ring != nil {
		delete(s.rings, string(mb.ring.id))
	}
	closed := mustMarshal(wire.Frame{Type: wire.TypeClosed, Mood: mood})
	for i, x := range mb.sides {
		if x == nil {
			continue
		}
		x.mb = nil
		switch {
		case x == leaver:
			s.finalLocked(x, nil, websocket.StatusNormalClosure, "")
		case wasPairing && mb.informLater[i]:
			// claim or answer is issuing ICE servers; it sends this side its
			// reply, then closed.
		default:
			s.finalLocked(x, closed, websocket.StatusNormalClosure, "mailbox closed")
		}
		if !x.gone {
			// Its send queue may still hold this mailbox's messages.
			x.holds = mb
			mb.holders++
		}
	}
	if mb.holders == 0 {
		s.closeMailboxLocked(mb)
	}
	s.log.Info("mailbox closed", "np", mb.np, "mood", mood, "paired", wasPaired || wasPairing)
}

// armLocked (re)starts mb's expiry timer. s.mu must be held.
func (s *Server) armLocked(mb *mailbox, d time.Duration) {
	if mb.timer != nil {
		mb.timer.Stop()
	}
	mb.gen++
	gen := mb.gen
	mb.timer = time.AfterFunc(d, func() { s.expire(mb, gen) })
}

// expire ends mb when its nameplate or mailbox lifetime is over.
func (s *Server) expire(mb *mailbox, gen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || mb.gen != gen || mb.state == stateEnded {
		return
	}
	s.endMailboxLocked(mb, nil, wire.MoodExpired)
}

// pickNameplateLocked draws a free nameplate at random from the smallest
// range 1..9, 10..99, ... that is less than half full (docs/protocol.md
// section 3): short codes while few are in use, and a random draw that
// succeeds within two tries on average. s.mu must be held.
func (s *Server) pickNameplateLocked() (int, bool) {
	lo, size := 1, 9
	for d := 1; d <= maxDigits; d++ {
		if d >= s.cfg.MinNameplateDigits && 2*s.rangeUsed[d] < size {
			for {
				n := lo + mrand.IntN(size)
				if _, taken := s.nameplates[n]; !taken {
					return n, true
				}
			}
		}
		if d == 1 {
			lo, size = 10, 90
		} else {
			lo, size = lo*10, size*10
		}
	}
	return 0, false
}

func digits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// mustMarshal encodes a frame the server built itself from parts that
// were validated on the way in, so it cannot fail; if a later change to
// wire's checks made it fail, the frame is left out (nil: the connection
// just closes) instead of panicking with the server's lock held.
func mustMarshal(f wire.Frame) []byte {
	b, err := f.Marshal()
	if err != nil {
		slog.Error("rendezvous: server built an invalid frame", "type", f.Type, "err", err)
		return nil
	}
	return b
}
