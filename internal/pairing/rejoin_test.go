package pairing

// Internal tests (package pairing) so that a test can play a peer that
// claims a key it does not hold (dial without setting the hello's id). The
// goroutine-leak check of pairing_test.go's TestMain covers them.

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/cpace"
	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/mitm"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/wire"
)

var quiet = slog.New(slog.DiscardHandler)

// rvServer runs a real rendezvous server on loopback behind a handler that
// a test can swap, to play a server restart.
type rvServer struct {
	URL string
	cfg rendezvous.Config
	cur atomic.Pointer[rendezvous.Server]
}

func newRV(t *testing.T, cfg rendezvous.Config) *rvServer {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	cfg.ICEServers = func(*http.Request, time.Time) []wire.ICEServer {
		return []wire.ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}}
	}
	rv := &rvServer{cfg: cfg}
	rv.cur.Store(rendezvous.New(cfg))
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rv.cur.Load().Handler().ServeHTTP(w, r)
	}))
	rv.URL = hs.URL
	t.Cleanup(func() {
		rv.cur.Load().Close()
		hs.Close()
	})
	return rv
}

// restart replaces the server by a fresh one and closes the old one, which
// drops every WebSocket.
func (rv *rvServer) restart() {
	old := rv.cur.Swap(rendezvous.New(rv.cfg))
	old.Close()
}

func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

type identity struct {
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
}

func newIdentity(t *testing.T) identity {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	return identity{pub, priv}
}

func opts(server, name string) Options {
	return Options{Server: server, Hello: wire.Signal{Name: name, App: wire.AppConsult, Path: wire.PathAuto}, Logger: quiet}
}

