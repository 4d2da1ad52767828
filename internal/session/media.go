package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// The session's video transceiver (docs/screen.md, "Negotiation"): one VP8
// stream each way, which a screen-sharing service forwards without decoding.
// The session leg has its own congestion control: transport-wide feedback
// from the peer (draft-holmer-rmcat-transport-wide-cc-extensions-01) drives
// pion's send-side GCC, whose estimate the service passes on to the page
// that encodes.

const (
	// vp8PayloadType is the payload type of VP8 on the session leg.
	vp8PayloadType = 96
	// Bandwidth estimate toward the peer: GCC starts at bweInitial and
	// stays within [bweMin, bweMax]. A screen at 15 frames per second
	// needs well under bweMax; bweMin keeps a text screen legible.
	bweInitial = 1_000_000
	bweMin     = 100_000
	bweMax     = 3_000_000
	// videoQueue bounds the packets received and not yet read by ReadRTP;
	// more are dropped (the NACK generator has already seen them).
	videoQueue = 512
	// transportCCURI names the transport-wide sequence number header
	// extension, the only one on the session leg.
	transportCCURI = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
)

// vp8Codec is the one codec of the video transceiver, with the RTCP
// feedback both ends may send.
var vp8Codec = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{
		MimeType:  webrtc.MimeTypeVP8,
		ClockRate: 90000,
		RTCPFeedback: []webrtc.RTCPFeedback{
			{Type: webrtc.TypeRTCPFBNACK},
			{Type: webrtc.TypeRTCPFBNACK, Parameter: "pli"},
			{Type: webrtc.TypeRTCPFBCCM, Parameter: "fir"},
			{Type: webrtc.TypeRTCPFBGoogREMB},
			{Type: webrtc.TypeRTCPFBTransportCC},
		},
	},
	PayloadType: vp8PayloadType,
}

// mediaAPI returns the media engine and interceptors of a session. Without
// video both are empty: a data-channel-only session builds no interceptor,
// and a video m-line in the peer's offer is rejected for want of a codec.
// bwe receives the bandwidth estimator when the PeerConnection is built.
func mediaAPI(video bool, bwe *atomic.Pointer[cc.BandwidthEstimator]) (*webrtc.MediaEngine, *interceptor.Registry, error) {
	me := &webrtc.MediaEngine{}
	reg := &interceptor.Registry{}
	if !video {
		return me, reg, nil
	}
	if err := me.RegisterCodec(vp8Codec, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, nil, err
	}
	if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: transportCCURI}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, nil, err
	}
	// Order matters: a packet we send passes the interceptors from the
	// last added to the first. The NACK responder keeps packets before
	// they get a transport-wide sequence number, so that a retransmission
	// gets a fresh one, and GCC sees each packet with its number.
	ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		// A leaky bucket at 1.5 times the estimate: a forwarded frame
		// (a keyframe above all) leaves as one burst, which overflows a
		// slow line's queue; the losses then hold pion's loss-based
		// estimate at its floor. Measured over a 600 kbit/s netbed line
		// with a busy screen (TestScreenBottleneck): without a pacer 7 %
		// loss and 1-2 frames a second, with it 0.3 % and 6.
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(bweInitial),
			gcc.SendSideBWEMinBitrate(bweMin),
			gcc.SendSideBWEMaxBitrate(bweMax),
			gcc.SendSideBWEPacer(gcc.NewLeakyBucketPacer(bweInitial)),
		)
	})
	if err != nil {
		return nil, nil, err
	}
	ccf.OnNewPeerConnection(func(_ string, e cc.BandwidthEstimator) { bwe.Store(&e) })
	reg.Add(ccf)
	hdr, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return nil, nil, err
	}
	reg.Add(hdr)
	resp, err := nack.NewResponderInterceptor()
	if err != nil {
		return nil, nil, err
	}
	reg.Add(resp)
	gen, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, nil, err
	}
	reg.Add(gen)
	rr, err := report.NewReceiverInterceptor()
	if err != nil {
		return nil, nil, err
	}
	reg.Add(rr)
	sr, err := report.NewSenderInterceptor()
	if err != nil {
		return nil, nil, err
	}
	reg.Add(sr)
	fb, err := twcc.NewSenderInterceptor(twcc.SendInterval(100 * time.Millisecond))
	if err != nil {
		return nil, nil, err
	}
	reg.Add(fb)
	return me, reg, nil
}

