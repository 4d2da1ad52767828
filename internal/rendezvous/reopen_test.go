package rendezvous_test

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/wire"
)

// Re-opened mailboxes (docs/protocol.md, section 3), driven with raw
// WebSockets so that each frame is the test's choice. The client side
// (reconnecting, re-sending) is tested in internal/mailbox.

// rawPair allocates and claims with reopen on raw connections and returns
// both, the mailbox id and the sides' tokens, past "paired".
func rawPair(t *testing.T, url string, reopenA, reopenB bool) (a, b *websocket.Conn, id []byte, tokA, tokB []byte, np string) {
	t.Helper()
	a, b = rawDial(t, url), rawDial(t, url)
	rawWrite(t, a, websocket.MessageText, fmt.Sprintf(`{"type":"allocate","reopen":%t}`, reopenA))
	al := rawRead(t, a)
	if al.Type != wire.TypeAllocated {
		t.Fatalf("allocate: %s %s", al.Type, al.Message)
	}
	rawWrite(t, b, websocket.MessageText, fmt.Sprintf(`{"type":"claim","nameplate":%q,"reopen":%t}`, al.Nameplate, reopenB))
	if f := rawRead(t, b); f.Type != wire.TypeClaimed {
		t.Fatalf("claim: %s %s", f.Type, f.Message)
	}
	pb, pa := rawRead(t, b), rawRead(t, a)
	if pa.Type != wire.TypePaired || pb.Type != wire.TypePaired {
		t.Fatalf("paired: %s, %s", pa.Type, pb.Type)
	}
	if (pa.Token != nil) != reopenA || (pb.Token != nil) != reopenB {
		t.Fatalf("tokens %x, %x for sides that asked: %t, %t", pa.Token, pb.Token, reopenA, reopenB)
	}
	return a, b, al.Mailbox, pa.Token, pb.Token, al.Nameplate
}

func reopenFrame(id, token []byte, received int) string {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf(`{"type":"reopen","mailbox":%q,"token":%q,"received":%d}`, b64(id), b64(token), received)
}

func addFrame(body string) string {
	return fmt.Sprintf(`{"type":"add","body":%q}`, base64.StdEncoding.EncodeToString([]byte(body)))
}

func expectMessage(t *testing.T, ws *websocket.Conn, body string) {
	t.Helper()
	if f := rawRead(t, ws); f.Type != wire.TypeMessage || string(f.Body) != body {
		t.Fatalf("got %s %q, want message %q", f.Type, f.Body, body)
	}
}

func TestReopenServer(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	a, b, id, _, tokB, _ := rawPair(t, url, true, true)
	rawWrite(t, b, websocket.MessageText, addFrame("b0"))
	expectMessage(t, a, "b0")
	rawWrite(t, a, websocket.MessageText, addFrame("a0"))
	expectMessage(t, b, "a0")
	_ = b.CloseNow()
	// a does not notice; its bodies wait for b.
	rawWrite(t, a, websocket.MessageText, addFrame("a1"))
	rawWrite(t, a, websocket.MessageText, addFrame("a2"))

	// b says it has received nothing: it gets all three again, after
	// learning that the server has its one body.
	b2 := rawDial(t, url)
	rawWrite(t, b2, websocket.MessageText, reopenFrame(id, tokB, 0))
	if f := rawRead(t, b2); f.Type != wire.TypeReopened || f.Received != 1 {
		t.Fatalf("got %s received %d, want reopened 1", f.Type, f.Received)
	}
	for _, m := range []string{"a0", "a1", "a2"} {
		expectMessage(t, b2, m)
	}
	rawWrite(t, b2, websocket.MessageText, addFrame("b1"))
	expectMessage(t, a, "b1")

	// A second reopen while b2 still stands takes the side over; b2 is
	// closed without ending the mailbox.
	b3 := rawDial(t, url)
	rawWrite(t, b3, websocket.MessageText, reopenFrame(id, tokB, 3))
	if f := rawRead(t, b3); f.Type != wire.TypeReopened || f.Received != 2 {
		t.Fatalf("got %s received %d, want reopened 2", f.Type, f.Received)
	}
	if _, _, err := b2.Read(testCtx(t)); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("old connection after the takeover: %v", err)
	}
	rawWrite(t, a, websocket.MessageText, addFrame("a3"))
	expectMessage(t, b3, "a3")

	// Claiming more than was sent is refused, and the mailbox lives on.
	b4 := rawDial(t, url)
	rawWrite(t, b4, websocket.MessageText, reopenFrame(id, tokB, 5))
	rawExpectError(t, b4, wire.ErrKindBadRequest)
	rawWrite(t, b3, websocket.MessageText, `{"type":"close","mood":"happy"}`)
	if f := rawRead(t, a); f.Type != wire.TypeClosed || f.Mood != wire.MoodHappy {
		t.Fatalf("a got %s %q, want closed happy", f.Type, f.Mood)
	}
	// An ended mailbox cannot be reopened.
	b5 := rawDial(t, url)
	rawWrite(t, b5, websocket.MessageText, reopenFrame(id, tokB, 4))
	rawExpectError(t, b5, wire.ErrKindUnknownMailbox)
}