func mustChannel(t *testing.T, token []byte) string {
	t.Helper()
	ch, err := Channel(token)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func mustListen(t *testing.T, server string, channels ...string) *Listener {
	t.Helper()
	l, err := Listen(testCtx(t, 10*time.Second), opts(server, "host"), channels)
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func nextRing(t *testing.T, l *Listener) Ring {
	t.Helper()
	select {
	case r, ok := <-l.Rings():
		if !ok {
			t.Fatal("Rings closed")
		}
		return r
	case <-testCtx(t, 10*time.Second).Done():
		t.Fatal("no ring")
		return Ring{}
	}
}

func waitDone(t *testing.T, r Ring) {
	t.Helper()
	select {
	case <-r.Done():
	case <-testCtx(t, 10*time.Second).Done():
		t.Fatal("ring not over")
	}
}

type pairResult struct {
	pair *Pair
	err  error
}

// dialAsync runs the client's side in the background.
func dialAsync(ctx context.Context, f func(context.Context) (*Pair, error)) <-chan pairResult {
	res := make(chan pairResult, 1)
	go func() {
		p, err := f(ctx)
		res <- pairResult{p, err}
	}()
	return res
}

func closePair(p *Pair) {
	if p != nil {
		p.Close(wire.MoodHappy)
	}
}

// A known client reconnects: the host listens, the client dials, the host
// answers; both hold verified keys, the same phrase and a working sealed
// channel.
func TestRejoin(t *testing.T) {
	var mu sync.Mutex
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rv := newRV(t, rendezvous.Config{})
	ctx := testCtx(t, 20*time.Second)
	host, client := newIdentity(t), newIdentity(t)
	token := NewToken()
	other := NewToken()
	ch := mustChannel(t, token)

	hostOpts := opts(rv.URL, "Maklerbüro")
	hostOpts.Logger = logger
	l, err := Listen(ctx, hostOpts, []string{mustChannel(t, other), ch})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	clientOpts := opts(rv.URL, "Client")
	clientOpts.Logger = logger
	res := dialAsync(ctx, func(ctx context.Context) (*Pair, error) {
		return Dial(ctx, clientOpts, Rejoin{Token: token, Self: client.priv, Peer: host.pub})
	})
	ring := nextRing(t, l)
	if ring.Channel != ch {
		t.Fatalf("ring on %s, want the client's channel %s", ring.Channel, ch)
	}
	hp, err := Answer(ctx, hostOpts, ring, Rejoin{Token: token, Self: host.priv, Peer: client.pub})
	if err != nil {
		t.Fatalf("Answer: %v", err)
	}
	defer closePair(hp)
	r := <-res
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	cp := r.pair
	defer closePair(cp)
	waitDone(t, ring)

	if hp.Role != wire.RoleA || cp.Role != wire.RoleB {
		t.Fatal("roles: the host must be a, the client b")
	}
	if hp.Phrase == "" || hp.Phrase != cp.Phrase || len(strings.Fields(hp.Phrase)) != 3 {
		t.Fatalf("phrases %q / %q", hp.Phrase, cp.Phrase)
	}
	if !ed25519.PublicKey(hp.Peer.ID).Equal(client.pub) || !ed25519.PublicKey(cp.Peer.ID).Equal(host.pub) {
		t.Fatal("peer keys are not the stored ones")
	}
	if hp.Peer.Name != "Client" || cp.Peer.Name != "Maklerbüro" {
		t.Fatalf("names: host saw %q, client saw %q", hp.Peer.Name, cp.Peer.Name)
	}
	if len(hp.ICEServers) == 0 || len(cp.ICEServers) == 0 {
		t.Fatal("no ICE servers")
	}
	if err := hp.Send(ctx, wire.Signal{T: wire.SignalOffer, SDP: "v=0 offer"}); err != nil {
		t.Fatal(err)
	}
	if s, err := cp.Recv(ctx); err != nil || s.SDP != "v=0 offer" {
		t.Fatalf("offer: %+v, %v", s, err)
	}
	if err := cp.Send(ctx, wire.Signal{T: wire.SignalAnswer, SDP: "v=0 answer"}); err != nil {
		t.Fatal(err)
	}
	if s, err := hp.Recv(ctx); err != nil || s.SDP != "v=0 answer" {
		t.Fatalf("answer: %+v, %v", s, err)
	}

	// The same ring cannot be answered twice.
	if _, err := Answer(ctx, hostOpts, ring, Rejoin{Token: token, Self: host.priv, Peer: client.pub}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("second answer: %v", err)
	}

	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "known") {
		t.Fatalf("expected debug logs, got %q", out)
	}
	for _, secret := range []string{hex.EncodeToString(token), base64.StdEncoding.EncodeToString(token), ch} {
		if strings.Contains(out, secret) {
			t.Errorf("log carries a token or channel: %s", out)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *strings.Builder
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// rejoinPair runs a dial against an answer with the given identities and
// returns both results.
func rejoinPair(t *testing.T, dialer func(ctx context.Context, server string, token []byte) (*Pair, error), answer Rejoin) (host, client pairResult) {
	t.Helper()
	rv := newRV(t, rendezvous.Config{})
	ctx := testCtx(t, 20*time.Second)
	token := answer.Token
	l := mustListen(t, rv.URL, mustChannel(t, token))
	res := dialAsync(ctx, func(ctx context.Context) (*Pair, error) { return dialer(ctx, rv.URL, token) })
	ring := nextRing(t, l)
	host.pair, host.err = Answer(ctx, opts(rv.URL, "host"), ring, answer)
	client = <-res
	t.Cleanup(func() { closePair(host.pair); closePair(client.pair) })
	return host, client
}

// Someone with the token but another key is refused by the host, and
// learns that it was.
func TestRejoinWrongClientKey(t *testing.T) {
	host, client, stranger := newIdentity(t), newIdentity(t), newIdentity(t)
	token := NewToken()
	h, c := rejoinPair(t, func(ctx context.Context, server string, token []byte) (*Pair, error) {
		return Dial(ctx, opts(server, "stranger"), Rejoin{Token: token, Self: stranger.priv, Peer: host.pub})
	}, Rejoin{Token: token, Self: host.priv, Peer: client.pub})
	if !errors.Is(h.err, ErrTampered) {
		t.Fatalf("host: %v, want ErrTampered", h.err)
	}
	if !errors.Is(c.err, ErrTampered) {
		t.Fatalf("stranger: %v, want ErrTampered", c.err)
	}
}

// Someone with the token who claims the client's public key in its hello
// but cannot sign with it is refused: the key check needs the proof.
func TestRejoinClaimedKeyWithoutProof(t *testing.T) {
	host, client, stranger := newIdentity(t), newIdentity(t), newIdentity(t)
	token := NewToken()
	h, c := rejoinPair(t, func(ctx context.Context, server string, token []byte) (*Pair, error) {
		o := opts(server, "Client")
		o.Hello.ID = client.pub // the victim's public key, which is no secret
		return dial(ctx, o, Rejoin{Token: token, Self: stranger.priv, Peer: host.pub})
	}, Rejoin{Token: token, Self: host.priv, Peer: client.pub})
	if !errors.Is(h.err, ErrTampered) || !strings.Contains(h.err.Error(), "cannot prove") {
		t.Fatalf("host: %v, want ErrTampered for a missing proof", h.err)
	}
	if !errors.Is(c.err, ErrTampered) {
		t.Fatalf("impostor: %v, want ErrTampered", c.err)
	}
}

// A host with the token but another key than the client stored is refused
// by the client.
func TestRejoinWrongHostKey(t *testing.T) {
	host, client, impostor := newIdentity(t), newIdentity(t), newIdentity(t)
	token := NewToken()
	h, c := rejoinPair(t, func(ctx context.Context, server string, token []byte) (*Pair, error) {
		return Dial(ctx, opts(server, "Client"), Rejoin{Token: token, Self: client.priv, Peer: host.pub})
	}, Rejoin{Token: token, Self: impostor.priv, Peer: client.pub})
	if !errors.Is(c.err, ErrTampered) {
		t.Fatalf("client: %v, want ErrTampered", c.err)
	}
	if !errors.Is(h.err, ErrTampered) {
		t.Fatalf("impostor host: %v, want ErrTampered", h.err)
	}
}

// A token the host does not listen for (another channel) is unavailable,
// at once.
func TestRejoinUnknownToken(t *testing.T) {
	rv := newRV(t, rendezvous.Config{})
	ctx := testCtx(t, 10*time.Second)
	host, client := newIdentity(t), newIdentity(t)
	mustListen(t, rv.URL, mustChannel(t, NewToken()))
	_, err := Dial(ctx, opts(rv.URL, "Client"), Rejoin{Token: NewToken(), Self: client.priv, Peer: host.pub})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Dial with an unknown token: %v", err)
	}
}

// A host that never answers: the dialer gets ErrUnavailable when the ring
// expires, or its own context's error, and the host's ring is over either
// way.
func TestRejoinNoAnswer(t *testing.T) {
	rv := newRV(t, rendezvous.Config{RingTTL: 300 * time.Millisecond})
	host, client := newIdentity(t), newIdentity(t)
	token := NewToken()
	l := mustListen(t, rv.URL, mustChannel(t, token))
	rj := Rejoin{Token: token, Self: client.priv, Peer: host.pub}

	res := dialAsync(testCtx(t, 10*time.Second), func(ctx context.Context) (*Pair, error) { return Dial(ctx, opts(rv.URL, "Client"), rj) })
	ring := nextRing(t, l)
	if r := <-res; !errors.Is(r.err, ErrUnavailable) {
		t.Fatalf("Dial nobody answers: %v", r.err)
	}
	waitDone(t, ring)
	if _, err := Answer(testCtx(t, 10*time.Second), opts(rv.URL, "host"), ring, Rejoin{Token: token, Self: host.priv, Peer: client.pub}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Answer of an expired ring: %v", err)
	}

	// The client gives up first.
	ctx, cancel := context.WithCancel(testCtx(t, 10*time.Second))
	defer cancel()
	res = dialAsync(ctx, func(ctx context.Context) (*Pair, error) { return Dial(ctx, opts(rv.URL, "Client"), rj) })
	ring = nextRing(t, l)
	cancel()
	if r := <-res; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Dial given up: %v", r.err)
	}
	waitDone(t, ring)
}

// Someone who answers a ring without the token (the server itself, say)
// fails key confirmation on the client's side.
func TestRejoinAnswerWithoutToken(t *testing.T) {
	rv := newRV(t, rendezvous.Config{})
	ctx := testCtx(t, 10*time.Second)
	host, client := newIdentity(t), newIdentity(t)
	token := NewToken()
	ch := mustChannel(t, token)
	l := mustListen(t, rv.URL, ch)
	res := dialAsync(ctx, func(ctx context.Context) (*Pair, error) {
		return Dial(ctx, opts(rv.URL, "Client"), Rejoin{Token: token, Self: client.priv, Peer: host.pub})
	})
	ring := nextRing(t, l)
	conn, err := mailbox.Dial(ctx, rv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(wire.MoodHappy)
	sid, err := conn.Answer(ctx, ring.ID)
	if err != nil {
		t.Fatal(err)
	}
	ci, _ := rejoinCI(ch)
	_, ya, err := cpace.Start(NewToken(), ci, sid, adA) // a guessed token
	if err != nil {
		t.Fatal(err)
	}
	if err := conn.Add(ctx, wire.EncodePakeA(ya)); err != nil {
		t.Fatal(err)
	}
	// Without ISK the confirmation can only be guessed.
	if err := conn.Add(ctx, wire.EncodeConfirmA(make([]byte, wire.TagSize))); err != nil {
		t.Fatal(err)
	}
	if r := <-res; !errors.Is(r.err, ErrTampered) {
		closePair(r.pair)
		t.Fatalf("Dial answered without the token: %v, want ErrTampered", r.err)
	}
}

// A server that puts one known peer's call through to another peer's
// channel cannot make the host take the caller for that peer: the tokens
// differ, key confirmation fails on both sides.
func TestRejoinServerSwapsChannel(t *testing.T) {
	rv := newRV(t, rendezvous.Config{})
	ctx := testCtx(t, 20*time.Second)
	host, x, y := newIdentity(t), newIdentity(t), newIdentity(t)
	tokenX, tokenY := NewToken(), NewToken()
	chX, chY := mustChannel(t, tokenX), mustChannel(t, tokenY)
	p := mitm.New(rv.URL, func(conn int, dir mitm.Dir, f wire.Frame) []wire.Frame {
		if dir == mitm.ToServer && f.Type == wire.TypeDial && f.Channel == chY {
			f.Channel = chX
		}
		return []wire.Frame{f}
	})
	defer p.Close()
	l := mustListen(t, p.URL, chX, chY)
	res := dialAsync(ctx, func(ctx context.Context) (*Pair, error) {
		return Dial(ctx, opts(p.URL, "Y"), Rejoin{Token: tokenY, Self: y.priv, Peer: host.pub})
	})
	ring := nextRing(t, l)
	if ring.Channel != chX {
		t.Fatalf("ring on %s, want the swapped channel", ring.Channel)
	}
	hp, err := Answer(ctx, opts(p.URL, "host"), ring, Rejoin{Token: tokenX, Self: host.priv, Peer: x.pub})
	if err == nil {
		closePair(hp)
	}
	r := <-res
	closePair(r.pair)
	if !errors.Is(err, ErrTampered) || !errors.Is(r.err, ErrTampered) {
		t.Fatalf("host: %v; caller: %v; want ErrTampered on both sides", err, r.err)
	}
}

func TestListenerSetChannels(t *testing.T) {
	rv := newRV(t, rendezvous.Config{})
	ctx := testCtx(t, 10*time.Second)
	host, client := newIdentity(t), newIdentity(t)
	token := NewToken()
	ch := mustChannel(t, token)
	rj := Rejoin{Token: token, Self: client.priv, Peer: host.pub}
	l := mustListen(t, rv.URL) // nobody known yet

	if _, err := Dial(ctx, opts(rv.URL, "Client"), rj); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Dial before the host knows the peer: %v", err)
	}
	if err := l.SetChannels(ctx, []string{ch}); err != nil {
		t.Fatal(err)
	}
	res := dialAsync(ctx, func(ctx context.Context) (*Pair, error) { return Dial(ctx, opts(rv.URL, "Client"), rj) })
	ring := nextRing(t, l)
	// Revoking while it rings ends the call.
	if err := l.SetChannels(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if r := <-res; !errors.Is(r.err, ErrUnavailable) {
		t.Fatalf("Dial whose channel was revoked while ringing: %v", r.err)
	}
	waitDone(t, ring)

	for _, bad := range [][]string{{"nope"}, {ch, ch}, {strings.ToUpper(ch)}} {
		if err := l.SetChannels(ctx, bad); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("SetChannels(%q): %v", bad, err)
		}
	}
	if _, err := Listen(ctx, opts(rv.URL, "host"), []string{"nope"}); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("Listen with a bad channel: %v", err)
	}
}

// The Listener survives a restart of the rendezvous server: it reconnects,
// listens on the same channels again, and its open rings are over.
func TestListenerReconnects(t *testing.T) {
	defer func(min time.Duration) { listenBackoffMin = min }(listenBackoffMin)
	listenBackoffMin = 50 * time.Millisecond
	rv := newRV(t, rendezvous.Config{})
	ctx := testCtx(t, 20*time.Second)
	host, client := newIdentity(t), newIdentity(t)
	token := NewToken()
	ch := mustChannel(t, token)
	l := mustListen(t, rv.URL, ch)
	dctx, dcancel := context.WithCancel(ctx)
	res := dialAsync(dctx, func(ctx context.Context) (*Pair, error) {
		return Dial(ctx, opts(rv.URL, "Client"), Rejoin{Token: token, Self: client.priv, Peer: host.pub})
	})
	ring := nextRing(t, l)

	rv.restart()
	waitDone(t, ring)
	dcancel()
	<-res

	// Wait until the Listener is back: SetChannels succeeds once it is.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		err := l.SetChannels(ctx, []string{ch})
		if err == nil {
			break
		}
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("SetChannels while reconnecting: %v", err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the Listener did not reconnect")
		}
	}
	res = dialAsync(ctx, func(ctx context.Context) (*Pair, error) {
		return Dial(ctx, opts(rv.URL, "Client"), Rejoin{Token: token, Self: client.priv, Peer: host.pub})
	})
	ring = nextRing(t, l)
	hp, err := Answer(ctx, opts(rv.URL, "host"), ring, Rejoin{Token: token, Self: host.priv, Peer: client.pub})
	if err != nil {
		t.Fatalf("Answer after the restart: %v", err)
	}
	defer closePair(hp)
	r := <-res
	if r.err != nil {
		t.Fatalf("Dial after the restart: %v", r.err)
	}
	closePair(r.pair)
}

