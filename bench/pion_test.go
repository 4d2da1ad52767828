package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/webrtc/v4"
)

const (
	// pionMessage is the message size the bare data channel writes: what
	// direkt's session channel writes too (internal/session writeChunk), and
	// within the 64 KiB max-message-size pion advertises by default
	// (RFC 8841, section 6).
	pionMessage = 64 << 10
	// pionHigh and pionLow are the writer's backpressure: wait while more
	// than pionHigh bytes are queued or unacknowledged, until pion reports
	// the queue fell to pionLow (the RTCDataChannel bufferedAmountLowThreshold
	// pattern, the same thresholds as internal/session). Without it pion
	// would queue the whole transfer in memory.
	pionHigh = 1 << 20
	pionLow  = 512 << 10
)

var errShort = errors.New("receiver got fewer bytes than were sent")

// pionTransfer moves size bytes over one ordered, reliable, detached pion
// data channel between two PeerConnections on loopback (ICE host candidates
// on 127.0.0.1, DTLS, SCTP), and measures from the first write to the last
// byte read. This is the floor under direkt's transfer: what pion's stack
// gives with nothing of direkt's on top.
func pionTransfer(ctx context.Context, size int64) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, transferTimeout(size))
	defer cancel()

	var se webrtc.SettingEngine
	se.DetachDataChannels()
	// Loopback only: the figure is the stack's, not a NIC's.
	se.SetIncludeLoopbackCandidate(true)
	se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	api := webrtc.NewAPI(webrtc.WithSettingEngine(se))

	a, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return result{}, err
	}
	defer a.GracefulClose()
	b, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return result{}, err
	}
	defer b.GracefulClose()
	// Reads and writes below block; closing the connections unblocks them
	// when ctx ends.
	stop := context.AfterFunc(ctx, func() { a.Close(); b.Close() })
	defer stop()

	wa, da, err := pionChannel(a)
	if err != nil {
		return result{}, err
	}
	_, db, err := pionChannel(b)
	if err != nil {
		return result{}, err
	}
	if err := pionSignal(ctx, a, b); err != nil {
		return result{}, err
	}
	var rwc [2]datachannel.ReadWriteCloser
	for i, ch := range []chan opened{da, db} {
		select {
		case o := <-ch:
			if o.err != nil {
				return result{}, o.err
			}
			rwc[i] = o.rwc
			defer o.rwc.Close()
		case <-ctx.Done():
			return result{}, fmt.Errorf("pion data channel did not open: %w", context.Cause(ctx))
		}
	}
	w, r := rwc[0], rwc[1]

	low := make(chan struct{}, 1)
	wa.SetBufferedAmountLowThreshold(pionLow)
	wa.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})
	werr := make(chan error, 1)
	t0, cpu0 := time.Now(), cpuTime()
	go func() {
		buf := make([]byte, pionMessage)
		for sent := int64(0); sent < size; {
			for wa.BufferedAmount() > pionHigh {
				select {
				case <-low:
				case <-ctx.Done():
					werr <- context.Cause(ctx)
					return
				}
			}
			n := min(int64(len(buf)), size-sent)
			if _, err := w.Write(buf[:n]); err != nil {
				werr <- err
				cancel() // unblocks the reader
				return
			}
			sent += n
		}
		werr <- nil
	}()
	// A detached read needs room for a whole message.
	buf := make([]byte, 4*pionMessage)
	var got int64
	var rerr error
	for got < size {
		n, err := r.Read(buf)
		got += int64(n)
		if err != nil {
			rerr = err
			break
		}
	}
	t1, cpu1 := time.Now(), cpuTime()
	if rerr != nil {
		// The writer may be waiting for the buffer to drain: stop it.
		cancel()
	}
	if err := <-werr; err != nil && rerr == nil {
		return result{}, fmt.Errorf("pion write: %w", err)
	}
	if rerr != nil || got != size {
		return result{}, fmt.Errorf("pion read: %w: %d of %d bytes (%v)", errShort, got, size, rerr)
	}
	return result{name: "bare pion data channel", path: pionPath(a), bytes: size, wall: t1.Sub(t0), cpu: cpu1 - cpu0}, nil
}

type opened struct {
	rwc datachannel.ReadWriteCloser
	err error
}

// pionChannel creates the negotiated channel (RFC 8832 section 6: no DCEP
// round trip; both sides create it with the same id) and reports its detached
// stream once it opens.
func pionChannel(pc *webrtc.PeerConnection) (*webrtc.DataChannel, chan opened, error) {
	negotiated, id := true, uint16(1)
	dc, err := pc.CreateDataChannel("bench", &webrtc.DataChannelInit{Negotiated: &negotiated, ID: &id})
	if err != nil {
		return nil, nil, err
	}
	ch := make(chan opened, 1)
	dc.OnOpen(func() {
		rwc, err := dc.Detach()
		ch <- opened{rwc, err}
	})
	return dc, ch, nil
}

// pionSignal runs a non-trickle offer/answer between a and b in memory.
func pionSignal(ctx context.Context, a, b *webrtc.PeerConnection) error {
	local := func(pc *webrtc.PeerConnection, sd webrtc.SessionDescription) (webrtc.SessionDescription, error) {
		gathered := webrtc.GatheringCompletePromise(pc)
		if err := pc.SetLocalDescription(sd); err != nil {
			return webrtc.SessionDescription{}, err
		}
		select {
		case <-gathered:
			return *pc.LocalDescription(), nil
		case <-ctx.Done():
			return webrtc.SessionDescription{}, context.Cause(ctx)
		}
	}
	offer, err := a.CreateOffer(nil)
	if err != nil {
		return err
	}
	if offer, err = local(a, offer); err != nil {
		return err
	}
	if err := b.SetRemoteDescription(offer); err != nil {
		return err
	}
	answer, err := b.CreateAnswer(nil)
	if err != nil {
		return err
	}
	if answer, err = local(b, answer); err != nil {
		return err
	}
	return a.SetRemoteDescription(answer)
}

// pionPath describes the candidate pair a's ICE transport selected.
func pionPath(pc *webrtc.PeerConnection) string {
	p, err := pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || p == nil {
		return "?"
	}
	return fmt.Sprintf("%s↔%s %s", p.Local.Typ, p.Remote.Typ, p.Local.Protocol)
}
