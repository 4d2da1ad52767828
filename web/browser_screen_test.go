package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/web"
)

// bundle builds a test page's script with esbuild.
func bundle(t *testing.T, entry string) []byte {
	t.Helper()
	node := needNode(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	build := `import { build } from 'esbuild';
const r = await build({ entryPoints: [process.argv[1]], bundle: true, format: 'iife', target: 'es2020', write: false, logLevel: 'warning' });
process.stdout.write(r.outputFiles[0].contents);`
	js, err := exec.CommandContext(ctx, node, "--input-type=module", "-e", build, entry).Output()
	if err != nil {
		t.Fatalf("bundle %s: %v", entry, err)
	}
	return js
}

// screenHarness serves the join page's screen panel alone (its HTML cut
// from src/join.html, src/join.css, and test/screenharness.mjs bundled by
// esbuild) under the join page's own security headers.
func screenHarness(t *testing.T) string {
	t.Helper()
	js := bundle(t, "test/screenharness.mjs")
	html, err := os.ReadFile("src/join.html")
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(html), `<section id="screen-panel"`)
	end := strings.Index(string(html)[start:], "</section>")
	if start < 0 || end < 0 {
		t.Fatal("no screen panel in src/join.html")
	}
	panel := string(html)[start : start+end+len("</section>")]
	css, err := os.ReadFile("src/join.css")
	if err != nil {
		t.Fatal(err)
	}
	page := `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/join.css"><script defer src="/harness.js"></script></head>
<body data-state="connected"><main>` + panel + `</main></body></html>`

	// The join page's headers, as web.Handler sets them.
	rec := httptest.NewRecorder()
	web.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/j/", nil))
	hdr := rec.Header()
	if !strings.Contains(hdr.Get("Permissions-Policy"), "display-capture=(self)") {
		t.Errorf("Permissions-Policy %q: the client cannot share its screen", hdr.Get("Permissions-Policy"))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, k := range []string{"Content-Security-Policy", "Permissions-Policy", "X-Content-Type-Options"} {
			w.Header().Set(k, hdr.Get(k))
		}
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(page))
		case "/join.css":
			w.Header().Set("Content-Type", "text/css")
			w.Write(css)
		case "/harness.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(js)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestScreenPanelInChromium drives the join page's screen panel with a
// stand-in session and consultation: the adviser's picture (a canvas
// stream) fitted, letterboxed and 1:1 with its pointer on its place at two
// window sizes, paused, viewing stopped; and the client's own share
// (Chromium's fake capture) from getDisplayMedia to the session's sender
// and the consultation's messages, paused, pointed at, stopped.
func TestScreenPanelInChromium(t *testing.T) {
	url := screenHarness(t)
	ctx := browsertest.New(t, browsertest.Options{Width: 1280, Height: 500, Flags: []string{"use-fake-ui-for-media-stream", "use-fake-device-for-media-stream"}})
	do(t, ctx, chromedp.Navigate(url))
	eval := func(js string) string {
		t.Helper()
		return do(t, ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	}
	until := func(what, js string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for eval(`String(Boolean(`+js+`))`) != "true" {
			if time.Now().After(deadline) {
				t.Fatalf("%s: never true: %s (calls %s)", what, js, eval(`JSON.stringify(window.harness?.calls)`))
			}
			time.Sleep(50 * time.Millisecond) // polling the page
		}
	}
	render := func(screen map[string]any) {
		t.Helper()
		b, _ := json.Marshal(screen)
		eval(`(window.harness.render(` + string(b) + `), "")`)
	}
	calls := func() string { return eval(`JSON.stringify(window.harness.calls)`) }
	q := func(id string) string { return `document.querySelector('[data-testid="` + id + `"]')` }
	until("the harness", `window.harness`)

	peer := map[string]any{"id": "h1", "state": "on", "what": "window", "w": 800, "h": 450, "viewing": true, "pointer": map[string]any{"x": 0.25, "y": 0.75}}
	screen := map[string]any{"canShare": true, "own": nil, "peer": peer}
	render(screen)
	until("the adviser's picture", q("screen")+`.videoWidth === 800`)
	if got := eval(q("screen-title") + `.textContent`); got != "The adviser shows you their window" {
		t.Errorf("title %q", got)
	}

	// offset is how far the pointer's centre is from where x, y of the
	// picture shows (object-fit: contain, computed here on its own).
	offset := func() (float64, float64) {
		got := eval(fmt.Sprintf(`(() => {
			const v = %s, p = %s;
			if (p.hidden) return 'hidden';
			const b = v.getBoundingClientRect(), r = p.getBoundingClientRect();
			const s = Math.min(b.width / v.videoWidth, b.height / v.videoHeight), w = v.videoWidth * s, h = v.videoHeight * s;
			return (r.left + r.width / 2 - (b.left + (b.width - w) / 2 + 0.25 * w)) + ' ' + (r.top + r.height / 2 - (b.top + (b.height - h) / 2 + 0.75 * h));
		})()`, q("screen"), q("screen-pointer")))
		var dx, dy float64
		if _, err := fmt.Sscanf(got, "%g %g", &dx, &dy); err != nil {
			t.Fatalf("pointer: %s", got)
		}
		return dx, dy
	}
	check := func(what, bars string) {
		t.Helper()
		var dx, dy float64
		for deadline := time.Now().Add(5 * time.Second); ; {
			if dx, dy = offset(); math.Abs(dx) <= 1 && math.Abs(dy) <= 1 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond) // layout settles after a resize
		}
		if math.Abs(dx) > 1 || math.Abs(dy) > 1 {
			t.Errorf("%s: the pointer is %.1f, %.1f px off its place", what, dx, dy)
		}
		got := eval(`(() => { const v = ` + q("screen") + `, b = v.getBoundingClientRect(), a = b.width / b.height, p = v.videoWidth / v.videoHeight;
			return a > p + 0.01 ? 'pillarbox' : a < p - 0.01 ? 'letterbox' : 'exact' })()`)
		if got != bars {
			t.Errorf("%s: %s, want %s", what, got, bars)
		}
	}
	check("wide window, fit", "pillarbox")
	do(t, ctx, chromedp.Click(`[data-testid="screen-fit"]`))
	until("1:1", q("screen-box")+`.dataset.fit === "1:1"`)
	check("wide window, 1:1", "exact")
	if got := eval(`(() => { const b = ` + q("screen") + `.getBoundingClientRect(); return b.width + 'x' + b.height })()`); got != "800x450" {
		t.Errorf("1:1 picture shown at %s", got)
	}
	do(t, ctx, chromedp.EmulateViewport(390, 800))
	check("phone, 1:1", "exact")
	if eval(`String(`+q("screen-box")+`.scrollWidth > `+q("screen-box")+`.clientWidth)`) != "true" {
		t.Error("phone, 1:1: the picture does not scroll")
	}
	// A phone of three device pixels per CSS pixel: one picture pixel per
	// device pixel.
	do(t, ctx, chromedp.EmulateViewport(390, 800, chromedp.EmulateScale(3)))
	// A real browser reports the change (resize, or the resolution media
	// query); the emulation reports neither, so say it here.
	eval(`(window.dispatchEvent(new Event("resize")), "")`)
	until("1:1 at devicePixelRatio 3", `(() => { const b = `+q("screen")+`.getBoundingClientRect(); return devicePixelRatio === 3 && Math.abs(b.width - 800 / 3) < 0.5 && Math.abs(b.height - 150) < 0.5 })()`)
	check("phone at 3×, 1:1", "exact")
	do(t, ctx, chromedp.EmulateViewport(390, 800))
	do(t, ctx, chromedp.Click(`[data-testid="screen-fit"]`))
	until("fit", q("screen-box")+`.dataset.fit === "fit"`)
	check("phone, fit", "exact")
	if eval(`String(`+q("screen")+`.getBoundingClientRect().width <= 390)`) != "true" {
		t.Error("phone, fit: wider than the window")
	}
	do(t, ctx, chromedp.EmulateViewport(1280, 900))

	// Paused; viewing stopped.
	peer["state"] = "paused"
	render(screen)
	until("paused", `!`+q("screen-paused")+`.hidden && `+q("screen-paused")+`.textContent === "Paused"`)
	do(t, ctx, chromedp.Click(`[data-testid="screen-view"]`))
	until("view false", `window.harness.calls.some(c => c[0] === "view" && c[1] === false)`)
	peer["state"], peer["viewing"] = "off", false
	render(screen)
	until("the adviser's share gone", `document.getElementById("peer-screen").hidden`)

	// Our own share.
	do(t, ctx, chromedp.Click(`[data-testid="share-screen"]`))
	until("share", `window.harness.calls.some(c => c[0] === "share")`)
	if got := calls(); !strings.Contains(got, `["setShareTrack","video"],["share","screen",800,600]`) {
		t.Errorf("calls %s: the track goes to the session, then share", got)
	}
	until("preview", q("share-preview")+`.videoWidth > 0`)
	own := map[string]any{"id": "c1", "state": "on", "what": "screen", "w": 800, "h": 600, "viewing": true}
	screen["own"] = own
	render(screen)
	if got := eval(q("share-viewing") + `.dataset.viewing + ' ' + ` + q("share-viewing") + `.textContent + ' ' + ` + q("share-screen") + `.disabled`); got != "true The adviser is viewing. true" {
		t.Errorf("sharing: %q", got)
	}
	do(t, ctx, chromedp.Click(`[data-testid="share-pause"]`))
	until("pause", `window.harness.calls.some(c => c[0] === "pauseShare" && c[1] === true)`)
	own["state"] = "paused"
	render(screen)
	until("paused: nothing sent", `window.harness.calls.at(-1)[0] === "setShareTrack" && window.harness.calls.at(-1)[1] === null && `+q("share-pause")+`.dataset.paused === "true"`)
	do(t, ctx, chromedp.Click(`[data-testid="share-pause"]`))
	until("resume", `window.harness.calls.some(c => c[0] === "pauseShare" && c[1] === false)`)
	own["state"] = "on"
	render(screen)
	until("resumed: sent again", `window.harness.calls.at(-1)[0] === "setShareTrack" && window.harness.calls.at(-1)[1] === "video"`)

	// A click on the preview points there.
	rect := eval(`(() => { const r = ` + q("share-preview") + `.getBoundingClientRect(); return r.left + ' ' + r.top + ' ' + r.width + ' ' + r.height })()`)
	var l, tp, w, h float64
	if _, err := fmt.Sscanf(rect, "%g %g %g %g", &l, &tp, &w, &h); err != nil || w < 50 {
		t.Fatalf("preview at %q", rect)
	}
	do(t, ctx, chromedp.MouseClickXY(l+0.5*w, tp+0.25*h))
	until("pointer", `window.harness.calls.some(c => c[0] === "pointer")`)
	var pt []any
	json.Unmarshal([]byte(eval(`JSON.stringify(window.harness.calls.find(c => c[0] === "pointer"))`)), &pt)
	if len(pt) != 3 || math.Abs(pt[1].(float64)-0.5) > 0.02 || math.Abs(pt[2].(float64)-0.25) > 0.02 {
		t.Errorf("pointer %v, want about 0.5 0.25", pt)
	}
	do(t, ctx, chromedp.Click(`[data-testid="share-pointer-hide"]`))
	until("hide", `window.harness.calls.some(c => c[0] === "pointer" && c[1] === null)`)

	do(t, ctx, chromedp.Click(`[data-testid="share-stop"]`))
	until("stop", `window.harness.calls.some(c => c[0] === "stopShare")`)
	until("capture ended", q("share-preview")+`.srcObject === null && window.harness.calls.at(-1)[0] === "stopShare"`)
	if !strings.Contains(calls(), `["setShareTrack",null],["stopShare"]`) {
		t.Errorf("calls %s: the sender is emptied, then stopShare", calls())
	}

	// A share the consultation ended ends the capture too, without another
	// stopShare.
	own["state"] = "off"
	render(screen)
	do(t, ctx, chromedp.Click(`[data-testid="share-screen"]`))
	until("share again", `window.harness.calls.filter(c => c[0] === "share").length === 2`)
	until("capturing again", q("share-preview")+`.srcObject !== null`)
	own["id"], own["state"] = "c2", "on"
	render(screen)
	own["state"] = "off"
	render(screen)
	until("capture ended by the consultation", q("share-preview")+`.srcObject === null && `+q("share-stop")+`.hidden`)
	if n := eval(`String(window.harness.calls.filter(c => c[0] === "stopShare").length)`); n != "1" {
		t.Errorf("%s stopShare calls, want 1 (only ours)", n)
	}

	// The user stops the share with the browser's own control: the track
	// ends (dispatched here; there is no way to press the browser's bar).
	own["state"] = "off"
	render(screen)
	do(t, ctx, chromedp.Click(`[data-testid="share-screen"]`))
	until("share a third time", `window.harness.calls.filter(c => c[0] === "share").length === 3`)
	until("capturing a third time", q("share-preview")+`.srcObject !== null`)
	own["id"], own["state"] = "c3", "on"
	render(screen)
	eval(`(` + q("share-preview") + `.srcObject.getVideoTracks()[0].dispatchEvent(new Event('ended')), "")`)
	until("stopped by the browser", `window.harness.calls.filter(c => c[0] === "stopShare").length === 2 && `+q("share-preview")+`.srcObject === null`)

	// Nothing went wrong on the page: no exception, no CSP violation.
	if got := eval(`JSON.stringify(window.harness.calls.filter(c => c[0] === "error" || c[0] === "csp"))`); got != "[]" {
		t.Errorf("page errors: %s", got)
	}
}

// sessionVideoPage serves test/rtcharness.mjs in an empty page.
func sessionVideoPage(t *testing.T) string {
	t.Helper()
	js := bundle(t, "test/rtcharness.mjs")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte(`<!doctype html><html><head><meta charset="utf-8"><script src="/h.js"></script></head><body></body></html>`))
		case "/h.js":
			w.Header().Set("Content-Type", "text/javascript")
			w.Write(js)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestSessionVideoInChromium runs rtc.js in Chromium against a stand-in
// host in the same page: an offer with a video section is answered
// sendrecv, its picture reaches session.onvideo, and a track given to
// setShareTrack reaches the host on the same transceiver, at most 15
// frames a second with its resolution kept; an offer without one leaves
// the session as before.
func TestSessionVideoInChromium(t *testing.T) {
	url := sessionVideoPage(t)
	ctx := browsertest.New(t, browsertest.Options{})
	eval := func(js string) string {
		t.Helper()
		return do(t, ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	}
	until := func(what, js string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for eval(`String(Boolean(`+js+`))`) != "true" {
			if time.Now().After(deadline) {
				t.Fatalf("%s: never true: %s (error %s)", what, js, eval(`String(window.rtcError)`))
			}
			time.Sleep(50 * time.Millisecond) // polling the page
		}
	}

	do(t, ctx, chromedp.Navigate(url))
	eval(`(window.runRTC({ video: true }), "")`)
	until("connected with video", `window.rtcResult || window.rtcError`)
	if e := eval(`String(window.rtcError ?? "")`); e != "" {
		t.Fatalf("harness: %s", e)
	}
	if got := eval(`JSON.stringify([rtcResult.answerVideo, rtcResult.canShare, rtcResult.tracks, rtcResult.params])`); got != `["sendrecv",true,1,{"fps":[15],"deg":"maintain-resolution"}]` {
		t.Errorf("answer's video direction, canShare, tracks shown, sender: %s", got)
	}
	// The stand-in host's encoder starts small on a new connection and
	// grows; ours keeps its resolution (maintain-resolution), so the host
	// sees our picture at its size at once.
	until("the host's picture shown", `/^[1-9][0-9]*x[1-9]/.test(rtcResult.shown())`)
	until("our share at the host", `rtcResult.back() === "640x360"`)
	if got := eval(`rtcResult.stop().then(String)`); got != "true" {
		t.Errorf("stop sharing: %s", got)
	}

	do(t, ctx, chromedp.Navigate(url))
	eval(`(window.runRTC({ video: false }), "")`)
	until("connected without video", `window.rtcResult || window.rtcError`)
	if got := eval(`JSON.stringify([rtcResult.answerVideo, rtcResult.canShare, rtcResult.tracks, String(window.rtcError ?? "")])`); got != `["no video",false,0,""]` {
		t.Errorf("without video: %s", got)
	}
}

// TestSessionVideoInFirefox runs the same page in Firefox (puppeteer-core,
// WebDriver BiDi).
func TestSessionVideoInFirefox(t *testing.T) {
	url := sessionVideoPage(t)
	b := browsertest.Launch(t, browsertest.Firefox, browsertest.Options{})
	t.Logf("browser %s", b.Version())
	g := b.Page()
	var got string
	g.Goto(url)
	g.Eval(`(window.runRTC({ video: true }), "")`, &got)
	g.Until(`window.rtcResult || window.rtcError`)
	if g.Eval(`String(window.rtcError ?? "")`, &got); got != "" {
		t.Fatalf("harness: %s", got)
	}
	if g.Eval(`JSON.stringify([rtcResult.answerVideo, rtcResult.canShare, rtcResult.tracks, rtcResult.params])`, &got); got != `["sendrecv",true,1,{"fps":[15],"deg":"maintain-resolution"}]` {
		t.Errorf("answer's video direction, canShare, tracks shown, sender: %s", got)
	}
	g.Until(`/^[1-9][0-9]*x[1-9]/.test(rtcResult.shown())`)
	g.Until(`rtcResult.back() === "640x360"`)
	if g.Eval(`rtcResult.stop().then(String)`, &got); got != "true" {
		t.Errorf("stop sharing: %s", got)
	}

	g.Goto(url)
	g.Eval(`(window.runRTC({ video: false }), "")`, &got)
	g.Until(`window.rtcResult || window.rtcError`)
	if g.Eval(`JSON.stringify([rtcResult.answerVideo, rtcResult.canShare, rtcResult.tracks, String(window.rtcError ?? "")])`, &got); got != `["no video",false,0,""]` {
		t.Errorf("without video: %s", got)
	}
}
