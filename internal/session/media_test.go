package session

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"

	"github.com/direkt/direkt/internal/wire"
)

// videoSender writes numbered packets of size bytes to v every interval
// until ctx ends: payload = 4-byte index, then filler derived from it.
func videoSender(ctx context.Context, v *Video, size int, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for i := uint32(0); ; i++ {
		if err := v.WriteRTP(numbered(i, size)); err != nil {
			return err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return nil
		}
	}
}

func numbered(i uint32, size int) *rtp.Packet {
	payload := make([]byte, size)
	binary.BigEndian.PutUint32(payload, i)
	for j := 4; j < size; j++ {
		payload[j] = byte(i) ^ byte(j)
	}
	return &rtp.Packet{
		Header:  rtp.Header{Version: 2, SequenceNumber: uint16(i), Timestamp: i * 3000, Marker: true},
		Payload: payload,
	}
}

// checkNumbered reads from v until it saw n intact packets.
func checkNumbered(ctx context.Context, v *Video, n, size int) error {
	for seen := 0; seen < n; {
		p, err := v.ReadRTP(ctx)
		if err != nil {
			return err
		}
		if len(p.Payload) != size {
			return errors.New("payload of " + itoa(int64(len(p.Payload))) + " bytes")
		}
		want := numbered(binary.BigEndian.Uint32(p.Payload), size)
		if !bytes.Equal(p.Payload, want.Payload) {
			return errors.New("payload changed on the way")
		}
		if p.PayloadType != vp8PayloadType {
			return errors.New("payload type " + itoa(int64(p.PayloadType)))
		}
		if p.SequenceNumber != want.SequenceNumber {
			return errors.New("sequence number changed on the way")
		}
		seen++
	}
	return nil
}

// videoPair connects a and b with video as given, over loopback.
func videoPair(t *testing.T, ctx context.Context, videoA, videoB bool, base Config) (a, b *Session, sa, sb *pipeSignaller) {
	t.Helper()
	base.IncludeLoopback = true
	ca, cb, sa, sb := pairConfigs(base)
	ca.Video, cb.Video = videoA, videoB
	// The offer as a non-trickle peer would send it: with an
	// a=candidate line for each candidate we trickled.
	var mu sync.Mutex
	var offer string
	var cands int
	sa.setTamper(func(s wire.Signal) (wire.Signal, bool) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case s.T == wire.SignalOffer && offer == "":
			offer = s.SDP
		case s.T == wire.SignalCand:
			cands += len("a=\r\n") + len(s.Cand)
		}
		return s, true
	})
	a, b = mustConnect(t, ctx, ca, cb)
	sa.setTamper(nil)
	mu.Lock()
	defer mu.Unlock()
	t.Logf("offer with video: %d bytes, with its candidates %d (wire.MaxSDP %d)", len(offer), len(offer)+cands, wire.MaxSDP)
	if len(offer)+cands > wire.MaxSDP/2 {
		t.Errorf("offer of %d bytes with candidates leaves too little room under wire.MaxSDP", len(offer)+cands)
	}
	return a, b, sa, sb
}

