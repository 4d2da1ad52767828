package session

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/direkt/direkt/internal/wire"
)

// ICE restart (RFC 8445, section 2.4; docs/protocol.md, section 5.1).
//
// When the selected path fails after Connect — an interface went down, the
// address changed, a NAT forgot its mapping — ICE goes "disconnected" after
// defaultICEDisconnected without a packet from the peer. The session then
// restarts ICE over the still-open Signaller instead of ending: peer a (the
// offerer) sends a new offer with fresh ICE credentials, gathers and trickles
// new candidates, and peer b answers as it did at first. DTLS and SCTP run on
// unchanged over the new pair, so channels and what is in flight on them
// survive: SCTP retransmits what the dead path lost. Peer b, when it notices
// first, asks a with a "restart" signal. Only a offers, so two restarts can
// never cross (no glare).
//
// With a browser peer (Config.RestartOnRequest) peer a never starts an
// episode on its own: it waits for b's request, which the browser sends
// sooner than a would notice, or for the path to come back by itself.
//
// Restarts are bounded: an episode makes at most Config.Restarts attempts,
// each waiting restartAnswerTimeout for the answer and restartAttemptTimeout
// for ICE to connect; then the session ends with ErrICEFailed, as it would
// have without restarts.

const (
	// defaultRestarts is the number of attempts per episode.
	defaultRestarts = 3
	// restartAnswerTimeout bounds the wait for the answer to a restart
	// offer: the mailbox round trip. Without an answer the signalling is
	// gone and no later attempt could do better.
	restartAnswerTimeout = 15 * time.Second
	// restartAttemptTimeout bounds how long one attempt waits for ICE to
	// connect after the answer; it covers gathering (STUN, TURN
	// allocations) and the checks, which take well under a second on a
	// working network. An attempt that gathered while the network was
	// still down finds nothing, so the next one should come soon.
	restartAttemptTimeout = 5 * time.Second
	// sctpRTOMax caps SCTP's retransmission timeout. pion's default of 60 s
	// doubles through an outage of a few seconds into a pause of tens of
	// seconds after the path is back; 3 s resumes a transfer promptly and
	// still leaves SCTP's backoff room on slow paths.
	sctpRTOMax = 3 * time.Second
	// restartRequestWait bounds how long peer a with RestartOnRequest waits
	// for b's request after its path failed: b's mailbox connection may
	// have died with the network, and b may take the server's whole grace
	// to re-open it before it can ask.
	restartRequestWait = wire.ReopenGrace + restartAnswerTimeout
	// heartbeatInterval is how often peer a with RestartOnRequest sends a
	// heartbeat on ctl. A browser cannot tell from ICE that its path stopped
	// carrying data: after a NAT flush Chromium's consent checks went on
	// passing for 15 s while nothing else arrived, and an unplugged path
	// stayed "connected" for as long. A byte a second on the path is what
	// it can watch (docs/protocol.md, section 5.1).
	heartbeatInterval = time.Second
)

// ReconnectWait bounds how long peer a waits, after a resumable session
// with a browser ended, for the browser's "reconnect" (docs/protocol.md,
// section 5.2): as long as it waits for a restart request.
const ReconnectWait = restartRequestWait

// restarter is the restart state of one Session.
type restarter struct {
	max       int  // attempts per episode; 0: restarts off
	onRequest bool // peer a restarts only when b asks

	lost    chan struct{} // cap 1: ICE reported the path failed
	asked   chan struct{} // cap 1: peer b asked for a restart (peer a)
	answers chan struct{} // cap 1: a restart answer was applied (peer a)
	offers  chan struct{} // cap 1: a restart offer was answered (peer b)
	sigGone chan struct{} // closed by recvLoop when the Signaller failed after connect

	restarts atomic.Int64 // restart offers made (peer a) or answered (peer b)

	mu      sync.Mutex
	pathCh  chan struct{} // closed at the next path change; mu must be held
	iceCh   chan struct{} // closed at the next ICE state change; mu must be held
	episode bool          // an episode runs; mu must be held
}

