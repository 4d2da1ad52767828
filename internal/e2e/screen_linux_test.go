package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/internal/netbed"
)

// Screen sharing end to end (docs/screen.md, issue 8): the real `direkt
// host`, the adviser's console in a real Chromium whose getDisplayMedia
// gives a canvas test pattern (browsertest.PatternJS: each frame carries
// its time), and the client's join page in a real browser on another
// network of the bed, which decodes every frame it shows. The adviser asks,
// the client consents, the adviser shares; the test measures the time from
// the consent to the first frame on the client's screen and each frame's
// latency, and checks pause, the pointer, stop and a restart, viewing
// stopped by the client, the client's own share back to the adviser, chat
// alongside, and the record's entries.

// screenPrefix names this file's namespaces.
const screenPrefix = "dks"

// screenHooks run in every page before its own scripts: the test pattern,
// getDisplayMedia answered with it, and a list of the page's
// RTCPeerConnections so that the test can read what arrived.
const screenHooks = `(() => {
	const Base = window.RTCPeerConnection;
	if (!Base || Base.direktTest) return;
	const pcs = [];
	class Tracked extends Base {
		constructor(...a) { super(...a); pcs.push(this); }
	}
	Tracked.direktTest = true;
	window.RTCPeerConnection = Tracked;
	// videoBytes sums the video payload received by the page's live
	// connections (inbound-rtp bytesReceived).
	window.direktVideoBytes = async () => {
		let n = 0;
		for (const pc of pcs) {
			if (pc.connectionState === 'closed') continue;
			const st = await pc.getStats();
			st.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'video') n += s.bytesReceived; });
		}
		return n;
	};
	if (navigator.mediaDevices && window.direktUsePattern !== false) {
		navigator.mediaDevices.getDisplayMedia = async () => direktPattern.capture({ width: 800, height: 450, fps: 15, ...window.direktCaptureOptions });
	}
})();`

// screenCase is one network for the share.
type screenCase struct {
	name string
	cfg  netbed.Config
	// hostFlags are added to `direkt host`.
	hostFlags []string
	// client is the client's browser engine.
	client browsertest.Engine
	// weak: the client's line is slow; only the figures are checked
	// against the pictures' legibility.
	weak bool
	// scroll is how many pixels a frame the shared document scrolls; 0
	// keeps it still but for the time code.
	scroll int
	// optIn names the environment variable that must be set for the case
	// to run ("" always runs).
	optIn string
	// outage takes the client's interface down for 5 s during the share,
	// then gives it a new address, where Firefox builds a new connection
	// (docs/protocol.md, section 5.2): the share plays on over both.
	outage bool
}

func TestScreenShareNetns(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace test")
	}
	requireMatrix(t)
	ctx := testContext(t, 8*time.Minute)
	const rtt = 40 * time.Millisecond
	for _, c := range []screenCase{
		{name: "nat", cfg: netbed.Config{A: netbed.Public, B: netbed.Easy, Delay: rtt / 4}, client: browsertest.Chromium},
		{name: "relay", cfg: netbed.Config{A: netbed.Public, B: netbed.Easy, Delay: rtt / 4}, hostFlags: []string{"--path", "relay"}, client: browsertest.Chromium},
		{name: "firefox", cfg: netbed.Config{A: netbed.Public, B: netbed.Easy, Delay: rtt / 4}, client: browsertest.Firefox, outage: true},
		{name: "weak", cfg: netbed.Config{A: netbed.Public, B: netbed.Easy, Delay: rtt / 4, Limit: [2]netbed.Limit{{}, {Rate: 1_000_000}}}, client: browsertest.Chromium, weak: true, scroll: 4},
		// Below what the document needs: a third of the weak line.
		{name: "starved", cfg: netbed.Config{A: netbed.Public, B: netbed.Easy, Delay: rtt / 4, Limit: [2]netbed.Limit{{}, {Rate: 300_000}}}, client: browsertest.Chromium, weak: true, scroll: 4, optIn: "DIREKT_SCREEN_STARVED"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.optIn != "" && os.Getenv(c.optIn) == "" {
				t.Skipf("set %s=1 to run it", c.optIn)
			}
			f := screenShare(ctx, t, c)
			t.Logf("%s: %s", c.name, f)
		})
	}
}

