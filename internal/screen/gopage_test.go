package screen

import (
	"context"
	"encoding/binary"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// goPage is a pion PeerConnection in the place of a console page: it
// offers a bridge to a Service and shares numbered packets or receives.
type goPage struct {
	pc     *webrtc.PeerConnection
	answer string
	track  *webrtc.TrackLocalStaticRTP // sharing
	got    chan *rtp.Packet            // viewing: what arrived
	rtcp   chan rtcp.Packet            // sharing: what the Service sent about our stream
	remote atomicSSRC                  // viewing: the SSRC we receive
	wg     sync.WaitGroup
}

type atomicSSRC struct {
	mu   sync.Mutex
	ssrc uint32
}

func (a *atomicSSRC) set(v uint32) { a.mu.Lock(); a.ssrc = v; a.mu.Unlock() }
func (a *atomicSSRC) get() uint32  { a.mu.Lock(); defer a.mu.Unlock(); return a.ssrc }

// newGoPage bridges a new goPage to svc and waits until it is connected.
// The page uses pion's default codecs and interceptors, so it offers
// header extensions and transport-cc as a browser does.
func newGoPage(t *testing.T, ctx context.Context, svc *Service, share bool) *goPage {
	t.Helper()
	var se webrtc.SettingEngine
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	p := &goPage{pc: pc, got: make(chan *rtp.Packet, 4096), rtcp: make(chan rtcp.Packet, 4096)}
	t.Cleanup(p.close)
	if share {
		p.track, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "v", "page")
		if err != nil {
			t.Fatal(err)
		}
		tr, err := pc.AddTransceiverFromTrack(p.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
		if err != nil {
			t.Fatal(err)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				pkts, _, err := tr.Sender().ReadRTCP()
				if err != nil {
					return
				}
				for _, k := range pkts {
					select {
					case p.rtcp <- k:
					default:
					}
				}
			}
		}()
	} else {
		if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		closed := false
		pc.OnTrack(func(tr *webrtc.TrackRemote, r *webrtc.RTPReceiver) {
			p.remote.set(uint32(tr.SSRC()))
			mu.Lock()
			defer mu.Unlock()
			if closed {
				return
			}
			p.wg.Add(2)
			go func() {
				defer p.wg.Done()
				for {
					pkt, _, err := tr.ReadRTP()
					if err != nil {
						return
					}
					select {
					case p.got <- pkt:
					default:
					}
				}
			}()
			go func() {
				defer p.wg.Done()
				drainRTCP(func() ([]rtcp.Packet, interceptor.Attributes, error) { return r.ReadRTCP() })
			}()
		})
		t.Cleanup(func() { mu.Lock(); closed = true; mu.Unlock() })
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	p.answer, err = svc.Page(ctx, pc.LocalDescription().SDP)
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: p.answer}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("the page's bridge did not connect")
	}
	return p
}

func (p *goPage) close() {
	_ = p.pc.GracefulClose()
	p.wg.Wait()
}

// send writes packets [from, to) of a stream that starts at seq0 and ts0,
// one every 5 ms; the payload carries the packet's index.
func (p *goPage) send(t *testing.T, from, to int, seq0 uint16, ts0 uint32) {
	t.Helper()
	for i := from; i < to; i++ {
		payload := make([]byte, 300)
		binary.BigEndian.PutUint32(payload, uint32(i))
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq0 + uint16(i), Timestamp: ts0 + uint32(i/3)*3000, Marker: i%3 == 2}, Payload: payload}
		if err := p.track.WriteRTP(pkt); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receive reads up to n packets from a viewing page: all n within d, or
// at least 95 % of them and then nothing for a second (a packet lost at the
// end of a burst has no successor that would reveal it to NACK). It checks
// that they carry no header extension and that sequence numbers and
// timestamps go forward (a retransmission may come late), and returns the
// payload indexes, sorted.
func (p *goPage) receive(t *testing.T, n int, d time.Duration, last *rtp.Header) []uint32 {
	t.Helper()
	var idx []uint32
	timeout := time.After(d)
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
	for len(idx) < n {
		select {
		case pkt := <-p.got:
			if pkt.Extension || len(pkt.Extensions) > 0 {
				t.Fatalf("a packet with header extensions reached the page: %v", pkt.Header)
			}
			ds := int16(pkt.SequenceNumber - last.SequenceNumber)
			if last.SSRC != 0 && ds > 50 {
				t.Fatalf("sequence number %d after %d", pkt.SequenceNumber, last.SequenceNumber)
			}
			if last.SSRC == 0 || ds > 0 {
				if last.SSRC != 0 && int32(pkt.Timestamp-last.Timestamp) < 0 {
					t.Fatalf("timestamp %d after %d", pkt.Timestamp, last.Timestamp)
				}
				*last = pkt.Header
			}
			idx = append(idx, binary.BigEndian.Uint32(pkt.Payload))
			quiet.Reset(time.Second)
		case <-quiet.C:
			if len(idx) >= n*95/100 {
				t.Logf("received %d of %d packets", len(idx), n)
				slices.Sort(idx)
				return idx
			}
		case <-timeout:
			t.Fatalf("received %d of %d packets within %s", len(idx), n, d)
		}
	}
	slices.Sort(idx)
	return idx
}