// Video is the session's video stream: one VP8 track each way. Its methods
// are safe for concurrent use.
type Video struct {
	s      *Session
	track  *webrtc.TrackLocalStaticRTP
	sender *webrtc.RTPSender
	bwe    *atomic.Pointer[cc.BandwidthEstimator]
	in     chan *rtp.Packet // what the peer sent, not yet read
	keys   chan struct{}    // cap 1: the peer asked for a keyframe
	remote atomic.Uint32    // SSRC of the peer's stream, 0 while none
	// feedback is set once transport-wide feedback arrived: from then on
	// the estimate is GCC's, not its initial guess.
	feedback atomic.Bool

	sentPackets, sentBytes atomic.Uint64
	recvPackets, recvBytes atomic.Uint64
	dropped                atomic.Uint64
}

// VideoStats counts the packets and payload bytes of a Video.
type VideoStats struct {
	SentPackets, SentBytes         uint64
	ReceivedPackets, ReceivedBytes uint64
	// Dropped counts received packets that found the ReadRTP queue full.
	Dropped uint64
}

func newVideo(s *Session, bwe *atomic.Pointer[cc.BandwidthEstimator]) (*Video, error) {
	track, err := webrtc.NewTrackLocalStaticRTP(vp8Codec.RTPCodecCapability, "video", "direkt")
	if err != nil {
		return nil, fmt.Errorf("session: video track: %w", err)
	}
	return &Video{
		s:     s,
		track: track,
		bwe:   bwe,
		in:    make(chan *rtp.Packet, videoQueue),
		keys:  make(chan struct{}, 1),
	}, nil
}

// Video returns the session's video stream, nil when none was negotiated.
func (s *Session) Video() *Video {
	return s.video.Load()
}

// addVideo (peer a, before the first offer) adds the sendrecv video
// transceiver with our track.
func (s *Session) addVideo(v *Video) error {
	sender, err := s.pc.AddTransceiverFromTrack(v.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		return fmt.Errorf("session: add video transceiver: %w", err)
	}
	s.startVideo(v, sender.Sender())
	return nil
}

// answerVideo (peer b, after the remote offer, before the answer) attaches
// our track to the transceiver the offer's video m-line made: pion's
// AddTrack reuses a transceiver of the same kind that has no sender yet, so
// the answer says sendrecv. Without a video m-line there is no Video.
func (s *Session) answerVideo(v *Video) error {
	found := false
	for _, t := range s.pc.GetTransceivers() {
		if t.Kind() == webrtc.RTPCodecTypeVideo {
			found = true
		}
	}
	if !found {
		return nil
	}
	sender, err := s.pc.AddTrack(v.track)
	if err != nil {
		return fmt.Errorf("session: attach the video track: %w", err)
	}
	s.startVideo(v, sender)
	return nil
}

// videoRejected says whether an answer rejects our video m-line (port 0:
// RFC 8843, section 7.3 and RFC 3264, section 6), as a peer without video
// does.
func videoRejected(answer string) bool {
	for line := range strings.Lines(answer) {
		if rest, ok := strings.CutPrefix(line, "m=video "); ok {
			return strings.HasPrefix(rest, "0 ")
		}
	}
	return true // no video m-line at all
}

// dropVideo (peer a) takes the track off the transceiver before an answer
// that rejected it is applied: pion would otherwise try to start the
// sender with no codec in common and fail the whole answer.
func (s *Session) dropVideo(v *Video) {
	s.video.Store(nil)
	if err := s.pc.RemoveTrack(v.sender); err != nil {
		s.log.Debug("removing the rejected video track", "err", err)
	}
}

// startVideo publishes v and starts reading the sender's RTCP, which also
// feeds the interceptors (NACK responder, GCC) on the way.
func (s *Session) startVideo(v *Video, sender *webrtc.RTPSender) {
	v.sender = sender
	s.video.Store(v)
	s.goVideo(func() { v.readRTCP(sender) })
}

