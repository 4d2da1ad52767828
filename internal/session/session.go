// Package session is one connected pair of peers: a pion/webrtc PeerConnection
// set up over an authenticated signalling channel, with labelled byte-stream
// channels for services and a report of the path the connection took.
//
// Connect runs the offer/answer exchange and trickle ICE over a Signaller
// (docs/protocol.md, section 5), waits for ICE, DTLS and SCTP, and then proves
// on the negotiated "ctl" data channel that both peers hold the pairing key and
// saw the same two DTLS certificates (channel binding, section 6). Only then is
// the Session handed out. Services open and accept Channels, which are plain
// io.ReadWriteClosers over detached, ordered, reliable data channels.
//
// Services (transfer, consult, screen) use Session and Channel only; they never
// touch pion. session imports wire (signalling message types) and portmap
// (port mapping on the gateway, a protocol leaf) and nothing else of
// direkt's; it must never import pairing, rendezvous, relay or anything above
// it (cli, console, services).
package session

import (
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/transport/v5"
	"github.com/pion/webrtc/v4"

	"github.com/direkt/direkt/internal/portmap"
	"github.com/direkt/direkt/internal/wire"
)

// Signaller carries sealed signalling messages to the other peer and back. It
// is implemented by pairing (sealed frames over the rendezvous mailbox). Send
// and Recv may be called concurrently with each other, but each only from one
// goroutine at a time. Recv returns messages in the order the peer sent them.
//
// A Session owns its Signaller from Connect until Close: it keeps receiving
// (late candidates, "bye") and sends "bye" when it closes. Both methods must
// return promptly once their context is cancelled. An error from Recv after
// Connect succeeded is not a failure of the session (the mailbox may have
// closed); the session just stops listening.
type Signaller interface {
	Send(ctx context.Context, s wire.Signal) error
	Recv(ctx context.Context) (wire.Signal, error)
}

// Config configures Connect. Role and Signaller are required; every other
// field has a usable zero value.
type Config struct {
	// Role is wire.RoleA (the offerer, ICE controlling) or wire.RoleB (the
	// answerer).
	Role byte
	// Signaller carries the signalling messages. Required.
	Signaller Signaller
	// ICEServers are the STUN and TURN servers from the rendezvous "paired"
	// frame: stun:, turn: and turns: URLs, optionally with ?transport=udp|tcp.
	// Empty means host candidates only.
	ICEServers []wire.ICEServer
	// Policy restricts the path; zero is PolicyAuto.
	Policy Policy
	// BindingKey is wire.Keys.Binding, the key of the channel-binding proof
	// (docs/protocol.md, section 6). Both peers must hold the same key.
	BindingKey [32]byte
	// Net is the network pion uses. Nil means the real network; tests pass a
	// pion vnet.Net.
	Net transport.Net
	// IncludeLoopback gathers host candidates on loopback interfaces, which
	// pion leaves out by default. For two peers on one machine.
	IncludeLoopback bool
	// Logger receives the session's logs and, at debug level, pion's. Nil
	// means slog.Default().
	Logger *slog.Logger
	// PortMap asks the gateway to forward the port of each private IPv4
	// host candidate (PCP, NAT-PMP or UPnP IGD; package portmap) and
	// trickles the mapped public address as an extra server-reflexive
	// candidate, so that a peer behind a hard NAT is reachable directly.
	// Nil means as $DIREKT_PORTMAP says (PortMapEnv; unset: none), and none
	// with a test Net. Ignored with PolicyRelay.
	PortMap *portmap.Config
	// PunchTTL is the IP TTL (IPv6 hop limit) of the packets that open our
	// NAT toward the peer before any of ours may reach the peer's NAT
	// (punch.go): enough hops to leave our own NATs, too few to reach the
	// peer's. Zero means 2 (one NAT at the first hop); negative turns
	// pre-punching and its gate off (plain ICE).
	PunchTTL int
	// PunchDelay is how long after a socket's candidate went to the
	// signaller its packets to the peer stay TTL-limited, unless the peer
	// is heard from first: time for the peer to learn the candidate and
	// pre-punch toward it. Zero means 150 ms; negative means no delay.
	PunchDelay time.Duration
	// Restarts is how many ICE restarts in a row may try to bring the
	// path back when it fails after Connect (restart.go). Zero means 3;
	// negative means none: the session ends when its path fails, as it
	// must with a peer that does not answer a second offer.
	Restarts int
	// RestartOnRequest makes peer a restart ICE only when peer b asks with
	// a "restart" signal, never on its own: the browser client asks as soon
	// as it sees its path go, and a join page that cannot answer a second
	// offer never asks, so its path is not cut while it may yet recover.
	// Peer a then waits up to restartRequestWait after its path failed for
	// the request or for the path to come back. Ignored for peer b.
	RestartOnRequest bool
	// Resumable (peer a with RestartOnRequest only) lets the browser peer
	// ask for a whole new connection with a "reconnect" signal when its
	// DTLS transport failed (docs/protocol.md, section 5.2): the session
	// then ends with ErrPeerReconnects and stops reading the Signaller, so
	// that the caller can Connect again over it. A resumable session sends
	// no "bye" when it fails (only when closed): the caller decides whether
	// the pairing goes on. Its heartbeat is 0x01, which tells the browser
	// that it may ask.
	Resumable bool
	// TURNDial opens the TCP and TLS connections to TURN servers: through
	// a proxy, with a private CA for turns: (turndial.go). Nil means pion
	// dials them directly and checks turns: against the system's roots.
	TURNDial *TURNDial
	// Video negotiates the video transceiver of screen sharing (media.go):
	// peer a offers one, sendrecv; peer b attaches its track when the
	// offer has one. False means a data-channel-only session: peer a
	// offers no video m-line and peer b rejects one.
	Video bool

	// iceFailedTimeout overrides how long ICE may go without a working
	// path before it gives up (tests). Zero means defaultICEFailed.
	iceFailedTimeout time.Duration
	// relayWait overrides relayAcceptanceWait (tests under the race
	// detector, which slows ICE's checks several times). Zero means
	// relayAcceptanceWait.
	relayWait time.Duration
	// linger overrides how long Channel.Close waits without progress
	// (tests). Zero means defaultLinger.
	linger time.Duration
}

