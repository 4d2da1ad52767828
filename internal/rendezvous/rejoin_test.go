package rendezvous_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/wire"
)

// channel returns a valid rejoin channel for test number i.
func channel(i int) string { return fmt.Sprintf("%032x", 0xc0ffee00+i) }

// listen makes a new connection listen on channels and waits for the
// acknowledgement.
func listen(t testing.TB, url string, channels ...string) *mailbox.Conn {
	t.Helper()
	l := dial(t, url)
	relisten(t, l, channels...)
	return l
}

func relisten(t testing.TB, l *mailbox.Conn, channels ...string) {
	t.Helper()
	if err := l.Listen(testCtx(t), channels); err != nil {
		t.Fatalf("listen: %v", err)
	}
	expect(t, l, wire.TypeListening, "")
}

type dialResult struct {
	mailbox []byte
	err     error
}

// dialAsync dials channel on a new connection; the result arrives on the
// returned channel once the call is answered or refused.
func dialAsync(t testing.TB, url, ch string) (*mailbox.Conn, <-chan dialResult) {
	t.Helper()
	d := dial(t, url)
	res := make(chan dialResult, 1)
	ctx := testCtx(t)
	go func() {
		mb, err := d.DialChannel(ctx, ch)
		res <- dialResult{mb, err}
	}()
	return d, res
}

func waitDial(t testing.TB, res <-chan dialResult) dialResult {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-testCtx(t).Done():
		t.Fatal("dial did not return")
		return dialResult{}
	}
}

// expectRing reads the listener's next frame, a ring on ch.
func expectRing(t testing.TB, l *mailbox.Conn, ch string) []byte {
	t.Helper()
	f := expect(t, l, wire.TypeRing, "")
	if f.Channel != ch || len(f.Ring) != wire.RingIDSize {
		t.Fatalf("ring on %q with id %x, want channel %q", f.Channel, f.Ring, ch)
	}
	return f.Ring
}

func expectHangup(t testing.TB, l *mailbox.Conn, ring []byte) {
	t.Helper()
	if f := expect(t, l, wire.TypeHangup, ""); !bytes.Equal(f.Ring, ring) {
		t.Fatalf("hangup of ring %x, want %x", f.Ring, ring)
	}
}

func TestRejoinExchange(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	ctx := testCtx(t)
	l := listen(t, url, channel(1), channel(2))
	d, res := dialAsync(t, url, channel(2))
	ring := expectRing(t, l, channel(2))

	a := dial(t, url)
	idA, err := a.Answer(ctx, ring)
	if err != nil {
		t.Fatalf("answer: %v", err)
	}
	// The host speaks first (pake-a) before the dialer has even read its
	// reply: the body waits for it.
	if err := a.Add(ctx, []byte("from a")); err != nil {
		t.Fatal(err)
	}
	r := waitDial(t, res)
	if r.err != nil {
		t.Fatalf("dial: %v", r.err)
	}
	if !bytes.Equal(r.mailbox, idA) || len(idA) != wire.MailboxIDSize {
		t.Fatalf("mailbox ids differ: %x / %x", idA, r.mailbox)
	}
	expectHangup(t, l, ring)
	expect(t, a, wire.TypePaired, "")
	expect(t, d, wire.TypePaired, "")
	expect(t, d, wire.TypeMessage, "from a")
	if err := d.Add(ctx, []byte("from b")); err != nil {
		t.Fatal(err)
	}
	expect(t, a, wire.TypeMessage, "from b")

	// The channel can ring again while the first call's mailbox is open.
	d2, res2 := dialAsync(t, url, channel(2))
	ring2 := expectRing(t, l, channel(2))
	if bytes.Equal(ring2, ring) {
		t.Fatal("ring ids repeat")
	}
	_ = d2.Close(wire.MoodLonely)
	if r := waitDial(t, res2); r.err == nil {
		t.Fatal("dial of a closed connection succeeded")
	}
	expectHangup(t, l, ring2)

	if err := a.Close(wire.MoodHappy); err != nil {
		t.Fatal(err)
	}
	if f := expect(t, d, wire.TypeClosed, ""); f.Mood != wire.MoodHappy {
		t.Fatalf("closed mood %q", f.Mood)
	}
	expectErr(t, d, mailbox.ErrClosed)
	// The call is over for good.
	if _, err := dial(t, url).Answer(ctx, ring); !errors.Is(err, mailbox.ErrUnavailable) {
		t.Fatalf("answer after the mailbox closed: %v", err)
	}
}

