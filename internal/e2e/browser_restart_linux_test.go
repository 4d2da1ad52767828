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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/internal/netbed"
)

// The browser client survives network changes (issue 7, item 7): the real
// `direkt host` in site A, a real headless Chromium in site B's namespace
// behind an easy NAT. Mid-consultation B's network changes — the interface
// goes down and up, the address changes, the router forgets its conntrack
// entries — and while it is cut both sides chat. The join page re-opens its
// mailbox, asks the host for an ICE restart and answers its offer; every
// message arrives exactly once afterwards, in the same consultation, and
// the test logs the pause: from the network's restoration to the last
// message of the outage arriving.

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
	if browsertest.Path() == "" {
		t.Skip("no Chromium installed (apt-get install chromium, or set DIREKT_CHROMIUM)")
	}
	ctx := testContext(t, 4*time.Minute)
	bed := openBed(ctx, t, netbed.Config{Prefix: browserPrefix, A: netbed.Public, B: netbed.Easy, Delay: 5 * time.Millisecond})
	srvAddr := netbed.ServerAddr.String()
	srv := start(t, "server", procOptions{Netns: bed.Server}, "server", "--listen", srvAddr+":8080", "--turn-listen", srvAddr+":3478", "--public-ip", srvAddr)
	if _, err := srv.awaitStderr(ctx, "direkt server running"); err != nil {
		t.Fatalf("server did not start: %v\n%s", err, srv.eventLog())
	}
	server := "http://" + srvAddr + ":8080"
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
	api := newNetnsConsole(t, bed.A.Host, links.Console)

	b := browsertest.New(t, browsertest.Options{Netns: bed.B.Host})
	// The page's console says what the browser reported and when.
	pageLog := make(chan string, 256)
	lctx, stopLog := context.WithCancel(b)
	logDone := make(chan struct{})
	messages := chromedp.Console(lctx)
	go func() {
		defer close(logDone)
		for m, err := range messages {
			if err != nil {
				return
			}
			if strings.HasPrefix(m.Text, "direkt:") {
				select {
				case pageLog <- m.Time.Format("15:04:05.000") + " " + m.Text:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() {
		stopLog()
		<-logDone
	})
	do := func(a chromedp.Action[chromedp.Void]) {
		t.Helper()
		browsertest.Do(t, b, a)
	}
	do(chromedp.Navigate(links.Join))
	do(chromedp.WaitVisible(chromedp.CSS(`body[data-state=connected]`)))
	if _, _, err := host.await(ctx, 0, func(e event) bool { return e.Event == "connected" }); err != nil {
		t.Fatalf("host not connected: %s", describeFailure(host, err))
	}
	path := browsertest.Do(t, b, chromedp.Text(chromedp.CSS(`[data-testid=path]`)))
	t.Logf("connected: browser path %q", path)

	sendClient := func(text string) {
		t.Helper()
		do(chromedp.SendKeys(chromedp.CSS(`[data-testid=chat-input]`), text))
		do(chromedp.Click(chromedp.CSS(`[data-testid=chat-send]`)))
	}
	var sent []string // every message, each must arrive once
	chat := func(tag string) (fromHost, fromClient string) {
		fromHost, fromClient = "host "+tag, "client "+tag
		api.post("/api/chat", map[string]string{"text": fromHost})
		sendClient(fromClient)
		sent = append(sent, fromHost, fromClient)
		return
	}
	// arrivals reports whether the host's text is in the page and the
	// client's at the host.
	arrivals := func(fromHost, fromClient string) (atClient, atHost bool) {
		page := browsertest.Do(t, b, chromedp.Evaluate[[]string](
			`[...document.querySelectorAll('[data-testid=chat-message][data-from=host]')].map((e) => e.lastChild.textContent)`))
		atClient = count(page, fromHost) > 0
		for _, m := range api.chat() {
			atHost = atHost || (m.From == "client" && m.Text == fromClient)
		}
		return atClient, atHost
	}
	// awaitChat waits for both and returns how long each took.
	awaitChat := func(h, c string, within time.Duration) (toClient, toHost time.Duration) {
		t.Helper()
		start := time.Now()
		for toClient == 0 || toHost == 0 {
			if time.Since(start) > within {
				t.Fatalf("chat %q (%s) / %q (%s) did not arrive within %s; page link %q; page log:\n%s", h, toClient, c, toHost, within,
					browsertest.Do(t, b, chromedp.Evaluate[string](`document.body.dataset.link ?? ''`)), strings.Join(drainLog(pageLog), "\n"))
			}
			atClient, atHost := arrivals(h, c)
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
	h, c := chat("before")
	awaitChat(h, c, 10*time.Second)
	// The host's first heartbeat tells the page that it restarts when asked.
	for heard := false; !heard; {
		select {
		case l := <-pageLog:
			heard = strings.Contains(l, "restarts ICE when asked")
		case <-time.After(10 * time.Second):
			t.Fatal("no heartbeat from the host within 10 s")
		}
	}

	for _, tc := range []struct {
		name    string
		disrupt func(ctx context.Context, s *netbed.Site) error
	}{
		{"down-up", func(ctx context.Context, s *netbed.Site) error { return s.DownUp(ctx, browserOutage) }},
		{"new-address", func(ctx context.Context, s *netbed.Site) error { _, err := s.NewAddress(ctx); return err }},
		{"conntrack-flush", func(ctx context.Context, s *netbed.Site) error { return s.RouterReboot(ctx, true) }},
	} {
		drainLog(pageLog)
		cut := time.Now()
		done := make(chan error, 1)
		go func() { done <- tc.disrupt(ctx, bed.B) }()
		// Chat while the network is (or just was) changing.
		time.Sleep(300 * time.Millisecond)
		h, c := chat("during " + tc.name)
		if err := <-done; err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		restored := time.Now()
		toClient, toHost := awaitChat(h, c, 75*time.Second)
		t.Logf("%s: network restored %s after the cut; the outage's chat reached the page %s and the host %s after that; page: %s",
			tc.name, restored.Sub(cut).Round(time.Millisecond), toClient.Round(time.Millisecond), toHost.Round(time.Millisecond),
			strings.Join(drainLog(pageLog), "; "))
		// And chat flows at once afterwards.
		h, c = chat("after " + tc.name)
		toClient, toHost = awaitChat(h, c, 10*time.Second)
		t.Logf("%s: the next chat took %s to the page, %s to the host", tc.name, toClient.Round(time.Millisecond), toHost.Round(time.Millisecond))
		if state := browsertest.Do(t, b, chromedp.Evaluate[string](`document.body.dataset.state`)); state != "connected" {
			t.Fatalf("%s: page state %q after the change", tc.name, state)
		}
	}

	// A file from the client in flight while the interface goes down and
	// up: it goes on after the restart and arrives once, intact.
	src := filepath.Join(t.TempDir(), "Unterlagen.bin")
	writeRandom(t, src, browserFileBytes)
	want := sha256File(t, src)
	do(chromedp.SetUploadFiles(chromedp.CSS(`[data-testid=file-input]`), []string{src}))
	var moving int64
	deadline := time.Now().Add(60 * time.Second)
	for moving < 4<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("the client's file did not start: %+v", api.files())
		}
		for _, f := range api.files() {
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
	if err := bed.B.DownUp(ctx, browserOutage); err != nil {
		t.Fatal(err)
	}
	restored := time.Now()
	t.Logf("file: interface down at %d of %d bytes", moving, browserFileBytes)
	for {
		fs := api.files()
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
			t.Fatalf("the client's file did not arrive after the outage: %+v; page log:\n%s", f, strings.Join(drainLog(pageLog), "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("file: done %s after the interface came back (%s after the cut); page: %s", time.Since(restored).Round(time.Millisecond),
		time.Since(cut).Round(time.Millisecond), strings.Join(drainLog(pageLog), "; "))

	// Every message once, on both sides, in one consultation.
	page := browsertest.Do(t, b, chromedp.Evaluate[[]string](
		`[...document.querySelectorAll('[data-testid=chat-message]')].map((e) => e.lastChild.textContent)`))
	hostChat := api.chat()
	for _, m := range sent {
		if n := count(page, m); n != 1 {
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
	var connected int
	for _, e := range host.all() {
		if e.Event == "connected" {
			connected++
		}
	}
	if connected != 1 {
		t.Errorf("host reported %d connected events, want 1: the same consultation must carry on", connected)
	}
	if _, ok := host.stderrContains("ICE restart found a new path"); !ok {
		t.Errorf("the host never restarted ICE")
	}
	api.post("/api/end", nil)
	do(chromedp.WaitVisible(chromedp.CSS(`body[data-state=ended]`)))
}

func count(list []string, s string) (n int) {
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func drainLog(c chan string) (out []string) {
	for {
		select {
		case s := <-c:
			out = append(out, s)
		default:
			return out
		}
	}
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
