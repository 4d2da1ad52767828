package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/direkt/direkt/internal/browsertest"
)

// sel is a CSS selector for chromedp.
func sel(s string) chromedp.CSS { return chromedp.CSS(s) }

// consoleAPI calls the host console's HTTP API with its token, as a script
// would (Authorization: Bearer).
type consoleAPI struct {
	t     *testing.T
	base  string
	token string
}

func newConsoleAPI(t *testing.T, consoleURL string) consoleAPI {
	u, err := url.Parse(consoleURL)
	if err != nil {
		t.Fatal(err)
	}
	return consoleAPI{t: t, base: u.Scheme + "://" + u.Host, token: u.Query().Get("t")}
}

func (c consoleAPI) get(path string, v any) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		c.t.Fatalf("GET %s: %s %s", path, resp.Status, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
}

// TestBrowserConsultation is the adviser's whole path in a real Chromium:
// `direkt host` shows a code; a browser joins by the link; the host console
// (a second tab) and the join page chat; the host's file reaches the browser
// only after the client's consent, with a matching SHA-256; the adviser ends;
// the record, with the transcript, is in the console and its copy in the
// browser.
func TestBrowserConsultation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	server := testServer(t)
	data := t.TempDir()
	host := run(t, ctx, "host", "", "host", "--json", "--server", server, "--no-browser",
		"--name", "Beraterin Schulz", "--lang", "de", "--data", data)
	codeEv := host.next(ctx, EventCode)
	joinURL, consoleURL := codeEv.str("join_url"), codeEv.str("console_url")
	if !strings.Contains(joinURL, "/j/") || !strings.Contains(joinURL, "#") || strings.Contains(strings.Split(joinURL, "#")[0], "-") {
		t.Fatalf("join link %q must carry the words only in its fragment", joinURL)
	}
	api := newConsoleAPI(t, consoleURL)

	b := browsertest.New(t, browsertest.Options{Lang: "de-DE"})
	client := browsertest.Tab(t, b)
	console := browsertest.Tab(t, b)
	do := func(ctx context.Context, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		browsertest.Do(t, ctx, a)
	}
	// DIREKT_SCREENSHOTS=dir saves the README's pictures along the way.
	shot := func(ctx context.Context, name string) {
		t.Helper()
		dir := os.Getenv("DIREKT_SCREENSHOTS")
		if dir == "" {
			return
		}
		png := browsertest.Do(t, ctx, chromedp.CaptureScreenshot())
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	text := func(ctx context.Context, s string) string {
		t.Helper()
		return browsertest.Do(t, ctx, chromedp.Text(sel(s)))
	}

	// The adviser's console shows the code while waiting.
	do(console, chromedp.Navigate(consoleURL))
	do(console, chromedp.WaitVisible(sel(`body[data-state=waiting]`)))
	if got := text(console, `[data-testid=code]`); got != codeEv.str("code") {
		t.Errorf("console shows code %q, want %q", got, codeEv.str("code"))
	}
	do(console, chromedp.WaitVisible(sel(`[data-testid=qr]`)))
	shot(console, "console-waiting")

	// The client opens the link: connected, same check phrase as the host.
	do(client, chromedp.Navigate(joinURL))
	do(client, chromedp.WaitVisible(sel(`body[data-state=connected]`)))
	conn := host.next(ctx, EventConnected)
	if got := text(client, `[data-testid=phrase]`); got != conn.str("phrase") {
		t.Fatalf("browser phrase %q, host phrase %q", got, conn.str("phrase"))
	}
	do(console, chromedp.WaitVisible(sel(`body[data-state=connected]`)))
	if got := text(console, `[data-testid=phrase]`); got != conn.str("phrase") {
		t.Errorf("console phrase %q, want %q", got, conn.str("phrase"))
	}

	// The record is asked first; the client accepts.
	do(client, chromedp.WaitVisible(sel(`[data-testid=ask][data-what=record]`)))
	recordAsk := browsertest.Do(t, client, chromedp.AttributeValue(sel(`[data-testid=ask][data-what=record]`), "data-ask-id")).Value
	do(client, chromedp.Click(sel(`[data-testid=accept-`+recordAsk+`]`)))

	// Chat both ways.
	do(console, chromedp.SendKeys(sel(`[data-testid=chat-input]`), "Guten Tag! Hier ist Ihr Angebot zur bAV."))
	do(console, chromedp.Click(sel(`[data-testid=chat-send]`)))
	do(client, chromedp.WaitVisible(sel(`[data-testid=chat-message][data-from=host]`)))
	if got := text(client, `[data-testid=chat-message][data-from=host]`); !strings.Contains(got, "Angebot zur bAV") {
		t.Errorf("browser got chat %q", got)
	}
	do(client, chromedp.SendKeys(sel(`[data-testid=chat-input]`), "Danke, Entgeltumwandlung klingt gut."))
	do(client, chromedp.Click(sel(`[data-testid=chat-send]`)))
	do(console, chromedp.WaitVisible(sel(`[data-testid=chat-line][data-from=client]`)))

	// A file from the adviser: nothing reaches the browser before consent.
	offer := filepath.Join(t.TempDir(), "Angebot bAV.pdf")
	content := writeRandom(t, offer, 300<<10)
	do(console, chromedp.SetUploadFiles(sel(`[data-testid=file-input]`), []string{offer}))
	if _, err := chromedp.Run(console, chromedp.Click(sel(`[data-testid=file-send]`))); err != nil {
		t.Logf("no separate send button (%v): choosing the file sends it", err)
	}
	do(client, chromedp.WaitVisible(sel(`[data-testid=ask][data-what=file]`)))
	fileAsk := browsertest.Do(t, client, chromedp.AttributeValue(sel(`[data-testid=ask][data-what=file]`), "data-ask-id")).Value
	var st struct {
		Files []struct{ ID, State, SHA256 string } `json:"files"`
	}
	api.get("/api/state", &st)
	if len(st.Files) != 1 || st.Files[0].State != "asked" {
		t.Fatalf("before consent the host's file is %+v, want one file in state asked", st.Files)
	}
	if n := browsertest.Do(t, client, chromedp.Evaluate[int](`document.querySelectorAll('[data-testid^="download-"]').length`)); n != 0 {
		t.Fatalf("the browser offers %d downloads before it accepted anything", n)
	}
	shot(client, "join-consent")
	do(client, chromedp.Click(sel(`[data-testid=accept-`+fileAsk+`]`)))
	do(client, chromedp.WaitVisible(sel(`[data-testid=download-`+fileAsk+`]`)))
	if got := text(client, `[data-testid=sha256-`+fileAsk+`]`); !strings.Contains(got, sha(content)) {
		t.Errorf("browser shows SHA-256 %q, want %s", got, sha(content))
	}
	shot(console, "console-connected")
	// Saving the download gives the bytes that were sent.
	dl := t.TempDir()
	if _, err := chromedp.CallBrowser(client, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dl,
	}); err != nil {
		t.Fatal(err)
	}
	do(client, chromedp.Click(sel(`[data-testid=download-`+fileAsk+`]`)))
	var saved []byte
	waitFor(t, ctx, func() bool {
		saved, _ = os.ReadFile(filepath.Join(dl, "Angebot bAV.pdf"))
		return len(saved) == len(content)
	})
	if sha(saved) != sha(content) {
		t.Errorf("the saved download hashes to %s, want %s", sha(saved), sha(content))
	}

	// The adviser writes a note and ends; the record is written.
	do(console, chromedp.SendKeys(sel(`[data-testid=notes]`), "Kundin wünscht 200 € Entgeltumwandlung."))
	do(console, chromedp.Blur(sel(`[data-testid=notes]`)))
	do(console, chromedp.WaitVisible(sel(`[data-testid=notes-status]`)))
	waitFor(t, ctx, func() bool {
		var s struct{ Notes string }
		api.get("/api/state", &s)
		return strings.Contains(s.Notes, "Entgeltumwandlung")
	})
	do(console, chromedp.Click(sel(`[data-testid=end]`)))
	do(client, chromedp.WaitVisible(sel(`body[data-state=ended]`)))
	do(console, chromedp.WaitVisible(sel(`[data-testid=record-pdf]`)))
	ended := host.next(ctx, EventEnded)
	recID := ended.str("record")
	if recID == "" {
		t.Fatalf("no record after the end: %v", ended)
	}
	// The browser got its copy: two record files, verified.
	wctx, wcancel := context.WithTimeout(client, 20*time.Second)
	_, err := chromedp.Run(wctx, chromedp.WaitVisible(sel(`[data-testid=file][data-kind=record][data-state=done]`)))
	wcancel()
	if err != nil {
		files := browsertest.Do(t, client, chromedp.Evaluate[string](`document.querySelector('[data-testid=files]').outerHTML`))
		var hs struct{ Files []map[string]any }
		api.get("/api/state", &hs)
		t.Fatalf("no verified record copy in the browser (%v):\n%s\nhost files: %v", err, files, hs.Files)
	}

	// The record, with the transcript, is in the console's list and search.
	do(console, chromedp.Click(sel(`[data-testid=tab-records]`)))
	do(console, chromedp.SendKeys(sel(`[data-testid=records-search]`), "Entgeltumwandlung"))
	do(console, chromedp.WaitVisible(sel(`[data-testid=record-item][data-id="`+recID+`"]`)))
	var recs []struct{ ID string }
	api.get("/api/records?q="+url.QueryEscape("Angebot bAV"), &recs)
	if len(recs) != 1 || recs[0].ID != recID {
		t.Errorf("records search for the transcript found %+v, want %s", recs, recID)
	}
	// The adviser verifies the record: signed with their own key, the PDF
	// beside it is its own.
	var vout, verr strings.Builder
	own := Env{Stdout: &vout, Stderr: &verr, Getenv: func(k string) string {
		if k == "DIREKT_HOME" {
			return host.home
		}
		return ""
	}}
	if code := Main(ctx, []string{"verify", "--data", data, filepath.Join(data, "records", recID+".json")}, own); code != 0 {
		t.Fatalf("direkt verify of the record failed (%d): %s", code, verr.String())
	}
	for _, want := range []string{"(your own key)", "adviser:    Beraterin Schulz", "is this record's PDF"} {
		if !strings.Contains(vout.String(), want) {
			t.Errorf("verify output does not say %q:\n%s", want, vout.String())
		}
	}
	// The console offers the next consultation; Ctrl-C stops the host, which
	// is how a host normally ends (exit 0).
	do(console, chromedp.Click(sel(`[data-testid=tab-consult]`)))
	do(console, chromedp.Click(sel(`[data-testid=new]`)))
	next := host.next(ctx, EventCode)
	if next.str("code") == "" || next.str("code") == codeEv.str("code") {
		t.Errorf("New gave code %q after %q", next.str("code"), codeEv.str("code"))
	}
	host.cancel()
	if code, evs := host.wait(ctx); code != 0 || lastEvent(evs, EventError) != nil {
		t.Fatalf("stopped host exited %d %v: %s", code, lastEvent(evs, EventError), host.stderr.String())
	}
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition never held")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestBrowserLANHost: with no server configured, `direkt host` runs the
// rendezvous and relay itself and its join link points to this computer's
// LAN address; a browser on the network joins through it.
func TestBrowserLANHost(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	host := run(t, ctx, "host", "", "host", "--json", "--no-browser", "--name", "Adviser", "--lang", "en", "--data", t.TempDir())
	codeEv := host.next(ctx, EventCode)
	joinURL := codeEv.str("join_url")
	u, err := url.Parse(joinURL)
	if err != nil {
		t.Fatal(err)
	}
	if h := u.Hostname(); h == "127.0.0.1" || h == "localhost" {
		t.Fatalf("LAN join link %q points to loopback", joinURL)
	}
	b := browsertest.New(t, browsertest.Options{})
	browsertest.Do(t, b, chromedp.Navigate(joinURL))
	browsertest.Do(t, b, chromedp.WaitVisible(sel(`body[data-state=connected]`)))
	conn := host.next(ctx, EventConnected)
	if got := browsertest.Do(t, b, chromedp.Text(sel(`[data-testid=phrase]`))); got != conn.str("phrase") {
		t.Fatalf("phrase %q, host %q", got, conn.str("phrase"))
	}
	// The client ends: Esc ends everything at once.
	browsertest.Do(t, b, chromedp.KeyEvent("\x1b"))
	browsertest.Do(t, b, chromedp.WaitVisible(sel(`body[data-state=ended]`)))
	if e := host.next(ctx, EventEnded); !strings.Contains(e.str("reason"), "client") {
		t.Errorf("host heard end %v", e)
	}
}
