package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/internal/netbed"
)

// The browser client survives network changes (issue 7, items 7 and 8): the
// real `direkt host` in site A, a real headless browser in site B's
// namespace behind an easy NAT, once Chromium and once Firefox, both driven
// by puppeteer-core (internal/browsertest.LaunchWith). Mid-consultation B's
// network changes — the interface goes down and up, the address changes,
// the router forgets its conntrack entries — and while it is cut both sides
// chat. The join page re-opens its mailbox, asks the host for an ICE restart
// and answers its offer; every message arrives exactly once afterwards, in
// the same consultation, and the test logs the pause: from the network's
// restoration to the last message of the outage arriving.
//
// Firefox (153 ESR) fails its DTLS transport, and with it SCTP and every
// data channel, as soon as sending a packet fails because the network is
// gone (no route with the interface down, the socket's address removed);
// an ICE restart cannot revive that. The page holds its own sends while it
// suspects or knows its path lost (web/src/hold.js), so in Firefox the
// client's chat typed while the page shows that it is reconnecting waits
// in the page and arrives once after the restart: across the router's
// flush always, across the interface going down and up in at least one of
// five consultations, across a new address when Firefox's own packets
// (ICE consent checks, SCTP acknowledgements) did not end it first. What
// the page cannot hold is pinned as the limit it is: a message sent before
// the page noticed the loss ends the consultation, and the page says the
// connection was lost. A file from the client is in flight in Firefox only
// across the router's flush: its SCTP retransmits by itself.

// browserPrefix names this test's namespaces.
const browserPrefix = "dkw"

// browserOutage is how long the interface stays down.
const browserOutage = 5 * time.Second

// browserFileBytes is the size of the file in flight during an outage.
const browserFileBytes = 48 << 20

func TestBrowserRestartNetns(t *testing.T) {
	if testing.Short() {
		t.Skip("namespace test")
	}
	requireMatrix(t)
	ctx := testContext(t, 8*time.Minute)
	for _, e := range []browserEngine{
		{name: "chromium", engine: browsertest.Chromium, sendsWhileCut: true},
		{name: "firefox", engine: browsertest.Firefox},
	} {
		t.Run(e.name, func(t *testing.T) { browserRestart(ctx, t, e) })
	}
}

// browserEngine is a browser and what it survives.
type browserEngine struct {
	name   string
	engine browsertest.Engine
	// sendsWhileCut: the page goes on after sending while its interface
	// is down or its address gone (Chromium), or that ends its connection
	// (Firefox).
	sendsWhileCut bool
}

// netChange is a change of site B's network.
type netChange struct {
	name    string
	disrupt func(ctx context.Context, s *netbed.Site) error
	// cuts: sending fails while it lasts (no route, or the address
	// gone), rather than going out into nothing.
	cuts bool
}

var (
	downUp     = netChange{"down-up", func(ctx context.Context, s *netbed.Site) error { return s.DownUp(ctx, browserOutage) }, true}
	newAddress = netChange{"new-address", func(ctx context.Context, s *netbed.Site) error { _, err := s.NewAddress(ctx); return err }, true}
	flush      = netChange{"conntrack-flush", func(ctx context.Context, s *netbed.Site) error { return s.RouterReboot(ctx, true) }, false}
)

