package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// browser starts a headless Chromium for the test, or skips it. extra adds
// flags.
func browser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("starts Chromium")
	}
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Skip("no Chromium: apt-get install chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("lang", "en-US"),
	)
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); acancel() })
	if err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return err
	})); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

// pageErrors collects the tab's console errors, exceptions and error log
// entries (CSP violations among them) until the test ends.
func pageErrors(t *testing.T, ctx context.Context) func() []string {
	var mu sync.Mutex
	var errs []string
	lctx, cancel := context.WithCancel(ctx)
	msgs := chromedp.Console(lctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, m.String())
				mu.Unlock()
			}
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait() })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

func css(testid string) chromedp.CSS {
	return chromedp.CSS(`[data-testid="` + testid + `"]`)
}

// within runs steps with a timeout.
func within(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func evalString(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	s, err := chromedp.Run(tctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return s
}

// waitJS polls a JavaScript condition.
func waitJS(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: never true (%v): %s", what, err, js)
		}
		time.Sleep(50 * time.Millisecond) // polling the page, not synchronising goroutines
	}
}

// TestUIHost drives the host's console in Chromium: it renders the code and
// the QR code under the CSP, follows the Backend's state over the event
// stream, and its controls call the Backend.
func TestUIHost(t *testing.T) {
	ctx := browser(t)
	errs := pageErrors(t, ctx)
	b := newTestBackend(hostState())
	s := startServer(t, b)

	within(t, ctx, "open the console",
		chromedp.Navigate(s.URL()),
		chromedp.WaitVisible(css("code")),
	)
	if got := evalString(t, ctx, `document.querySelector('[data-testid="code"]').textContent`); got != "47-nordsee-tulpe" {
		t.Errorf("code %q", got)
	}
	if got := evalString(t, ctx, `location.href`); got != base(s)+"/" {
		t.Errorf("address bar %q: the token must be gone", got)
	}
	if got := evalString(t, ctx, `document.body.dataset.role + " " + document.body.dataset.state`); got != "host waiting" {
		t.Errorf("body data: %q", got)
	}
	if got := evalString(t, ctx, `document.querySelector('[data-testid="join-url"]').href`); got != hostState().JoinURL {
		t.Errorf("join link %q", got)
	}
	waitJS(t, ctx, "QR code loaded", `(() => { const i = document.querySelector('[data-testid="qr"]'); return i.complete && i.naturalWidth === 320 && !i.hidden })()`)
	if got := evalString(t, ctx, `document.cookie`); got != "" {
		t.Errorf("the token cookie is visible to scripts: %q", got)
	}

	// The state changes; the event stream brings it to the page.
	b.setState(func(st *State) { *st = connectedState() })
	within(t, ctx, "connected",
		chromedp.WaitReady(chromedp.CSS(`body[data-state="connected"][data-path="direct"]`)),
		chromedp.WaitVisible(css("phrase")),
	)
	if got := evalString(t, ctx, `document.querySelector('[data-testid="phrase"]').textContent`); got != "anker wolke tanne" {
		t.Errorf("phrase %q", got)
	}
	if !evalBool(t, ctx, `document.querySelector('[data-testid="waiting-panel"]').hidden`) {
		t.Error("waiting panel still shown")
	}

	within(t, ctx, "chat", chromedp.SendKeys(css("chat-input"), "Guten Tag, Herr Muster"), chromedp.Click(css("chat-send")))
	if c := b.waitCall(t, "Chat"); c.Args[0] != "Guten Tag, Herr Muster" {
		t.Errorf("chat %v", c)
	}
	b.setState(func(st *State) {
		st.Chat = append(st.Chat, ChatMessage{ID: "c1", From: "client", Name: "Max", Text: "<img src=x onerror=alert(1)>", At: time.Now()})
	})
	within(t, ctx, "chat line", chromedp.WaitVisible(chromedp.CSS(`[data-testid="chat-line"][data-id="c1"]`)))
	if got := evalString(t, ctx, `document.querySelector('[data-testid="chat-line"][data-id="c1"] [data-testid="chat-text"]').textContent`); got != "<img src=x onerror=alert(1)>" {
		t.Errorf("chat text %q: must be shown as text", got)
	}

	// The client's share of the transcript fills up, then is cut: the
	// adviser sees a warning, then what was cut.
	if !evalBool(t, ctx, `document.querySelector('[data-testid="shares"]').hidden`) {
		t.Error("share warning shown before any share is nearly full")
	}
	b.setState(func(st *State) { st.Shares = []Share{{From: "client", Used: 5_100_000, Max: 6 << 20}} })
	within(t, ctx, "share warning", chromedp.WaitVisible(chromedp.CSS(`[data-testid="share"][data-from="client"][data-cut="0"]`)))
	if got := evalString(t, ctx, `document.querySelector('[data-testid="share"]').textContent`); !strings.Contains(got, "81 %") {
		t.Errorf("share warning %q", got)
	}
	b.setState(func(st *State) {
		st.Shares = []Share{{From: "client", Used: 6_200_000, Max: 6 << 20, Cut: 12, CutBytes: 48_000, CutSince: time.Now()}}
	})
	within(t, ctx, "share cut", chromedp.WaitVisible(chromedp.CSS(`[data-testid="share"][data-from="client"][data-cut="12"]`)))
	if got := evalString(t, ctx, `document.querySelector('[data-testid="share"]').textContent`); !strings.Contains(got, "12 ") {
		t.Errorf("share cut %q", got)
	}

	within(t, ctx, "ask to record", chromedp.Click(css("ask-record")))
	if c := b.waitCall(t, "Ask"); c.Args[0] != "record" {
		t.Errorf("ask %v", c)
	}

	within(t, ctx, "notes", chromedp.SendKeys(css("notes"), "Kunde wünscht Angebot"))
	if c := b.waitCall(t, "SetNotes"); c.Args[0] != "Kunde wünscht Angebot" {
		t.Errorf("notes %v", c)
	}

	// Send a file through the page.
	dir := t.TempDir()
	content := []byte("%PDF-1.7 Angebot\n")
	fpath := filepath.Join(dir, "Angebot.pdf")
	if err := os.WriteFile(fpath, content, 0o600); err != nil {
		t.Fatal(err)
	}
	within(t, ctx, "send a file", chromedp.SetUploadFiles(css("file-input"), []string{fpath}), chromedp.Click(css("file-send")))
	if c := b.waitCall(t, "SendFile"); c.Args[0] != "Angebot.pdf" || c.Args[1] != int64(len(content)) {
		t.Errorf("send file %v", c)
	}
	sum := sha256.Sum256(content)
	if up := b.Uploads(); len(up) != 1 || up[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("uploads %+v", up)
	}
	b.setState(func(st *State) {
		st.Files = []File{{ID: "h1", From: "host", Name: "Angebot.pdf", Size: int64(len(content)), SHA256: hex.EncodeToString(sum[:]), Kind: "doc", State: "asked"}}
	})
	within(t, ctx, "file waits for consent", chromedp.WaitVisible(chromedp.CSS(`[data-testid="file-item"][data-state="asked"]`)))
	if got := evalString(t, ctx, `document.querySelector('[data-testid="file-state"]').textContent`); got != "waiting for consent" {
		t.Errorf("file state %q", got)
	}
	b.files["h1"] = content
	b.setState(func(st *State) { st.Files[0].State, st.Files[0].Done = "done", st.Files[0].Size })
	within(t, ctx, "file done", chromedp.WaitVisible(css("file-download")))
	got := evalString(t, ctx, `fetch(document.querySelector('[data-testid="file-download"]').href).then(r => r.text())`)
	if got != string(content) {
		t.Errorf("download through the page: %q", got)
	}

	// German, then back.
	within(t, ctx, "German", chromedp.Click(css("lang")))
	if got := evalString(t, ctx, `document.querySelector('[data-testid="end"]').textContent + "|" + document.documentElement.lang`); got != "Beratung beenden|de" {
		t.Errorf("German end button: %q", got)
	}
	within(t, ctx, "English", chromedp.Click(css("lang")))

	// End by button, then by Esc.
	within(t, ctx, "end", chromedp.Click(css("end")))
	b.waitCall(t, "End")
	within(t, ctx, "Esc", chromedp.KeyEvent(kb.Escape))
	b.waitCall(t, "End")

	b.setState(func(st *State) {
		st.Phase = "ended"
		st.Ended = time.Now()
		st.EndReason = "The adviser ended the consultation."
		st.Record = &RecordInfo{ID: "20250301-0900-abc"}
	})
	b.records = []RecordInfo{{ID: "20250301-0900-abc", Client: "Max Muster", Host: "Koch", Summary: "bAV"}}
	within(t, ctx, "ended", chromedp.WaitVisible(css("record-pdf")), chromedp.WaitVisible(css("new")))
	if got := evalString(t, ctx, `document.querySelector('[data-testid="record-json"]').getAttribute('href')`); got != "/api/records/20250301-0900-abc.json" {
		t.Errorf("record link %q", got)
	}
	within(t, ctx, "new", chromedp.Click(css("new")))
	b.waitCall(t, "New")

	within(t, ctx, "records tab", chromedp.Click(css("tab-records")), chromedp.WaitVisible(css("record-item")))
	within(t, ctx, "search", chromedp.SendKeys(css("records-search"), "nobody"), chromedp.WaitVisible(css("records-empty")))
	if c := b.waitCall(t, "Records"); c.Method != "Records" {
		t.Error(c)
	}

	if e := errs(); len(e) > 0 {
		t.Errorf("page errors: %s", strings.Join(e, "\n"))
	}
}