// A wrong token, the other side's mailbox and a side without a token are
// refused alike, and every reopen costs a claim token.
func TestReopenRefused(t *testing.T) {
	_, url := start(t, rendezvous.Config{ClaimsPerMinute: 4, MaxConnsPerIP: 64})
	a, _, id, tokA, _, _ := rawPair(t, url, true, false) // takes one claim token
	_ = a.CloseNow()
	wrong := make([]byte, wire.ReopenTokenSize)
	otherID := make([]byte, wire.MailboxIDSize)
	for _, f := range []string{
		reopenFrame(id, wrong, 0),                                          // wrong token
		reopenFrame(otherID, tokA, 0),                                      // right token, wrong mailbox
		reopenFrame(id, append(append([]byte{}, tokA[1:]...), tokA[0]), 0), // token rotated
	} {
		ws := rawDial(t, url)
		rawWrite(t, ws, websocket.MessageText, f)
		rawExpectError(t, ws, wire.ErrKindUnknownMailbox)
	}
	// The claim bucket is empty now: even the right token waits.
	ws := rawDial(t, url)
	rawWrite(t, ws, websocket.MessageText, reopenFrame(id, tokA, 0))
	rawExpectError(t, ws, wire.ErrKindRateLimited)
}

// A side that did not ask for a token ends the mailbox when it drops, as
// before reopening existed (the browser client); so does the second side
// of a mailbox whose other side is away already.
func TestDropWithoutToken(t *testing.T) {
	_, url := start(t, rendezvous.Config{ClaimsPerMinute: 1000, MaxConnsPerIP: 1000})
	a, b, _, _, _, _ := rawPair(t, url, true, false)
	_ = b.CloseNow()
	if f := rawRead(t, a); f.Type != wire.TypeClosed || f.Mood != wire.MoodErrory {
		t.Fatalf("a got %s %q, want closed errory", f.Type, f.Mood)
	}

	a, b, id, tokA, _, np := rawPair(t, url, true, true)
	_ = a.CloseNow()
	_ = b.CloseNow()
	// Both gone: the mailbox ends with the second drop, which frees the
	// nameplate; poll until the server has torn both down.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ws := rawDial(t, url)
		rawWrite(t, ws, websocket.MessageText, `{"type":"claim","nameplate":"`+np+`"}`)
		f := rawRead(t, ws)
		if f.Type == wire.TypeError && f.Kind == wire.ErrKindUnknownNameplate {
			break
		}
		if time.Now().After(deadline) || f.Kind != wire.ErrKindCrowded {
			t.Fatalf("claim of a mailbox whose sides both dropped: %s %s", f.Type, f.Kind)
		}
		time.Sleep(10 * time.Millisecond) // polling the server's state, not synchronising with it
	}
	ws := rawDial(t, url)
	rawWrite(t, ws, websocket.MessageText, reopenFrame(id, tokA, 0))
	rawExpectError(t, ws, wire.ErrKindUnknownMailbox)
}

// Reopen tokens and mailbox ids never reach the logs.
func TestReopenLogsKeepSecrets(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	h := slog.NewJSONHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug})
	_, url := start(t, rendezvous.Config{Logger: slog.New(h)})
	a, b, id, _, tokB, _ := rawPair(t, url, true, true)
	_ = b.CloseNow()
	b2 := rawDial(t, url)
	rawWrite(t, b2, websocket.MessageText, reopenFrame(id, tokB, 0))
	if f := rawRead(t, b2); f.Type != wire.TypeReopened {
		t.Fatalf("got %s", f.Type)
	}
	rawWrite(t, a, websocket.MessageText, `{"type":"close","mood":"happy"}`)
	rawRead(t, b2)
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "mailbox reopened") {
		t.Fatalf("expected reopen logs, got %s", out)
	}
	for _, secret := range [][]byte{tokB, id} {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(secret), fmt.Sprintf("%x", secret)} {
			if strings.Contains(out, enc) {
				t.Errorf("%s reached the log: %s", enc, out)
			}
		}
	}
}
