// Package screen is the media of screen sharing (docs/screen.md): it
// forwards the RTP packets of the console page's capture, which arrive over a
// loopback RTCPeerConnection (the bridge, a pion PeerConnection of its own),
// into the session's video stream, and the session peer's share back to the
// page over the same bridge. It never decodes: it strips header extensions,
// keeps sequence numbers and timestamps continuous across new sources,
// relays keyframe requests both ways and tells the capturing page the
// bandwidth toward the peer as REMB.
//
// screen imports session (the video stream) and pion for the bridge; it
// must never import the faces (cli, console, web) or pairing, rendezvous and
// relay.
package screen

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"

	"github.com/direkt/direkt/internal/session"
)

const (
	// keyframeInterval is the least time between two keyframe requests
	// relayed the same way: a viewer's decoder asks again and again while
	// it waits, and every keyframe costs the sharer's encoder a burst.
	keyframeInterval = 300 * time.Millisecond
	// rembInterval is how often the capturing page hears the estimate.
	rembInterval = 500 * time.Millisecond
	// The REMB sent to the page: the estimate toward the peer within
	// [rembMin, rembMax], rembUnknown while there is none. Below rembMin a
	// text screen is not legible; above rembMax a screen at 15 frames per
	// second gains nothing.
	rembMin     = 150_000
	rembMax     = 2_500_000
	rembUnknown = 1_000_000
	// The REMB also stays within rembHeadroom times the most the share
	// sent in any rembInterval of the last rembWindow, and at least
	// rembFloor: GCC's estimate keeps rising while a still screen sends
	// little, and an encoder told so much would burst far past the line
	// as soon as the screen gets busy (libwebrtc caps an application-
	// limited sender likewise). A busy screen doubles its allowance every
	// half second.
	rembHeadroom = 2
	rembFloor    = 500_000
	rembWindow   = 5 * time.Second
)

// Config configures a Service. Every field has a usable zero value.
type Config struct {
	// Logger receives the service's logs. Nil means slog.Default().
	Logger *slog.Logger
	// IncludeLAN offers the bridge's LAN host candidates as well as
	// loopback, for browsers that refuse loopback (Firefox). False means
	// loopback only.
	IncludeLAN bool
}

// Service is one peer's screen sharing media: it forwards its console
// page's capture to the session peer, and the session peer's share to its
// console page. Both ways start gated off (SetSending, SetViewing). Its
// methods are safe for concurrent use; Close it when done.
type Service struct {
	log        *slog.Logger
	includeLAN bool
	// override, when above 0, replaces the estimate the page hears
	// (tests); else it is the attached Video's TargetBitrate.
	override atomic.Int64

	pageMu sync.Mutex // one Page at a time

	mu      sync.Mutex
	closed  bool
	video   *session.Video
	att     *attachment
	br      *bridge
	gen     uint64 // numbers bridges and attachments, for continuity
	sending bool
	viewing bool

	up, down continuity // page → peer, peer → page

	toPage chan struct{} // cap 1: ask the page for a keyframe
	toPeer chan struct{} // cap 1: ask the peer for a keyframe

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	st struct {
		pagePackets, pageBytes         atomic.Uint64
		peerPackets, peerBytes         atomic.Uint64
		droppedSending, droppedViewing atomic.Uint64
		remb                           atomic.Int64
		rembSent                       atomic.Uint64
		keyframesToPage, keyframesPeer atomic.Uint64
	}
}

// Stats counts what a Service forwarded and relayed.
type Stats struct {
	// Sent: packets and payload bytes forwarded page → peer.
	SentPackets, SentBytes uint64
	// Received: packets and payload bytes forwarded peer → page.
	ReceivedPackets, ReceivedBytes uint64
	// DroppedSending and DroppedViewing count packets the gates held back
	// (SetSending, SetViewing).
	DroppedSending, DroppedViewing uint64
	// REMB is the bitrate of the last REMB sent to the page (bit/s), 0
	// before the first; REMBSent counts them.
	REMB     int
	REMBSent uint64
	// KeyframesToPage counts PLIs sent to the capturing page,
	// KeyframesToPeer keyframe requests sent to the session peer.
	KeyframesToPage, KeyframesToPeer uint64
}

