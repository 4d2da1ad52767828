package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/app"
	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/relay"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/wire"
	"github.com/direkt/direkt/web"
)

// The join page in more than one browser engine: the same consultation,
// against the real host (internal/app, what `direkt host` runs), driven by
// puppeteer-core through web/test/drive.mjs (internal/browsertest.Launch):
// Firefox over WebDriver BiDi, and Chromium over CDP as the reference.
// TestJoinInChromium and the other chromedp tests stay as they are.

func TestJoinPageInFirefox(t *testing.T) {
	joinPageInEngine(t, browsertest.Firefox, "Firefox")
}

func TestJoinPageInChromiumByPuppeteer(t *testing.T) {
	joinPageInEngine(t, browsertest.Chromium, "Chrome")
}

// joinPageInEngine starts one browser of the engine and runs the join
// page's cases in it; agent is how the host names the browser.
func joinPageInEngine(t *testing.T, engine browsertest.Engine, agent string) {
	needNode(t)
	b := browsertest.Launch(t, engine, browsertest.Options{Lang: "de-DE"})
	t.Logf("browser %s", b.Version())
	t.Run("consultation", func(t *testing.T) { joinPageScenario(t, b.For(t), agent) })
	t.Run("relay", func(t *testing.T) { joinThroughRelay(t, b.For(t)) })
	t.Run("leave", func(t *testing.T) { leaveThePage(t, b.For(t)) })
}

// realHost is an app.Host running in the background on a real rendezvous
// that serves the join page; the test owns it.
type realHost struct {
	*app.Host
	t      *testing.T
	server string

	mu      sync.Mutex
	events  []app.Event
	changed chan struct{}
}

// startRealHost runs the real host on the rendezvous at server, configured
// by cfg (name, language, policy, whether it asks for the record) with its
// own key and data folder.
func startRealHost(t *testing.T, ctx context.Context, server string, cfg app.Config) *realHost {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rh := &realHost{t: t, server: server, changed: make(chan struct{})}
	cfg.Server, cfg.Key, cfg.DataDir, cfg.OnEvent = server, key, t.TempDir(), rh.add
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	h, err := app.NewHost(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rh.Host = h
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Host.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Host.Run did not return 30 s after its context ended")
		}
	})
	return rh
}

func (h *realHost) add(e app.Event) {
	h.mu.Lock()
	h.events = append(h.events, e)
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// event waits for the n-th (from 1) event of kind.
func (h *realHost) event(ctx context.Context, kind string, n int) app.Event {
	h.t.Helper()
	for {
		h.mu.Lock()
		seen := 0
		for _, e := range h.events {
			if e.Kind == kind {
				if seen++; seen == n {
					h.mu.Unlock()
					return e
				}
			}
		}
		ch := h.changed
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			h.t.Fatalf("no %s event #%d: %v", kind, n, ctx.Err())
		}
	}
}