const (
	// ctlLabel and ctlID name the negotiated control channel: negotiated
	// out of band (RFC 8832, section 6: no DCEP), so it needs no signalling
	// and exists on both sides as soon as SCTP is up.
	ctlLabel = "ctl"
	ctlID    = 0

	// ICE consent (RFC 7675) and failure timing. pion's default failed
	// timeout is 25 s on top of the 5 s disconnected timeout; 10 s is enough
	// to ride out a Wi-Fi hand-over without leaving a user staring at a dead
	// session for half a minute.
	defaultICEDisconnected = 5 * time.Second
	defaultICEFailed       = 10 * time.Second
	iceKeepalive           = 2 * time.Second

	// How long after ICE started the controlling agent holds back a valid
	// pair of each kind, in case a better one turns up (RFC 8445, section
	// 8.1.1 leaves the timing open; pion's defaults are 0, 500 ms, 1 s and
	// 2 s). Measured in internal/netbed's sites at 40 ms RTT
	// (BenchmarkBedMatrix): the first valid direct pair appears 80-410 ms
	// after the start (the last one the peer-reflexive pair of a symmetric
	// NAT), a relay pair after 130-230 ms. A relay wait of 800 ms keeps
	// twice that margin for direct paths and lets a cell that can only be
	// relayed connect within 2 s; a host pair (same LAN) still beats a
	// server-reflexive one, which appears a round trip through the
	// rendezvous later anyway.
	srflxAcceptanceWait = 300 * time.Millisecond
	prflxAcceptanceWait = 300 * time.Millisecond
	relayAcceptanceWait = 800 * time.Millisecond

	// byeTimeout bounds how long teardown waits for the "bye" to leave.
	byeTimeout = time.Second
	// bindingDrainTimeout bounds how long a failed binding waits for our own
	// proof to reach the peer, so that the peer reports ErrBinding too.
	bindingDrainTimeout = 2 * time.Second

	// maxPendingCandidates caps remote candidates queued before the remote
	// description arrives, and maxAcceptQueue the channels the peer opened
	// that nobody has accepted yet: a misbehaving peer must not grow them
	// without bound.
	maxPendingCandidates = 256
	maxAcceptQueue       = 64
)