// New returns a Service with nothing attached and no bridge.
func New(cfg Config) *Service {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Service{
		log:        log,
		includeLAN: cfg.IncludeLAN,
		toPage:     make(chan struct{}, 1),
		toPeer:     make(chan struct{}, 1),
		ctx:        ctx,
		cancel:     cancel,
	}
	s.wg.Add(3)
	go s.keyframeLoop(s.toPage, s.keyframeToPage)
	go s.keyframeLoop(s.toPeer, s.keyframeToPeer)
	go s.rembLoop()
	return s
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Attach sets the session's video stream (nil detaches). Call again with
// the new session's Video after a rebuilt connection; sequence numbers and
// timestamps continue.
func (s *Service) Attach(v *session.Video) {
	s.mu.Lock()
	old := s.att
	s.att, s.video = nil, v
	if v != nil && !s.closed {
		s.gen++
		s.att = s.startAttachment(v, s.gen)
		// A new session's peer needs a keyframe of our share, and we one
		// of its.
		if s.sending {
			notify(s.toPage)
		}
		if s.viewing {
			notify(s.toPeer)
		}
	}
	s.mu.Unlock()
	if old != nil {
		old.stop()
	}
}

// SetSending gates page → peer: packets are forwarded only while true.
// Every false→true asks the page for a keyframe.
func (s *Service) SetSending(on bool) {
	s.mu.Lock()
	was := s.sending
	s.sending = on
	s.mu.Unlock()
	if on && !was {
		notify(s.toPage)
	}
}

// SetViewing gates peer → page. Every false→true asks the peer for a
// keyframe.
func (s *Service) SetViewing(on bool) {
	s.mu.Lock()
	was := s.viewing
	s.viewing = on
	s.mu.Unlock()
	if on && !was {
		notify(s.toPeer)
	}
}

// Stats: packets/bytes forwarded each way, packets dropped by the gates,
// the current REMB sent to the page, keyframe requests relayed.
func (s *Service) Stats() Stats {
	return Stats{
		SentPackets:     s.st.pagePackets.Load(),
		SentBytes:       s.st.pageBytes.Load(),
		ReceivedPackets: s.st.peerPackets.Load(),
		ReceivedBytes:   s.st.peerBytes.Load(),
		DroppedSending:  s.st.droppedSending.Load(),
		DroppedViewing:  s.st.droppedViewing.Load(),
		REMB:            int(s.st.remb.Load()),
		REMBSent:        s.st.rembSent.Load(),
		KeyframesToPage: s.st.keyframesToPage.Load(),
		KeyframesToPeer: s.st.keyframesPeer.Load(),
	}
}

// Close closes the bridge, detaches the session's video and returns when
// all of the service's goroutines are done. It is safe to call more than
// once and returns nil.
func (s *Service) Close() error {
	s.mu.Lock()
	s.closed = true
	att, br := s.att, s.br
	s.att, s.br, s.video = nil, nil, nil
	s.mu.Unlock()
	if att != nil {
		att.stop()
	}
	if br != nil {
		br.close()
	}
	s.cancel()
	s.wg.Wait()
	return nil
}

// keyframeLoop sends a keyframe request with send for every token on c, at
// most one per keyframeInterval; requests in between are coalesced into the
// next.
func (s *Service) keyframeLoop(c chan struct{}, send func()) {
	defer s.wg.Done()
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-c:
		case <-s.ctx.Done():
			return
		}
		send()
		t.Reset(keyframeInterval)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
	}
}

// keyframeToPage sends a PLI to the capturing page's sender on the bridge.
func (s *Service) keyframeToPage() {
	s.mu.Lock()
	b := s.br
	s.mu.Unlock()
	if b == nil {
		return
	}
	ssrc := b.remote.Load()
	if ssrc == 0 {
		return // its stream starts with a keyframe anyway
	}
	if err := b.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		s.log.Debug("screen: keyframe request to the page", "err", err)
		return
	}
	s.st.keyframesToPage.Add(1)
}