// screenFigures are what one share measured.
type screenFigures struct {
	consentToFrame time.Duration
	path           string
	latency        patternSummary // after the first 5 s
	kbits          float64        // video received after the first 5 s, kbit/s
	outage         time.Duration  // frames again after the client's network came back
	chat           time.Duration  // a chat message each way during the share, typing included
	back           patternSummary // the client's share at the adviser
}

func (f screenFigures) String() string {
	back := "not tried"
	if f.back.Count > 0 {
		back = fmt.Sprintf("median %.0f ms, p95 %.0f ms", f.back.Median, f.back.P95)
	}
	return fmt.Sprintf("path %s; consent to first frame %s; latency median %.0f ms, p95 %.0f ms, max %.0f ms over %d frames of %d×%d at %.0f kbit/s; chat both ways during the share %s; the client's share at the adviser: %s",
		f.path, f.consentToFrame.Round(time.Millisecond), f.latency.Median, f.latency.P95, f.latency.Max, f.latency.Count, f.latency.W, f.latency.H,
		f.kbits, f.chat.Round(time.Millisecond), back)
}

// patternSummary is direktPattern.summary().
type patternSummary struct {
	Frames, Decoded, Bad, Count int
	Median, P95, Max            float64
	First                       int64
	W, H                        int
}

// screenShare runs one consultation with a share in c's bed.
func screenShare(ctx context.Context, t testing.TB, c screenCase) (f screenFigures) {
	cfg := c.cfg
	cfg.Prefix = screenPrefix
	bed := openBed(ctx, t, cfg)
	srvAddr := netbed.ServerAddr.String()
	srv := start(t, "server", procOptions{Netns: bed.Server}, append([]string{"server", "--listen", srvAddr + ":8080", "--turn-listen", srvAddr + ":3478", "--public-ip", srvAddr}, relayAllow()...)...)
	if _, err := srv.awaitStderr(ctx, "direkt server running"); err != nil {
		t.Fatalf("server did not start: %v\n%s", err, srv.eventLog())
	}
	server := "http://" + srvAddr + ":8080"
	in := func(ns string) func(name string, args ...string) *exec.Cmd {
		return func(name string, args ...string) *exec.Cmd { return bed.Command(ctx, ns, name, args...) }
	}
	adviser := browsertest.LaunchWith(t, browsertest.Chromium, browsertest.Options{FakeMedia: true}, in(bed.A.Host))
	// A real server serves the join page over HTTPS, where a browser may
	// capture the screen; the bed's serves plain HTTP, which Chromium is
	// told to treat as secure.
	client := browsertest.LaunchWith(t, c.client, browsertest.Options{FakeMedia: c.client == browsertest.Chromium,
		Flags: []string{"unsafely-treat-insecure-origin-as-secure=" + server}}, in(bed.B.Host))
	t.Logf("adviser %s, client %s", adviser.Version(), client.Version())
	for _, p := range []*browsertest.Puppet{adviser, client} {
		p.Page().OnNewDocument(browsertest.PatternJS)
		p.Page().OnNewDocument(screenHooks)
	}
	if c.scroll > 0 {
		adviser.Page().OnNewDocument(fmt.Sprintf(`window.direktCaptureOptions = { scroll: %d }`, c.scroll))
	}
	s := startScreenConsult(ctx, t, bed.A.Host, server, c.hostFlags, adviser.Page(), client)
	f.path = s.page.Text(`[data-testid=path]`)
	f.consentToFrame = s.consentAndShare(t)
	watchFor := 15 * time.Second
	if c.weak {
		watchFor = 20 * time.Second
	}
	time.Sleep(5 * time.Second)
	b0, t0 := videoBytes(t, s.page), time.Now()
	// Chat goes on beside the picture.
	time.Sleep(watchFor/2 - 5*time.Second)
	c0 := time.Now()
	s.chat.awaitChat(s.chat.hostSays("during the share"), s.chat.clientSays("during the share"), 30*time.Second)
	f.chat = time.Since(c0)
	time.Sleep(watchFor / 2)
	f.kbits = float64(videoBytes(t, s.page)-b0) * 8 / 1000 / time.Since(t0).Seconds()
	f.latency = s.summary(s.page, s.firstFrame+5000)
	if f.latency.Count == 0 {
		t.Fatalf("no frame decoded after the first 5 s: %+v", s.summary(s.page, 0))
	}
	// Legible: the picture keeps its full size, also on a weak line.
	if f.latency.W != 800 || f.latency.H != 450 {
		t.Errorf("the client sees frames of %d×%d, want the shared 800×450", f.latency.W, f.latency.H)
	}
	if c.outage {
		cut := time.Now()
		if err := bed.B.DownUp(ctx, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		f.outage = moving(t, s.page, "after the outage")
		_, rebuilt := s.host.stderrContains("the consultation goes on over a new connection")
		t.Logf("the client's interface was down 5 s: frames again %s after it came back (%s after the cut); a new connection: %v",
			f.outage.Round(time.Millisecond), time.Since(cut).Round(time.Millisecond), rebuilt)
		// A new address: an ICE restart, or where Firefox's DTLS failed at
		// the socket a new connection; the share plays on either way.
		cut = time.Now()
		if _, err := bed.B.NewAddress(ctx); err != nil {
			t.Fatal(err)
		}
		var line string
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var ok bool
			if line, ok = s.host.stderrContains("the consultation goes on over a new connection"); ok {
				break
			}
			if line, ok = s.host.stderrContains("ICE restart found a new path"); ok {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("neither an ICE restart nor a new connection within 30 s after the client's address changed")
			}
		}
		back := time.Since(cut)
		again := moving(t, s.page, "after the new address")
		how := "an ICE restart"
		if strings.Contains(line, "new connection") {
			how = "a new connection"
		}
		t.Logf("the client's address changed: %s %s after, frames %s later", how, back.Round(time.Millisecond), again.Round(time.Millisecond))
	}
	s.pointer(t)
	if dir := os.Getenv("DIREKT_SCREENSHOTS"); dir != "" && c.name == "nat" {
		// The README's pictures: the share with its pointer on both sides.
		s.page.Eval(`(window.scrollTo(0, 0), true)`, nil)
		s.page.Screenshot(filepath.Join(dir, "join-screen.png"))
		s.console.Screenshot(filepath.Join(dir, "console-screen.png"))
	}
	s.pauseAndResume(t)
	s.stopViewing(t)
	s.stopAndRestart(t)
	if c.client == browsertest.Chromium {
		// Headless Firefox has nothing to capture.
		f.back = s.clientSharesBack(t)
	}
	s.endAndCheckRecord(t)
	return f
}