// Session is one connected pair of peers. Its methods are safe for concurrent
// use. When its path fails it restarts ICE (restart.go); when that fails too,
// or the peer leaves, Done is closed and the session is over. Call Close when done with it, also after Done, to wait
// for its teardown.
type Session struct {
	role   byte
	policy Policy
	log    *slog.Logger
	sig    Signaller
	pc     *webrtc.PeerConnection
	punch  *puncher // nil when pre-punching is off
	relays *relayGuard
	// relayWait is how long after ICE starts a relayed pair may be
	// nominated.
	relayWait time.Duration

	// ctx lives from Connect until teardown; it bounds the signalling
	// goroutines. cancel is called by the reaper.
	ctx    context.Context
	cancel context.CancelFunc

	// wg counts the goroutines the session owns besides the reaper: the
	// signal sender and receiver.
	wg sync.WaitGroup

	connected atomic.Bool // setup finished; signalling errors no longer fatal

	finishOnce sync.Once
	done       chan struct{} // closed by finish
	err        error         // why done was closed; written once before close(done)
	dead       chan struct{} // closed by the reaper when everything is down

	// Outgoing signals (see post*): one sender goroutine preserves order.
	outMu      sync.Mutex
	out        []outSignal
	held       []outSignal // candidates gathered before the description was queued
	descPosted bool
	outWake    chan struct{}

	// Remote description and the candidates that arrived before it.
	remMu       sync.Mutex
	remSet      bool
	pendingCand []webrtc.ICECandidateInit
	descCh      chan webrtc.SessionDescription

	// Channels: the ctl channel once open, and the peer's channels waiting
	// for Accept. closing is set by the reaper; after it nothing is queued.
	ctlCh      chan detached
	boundCtl   chan detached // the ctl channel after the binding, for heartbeatLoop
	mu         sync.Mutex
	closing    bool
	accepted   []*Channel
	acceptWake chan struct{}

	// localFP is the SHA-256 of our certificate's DER (channel binding).
	localFP [32]byte
	// linger bounds each wait of Channel.Close.
	linger time.Duration

	pathMu sync.Mutex
	path   Path

	rs *restarter // ICE restarts and path changes
	// resumable: see Config.Resumable.
	resumable bool
	// quiet: Drop closed it, so no "bye".
	quiet atomic.Bool

	// video is the video stream once negotiated (media.go); wantVideo
	// (peer b) attaches one to an offered video m-line.
	video     atomic.Pointer[Video]
	wantVideo *Video
}

type outSignal struct {
	sig  wire.Signal
	sent chan struct{} // closed after Send returned; nil if nobody waits
}