// TestUIClient drives the client's view: the consent dialog's Accept and
// Decline, and reconnecting to a known host.
func TestUIClient(t *testing.T) {
	ctx := browser(t)
	errs := pageErrors(t, ctx)
	st := connectedState()
	st.Role, st.Self.Role = "client", "client"
	st.Peer = &Participant{Name: "Beraterin Koch", Role: "host", Fingerprint: "SHA256:xyz"}
	st.Lang = "de"
	st.Recording = "asked"
	st.Asks = []Ask{
		{ID: "h1", What: "record", State: "pending", AskedAt: time.Now()},
		{ID: "h2", What: "file", Name: "Angebot.pdf", Size: 2048, State: "pending", AskedAt: time.Now()},
	}
	st.Known = []KnownPeer{{Key: "q83vEjRWeJA+/q83vEjRWeJA==", Name: "Koch", Fingerprint: "SHA256:xyz", Added: time.Now()}}
	b := newTestBackend(st)
	s := startServer(t, b)

	within(t, ctx, "open the console",
		chromedp.Navigate(s.URL()),
		chromedp.WaitVisible(css("consent-dialog")),
	)
	if got := evalString(t, ctx, `document.body.dataset.role + " " + document.documentElement.lang`); got != "client de" {
		t.Errorf("role and language %q", got)
	}
	if evalBool(t, ctx, `document.querySelector('[data-testid="notes"]').offsetParent !== null || document.querySelector('[data-testid="ask-record"]').offsetParent !== null`) {
		t.Error("the client sees the host's controls")
	}
	within(t, ctx, "accept", chromedp.Click(chromedp.CSS(`[data-testid="consent-item"][data-id="h1"] [data-testid="ask-accept"]`)))
	if c := b.waitCall(t, "Answer"); c.Args[0] != "h1" || c.Args[1] != true {
		t.Errorf("answer %v", c)
	}
	within(t, ctx, "decline", chromedp.Click(chromedp.CSS(`[data-testid="consent-item"][data-id="h2"] [data-testid="ask-decline"]`)))
	if c := b.waitCall(t, "Answer"); c.Args[0] != "h2" || c.Args[1] != false {
		t.Errorf("answer %v", c)
	}
	b.setState(func(st *State) {
		st.Asks[0].State, st.Asks[1].State = "accepted", "declined"
		st.Phase = "ended"
	})
	within(t, ctx, "dialog closes", chromedp.WaitNotVisible(css("consent-dialog")))

	within(t, ctx, "known tab", chromedp.Click(css("tab-known")), chromedp.Click(css("known-rejoin")))
	if c := b.waitCall(t, "Rejoin"); c.Args[0] != "q83vEjRWeJA+/q83vEjRWeJA==" {
		t.Errorf("rejoin %v", c)
	}
	if e := errs(); len(e) > 0 {
		t.Errorf("page errors: %s", strings.Join(e, "\n"))
	}
}