// screenConsult is a running consultation: the host, its console in the
// adviser's browser, the join page in the client's.
type screenConsult struct {
	t          testing.TB
	host       *proc
	data       string
	api        *netnsConsole
	console    *browsertest.Page
	page       *browsertest.Page
	chat       *browserConsult
	firstFrame int64 // Date.now() of the first decoded frame at the client
}

// startScreenConsult starts `direkt host` in ns with its console in
// console and joins with page.
func startScreenConsult(ctx context.Context, t testing.TB, ns, server string, flags []string, console *browsertest.Page, client *browsertest.Puppet) *screenConsult {
	t.Helper()
	page := client.Page()
	data := t.TempDir()
	host, links := startHost(ctx, t, ns, server, data, flags...)
	s := &screenConsult{t: t, host: host, data: data, api: newNetnsConsole(t, ns, links.Console), console: console, page: page}
	s.chat = &browserConsult{t: t, host: host, api: s.api, page: page, plog: &pageLog{p: client}}
	console.Goto(links.Console)
	console.Wait(`body[data-state=waiting]`)
	page.Goto(links.Join)
	page.Wait(`body[data-state=connected]`)
	console.Wait(`body[data-state=connected]`)
	// The client agrees to the record, which is to list the shares.
	page.Wait(`[data-testid=ask][data-what=record]`)
	page.Click(`[data-testid=accept-` + page.Attr(`[data-testid=ask][data-what=record]`, `data-ask-id`) + `]`)
	return s
}