// Channels changed while the Listener is away are the ones it listens on
// when it is back.
func TestListenerKeepsChannelsWhileAway(t *testing.T) {
	defer func(min time.Duration) { listenBackoffMin = min }(listenBackoffMin)
	listenBackoffMin = 200 * time.Millisecond
	rv := newRV(t, rendezvous.Config{ClaimsPerMinute: 1000})
	ctx := testCtx(t, 20*time.Second)
	token := NewToken()
	ch := mustChannel(t, token)
	l := mustListen(t, rv.URL)
	rv.restart()
	// Until the old connection's end is noticed SetChannels may still
	// succeed on it; keep setting until it reports the reconnection.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		err := l.SetChannels(ctx, []string{ch})
		if errors.Is(err, ErrUnreachable) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the Listener did not notice the restart")
		}
	}
	// Dial until the Listener is back with the new set.
	host, client := newIdentity(t), newIdentity(t)
	for {
		dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		res := dialAsync(dctx, func(ctx context.Context) (*Pair, error) {
			return Dial(ctx, opts(rv.URL, "Client"), Rejoin{Token: token, Self: client.priv, Peer: host.pub})
		})
		var r pairResult
		select {
		case ring := <-l.Rings():
			if ring.Channel != ch {
				t.Fatalf("ring on %s", ring.Channel)
			}
			cancel()
			<-res
			return
		case r = <-res:
		}
		cancel()
		if !errors.Is(r.err, ErrUnavailable) {
			t.Fatalf("Dial while the Listener is away: %v", r.err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatal("the Listener did not come back with the new channels")
		}
	}
}

