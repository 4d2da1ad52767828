package web_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/identity"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/wire"
	"github.com/direkt/direkt/web"
)

// screenshot saves the page as NAME.png into $DIREKT_SCREENSHOTS, if set.
func screenshot(t *testing.T, ctx context.Context, name string) {
	dir := os.Getenv("DIREKT_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := do(t, ctx, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestJoinByFormOnAPhone: on a phone-sized English page, a person types a
// code with a typo and gets a suggestion, corrects it, joins, sends a file
// to the host (which checks its bytes and hash) and ends with Esc.
func TestJoinByFormOnAPhone(t *testing.T) {
	needNode(t)
	bctx := browsertest.New(t, browsertest.Options{Lang: "en-GB", Width: 390, Height: 844})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bctx, bcancel := context.WithTimeout(bctx, 60*time.Second)
	defer bcancel()

	server := newRendezvous(t, web.Handler())
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pend, err := pairing.Allocate(ctx, pairing.Options{
		Server: server, Lang: code.English,
		Hello: wire.Signal{Name: "Anna Adviser", ID: pub, App: wire.AppConsult, Path: wire.PathAuto},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := pend.Code()

	do(t, bctx, chromedp.Navigate(server+"/j/"+c.Nameplate))
	if v := do(t, bctx, chromedp.Value(chromedp.CSS(`[data-testid=code-input]`))); v != c.Nameplate+"-" {
		t.Errorf("the form is prefilled with %q", v)
	}
	// A typo in the second word: one letter doubled.
	typo := c.Words[1][:1] + c.Words[1]
	do(t, bctx, chromedp.SendKeys(chromedp.CSS(`[data-testid=code-input]`), c.Words[0]+" "+typo))
	do(t, bctx, chromedp.Click(chromedp.CSS(`[data-testid=join-button]`)))
	msg := do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=join-error]`)))
	if !strings.Contains(msg, "Did you mean") || !strings.Contains(msg, c.Words[1]) {
		t.Errorf("typo message %q", msg)
	}
	if st := do(t, bctx, chromedp.AttributeValue(chromedp.CSS(`body`), "data-state")).Value; st != "waiting" {
		t.Errorf("data-state %q after a typo", st)
	}
	screenshot(t, bctx, "join-typo")

	do(t, bctx, chromedp.SetValue(chromedp.CSS(`[data-testid=code-input]`), strings.ToUpper(c.String())))
	do(t, bctx, chromedp.SendKeys(chromedp.CSS(`[data-testid=name-input]`), "Bernd"))
	do(t, bctx, chromedp.Click(chromedp.CSS(`[data-testid=join-button]`)))
	pair, err := pend.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	defer pair.Close(wire.MoodHappy)
	sess, err := session.Connect(ctx, session.Config{Role: wire.RoleA, Signaller: pair, BindingKey: pair.Keys.Binding})
	if err != nil {
		t.Fatalf("session: %v", err)
	}
	defer sess.Close()
	do(t, bctx, chromedp.WaitVisible(chromedp.CSS(`body[data-state=connected]`)))
	if p := do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=phrase]`))); p != pair.Phrase {
		t.Errorf("phrase %q, Go %q", p, pair.Phrase)
	}
	if fp := do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=peer-key]`))); fp != identity.Fingerprint(pub) {
		t.Errorf("the page shows the adviser's key as %q, identity.Fingerprint %q", fp, identity.Fingerprint(pub))
	}

	ch, err := sess.Open(ctx, "consult")
	if err != nil {
		t.Fatal(err)
	}
	h := newHost(t, sess, ch)
	h.send(map[string]any{"t": "hello", "v": 1, "role": "host", "name": "Anna Adviser", "lang": "en"})
	if m := h.recv(); m["t"] != "hello" || m["name"] != "Bernd" || m["lang"] != "en" {
		t.Fatalf("client hello %v", m)
	}
	h.send(map[string]any{"t": "ask", "id": "h1", "what": "record"})
	do(t, bctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid=accept-h1]`)))
	screenshot(t, bctx, "join-consent")
	do(t, bctx, chromedp.Click(chromedp.CSS(`[data-testid=decline-h1]`)))
	if m := h.recv(); m["t"] != "answer" || m["ok"] != false {
		t.Fatalf("answer %v", m)
	}

	// The person sends a file: 3 MiB of random bytes.
	data := make([]byte, 3<<20)
	_, _ = rand.Read(data)
	sum := sha256.Sum256(data)
	file := filepath.Join(t.TempDir(), "Gehaltsabrechnung.pdf")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	do(t, bctx, chromedp.SetUploadFiles(chromedp.CSS(`[data-testid=file-input]`), []string{file}))
	m := h.recv()
	if m["t"] != "file" || m["name"] != "Gehaltsabrechnung.pdf" || m["size"] != float64(len(data)) || m["sha256"] != hex.EncodeToString(sum[:]) || m["kind"] != "doc" {
		t.Fatalf("file announcement %v", m)
	}
	id, _ := m["id"].(string)
	fc, err := sess.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fc.Label() != "file/"+id || !strings.HasPrefix(id, "c") {
		t.Fatalf("channel %q for file %q", fc.Label(), id)
	}
	// A page that stops sending ends the session, and so the read, rather
	// than hang the test.
	stall := time.AfterFunc(recvTimeout, func() { _ = sess.Close() })
	got, err := io.ReadAll(fc)
	stall.Stop()
	if err != nil {
		t.Fatal(err)
	}
	gotSum := sha256.Sum256(got)
	if gotSum != sum {
		t.Fatalf("host received %d bytes with another hash", len(got))
	}
	_ = fc.Close()
	h.send(map[string]any{"t": "file-ok", "id": id, "ok": true, "sha256": hex.EncodeToString(gotSum[:])})
	do(t, bctx, chromedp.WaitVisible(chromedp.CSS(`[data-testid=file][data-state=done]`)))
	screenshot(t, bctx, "join-connected")

	// Esc ends everything.
	do(t, bctx, chromedp.KeyEvent("\x1b"))
	if m := h.recv(); m["t"] != "end" {
		t.Fatalf("after Esc the host got %v", m)
	}
	do(t, bctx, chromedp.WaitVisible(chromedp.CSS(`body[data-state=ended]`)))
	select {
	case <-sess.Done():
	case <-ctx.Done():
		t.Fatal("the page did not close the session after ending")
	}
	screenshot(t, bctx, "join-ended")
}