// videoBytes is the video payload the page received so far.
func videoBytes(t testing.TB, p *browsertest.Page) int64 {
	t.Helper()
	var n int64
	p.Eval(`direktVideoBytes()`, &n)
	return n
}

// summary is the page's pattern summary for frames shown at or after since
// (ms since the epoch).
func (s *screenConsult) summary(p *browsertest.Page, since int64) patternSummary {
	s.t.Helper()
	var sum patternSummary
	p.Eval(`direktPattern.summary(`+strconv.FormatInt(since, 10)+`)`, &sum)
	return sum
}

// shareEnabled is true when a page's share button is there and enabled.
const shareEnabled = `(() => {
	const b = document.querySelector('[data-testid=share-screen]');
	return Boolean(b && !b.disabled && b.offsetParent !== null);
})()`

// awaitFrames waits up to 20 s for n decoded frames on p; else it fails
// with what the pages and the host's console show.
func (s *screenConsult) awaitFrames(t testing.TB, p *browsertest.Page, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got int
		p.Eval(`direktPattern.results.decoded`, &got)
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			var st json.RawMessage
			if s.api != nil {
				st = s.api.do("GET", "/api/state", nil)
			}
			var page, console string
			const show = `(async () => JSON.stringify({frames: direktPattern.summary(0), bytes: await direktVideoBytes(),
				video: [...document.querySelectorAll('video')].map((v) => ({testid: v.dataset.testid, w: v.videoWidth, shown: v.offsetParent !== null, src: Boolean(v.srcObject)})),
				body: document.body.dataset}))()`
			p.Eval(show, &page)
			s.console.Eval(show, &console)
			t.Fatalf("%d of %d frames decoded in 20 s\nviewer: %s\nadviser's console: %s\nhost state: %s", got, n, page, console, st)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// awaitEnabled waits up to 10 s for p's share button to be shown and
// enabled; else it fails saying what the button and its panel show.
func (s *screenConsult) awaitEnabled(t testing.TB, p *browsertest.Page, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var ok bool
		p.Eval(shareEnabled, &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var why string
			p.Eval(`(() => {
				const b = document.querySelector('[data-testid=share-screen]');
				const chain = [];
				for (let e = b; e; e = e.parentElement) chain.push((e.id || e.tagName) + (e.hidden ? ' hidden' : '') + ' ' + getComputedStyle(e).display);
				return JSON.stringify({disabled: b?.disabled, chain, panel: document.querySelector('#screen-panel')?.dataset});
			})()`, &why)
			t.Fatalf("%s is not enabled within 10 s: %s", what, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// watch starts decoding the frames p shows as the peer's share.
func watch(p *browsertest.Page) {
	p.Until(`document.querySelector('video[data-testid=screen]')`)
	p.Eval(`(direktPattern.watch(document.querySelector('video[data-testid=screen]')), true)`, nil)
}

// consentAndShare: the adviser asks, nothing arrives before the client
// consents; the adviser shares as soon as the console lets it. It returns
// the time from the consent to the first frame decoded at the client.
func (s *screenConsult) consentAndShare(t testing.TB) time.Duration {
	t.Helper()
	var canShare bool
	s.console.Eval(shareEnabled, &canShare)
	if canShare {
		t.Errorf("the console lets the adviser share before the client consented")
	}
	s.console.Click(`[data-testid=ask-screen]`)
	s.page.Wait(`[data-testid=ask][data-what=screen]`)
	id := s.page.Attr(`[data-testid=ask][data-what=screen]`, `data-ask-id`)
	watch(s.page)
	time.Sleep(time.Second)
	if n := videoBytes(t, s.page); n != 0 {
		t.Errorf("the page received %d bytes of video before it consented", n)
	}
	consent := time.Now()
	s.page.Click(`[data-testid=accept-` + id + `]`)
	s.console.Until(shareEnabled)
	s.console.Click(`[data-testid=share-screen]`)
	s.awaitFrames(t, s.page, 1)
	sum := s.summary(s.page, 0)
	s.firstFrame = sum.First
	return time.UnixMilli(sum.First).Sub(consent)
}

// pointer: the adviser places the pointer; the client sees it where it was
// put on the picture.
func (s *screenConsult) pointer(t testing.TB) {
	t.Helper()
	s.api.post("/api/screen/pointer", map[string]any{"x": 0.25, "y": 0.75})
	s.page.Wait(`[data-testid=screen-pointer]`)
	// Where the pointer's centre is, as a fraction of the picture the
	// video shows (object-fit: contain letterboxes it).
	var at struct{ X, Y float64 }
	s.page.Eval(`(() => {
		const v = document.querySelector('video[data-testid=screen]');
		const p = document.querySelector('[data-testid=screen-pointer]').getBoundingClientRect();
		const r = v.getBoundingClientRect();
		const scale = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
		const w = v.videoWidth * scale, h = v.videoHeight * scale;
		const left = r.left + (r.width - w) / 2, top = r.top + (r.height - h) / 2;
		return { x: (p.left + p.width / 2 - left) / w, y: (p.top + p.height / 2 - top) / h };
	})()`, &at)
	if math.Abs(at.X-0.25) > 0.02 || math.Abs(at.Y-0.75) > 0.02 {
		t.Errorf("the pointer shows at (%.3f, %.3f) of the picture, want (0.25, 0.75)", at.X, at.Y)
	}
}

// still checks that no video arrives at p for a while.
func still(t testing.TB, p *browsertest.Page, what string) {
	t.Helper()
	time.Sleep(500 * time.Millisecond) // what was in flight
	b0 := videoBytes(t, p)
	time.Sleep(2 * time.Second)
	if b1 := videoBytes(t, p); b1 != b0 {
		t.Errorf("%s: %d bytes of video arrived in 2 s, want none", what, b1-b0)
	}
}

// moving waits until p decodes new frames.
func moving(t testing.TB, p *browsertest.Page, what string) time.Duration {
	t.Helper()
	t0 := time.Now()
	var n int
	p.Eval(`direktPattern.results.decoded`, &n)
	p.Until(`direktPattern.results.decoded > ` + strconv.Itoa(n+5))
	return time.Since(t0)
}

// pauseAndResume: paused shows "paused" and sends nothing; resumed plays.
func (s *screenConsult) pauseAndResume(t testing.TB) {
	t.Helper()
	s.console.Click(`[data-testid=share-pause]`)
	s.page.Wait(`[data-testid=screen-paused]`)
	still(t, s.page, "paused")
	s.console.Click(`[data-testid=share-pause]`)
	t.Logf("resumed: frames again after %s", moving(t, s.page, "resumed").Round(time.Millisecond))
}

// stopViewing: the client stops viewing; the adviser sees it and nothing
// is sent; viewing again plays.
func (s *screenConsult) stopViewing(t testing.TB) {
	t.Helper()
	s.page.Click(`[data-testid=screen-view]`)
	s.console.Until(`document.querySelector('[data-testid=share-viewing]')?.dataset.viewing === 'false'`)
	still(t, s.page, "not viewing")
	s.page.Click(`[data-testid=screen-view]`)
	t.Logf("viewing again: frames after %s", moving(t, s.page, "viewing again").Round(time.Millisecond))
}

// stopAndRestart: after stop nothing arrives; a new share plays on the
// same page without it reconnecting.
func (s *screenConsult) stopAndRestart(t testing.TB) {
	t.Helper()
	s.console.Click(`[data-testid=share-stop]`)
	still(t, s.page, "stopped")
	s.console.Until(shareEnabled)
	s.console.Click(`[data-testid=share-screen]`)
	t.Logf("restarted: frames after %s", moving(t, s.page, "restarted").Round(time.Millisecond))
}

// clientSharesBack: the client shows its own screen; the adviser's console
// shows it.
func (s *screenConsult) clientSharesBack(t testing.TB) patternSummary {
	t.Helper()
	s.console.Until(`document.querySelector('video[data-testid=screen]')`)
	watch(s.console)
	s.awaitEnabled(t, s.page, "the client's share button")
	s.page.Click(`[data-testid=share-screen]`)
	s.console.Until(`direktPattern.results.decoded > 30`)
	sum := s.summary(s.console, 0)
	s.page.Click(`[data-testid=share-stop]`)
	return sum
}

// endAndCheckRecord ends the consultation; the record lists the shares.
func (s *screenConsult) endAndCheckRecord(t testing.TB) {
	t.Helper()
	s.api.post("/api/end", nil)
	s.page.Wait(`body[data-state=ended]`)
	recs, _ := filepath.Glob(filepath.Join(s.data, "records", "*.json"))
	deadline := time.Now().Add(10 * time.Second)
	for len(recs) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		recs, _ = filepath.Glob(filepath.Join(s.data, "records", "*.json"))
	}
	if len(recs) != 1 {
		t.Fatalf("records: %v, want one", recs)
	}
	raw, err := os.ReadFile(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	var signed struct{ Payload string }
	if err := json.Unmarshal(raw, &signed); err != nil {
		t.Fatal(err)
	}
	payload, err := base64.StdEncoding.DecodeString(signed.Payload)
	if err != nil {
		t.Fatal(err)
	}
	text := string(payload)
	for _, want := range []string{`"screen"`, "pause", "stop"} {
		if !strings.Contains(text, want) {
			t.Errorf("the record does not mention %s", want)
		}
	}
}

// BenchmarkScreenShare measures a share on loopback, real Chromium at both
// ends (README, "Screen sharing"): the time from the client's consent to
// the first frame on its screen, each frame's latency from the adviser's
// canvas to the client's screen (median and 95th percentile, after the
// first 5 s), the picture's size, and the bitrate of a static document
// (a canvas that does not change) and of one being scrolled, after their
// first 3 s.
func BenchmarkScreenShare(b *testing.B) {
	for b.Loop() {
		ctx := testContext(b, 3*time.Minute)
		srv := startLoopbackServer(ctx, b)
		adviser := browsertest.Launch(b, browsertest.Chromium, browsertest.Options{FakeMedia: true})
		client := browsertest.Launch(b, browsertest.Chromium, browsertest.Options{FakeMedia: true})
		for _, p := range []*browsertest.Puppet{adviser, client} {
			p.Page().OnNewDocument(browsertest.PatternJS)
			p.Page().OnNewDocument(screenHooks)
		}
		s := startScreenConsult(ctx, b, "", srv.url, nil, adviser.Page(), client)
		consent := s.consentAndShare(b)
		time.Sleep(15 * time.Second)
		lat := s.summary(s.page, s.firstFrame+5000)
		// A static document: the adviser shares a canvas that never
		// changes.
		s.console.Click(`[data-testid=share-stop]`)
		s.console.Eval(`(navigator.mediaDevices.getDisplayMedia = async () => direktPattern.capture({ width: 800, height: 450, fps: 15, still: true }), true)`, nil)
		s.console.Until(shareEnabled)
		var decoded int
		s.page.Eval(`direktPattern.results.decoded`, &decoded)
		s.console.Click(`[data-testid=share-screen]`)
		s.awaitFrames(b, s.page, decoded+1)
		time.Sleep(3 * time.Second)
		b0, t0 := videoBytes(b, s.page), time.Now()
		time.Sleep(10 * time.Second)
		static := float64(videoBytes(b, s.page)-b0) * 8 / 1000 / time.Since(t0).Seconds()
		// Someone scrolls through the document: 4 pixels a frame.
		s.console.Click(`[data-testid=share-stop]`)
		s.console.Eval(`(navigator.mediaDevices.getDisplayMedia = async () => direktPattern.capture({ width: 800, height: 450, fps: 15, scroll: 4 }), true)`, nil)
		s.console.Until(shareEnabled)
		s.page.Eval(`direktPattern.results.decoded`, &decoded)
		s.console.Click(`[data-testid=share-screen]`)
		s.awaitFrames(b, s.page, decoded+1)
		time.Sleep(3 * time.Second)
		b0, t0 = videoBytes(b, s.page), time.Now()
		time.Sleep(10 * time.Second)
		scrolling := float64(videoBytes(b, s.page)-b0) * 8 / 1000 / time.Since(t0).Seconds()
		scrollLat := s.summary(s.page, t0.UnixMilli())
		b.ReportMetric(float64(consent.Milliseconds()), "consent-to-frame-ms")
		b.ReportMetric(lat.Median, "latency-median-ms")
		b.ReportMetric(lat.P95, "latency-p95-ms")
		b.ReportMetric(float64(lat.W), "frame-width-px")
		b.ReportMetric(static, "static-kbit/s")
		b.ReportMetric(scrolling, "scrolling-kbit/s")
		b.ReportMetric(scrollLat.P95, "scrolling-p95-ms")
		b.Logf("loopback: consent to first frame %s; latency median %.0f ms, p95 %.0f ms over %d frames of %d×%d; static document %.1f kbit/s; scrolling %.0f kbit/s, latency median %.0f ms, p95 %.0f ms over %d frames",
			consent.Round(time.Millisecond), lat.Median, lat.P95, lat.Count, lat.W, lat.H, static, scrolling, scrollLat.Median, scrollLat.P95, scrollLat.Count)
		s.api.post("/api/end", nil)
	}
}

// TestScreenShareJoinConsole: a `direkt join` client sees the adviser's
// share in its own console page, as the browser client does, and shares
// its own screen back: both Go peers bridge their consoles (docs/screen.md)
// and forward over the session between them. Loopback, two Chromiums.
func TestScreenShareJoinConsole(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	ctx := testContext(t, 3*time.Minute)
	srv := startLoopbackServer(ctx, t)
	adviser := browsertest.Launch(t, browsertest.Chromium, browsertest.Options{FakeMedia: true})
	client := browsertest.Launch(t, browsertest.Chromium, browsertest.Options{FakeMedia: true})
	for _, p := range []*browsertest.Puppet{adviser, client} {
		p.Page().OnNewDocument(browsertest.PatternJS)
		p.Page().OnNewDocument(screenHooks)
	}
	_, links := startHost(ctx, t, "", srv.url, t.TempDir())
	join := start(t, "join", procOptions{}, "join", "--json", "-v", "--no-browser", "--server", srv.url, "--name", "Kunde", "--lang", "en", "--data", t.TempDir(), links.Code)
	var joinLinks struct {
		Console string `json:"console_url"`
	}
	if err := json.Unmarshal([]byte(join.mustEvent(ctx, "console").raw), &joinLinks); err != nil {
		t.Fatal(err)
	}
	hc, jc := adviser.Page(), client.Page()
	hc.Goto(links.Console)
	jc.Goto(joinLinks.Console)
	hc.Wait(`body[data-state=connected]`)
	jc.Wait(`body[data-state=connected]`)

	hc.Click(`[data-testid=ask-screen]`)
	jc.Wait(`[data-testid=consent-item][data-what=screen] [data-testid=ask-accept]`)
	watch(jc)
	consent := time.Now()
	jc.Click(`[data-testid=consent-item][data-what=screen] [data-testid=ask-accept]`)
	hc.Until(`!document.querySelector('[data-testid=share-screen]').disabled`)
	hc.Click(`[data-testid=share-screen]`)
	jc.Until(`direktPattern.results.decoded > 30`)
	s := &screenConsult{t: t}
	sum := s.summary(jc, 0)
	t.Logf("the adviser's share in the join console: consent to first frame %s; latency median %.0f ms, p95 %.0f ms over %d frames of %d×%d",
		time.UnixMilli(sum.First).Sub(consent).Round(time.Millisecond), sum.Median, sum.P95, sum.Count, sum.W, sum.H)
	if sum.W != 800 || sum.H != 450 {
		t.Errorf("the join console shows %d×%d, want 800×450", sum.W, sum.H)
	}
	hc.Click(`[data-testid=share-stop]`)
	still(t, jc, "stopped")

	// The client shares back on its own initiative.
	watch(hc)
	jc.Click(`[data-testid=share-screen]`)
	hc.Until(`direktPattern.results.decoded > 30`)
	back := s.summary(hc, 0)
	t.Logf("the client's share in the adviser's console: latency median %.0f ms, p95 %.0f ms over %d frames of %d×%d", back.Median, back.P95, back.Count, back.W, back.H)
	jc.Click(`[data-testid=share-stop]`)
	// The adviser ends; `direkt join` ends with it (and its console).
	newNetnsConsole(t, "", links.Console).post("/api/end", nil)
	join.mustEvent(ctx, "ended")
	if code := join.wait(ctx); code != 0 {
		t.Errorf("join exited %d after the adviser ended", code)
	}
}
