package rendezvous

import (
	"crypto/rand"
	"crypto/subtle"
	"time"

	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/wire"
)

// Re-opened mailboxes (docs/protocol.md, section 3). A side that asked for
// it when it bound gets a random reopen token in its "paired" frame. When
// its connection drops while the other side is still there, the mailbox
// does not end: it waits ReopenGrace for the side to come back on a new
// connection with "reopen" (the mailbox id and the token). The server
// keeps every message addressed to such a side, so the reopening side
// says how many it has received and gets the rest again, and it learns
// how many of its own bodies the server accepted, so that it sends again
// only those that were lost. The token is a random number the server drew:
// it says nothing about the peers' keys, and it is never logged.

// newToken returns a fresh reopen token, or nil when want is false.
func newToken(want bool) []byte {
	if !want {
		return nil
	}
	t := make([]byte, wire.ReopenTokenSize)
	_, _ = rand.Read(t)
	return t
}

// setTokensLocked records the sides' reopen tokens of a mailbox that has
// just been paired. s.mu must be held.
func (s *Server) setTokensLocked(mb *mailbox, tokens [2][]byte) {
	mb.tokens = tokens
	if tokens[sideA] != nil || tokens[sideB] != nil {
		s.mailboxes[string(mb.id)] = mb
	}
}

// awaitReopenLocked takes c, whose connection dropped, out of its paired
// mailbox without ending it, and starts the grace period unless it runs
// already. s.mu must be held.
func (s *Server) awaitReopenLocked(mb *mailbox, c *conn) {
	mb.sides[c.side] = nil
	c.mb = nil
	if mb.grace == nil {
		mb.graceGen++
		gen := mb.graceGen
		mb.grace = time.AfterFunc(s.cfg.ReopenGrace, func() { s.graceOver(mb, gen) })
	}
	s.log.Info("mailbox side dropped, waiting for it to reopen", "np", mb.np, "side", sideName(c.side))
}

// stopGraceLocked ends mb's grace period. s.mu must be held.
func (s *Server) stopGraceLocked(mb *mailbox) {
	if mb.grace != nil {
		mb.grace.Stop()
		mb.grace = nil
		mb.graceGen++
	}
}

// graceOver ends mb when a side that dropped has not reopened it in time:
// the other side gets "closed" with mood "errory", as it would have at
// once without a token.
func (s *Server) graceOver(mb *mailbox, gen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || mb.graceGen != gen || mb.state == stateEnded {
		return
	}
	mb.grace = nil
	s.log.Info("mailbox side did not reopen in time", "np", mb.np)
	s.endMailboxLocked(mb, nil, wire.MoodErrory)
}

// reopen puts fresh connection c in the place of the side of mailbox id
// whose reopen token is token. received is how many messages that side
// has received; the server sends the rest again after "reopened". A
// reopen takes a token from the claim bucket (it tries a secret); an
// unknown or ended mailbox and a wrong token get the same answer.
func (s *Server) reopen(c *conn, id, token []byte, received int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.bindLocked(c, "reopen", true, "too many claims or reopens") {
		return
	}
	mb := s.mailboxes[string(id)]
	sd := side(-1)
	if mb != nil && mb.state == statePaired {
		for i, t := range mb.tokens {
			if t != nil && subtle.ConstantTimeCompare(t, token) == 1 {
				sd = side(i)
			}
		}
	}
	if sd < 0 {
		s.log.Info("reopen refused: unknown mailbox or wrong token", "client", c.key)
		s.failLocked(c, wire.ErrKindUnknownMailbox, "unknown mailbox")
		return
	}
	if received < mb.base[sd] || received > mb.base[sd]+len(mb.log[sd]) {
		s.failLocked(c, wire.ErrKindBadRequest, "received more messages than were sent")
		return
	}
	if old := mb.sides[sd]; old != nil {
		// The old connection has not been noticed dead yet: the side that
		// holds the token is here now.
		old.mb = nil
		s.finalLocked(old, nil, websocket.StatusNormalClosure, "reopened on another connection")
	}
	mb.sides[sd] = c
	c.mb, c.side, c.reopen = mb, sd, true
	mb.sent[sd] = received
	s.enqueueLocked(c, mustMarshal(wire.Frame{Type: wire.TypeReopened, Received: mb.added[sd]}))
	s.flushSideLocked(mb, sd)
	if mb.sides[sideA] != nil && mb.sides[sideB] != nil {
		s.stopGraceLocked(mb)
	}
	s.log.Info("mailbox reopened", "np", mb.np, "side", sideName(sd), "resent", mb.base[sd]+len(mb.log[sd])-received)
}

func sideName(sd side) string {
	if sd == sideA {
		return "a"
	}
	return "b"
}