func TestListenerClose(t *testing.T) {
	rv := newRV(t, rendezvous.Config{})
	ctx := testCtx(t, 10*time.Second)
	token := NewToken()
	l, err := Listen(ctx, opts(rv.URL, "host"), []string{mustChannel(t, token)})
	if err != nil {
		t.Fatal(err)
	}
	host, client := newIdentity(t), newIdentity(t)
	res := dialAsync(ctx, func(ctx context.Context) (*Pair, error) {
		return Dial(ctx, opts(rv.URL, "Client"), Rejoin{Token: token, Self: client.priv, Peer: host.pub})
	})
	ring := nextRing(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
	waitDone(t, ring)
	if _, ok := <-l.Rings(); ok {
		t.Fatal("Rings open after Close")
	}
	if r := <-res; !errors.Is(r.err, ErrUnavailable) {
		t.Fatalf("Dial whose host stopped listening: %v", r.err)
	}
	if err := l.SetChannels(ctx, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetChannels after Close: %v", err)
	}
}

func TestRejoinArguments(t *testing.T) {
	ctx := testCtx(t, 5*time.Second)
	id := newIdentity(t)
	token := NewToken()
	for _, rj := range []Rejoin{
		{Token: token[:31], Self: id.priv, Peer: id.pub},
		{Token: token, Peer: id.pub},
		{Token: token, Self: id.priv},
	} {
		if _, err := Dial(ctx, opts("http://127.0.0.1:1", "x"), rj); err == nil || errors.Is(err, ErrUnreachable) {
			t.Errorf("Dial with a bad Rejoin: %v", err)
		}
	}
	ring := Ring{Channel: mustChannel(t, NewToken()), ID: make([]byte, wire.RingIDSize)}
	if _, err := Answer(ctx, opts("http://127.0.0.1:1", "x"), ring, Rejoin{Token: token, Self: id.priv, Peer: id.pub}); err == nil || errors.Is(err, ErrUnreachable) {
		t.Errorf("Answer with the token of another channel: %v", err)
	}
	if _, err := Listen(ctx, opts("http://127.0.0.1:1", "x"), nil); !errors.Is(err, ErrUnreachable) {
		t.Errorf("Listen without a server: %v", err)
	}
}

// BenchmarkRejoin measures a whole reconnection on loopback: dial, ring,
// answer, CPace, confirmation, hellos and proofs on both sides.
func BenchmarkRejoin(b *testing.B) {
	rv := rendezvous.New(rendezvous.Config{Logger: quiet, AllocsPerMinute: 1 << 20, ClaimsPerMinute: 1 << 20})
	hs := httptest.NewServer(rv.Handler())
	defer func() { rv.Close(); hs.Close() }()
	hostPub, hostPriv, _ := ed25519.GenerateKey(nil)
	clientPub, clientPriv, _ := ed25519.GenerateKey(nil)
	token := NewToken()
	ch, _ := Channel(token)
	ctx := context.Background()
	l, err := Listen(ctx, opts(hs.URL, "host"), []string{ch})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ReportAllocs()
	for b.Loop() {
		res := dialAsync(ctx, func(ctx context.Context) (*Pair, error) {
			return Dial(ctx, opts(hs.URL, "client"), Rejoin{Token: token, Self: clientPriv, Peer: hostPub})
		})
		ring := <-l.Rings()
		hp, err := Answer(ctx, opts(hs.URL, "host"), ring, Rejoin{Token: token, Self: hostPriv, Peer: clientPub})
		if err != nil {
			b.Fatal(err)
		}
		r := <-res
		if r.err != nil {
			b.Fatal(r.err)
		}
		hp.Close(wire.MoodHappy)
		r.pair.Close(wire.MoodHappy)
	}
}
