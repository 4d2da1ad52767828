package web_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/record"
	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/wire"
	"github.com/direkt/direkt/web"
)

// host is a minimal consultation host for this test: the session and the
// JSON Lines of the consult channel, written here from docs/consult.md so
// that the page is checked against the contract, not against a Go
// implementation of it.
type host struct {
	t    *testing.T
	sess *session.Session
	ch   *session.Channel
	in   chan []byte // the consult channel's lines
	err  error       // why in was closed
	// page, if set, is the browser tab: a stalled recv logs what it shows.
	page context.Context
}

// recvTimeout bounds one host.recv: a page that never answers fails the
// test instead of hanging it.
const recvTimeout = 30 * time.Second

// newHost reads ch's lines in the background until the channel or the
// session ends (the test closes the session as it ends).
func newHost(t *testing.T, sess *session.Session, ch *session.Channel) *host {
	h := &host{t: t, sess: sess, ch: ch, in: make(chan []byte, 64)}
	go func() {
		defer close(h.in)
		sc := bufio.NewScanner(ch)
		for sc.Scan() {
			h.in <- bytes.Clone(sc.Bytes())
		}
		h.err = sc.Err()
	}()
	return h
}

// do runs one browser action and fails the test on an error.
func do[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (h *host) send(m map[string]any) {
	h.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.ch.Write(append(b, '\n')); err != nil {
		h.t.Fatalf("consult write: %v", err)
	}
}

// shows is what the page shows, for a failure message.
func (h *host) shows() string {
	if h.page == nil {
		return "(no page)"
	}
	ctx, cancel := context.WithTimeout(h.page, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({body: {...document.body.dataset},
		files: [...document.querySelectorAll('[data-testid=file]')].map((e) => ({...e.dataset})),
		asks: [...document.querySelectorAll('[data-testid=ask]')].map((e) => ({...e.dataset})),
		chat: document.querySelectorAll('[data-testid=chat-message]').length})`))
	if err != nil {
		return fmt.Sprintf("(not readable: %v)", err)
	}
	return s
}

func (h *host) recv() map[string]any {
	h.t.Helper()
	var line []byte
	select {
	case l, ok := <-h.in:
		if !ok {
			h.t.Fatalf("consult read: %v", h.err)
		}
		line = l
	case <-time.After(recvTimeout):
		h.t.Fatalf("consult read: no line from the page within %v; the page shows %s", recvTimeout, h.shows())
	}
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		h.t.Fatalf("consult line %q: %v", line, err)
	}
	return m
}

// TestJoinInChromium: a real headless Chromium opens the join link served by
// web.Handler through the real rendezvous, pairs with a Go host (pairing +
// session, side a), shows the same check phrase, and runs a consultation:
// hello, record consent, chat both ways, a file from the host after consent
// (verified by hash in the page), a file from the page to the host, and the
// end.
func TestJoinInChromium(t *testing.T) {
	needNode(t) // the page is built from web/ sources; without node the check is elsewhere
	bctx := browsertest.New(t, browsertest.Options{Lang: "de-DE"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bctx, bcancel := context.WithTimeout(bctx, 60*time.Second)
	defer bcancel()

	server := newRendezvous(t, web.Handler())
	pend, err := pairing.Allocate(ctx, pairing.Options{
		Server: server, Lang: code.German,
		Hello: wire.Signal{Name: "Anna Adviser", App: wire.AppConsult, Path: wire.PathAuto},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := pend.Code()
	link := fmt.Sprintf("%s/j/%s#%s", server, c.Nameplate, strings.Join(c.Words, "-"))

	navigated := make(chan error, 1)
	go func() { _, err := chromedp.Run(bctx, chromedp.Navigate(link)); navigated <- err }()
	pair, err := pend.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	defer pair.Close(wire.MoodHappy)
	if err := <-navigated; err != nil {
		t.Fatal(err)
	}
	sess, err := session.Connect(ctx, session.Config{Role: wire.RoleA, Signaller: pair, BindingKey: pair.Keys.Binding})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer sess.Close()

	do(t, bctx, chromedp.WaitVisible(chromedp.CSS(`body[data-state=connected]`)))
	phrase := do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=phrase]`)))
	path := do(t, bctx, chromedp.AttributeValue(chromedp.CSS(`body`), "data-path")).Value
	href := do(t, bctx, chromedp.Location())
	if phrase != pair.Phrase {
		t.Errorf("page phrase %q, Go %q", phrase, pair.Phrase)
	}
	if path != "direct" {
		t.Errorf("data-path %q", path)
	}
	// This host's hello has no key: no fingerprint line.
	if d := do(t, bctx, chromedp.Evaluate[string](`getComputedStyle(document.getElementById('peer-key-row')).display`)); d != "none" {
		t.Errorf("the key line of a host without a key is shown (display %q)", d)
	}
	if pair.Peer.Name != "Gast" || pair.Peer.App != wire.AppConsult {
		t.Errorf("Go saw hello %+v", pair.Peer)
	}
	if !strings.HasSuffix(href, "/j/"+c.Nameplate+"#"+strings.Join(c.Words, "-")) {
		t.Errorf("page address %q", href)
	}

	ch, err := sess.Open(ctx, "consult")
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, sess, ch)
	h.page = bctx
	h.send(map[string]any{"t": "hello", "v": 1, "role": "host", "name": "Anna Adviser", "lang": "de", "agent": "direkt"})
	if m := h.recv(); m["t"] != "hello" || m["role"] != "client" || m["name"] != "Gast" || m["lang"] != "de" {
		t.Fatalf("client hello %v", m)
	}

	// Consent: record.
	h.send(map[string]any{"t": "ask", "id": "h1", "what": "record"})
	do(t, bctx, chromedp.Click(chromedp.CSS(`[data-testid=accept-h1]`)))
	if m := h.recv(); m["t"] != "answer" || m["id"] != "h1" || m["ok"] != true {
		t.Fatalf("answer %v", m)
	}

	// Chat both ways.
	h.send(map[string]any{"t": "chat", "id": "h2", "text": "Guten Tag! <b>kein HTML</b>", "ts": time.Now().UnixMilli()})
	do(t, bctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid=chat-message][data-from=host]`)))
	do(t, bctx, chromedp.SendKeys(chromedp.CSS(`[data-testid=chat-input]`), "Hallo zurück"))
	do(t, bctx, chromedp.Click(chromedp.CSS(`[data-testid=chat-send]`)))
	if m := h.recv(); m["t"] != "chat" || m["text"] != "Hallo zurück" {
		t.Fatalf("chat %v", m)
	}
	shown := do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=chat-message][data-from=host]`)))
	if !strings.Contains(shown, "<b>kein HTML</b>") {
		t.Errorf("host chat shown as %q", shown)
	}

	// A record file larger than the host can make it (record.MaxSigned) is
	// refused: the host hears no, and the page says why.
	h.send(map[string]any{"t": "file", "id": "h8", "name": "r.json", "size": record.MaxSigned + 1, "sha256": strings.Repeat("a", 64), "kind": "record"})
	if m := h.recv(); m["t"] != "file-ok" || m["id"] != "h8" || m["ok"] != false {
		t.Fatalf("verdict on an oversized record %v", m)
	}
	why := do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=file][data-file-id=h8][data-state=refused] [data-testid=why-h8]`)))
	if !strings.Contains(why, "höchstens 33,5 MB") {
		t.Errorf("the page says %q about an oversized record", why)
	}
	screenshot(t, bctx, "join-record-refused")

	// A file from the host: ask, accept, announce, bytes, verdict.
	data := bytes.Repeat([]byte("Angebot bAV 2026\n"), 20000) // 340 KB: several messages
	sum := sha256.Sum256(data)
	hexSum := hex.EncodeToString(sum[:])
	h.send(map[string]any{"t": "ask", "id": "h3", "what": "file", "name": "angebot.pdf", "size": len(data), "sha256": hexSum})
	do(t, bctx, chromedp.Click(chromedp.CSS(`[data-testid=accept-h3]`)))
	if m := h.recv(); m["t"] != "answer" || m["id"] != "h3" || m["ok"] != true {
		t.Fatalf("answer %v", m)
	}
	h.send(map[string]any{"t": "file", "id": "h3", "name": "angebot.pdf", "size": len(data), "sha256": hexSum, "kind": "doc"})
	fc, err := sess.Open(ctx, "file/h3")
	if err != nil {
		t.Fatal(err)
	}
	stall := time.AfterFunc(recvTimeout, func() { _ = sess.Close() }) // a page that stops reading fails the write
	if _, err := fc.Write(data); err != nil {
		t.Fatal(err)
	}
	stall.Stop()
	// Like the real host (internal/consult, files.go), keep the channel
	// open until the verdict.
	if m := h.recv(); m["t"] != "file-ok" || m["id"] != "h3" || m["ok"] != true || m["sha256"] != hexSum {
		t.Fatalf("file-ok %v", m)
	}
	if err := fc.Close(); err != nil {
		t.Fatal(err)
	}
	do(t, bctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid=download-h3]`)))
	pageSum := do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=sha256-h3]`)))
	dl := do(t, bctx, chromedp.AttributeValue(chromedp.CSS(`[data-testid=download-h3]`), "href")).Value
	if pageSum != hexSum || !strings.HasPrefix(dl, "blob:") {
		t.Errorf("page shows hash %q and link %q", pageSum, dl)
	}

	// A file from the host nobody asked for is refused and never shown.
	h.send(map[string]any{"t": "file", "id": "h9", "name": "evil.exe", "size": 3, "sha256": hexSum, "kind": "doc"})
	if fc, err := sess.Open(ctx, "file/h9"); err == nil {
		_, _ = fc.Write([]byte("abc"))
		_ = fc.Close()
	}
	n := do(t, bctx, chromedp.Evaluate[int](`document.querySelectorAll('[data-file-id=h9]').length`))
	if n != 0 {
		t.Errorf("an unasked file is shown")
	}

	// End from the host.
	h.send(map[string]any{"t": "end", "reason": "done"})
	do(t, bctx, chromedp.WaitVisible(chromedp.CSS(`body[data-state=ended]`)))
	ended := do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=ended-reason]`)))
	if !strings.Contains(ended, "Berater") {
		t.Errorf("ended reason %q", ended)
	}
	_ = ch.Close()
}
