package app

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/record"
	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/wire"
)

// A browser client whose connection died asks for a new one with
// "reconnect" (docs/protocol.md, section 5.2): the host builds a new
// session over the same pairing, and its consultation resumes on it — the
// same consultation, every line once (docs/consult.md, "Resuming").
// noBye is a browser's signalling: it never says "bye" (the page leaves
// the mailbox instead, or says "end" on the consult channel).
type noBye struct{ *pairing.Pair }

func (p noBye) Send(ctx context.Context, s wire.Signal) error {
	if s.T == wire.SignalBye {
		return nil
	}
	return p.Pair.Send(ctx, s)
}

// lineConn reads and writes consult lines on a channel.
type lineConn struct {
	t  *testing.T
	ch *session.Channel
	in chan map[string]any
}

func newLineConn(t *testing.T, ch *session.Channel) *lineConn {
	c := &lineConn{t: t, ch: ch, in: make(chan map[string]any, 64)}
	go func() {
		defer close(c.in)
		sc := bufio.NewScanner(ch)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				c.in <- m
			}
		}
	}()
	return c
}

func (c *lineConn) send(format string, a ...any) {
	c.t.Helper()
	if _, err := fmt.Fprintf(c.ch, format+"\n", a...); err != nil {
		c.t.Fatal(err)
	}
}

func (c *lineConn) next(ctx context.Context) map[string]any {
	c.t.Helper()
	select {
	case m, ok := <-c.in:
		if !ok {
			c.t.Fatal("the consult channel closed")
		}
		return m
	case <-ctx.Done():
		c.t.Fatal("nothing from the host")
		return nil
	}
}

// accept connects a browser's session over sig and takes the host's
// consult channel.
func acceptConsult(t *testing.T, ctx context.Context, pair *pairing.Pair) (*session.Session, *lineConn) {
	t.Helper()
	sess, err := session.Connect(ctx, session.Config{
		Role: pair.Role, Signaller: noBye{pair}, ICEServers: pair.ICEServers,
		BindingKey: pair.Keys.Binding, IncludeLoopback: true, Logger: testLogger(),
	})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { sess.Close() })
	ch, err := sess.Accept(ctx)
	if err != nil || ch.Label() != "consult" {
		t.Fatalf("accept consult: %v %v", ch, err)
	}
	t.Cleanup(func() { ch.Close() })
	return sess, newLineConn(t, ch)
}

func TestBrowserReconnects(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 90*time.Second)
	server := newRendezvous(t, 0)
	h, _, hev, _ := newPeers(t, server, func(c *Config) { c.AskRecord = true })
	startHost(t, ctx, h)
	st := waitState(t, ctx, h, "a code", func(st console.State) bool { return st.Phase == PhaseWaiting && st.Code != "" })
	c, err := code.Parse(st.Code)
	if err != nil {
		t.Fatal(err)
	}
	// No long-term key in the hello: a browser.
	pair, err := pairing.Claim(ctx, pairing.Options{Server: server, Hello: wire.Signal{Name: "Browser", App: wire.AppConsult}, Logger: testLogger()}, c)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	t.Cleanup(func() { pair.Close(wire.MoodHappy) })
	sess, lc := acceptConsult(t, ctx, pair)
	lc.send(`{"t":"hello","v":1,"role":"client","name":"Browser","lang":"de","agent":"raw"}`)
	for m := lc.next(ctx); m["t"] != "ask"; m = lc.next(ctx) {
	}
	lc.send(`{"t":"answer","id":"h1","ok":true}`)
	waitState(t, ctx, h, "record accepted", func(st console.State) bool { return st.Recording == "accepted" })
	lc.send(`{"t":"chat","id":"c1","ts":1,"text":"before"}`)
	waitState(t, ctx, h, "the first chat", func(st console.State) bool { return hasChat(st, "client", "before") })
	if err := h.Chat("host before"); err != nil {
		t.Fatal(err)
	}
	lc.next(ctx)
	// What the host sent so far: hello, the record ask, its chat.
	const hostLines = 3
	// What we sent: hello, the answer, the chat.
	const ourLines = 3

	// The connection dies as Firefox's does; the page asks for a new one.
	sess.Close()
	waitState(t, ctx, h, "the host still connected", func(st console.State) bool { return st.Phase == PhaseConnected })
	if err := h.Chat("host while away"); err != nil {
		t.Fatal(err)
	}
	if err := pair.Send(ctx, wire.Signal{T: wire.SignalReconnect}); err != nil {
		t.Fatal(err)
	}
	_, lc = acceptConsult(t, ctx, pair)
	lc.send(`{"t":"resume","got":%d,"sent":%d}`, hostLines, ourLines)
	if m := lc.next(ctx); m["t"] != "resume" || m["got"] != float64(ourLines) || m["sent"] != float64(hostLines+1) {
		t.Fatalf("the host's first line %v, want resume got %d sent %d", m, ourLines, hostLines+1)
	}
	if m := lc.next(ctx); m["t"] != "chat" || m["text"] != "host while away" {
		t.Fatalf("resent %v, want the chat sent while away", m)
	}
	lc.send(`{"t":"chat","id":"c9","ts":%d,"text":"after"}`, time.Now().UnixMilli())
	st = waitState(t, ctx, h, "the chat after", func(st console.State) bool { return hasChat(st, "client", "after") })
	n := 0
	for _, m := range st.Chat {
		if m.Text == "before" || m.Text == "host before" {
			n++
		}
	}
	if n != 2 || st.Phase != PhaseConnected {
		t.Errorf("phase %s, %d of the chat before (want 2): %s", st.Phase, n, describe(st))
	}
	if got := hev.kinds(); fmt.Sprint(got) != "[code connected]" {
		t.Errorf("host events %v, want one consultation", got)
	}
	if err := h.End(); err != nil {
		t.Fatal(err)
	}
	// The record's copies come first; we do not take them.
	for m := lc.next(ctx); m["t"] != "end"; m = lc.next(ctx) {
		if m["t"] == "file" {
			lc.send(`{"t":"file-ok","id":%q,"ok":false}`, m["id"])
		}
	}
	waitState(t, ctx, h, "the end", phaseIs(PhaseEnded))
	// One record, with the chat from before and after the new connection.
	recs, err := h.Records("")
	if err != nil || len(recs) != 1 {
		t.Fatalf("records %v, %v; want one", recs, err)
	}
	_, f, err := h.OpenRecord(recs[0].ID, "json")
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := record.Verify(readAllClose(t, f))
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range r.Chat {
		texts = append(texts, m.Text)
	}
	if want := "[before host before host while away after]"; fmt.Sprint(texts) != want {
		t.Errorf("the record's chat %v, want %s", texts, want)
	}
}
