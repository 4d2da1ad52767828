package rendezvous_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/testwatch"
	"github.com/direkt/direkt/internal/wire"
)

func TestMain(m *testing.M) {
	if os.Getenv(loadServerEnv) != "" {
		runLoadServer() // the load test's server process; does not return
	}
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}

var quiet = slog.New(slog.DiscardHandler)

// start runs a rendezvous server on an httptest server; both are closed at
// cleanup. It returns the server and its base URL.
func start(t testing.TB, cfg rendezvous.Config) (*rendezvous.Server, string) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	s := rendezvous.New(cfg)
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		ts.Close()
	})
	return s, ts.URL
}

func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func dial(t testing.TB, url string) *mailbox.Conn {
	t.Helper()
	c, err := mailbox.Dial(testCtx(t), url, nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(wire.MoodHappy) })
	return c
}

// pair allocates on a fresh connection and claims on another one.
func pair(t testing.TB, url string) (a, b *mailbox.Conn, nameplate string) {
	t.Helper()
	ctx := testCtx(t)
	a, b = dial(t, url), dial(t, url)
	np, idA, err := a.Allocate(ctx)
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	idB, err := b.Claim(ctx, np)
	if err != nil {
		t.Fatalf("claim %s: %v", np, err)
	}
	if string(idA) != string(idB) || len(idA) != wire.MailboxIDSize {
		t.Fatalf("mailbox ids differ or wrong size: %x / %x", idA, idB)
	}
	return a, b, np
}

// expect reads the next frame and checks its type (and body for messages).
func expect(t testing.TB, c *mailbox.Conn, typ string, body string) wire.Frame {
	t.Helper()
	f, err := c.Next(testCtx(t))
	if err != nil {
		t.Fatalf("waiting for %s: %v", typ, err)
	}
	if f.Type != typ || (typ == wire.TypeMessage && string(f.Body) != body) {
		t.Fatalf("got %s %q, want %s %q", f.Type, f.Body, typ, body)
	}
	return f
}

// expectErr reads until Next fails and checks the error.
func expectErr(t testing.TB, c *mailbox.Conn, want error) {
	t.Helper()
	f, err := c.Next(testCtx(t))
	if !errors.Is(err, want) {
		t.Fatalf("Next = %s frame, err %v; want %v", f.Type, err, want)
	}
}

