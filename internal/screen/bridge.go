package screen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/logging"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// The bridge: a pion PeerConnection that answers the console page's offer
// on the same machine (docs/screen.md). Host candidates only, loopback
// included; VP8 with NACK, PLI, FIR and REMB and no header extensions, so
// that the browser's encoder follows our REMB rather than its own
// transport-wide estimate of a loopback leg.

const (
	// MaxSDP bounds the page's offer. A browser's offer with one video
	// m-line and its candidates is 4-6 KiB.
	MaxSDP = 64 << 10
	// gatherTimeout bounds host candidate gathering, which takes
	// milliseconds on loopback.
	gatherTimeout = 5 * time.Second
)

// bridgeCodec is the bridge's one codec. No transport-cc: the page's
// bandwidth estimate must come from our REMB.
var bridgeCodec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType:  webrtc.MimeTypeVP8,
		ClockRate: vp8Clock,
		RTCPFeedback: []webrtc.RTCPFeedback{
			{Type: webrtc.TypeRTCPFBNACK},
			{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
			{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
			{Type: webrtc.TypeRTCPFBGoogREMB},
		},
	},
	PayloadType: 96,
}

// bridge is one PeerConnection to the console page.
type bridge struct {
	pc     *webrtc.PeerConnection
	track  *webrtc.TrackLocalStaticRTP // the peer's share, to the page
	ssrc   uint32                      // of track on this bridge, REMB's sender SSRC
	gen    uint64
	remote atomic.Uint32 // SSRC of the page's capture, 0 while none

	mu      sync.Mutex
	closing bool // mu must be held
	wg      sync.WaitGroup
}

// goBridge runs f on a goroutine the bridge owns, unless it is closing.
func (b *bridge) goBridge(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
}

// close closes the PeerConnection and waits for the bridge's goroutines.
func (b *bridge) close() {
	b.mu.Lock()
	b.closing = true
	b.mu.Unlock()
	_ = b.pc.GracefulClose()
	b.wg.Wait()
}

func (s *Service) bridgeAPI() (*webrtc.API, error) {
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(bridgeCodec, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	resp, err := nack.NewResponderInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(resp)
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(rr)
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(sr)

	var se webrtc.SettingEngine
	se.LoggerFactory = &logging.DefaultLoggerFactory{Writer: io.Discard, DefaultLogLevel: logging.LogLevelDisabled}
	se.SetIncludeLoopbackCandidate(true)
	if !s.includeLAN {
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	// The page's candidates are mDNS names; its checks to our loopback
	// candidate arrive from an address we learn as peer-reflexive.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	return webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(se)), nil
}

// Page answers the console page's bridge offer (non-trickle: the answer
// carries all candidates) and replaces any earlier bridge.
func (s *Service) Page(ctx context.Context, offerSDP string) (answerSDP string, err error) {
	if len(offerSDP) > MaxSDP {
		return "", ErrTooLarge
	}
	if !strings.Contains(offerSDP, "m=video ") {
		return "", fmt.Errorf("%w: no video m-line", ErrOffer)
	}
	s.pageMu.Lock()
	defer s.pageMu.Unlock()
	s.mu.Lock()
	closed := s.closed
	s.gen++
	gen := s.gen
	s.mu.Unlock()
	if closed {
		return "", ErrClosed
	}

	b, answer, err := s.newBridge(ctx, offerSDP, gen)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		b.close()
		return "", ErrClosed
	}
	old := s.br
	s.br = b
	s.mu.Unlock()
	if old != nil {
		old.close()
	}
	return answer, nil
}

func (s *Service) newBridge(ctx context.Context, offerSDP string, gen uint64) (*bridge, string, error) {
	api, err := s.bridgeAPI()
	if err != nil {
		return nil, "", fmt.Errorf("screen: bridge: %w", err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, "", fmt.Errorf("screen: bridge: %w", err)
	}
	track, err := webrtc.NewTrackLocalStaticRTP(bridgeCodec.RTPCodecCapability, "screen", "direkt")
	if err != nil {
		_ = pc.Close()
		return nil, "", fmt.Errorf("screen: bridge: %w", err)
	}
	b := &bridge{pc: pc, track: track, gen: gen}
	fail := func(err error) (*bridge, string, error) {
		b.close()
		return nil, "", err
	}
	pc.OnTrack(func(t *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
		b.remote.Store(uint32(t.SSRC()))
		b.goBridge(func() { s.forwardPage(b, t) })
		b.goBridge(func() { drainRTCP(r.ReadRTCP) })
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		s.log.Debug("screen: bridge", "state", st.String())
		if st == webrtc.PeerConnectionStateConnected {
			// A new viewing page needs a keyframe of the peer's share.
			s.mu.Lock()
			viewing := s.viewing && s.br == b
			s.mu.Unlock()
			if viewing {
				notify(s.toPeer)
			}
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}); err != nil {
		return fail(fmt.Errorf("%w: %w", ErrOffer, err))
	}
	video := false
	for _, t := range pc.GetTransceivers() {
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			video = true
		}
	}
	if !video {
		return fail(fmt.Errorf("%w: no video m-line with VP8", ErrOffer))
	}
	// AddTrack takes the transceiver the offer made, so the answer is
	// sendrecv (or sendonly to a page that only views).
	sender, err := pc.AddTrack(track)
	if err != nil {
		return fail(fmt.Errorf("screen: bridge: %w", err))
	}
	if enc := sender.GetParameters().Encodings; len(enc) > 0 {
		b.ssrc = uint32(enc[0].SSRC)
	}
	b.goBridge(func() { s.pageRTCP(sender) })
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: %w", ErrOffer, err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return fail(fmt.Errorf("screen: bridge: %w", err))
	}
	t := time.NewTimer(gatherTimeout)
	defer t.Stop()
	select {
	case <-gathered:
	case <-ctx.Done():
		return fail(context.Cause(ctx))
	case <-t.C:
		return fail(errors.New("screen: bridge: gathering candidates timed out"))
	}
	return b, pc.LocalDescription().SDP, nil
}

func drainRTCP(read func() ([]rtcp.Packet, interceptor.Attributes, error)) {
	for {
		if _, _, err := read(); err != nil {
			return
		}
	}
}

// pageRTCP reads the RTCP the page sends about the peer's share it views:
// a PLI or FIR is relayed to the peer.
func (s *Service) pageRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				notify(s.toPeer)
			}
		}
	}
}

// forwardPage forwards the page's capture to the peer while sending.
func (s *Service) forwardPage(b *bridge, t *webrtc.TrackRemote) {
	for {
		p, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		s.mu.Lock()
		v, on, cur := s.video, s.sending, s.br == b
		s.mu.Unlock()
		if !cur {
			continue // a replaced bridge, closing
		}
		if !on {
			s.st.droppedSending.Add(1)
			s.up.markGap()
			continue
		}
		if v == nil {
			s.up.markGap()
			continue
		}
		strip(p)
		s.up.rewrite(p, source{gen: b.gen, ssrc: p.SSRC}, time.Now())
		if err := v.WriteRTP(p); err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Debug("screen: forward to the peer", "err", err)
			}
			continue
		}
		s.st.pagePackets.Add(1)
		s.st.pageBytes.Add(uint64(len(p.Payload)))
	}
}
