package browsertest

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestBrowserRunsScript(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>t</title><body><script>document.body.dataset.state = "ok"</script></body>`))
	}))
	defer srv.Close()
	ctx := New(t, Options{})
	if _, err := chromedp.Run(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	res, err := chromedp.Run(ctx, chromedp.AttributeValue("body", "data-state"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Value != "ok" {
		t.Fatalf("data-state = %q, want ok", res.Value)
	}
}

// TestFakeMedia: with FakeMedia, getDisplayMedia answers at once with a
// generated "monitor", in Chromium driven by chromedp and by puppeteer.
func TestFakeMedia(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>t</title><body>capture</body>`))
	}))
	defer srv.Close()
	const capture = `navigator.mediaDevices.getDisplayMedia({video: true}).then((s) => {
		const st = s.getVideoTracks()[0].getSettings();
		s.getTracks().forEach((t) => t.stop());
		return st.displaySurface + ' ' + (st.width > 0 && st.height > 0);
	})`
	const want = "monitor true"
	t.Run("chromedp", func(t *testing.T) {
		ctx := New(t, Options{FakeMedia: true})
		Do(t, ctx, chromedp.Navigate(srv.URL))
		got := Do(t, ctx, chromedp.Evaluate[string](capture, chromedp.EvalAwaitPromise))
		if got != want {
			t.Errorf("getDisplayMedia gave %q, want %q", got, want)
		}
	})
	t.Run("puppeteer", func(t *testing.T) {
		p := Launch(t, Chromium, Options{FakeMedia: true})
		p.Page().Goto(srv.URL)
		var got string
		p.Page().Eval(capture, &got)
		if got != want {
			t.Errorf("getDisplayMedia gave %q, want %q", got, want)
		}
	})
}

// TestOnNewDocument: a script given to OnNewDocument runs before the
// page's own, in Chromium and Firefox.
func TestOnNewDocument(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>t</title><body><script>document.body.dataset.seen = String(window.hooked)</script></body>`))
	}))
	defer srv.Close()
	for _, e := range []Engine{Chromium, Firefox} {
		t.Run(string(e), func(t *testing.T) {
			p := Launch(t, e, Options{})
			p.Page().OnNewDocument(`window.hooked = 42`)
			p.Page().Goto(srv.URL)
			if got := p.Page().Attr(`body`, `data-seen`); got != "42" {
				t.Errorf("the page saw hooked = %q, want 42", got)
			}
		})
	}
}

// TestPattern: the pattern survives a real VP8 encoder and decoder (two
// RTCPeerConnections in one page) and decodes to its frames' times.
func TestPattern(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte(`<!doctype html><title>t</title><body><video autoplay muted playsinline></video></body>`))
	}))
	defer srv.Close()
	ctx := New(t, Options{})
	Do(t, ctx, chromedp.Navigate(srv.URL))
	Do(t, ctx, chromedp.Evaluate[any](PatternJS, chromedp.EvalIgnoreExceptions))
	const loop = `(async () => {
		const a = new RTCPeerConnection(), b = new RTCPeerConnection();
		a.onicecandidate = (e) => e.candidate && b.addIceCandidate(e.candidate);
		b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
		const video = document.querySelector('video');
		b.ontrack = (e) => { video.srcObject = new MediaStream([e.track]); };
		const s = direktPattern.capture({width: 800, height: 450, fps: 15});
		const track = s.getVideoTracks()[0];
		track.contentHint = 'detail'; // keep the resolution, as a screen share does
		a.addTrack(track, s);
		await a.setLocalDescription();
		await b.setRemoteDescription(a.localDescription);
		await b.setLocalDescription();
		await a.setRemoteDescription(b.localDescription);
		direktPattern.watch(video, {width: 800, height: 450});
		return true;
	})()`
	Do(t, ctx, chromedp.Evaluate[bool](loop, chromedp.EvalAwaitPromise))
	var sum struct {
		Frames, Decoded, Bad, Count int
		Median, P95                 float64
		W, H                        int
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		sum = Do(t, ctx, chromedp.Evaluate[struct {
			Frames, Decoded, Bad, Count int
			Median, P95                 float64
			W, H                        int
		}](`direktPattern.summary(0)`))
		if sum.Decoded >= 30 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("pattern over VP8: %+v", sum)
	if sum.Decoded < 30 {
		t.Fatalf("decoded %d frames in 20 s, want 30: %+v", sum.Decoded, sum)
	}
	if sum.Bad > sum.Frames/10 {
		t.Errorf("%d of %d frames did not decode", sum.Bad, sum.Frames)
	}
	if sum.Median < 0 || sum.Median > 1000 {
		t.Errorf("median latency %v ms in one page, want 0–1000", sum.Median)
	}
	if sum.W != 800 || sum.H != 450 {
		t.Errorf("frames of %d×%d, want 800×450", sum.W, sum.H)
	}
}
