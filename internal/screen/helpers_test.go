package screen

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/testwatch"
	"github.com/direkt/direkt/internal/wire"
)

func TestMain(m *testing.M) {
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}

func leakCheck(t testing.TB) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// testLogger logs at the level of $SCREEN_TEST_LOG (e.g. DEBUG), else not.
func testLogger() *slog.Logger {
	lvl := slog.LevelError + 100
	if v := os.Getenv("SCREEN_TEST_LOG"); v != "" {
		_ = lvl.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// memSignaller is one end of an in-memory signalling channel.
type memSignaller struct {
	in  <-chan wire.Signal
	out chan<- wire.Signal
}

func (m *memSignaller) Send(ctx context.Context, s wire.Signal) error {
	if err := s.Validate(); err != nil {
		return err
	}
	select {
	case m.out <- s:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *memSignaller) Recv(ctx context.Context) (wire.Signal, error) {
	select {
	case s, ok := <-m.in:
		if !ok {
			return wire.Signal{}, io.EOF
		}
		return s, nil
	case <-ctx.Done():
		return wire.Signal{}, ctx.Err()
	}
}

// sessionPair connects two sessions with video over loopback; they are
// closed when the test ends.
func sessionPair(t testing.TB, ctx context.Context) (a, b *session.Session) {
	t.Helper()
	cfg := session.Config{IncludeLoopback: true, Video: true, BindingKey: [32]byte{7}, Logger: testLogger()}
	return connectPair(t, ctx, cfg, cfg)
}

// connectPair connects a session of ca (as peer a) with one of cb (as
// peer b) over in-memory signalling: Role and Signaller are set here. Both
// are closed when the test ends; it fails unless both have video.
func connectPair(t testing.TB, ctx context.Context, ca, cb session.Config) (a, b *session.Session) {
	t.Helper()
	ab, ba := make(chan wire.Signal, 1024), make(chan wire.Signal, 1024)
	ca.Role, ca.Signaller = wire.RoleA, &memSignaller{in: ba, out: ab}
	cb.Role, cb.Signaller = wire.RoleB, &memSignaller{in: ab, out: ba}
	var wg sync.WaitGroup
	var errA, errB error
	wg.Add(2)
	go func() { defer wg.Done(); a, errA = session.Connect(ctx, ca) }()
	go func() { defer wg.Done(); b, errB = session.Connect(ctx, cb) }()
	wg.Wait()
	for _, s := range []*session.Session{a, b} {
		if s != nil {
			t.Cleanup(func() { _ = s.Close() })
		}
	}
	if errA != nil || errB != nil {
		t.Fatalf("connect: a: %v; b: %v", errA, errB)
	}
	if a.Video() == nil || b.Video() == nil {
		t.Fatal("no video negotiated")
	}
	return a, b
}

// bridgeJS drives a bridge from a page: window.bridge.open(share) offers a
// new RTCPeerConnection to the page's server (POST /offer), sending the
// test pattern (share) or receiving and decoding (view); close() closes it;
// stats() sums its RTP statistics.
const bridgeJS = `
window.bridge = {
  pc: null,
  stream: null,
  async open(share) {
    if (this.pc) this.pc.close();
    const pc = new RTCPeerConnection();
    this.pc = pc;
    let tr;
    if (share) {
      if (!this.stream) this.stream = window.direktPattern.capture({ fps: 15 });
      const track = this.stream.getVideoTracks()[0];
      track.contentHint = 'detail';
      tr = pc.addTransceiver(track, { direction: 'sendrecv' });
    } else {
      pc.addTransceiver('video', { direction: 'recvonly' });
      pc.ontrack = (e) => {
        let video = document.querySelector('video');
        if (!video) {
          video = document.createElement('video');
          video.muted = true;
          video.autoplay = true;
          document.body.appendChild(video);
          window.direktPattern.watch(video);
        }
        video.srcObject = new MediaStream([e.track]);
        video.play().catch(() => {});
      };
    }
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve, reject) => {
      if (pc.iceGatheringState === 'complete') return resolve();
      const t = setTimeout(() => reject(new Error('gathering timed out')), 5000);
      pc.addEventListener('icegatheringstatechange', () => {
        if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); }
      });
    });
    const resp = await fetch('/offer', { method: 'POST', body: pc.localDescription.sdp });
    if (!resp.ok) throw new Error('offer: ' + resp.status + ' ' + (await resp.text()));
    await pc.setRemoteDescription({ type: 'answer', sdp: await resp.text() });
    if (tr) {
      const p = tr.sender.getParameters();
      p.degradationPreference = 'maintain-resolution';
      if (p.encodings && p.encodings[0]) p.encodings[0].maxFramerate = 15;
      await tr.sender.setParameters(p).catch((e) => console.log('setParameters: ' + e));
    }
    await new Promise((resolve, reject) => {
      if (pc.connectionState === 'connected') return resolve();
      const t = setTimeout(() => reject(new Error('not connected: ' + pc.connectionState)), 10000);
      pc.addEventListener('connectionstatechange', () => {
        if (pc.connectionState === 'connected') { clearTimeout(t); resolve(); }
      });
    });
    return true;
  },
  close() { if (this.pc) this.pc.close(); this.pc = null; return true; },
  async stats() {
    const r = { inBytes: 0, inPackets: 0, framesDecoded: 0, outBytes: 0, outPackets: 0,
      available: 0, targetBitrate: 0, pliIn: 0, firIn: 0, frameWidth: 0 };
    if (!this.pc) return r;
    (await this.pc.getStats()).forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        r.inBytes += s.bytesReceived || 0;
        r.inPackets += s.packetsReceived || 0;
        r.framesDecoded += s.framesDecoded || 0;
      }
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        r.outBytes += s.bytesSent || 0;
        r.outPackets += s.packetsSent || 0;
        r.targetBitrate = s.targetBitrate || 0;
        r.pliIn += s.pliCount || 0;
        r.firIn += s.firCount || 0;
        r.frameWidth = s.frameWidth || 0;
      }
      if (s.type === 'candidate-pair' && s.nominated && s.availableOutgoingBitrate) {
        r.available = s.availableOutgoingBitrate;
      }
    });
    return r;
  },
};
true
`

// pageStats is what bridge.stats() returns.
type pageStats struct {
	InBytes, InPackets, FramesDecoded int
	OutBytes, OutPackets              int
	Available, TargetBitrate          float64
	PLIIn                             int `json:"pliIn"`
	FIRIn                             int `json:"firIn"`
	FrameWidth                        int
}

// page serves a page for svc's bridge: GET / is an empty page with the
// pattern and bridge scripts, POST /offer calls svc.Page.
func page(t testing.TB, svc *Service) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/offer":
			offer, err := io.ReadAll(io.LimitReader(r.Body, MaxSDP+1))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
			defer cancel()
			answer, err := svc.Page(ctx, string(offer))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			_, _ = io.WriteString(w, answer)
		default:
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, "<!doctype html><title>bridge</title><body><script>"+browsertest.PatternJS+"\n"+bridgeJS+"</script></body>")
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// openTab opens url in a new tab of the browser of ctx.
func openTab(t testing.TB, ctx context.Context, url string) context.Context {
	t.Helper()
	tab := browsertest.Tab(t, ctx)
	browsertest.Do(t, tab, chromedp.Navigate(url))
	return tab
}

// run evaluates js in tab, awaiting a promise.
func run[T any](t testing.TB, tab context.Context, js string) T {
	t.Helper()
	return browsertest.Do(t, tab, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
}

// summary is what direktPattern.summary returns.
type summary struct {
	Frames, Decoded, Bad, Count int
	Median, P95, Max            float64
	First                       float64
	W, H                        int
}

// results summarises what the viewing tab decoded; latencies of the frames
// shown since sinceMs (the page's Date.now()).
func results(t testing.TB, tab context.Context) summary {
	t.Helper()
	return resultsSince(t, tab, 0)
}

func resultsSince(t testing.TB, tab context.Context, sinceMs float64) summary {
	t.Helper()
	return run[summary](t, tab, fmt.Sprintf(`window.direktPattern.summary(%f)`, sinceMs))
}

// pageNow is the tab's Date.now().
func pageNow(t testing.TB, tab context.Context) float64 {
	t.Helper()
	return run[float64](t, tab, `Date.now()`)
}

func stats(t testing.TB, tab context.Context) pageStats {
	t.Helper()
	return run[pageStats](t, tab, `window.bridge.stats()`)
}

// waitFor polls cond every 100 ms until it is true, at most d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > d {
			t.Fatalf("%s: not within %s", what, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}
