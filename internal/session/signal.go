package session

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/pion/webrtc/v4"

	"github.com/direkt/direkt/internal/wire"
)

// Outgoing signals. pion reports local candidates from its own goroutines as
// soon as SetLocalDescription starts gathering, possibly before we have queued
// the description itself; the peer must get the description first (it cannot
// add a candidate before it), so candidates are held until the description is
// queued. One sender goroutine keeps the order, since Signaller.Send may only
// be called from one goroutine at a time.

// onLocalCandidate is pion's OnICECandidate callback; nil means gathering is
// complete (RFC 8838, section 8: end-of-candidates).
func (s *Session) onLocalCandidate(c *webrtc.ICECandidate) {
	if c == nil {
		s.postCandidate(wire.Signal{T: wire.SignalCandEnd})
		return
	}
	init := c.ToJSON()
	s.postCandidate(wire.Signal{T: wire.SignalCand, Cand: init.Candidate, Mid: init.SDPMid, Idx: init.SDPMLineIndex})
}

func (s *Session) postCandidate(sig wire.Signal) {
	s.outMu.Lock()
	if s.descPosted {
		s.out = append(s.out, outSignal{sig: sig})
	} else {
		s.held = append(s.held, outSignal{sig: sig})
	}
	s.outMu.Unlock()
	s.wakeSender()
}

func (s *Session) postDescription(sig wire.Signal) {
	s.outMu.Lock()
	s.out = append(s.out, outSignal{sig: sig})
	s.out = append(s.out, s.held...)
	s.held = nil
	s.descPosted = true
	s.outMu.Unlock()
	s.wakeSender()
}

// postBye queues a "bye" and returns a channel closed once it was handed to
// the Signaller (or the sender stopped).
func (s *Session) postBye(reason string) <-chan struct{} {
	sent := make(chan struct{})
	s.outMu.Lock()
	s.out = append(s.out, outSignal{sig: wire.Signal{T: wire.SignalBye, Reason: reason}, sent: sent})
	s.outMu.Unlock()
	s.wakeSender()
	return sent
}

func (s *Session) wakeSender() {
	select {
	case s.outWake <- struct{}{}:
	default:
	}
}

// sendLoop hands queued signals to the Signaller in order until teardown.
func (s *Session) sendLoop() {
	defer s.wg.Done()
	defer func() {
		// Release anyone waiting on a signal that will never be sent.
		s.outMu.Lock()
		for _, o := range s.out {
			if o.sent != nil {
				close(o.sent)
			}
		}
		s.out = nil
		s.outMu.Unlock()
	}()
	for {
		s.outMu.Lock()
		var next outSignal
		ok := len(s.out) > 0
		if ok {
			next = s.out[0]
			s.out[0] = outSignal{}
			s.out = s.out[1:]
		}
		s.outMu.Unlock()
		if !ok {
			select {
			case <-s.outWake:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		err := s.sig.Send(s.ctx, next.sig)
		if next.sent != nil {
			close(next.sent)
		}
		if err == nil && next.sig.T == wire.SignalCand {
			s.punch.announced(next.sig.Cand)
		}
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			if !s.connected.Load() {
				s.finish(fmt.Errorf("%w: send %s: %w", ErrSignalling, next.sig.T, err))
				return
			}
			// After setup the mailbox may be gone; the connection is not.
			s.log.Debug("signalling send failed after connect", "type", next.sig.T, "err", err)
		}
	}
}

// recvLoop reads the peer's signals until teardown or until the Signaller
// fails.
func (s *Session) recvLoop() {
	defer s.wg.Done()
	for {
		sig, err := s.sig.Recv(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			if !s.connected.Load() {
				s.finish(fmt.Errorf("%w: receive: %w", ErrSignalling, err))
				return
			}
			s.log.Debug("signalling closed after connect", "err", err)
			close(s.rs.sigGone) // no more restarts
			return
		}
		// pairing validates what it unseals; checking again keeps this
		// package safe with any Signaller.
		if err := sig.Validate(); err != nil {
			s.log.Debug("ignoring an invalid signal", "err", err)
			continue
		}
		if !s.handleSignal(sig) {
			return
		}
	}
}

// handleSignal acts on one signal; false means that the session stops
// reading the Signaller: what follows is for the next connection.
func (s *Session) handleSignal(sig wire.Signal) bool {
	switch sig.T {
	case wire.SignalOffer, wire.SignalAnswer:
		want := wire.SignalAnswer
		typ := webrtc.SDPTypeAnswer
		if s.role == wire.RoleB {
			want, typ = wire.SignalOffer, webrtc.SDPTypeOffer
		}
		if s.connected.Load() {
			s.onRestartDescription(sig)
			return true
		}
		if sig.T != want {
			s.finish(fmt.Errorf("%w: got %q, expected %q", ErrProtocol, sig.T, want))
			return true
		}
		select {
		case s.descCh <- webrtc.SessionDescription{Type: typ, SDP: sig.SDP}:
		default:
			// Renegotiation is not part of the protocol; a second
			// description is ignored.
			s.log.Debug("ignoring a second remote description", "type", sig.T)
		}
	case wire.SignalCand:
		line := candidateLine(sig.Cand)
		if s.policy == PolicyDirect && isRelayCandidate(line) {
			s.log.Debug("ignoring a remote relay candidate (policy direct)")
			return true
		}
		s.punch.learnRemote(line)
		s.addCandidate(webrtc.ICECandidateInit{Candidate: line, SDPMid: sig.Mid, SDPMLineIndex: sig.Idx})
	case wire.SignalCandEnd:
		s.addCandidate(webrtc.ICECandidateInit{})
	case wire.SignalRestart:
		s.onRestartRequest()
	case wire.SignalReconnect:
		// Also while connecting: the browser gave up the attempt and
		// asks for the next one.
		if s.role != wire.RoleA || !s.resumable {
			s.log.Debug("ignoring a reconnect request")
			return true
		}
		s.log.Info("the peer asks for a new connection")
		s.finish(ErrPeerReconnects)
		return false
	case wire.SignalBye:
		s.finish(fmt.Errorf("%w (%s)", ErrPeerClosed, printable(sig.Reason, 64)))
	default:
		s.log.Debug("ignoring signal", "type", printable(sig.T, 16))
	}
	return true
}

func (s *Session) addCandidate(c webrtc.ICECandidateInit) {
	s.remMu.Lock()
	defer s.remMu.Unlock()
	if !s.remSet {
		if len(s.pendingCand) >= maxPendingCandidates {
			s.log.Debug("dropping a remote candidate: too many before the description")
			return
		}
		s.pendingCand = append(s.pendingCand, c)
		return
	}
	s.addCandidateLocked(c)
}

// addCandidateLocked hands a candidate to pion. remMu must be held. A
// candidate pion rejects is dropped: one bad line must not end a session that
// may well succeed over the others.
func (s *Session) addCandidateLocked(c webrtc.ICECandidateInit) {
	if err := s.pc.AddICECandidate(c); err != nil {
		s.log.Debug("dropping a remote candidate", "err", err)
	}
}

// printable makes peer-supplied text safe for an error message or log: at
// most n runes, control characters replaced.
func printable(s string, n int) string {
	var b strings.Builder
	count := 0
	for _, r := range s {
		if count == n {
			b.WriteString("…")
			break
		}
		count++
		if !unicode.IsPrint(r) {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