// TestVideo sends packets both ways over the video transceiver, relays a
// keyframe request, and checks the bandwidth estimate and the statistics.
func TestVideo(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, sigA, sigB := videoPair(t, ctx, true, true, Config{})
	va, vb := a.Video(), b.Video()
	if va == nil || vb == nil {
		t.Fatalf("Video() = %v, %v; want both", va, vb)
	}
	for _, s := range []*Session{a, b} {
		// b's AddTrack took the transceiver the offer made: one each.
		if n := len(s.pc.GetTransceivers()); n != 1 {
			t.Errorf("peer %c has %d transceivers, want 1", s.role, n)
		}
		for _, tr := range s.pc.GetTransceivers() {
			if d := tr.Direction(); d.String() != "sendrecv" {
				t.Errorf("peer %c: transceiver %s is %s, want sendrecv", s.role, tr.Mid(), d)
			}
		}
	}

	// Nothing sent yet: ReadRTP ends with its context.
	short, stopShort := context.WithTimeout(ctx, 50*time.Millisecond)
	if _, err := va.ReadRTP(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ReadRTP with nothing sent: %v, want context.DeadlineExceeded", err)
	}
	stopShort()
	if err := va.RequestKeyframe(); err != nil {
		t.Errorf("RequestKeyframe before anything was received: %v", err)
	}
	if r := va.TargetBitrate(); r != 0 {
		t.Errorf("TargetBitrate before any feedback: %d, want 0", r)
	}

	// ~500 kbit/s each way: 1100-byte packets every 17 ms, for 4 s.
	const size = 1100
	sctx, stop := context.WithCancel(ctx)
	errs := make(chan error, 4)
	go func() { errs <- videoSender(sctx, va, size, 17*time.Millisecond) }()
	go func() { errs <- videoSender(sctx, vb, size, 17*time.Millisecond) }()
	go func() { errs <- checkNumbered(ctx, vb, 100, size) }()
	go func() { errs <- checkNumbered(ctx, va, 100, size) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}

	// A PLI from b reaches a's KeyframeRequests, and one from a b's.
	for _, c := range []struct{ from, to *Video }{{vb, va}, {va, vb}} {
		select {
		case <-c.to.KeyframeRequests():
		default:
		}
		if err := c.from.RequestKeyframe(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.to.KeyframeRequests():
		case <-time.After(5 * time.Second):
			t.Fatal("no keyframe request within 5 s")
		}
	}

	deadline := time.Now().Add(10 * time.Second)
	for va.TargetBitrate() <= 0 || vb.TargetBitrate() <= 0 {
		if time.Now().After(deadline) {
			t.Fatalf("TargetBitrate = %d, %d after 10 s", va.TargetBitrate(), vb.TargetBitrate())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	t.Logf("target bitrate a→b %d, b→a %d bit/s", va.TargetBitrate(), vb.TargetBitrate())
	if r := va.TargetBitrate(); r < bweMin || r > bweMax {
		t.Errorf("TargetBitrate = %d, outside [%d, %d]", r, bweMin, bweMax)
	}
	stop()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	st := va.Stats()
	if st.SentPackets < 100 || st.SentBytes != st.SentPackets*size || st.ReceivedPackets < 100 {
		t.Errorf("a's stats %+v", st)
	}

	// An ICE restart keeps the video m-line, and packets flow after it.
	offers := make(chan string, 4)
	sigA.setTamper(func(s wire.Signal) (wire.Signal, bool) {
		if s.T == wire.SignalOffer {
			offers <- s.SDP
		}
		return s, true
	})
	changed := a.PathChanged()
	if err := sigB.Send(ctx, wire.Signal{T: wire.SignalRestart}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("no path change after the restart request")
	}
	if o := <-offers; !strings.Contains(o, "m=video 9 ") || !strings.Contains(o, "a=sendrecv") {
		t.Errorf("restart offer without a sendrecv video m-line:\n%s", o)
	}
	sigA.setTamper(nil)
	if err := a.awaitICE(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	for len(vb.in) > 0 {
		<-vb.in
	}
	sctx, stop = context.WithCancel(ctx)
	go func() { errs <- videoSender(sctx, va, size, 17*time.Millisecond) }()
	if err := checkNumbered(ctx, vb, 20, size); err != nil {
		t.Fatalf("after the restart: %v", err)
	}
	stop()
	if err := <-errs; err != nil {
		t.Fatal(err)
	}

	// Reading the rest and writing after the end fail with net.ErrClosed.
	_ = a.Close()
	if err := va.WriteRTP(numbered(0, size)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("WriteRTP after Close: %v, want net.ErrClosed", err)
	}
	for {
		_, err := va.ReadRTP(ctx)
		if errors.Is(err, net.ErrClosed) {
			break
		}
		if err != nil {
			t.Fatalf("ReadRTP after Close: %v, want net.ErrClosed", err)
		}
	}
	if err := va.RequestKeyframe(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("RequestKeyframe after Close: %v, want net.ErrClosed", err)
	}
}

// TestVideoOff checks that a session without video offers no video m-line,
// and that peer a with video and peer b without connect with channels and
// no video.
func TestVideoOff(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range []struct {
		name   string
		va, vb bool
	}{{"neither", false, false}, {"a only", true, false}, {"b only", false, true}} {
		t.Run(c.name, func(t *testing.T) {
			base := Config{IncludeLoopback: true}
			ca, cb, sa, sb := pairConfigs(base)
			ca.Video, cb.Video = c.va, c.vb
			var offer, answer string
			sa.setTamper(func(s wire.Signal) (wire.Signal, bool) {
				if s.T == wire.SignalOffer {
					offer = s.SDP
				}
				return s, true
			})
			sb.setTamper(func(s wire.Signal) (wire.Signal, bool) {
				if s.T == wire.SignalAnswer {
					answer = s.SDP
				}
				return s, true
			})
			a, b := mustConnect(t, ctx, ca, cb)
			sa.setTamper(nil)
			sb.setTamper(nil)
			t.Logf("offer: %d bytes", len(offer))
			if got := strings.Contains(offer, "m=video"); got != c.va {
				t.Errorf("offer has m=video: %v, want %v", got, c.va)
			}
			if c.va && !strings.Contains(answer, "m=video 0 ") && !strings.Contains(answer, "a=inactive") {
				t.Errorf("b without video accepted the video m-line:\n%s", answer)
			}
			if a.Video() != nil || b.Video() != nil {
				t.Errorf("Video() = %v, %v; want nil, nil", a.Video(), b.Video())
			}
			done := make(chan error, 1)
			go func() {
				ch, err := b.Accept(ctx)
				if err != nil {
					done <- err
					return
				}
				_, err = io.Copy(ch, ch)
				_ = ch.Close()
				done <- err
			}()
			ch, err := a.Open(ctx, "echo")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ch.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5)
			if _, err := io.ReadFull(ch, buf); err != nil || string(buf) != "hello" {
				t.Fatalf("echo %q, %v", buf, err)
			}
			_ = ch.Close()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVideoRejected(t *testing.T) {
	for _, c := range []struct {
		sdp  string
		want bool
	}{
		{"v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", false},
		{"v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", true},
		{"v=0\nm=video 0 UDP/TLS/RTP/SAVPF 0\n", true},
		{"v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n", true},
		{"", true},
	} {
		if got := videoRejected(c.sdp); got != c.want {
			t.Errorf("videoRejected(%q) = %v, want %v", c.sdp, got, c.want)
		}
	}
}

// FuzzVideoRejected: any answer is judged without a panic, and an answer
// whose first video m-line has port 0 is rejected.
func FuzzVideoRejected(f *testing.F) {
	f.Add("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n")
	f.Add("m=video 0 x\r\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		got := videoRejected(sdp)
		if got {
			return
		}
		i := strings.Index(sdp, "m=video ")
		if i < 0 || (i > 0 && sdp[i-1] != '\n') {
			// Accepted only when a line starts with it.
			if !strings.HasPrefix(sdp, "m=video ") && !strings.Contains(sdp, "\nm=video ") {
				t.Fatalf("accepted without a video m-line: %q", sdp)
			}
		}
	})
}