func TestDialUnavailable(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	ctx := testCtx(t)
	if _, err := dial(t, url).DialChannel(ctx, channel(1)); !errors.Is(err, mailbox.ErrUnavailable) {
		t.Fatalf("dial of a channel nobody listens on: %v", err)
	}
	// A listener that replaces its set, or leaves, takes its channels along.
	l := listen(t, url, channel(1), channel(2))
	relisten(t, l, channel(2))
	if _, err := dial(t, url).DialChannel(ctx, channel(1)); !errors.Is(err, mailbox.ErrUnavailable) {
		t.Fatalf("dial of a channel dropped from the set: %v", err)
	}
	_ = l.Close(wire.MoodHappy)
	if _, err := dial(t, url).DialChannel(ctx, channel(2)); !errors.Is(err, mailbox.ErrUnavailable) {
		t.Fatalf("dial after the listener left: %v", err)
	}
	// An unknown ring: the same kind.
	if _, err := dial(t, url).Answer(ctx, make([]byte, wire.RingIDSize)); !errors.Is(err, mailbox.ErrUnavailable) {
		t.Fatalf("answer of an unknown ring: %v", err)
	}
}

func TestRingExpires(t *testing.T) {
	_, url := start(t, rendezvous.Config{RingTTL: 200 * time.Millisecond})
	l := listen(t, url, channel(1))
	_, res := dialAsync(t, url, channel(1))
	ring := expectRing(t, l, channel(1))
	if r := waitDial(t, res); !errors.Is(r.err, mailbox.ErrUnavailable) {
		t.Fatalf("unanswered dial: %v", r.err)
	}
	expectHangup(t, l, ring)
	if _, err := dial(t, url).Answer(testCtx(t), ring); !errors.Is(err, mailbox.ErrUnavailable) {
		t.Fatalf("answer of an expired ring: %v", err)
	}
	// The listener still listens.
	_, res = dialAsync(t, url, channel(1))
	expectRing(t, l, channel(1))
	if r := waitDial(t, res); !errors.Is(r.err, mailbox.ErrUnavailable) {
		t.Fatalf("second unanswered dial: %v", r.err)
	}
}

func TestRejoinCrowded(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	ctx := testCtx(t)
	l := listen(t, url, channel(1))
	_, res := dialAsync(t, url, channel(1))
	ring := expectRing(t, l, channel(1))

	// A second dial while the first rings is refused; the first rings on.
	if _, err := dial(t, url).DialChannel(ctx, channel(1)); !errors.Is(err, mailbox.ErrCrowded) {
		t.Fatalf("second dial while ringing: %v", err)
	}
	a := dial(t, url)
	if _, err := a.Answer(ctx, ring); err != nil {
		t.Fatalf("answer: %v", err)
	}
	if r := waitDial(t, res); r.err != nil {
		t.Fatalf("dial: %v", r.err)
	}
	// A second answer of the same ring is refused.
	if _, err := dial(t, url).Answer(ctx, ring); !errors.Is(err, mailbox.ErrCrowded) {
		t.Fatalf("second answer: %v", err)
	}
	expect(t, a, wire.TypePaired, "")
}

func TestRingEndsWithEitherSide(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	l := listen(t, url, channel(1), channel(2))

	// The dialer gives up: the listener hears of it.
	d, res := dialAsync(t, url, channel(1))
	ring := expectRing(t, l, channel(1))
	_ = d.Close(wire.MoodLonely)
	waitDial(t, res)
	expectHangup(t, l, ring)

	// The listener drops the channel, or leaves: the dialer is told.
	_, res = dialAsync(t, url, channel(1))
	ring = expectRing(t, l, channel(1))
	if err := l.Listen(testCtx(t), []string{channel(2)}); err != nil {
		t.Fatal(err)
	}
	expectHangup(t, l, ring)
	expect(t, l, wire.TypeListening, "")
	if r := waitDial(t, res); !errors.Is(r.err, mailbox.ErrUnavailable) {
		t.Fatalf("dial whose channel was dropped: %v", r.err)
	}
	_, res = dialAsync(t, url, channel(2))
	expectRing(t, l, channel(2))
	_ = l.Close(wire.MoodHappy)
	if r := waitDial(t, res); !errors.Is(r.err, mailbox.ErrUnavailable) {
		t.Fatalf("dial whose listener left: %v", r.err)
	}
}

