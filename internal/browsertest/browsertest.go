// Package browsertest starts a real headless Chromium (Debian's chromium) for
// tests and drives it with chromedp. Tests that need a browser call New and are
// skipped with a reason when no Chromium is installed. Launch (puppet.go)
// starts Firefox or Chromium through web/test/drive.mjs and puppeteer-core
// instead, for tests that run in more than one engine.
//
// Only tests import browsertest.
package browsertest

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Path finds the Chromium binary: $DIREKT_CHROMIUM, else chromium or
// chromium-browser or google-chrome on PATH. "" if there is none.
func Path() string {
	if p := os.Getenv("DIREKT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// PatternJS defines window.direktPattern in a page (pattern.js): a canvas
// stream that carries each frame's time and number as large black and
// white cells, for screen-sharing tests, and a decoder that reads them
// back from a video element and measures each frame's latency. Run it with
// an evaluation or Page.OnNewDocument.
//
//go:embed pattern.js
var PatternJS string

// Options tune a browser.
type Options struct {
	// Lang is the browser's UI and Accept-Language, e.g. "de-DE"; "" = en-US.
	Lang string
	// Width and Height of the window; 0 = 1280×900.
	Width, Height int
	// FakeMedia (Chromium only) makes getDisplayMedia and getUserMedia
	// answer at once, without a picker or a prompt, with a generated
	// picture (--use-fake-ui-for-media-stream and
	// --use-fake-device-for-media-stream: either alone does not do it).
	FakeMedia bool
	// Flags are extra Chromium switches, "name" or "name=value" without
	// the leading "--", e.g. "unsafely-treat-insecure-origin-as-secure=
	// http://203.0.113.10:8080" (Launch passes them to Chromium only).
	Flags []string
}

// New starts a fresh headless Chromium with its own profile and returns a
// chromedp context for one tab. The browser is stopped when the test ends.
func New(t testing.TB, opts Options) context.Context {
	t.Helper()
	path := Path()
	if path == "" {
		t.Skip("no Chromium installed (apt-get install chromium, or set DIREKT_CHROMIUM)")
	}
	lang := opts.Lang
	if lang == "" {
		lang = "en-US"
	}
	w, h := opts.Width, opts.Height
	if w == 0 {
		w, h = 1280, 900
	}
	flags := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(w, h),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("lang", lang),
		chromedp.Flag("accept-lang", lang),
	}
	if opts.FakeMedia {
		flags = append(flags, chromedp.Flag("use-fake-ui-for-media-stream", true), chromedp.Flag("use-fake-device-for-media-stream", true))
	}
	for _, f := range opts.Flags {
		name, value, ok := strings.Cut(f, "=")
		if ok {
			flags = append(flags, chromedp.Flag(name, value))
		} else {
			flags = append(flags, chromedp.Flag(name, true))
		}
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), flags...)
	// What the first tab prints and throws, for a failed test's log.
	pageLog := &lockedBuffer{}
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) { logPageEvent(pageLog, ev) }))
	// Start the browser now, so a broken install fails here, not mid-test.
	// The first Run's context must carry no deadline: it owns the browser.
	timer := time.AfterFunc(60*time.Second, cancelCtx)
	_, err := chromedp.Run(ctx, chromedp.Navigate("about:blank"))
	timer.Stop()
	if err != nil {
		cancelCtx()
		cancelAlloc()
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	var proc *os.Process
	if c := chromedp.FromContext(ctx); c != nil && c.Browser != nil {
		proc = c.Browser.Process()
	}
	t.Cleanup(func() {
		stopBounded(t, "Chromium", proc, func() { cancelCtx(); cancelAlloc() })
		if t.Failed() {
			t.Logf("Chromium console (first tab):\n%s", pageLog.String())
		}
	})
	return ctx
}

// logPageEvent writes a page's console message or uncaught exception to w,
// one line each, with the time.
func logPageEvent(w io.Writer, ev any) {
	at := time.Now().Format("15:04:05.000")
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if a.Value != nil {
				var s string
				if json.Unmarshal(a.Value, &s) == nil {
					parts = append(parts, s)
				} else {
					parts = append(parts, string(a.Value))
				}
			} else {
				parts = append(parts, a.Description)
			}
		}
		fmt.Fprintf(w, "%s console.%s: %s\n", at, ev.Type, strings.Join(parts, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg = d.Exception.Description
		}
		fmt.Fprintf(w, "%s uncaught: %s (%s:%d)\n", at, msg, d.URL, d.LineNumber)
	}
}

// stopBounded runs stop (which waits for the browser to exit) and gives it
// 30 s; then it kills the browser process and gives stop 15 s more. A
// browser that hangs as it ends must fail its test, not hang the binary
// until go test's timeout.
func stopBounded(t testing.TB, what string, proc *os.Process, stop func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		stop()
	}()
	select {
	case <-done:
		return
	case <-time.After(30 * time.Second):
	}
	if proc != nil {
		_ = proc.Kill()
	}
	select {
	case <-done:
		t.Errorf("%s did not stop within 30 s; killed", what)
	case <-time.After(15 * time.Second):
		t.Errorf("%s did not stop within 30 s, nor 15 s after it was killed; left behind", what)
	}
}

// StepTimeout bounds one Do.
const StepTimeout = 30 * time.Second

// Do runs one action, bounded by StepTimeout, and fails the test on error.
// ctx must be a tab that has run before (New and Tab do that).
func Do[T any](t testing.TB, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Tab opens another tab in the browser of ctx, closed when the test ends.
func Tab(t testing.TB, ctx context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	if _, err := chromedp.Run(tab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tab
}
