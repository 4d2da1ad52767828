package web_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/consult"
	"github.com/direkt/direkt/internal/identity"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/wire"
	"github.com/direkt/direkt/web"
)

// fillChat sends the chat text through the page's form until the chat
// note's data-share is until (or 1000 messages), and returns how many it
// sent: the form keeps the text when the page refuses it.
const fillChat = `((text, until) => {
  const input = document.querySelector('[data-testid=chat-input]');
  const form = document.getElementById('chat-form');
  const note = document.querySelector('[data-testid=chat-note]');
  let n = 0;
  while (n < 1000 && note.dataset.share !== until) {
    input.value = text;
    form.requestSubmit();
    if (input.value !== '') break;
    n++;
  }
  return n;
})`

// TestShareAndKeyInChromium: on a phone-sized German page, a person with
// a name full of HTML characters joins an adviser whose hello carries its
// key. The page shows the key's fingerprint as internal/identity writes it.
// The real consultation host (internal/consult) counts the client's chat,
// and the page, counting the same way, notes at 80 % and refuses the
// message that would pass its share: the host cuts nothing, and the page
// stopped no earlier than it had to.
func TestShareAndKeyInChromium(t *testing.T) {
	needNode(t)
	bctx := browsertest.New(t, browsertest.Options{Lang: "de-DE", Width: 390, Height: 844})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	bctx, bcancel := context.WithTimeout(bctx, 90*time.Second)
	defer bcancel()

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	server := newRendezvous(t, web.Handler())
	pend, err := pairing.Allocate(ctx, pairing.Options{
		Server: server, Lang: code.German,
		Hello: wire.Signal{Name: "Anna Beraterin", ID: pub, App: wire.AppConsult, Path: wire.PathAuto},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := pend.Code()
	const name = "Bernd <&>"
	do(t, bctx, chromedp.Navigate(server+"/j/"))
	do(t, bctx, chromedp.SetValue(chromedp.CSS(`[data-testid=code-input]`), c.String()))
	do(t, bctx, chromedp.SendKeys(chromedp.CSS(`[data-testid=name-input]`), name))
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
	host, err := consult.Start(ctx, sess, consult.Config{
		Role: consult.Host, Name: "Anna Beraterin", Lang: "de", DataDir: t.TempDir(),
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = host.End("") }()

	do(t, bctx, chromedp.WaitVisible(chromedp.CSS(`body[data-state=connected]`)))
	fp := do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=peer-key]`)))
	if want := identity.Fingerprint(pub); fp != want {
		t.Errorf("the page shows the key %q, identity.Fingerprint %q", fp, want)
	}
	hint := do(t, bctx, chromedp.Text(chromedp.CSS(`#key-hint`)))
	if !strings.Contains(hint, "direkt verify --key") || !strings.Contains(hint, "PDF") {
		t.Errorf("key hint %q", hint)
	}
	screenshot(t, bctx, "join-key")

	// Long messages that JSON blows up and that break many lines.
	text := strings.Repeat("<\n", 2000)
	near := do(t, bctx, chromedp.Evaluate[int](fillChat+`(`+jsString(text)+`, 'near')`))
	note := do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=chat-note][data-share=near]`)))
	if !strings.Contains(note, "80 %") {
		t.Errorf("near note %q", note)
	}
	showNote(t, bctx)
	screenshot(t, bctx, "join-share-near")
	more := do(t, bctx, chromedp.Evaluate[int](fillChat+`(`+jsString(text)+`, 'full')`))
	sent := near + more
	note = do(t, bctx, chromedp.Text(chromedp.CSS(`[data-testid=chat-note][data-share=full]`)))
	if !strings.HasPrefix(note, "Nicht gesendet") {
		t.Errorf("full note %q", note)
	}
	if v := do(t, bctx, chromedp.Value(chromedp.CSS(`[data-testid=chat-input]`))); v != text {
		t.Errorf("the refused text is not kept in the input (%d characters)", len(v))
	}
	showNote(t, bctx)
	screenshot(t, bctx, "join-share-full")

	// The host has every message the page sent, and cut none.
	deadline := time.Now().Add(30 * time.Second)
	var s consult.Snapshot
	for {
		s = host.Snapshot()
		if len(s.Chat) >= sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sh := s.ClientShare
	kept := strings.TrimSpace(text) // the page trims
	cost := consult.RecordCost(s.Peer.Name, kept)
	if s.Peer.Name != name || len(s.Chat) != sent || sh.Cut != 0 {
		t.Fatalf("host: peer %q, %d messages of %d, share %+v", s.Peer.Name, len(s.Chat), sent, sh)
	}
	if sh.Used != sent*cost || sh.Used > consult.MaxShare || sh.Used+cost <= consult.MaxShare {
		t.Errorf("the page stopped at %d of %d bytes with messages of %d: not where the host would cut", sh.Used, consult.MaxShare, cost)
	}
	if near*cost < consult.WarnShare || (near-1)*cost >= consult.WarnShare {
		t.Errorf("the near note came after %d messages of %d bytes", near, cost)
	}
	t.Logf("%d messages of %d bytes in the record: %d of %d bytes; note after %d", sent, cost, sh.Used, consult.MaxShare, near)
}

// showNote scrolls the chat note into view, for the screenshots.
func showNote(t *testing.T, ctx context.Context) {
	do(t, ctx, chromedp.Evaluate[bool](`(document.querySelector('[data-testid=chat-note]').scrollIntoView({block: 'end'}), true)`))
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\u2028", `\u2028`, "\u2029", `\u2029`)
	return "'" + r.Replace(s) + "'"
}
