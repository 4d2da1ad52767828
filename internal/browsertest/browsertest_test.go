package browsertest

import (
	"net/http"
	"net/http/httptest"
	"testing"

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