func TestExchange(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	ctx := testCtx(t)
	a, b := dial(t, url), dial(t, url)
	np, _, err := a.Allocate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := strconv.Atoi(np); err != nil || n < 1 || n > 9 {
		t.Fatalf("first nameplate on an empty server is %q, want 1..9", np)
	}
	// Bodies added before b arrives are queued for it, in order.
	for _, m := range []string{"early 1", "early 2"} {
		if err := a.Add(ctx, []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Claim(ctx, np); err != nil {
		t.Fatal(err)
	}
	expect(t, b, wire.TypePaired, "")
	expect(t, b, wire.TypeMessage, "early 1")
	expect(t, b, wire.TypeMessage, "early 2")
	expect(t, a, wire.TypePaired, "")

	for i := range 5 {
		if err := b.Add(ctx, []byte("b"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if err := a.Add(ctx, []byte("a"+strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		expect(t, a, wire.TypeMessage, "b"+strconv.Itoa(i))
		expect(t, b, wire.TypeMessage, "a"+strconv.Itoa(i))
	}

	if err := a.Close(wire.MoodHappy); err != nil {
		t.Fatal(err)
	}
	f := expect(t, b, wire.TypeClosed, "")
	if f.Mood != wire.MoodHappy {
		t.Fatalf("b got closed mood %q", f.Mood)
	}
	expectErr(t, b, mailbox.ErrClosed)
	if _, err := a.Next(ctx); !errors.Is(err, mailbox.ErrClosed) {
		t.Fatalf("Next after Close: %v", err)
	}

	// The mailbox is gone: its nameplate is unknown now.
	c := dial(t, url)
	if _, err := c.Claim(ctx, np); !errors.Is(err, mailbox.ErrUnknownNameplate) {
		t.Fatalf("claim of a used nameplate: %v", err)
	}
}

func TestPairedICEServers(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	var mu sync.Mutex
	var calls []string
	ice := func(r *http.Request, at time.Time) []wire.ICEServer {
		mu.Lock()
		calls = append(calls, r.Host)
		n := len(calls)
		mu.Unlock()
		return []wire.ICEServer{
			{URLs: []string{"stun:" + r.Host}},
			{URLs: []string{"turn:" + r.Host + "?transport=udp"}, Username: strconv.FormatInt(at.Add(10*time.Minute).Unix(), 10) + ":u" + strconv.Itoa(n), Credential: "c"},
		}
	}
	_, url := start(t, rendezvous.Config{ICEServers: ice, Now: func() time.Time { return now }})
	a, b, _ := pair(t, url)
	fb := expect(t, b, wire.TypePaired, "")
	fa := expect(t, a, wire.TypePaired, "")
	host := strings.TrimPrefix(url, "http://")
	for name, f := range map[string]wire.Frame{"a": fa, "b": fb} {
		if len(f.ICEServers) != 2 || f.ICEServers[0].URLs[0] != "stun:"+host || f.ICEServers[1].Credential != "c" {
			t.Errorf("%s: ICE servers %+v", name, f.ICEServers)
		}
		if f.TTL != 600 {
			t.Errorf("%s: ttl %d, want 600", name, f.TTL)
		}
	}
	if fa.ICEServers[1].Username == fb.ICEServers[1].Username {
		t.Error("both sides got the same TURN username")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 {
		t.Fatalf("ICEServers called %d times, want once per side", len(calls))
	}
}

func TestCrowded(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	_, _, np := pair(t, url)
	c := dial(t, url)
	_, err := c.Claim(testCtx(t), np)
	var se *mailbox.ServerError
	if !errors.Is(err, mailbox.ErrCrowded) || !errors.As(err, &se) || se.Kind != wire.ErrKindCrowded {
		t.Fatalf("third claim: %v", err)
	}
	// The server closes the connection after an error.
	expectErr(t, c, mailbox.ErrClosed)
}

func TestUnknownNameplate(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	_, shortURL := start(t, rendezvous.Config{NameplateTTL: 300 * time.Millisecond})
	ctx := testCtx(t)

	// Never allocated.
	if _, err := dial(t, url).Claim(ctx, "123456"); !errors.Is(err, mailbox.ErrUnknownNameplate) {
		t.Fatalf("never allocated: %v", err)
	}

	// Expired: the allocator hears "expired", the claimer "unknown-nameplate".
	a := dial(t, shortURL)
	np, _, err := a.Allocate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if f := expect(t, a, wire.TypeClosed, ""); f.Mood != wire.MoodExpired {
		t.Fatalf("allocator got closed mood %q", f.Mood)
	}
	if _, err := dial(t, shortURL).Claim(ctx, np); !errors.Is(err, mailbox.ErrUnknownNameplate) {
		t.Fatalf("expired: %v", err)
	}

	// Used: claimed once, then the mailbox closed.
	a, b, np := pair(t, url)
	expect(t, b, wire.TypePaired, "")
	_ = b.Close(wire.MoodHappy)
	expect(t, a, wire.TypePaired, "")
	expect(t, a, wire.TypeClosed, "")
	if _, err := dial(t, url).Claim(ctx, np); !errors.Is(err, mailbox.ErrUnknownNameplate) {
		t.Fatalf("used: %v", err)
	}

	// Allocator gave up before anyone claimed.
	a = dial(t, url)
	np, _, err = a.Allocate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(wire.MoodLonely); err != nil {
		t.Fatal(err)
	}
	if _, err := dial(t, url).Claim(ctx, np); !errors.Is(err, mailbox.ErrUnknownNameplate) {
		t.Fatalf("abandoned: %v", err)
	}
}

func TestScaryCloseBurns(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	a, b, np := pair(t, url)
	expect(t, b, wire.TypePaired, "")
	if err := b.Add(testCtx(t), []byte("pake-b")); err != nil {
		t.Fatal(err)
	}
	// A wrong code: b gives up scared.
	if err := b.Close(wire.MoodScary); err != nil {
		t.Fatal(err)
	}
	expect(t, a, wire.TypePaired, "")
	expect(t, a, wire.TypeMessage, "pake-b")
	if f := expect(t, a, wire.TypeClosed, ""); f.Mood != wire.MoodScary {
		t.Fatalf("a got closed mood %q", f.Mood)
	}
	expectErr(t, a, mailbox.ErrClosed)
	// One guess per code: the nameplate cannot be claimed again.
	if _, err := dial(t, url).Claim(testCtx(t), np); !errors.Is(err, mailbox.ErrUnknownNameplate) {
		t.Fatalf("claim after scary close: %v", err)
	}
}

func TestMailboxExpiry(t *testing.T) {
	_, url := start(t, rendezvous.Config{MailboxTTL: 300 * time.Millisecond})
	a, b, _ := pair(t, url)
	for _, c := range []*mailbox.Conn{a, b} {
		expect(t, c, wire.TypePaired, "")
		if f := expect(t, c, wire.TypeClosed, ""); f.Mood != wire.MoodExpired {
			t.Fatalf("closed mood %q, want expired", f.Mood)
		}
		expectErr(t, c, mailbox.ErrClosed)
	}
}

func TestUnboundConnectionExpires(t *testing.T) {
	_, url := start(t, rendezvous.Config{NameplateTTL: 200 * time.Millisecond})
	c := dial(t, url)
	expectErr(t, c, mailbox.ErrExpired)
}

// rawDial opens a WebSocket to the mailbox without the client package, to
// send what a well-behaved client never would.
func rawDial(t testing.TB, url string, subprotocols ...string) *websocket.Conn {
	t.Helper()
	if subprotocols == nil {
		subprotocols = []string{wire.Subprotocol}
	}
	ws, _, err := websocket.Dial(testCtx(t), url+wire.MailboxPath, &websocket.DialOptions{Subprotocols: subprotocols})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	ws.SetReadLimit(wire.MaxFrame)
	if f := rawRead(t, ws); f.Type != wire.TypeWelcome && f.Type != wire.TypeError {
		t.Fatalf("first frame %s", f.Type)
	}
	return ws
}

func rawRead(t testing.TB, ws *websocket.Conn) wire.Frame {
	t.Helper()
	_, data, err := ws.Read(testCtx(t))
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	f, err := wire.ParseFrame(data)
	if err != nil {
		t.Fatalf("server sent an invalid frame %q: %v", data, err)
	}
	return f
}

func rawWrite(t testing.TB, ws *websocket.Conn, typ websocket.MessageType, data string) {
	t.Helper()
	if err := ws.Write(testCtx(t), typ, []byte(data)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// rawExpectError checks that the server answers with an error frame of
// kind and then closes the connection.
func rawExpectError(t testing.TB, ws *websocket.Conn, kind string) {
	t.Helper()
	f := rawRead(t, ws)
	if f.Type != wire.TypeError || f.Kind != kind {
		t.Fatalf("got %s %q (%s), want error %q", f.Type, f.Kind, f.Message, kind)
	}
	if _, _, err := ws.Read(testCtx(t)); websocket.CloseStatus(err) == -1 && !errors.Is(err, io.EOF) {
		t.Fatalf("connection not closed after error: %v", err)
	}
}

func TestBadRequests(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	cases := []struct {
		name  string
		typ   websocket.MessageType
		frame string
		kind  string
	}{
		{"garbage", websocket.MessageText, "{nope", wire.ErrKindBadRequest},
		{"not an object", websocket.MessageText, `[1,2]`, wire.ErrKindBadRequest},
		{"no type", websocket.MessageText, `{"nameplate":"4"}`, wire.ErrKindBadRequest},
		{"unknown type", websocket.MessageText, `{"type":"list"}`, wire.ErrKindBadRequest},
		{"server type", websocket.MessageText, `{"type":"welcome","version":1}`, wire.ErrKindBadRequest},
		{"binary", websocket.MessageBinary, `{"type":"allocate"}`, wire.ErrKindBadRequest},
		{"claim without nameplate", websocket.MessageText, `{"type":"claim"}`, wire.ErrKindBadRequest},
		{"claim leading zero", websocket.MessageText, `{"type":"claim","nameplate":"07"}`, wire.ErrKindBadRequest},
		{"add before allocate", websocket.MessageText, `{"type":"add","body":"aGk="}`, wire.ErrKindBadRequest},
		{"bad base64", websocket.MessageText, `{"type":"add","body":"!!"}`, wire.ErrKindBadRequest},
		{"bad mood", websocket.MessageText, `{"type":"close","mood":"sad"}`, wire.ErrKindBadRequest},
		{"body too large", websocket.MessageText, `{"type":"add","body":"` + strings.Repeat("QUFB", (wire.MaxBody/3)+1) + `"}`, wire.ErrKindTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws := rawDial(t, url)
			rawWrite(t, ws, tc.typ, tc.frame)
			rawExpectError(t, ws, tc.kind)
		})
	}

	t.Run("double allocate", func(t *testing.T) {
		ws := rawDial(t, url)
		rawWrite(t, ws, websocket.MessageText, `{"type":"allocate"}`)
		if f := rawRead(t, ws); f.Type != wire.TypeAllocated {
			t.Fatalf("got %s", f.Type)
		}
		rawWrite(t, ws, websocket.MessageText, `{"type":"allocate"}`)
		rawExpectError(t, ws, wire.ErrKindBadRequest)
	})

	t.Run("no subprotocol", func(t *testing.T) {
		ws, _, err := websocket.Dial(testCtx(t), url+wire.MailboxPath, &websocket.DialOptions{Subprotocols: []string{"other"}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		rawExpectError(t, ws, wire.ErrKindBadRequest)
	})

	t.Run("unknown fields ignored", func(t *testing.T) {
		ws := rawDial(t, url)
		rawWrite(t, ws, websocket.MessageText, `{"type":"allocate","future":[1,{"x":2}]}`)
		if f := rawRead(t, ws); f.Type != wire.TypeAllocated {
			t.Fatalf("got %s", f.Type)
		}
	})

	t.Run("client refuses oversize body", func(t *testing.T) {
		c := dial(t, url)
		if _, _, err := c.Allocate(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if err := c.Add(testCtx(t), make([]byte, wire.MaxBody+1)); !errors.Is(err, mailbox.ErrTooLarge) {
			t.Fatalf("Add of %d bytes: %v", wire.MaxBody+1, err)
		}
		if err := c.Add(testCtx(t), make([]byte, wire.MaxBody)); err != nil {
			t.Fatalf("Add of exactly MaxBody: %v", err)
		}
	})
}

func TestFrameTooLarge(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	ws := rawDial(t, url)
	rawWrite(t, ws, websocket.MessageText, `{"type":"allocate"}`)
	np := rawRead(t, ws).Nameplate
	c := dial(t, url)
	if _, err := c.Claim(testCtx(t), np); err != nil {
		t.Fatal(err)
	}
	expect(t, c, wire.TypePaired, "")
	// A frame over MaxFrame closes the connection (status 1009) and ends
	// the mailbox for the other side.
	big := `{"type":"add","body":"` + strings.Repeat("A", wire.MaxFrame) + `"}`
	_ = ws.Write(testCtx(t), websocket.MessageText, []byte(big))
	for {
		_, _, err := ws.Read(testCtx(t))
		if err != nil {
			if s := websocket.CloseStatus(err); s != websocket.StatusMessageTooBig {
				t.Fatalf("close status %v (%v), want 1009", s, err)
			}
			break
		}
	}
	if f := expect(t, c, wire.TypeClosed, ""); f.Mood != wire.MoodErrory {
		t.Fatalf("peer got closed mood %q", f.Mood)
	}
}

func TestNameplatePolicy(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	ctx := testCtx(t)
	inRange := func(np string, lo, hi int) bool {
		n, err := strconv.Atoi(np)
		return err == nil && n >= lo && n <= hi
	}
	// 1..9 is used while it is less than half full: four numbers, then a
	// fifth (4 < 4.5), then the next range.
	seen := map[string]*mailbox.Conn{}
	for i := range 5 {
		c := dial(t, url)
		np, _, err := c.Allocate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !inRange(np, 1, 9) || seen[np] != nil {
			t.Fatalf("allocation %d: nameplate %s (have %d)", i+1, np, len(seen))
		}
		seen[np] = c
	}
	c := dial(t, url)
	np, _, err := c.Allocate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !inRange(np, 10, 99) {
		t.Fatalf("sixth allocation: nameplate %s, want 10..99", np)
	}
	// Releasing one of the short ones brings the small range back.
	for _, c := range seen {
		_ = c.Close(wire.MoodLonely)
		break
	}
	_ = c.Close(wire.MoodLonely)
	c = dial(t, url)
	np, _, err = c.Allocate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !inRange(np, 1, 9) {
		t.Fatalf("allocation after a release: nameplate %s, want 1..9", np)
	}
}

func TestTooManyBodies(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	ctx := testCtx(t)
	a, b, _ := pair(t, url)
	expect(t, b, wire.TypePaired, "")
	expect(t, a, wire.TypePaired, "")
	for i := range wire.MaxBodiesPerSide {
		if err := a.Add(ctx, []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range wire.MaxBodiesPerSide {
		expect(t, b, wire.TypeMessage, strconv.Itoa(i))
	}
	if err := a.Add(ctx, []byte("one too many")); err != nil {
		t.Fatal(err)
	}
	expectErr(t, a, mailbox.ErrTooMany)
	if f := expect(t, b, wire.TypeClosed, ""); f.Mood != wire.MoodErrory {
		t.Fatalf("b got closed mood %q", f.Mood)
	}
}

func TestRateLimits(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	_, url := start(t, rendezvous.Config{AllocsPerMinute: 2, ClaimsPerMinute: 3, MaxConnsPerIP: 64, Now: clock})
	ctx := testCtx(t)

	for i := range 2 {
		if _, _, err := dial(t, url).Allocate(ctx); err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
	}
	if _, _, err := dial(t, url).Allocate(ctx); !errors.Is(err, mailbox.ErrRateLimited) {
		t.Fatalf("third allocation in a minute: %v", err)
	}
	advance(30 * time.Second) // refills one token
	if _, _, err := dial(t, url).Allocate(ctx); err != nil {
		t.Fatalf("allocation after 30 s: %v", err)
	}

	// Failed claims count too: guessing nameplates costs tokens.
	for i := range 3 {
		if _, err := dial(t, url).Claim(ctx, strconv.Itoa(900+i)); !errors.Is(err, mailbox.ErrUnknownNameplate) {
			t.Fatalf("claim %d: %v", i+1, err)
		}
	}
	if _, err := dial(t, url).Claim(ctx, "1"); !errors.Is(err, mailbox.ErrRateLimited) {
		t.Fatalf("fourth claim in a minute: %v", err)
	}
}

func TestConnectionLimit(t *testing.T) {
	_, url := start(t, rendezvous.Config{MaxConnsPerIP: 2})
	ctx := testCtx(t)
	a := dial(t, url)
	dial(t, url)
	if _, err := mailbox.Dial(ctx, url, nil); !errors.Is(err, mailbox.ErrRateLimited) {
		t.Fatalf("third connection: %v", err)
	}
	// After one leaves there is room again. The server counts the
	// connection until its handler has returned, shortly after the client
	// sees the close, so retry briefly.
	_ = a.Close(wire.MoodHappy)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := mailbox.Dial(ctx, url, nil)
		if err == nil {
			_ = c.Close(wire.MoodHappy)
			break
		}
		if !errors.Is(err, mailbox.ErrRateLimited) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("connection slot never freed")
		case <-tick.C:
		}
	}
}

func TestProxyHeaders(t *testing.T) {
	for _, trust := range []bool{false, true} {
		_, url := start(t, rendezvous.Config{MaxConnsPerIP: 1, TrustProxyHeaders: trust})
		ctx := testCtx(t)
		hdr := func(ip string) *mailbox.DialOptions {
			return &mailbox.DialOptions{Header: http.Header{"X-Forwarded-For": {"6.6.6.6, " + ip}}}
		}
		c, err := mailbox.Dial(ctx, url, hdr("192.0.2.1"))
		if err != nil {
			t.Fatal(err)
		}
		c2, err := mailbox.Dial(ctx, url, hdr("192.0.2.2"))
		if trust && err != nil {
			t.Fatalf("trusted proxy: second client address refused: %v", err)
		}
		if !trust && !errors.Is(err, mailbox.ErrRateLimited) {
			t.Fatalf("untrusted header changed the client address: %v", err)
		}
		if c2 != nil {
			_ = c2.Close("")
		}
		_ = c.Close("")
	}
}

// TestDeadClientDropped: a client that stops reading answers no pings and
// is dropped; its peer hears "closed", and nobody else waits for it.
func TestDeadClientDropped(t *testing.T) {
	_, url := start(t, rendezvous.Config{PingInterval: 250 * time.Millisecond})
	ctx := testCtx(t)
	a := dial(t, url)
	np, _, err := a.Allocate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ws := rawDial(t, url)
	rawWrite(t, ws, websocket.MessageText, `{"type":"claim","nameplate":"`+np+`"}`)
	// Paired first: before that a mailbox queues no more than its reserve.
	expect(t, a, wire.TypePaired, "")
	// ws never reads again. a's adds must not block on it; once the
	// server has dropped ws the mailbox is gone and an add may fail.
	for i := range 8 {
		if err := a.Add(ctx, make([]byte, wire.MaxBody)); err != nil {
			if !errors.Is(err, mailbox.ErrClosed) {
				t.Fatalf("add %d: %v", i, err)
			}
			break
		}
	}
	// Another pair is served meanwhile.
	x, y, _ := pair(t, url)
	expect(t, x, wire.TypePaired, "")
	expect(t, y, wire.TypePaired, "")

	if f := expect(t, a, wire.TypeClosed, ""); f.Mood != wire.MoodErrory {
		t.Fatalf("a got closed mood %q", f.Mood)
	}
}

func TestConcurrentMailboxes(t *testing.T) {
	_, url := start(t, rendezvous.Config{MaxConnsPerIP: 1000, AllocsPerMinute: 1000, ClaimsPerMinute: 1000})
	const pairs = 40
	const msgs = 10
	var wg sync.WaitGroup
	errs := make(chan error, pairs)
	nameplates := make(chan string, pairs)
	for range pairs {
		wg.Go(func() {
			if err := exchange(testCtx(t), url, msgs, nameplates); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	close(nameplates)
	seen := map[string]bool{}
	for np := range nameplates {
		if seen[np] {
			// Allowed only if reused after release; pairs overlap, so
			// check the range instead.
			continue
		}
		seen[np] = true
	}
	if len(seen) < 2 {
		t.Fatalf("%d distinct nameplates for %d pairs", len(seen), pairs)
	}
}

// exchange runs one full pairing: allocate, claim, msgs bodies each way
// with a and b adding concurrently, happy close.
func exchange(ctx context.Context, url string, msgs int, nameplates chan<- string) error {
	a, err := mailbox.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer a.Close("")
	b, err := mailbox.Dial(ctx, url, nil)
	if err != nil {
		return err
	}
	defer b.Close("")
	np, _, err := a.Allocate(ctx)
	if err != nil {
		return err
	}
	nameplates <- np
	if _, err := b.Claim(ctx, np); err != nil {
		return fmt.Errorf("claim %s: %w", np, err)
	}
	run := func(me, other *mailbox.Conn, tag string) error {
		errc := make(chan error, 1)
		go func() {
			for i := range msgs {
				if err := me.Add(ctx, []byte(tag+strconv.Itoa(i))); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		if f, err := me.Next(ctx); err != nil || f.Type != wire.TypePaired {
			return fmt.Errorf("%s: paired: %v %v", tag, f.Type, err)
		}
		want := "a"
		if tag == "a" {
			want = "b"
		}
		for i := range msgs {
			f, err := me.Next(ctx)
			if err != nil {
				return fmt.Errorf("%s: message %d: %w", tag, i, err)
			}
			if string(f.Body) != want+strconv.Itoa(i) {
				return fmt.Errorf("%s: message %d is %q", tag, i, f.Body)
			}
		}
		return <-errc
	}
	errc := make(chan error, 1)
	go func() { errc <- run(b, a, "b") }()
	if err := run(a, b, "a"); err != nil {
		return err
	}
	return <-errc
}

func TestHTTPRoutes(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/healthz", 200, "ok"},
		{"/", 404, ""},
		{"/j/47", 404, ""},
		{"/v1/mailboxes", 404, ""},
		{wire.MailboxPath, http.StatusUpgradeRequired, ""}, // not a WebSocket upgrade
	} {
		resp, err := http.Get(url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || (tc.body != "" && string(body) != tc.body) {
			t.Errorf("GET %s = %d %q, want %d %q", tc.path, resp.StatusCode, body, tc.code, tc.body)
		}
	}
}

// TestHTTPServerTimeoutsSpareWebSockets runs the production http.Server
// with its read and write timeouts cut short and checks that a mailbox
// connection outlives them.
func TestHTTPServerTimeoutsSpareWebSockets(t *testing.T) {
	s := rendezvous.New(rendezvous.Config{Logger: quiet})
	defer s.Close()
	hs := rendezvous.NewHTTPServer("127.0.0.1:0", s.Handler())
	if hs.ReadHeaderTimeout == 0 || hs.ReadTimeout == 0 || hs.WriteTimeout == 0 || hs.IdleTimeout == 0 || hs.MaxHeaderBytes == 0 {
		t.Fatalf("NewHTTPServer left a limit unset: %+v", hs)
	}
	hs.ReadTimeout, hs.WriteTimeout = 150*time.Millisecond, 150*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	defer func() {
		_ = hs.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()
	url := "http://" + ln.Addr().String()
	ctx := testCtx(t)
	a := dial(t, url)
	np, _, err := a.Allocate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Wait out both timeouts several times over with nothing to read.
	wctx, cancel := context.WithTimeout(ctx, 600*time.Millisecond)
	defer cancel()
	if f, err := a.Next(wctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("idle Next = %s, %v", f.Type, err)
	}
	b := dial(t, url)
	if _, err := b.Claim(ctx, np); err != nil {
		t.Fatal(err)
	}
	expect(t, a, wire.TypePaired, "")
	if err := b.Add(ctx, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	expect(t, a, wire.TypeMessage, "still here")
	_ = a.Close("")
	_ = b.Close("")
}

func TestCloseWithOpenConnections(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	s := rendezvous.New(rendezvous.Config{Logger: quiet})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx := testCtx(t)
	var conns []*mailbox.Conn
	for range 3 {
		a, err := mailbox.Dial(ctx, ts.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := mailbox.Dial(ctx, ts.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		np, _, err := a.Allocate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Claim(ctx, np); err != nil {
			t.Fatal(err)
		}
		idle, err := mailbox.Dial(ctx, ts.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, a, b, idle)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-ctx.Done():
		t.Fatal("Close hung with open connections")
	}
	_ = s.Close() // idempotent
	for _, c := range conns {
		for {
			if _, err := c.Next(ctx); err != nil {
				if !errors.Is(err, mailbox.ErrClosed) {
					t.Fatalf("after server Close: %v", err)
				}
				break
			}
		}
		_ = c.Close("")
	}
	// New connections are refused.
	if _, err := mailbox.Dial(ctx, ts.URL, nil); err == nil {
		t.Fatal("dial after Close succeeded")
	}
	ts.Close()
	goleak.VerifyNone(t, ignore)
}

func BenchmarkPairAndMessage(b *testing.B) {
	_, url := start(b, rendezvous.Config{MaxConnsPerIP: 1 << 20, AllocsPerMinute: 1 << 30, ClaimsPerMinute: 1 << 30})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		x, err := mailbox.Dial(ctx, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		y, err := mailbox.Dial(ctx, url, nil)
		if err != nil {
			b.Fatal(err)
		}
		np, _, err := x.Allocate(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := x.Add(ctx, []byte("pake-a")); err != nil {
			b.Fatal(err)
		}
		if _, err := y.Claim(ctx, np); err != nil {
			b.Fatal(err)
		}
		if f, err := y.Next(ctx); err != nil || f.Type != wire.TypePaired {
			b.Fatal(f.Type, err)
		}
		if f, err := y.Next(ctx); err != nil || string(f.Body) != "pake-a" {
			b.Fatal(f.Type, err)
		}
		_ = x.Close(wire.MoodHappy)
		_ = y.Close(wire.MoodHappy)
	}
}

// TestLogsKeepSecrets runs a pairing with debug logging and checks that no
// log record carries a body or the nameplate itself.
func TestLogsKeepSecrets(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	h := slog.NewJSONHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug})
	_, url := start(t, rendezvous.Config{Logger: slog.New(h)})
	a, b, np := pair(t, url)
	ctx := testCtx(t)
	const secret = "pake-body-c2VjcmV0"
	if err := a.Add(ctx, []byte(secret)); err != nil {
		t.Fatal(err)
	}
	expect(t, b, wire.TypePaired, "")
	expect(t, b, wire.TypeMessage, secret)
	_ = b.Close(wire.MoodScary)
	expect(t, a, wire.TypePaired, "")
	expect(t, a, wire.TypeClosed, "")
	// A bad frame echoing the nameplate must not be echoed into the log.
	ws := rawDial(t, url)
	rawWrite(t, ws, websocket.MessageText, `{"type":"claim","nameplate":"0`+np+`"}`)
	rawExpectError(t, ws, wire.ErrKindBadRequest)

	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "mailbox paired") {
		t.Fatalf("expected pairing logs, got %s", out)
	}
	if strings.Contains(out, secret) || strings.Contains(out, "c2VjcmV0") {
		t.Errorf("a body reached the log: %s", out)
	}
	if strings.Contains(out, `"`+np+`"`) || strings.Contains(out, `"0`+np+`"`) || strings.Contains(out, "="+np) {
		t.Errorf("nameplate %s reached the log: %s", np, out)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestMinNameplateDigits(t *testing.T) {
	srv := rendezvous.New(rendezvous.Config{MinNameplateDigits: 3})
	defer srv.Close()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 5 {
		c, err := mailbox.Dial(ctx, hs.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		np, _, err := c.Allocate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(np) != 3 {
			t.Errorf("nameplate %q: want 3 digits", np)
		}
		c.Close(wire.MoodLonely)
	}
}