func newRestarter(n int, onRequest bool) *restarter {
	switch {
	case n == 0:
		n = defaultRestarts
	case n < 0:
		n = 0
	}
	return &restarter{
		max:       n,
		onRequest: onRequest,
		lost:      make(chan struct{}, 1),
		asked:     make(chan struct{}, 1),
		answers:   make(chan struct{}, 1),
		offers:    make(chan struct{}, 1),
		sigGone:   make(chan struct{}),
		pathCh:    make(chan struct{}),
		iceCh:     make(chan struct{}),
	}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func drain(c chan struct{}) {
	select {
	case <-c:
	default:
	}
}

// PathChanged returns a channel that is closed when the selected candidate
// pair changes after it was returned (an ICE restart found a new path, or
// ICE switched pairs) or when the session ends. Read Path for the new path,
// and call PathChanged again for the next change.
func (s *Session) PathChanged() <-chan struct{} {
	s.rs.mu.Lock()
	defer s.rs.mu.Unlock()
	return s.rs.pathCh
}

// onSelectedPair is pion's selected-pair callback.
func (s *Session) onSelectedPair(*webrtc.ICECandidatePair) {
	s.pathChanged()
}

func (s *Session) pathChanged() {
	s.rs.mu.Lock()
	close(s.rs.pathCh)
	s.rs.pathCh = make(chan struct{})
	s.rs.mu.Unlock()
}

// onICEState feeds the restart loop: it wakes everyone waiting for ICE to
// connect, and reports a lost path.
func (s *Session) onICEState(st webrtc.ICEConnectionState) {
	s.rs.mu.Lock()
	close(s.rs.iceCh)
	s.rs.iceCh = make(chan struct{})
	s.rs.mu.Unlock()
	switch st {
	case webrtc.ICEConnectionStateDisconnected, webrtc.ICEConnectionStateFailed:
		if s.connected.Load() && s.rs.max > 0 {
			notify(s.rs.lost)
		}
	}
}

// iceChanged returns a channel that is closed at the next ICE state change.
// Take it before reading the state, so that no change is missed: any number
// of goroutines may wait on it, unlike a single wake-up token.
func (s *Session) iceChanged() <-chan struct{} {
	s.rs.mu.Lock()
	defer s.rs.mu.Unlock()
	return s.rs.iceCh
}

// restartsPath says whether a failed ICE connection is the restart loop's to
// handle rather than the end of the session.
func (s *Session) restartsPath() bool {
	return s.rs.max > 0 && s.connected.Load()
}

// restartLoop runs restart episodes until teardown. It is one of the
// goroutines wg counts.
func (s *Session) restartLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.rs.lost:
			if s.iceConnected() {
				continue // recovered on its own before we got here
			}
			if s.rs.onRequest {
				asked, err := s.awaitRequest(restartRequestWait)
				if err != nil {
					if s.ctx.Err() == nil {
						s.log.Warn("the path to the peer failed and the peer did not ask for an ICE restart", "err", err)
						s.finish(fmt.Errorf("%w: %w", ErrICEFailed, err))
					}
					return
				}
				if !asked {
					continue // the path came back by itself
				}
			}
		case <-s.rs.asked:
			// Peer b lost the path even if we still hear it: restart.
		}
		s.rs.mu.Lock()
		s.rs.episode = true
		s.rs.mu.Unlock()
		before := s.Path()
		var err error
		switch {
		case isClosed(s.rs.sigGone):
			// No signalling, no restart: the path may still come back by
			// itself within ICE's failed timeout.
			if err = s.awaitICE(defaultICEFailed); err != nil {
				err = fmt.Errorf("signalling closed, so no restart: %w", err)
			}
		case s.role == wire.RoleA:
			err = s.restartAsOfferer()
		default:
			err = s.restartAsAnswerer()
		}
		s.rs.mu.Lock()
		s.rs.episode = false
		s.rs.mu.Unlock()
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("the path to the peer failed and ICE restarts did not bring it back", "err", err)
				s.finish(fmt.Errorf("%w: %w", ErrICEFailed, err))
			}
			return
		}
		after := s.Path()
		s.log.Info("ICE restart found a new path", "before", before.String(), "after", after.String())
		s.pathChanged()
		// States and requests from during the episode are history.
		drain(s.rs.lost)
		drain(s.rs.asked)
	}
}

func (s *Session) iceConnected() bool {
	switch s.pc.ICEConnectionState() {
	case webrtc.ICEConnectionStateConnected, webrtc.ICEConnectionStateCompleted:
		return true
	}
	return false
}