// A later listener takes a channel over: a host whose old connection the
// server has not noticed dead yet is reachable at once.
func TestListenTakeover(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	old := listen(t, url, channel(1), channel(2))
	nu := listen(t, url, channel(1))
	_, res := dialAsync(t, url, channel(1))
	expectRing(t, nu, channel(1))
	// Frames arrive in order: had the old listener been rung, the ring
	// would come before the reply to its next listen.
	relisten(t, old, channel(2))
	_ = nu.Close(wire.MoodHappy)
	if r := waitDial(t, res); !errors.Is(r.err, mailbox.ErrUnavailable) {
		t.Fatalf("dial: %v", r.err)
	}
	// The channel did not fall back to the old listener.
	if _, err := dial(t, url).DialChannel(testCtx(t), channel(1)); !errors.Is(err, mailbox.ErrUnavailable) {
		t.Fatalf("dial after the new listener left: %v", err)
	}
}

func TestListenerOutlivesNameplateTTL(t *testing.T) {
	_, url := start(t, rendezvous.Config{NameplateTTL: 200 * time.Millisecond})
	l := listen(t, url, channel(1))
	// A connection opened after the listener, doing nothing, expires.
	expectErr(t, dial(t, url), mailbox.ErrExpired)
	_, res := dialAsync(t, url, channel(1))
	expectRing(t, l, channel(1))
	_ = l.Close(wire.MoodHappy)
	waitDial(t, res)
}

func TestMaxRingsPerListener(t *testing.T) {
	_, url := start(t, rendezvous.Config{MaxConnsPerIP: 64, ClaimsPerMinute: 64})
	const limit = 16 // maxRingsPerListener
	var chans []string
	for i := range limit + 1 {
		chans = append(chans, channel(i))
	}
	l := listen(t, url, chans...)
	var results []<-chan dialResult
	for i := range limit {
		_, res := dialAsync(t, url, chans[i])
		results = append(results, res)
		expect(t, l, wire.TypeRing, "")
	}
	if _, err := dial(t, url).DialChannel(testCtx(t), chans[limit]); !errors.Is(err, mailbox.ErrUnavailable) {
		t.Fatalf("dial beyond the open-ring limit: %v", err)
	}
	_ = l.Close(wire.MoodHappy)
	for _, res := range results {
		if r := waitDial(t, res); !errors.Is(r.err, mailbox.ErrUnavailable) {
			t.Fatalf("dial whose listener left: %v", r.err)
		}
	}
}

func TestRejoinRateLimits(t *testing.T) {
	_, url := start(t, rendezvous.Config{AllocsPerMinute: 2, ClaimsPerMinute: 2, Now: func() time.Time { return time.Unix(1_800_000_000, 0) }})
	ctx := testCtx(t)
	// Dials take claim tokens, failed ones too.
	for i := range 2 {
		if _, err := dial(t, url).DialChannel(ctx, channel(i)); !errors.Is(err, mailbox.ErrUnavailable) {
			t.Fatalf("dial %d: %v", i+1, err)
		}
	}
	if _, err := dial(t, url).DialChannel(ctx, channel(9)); !errors.Is(err, mailbox.ErrRateLimited) {
		t.Fatalf("third dial in a minute: %v", err)
	}
	// Listen takes allocate tokens.
	l := listen(t, url, channel(1))
	relisten(t, l, channel(2))
	if err := l.Listen(ctx, []string{channel(3)}); err != nil {
		t.Fatal(err)
	}
	expectErr(t, l, mailbox.ErrRateLimited)
}

func TestRejoinBadRequests(t *testing.T) {
	_, url := start(t, rendezvous.Config{})
	ch := channel(1)
	ring := base64.StdEncoding.EncodeToString(make([]byte, wire.RingIDSize))
	var many strings.Builder
	many.WriteString(`{"type":"listen","channels":[`)
	for i := range wire.MaxListenChannels + 1 {
		if i > 0 {
			many.WriteByte(',')
		}
		fmt.Fprintf(&many, "%q", channel(i))
	}
	many.WriteString("]}")
	for _, c := range []struct {
		name   string
		frames []string
		kind   string
	}{
		{"listen after allocate", []string{`{"type":"allocate"}`, `{"type":"listen","channels":[]}`}, wire.ErrKindBadRequest},
		{"allocate after listen", []string{`{"type":"listen","channels":["` + ch + `"]}`, `{"type":"allocate"}`}, wire.ErrKindBadRequest},
		{"claim after listen", []string{`{"type":"listen"}`, `{"type":"claim","nameplate":"1"}`}, wire.ErrKindBadRequest},
		{"dial after listen", []string{`{"type":"listen"}`, `{"type":"dial","channel":"` + ch + `"}`}, wire.ErrKindBadRequest},
		{"answer after listen", []string{`{"type":"listen"}`, `{"type":"answer","ring":"` + ring + `"}`}, wire.ErrKindBadRequest},
		{"add on a listener", []string{`{"type":"listen"}`, `{"type":"add","body":"aGk="}`}, wire.ErrKindBadRequest},
		{"dial nobody listens on", []string{`{"type":"dial","channel":"` + ch + `"}`}, wire.ErrKindUnavailable},
		{"upper-case channel", []string{`{"type":"listen","channels":["` + strings.ToUpper(ch) + `"]}`}, wire.ErrKindBadRequest},
		{"64-digit channel", []string{`{"type":"dial","channel":"` + ch + ch + `"}`}, wire.ErrKindBadRequest},
		{"short ring", []string{`{"type":"answer","ring":"AAAA"}`}, wire.ErrKindBadRequest},
		{"too many channels", []string{many.String()}, wire.ErrKindTooLarge},
		{"server frame", []string{`{"type":"ring","channel":"` + ch + `","ring":"` + ring + `"}`}, wire.ErrKindBadRequest},
	} {
		t.Run(c.name, func(t *testing.T) {
			ws := rawDial(t, url)
			for i, f := range c.frames {
				rawWrite(t, ws, websocket.MessageText, f)
				if i < len(c.frames)-1 {
					if strings.Contains(f, `"listen"`) {
						if got := rawRead(t, ws); got.Type != wire.TypeListening {
							t.Fatalf("reply to listen: %s", got.Type)
						}
					} else if strings.Contains(f, `"allocate"`) {
						rawRead(t, ws)
					}
				}
			}
			rawExpectError(t, ws, c.kind)
		})
	}
}