// Connect builds the PeerConnection, exchanges offer, answer and candidates
// over cfg.Signaller, and returns once ICE, DTLS and SCTP are up and the
// channel binding on the ctl channel succeeded: this peer checked the peer's
// proof, and sent its own. ctx bounds the whole setup; on failure everything is
// torn down before Connect returns. After success ctx no longer matters.
func Connect(ctx context.Context, cfg Config) (*Session, error) {
	s, err := newSession(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.setup(ctx, cfg.BindingKey); err != nil {
		s.finish(err)
		<-s.dead
		return nil, err
	}
	return s, nil
}

func newSession(cfg Config) (*Session, error) {
	if cfg.Role != wire.RoleA && cfg.Role != wire.RoleB {
		return nil, fmt.Errorf("%w: role %q is neither a nor b", ErrConfig, cfg.Role)
	}
	if cfg.Signaller == nil {
		return nil, fmt.Errorf("%w: nil Signaller", ErrConfig)
	}
	switch cfg.Policy {
	case PolicyAuto, PolicyDirect, PolicyRelay:
	default:
		return nil, fmt.Errorf("%w: unknown policy %d", ErrConfig, int(cfg.Policy))
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("role", string(cfg.Role))

	cert, err := newCertificate()
	if err != nil {
		return nil, err
	}

	var se webrtc.SettingEngine
	se.LoggerFactory = pionLogs{log: log}
	// Detached channels are plain streams we read and write ourselves;
	// pion's OnMessage callbacks would copy every message and give us no
	// backpressure.
	se.DetachDataChannels()
	punch := newPuncher(cfg.PunchTTL, cfg.PunchDelay, log)
	relays := newRelayGuard(cfg.ICEServers)
	punch.setGuard(relays)
	if cfg.Net != nil {
		se.SetNet(punch.wrapNet(cfg.Net))
	} else if n, err := newBufferedNet(); err == nil {
		se.SetNet(punch.wrapNet(n))
	}
	se.SetIncludeLoopbackCandidate(cfg.IncludeLoopback)
	failed := cfg.iceFailedTimeout
	if failed == 0 {
		failed = defaultICEFailed
	}
	se.SetICETimeouts(defaultICEDisconnected, failed, iceKeepalive)
	se.SetSrflxAcceptanceMinWait(srflxAcceptanceWait)
	se.SetPrflxAcceptanceMinWait(prflxAcceptanceWait)
	relayWait := cmp.Or(cfg.relayWait, relayAcceptanceWait)
	se.SetRelayAcceptanceMinWait(relayWait)
	se.SetICEMaxBindingRequests(maxBindingRequests) // punch.go
	if cfg.Policy == PolicyRelay {
		// With only relay candidates there is nothing to wait for.
		se.SetRelayAcceptanceMinWait(0)
	}
	// Advertise the largest message we read (RFC 8841, section 6): a
	// browser peer must not send more in one message than Channel buffers.
	se.SetSCTPMaxMessageSize(maxInbound)
	se.SetSCTPRTOMax(sctpRTOMax)
	setTURNDial(&se, cfg.TURNDial, cfg.ICEServers)

	policy := webrtc.ICETransportPolicyAll
	if cfg.Policy == PolicyRelay {
		policy = webrtc.ICETransportPolicyRelay
	}
	bwe := new(atomic.Pointer[cc.BandwidthEstimator])
	me, reg, err := mediaAPI(cfg.Video, bwe)
	if err != nil {
		return nil, fmt.Errorf("session: media engine: %w", err)
	}
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg))
	pc, err := api.NewPeerConnection(webrtc.Configuration{
		ICEServers:         iceServers(cfg.ICEServers, cfg.Policy),
		ICETransportPolicy: policy,
		Certificates:       []webrtc.Certificate{cert.cert},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s := &Session{
		role:       cfg.Role,
		policy:     cfg.Policy,
		log:        log,
		sig:        cfg.Signaller,
		pc:         pc,
		punch:      punch,
		relays:     relays,
		relayWait:  relayWait,
		ctx:        ctx,
		cancel:     cancel,
		done:       make(chan struct{}),
		dead:       make(chan struct{}),
		outWake:    make(chan struct{}, 1),
		descCh:     make(chan webrtc.SessionDescription, 1),
		ctlCh:      make(chan detached, 1),
		boundCtl:   make(chan detached, 1),
		acceptWake: make(chan struct{}, 1),
		rs:         newRestarter(cfg.Restarts, cfg.RestartOnRequest && cfg.Role == wire.RoleA),
	}
	s.localFP = cert.fp
	s.resumable = cfg.Resumable && s.rs.onRequest
	s.linger = cfg.linger
	if s.linger == 0 {
		s.linger = defaultLinger
	}

	pc.OnICECandidate(s.withPortMap(cfg, s.onLocalCandidate))
	pc.OnConnectionStateChange(s.onConnectionState)
	pc.OnICEConnectionStateChange(s.onICEState)
	pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(s.onSelectedPair)
	pc.OnDataChannel(s.onRemoteChannel)
	pc.OnTrack(s.onTrack)
	if cfg.Video {
		v, err := newVideo(s, bwe)
		if err == nil && cfg.Role == wire.RoleA {
			err = s.addVideo(v)
		}
		if err != nil {
			cancel()
			_ = pc.GracefulClose()
			return nil, err
		}
		s.wantVideo = v
	}

	negotiated, id := true, uint16(ctlID)
	ctl, err := pc.CreateDataChannel(ctlLabel, &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
	if err != nil {
		cancel()
		_ = pc.GracefulClose()
		return nil, fmt.Errorf("session: create ctl channel: %w", err)
	}
	ctl.OnOpen(func() {
		d, err := detach(ctl)
		if err != nil {
			s.finish(err)
			return
		}
		select {
		case s.ctlCh <- d:
		default: // cannot happen: ctl opens once
			_ = d.Close()
		}
	})

	if cfg.Net == nil && len(relays.names) > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			relays.resolve(ctx)
		}()
	}
	s.wg.Add(3)
	go s.sendLoop()
	go s.recvLoop()
	go s.restartLoop()
	if s.rs.onRequest {
		s.wg.Add(1)
		go s.heartbeatLoop()
	}
	go s.reap()
	return s, nil
}

// setup runs the offer/answer exchange and the channel binding.
func (s *Session) setup(ctx context.Context, key [32]byte) error {
	if s.role == wire.RoleA {
		offer, err := s.pc.CreateOffer(nil)
		if err != nil {
			return s.ioFailure("create offer", err)
		}
		if err := s.pc.SetLocalDescription(offer); err != nil {
			return s.ioFailure("set local offer", err)
		}
		s.postDescription(wire.Signal{T: wire.SignalOffer, SDP: offer.SDP})
		answer, err := s.awaitDescription(ctx)
		if err != nil {
			return err
		}
		if v := s.video.Load(); v != nil && videoRejected(answer.SDP) {
			s.dropVideo(v)
		}
		if err := s.setRemote(answer); err != nil {
			return err
		}
	} else {
		offer, err := s.awaitDescription(ctx)
		if err != nil {
			return err
		}
		if err := s.setRemote(offer); err != nil {
			return err
		}
		if s.wantVideo != nil {
			if err := s.answerVideo(s.wantVideo); err != nil {
				return err
			}
		}
		answer, err := s.pc.CreateAnswer(nil)
		if err != nil {
			return s.ioFailure("create answer", err)
		}
		if err := s.pc.SetLocalDescription(answer); err != nil {
			return s.ioFailure("set local answer", err)
		}
		s.postDescription(wire.Signal{T: wire.SignalAnswer, SDP: answer.SDP})
	}

	var ctl detached
	select {
	case ctl = <-s.ctlCh:
	case <-s.done:
		return s.closedErr()
	case <-ctx.Done():
		return s.setupTimeout(ctx)
	}
	if err := s.bind(ctx, ctl, key); err != nil {
		return err
	}
	s.boundCtl <- ctl // cap 1, sent once
	s.connected.Store(true)
	p := s.Path()
	s.log.Debug("session connected", "path", p.String())
	s.punch.logStats()
	return nil
}

func (s *Session) setupTimeout(ctx context.Context) error {
	return fmt.Errorf("session: connect: %w (ICE %s, DTLS %s)", context.Cause(ctx),
		s.pc.ICEConnectionState(), s.pc.SCTP().Transport().State())
}

// awaitDescription waits for the peer's offer or answer.
func (s *Session) awaitDescription(ctx context.Context) (webrtc.SessionDescription, error) {
	select {
	case d := <-s.descCh:
		return d, nil
	case <-s.done:
		return webrtc.SessionDescription{}, s.closedErr()
	case <-ctx.Done():
		return webrtc.SessionDescription{}, fmt.Errorf("session: connect: waiting for the peer's description: %w", context.Cause(ctx))
	}
}

// setRemote applies the peer's description, then the candidates that arrived
// before it (trickle ICE, RFC 8838, section 10: candidates may not be added
// before the description they belong to).
func (s *Session) setRemote(d webrtc.SessionDescription) error {
	if s.policy == PolicyDirect {
		d.SDP = stripRelayCandidates(d.SDP)
	}
	s.punch.learnSDP(d.SDP)
	s.relays.started(s.relayWait)
	s.remMu.Lock()
	defer s.remMu.Unlock()
	if err := s.pc.SetRemoteDescription(d); err != nil {
		if isClosed(s.done) {
			return s.closedErr()
		}
		return fmt.Errorf("%w: remote %s: %w", ErrProtocol, d.Type, err)
	}
	s.remSet = true
	for _, c := range s.pendingCand {
		s.addCandidateLocked(c)
	}
	s.pendingCand = nil
	return nil
}

// bind runs the channel binding of docs/protocol.md, section 6 on the ctl
// channel: send our proof first, then check the peer's.
func (s *Session) bind(ctx context.Context, ctl detached, key [32]byte) error {
	remoteDER := s.pc.SCTP().Transport().GetRemoteCertificate()
	if len(remoteDER) == 0 {
		return fmt.Errorf("%w: no remote certificate after the handshake", ErrDTLS)
	}
	remoteFP := sha256.Sum256(remoteDER)
	fpA, fpB := s.localFP[:], remoteFP[:]
	peer := wire.RoleB
	if s.role == wire.RoleB {
		fpA, fpB = fpB, fpA
		peer = wire.RoleA
	}
	own := wire.BindingProof(key, s.role, fpA, fpB)
	want := wire.BindingProof(key, peer, fpA, fpB)

	// A Read blocked on the ctl channel returns when ctx ends (deadline)
	// or when teardown closes the PeerConnection.
	stop := context.AfterFunc(ctx, func() { _ = ctl.SetReadDeadline(time.Now()) })
	defer stop()

	if _, err := ctl.Write(own); err != nil {
		return s.ioFailure("send binding proof", err)
	}
	// The proof is 32 bytes; a bigger message fails with ErrShortBuffer,
	// which is as wrong as a bad proof.
	buf := make([]byte, 2*len(want))
	n, err := ctl.Read(buf)
	if err != nil && !errors.Is(err, io.ErrShortBuffer) {
		if ctx.Err() != nil {
			return s.setupTimeout(ctx)
		}
		return s.ioFailure("read binding proof", err)
	}
	if err != nil || !hmac.Equal(buf[:n], want) {
		// Let our proof reach the peer before teardown, so that it fails
		// with ErrBinding as well rather than with a closed connection.
		dctx, cancel := context.WithTimeout(ctx, bindingDrainTimeout)
		drained(dctx, ctl, s.done)
		cancel()
		s.log.Warn("channel binding failed: the peer's proof does not match")
		return ErrBinding
	}
	return nil
}

// ioFailure explains an I/O error during setup: usually the session ended
// (peer gone, DTLS failed) and its cause is the better error.
func (s *Session) ioFailure(what string, err error) error {
	if isClosed(s.done) {
		return s.closedErr()
	}
	return fmt.Errorf("session: %s: %w", what, err)
}

// finish ends the session with err (nil for a local Close). The first cause
// wins; the reaper does the teardown.
func (s *Session) finish(err error) {
	s.finishOnce.Do(func() {
		s.err = err
		close(s.done)
	})
}

// reap tears the session down once done is closed: "bye" to the peer, stop
// the signalling goroutines, close pion and wait for all of it.
func (s *Session) reap() {
	<-s.done
	if s.err == nil {
		s.log.Debug("session closing")
	} else {
		s.log.Debug("session ending", "cause", s.err)
	}
	// A resumable session that failed leaves the mailbox to the caller,
	// which may build the next connection over it.
	if !s.quiet.Load() && !errors.Is(s.err, ErrPeerClosed) && !errors.Is(s.err, ErrSignalling) &&
		!errors.Is(s.err, ErrPeerReconnects) && (s.err == nil || !s.resumable) {
		reason := "closed"
		if s.err != nil {
			reason = "failed"
		}
		sent := s.postBye(reason)
		t := time.NewTimer(byeTimeout)
		select {
		case <-sent:
		case <-t.C:
		}
		t.Stop()
	}

	s.mu.Lock()
	s.closing = true
	queued := s.accepted
	s.accepted = nil
	s.mu.Unlock()

	s.cancel()
	if err := s.pc.GracefulClose(); err != nil {
		s.log.Debug("closing the peer connection", "err", err)
	}
	s.wg.Wait()
	for _, c := range queued {
		_ = c.rwc.Close()
	}
	close(s.dead)
}

// Done is closed when the session ended: the connection failed, the peer
// closed it, or Close was called. Err tells which.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err returns why Done was closed: nil after a local Close (or while the
// session is up), an error matching ErrPeerClosed when the peer ended it,
// ErrICEFailed when the path was lost.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close ends the session: it sends "bye" over the Signaller if it can (for at
// most a second), closes the PeerConnection and returns when pion and all of
// the session's goroutines are down. Data not yet delivered on channels that
// were not closed first is lost: Close each Channel you wrote to before
// closing the Session. Close is safe to call more than once and always
// returns nil.
func (s *Session) Close() error {
	s.finish(nil)
	<-s.dead
	return nil
}

// Drop closes the session as Close does, but sends no "bye": the caller
// goes on over the Signaller with a new session (docs/protocol.md,
// section 5.2). A "bye" that is already queued may still go out.
func (s *Session) Drop() error {
	s.quiet.Store(true)
	return s.Close()
}

// Path reports the path of the selected candidate pair. It is refreshed on
// every call while the session is up (ICE may switch pairs) and frozen at its
// last value afterwards.
func (s *Session) Path() Path {
	s.pathMu.Lock()
	defer s.pathMu.Unlock()
	select {
	case <-s.done:
	default:
		if p, ok := selectedPath(s.pc); ok {
			s.path = s.relays.unmask(p)
		}
	}
	return s.path
}

// onConnectionState maps pion's connection state to the session's fate.
func (s *Session) onConnectionState(st webrtc.PeerConnectionState) {
	s.log.Debug("peer connection state", "state", st.String(),
		"ice", s.pc.ICEConnectionState().String(), "dtls", s.pc.SCTP().Transport().State().String())
	switch st {
	case webrtc.PeerConnectionStateFailed:
		// Failed means ICE or DTLS failed. pion calls this handler on a
		// goroutine of its own, so ICE may have moved on by now: a
		// restart may be checking already. DTLS does not leave failed,
		// but may not be marked yet; with ICE up, DTLS it was.
		if s.pc.SCTP().Transport().State() == webrtc.DTLSTransportStateFailed || s.iceConnected() {
			s.finish(ErrDTLS)
			return
		}
		if s.restartsPath() {
			return // restartLoop brings it back or ends the session
		}
		s.finish(ErrICEFailed)
	case webrtc.PeerConnectionStateClosed:
		// We closed it (then done is already closed and this is a no-op),
		// or pion closed it on a DTLS alert from the peer: close_notify
		// when it closed, a fatal alert when it rejected our certificate.
		// pion may report closed before it marks DTLS failed; a close
		// before DTLS ever connected is a failed handshake either way.
		if dtls := s.pc.SCTP().Transport().State(); dtls == webrtc.DTLSTransportStateFailed ||
			(!s.connected.Load() && dtls != webrtc.DTLSTransportStateConnected) {
			s.finish(ErrDTLS)
			return
		}
		s.finish(ErrPeerClosed)
	}
}

// certificate is our DTLS certificate and the SHA-256 of its DER, which the
// channel binding covers.
type certificate struct {
	cert webrtc.Certificate
	fp   [32]byte
}

// newCertificate generates a fresh self-signed ECDSA P-256 certificate for
// one session. pion does not hand out the DER of a certificate it generates
// itself, so we generate it and read the DER back from its PEM form.
func newCertificate() (certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return certificate{}, fmt.Errorf("session: certificate key: %w", err)
	}
	cert, err := webrtc.GenerateCertificate(key)
	if err != nil {
		return certificate{}, fmt.Errorf("session: certificate: %w", err)
	}
	pemText, err := cert.PEM()
	if err != nil {
		return certificate{}, fmt.Errorf("session: certificate: %w", err)
	}
	rest := []byte(pemText)
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return certificate{}, errors.New("session: certificate: no CERTIFICATE block in pion's PEM")
		}
		if b.Type == "CERTIFICATE" {
			return certificate{cert: *cert, fp: sha256.Sum256(b.Bytes)}, nil
		}
	}
}
