package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"os"
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
// chat. Every message arrives exactly once afterwards, in the same
// consultation, and the test logs the pause: from the network's
// restoration to the last message of the outage arriving.
//
// Chromium's connection survives each change by an ICE restart
// (docs/protocol.md, section 5.1): the page re-opens its mailbox, asks the
// host for a restart and answers its offer; DTLS and SCTP carry on. Firefox
// (153 ESR) fails its DTLS transport, and with it SCTP and every data
// channel, as soon as sending a packet fails because the network is gone
// (no route with the interface down, the socket's address removed), which
// no ICE restart revives: there the page builds a new connection over the
// same pairing (section 5.2) and the consultation resumes on it
// (docs/consult.md, "Resuming"), each side sending again the lines the
// other did not get. A file from the client in flight across a change
// arrives intact where the connection survives (Chromium; Firefox across
// the router's flush, which SCTP retransmits through); where the connection
// had to be rebuilt, the page offers it again over the new one by itself,
// and it arrives intact, once.

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
		{name: "chromium", engine: browsertest.Chromium},
		{name: "firefox", engine: browsertest.Firefox, rebuilds: true},
	} {
		t.Run(e.name, func(t *testing.T) { browserRestart(ctx, t, e) })
	}
}

// browserEngine is a browser and what it survives.
type browserEngine struct {
	name   string
	engine browsertest.Engine
	// rebuilds: the browser's DTLS fails when a send fails at the socket
	// (Firefox), so the interface going down and a new address make the
	// page build a new connection (section 5.2) rather than restart ICE.
	rebuilds bool
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
	if e.rebuilds {
		// A file survives only what the connection survives.
		fileCut = flush
	}
	for _, tc := range changes {
		plog.next()
		cut := time.Now()
		done := make(chan error, 1)
		go func() { done <- tc.disrupt(ctx, bed.B) }()
		// Chat while the network is (or just was) changing.
		time.Sleep(300 * time.Millisecond)
		// After Firefox's address changed, puppeteer's waitForSelector
		// (behind Type and Click) waited 30 s for the visible input:
		// type from a script there.
		says := c.clientSays
		if e.rebuilds {
			says = c.clientSaysByScript
		}
		h, cl := c.hostSays("during "+tc.name), says("during "+tc.name)
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		restored := time.Now()
		toClient, toHost := c.awaitChat(h, cl, 75*time.Second)
		t.Logf("%s: network restored %s after the cut (%s); the outage's chat reached the page %s and the host %s after that; page: %s",
			tc.name, restored.Sub(cut).Round(time.Millisecond), cut.UTC().Format("15:04:05.000"), toClient.Round(time.Millisecond),
			toHost.Round(time.Millisecond), strings.Join(plog.next(), "; "))
		// And chat flows at once afterwards.
		toClient, toHost = c.awaitChat(c.hostSays("after "+tc.name), says("after "+tc.name), 10*time.Second)
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
	_, restarted := c.host.stderrContains("ICE restart found a new path")
	_, rebuilt := c.host.stderrContains("the consultation goes on over a new connection")
	t.Logf("the host restarted ICE: %v; built a new connection: %v", restarted, rebuilt)
	if !restarted && !rebuilt {
		t.Errorf("the host neither restarted ICE nor built a new connection")
	}
	if e.rebuilds && !rebuilt {
		t.Errorf("%s: the host never built a new connection", e.name)
	}
	if e.rebuilds {
		fileLost(ctx, t, c, bed)
		hostFileLost(ctx, t, c, bed)
	}
	c.checkOnce(t)
	c.api.post("/api/end", nil)
	c.page.Wait(`body[data-state=ended]`)
}

// fileLost sends a file from the client and takes the interface down while
// it is in flight: Firefox's connection has to be rebuilt, and the page
// offers the file again over the new one (or, when the page's hold kept
// Firefox's DTLS alive, it simply goes on). Either way it arrives intact,
// once: one done copy on the host, shown done on the page. The
// consultation goes on.
func fileLost(ctx context.Context, t *testing.T, c *browserConsult, bed *netbed.Bed) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "Nachtrag.bin")
	writeRandom(t, src, browserFileBytes)
	want := sha256File(t, src)
	before := len(c.api.files())
	var shownBefore []string
	c.page.Eval(`[...document.querySelectorAll('[data-testid=file][data-file-id^=c]')].map((e) => e.dataset.state)`, &shownBefore)
	c.page.Upload(`[data-testid=file-input]`, src)
	deadline := time.Now().Add(60 * time.Second)
	for {
		fs := c.api.files()
		if len(fs) > before && fs[len(fs)-1].Done >= 4<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second file did not start: %+v", fs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := downUp.disrupt(ctx, bed.B); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	// The host may list the attempt cut off by the old connection as
	// failed for a moment, until the page's re-offer: wait for done.
	var f hostFile
	for {
		fs := c.api.files()
		if len(fs) != before+1 {
			t.Fatalf("the host lists %d files, want %d: the file must arrive once: %+v", len(fs), before+1, fs)
		}
		f = fs[len(fs)-1]
		if f.State == "done" {
			break
		}
		if time.Since(restored) > 90*time.Second {
			t.Fatalf("the second file did not arrive: %+v; page log:\n%s", f, strings.Join(c.plog.next(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	arrived := time.Since(restored).Round(time.Millisecond)
	if f.SHA256 != want {
		t.Errorf("the second file arrived with SHA-256 %s, want %s", f.SHA256, want)
	}
	t.Logf("file across down-up: arrived intact %s after the network came back, offered again %d times; page: %s", arrived, f.Resent, strings.Join(c.plog.next(), "; "))
	// The page shows it done too, once (its verdict is on its way).
	var shown []string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		c.page.Eval(`[...document.querySelectorAll('[data-testid=file][data-file-id^=c]')].map((e) => e.dataset.state)`, &shown)
		if len(shown) == len(shownBefore)+1 && shown[len(shown)-1] == "done" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host has the second file, the page shows %v", shown)
		}
	}
	c.awaitChat(c.hostSays("after the lost file"), c.clientSaysByScript("after the lost file"), 75*time.Second)
}

// hostFileLost has the adviser send a file, which the page accepts, and
// takes the interface down while it is in flight: the host offers it again
// over the new connection, and the page takes it without asking again (it
// is the file it accepted). It arrives once, intact.
func hostFileLost(ctx context.Context, t *testing.T, c *browserConsult, bed *netbed.Bed) {
	t.Helper()
	src := filepath.Join(t.TempDir(), "Angebot.bin")
	writeRandom(t, src, browserFileBytes)
	want := sha256File(t, src)
	before := len(c.api.files())
	c.api.upload(src)
	var id string
	for deadline := time.Now().Add(30 * time.Second); id == ""; time.Sleep(20 * time.Millisecond) {
		if fs := c.api.files(); len(fs) > before {
			id = fs[len(fs)-1].ID
		}
		if time.Now().After(deadline) {
			t.Fatal("the adviser's file is not listed")
		}
	}
	c.page.Click(`[data-testid=accept-` + id + `]`)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fs := c.api.files()
		if f := fs[len(fs)-1]; f.ID == id && f.State == "sending" && f.Done >= 4<<20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the adviser's file did not start: %+v", fs)
		}
	}
	if err := downUp.disrupt(ctx, bed.B); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	var got struct {
		States []string
		Sum    string
	}
	for {
		c.page.Eval(`({states: [...document.querySelectorAll('[data-testid=file][data-file-id=`+id+`]')].map((e) => e.dataset.state), sum: document.querySelector('[data-testid=sha256-`+id+`]')?.textContent ?? ''})`, &got)
		if len(got.States) == 1 && got.States[0] == "done" {
			break
		}
		if len(got.States) > 1 {
			t.Fatalf("the page lists the adviser's file %d times", len(got.States))
		}
		if time.Since(restored) > 90*time.Second {
			t.Fatalf("the adviser's file did not arrive: %v; host: %+v; page log:\n%s", got.States, c.api.files(), strings.Join(c.plog.next(), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	arrived := time.Since(restored).Round(time.Millisecond)
	if got.Sum != want {
		t.Errorf("the adviser's file arrived with SHA-256 %s, want %s", got.Sum, want)
	}
	// The host hears the page's verdict: one file, done.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		fs := c.api.files()
		if len(fs) != before+1 {
			t.Fatalf("the host lists %d files, want %d: %+v", len(fs), before+1, fs)
		}
		if f := fs[len(fs)-1]; f.State == "done" {
			t.Logf("adviser's file across down-up: arrived intact at the page %s after the network came back, offered again %d times", arrived, f.Resent)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the host did not hear the page's verdict: %+v", fs[len(fs)-1])
		}
	}
}

// browserConsult is a consultation between the real host in site A and the
// join page in site B.
type browserConsult struct {
	t    testing.TB
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
	host, links := startHost(ctx, t, bed.A.Host, server, t.TempDir())
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

// hostLinks are what a host's code event gives: its code, the browser's
// join link and the console's address with its token.
type hostLinks struct {
	Code    string `json:"code"`
	Join    string `json:"join_url"`
	Console string `json:"console_url"`
}

// startHost starts `direkt host` (the adviser "Beraterin", English) in ns
// (the test's own for "") with its data in data and flags added, and
// returns it with its links once it shows a code.
func startHost(ctx context.Context, t testing.TB, ns, server, data string, flags ...string) (*proc, hostLinks) {
	t.Helper()
	args := append([]string{"host", "--json", "-v", "--no-browser", "--server", server, "--name", "Beraterin", "--lang", "en", "--data", data}, flags...)
	host := start(t, "host", procOptions{Netns: ns}, args...)
	codeEv, _, err := host.await(ctx, 0, func(e event) bool { return e.Event == "code" || e.Event == "error" })
	if err != nil || codeEv.Event != "code" {
		t.Fatalf("host got no code: %s", describeFailure(host, err))
	}
	var links hostLinks
	if err := json.Unmarshal([]byte(codeEv.raw), &links); err != nil || links.Code == "" || links.Join == "" || links.Console == "" {
		t.Fatalf("code event %s: %v", codeEv.raw, err)
	}
	return host, links
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
// the host's namespace: its connections are dialled from inside it (from
// the test's own with ns "").
type netnsConsole struct {
	t      testing.TB
	base   string
	token  string
	client *http.Client
}

func newNetnsConsole(t testing.TB, ns, consoleURL string) *netnsConsole {
	u, err := url.Parse(consoleURL)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		if ns == "" {
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
		}
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

// upload sends the file at path as the adviser (POST /api/files).
func (c *netnsConsole) upload(path string) {
	c.t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		c.t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("size", strconv.Itoa(len(data)))
	fw, _ := mw.CreateFormFile("file", filepath.Base(path))
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.base+"/api/files", &body)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := c.client.Do(req)
	if err != nil {
		c.t.Fatalf("upload: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		c.t.Fatalf("upload: %s %s", resp.Status, b)
	}
}

type hostChatMessage struct{ From, Text string }

type hostFile struct {
	ID                  string
	From, State, SHA256 string
	Size, Done          int64
	Resent              int
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