// A dialer that keeps dialling on one connection is refused.
func TestDialTwiceOnOneConnection(t *testing.T) {
	_, url := start(t, rendezvous.Config{RingTTL: time.Minute})
	l := listen(t, url, channel(1))
	ws := rawDial(t, url)
	rawWrite(t, ws, websocket.MessageText, `{"type":"dial","channel":"`+channel(1)+`"}`)
	ring := expectRing(t, l, channel(1))
	rawWrite(t, ws, websocket.MessageText, `{"type":"dial","channel":"`+channel(1)+`"}`)
	rawExpectError(t, ws, wire.ErrKindBadRequest)
	expectHangup(t, l, ring)
}

// Server.Close with a listener, a ringing dialer and an answered call ends
// every connection; goleak checks nothing is left.
func TestCloseWhileRinging(t *testing.T) {
	s, url := start(t, rendezvous.Config{})
	ctx := testCtx(t)
	l := listen(t, url, channel(1), channel(2))
	_, res1 := dialAsync(t, url, channel(1))
	ring := expectRing(t, l, channel(1))
	a := dial(t, url)
	if _, err := a.Answer(ctx, ring); err != nil {
		t.Fatal(err)
	}
	waitDial(t, res1)
	_, res2 := dialAsync(t, url, channel(2))
	expectHangup(t, l, ring)
	expectRing(t, l, channel(2))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if r := waitDial(t, res2); r.err == nil {
		t.Fatal("ringing dial survived Close")
	}
	for _, c := range []*mailbox.Conn{l, a} {
		for {
			if _, err := c.Next(ctx); err != nil {
				break
			}
		}
	}
}

// Logs carry neither channels nor ring or mailbox ids.
func TestRejoinLogsKeepSecrets(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	h := slog.NewJSONHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug})
	_, url := start(t, rendezvous.Config{Logger: slog.New(h), RingTTL: 100 * time.Millisecond})
	ctx := testCtx(t)
	ch := channel(7)
	l := listen(t, url, ch)
	_, res := dialAsync(t, url, ch)
	ring := expectRing(t, l, ch)
	a := dial(t, url)
	mb, err := a.Answer(ctx, ring)
	if err != nil {
		t.Fatal(err)
	}
	waitDial(t, res)
	_ = a.Close(wire.MoodHappy)
	_, res = dialAsync(t, url, ch)
	expectHangup(t, l, ring)
	ring2 := expectRing(t, l, ch)
	waitDial(t, res) // expires
	ws := rawDial(t, url)
	rawWrite(t, ws, websocket.MessageText, `{"type":"dial","channel":"`+strings.ToUpper(ch)+`"}`)
	rawExpectError(t, ws, wire.ErrKindBadRequest)

	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "ring answered") || !strings.Contains(out, "ring expired") {
		t.Fatalf("expected rejoin logs, got %s", out)
	}
	for _, secret := range []string{ch, strings.ToUpper(ch), hex.EncodeToString(ring), base64.StdEncoding.EncodeToString(ring),
		base64.StdEncoding.EncodeToString(ring2), hex.EncodeToString(mb), base64.StdEncoding.EncodeToString(mb)} {
		if strings.Contains(out, secret) {
			t.Errorf("%s reached the log: %s", secret, out)
		}
	}
}