// goVideo runs f on a goroutine the session owns, unless teardown began.
func (s *Session) goVideo(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
	return true
}

// onTrack is pion's callback for the peer's track: read it until teardown.
func (s *Session) onTrack(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	v := s.video.Load()
	if v == nil || track.Kind() != webrtc.RTPCodecTypeVideo {
		return
	}
	v.remote.Store(uint32(track.SSRC()))
	s.goVideo(func() { v.readTrack(track) })
	s.goVideo(func() {
		for {
			if _, _, err := recv.ReadRTCP(); err != nil {
				return
			}
		}
	})
}

func (v *Video) readTrack(track *webrtc.TrackRemote) {
	for {
		p, _, err := track.ReadRTP()
		if err != nil {
			if !errors.Is(err, io.EOF) && v.s.ctx.Err() == nil {
				v.s.log.Debug("video track ended", "err", err)
			}
			return
		}
		v.recvPackets.Add(1)
		v.recvBytes.Add(uint64(len(p.Payload)))
		select {
		case v.in <- p:
		default:
			v.dropped.Add(1)
		}
	}
}

func (v *Video) readRTCP(sender *webrtc.RTPSender) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				select {
				case v.keys <- struct{}{}:
				default:
				}
			case *rtcp.TransportLayerCC:
				v.feedback.Store(true)
			}
		}
	}
}

func (v *Video) closedErr() error {
	return fmt.Errorf("session: video: %w", net.ErrClosed)
}

// WriteRTP sends one packet to the peer. The session sets SSRC and payload
// type; the caller keeps sequence numbers and timestamps continuous and
// strips header extensions. After the session ended it returns an error
// wrapping net.ErrClosed.
func (v *Video) WriteRTP(p *rtp.Packet) error {
	if isClosed(v.s.done) {
		return v.closedErr()
	}
	if err := v.track.WriteRTP(p); err != nil {
		if isClosed(v.s.done) {
			return v.closedErr()
		}
		return fmt.Errorf("session: video: %w", err)
	}
	v.sentPackets.Add(1)
	v.sentBytes.Add(uint64(len(p.Payload)))
	return nil
}

// ReadRTP returns the next packet the peer sent (header extensions of the
// session leg still on it), blocking until one arrives, ctx ends or the
// session ends (error wrapping net.ErrClosed). The peer's track may start at
// any time after Connect.
func (v *Video) ReadRTP(ctx context.Context) (*rtp.Packet, error) {
	select {
	case p := <-v.in:
		return p, nil
	default:
	}
	select {
	case p := <-v.in:
		return p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-v.s.done:
		return nil, v.closedErr()
	}
}

// KeyframeRequests receives a value whenever the peer asks for a keyframe
// (PLI or FIR) of what we send; coalesced (buffer 1).
func (v *Video) KeyframeRequests() <-chan struct{} { return v.keys }

// RequestKeyframe sends a PLI for the stream we receive (no-op while
// nothing was received yet).
func (v *Video) RequestKeyframe() error {
	if isClosed(v.s.done) {
		return v.closedErr()
	}
	ssrc := v.remote.Load()
	if ssrc == 0 {
		return nil
	}
	if err := v.s.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
		if isClosed(v.s.done) {
			return v.closedErr()
		}
		return fmt.Errorf("session: video: keyframe request: %w", err)
	}
	return nil
}

// TargetBitrate is the send-side estimate of the bandwidth toward the peer
// in bit/s, 0 while unknown (no transport-wide feedback yet).
func (v *Video) TargetBitrate() int {
	e := v.bwe.Load()
	if e == nil || !v.feedback.Load() {
		return 0
	}
	return (*e).GetTargetBitrate()
}

// Stats: packets and bytes sent and received so far.
func (v *Video) Stats() VideoStats {
	return VideoStats{
		SentPackets:     v.sentPackets.Load(),
		SentBytes:       v.sentBytes.Load(),
		ReceivedPackets: v.recvPackets.Load(),
		ReceivedBytes:   v.recvBytes.Load(),
		Dropped:         v.dropped.Load(),
	}
}