// restartAsOfferer makes up to max attempts: a new offer with fresh ICE
// credentials, the answer, then ICE connecting.
func (s *Session) restartAsOfferer() error {
	for attempt := 1; attempt <= s.rs.max; attempt++ {
		s.log.Info("restarting ICE", "attempt", attempt)
		drain(s.rs.answers)
		// Candidates of the new generation wait until the offer is queued:
		// pion starts gathering inside CreateOffer.
		s.holdCandidates()
		offer, err := s.pc.CreateOffer(&webrtc.OfferOptions{ICERestart: true})
		if err == nil {
			err = s.pc.SetLocalDescription(offer)
		}
		if err != nil {
			s.releaseCandidates()
			return fmt.Errorf("restart offer: %w", err)
		}
		s.postDescription(wire.Signal{T: wire.SignalOffer, SDP: offer.SDP})
		s.rs.restarts.Add(1)
		if err := s.awaitOr(s.rs.answers, restartAnswerTimeout); err != nil {
			return fmt.Errorf("waiting for the restart answer: %w", err)
		}
		if err := s.awaitICE(restartAttemptTimeout); err == nil {
			return nil
		} else if s.ctx.Err() != nil {
			return err
		}
	}
	return fmt.Errorf("%d restart attempts failed", s.rs.max)
}

// restartAsAnswerer asks peer a for a restart and waits while recvLoop
// answers a's offers, until ICE is up again. Peer a makes further attempts
// by itself; b asks again only when a's last attempt connected on a's side
// but not on b's. When no offer follows a request within
// restartAnswerTimeout+restartAttemptTimeout, the signalling is not getting
// through (the mailbox connection died with the network) and b gives up.
func (s *Session) restartAsAnswerer() error {
	per := restartAnswerTimeout + restartAttemptTimeout
	total := time.Duration(s.rs.max) * per
	deadline := time.Now().Add(total)
	drain(s.rs.offers)
	offered := false   // an offer came since the last request
	var turn time.Time // when the wait for the peer's next move ends
	for asked, ask := 0, true; ; {
		changed := s.iceChanged()
		if s.iceConnected() {
			return nil
		}
		if ask {
			if asked == s.rs.max {
				return fmt.Errorf("%d restart requests brought no new path", asked)
			}
			asked++
			offered = false
			s.log.Info("asking the peer to restart ICE", "attempt", asked)
			s.postSignal(wire.Signal{T: wire.SignalRestart})
			turn = time.Now().Add(per)
		}
		ask = false
		if time.Until(deadline) <= 0 {
			return fmt.Errorf("no new path within %s", total)
		}
		t := time.NewTimer(max(0, min(time.Until(deadline), time.Until(turn))))
		select {
		case <-changed: // connected? checked at the top
		case <-s.rs.offers:
			offered = true // a's attempt runs; it makes the next one itself
			turn = time.Now().Add(per)
		case <-t.C:
			if !offered {
				return fmt.Errorf("the peer did not answer the restart request within %s", per)
			}
			ask = true
		case <-s.rs.sigGone:
			t.Stop()
			// The path may still come back by itself.
			if err := s.awaitICE(defaultICEFailed); err != nil {
				return fmt.Errorf("%w: %w", errSignallingGone, err)
			}
			return nil
		case <-s.ctx.Done():
			t.Stop()
			return s.ctx.Err()
		}
		t.Stop()
	}
}

// heartbeatLoop sends a heartbeat (one zero byte) on the ctl channel every
// heartbeatInterval once the binding is done, unless the last one is still
// queued (the path is down: SCTP retransmits it when it is back). It is one
// of the goroutines wg counts.
func (s *Session) heartbeatLoop() {
	defer s.wg.Done()
	var ctl detached
	select {
	case ctl = <-s.boundCtl:
	case <-s.ctx.Done():
		return
	}
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	beat := []byte{0}
	if s.resumable {
		beat[0] = 1 // the browser may ask for a new connection (section 5.2)
	}
	for {
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
		if ctl.BufferedAmount() > 0 {
			continue
		}
		if _, err := ctl.Write(beat); err != nil {
			s.log.Debug("heartbeat stopped", "err", err)
			return
		}
	}
}