// TestBridgeGo runs the chain with pion in the places of both pages: the
// bridge's answer, forwarding, gating, continuity across a new bridge,
// keyframe relay and REMB, without a browser.
func TestBridgeGo(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := sessionPair(t, ctx)
	svcA := New(Config{Logger: testLogger()})
	t.Cleanup(func() { _ = svcA.Close() })
	svcB := New(Config{Logger: testLogger()})
	t.Cleanup(func() { _ = svcB.Close() })
	svcA.Attach(a.Video())
	svcB.Attach(b.Video())
	svcA.SetSending(true)
	svcB.SetViewing(true)

	sharer := newGoPage(t, ctx, svcA, true)
	viewer := newGoPage(t, ctx, svcB, false)
	for _, p := range []*goPage{sharer, viewer} {
		ans := p.answer
		if !strings.Contains(ans, " 127.0.0.1 ") || !strings.Contains(ans, "a=end-of-candidates") {
			t.Errorf("answer without its loopback candidate or end-of-candidates:\n%s", ans)
		}
		for _, bad := range []string{"a=extmap:", "transport-cc", "typ srflx", "typ relay"} {
			if strings.Contains(ans, bad) {
				t.Errorf("answer has %q:\n%s", bad, ans)
			}
		}
		for _, good := range []string{"VP8/90000", "goog-remb", "nack pli", "ccm fir"} {
			if !strings.Contains(ans, good) {
				t.Errorf("answer lacks %q:\n%s", good, ans)
			}
		}
	}
	if !strings.Contains(sharer.answer, "a=sendrecv") || !strings.Contains(viewer.answer, "a=sendonly") {
		t.Errorf("answers' directions: sharer\n%s\nviewer\n%s", sharer.answer, viewer.answer)
	}

	var last rtp.Header
	sharer.send(t, 0, 100, 40000, 7777)
	got := viewer.receive(t, 100, 10*time.Second, &last)
	if got[0] > 5 || got[len(got)-1] > 99 {
		t.Errorf("indexes %d…%d, want 0…99", got[0], got[len(got)-1])
	}

	// Gated off: nothing reaches the viewer.
	svcA.SetSending(false)
	before := svcA.Stats()
	sharer.send(t, 100, 150, 40000, 7777)
	select {
	case pkt := <-viewer.got:
		t.Fatalf("packet %d arrived while not sending", binary.BigEndian.Uint32(pkt.Payload))
	case <-time.After(500 * time.Millisecond):
	}
	if st := svcA.Stats(); st.SentPackets != before.SentPackets || st.DroppedSending < before.DroppedSending+50 {
		t.Errorf("stats while not sending: %+v, before %+v", st, before)
	}
	// Resuming asks the page for a keyframe.
	svcA.SetSending(true)
	waitPLI(t, sharer)
	sharer.send(t, 150, 200, 40000, 7777)
	got = viewer.receive(t, 50, 10*time.Second, &last)
	if got[0] < 150 {
		t.Errorf("index %d after resuming at 150", got[0])
	}

	// A new bridge of the sharer: new SSRC, its own numbering; the
	// viewer's numbers go on.
	sharer.close()
	sharer = newGoPage(t, ctx, svcA, true)
	sharer.send(t, 0, 50, 123, 99)
	if got := viewer.receive(t, 50, 10*time.Second, &last); got[0] > 5 || got[len(got)-1] > 49 {
		t.Errorf("indexes %d…%d from the new bridge, want 0…49", got[0], got[len(got)-1])
	}

	// The viewer's PLI reaches the sharer's page.
	for len(sharer.rtcp) > 0 {
		<-sharer.rtcp
	}
	if err := viewer.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: viewer.remote.get()}}); err != nil {
		t.Fatal(err)
	}
	waitPLI(t, sharer)

	// REMB every 500 ms, within [rembMin, rembMax].
	deadline := time.After(3 * time.Second)
	for {
		var p rtcp.Packet
		select {
		case p = <-sharer.rtcp:
		case <-deadline:
			t.Fatalf("no REMB within 3 s; stats %+v", svcA.Stats())
		}
		if r, ok := p.(*rtcp.ReceiverEstimatedMaximumBitrate); ok {
			if r.Bitrate < rembMin || r.Bitrate > rembMax {
				t.Errorf("REMB of %v bit/s", r.Bitrate)
			}
			break
		}
	}
	t.Logf("service A: %+v", svcA.Stats())
	t.Logf("service B: %+v", svcB.Stats())
}

// waitPLI waits up to 3 s for a PLI to the sharing page.
func waitPLI(t *testing.T, p *goPage) {
	t.Helper()
	deadline := time.After(3 * time.Second)
	for {
		select {
		case k := <-p.rtcp:
			if _, ok := k.(*rtcp.PictureLossIndication); ok {
				return
			}
		case <-deadline:
			t.Fatal("no PLI at the sharing page within 3 s")
		}
	}
}

// TestBridgeLAN: with IncludeLAN the answer offers the machine's LAN
// addresses besides loopback; without, loopback only.
func TestBridgeLAN(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var lan string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && n.IP.IsGlobalUnicast() {
			lan = n.IP.String()
		}
	}
	if lan == "" {
		t.Skip("no LAN IPv4 address on this machine")
	}
	for _, include := range []bool{false, true} {
		svc := New(Config{Logger: testLogger(), IncludeLAN: include})
		p := newGoPage(t, ctx, svc, false)
		if got := strings.Contains(p.answer, " "+lan+" "); got != include {
			t.Errorf("IncludeLAN %v: answer has %s: %v\n%s", include, lan, got, p.answer)
		}
		if !strings.Contains(p.answer, " 127.0.0.1 ") {
			t.Errorf("IncludeLAN %v: no loopback candidate", include)
		}
		p.close()
		_ = svc.Close()
	}
}