// TestUIFromAnotherSite follows the console link from another site's page
// (as from a web mail): the SameSite=Strict cookie must still get the user
// in.
func TestUIFromAnotherSite(t *testing.T) {
	ctx := browser(t)
	errs := pageErrors(t, ctx)
	s := startServer(t, newTestBackend(hostState()))
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><a id="go" href="%s">console</a>`, html.EscapeString(s.URL()))
	}))
	defer other.Close()
	// localhost and 127.0.0.1 are different sites.
	link := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	within(t, ctx, "open the console from another site",
		chromedp.Navigate(link),
		chromedp.Click(chromedp.ID("go")),
		chromedp.WaitVisible(css("code")),
	)
	if got := evalString(t, ctx, `location.href`); got != base(s)+"/" {
		t.Errorf("address bar %q", got)
	}
	if e := errs(); len(e) > 0 {
		t.Errorf("page errors: %s", strings.Join(e, "\n"))
	}
}

func evalBool(t *testing.T, ctx context.Context, js string) bool {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return v
}

// TestUIFromLauncher opens the console as OpenBrowser has the browser open
// it: from the private file:// page, which must take the browser in (the
// navigation from a file page counts as cross-site) and leave the token out
// of the address bar.
func TestUIFromLauncher(t *testing.T) {
	xdgOpenPlatform(t)
	ctx := browser(t)
	errs := pageErrors(t, ctx)
	argv, _, release := recordingOpener(t)
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	s := serveLaunching(t, dir)
	if err := s.OpenBrowser(); err != nil {
		t.Fatal(err)
	}
	path := openedFile(t, s, dir, argv)
	within(t, ctx, "open the console from its launcher page",
		chromedp.Navigate(fileURL(path)),
		chromedp.WaitVisible(css("code")),
	)
	if got := evalString(t, ctx, `location.href`); got != base(s)+"/" {
		t.Errorf("address bar %q: the token must be gone", got)
	}
	if e := errs(); len(e) > 0 {
		t.Errorf("page errors: %s", strings.Join(e, "\n"))
	}
}