// awaitRequest waits, at most d, for peer b's restart request (true) or for
// ICE to connect again by itself (false); without signalling, only for the
// latter, at most defaultICEFailed.
func (s *Session) awaitRequest(d time.Duration) (bool, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		changed := s.iceChanged()
		if s.iceConnected() {
			return false, nil
		}
		select {
		case <-s.rs.asked:
			return true, nil
		case <-s.rs.sigGone:
			// No request can come any more (the browser left the
			// mailbox): the path may still come back by itself.
			if err := s.awaitICE(defaultICEFailed); err != nil {
				return false, fmt.Errorf("%w: %w", errSignallingGone, err)
			}
			return false, nil
		case <-changed:
		case <-t.C:
			return false, fmt.Errorf("no restart request within %s", d)
		case <-s.ctx.Done():
			return false, s.ctx.Err()
		}
	}
}

// awaitOr waits for c, at most d, and fails at once when the signalling
// closed.
func (s *Session) awaitOr(c chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return nil
	case <-t.C:
		return fmt.Errorf("timed out after %s", d)
	case <-s.rs.sigGone:
		return errSignallingGone
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

var errSignallingGone = errors.New("the signalling closed")

// awaitICE waits until ICE is connected, at most d.
func (s *Session) awaitICE(d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		changed := s.iceChanged()
		if s.iceConnected() {
			return nil
		}
		select {
		case <-changed:
		case <-t.C:
			return fmt.Errorf("ICE did not connect within %s", d)
		case <-s.ctx.Done():
			return s.ctx.Err()
		}
	}
}

// onRestartRequest handles peer b's "restart" signal on peer a.
func (s *Session) onRestartRequest() {
	if s.role != wire.RoleA || !s.restartsPath() {
		s.log.Debug("ignoring a restart request")
		return
	}
	s.rs.mu.Lock()
	running := s.rs.episode
	s.rs.mu.Unlock()
	if running {
		return // the running episode covers it
	}
	notify(s.rs.asked)
}

// onRestartDescription applies an offer or answer that arrives after
// Connect: a restart. It runs on recvLoop, so the candidates that follow the
// description in the signalling are added after it.
func (s *Session) onRestartDescription(sig wire.Signal) {
	if !s.restartsPath() {
		s.log.Debug("ignoring a description after connect: restarts are off", "type", sig.T)
		return
	}
	switch {
	case s.role == wire.RoleA && sig.T == wire.SignalAnswer:
		if s.pc.SignalingState() != webrtc.SignalingStateHaveLocalOffer {
			s.log.Debug("ignoring an answer without a pending offer")
			return
		}
		if err := s.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sig.SDP}); err != nil {
			s.finish(err)
			return
		}
		notify(s.rs.answers)
	case s.role == wire.RoleB && sig.T == wire.SignalOffer:
		// pion restarts ICE and starts gathering inside
		// SetRemoteDescription; hold the candidates until the answer.
		s.holdCandidates()
		if err := s.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sig.SDP}); err != nil {
			s.finish(err)
			return
		}
		answer, err := s.pc.CreateAnswer(nil)
		if err == nil {
			err = s.pc.SetLocalDescription(answer)
		}
		if err != nil {
			s.finish(s.ioFailure("restart answer", err))
			return
		}
		s.postDescription(wire.Signal{T: wire.SignalAnswer, SDP: answer.SDP})
		s.rs.restarts.Add(1)
		s.log.Info("answered an ICE restart")
		notify(s.rs.offers)
	default:
		s.finish(fmt.Errorf("%w: %q from peer %s after connect", ErrProtocol, sig.T, peerRole(s.role)))
	}
}

func peerRole(own byte) string {
	if own == wire.RoleA {
		return "b"
	}
	return "a"
}

// holdCandidates makes local candidates wait for the next postDescription.
func (s *Session) holdCandidates() {
	s.outMu.Lock()
	s.descPosted = false
	s.outMu.Unlock()
}

// releaseCandidates sends the held candidates without a description: a
// restart that failed before its description was queued.
func (s *Session) releaseCandidates() {
	s.outMu.Lock()
	s.out = append(s.out, s.held...)
	s.held = nil
	s.descPosted = true
	s.outMu.Unlock()
	s.wakeSender()
}

// postSignal queues a signal that is neither a description nor a candidate.
func (s *Session) postSignal(sig wire.Signal) {
	s.outMu.Lock()
	s.out = append(s.out, outSignal{sig: sig})
	s.outMu.Unlock()
	s.wakeSender()
}
