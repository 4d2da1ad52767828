package browsertest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Engine is a browser engine that web/test/drive.mjs drives with
// puppeteer-core: Firefox over WebDriver BiDi, Chromium over CDP.
type Engine string

// Engines.
const (
	Firefox  Engine = "firefox"
	Chromium Engine = "chrome"
)

// FirefoxPath finds Firefox: $DIREKT_FIREFOX, else firefox-esr or firefox on
// PATH. "" if there is none.
func FirefoxPath() string {
	if p := os.Getenv("DIREKT_FIREFOX"); p != "" {
		return p
	}
	for _, name := range []string{"firefox-esr", "firefox"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// webDir is the repository's web/ folder, where drive.mjs and the
// node_modules with puppeteer-core are.
func webDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "web")
}

// Puppet is one browser, started by web/test/drive.mjs and driven over its
// line protocol (one JSON command a line on stdin, one answer a line on
// stdout). Its methods fail its test on an error; Call returns it.
type Puppet struct {
	t testing.TB
	*driver
}

// driver is the node process, shared by the Puppets of one browser.
type driver struct {
	engine    Engine
	version   string
	downloads string

	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   *lockedBuffer
	done  chan struct{} // the reader has seen the end of stdout

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan answer
	readErr error
}

type answer struct {
	ID    int             `json:"id"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Launch starts a fresh headless browser of the engine with its own profile
// and download folder (Downloads), and returns it with one open page (page
// 0). It skips the test when node, the engine or web/node_modules is
// missing. The browser is stopped when the test ends; if the test failed,
// the driver's log (the pages' console; with DIREKT_BROWSER_TRACE=1 also
// every command and its duration) is logged.
func Launch(t testing.TB, engine Engine, opts Options) *Puppet {
	t.Helper()
	return LaunchWith(t, engine, opts, exec.Command)
}

// LaunchWith is Launch with the driver's command made by command, e.g.
// netbed's Bed.Command to run the browser inside a network namespace:
//
//	browsertest.LaunchWith(t, browsertest.Firefox, opts, func(name string, args ...string) *exec.Cmd {
//		return bed.Command(ctx, bed.B.Host, name, args...)
//	})
//
// The command gets its own process group (its other SysProcAttr fields
// stay), so that the browser ends with it.
func LaunchWith(t testing.TB, engine Engine, opts Options, command func(name string, args ...string) *exec.Cmd) *Puppet {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the puppeteer-core browser tests need Node.js 20+")
	}
	var exe string
	switch engine {
	case Firefox:
		if exe = FirefoxPath(); exe == "" {
			t.Skip("no Firefox installed (apt-get install firefox-esr, or set DIREKT_FIREFOX)")
		}
	case Chromium:
		if exe = Path(); exe == "" {
			t.Skip("no Chromium installed (apt-get install chromium, or set DIREKT_CHROMIUM)")
		}
	default:
		t.Fatalf("unknown engine %q", engine)
	}
	dir := webDir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "puppeteer-core")); err != nil {
		t.Skip("web/node_modules has no puppeteer-core: run `npm ci` in web/")
	}
	downloads := t.TempDir()
	cfg, _ := json.Marshal(map[string]any{
		"engine": engine, "executable": exe, "profile": t.TempDir(), "downloads": downloads,
		"lang": opts.Lang, "width": opts.Width, "height": opts.Height, "fakeMedia": opts.FakeMedia, "flags": opts.Flags,
		"trace": os.Getenv("DIREKT_BROWSER_TRACE") != "",
	})
	p := &Puppet{t: t, driver: &driver{engine: engine, downloads: downloads, log: &lockedBuffer{}, done: make(chan struct{}), waiting: map[int]chan answer{}}}
	p.cmd = command(node, filepath.Join(dir, "test", "drive.mjs"), string(cfg))
	p.cmd.Dir = dir
	p.cmd.Stderr = p.log
	// Its own process group, so that the browser and its content processes
	// can be ended with the driver if it hangs.
	if p.cmd.SysProcAttr == nil {
		p.cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	p.cmd.SysProcAttr.Setpgid = true
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", engine, err)
	}
	go p.read(stdout)
	t.Cleanup(func() { p.stop(t) })
	// The driver announces itself with the browser's version (id 0) once
	// the browser runs.
	ch := make(chan answer, 1)
	p.mu.Lock()
	p.waiting[0] = ch
	p.nextID = 1
	p.mu.Unlock()
	select {
	case a := <-ch:
		if a.Error != "" || json.Unmarshal(a.Value, &p.version) != nil {
			t.Fatalf("start %s %s: %s\n%s", engine, exe, a.Error, p.log.String())
		}
	case <-p.done:
		t.Fatalf("start %s %s: the driver ended: %v\n%s", engine, exe, p.readErr, p.log.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("start %s %s: no browser after 60 s\n%s", engine, exe, p.log.String())
	}
	return p
}

// read hands each answer to its caller.
func (p *driver) read(r io.Reader) {
	defer close(p.done)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var a answer
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			fmt.Fprintf(p.log, "driver stdout: %q\n", sc.Text())
			continue
		}
		p.mu.Lock()
		ch := p.waiting[a.ID]
		delete(p.waiting, a.ID)
		p.mu.Unlock()
		if ch != nil {
			ch <- a
		}
	}
	p.mu.Lock()
	p.readErr = sc.Err()
	if p.readErr == nil {
		p.readErr = errors.New("the driver closed its output")
	}
	p.mu.Unlock()
}

// stop closes stdin (the driver closes the browser and exits) and waits;
// a driver that does not end in time is killed with its process group.
func (p *driver) stop(t testing.TB) {
	_ = p.stdin.Close()
	exited := make(chan error, 1)
	go func() {
		<-p.done
		exited <- p.cmd.Wait()
	}()
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-exited
		t.Errorf("%s driver did not stop in 15 s; killed", p.engine)
	}
	// Leftover content processes of the browser, if any.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	if t.Failed() {
		t.Logf("%s driver log:\n%s", p.engine, p.log.String())
	}
}

// For returns the same browser reporting to t: a subtest's failures then
// end the subtest (t.Fatal must be called from the test's own goroutine).
func (p *Puppet) For(t testing.TB) *Puppet { return &Puppet{t: t, driver: p.driver} }

// Engine is the browser engine.
func (p *Puppet) Engine() Engine { return p.engine }

// Version is the browser's product and version, e.g. "firefox/153.8.0".
func (p *Puppet) Version() string { return p.version }

// Downloads is the folder the browser saves downloads into.
func (p *Puppet) Downloads() string { return p.downloads }

// Log is what the driver wrote to stderr so far: the pages' console
// messages and errors.
func (p *Puppet) Log() string { return p.log.String() }

// Call sends one command (op plus its arguments) and returns the answer's
// value, or the error the driver reported. ctx bounds the wait.
func (p *driver) Call(ctx context.Context, op string, args map[string]any) (json.RawMessage, error) {
	p.mu.Lock()
	id := p.nextID
	p.nextID++
	ch := make(chan answer, 1)
	p.waiting[id] = ch
	p.mu.Unlock()
	cmd := map[string]any{"id": id, "op": op}
	for k, v := range args {
		cmd[k] = v
	}
	if dl, ok := ctx.Deadline(); ok {
		if _, set := cmd["timeout"]; !set {
			cmd["timeout"] = max(time.Until(dl).Milliseconds(), 1)
		}
	}
	line, err := json.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		return nil, fmt.Errorf("%s %s: %w", p.engine, op, err)
	}
	select {
	case a := <-ch:
		if a.Error != "" {
			return nil, fmt.Errorf("%s %s: %s", p.engine, op, a.Error)
		}
		return a.Value, nil
	case <-p.done:
		return nil, fmt.Errorf("%s %s: %w", p.engine, op, p.readErr)
	case <-ctx.Done():
		p.mu.Lock()
		delete(p.waiting, id)
		p.mu.Unlock()
		return nil, fmt.Errorf("%s %s: %w", p.engine, op, ctx.Err())
	}
}

// TabInfo is one tab of the browser as Tabs lists it.
type TabInfo struct {
	URL string `json:"url"`
	// Visibility is the page's document.visibilityState: "visible" for
	// the tab in front, "hidden" for the others.
	Visibility string `json:"visibility"`
}

// Tabs lists the browser's tabs, also those it opened by itself (Firefox
// shows a downloaded PDF in a new tab, in front of the page).
func (p *Puppet) Tabs() []TabInfo {
	p.t.Helper()
	var tabs []TabInfo
	p.do(&tabs, "tabs", nil)
	return tabs
}

// Page is one tab of a Puppet.
type Page struct {
	p  *Puppet
	id int
}

// Page returns page 0, the one Launch opened.
func (p *Puppet) Page() *Page { return &Page{p: p} }

// NewPage opens another tab.
func (p *Puppet) NewPage() *Page {
	p.t.Helper()
	var id int
	p.do(&id, "newPage", nil)
	return &Page{p: p, id: id}
}

// do runs one command bounded by StepTimeout, decodes its value into v (if
// not nil) and fails the test on an error.
func (p *Puppet) do(v any, op string, args map[string]any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StepTimeout)
	defer cancel()
	raw, err := p.Call(ctx, op, args)
	if err != nil {
		p.t.Fatal(err)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			p.t.Fatalf("%s %s: answer %s: %v", p.engine, op, raw, err)
		}
	}
}

func (g *Page) do(v any, op string, args map[string]any) {
	g.p.t.Helper()
	if args == nil {
		args = map[string]any{}
	}
	args["page"] = g.id
	g.p.do(v, op, args)
}

// Call is Puppet.Call on this page.
func (g *Page) Call(ctx context.Context, op string, args map[string]any) (json.RawMessage, error) {
	if args == nil {
		args = map[string]any{}
	}
	args["page"] = g.id
	return g.p.Call(ctx, op, args)
}

// Goto opens url and waits for its load event; it returns the page's
// address after that.
func (g *Page) Goto(url string) string {
	g.p.t.Helper()
	var s string
	g.do(&s, "goto", map[string]any{"url": url})
	return s
}

// URL is the page's address.
func (g *Page) URL() string {
	g.p.t.Helper()
	var s string
	g.do(&s, "url", nil)
	return s
}

// Wait waits until an element matching the CSS selector is shown.
func (g *Page) Wait(sel string) {
	g.p.t.Helper()
	g.do(nil, "wait", map[string]any{"sel": sel})
}

// Click clicks the shown element sel.
func (g *Page) Click(sel string) {
	g.p.t.Helper()
	g.do(nil, "click", map[string]any{"sel": sel})
}

// Type types text into sel, key by key.
func (g *Page) Type(sel, text string) {
	g.p.t.Helper()
	g.do(nil, "type", map[string]any{"sel": sel, "text": text})
}

// SetValue sets the value of the input sel, as a paste would.
func (g *Page) SetValue(sel, value string) {
	g.p.t.Helper()
	g.do(nil, "setValue", map[string]any{"sel": sel, "value": value})
}

// Text is the text content of the shown element sel.
func (g *Page) Text(sel string) string {
	g.p.t.Helper()
	var s string
	g.do(&s, "text", map[string]any{"sel": sel})
	return s
}

// Value is the value of the shown input sel.
func (g *Page) Value(sel string) string {
	g.p.t.Helper()
	var s string
	g.do(&s, "value", map[string]any{"sel": sel})
	return s
}

// Attr is the attribute name of the element sel ("" if it has none).
func (g *Page) Attr(sel, name string) string {
	g.p.t.Helper()
	var s *string
	g.do(&s, "attr", map[string]any{"sel": sel, "name": name})
	if s == nil {
		return ""
	}
	return *s
}

// Eval evaluates a JavaScript expression in the page and decodes its
// (JSON) value into v.
func (g *Page) Eval(js string, v any) {
	g.p.t.Helper()
	g.do(v, "eval", map[string]any{"js": js})
}

// OnNewDocument runs the JavaScript js in every document the page loads
// from now on, before the document's own scripts: a test's hooks, e.g. one
// that keeps the page's RTCPeerConnections to read their statistics.
func (g *Page) OnNewDocument(js string) {
	g.p.t.Helper()
	g.do(nil, "onNewDocument", map[string]any{"js": js})
}

// Until waits until the JavaScript expression js is truthy in the page.
func (g *Page) Until(js string) {
	g.p.t.Helper()
	g.do(nil, "until", map[string]any{"js": js})
}

// Upload sets the files of the <input type=file> sel, as a person
// choosing them would.
func (g *Page) Upload(sel string, files ...string) {
	g.p.t.Helper()
	g.do(nil, "upload", map[string]any{"sel": sel, "files": files})
}

// Front brings the page's tab to the front, as a person switching back to
// it would.
func (g *Page) Front() {
	g.p.t.Helper()
	g.do(nil, "front", nil)
}

// Press presses a key by its puppeteer name ("Escape", "Enter").
func (g *Page) Press(key string) {
	g.p.t.Helper()
	g.do(nil, "press", map[string]any{"key": key})
}

// Screenshot saves the page as a PNG file.
func (g *Page) Screenshot(path string) {
	g.p.t.Helper()
	g.do(nil, "screenshot", map[string]any{"path": path})
}