// until polls the host's console state until ok holds, and returns it.
func (h *realHost) until(ctx context.Context, what string, ok func(console.State) bool) console.State {
	h.t.Helper()
	for {
		st := h.State()
		if ok(st) {
			return st
		}
		select {
		case <-ctx.Done():
			h.t.Fatalf("the host never saw %s; state: phase %s, asks %+v, files %+v", what, st.Phase, st.Asks, st.Files)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// shot saves the page as <engine>-NAME.png into $DIREKT_SCREENSHOTS, if set.
func shot(t *testing.T, page *browsertest.Page, b *browsertest.Puppet, name string) {
	t.Helper()
	if dir := os.Getenv("DIREKT_SCREENSHOTS"); dir != "" {
		page.Screenshot(filepath.Join(dir, string(b.Engine())+"-"+name+".png"))
	}
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// waitDownload waits for the browser to have saved name completely (want
// bytes) into dir, and returns its content.
func waitDownload(t *testing.T, ctx context.Context, dir, name string, want int) []byte {
	t.Helper()
	for {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err == nil && len(b) == want {
			return b
		}
		select {
		case <-ctx.Done():
			entries, _ := os.ReadDir(dir)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("download %q never arrived complete (%d bytes): %v; folder has %q", name, want, err, names)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// joinPageScenario: a person joins by the link and by typing the code,
// chats, consents, receives a file (saved to disk, hash checked), sends
// one (the host checks its bytes), and gets the record copy; agent is how
// the host names the browser ("Firefox", "Chrome").
func joinPageScenario(t *testing.T, b *browsertest.Puppet, agent string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	page := b.Page()
	host := startRealHost(t, ctx, newRendezvous(t, web.Handler()), app.Config{Name: "Beraterin Schulz", Lang: code.German, AskRecord: true})

	// Pairing by the link.
	codeEv := host.event(ctx, "code", 1)
	page.Goto(codeEv.JoinURL)
	page.Wait(`body[data-state=connected]`)
	conn := host.event(ctx, "connected", 1)
	if got := page.Text(`[data-testid=phrase]`); got != conn.Phrase {
		t.Fatalf("page phrase %q, host phrase %q", got, conn.Phrase)
	}
	if p := page.Attr(`body`, "data-path"); p != "direct" || conn.Path.Kind() != "direct" {
		t.Errorf("path: page %q, host %v", p, conn.Path)
	}
	major := strings.SplitN(strings.SplitN(b.Version(), "/", 2)[1], ".", 2)[0]
	st := host.until(ctx, "the client's hello", func(s console.State) bool { return s.Peer != nil && s.Peer.Agent != "" })
	if want := agent + " " + major + " (Linux)"; st.Peer.Name != "Gast" || st.Peer.Agent != want {
		t.Errorf("host sees the client as %+v, want Gast with agent %q", st.Peer, want)
	}

	// The record is asked first; the client accepts.
	page.Wait(`[data-testid=ask][data-what=record]`)
	recordAsk := page.Attr(`[data-testid=ask][data-what=record]`, "data-ask-id")
	page.Click(`[data-testid=accept-` + recordAsk + `]`)
	host.until(ctx, "the record accepted", func(s console.State) bool { return s.Recording == "accepted" })

	// Chat both ways; the host's text is shown as text, not HTML.
	if err := host.Chat("Guten Tag! <b>kein HTML</b> Hier ist Ihr Angebot."); err != nil {
		t.Fatal(err)
	}
	page.Wait(`[data-testid=chat-message][data-from=host]`)
	if got := page.Text(`[data-testid=chat-message][data-from=host]`); !strings.Contains(got, "<b>kein HTML</b>") {
		t.Errorf("host chat shown as %q", got)
	}
	page.Type(`[data-testid=chat-input]`, "Danke, Entgeltumwandlung klingt gut.")
	page.Click(`[data-testid=chat-send]`)
	page.Type(`[data-testid=chat-input]`, "Noch eine Frage: ab wann?")
	page.Press("Enter")
	host.until(ctx, "two client chat messages", func(s console.State) bool {
		var got []string
		for _, m := range s.Chat {
			if m.From == "client" {
				got = append(got, m.Text)
			}
		}
		return strings.Join(got, "|") == "Danke, Entgeltumwandlung klingt gut.|Noch eine Frage: ab wann?"
	})

	// A file from the host: nothing reaches the browser before consent;
	// after it, the page shows the hash and saving it gives the same bytes.
	offer := make([]byte, 300<<10)
	_, _ = rand.Read(offer)
	if err := host.SendFile("Angebot bAV.pdf", int64(len(offer)), bytes.NewReader(offer)); err != nil {
		t.Fatal(err)
	}
	page.Wait(`[data-testid=ask][data-what=file]`)
	fileAsk := page.Attr(`[data-testid=ask][data-what=file]`, "data-ask-id")
	if st := host.State(); len(st.Files) != 1 || st.Files[0].State != "asked" {
		t.Fatalf("before consent the host's file is %+v, want one file in state asked", st.Files)
	}
	var n int
	page.Eval(`document.querySelectorAll('[data-testid^="download-"]').length`, &n)
	if n != 0 {
		t.Fatalf("the page offers %d downloads before it accepted anything", n)
	}
	shot(t, page, b, "consent")
	page.Click(`[data-testid=accept-` + fileAsk + `]`)
	page.Wait(`[data-testid=download-` + fileAsk + `]`)
	if got := page.Text(`[data-testid=sha256-` + fileAsk + `]`); !strings.Contains(got, hexSHA(offer)) {
		t.Errorf("page shows SHA-256 %q, want %s", got, hexSHA(offer))
	}
	page.Click(`[data-testid=download-` + fileAsk + `]`)
	if saved := waitDownload(t, ctx, b.Downloads(), "Angebot bAV.pdf", len(offer)); hexSHA(saved) != hexSHA(offer) {
		t.Errorf("the saved download hashes to %s, want %s", hexSHA(saved), hexSHA(offer))
	}
	// Firefox shows a saved PDF at once in a new tab, in front of the
	// join page, which goes on in the background; the person then comes
	// back to it and sees what the adviser wrote meanwhile.
	if b.Engine() == browsertest.Firefox {
		tabs := b.Tabs()
		for deadline := time.Now().Add(10 * time.Second); len(tabs) < 2 && time.Now().Before(deadline); tabs = b.Tabs() {
			time.Sleep(100 * time.Millisecond)
		}
		t.Logf("tabs after the download: %+v", tabs)
	}
	if err := host.Chat("Ist die Datei angekommen?"); err != nil {
		t.Fatal(err)
	}
	page.Front()
	page.Until(`[...document.querySelectorAll('[data-testid=chat-message][data-from=host]')].some((e) => e.textContent.includes('Ist die Datei angekommen?'))`)

	// A file from the client: 3 MiB chosen in the file input; the host
	// has it whole.
	upload := make([]byte, 3<<20)
	_, _ = rand.Read(upload)
	path := filepath.Join(t.TempDir(), "Gehaltsabrechnung.pdf")
	if err := os.WriteFile(path, upload, 0o600); err != nil {
		t.Fatal(err)
	}
	page.Upload(`[data-testid=file-input]`, path)
	st = host.until(ctx, "the client's file done", func(s console.State) bool {
		for _, f := range s.Files {
			if f.From == "client" && (f.State == "done" || f.State == "failed") {
				return true
			}
		}
		return false
	})
	var got console.File
	for _, f := range st.Files {
		if f.From == "client" {
			got = f
		}
	}
	if got.State != "done" || got.Name != "Gehaltsabrechnung.pdf" || got.SHA256 != hexSHA(upload) {
		t.Fatalf("the host has the client's file as %+v", got)
	}
	_, f, err := host.OpenFile(got.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := io.ReadAll(f)
	f.Close()
	if err != nil || !bytes.Equal(stored, upload) {
		t.Fatalf("the host stored %d bytes (%v), not the %d the client chose", len(stored), err, len(upload))
	}
	page.Wait(`[data-testid=file][data-file-id="` + got.ID + `"][data-state=done]`)

	// The adviser ends: the record is written and the page gets its copy,
	// the same bytes as the host's (JSON and PDF, verified in the page).
	if err := host.End(); err != nil {
		t.Fatal(err)
	}
	page.Wait(`body[data-state=ended]`)
	ended := host.event(ctx, "ended", 1)
	if ended.Record == "" {
		t.Fatalf("no record after the end: %+v", ended)
	}
	page.Wait(`[data-testid=file][data-kind=record][data-state=done]`)
	shot(t, page, b, "ended")
	var copies []struct{ ID, Name, SHA string }
	page.Eval(`[...document.querySelectorAll('[data-testid=file][data-kind=record]')].map((e) => ({
		id: e.dataset.fileId, state: e.dataset.state,
		name: e.querySelector('[data-testid^="download-"]')?.getAttribute('download') ?? '',
		sha: e.querySelector('[data-testid^="sha256-"]')?.textContent ?? '',
	}))`, &copies)
	if len(copies) != 2 {
		t.Fatalf("the page has %d record files, want the JSON and the PDF: %+v", len(copies), copies)
	}
	for _, format := range []string{"json", "pdf"} {
		name, rf, err := host.OpenRecord(ended.Record, format)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := io.ReadAll(rf)
		rf.Close()
		found := false
		for _, c := range copies {
			if strings.HasSuffix(c.Name, "."+format) {
				found = true
				if !strings.Contains(c.SHA, hexSHA(want)) {
					t.Errorf("the page's record %s shows SHA-256 %q, the host's %s is %s", c.Name, c.SHA, name, hexSHA(want))
				}
				if format == "json" {
					page.Click(`[data-testid="download-` + c.ID + `"]`)
					if saved := waitDownload(t, ctx, b.Downloads(), c.Name, len(want)); !bytes.Equal(saved, want) {
						t.Errorf("the saved record copy %s differs from the host's", c.Name)
					}
				}
			}
		}
		if !found {
			t.Errorf("no %s record copy in the page: %+v", format, copies)
		}
	}

	// Pairing by typing the code: the host's next code, typed into the
	// form with spaces and capitals; the client declines the record and
	// ends with Esc.
	if err := host.New(); err != nil {
		t.Fatal(err)
	}
	next := host.event(ctx, "code", 2)
	page.Goto(host.server + "/j/")
	// First with a typo in the last word (its first letter doubled): the
	// page suggests the word and stays on the form.
	words := strings.Split(next.Code, "-")
	last := words[len(words)-1]
	typo := strings.Join(words[:len(words)-1], " ") + " " + last[:1] + last
	page.Type(`[data-testid=code-input]`, typo)
	page.Click(`[data-testid=join-button]`)
	if msg := page.Text(`[data-testid=join-error]`); !strings.Contains(msg, "Meinten Sie") || !strings.Contains(msg, last) {
		t.Errorf("typo message %q", msg)
	}
	if st := page.Attr(`body`, "data-state"); st != "waiting" {
		t.Errorf("data-state %q after a typo", st)
	}
	shot(t, page, b, "typo")
	page.SetValue(`[data-testid=code-input]`, "")
	page.Type(`[data-testid=code-input]`, strings.ToUpper(strings.ReplaceAll(next.Code, "-", " ")))
	page.Type(`[data-testid=name-input]`, "Bernd")
	page.Click(`[data-testid=join-button]`)
	page.Wait(`body[data-state=connected]`)
	conn = host.event(ctx, "connected", 2)
	if got := page.Text(`[data-testid=phrase]`); got != conn.Phrase {
		t.Fatalf("typed code: page phrase %q, host phrase %q", got, conn.Phrase)
	}
	page.Wait(`[data-testid=ask][data-what=record]`)
	recordAsk = page.Attr(`[data-testid=ask][data-what=record]`, "data-ask-id")
	page.Click(`[data-testid=decline-` + recordAsk + `]`)
	host.until(ctx, "the record declined", func(s console.State) bool {
		return s.Recording == "declined" && s.Peer != nil && s.Peer.Name == "Bernd"
	})
	page.Press("Escape")
	page.Wait(`body[data-state=ended]`)
	if e := host.event(ctx, "ended", 2); !strings.Contains(e.Reason, "client") || e.Record != "" {
		t.Errorf("host heard end %+v, want the client's, without a record", e)
	}
}

// joinThroughRelay: the host allows only the relay, so the page connects
// through the real TURN server with the credentials from the mailbox, and
// both sides say so. The page comes from this machine's interface address
// over plain http, as from a host on a LAN: not a secure context, so no
// WebCrypto (the page does without).
func joinThroughRelay(t *testing.T, b *browsertest.Puppet) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The relay on this machine's interface address, not loopback: Firefox
	// ignores STUN and TURN servers and candidates on loopback (unless
	// media.peerconnection.ice.loopback), and no real relay is there.
	ip := interfaceIPv4(t)
	udp, err := net.ListenPacket("udp4", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	rl, err := relay.New(relay.Config{UDPConn: udp, RelayBindAddr: ip, AllowPrivate: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer rl.Close()
	rv := rendezvous.New(rendezvous.Config{
		ICEServers: func(_ *http.Request, now time.Time) []wire.ICEServer { return rl.ICEServers(ip, now) },
		Pages:      web.Handler(),
		Logger:     slog.New(slog.DiscardHandler),
	})
	hs := httptest.NewUnstartedServer(rv.Handler())
	hs.Listener.Close()
	if hs.Listener, err = net.Listen("tcp", net.JoinHostPort(ip, "0")); err != nil {
		t.Fatal(err)
	}
	hs.Start()
	defer func() {
		rv.Close()
		hs.Close()
	}()
	host := startRealHost(t, ctx, hs.URL, app.Config{Name: "Anna", Lang: code.English, Policy: session.PolicyRelay})
	page := b.Page()
	page.Goto(host.event(ctx, "code", 1).JoinURL)
	var secure bool
	if page.Eval(`window.isSecureContext`, &secure); secure {
		t.Errorf("the page at %s is a secure context; the test wants a plain-http LAN page", hs.URL)
	}
	page.Wait(`body[data-state=connected]`)
	conn := host.event(ctx, "connected", 1)
	if conn.Path.Kind() != "relay" {
		t.Errorf("host path %+v, want relay", conn.Path)
	}
	// The page may first see the relay as a peer-reflexive address; it
	// looks again every 2 s.
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	if _, err := page.Call(wctx, "wait", map[string]any{"sel": `body[data-path=relay]`}); err != nil {
		t.Fatalf("data-path %q, want relay: %v", page.Attr(`body`, "data-path"), err)
	}
	if shown := page.Text(`[data-testid=path]`); !strings.Contains(shown, "Relay") && !strings.Contains(shown, "relay") {
		t.Errorf("path shown as %q", shown)
	}
	page.Press("Escape")
	page.Wait(`body[data-state=ended]`)
	host.event(ctx, "ended", 1)
}

// interfaceIPv4 is an IPv4 address of this machine that is not loopback;
// the test is skipped if there is none.
func interfaceIPv4(t *testing.T) string {
	t.Helper()
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifs {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLinkLocalUnicast() {
				return n.IP.String()
			}
		}
	}
	t.Skip("no IPv4 interface address besides loopback for the relay")
	return ""
}

// leaveThePage: the person goes to another address (or closes the tab) in
// the middle of the consultation; the host hears at once that the
// consultation ended and writes the record. The page says goodbye as it
// goes, so that the host can tell the client's end from a lost connection;
// a page being unloaded cannot wait for that message to leave, so it is
// best effort: Chromium here loses it about once in twelve, and Firefox,
// which closes the peer connection before "pagehide", lost it every time
// until the page sent it at "beforeunload". Of three leaves, at least one
// goodbye must arrive.
func leaveThePage(t *testing.T, b *browsertest.Puppet) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	page := b.Page()
	var reasons []string
	for range 3 {
		host := startRealHost(t, ctx, newRendezvous(t, web.Handler()), app.Config{Name: "Anna", Lang: code.German, AskRecord: true})
		page.Goto(host.event(ctx, "code", 1).JoinURL)
		page.Wait(`body[data-state=connected]`)
		host.event(ctx, "connected", 1)
		page.Wait(`[data-testid=ask][data-what=record]`)
		page.Click(`[data-testid=accept-` + page.Attr(`[data-testid=ask][data-what=record]`, "data-ask-id") + `]`)
		host.until(ctx, "the record accepted", func(s console.State) bool { return s.Recording == "accepted" })
		page.Goto("about:blank")
		wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
		e := host.event(wctx, "ended", 1)
		wcancel()
		if e.Record == "" {
			t.Errorf("no record after the page was left: %+v", e)
		}
		reasons = append(reasons, e.Reason)
	}
	t.Logf("reasons %q", reasons)
	if !slices.Contains(reasons, "client") {
		t.Errorf("the host never heard the client's goodbye when the page was left, only %q", reasons)
	}
}