// browserRestart runs one consultation with a browser of e's engine in site
// B through the network changes.
func browserRestart(ctx context.Context, t *testing.T, e browserEngine) {
	// A bed each: a site's address changes only once.
	bed := openBed(ctx, t, netbed.Config{Prefix: browserPrefix, A: netbed.Public, B: netbed.Easy, Delay: 5 * time.Millisecond})
	srvAddr := netbed.ServerAddr.String()
	srv := start(t, "server", procOptions{Netns: bed.Server}, append([]string{"server", "--listen", srvAddr + ":8080", "--turn-listen", srvAddr + ":3478", "--public-ip", srvAddr}, relayAllow()...)...)
	if _, err := srv.awaitStderr(ctx, "direkt server running"); err != nil {
		t.Fatalf("server did not start: %v\n%s", err, srv.eventLog())
	}
	server := "http://" + srvAddr + ":8080"
	b := browsertest.LaunchWith(t, e.engine, browsertest.Options{}, func(name string, args ...string) *exec.Cmd {
		return bed.Command(ctx, bed.B.Host, name, args...)
	})
	t.Logf("browser %s", b.Version())
	// The page's console says what the browser reported and when.
	plog := &pageLog{p: b}
	c := joinInBed(ctx, t, bed, server, b.Page(), plog)

	changes, fileCut := []netChange{downUp, newAddress, flush}, downUp
	if !e.sendsWhileCut {
		// The interface and the address change in consultations of
		// their own: they may end one whatever the page does (below).
		changes, fileCut = []netChange{flush}, flush
	}
	for _, tc := range changes {
		plog.next()
		cut := time.Now()
		done := make(chan error, 1)
		go func() { done <- tc.disrupt(ctx, bed.B) }()
		// Chat while the network is (or just was) changing.
		time.Sleep(300 * time.Millisecond)
		h, cl := c.hostSays("during "+tc.name), c.clientSays("during "+tc.name)
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		restored := time.Now()
		toClient, toHost := c.awaitChat(h, cl, 75*time.Second)
		t.Logf("%s: network restored %s after the cut (%s); the outage's chat reached the page %s and the host %s after that; page: %s",
			tc.name, restored.Sub(cut).Round(time.Millisecond), cut.UTC().Format("15:04:05.000"), toClient.Round(time.Millisecond),
			toHost.Round(time.Millisecond), strings.Join(plog.next(), "; "))
		// And chat flows at once afterwards.
		toClient, toHost = c.awaitChat(c.hostSays("after "+tc.name), c.clientSays("after "+tc.name), 10*time.Second)
		t.Logf("%s: the next chat took %s to the page, %s to the host", tc.name, toClient.Round(time.Millisecond), toHost.Round(time.Millisecond))
		if state := c.page.Attr(`body`, `data-state`); state != "connected" {
			t.Fatalf("%s: page state %q after the change", tc.name, state)
		}
	}

	// A file from the client in flight while the network changes: it goes
	// on after the restart and arrives once, intact.
	src := filepath.Join(t.TempDir(), "Unterlagen.bin")
	writeRandom(t, src, browserFileBytes)
	want := sha256File(t, src)
	c.page.Upload(`[data-testid=file-input]`, src)
	var moving int64
	deadline := time.Now().Add(60 * time.Second)
	for moving < 4<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the client's file did not start: %+v", c.api.files())
		}
		for _, f := range c.api.files() {
			if f.From == "client" {
				moving = f.Done
				if f.State == "done" {
					t.Fatalf("the file arrived before the network changed: make it bigger")
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	cut := time.Now()
	if err := fileCut.disrupt(ctx, bed.B); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	t.Logf("file: %s at %d of %d bytes (%s)", fileCut.name, moving, browserFileBytes, cut.UTC().Format("15:04:05.000"))
	for {
		fs := c.api.files()
		var mine []hostFile
		for _, f := range fs {
			if f.From == "client" {
				mine = append(mine, f)
			}
		}
		if len(mine) != 1 {
			t.Fatalf("the host lists %d files from the client, want 1: %+v", len(mine), fs)
		}
		if f := mine[0]; f.State == "done" {
			if f.SHA256 != want || f.Size != browserFileBytes {
				t.Fatalf("the host got %d bytes with SHA-256 %s, want %d and %s", f.Size, f.SHA256, browserFileBytes, want)
			}
			break
		} else if f.State == "failed" || time.Since(restored) > 90*time.Second {
			t.Fatalf("the client's file did not arrive after the outage: %+v; page log:\n%s", f, strings.Join(plog.next(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("file: done %s after the network came back (%s after the cut); page: %s", time.Since(restored).Round(time.Millisecond),
		time.Since(cut).Round(time.Millisecond), strings.Join(plog.next(), "; "))

	// Every message once, on both sides, in one consultation.
	c.checkOnce(t)
	var connected int
	for _, e := range c.host.all() {
		if e.Event == "connected" {
			connected++
		}
	}
	if connected != 1 {
		t.Errorf("host reported %d connected events, want 1: the same consultation must carry on", connected)
	}
	if _, ok := c.host.stderrContains("ICE restart found a new path"); !ok {
		t.Errorf("the host never restarted ICE")
	}
	c.api.post("/api/end", nil)
	c.page.Wait(`body[data-state=ended]`)
	if e.sendsWhileCut {
		return
	}

	// The limit, in a new consultation: a message sent while the interface
	// is down, before the page noticed, fails the browser's DTLS transport.
	// The page must say that the connection is lost, not go on
	// reconnecting. (The address changes only once in a bed.)
	for _, tc := range []netChange{downUp} {
		c := joinInBed(ctx, t, bed, server, b.Page(), plog)
		plog.next()
		done := make(chan error, 1)
		go func() { done <- tc.disrupt(ctx, bed.B) }()
		time.Sleep(300 * time.Millisecond)
		// The page may have ended already (SCTP sends by itself), and
		// its chat input with it.
		wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		if _, err := c.page.Call(wctx, "type", map[string]any{"sel": `[data-testid=chat-input]:not(:disabled)`, "text": "client during " + tc.name, "timeout": 3000}); err == nil {
			_, _ = c.page.Call(wctx, "click", map[string]any{"sel": `[data-testid=chat-send]`, "timeout": 3000})
		}
		_, err := c.page.Call(wctx, "wait", map[string]any{"sel": `body[data-state=ended]`})
		cancel()
		if err != nil {
			t.Fatalf("%s: the page did not end after a send during the change (%v); page: %s\n"+
				"If %s now survives that, let it chat during every change and update the README.",
				tc.name, err, strings.Join(plog.next(), "; "), b.Version())
		}
		if got := c.page.Text(`[data-testid=ended-reason]`); got != "The connection was lost." {
			t.Errorf("%s: a send during the change ended the page with %q, want the connection lost", tc.name, got)
		}
		t.Logf("%s, the client sending meanwhile: the consultation ended; page: %s", tc.name, strings.Join(plog.next(), "; "))
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}

	// The interface going down and up, and a new address, each in a new
	// consultation: the client types once the page shows that it is
	// reconnecting, and the page holds that until the path is back. But
	// Firefox sends by itself too (ICE consent checks every few seconds,
	// SCTP acknowledgements of the host's heartbeat): when one of those
	// fails, ICE reports "disconnected" about 0.3 s after the cut and the
	// consultation ends whatever the page does; then the page must say
	// so. Which of the two happens varies from run to run (10 of 15
	// consultations survived in one series, 0 of 5 in another), so the
	// test asserts that each consultation does one or the other, cleanly,
	// and reports how many survived. The interface goes down again, up to
	// five times, until one consultation survives it; the address changes
	// only once in a bed.
	tries, survived := 0, false
	for ; tries < 5 && !survived; tries++ {
		survived = firefoxHeld(ctx, t, bed, server, b.Page(), plog, downUp)
	}
	t.Logf("%s: %d of %d consultations survived with the chat held", downUp.name, map[bool]int{true: 1}[survived], tries)
	firefoxHeld(ctx, t, bed, server, b.Page(), plog, newAddress)
}

// firefoxHeld runs change tc in a new consultation, the client typing once
// the page shows that it is reconnecting; it reports whether the
// consultation survived (then each message arrived once, the client's held
// in the page) or ended before the client typed, the page saying that the
// connection was lost.
func firefoxHeld(ctx context.Context, t *testing.T, bed *netbed.Bed, server string, page *browsertest.Page, plog *pageLog, tc netChange) bool {
	t.Helper()
	c := joinInBed(ctx, t, bed, server, page, plog)
	defer func() {
		if c.page.Attr(`body`, `data-state`) != "ended" {
			c.api.post("/api/end", nil)
			c.page.Wait(`body[data-state=ended]`)
		}
	}()
	plog.next()
	cut := time.Now()
	done := make(chan error, 1)
	go func() { done <- tc.disrupt(ctx, bed.B) }()
	time.Sleep(300 * time.Millisecond)
	h := c.hostSays("during " + tc.name)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	_, err := c.page.Call(wctx, "wait", map[string]any{"sel": `body[data-link=reconnecting], body[data-state=ended]`})
	cancel()
	if err != nil {
		t.Fatalf("%s: the page neither noticed the lost path nor ended: %v; page: %s", tc.name, err, strings.Join(plog.next(), "; "))
	}
	shown := time.Since(cut)
	if c.page.Attr(`body`, `data-state`) == "ended" {
		if got := c.page.Text(`[data-testid=ended-reason]`); got != "The connection was lost." {
			t.Errorf("%s: the page ended with %q, want the connection lost", tc.name, got)
		}
		t.Logf("%s: the consultation ended %s after the cut, the page having sent nothing; page: %s",
			tc.name, shown.Round(time.Millisecond), strings.Join(plog.next(), "; "))
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		return false
	}
	cl := c.clientSaysByScript("during " + tc.name)
	typedHeld := c.page.Attr(`body`, `data-link`) == "reconnecting"
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	toClient, toHost := c.awaitChat(h, cl, 75*time.Second)
	lines := plog.next()
	t.Logf("%s: survived; the page showed reconnecting %s after the cut, the network was restored %s after it; the outage's chat reached the page %s and the host %s after that (the client's held in the page: %v); page: %s",
		tc.name, shown.Round(time.Millisecond), restored.Sub(cut).Round(time.Millisecond), toClient.Round(time.Millisecond), toHost.Round(time.Millisecond), typedHeld, strings.Join(lines, "; "))
	// A message typed while the page showed reconnecting was held there,
	// and the page let it go once the path was back.
	if typedHeld && !slices.ContainsFunc(lines, func(l string) bool {
		return strings.Contains(l, "sends go on after") && !strings.HasSuffix(l, " 0 held")
	}) {
		t.Errorf("%s: the client's message typed while reconnecting was not held in the page", tc.name)
	}
	c.awaitChat(c.hostSays("after "+tc.name), c.clientSays("after "+tc.name), 10*time.Second)
	c.checkOnce(t)
	return true
}

// browserConsult is a consultation between the real host in site A and the
// join page in site B.
type browserConsult struct {
	t    *testing.T
	host *proc
	api  *netnsConsole
	page *browsertest.Page
	plog *pageLog
	sent []string // every message, each must arrive once
}

// joinInBed starts a host in site A and joins its consultation on page
// (its browser in site B); it returns once a chat went both ways and the
// host's heartbeat told the page that it restarts ICE when asked.
func joinInBed(ctx context.Context, t *testing.T, bed *netbed.Bed, server string, page *browsertest.Page, plog *pageLog) *browserConsult {
	t.Helper()
	host := start(t, "host", procOptions{Netns: bed.A.Host}, "host", "--json", "-v", "--no-browser", "--server", server,
		"--name", "Beraterin", "--lang", "en", "--data", t.TempDir())
	codeEv, _, err := host.await(ctx, 0, func(e event) bool { return e.Event == "code" || e.Event == "error" })
	if err != nil || codeEv.Event != "code" {
		t.Fatalf("host got no code: %s", describeFailure(host, err))
	}
	var links struct {
		Join    string `json:"join_url"`
		Console string `json:"console_url"`
	}
	if err := json.Unmarshal([]byte(codeEv.raw), &links); err != nil || links.Join == "" || links.Console == "" {
		t.Fatalf("code event %s: %v", codeEv.raw, err)
	}
	c := &browserConsult{t: t, host: host, api: newNetnsConsole(t, bed.A.Host, links.Console), page: page, plog: plog}
	plog.next()
	// A join link that differs from the page's address only in its
	// fragment would not load the page again.
	page.Goto("about:blank")
	page.Goto(links.Join)
	page.Wait(`body[data-state=connected]`)
	if _, _, err := host.await(ctx, 0, func(e event) bool { return e.Event == "connected" }); err != nil {
		t.Fatalf("host not connected: %s", describeFailure(host, err))
	}
	t.Logf("connected: browser path %q", page.Text(`[data-testid=path]`))
	c.awaitChat(c.hostSays("before"), c.clientSays("before"), 10*time.Second)
	for deadline := time.Now().Add(10 * time.Second); !slices.ContainsFunc(plog.next(), func(l string) bool {
		return strings.Contains(l, "restarts ICE when asked")
	}); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat from the host within 10 s")
		}
	}
	return c
}

// checkOnce checks that every message sent shows exactly once on the page
// and in the host's console.
func (c *browserConsult) checkOnce(t *testing.T) {
	t.Helper()
	var shown []string
	c.page.Eval(`[...document.querySelectorAll('[data-testid=chat-message]')].map((e) => e.lastChild.textContent)`, &shown)
	hostChat := c.api.chat()
	for _, m := range c.sent {
		if n := count(shown, m); n != 1 {
			t.Errorf("the page shows %q %d times, want once", m, n)
		}
		var n int
		for _, hm := range hostChat {
			if hm.Text == m {
				n++
			}
		}
		if n != 1 {
			t.Errorf("the host shows %q %d times, want once", m, n)
		}
	}
}

func (c *browserConsult) hostSays(tag string) string {
	c.t.Helper()
	m := "host " + tag
	c.api.post("/api/chat", map[string]string{"text": m})
	c.sent = append(c.sent, m)
	return m
}

func (c *browserConsult) clientSays(tag string) string {
	c.t.Helper()
	m := "client " + tag
	c.page.Type(`[data-testid=chat-input]`, m)
	c.page.Click(`[data-testid=chat-send]`)
	c.sent = append(c.sent, m)
	return m
}

// clientSaysByScript puts the text into the chat input and presses send
// from a script: after Firefox's address changed, puppeteer's waitForSelector
// (behind Type and Click) waited 30 s for the visible input while
// evaluating scripts in the page went on working.
func (c *browserConsult) clientSaysByScript(tag string) string {
	c.t.Helper()
	m := "client " + tag
	js := `(() => {
		document.querySelector('[data-testid=chat-input]').value = ` + strconv.Quote(m) + `;
		document.querySelector('[data-testid=chat-send]').click();
		const i = document.querySelector('[data-testid=chat-input]');
		return i.value === '' ? '' : 'state ' + document.body.dataset.state + ', link ' + document.body.dataset.link +
			', input disabled ' + i.disabled + ', shown ' + (i.offsetParent !== null) + ', visibility ' + document.visibilityState;
	})()`
	var why string
	c.page.Eval(js, &why)
	if why != "" {
		c.t.Fatalf("the page did not take %q: %s", m, why)
	}
	c.sent = append(c.sent, m)
	return m
}

// arrivals reports whether the host's text is in the page and the
// client's at the host.
func (c *browserConsult) arrivals(fromHost, fromClient string) (atClient, atHost bool) {
	c.t.Helper()
	var shown []string
	c.page.Eval(`[...document.querySelectorAll('[data-testid=chat-message][data-from=host]')].map((e) => e.lastChild.textContent)`, &shown)
	atClient = count(shown, fromHost) > 0
	for _, m := range c.api.chat() {
		atHost = atHost || (m.From == "client" && m.Text == fromClient)
	}
	return atClient, atHost
}

// awaitChat waits for both and returns how long each took.
func (c *browserConsult) awaitChat(h, cl string, within time.Duration) (toClient, toHost time.Duration) {
	c.t.Helper()
	start := time.Now()
	for toClient == 0 || toHost == 0 {
		if time.Since(start) > within {
			c.t.Fatalf("chat %q (%s) / %q (%s) did not arrive within %s; page link %q; page log:\n%s", h, toClient, cl, toHost, within,
				c.page.Attr(`body`, `data-link`), strings.Join(c.plog.next(), "\n"))
		}
		atClient, atHost := c.arrivals(h, cl)
		if atClient && toClient == 0 {
			toClient = time.Since(start)
		}
		if atHost && toHost == 0 {
			toHost = time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return toClient, toHost
}

// pageLog reads the join page's own console lines ("direkt: …", after the
// driver's time of day) from a browser's driver log.
type pageLog struct {
	p    *browsertest.Puppet
	seen int // bytes of the log read so far
}

// next returns the page's lines logged since the last call.
func (l *pageLog) next() (out []string) {
	s := l.p.Log()
	end := strings.LastIndexByte(s, '\n') + 1
	if end <= l.seen {
		return nil
	}
	for line := range strings.Lines(s[l.seen:end]) {
		if i := strings.Index(line, "direkt: "); i >= 0 {
			ts, _, _ := strings.Cut(line, " ")
			out = append(out, ts+" "+strings.TrimSpace(line[i:]))
		}
	}
	l.seen = end
	return out
}

func count(list []string, s string) (n int) {
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// netnsConsole calls the host console's API, which listens on 127.0.0.1 in
// the host's namespace: its connections are dialled from inside it.
type netnsConsole struct {
	t      *testing.T
	base   string
	token  string
	client *http.Client
}

func newNetnsConsole(t *testing.T, ns, consoleURL string) *netnsConsole {
	u, err := url.Parse(consoleURL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := netbed.Do(ns, func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &netnsConsole{t: t, base: u.Scheme + "://" + u.Host, token: u.Query().Get("t"), client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (c *netnsConsole) do(method, path string, body any) []byte {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		c.t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
	return b
}

func (c *netnsConsole) post(path string, body any) { c.do(http.MethodPost, path, body) }

type hostChatMessage struct{ From, Text string }

type hostFile struct {
	From, State, SHA256 string
	Size, Done          int64
}

func (c *netnsConsole) files() []hostFile {
	c.t.Helper()
	var st struct{ Files []hostFile }
	if err := json.Unmarshal(c.do(http.MethodGet, "/api/state", nil), &st); err != nil {
		c.t.Fatal(fmt.Errorf("state: %w", err))
	}
	return st.Files
}

func (c *netnsConsole) chat() []hostChatMessage {
	c.t.Helper()
	var st struct{ Chat []hostChatMessage }
	if err := json.Unmarshal(c.do(http.MethodGet, "/api/state", nil), &st); err != nil {
		c.t.Fatal(fmt.Errorf("state: %w", err))
	}
	return st.Chat
}