// keyframeToPeer asks the session peer for a keyframe.
func (s *Service) keyframeToPeer() {
	s.mu.Lock()
	v := s.video
	s.mu.Unlock()
	if v == nil {
		return
	}
	if err := v.RequestKeyframe(); err != nil {
		if !errors.Is(err, net.ErrClosed) {
			s.log.Debug("screen: keyframe request to the peer", "err", err)
		}
		return
	}
	s.st.keyframesPeer.Add(1)
}

// estimate is the bitrate the capturing page should send at.
func (s *Service) estimate() int {
	r := int(s.override.Load())
	if r <= 0 {
		s.mu.Lock()
		v := s.video
		s.mu.Unlock()
		if v != nil {
			r = v.TargetBitrate()
		}
	}
	if r <= 0 {
		return rembUnknown
	}
	return min(max(r, rembMin), rembMax)
}

// rembLoop tells the capturing page the estimate every rembInterval (REMB,
// draft-alvestrand-rmcat-remb-03).
func (s *Service) rembLoop() {
	defer s.wg.Done()
	t := time.NewTicker(rembInterval)
	defer t.Stop()
	var (
		sent     [int(rembWindow / rembInterval)]uint64 // bytes sent in each of the last intervals
		i        int
		lastSent = s.st.pageBytes.Load()
	)
	for {
		select {
		case <-t.C:
		case <-s.ctx.Done():
			return
		}
		now := s.st.pageBytes.Load()
		sent[i%len(sent)], lastSent = now-lastSent, now
		i++
		s.mu.Lock()
		b := s.br
		s.mu.Unlock()
		if b == nil {
			continue
		}
		ssrc := b.remote.Load()
		if ssrc == 0 {
			continue
		}
		rate := min(s.estimate(), sentCap(sent[:]))
		remb := &rtcp.ReceiverEstimatedMaximumBitrate{SenderSSRC: b.ssrc, Bitrate: float32(rate), SSRCs: []uint32{ssrc}}
		if err := b.pc.WriteRTCP([]rtcp.Packet{remb}); err != nil {
			s.log.Debug("screen: REMB to the page", "err", err)
			continue
		}
		s.st.remb.Store(int64(rate))
		s.st.rembSent.Add(1)
	}
}

// sentCap is the most the page may be told to send given what it sent in
// the last intervals (bytes each): rembHeadroom times its busiest
// interval's rate, at least rembFloor.
func sentCap(sent []uint64) int {
	peak := uint64(0)
	for _, n := range sent {
		peak = max(peak, n)
	}
	return max(int(peak*8*uint64(time.Second/rembInterval))*rembHeadroom, rembFloor)
}

// attachment reads one attached Video: the peer's packets and its keyframe
// requests.
type attachment struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startAttachment starts reading v. s.mu must be held.
func (s *Service) startAttachment(v *session.Video, gen uint64) *attachment {
	ctx, cancel := context.WithCancel(s.ctx)
	a := &attachment{cancel: cancel}
	a.wg.Add(2)
	go func() {
		defer a.wg.Done()
		s.forwardPeer(ctx, v, gen)
	}()
	go func() {
		defer a.wg.Done()
		for {
			select {
			case <-v.KeyframeRequests():
				notify(s.toPage)
			case <-ctx.Done():
				return
			}
		}
	}()
	return a
}

func (a *attachment) stop() {
	a.cancel()
	a.wg.Wait()
}

// forwardPeer forwards the peer's packets to the page while viewing.
func (s *Service) forwardPeer(ctx context.Context, v *session.Video, gen uint64) {
	for {
		p, err := v.ReadRTP(ctx)
		if err != nil {
			return
		}
		s.mu.Lock()
		b, on := s.br, s.viewing
		s.mu.Unlock()
		if !on {
			s.st.droppedViewing.Add(1)
			s.down.markGap()
			continue
		}
		if b == nil {
			s.down.markGap()
			continue
		}
		strip(p)
		s.down.rewrite(p, source{gen: gen, ssrc: p.SSRC}, time.Now())
		if err := b.track.WriteRTP(p); err != nil {
			s.log.Debug("screen: forward to the page", "err", err)
			continue
		}
		s.st.peerPackets.Add(1)
		s.st.peerBytes.Add(uint64(len(p.Payload)))
	}
}
