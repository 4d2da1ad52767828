package pairing

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/cpace"
	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/wire"
)

// Known peers (docs/protocol.md, section 8). A host gives a Go client a
// rejoin token during a consultation; later the client dials the token's
// channel, the host's Listener rings, and the host answers. Both run the
// pairing of section 4 with the token as the password, then prove their
// long-term Ed25519 keys to each other.

// TokenSize is the size of a rejoin token.
const TokenSize = wire.TokenSize

// NewToken returns a fresh random rejoin token.
func NewToken() []byte {
	t := make([]byte, TokenSize)
	_, _ = rand.Read(t) // never fails (crypto/rand, Go 1.24+)
	return t
}

// Channel returns the rendezvous channel of a rejoin token, the key by
// which a host maps an incoming Ring to the stored peer. It fails for a
// token that is not TokenSize bytes.
func Channel(token []byte) (string, error) {
	return wire.RejoinChannel(token)
}

// Rejoin is what a reconnection without a code needs besides Options.
type Rejoin struct {
	// Token is the rejoin token both sides stored. Required.
	Token []byte
	// Self is this peer's long-term identity. Required: its public half
	// replaces Options.Hello.ID, and it signs the proof.
	Self ed25519.PrivateKey
	// Peer is the stored public key of the other side. Required: a peer
	// whose hello or proof does not match it is refused with ErrTampered.
	Peer ed25519.PublicKey
}

func (r Rejoin) check() (channel string, err error) {
	channel, err = wire.RejoinChannel(r.Token)
	if err != nil {
		return "", fmt.Errorf("pairing: rejoin token: %w", err)
	}
	if len(r.Self) != ed25519.PrivateKeySize {
		return "", errors.New("pairing: rejoin needs this peer's identity key")
	}
	if len(r.Peer) != ed25519.PublicKeySize {
		return "", errors.New("pairing: rejoin needs the other side's stored key")
	}
	return channel, nil
}

// rejoinCI is the CPace channel identifier of a rejoin:
// lv_cat("direkt/v1 rejoin", channel bytes).
func rejoinCI(channel string) ([]byte, error) {
	b, err := wire.ChannelBytes(channel)
	if err != nil {
		return nil, err
	}
	return cpace.LVCat([]byte(wire.RejoinCILabel), b), nil
}

// Dial reconnects this client to a known host without a code: it dials the
// token's channel, waits until the host answers, pairs with the token as
// the password and checks that the host holds the stored key. A host that
// is offline, does not know the token or does not answer within the
// server's ring time returns ErrUnavailable; a host whose key is not
// r.Peer, ErrTampered. The returned Pair has role b (the WebRTC answerer)
// and a zero Code; its check phrase uses the English list.
func Dial(ctx context.Context, opts Options, r Rejoin) (*Pair, error) {
	if _, err := r.check(); err != nil {
		return nil, err
	}
	opts.Hello.ID = r.Self.Public().(ed25519.PublicKey)
	return dial(ctx, opts, r)
}

// dial is Dial without setting the hello's id, so that a test can play a
// peer that claims a key it does not hold.
func dial(ctx context.Context, opts Options, r Rejoin) (_ *Pair, err error) {
	channel, err := r.check()
	if err != nil {
		return nil, err
	}
	ci, err := rejoinCI(channel)
	if err != nil {
		return nil, err
	}
	conn, err := mailbox.Dial(ctx, opts.Server, opts.mailboxDial())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer func() {
		if err != nil {
			err = ctxFirst(ctx, err)
			conn.Close(moodFor(err))
		}
	}()
	opts.logger().DebugContext(ctx, "pairing: dialling a known host")
	sid, err := conn.DialChannel(ctx, channel)
	if err != nil {
		return nil, mapRejoinError(err)
	}
	keys, ice, err := respond(ctx, conn, r.Token, ci, sid)
	if err != nil {
		return nil, rejoinConfirmError(err)
	}
	p, err := newPair(ctx, opts, conn, wire.RoleB, code.Code{}, keys, ice)
	if err != nil {
		return nil, err
	}
	return prove(ctx, p, r)
}

// Answer takes a ring as the host: it answers the call on a new
// connection, pairs with the token of the peer the ring's channel belongs
// to and checks that the caller holds that peer's stored key (else
// ErrTampered; the caller is refused). A ring that is over returns
// ErrUnavailable. The returned Pair has role a (the WebRTC offerer) and a
// zero Code; its check phrase uses the English list.
func Answer(ctx context.Context, opts Options, ring Ring, r Rejoin) (*Pair, error) {
	if _, err := r.check(); err != nil {
		return nil, err
	}
	opts.Hello.ID = r.Self.Public().(ed25519.PublicKey)
	return answer(ctx, opts, ring, r)
}

func answer(ctx context.Context, opts Options, ring Ring, r Rejoin) (_ *Pair, err error) {
	defer func() {
		if err != nil {
			err = ctxFirst(ctx, err)
		}
	}()
	channel, err := r.check()
	if err != nil {
		return nil, err
	}
	if channel != ring.Channel {
		return nil, errors.New("pairing: the token is not the one of the ring's channel")
	}
	ci, err := rejoinCI(channel)
	if err != nil {
		return nil, err
	}
	conn, err := mailbox.Dial(ctx, opts.Server, opts.mailboxDial())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	sid, err := conn.Answer(ctx, ring.ID)
	if err != nil {
		conn.Close(wire.MoodErrory)
		return nil, mapRejoinError(err)
	}
	ini, ya, err := cpace.Start(r.Token, ci, sid, adA)
	if err != nil {
		conn.Close(wire.MoodErrory)
		return nil, err
	}
	if err := conn.Add(ctx, wire.EncodePakeA(ya)); err != nil {
		conn.Close(wire.MoodErrory)
		return nil, mapServerError(err)
	}
	pend := &Pending{opts: opts, conn: conn, sid: sid, initiator: ini}
	p, err := pend.Wait(ctx) // closes conn on failure
	if err != nil {
		return nil, rejoinConfirmError(err)
	}
	return prove(ctx, p, r)
}

// prove checks the peer's hello against the stored key and exchanges
// proofs (docs/protocol.md, section 8): the client (b) signs first; the
// host (a) checks it and only then signs. Any failure closes p with mood
// scary.
func prove(ctx context.Context, p *Pair, r Rejoin) (_ *Pair, err error) {
	defer func() {
		if err != nil {
			p.Close(moodFor(err))
		}
	}()
	if !bytes.Equal(p.Peer.ID, r.Peer) {
		return nil, fmt.Errorf("%w: the other side's key is not the stored one", ErrTampered)
	}
	peerRole := wire.RoleA
	if p.Role == wire.RoleA {
		peerRole = wire.RoleB
	}
	refused := func(err error) error {
		if errors.Is(err, ErrTampered) {
			return fmt.Errorf("%w: the other side refused this peer's key", ErrTampered)
		}
		return err
	}
	send := func() error {
		sig := ed25519.Sign(r.Self, wire.RejoinProof(p.Keys.Binding, p.Role))
		err := p.Send(ctx, wire.Signal{T: wire.SignalProof, Sig: sig})
		if err != nil {
			// The other side may have refused us and left: its reason
			// reaches the reader just before the connection ends.
			select {
			case <-p.done:
			case <-ctx.Done():
			}
			if why := p.Err(); why != nil {
				err = why
			}
		}
		return refused(err)
	}
	check := func() error {
		s, err := p.Recv(ctx)
		if err != nil {
			return refused(err)
		}
		if s.T != wire.SignalProof {
			return fmt.Errorf("%w: expected proof, got %q", ErrTampered, s.T)
		}
		if !ed25519.Verify(r.Peer, wire.RejoinProof(p.Keys.Binding, peerRole), s.Sig) {
			return fmt.Errorf("%w: the other side cannot prove the stored key", ErrTampered)
		}
		return nil
	}
	steps := []func() error{send, check}
	if p.Role == wire.RoleA {
		steps = []func() error{check, send}
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// ctxFirst makes an error that follows the end of ctx match ctx's error:
// the WebSocket dies with the context that dialled it, so the connection
// error may come first.
func ctxFirst(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w: %w", cerr, err)
	}
	return err
}

// mapRejoinError maps the server's answers to dial and answer.
func mapRejoinError(err error) error {
	switch {
	case errors.Is(err, mailbox.ErrUnavailable):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	case errors.Is(err, mailbox.ErrCrowded):
		// dial: a call is ringing already; answer: answered already.
		return fmt.Errorf("%w: a call on this channel is ringing or answered already: %w", ErrUnavailable, err)
	}
	return mapServerError(err)
}

// rejoinConfirmError: with a token there is no mistyped code, so a failed
// key confirmation is tampering (or a bug), not a wrong code.
func rejoinConfirmError(err error) error {
	if errors.Is(err, ErrBadCode) {
		return fmt.Errorf("%w: key confirmation with the rejoin token failed", ErrTampered)
	}
	return err
}

// Ring is a known peer calling a Listener. Channel identifies the peer (the
// host maps channels to its stored peers); the host answers with Answer,
// or lets the ring expire.
type Ring struct {
	// Channel is the rejoin channel the peer dialled.
	Channel string
	// ID names the call on the server.
	ID   []byte
	done <-chan struct{}
}

// Done is closed when the call is over: answered, expired or given up by
// the caller, or the listener's connection ended. The zero Ring's Done is
// nil (never closed).
func (r Ring) Done() <-chan struct{} { return r.done }

// Listener reconnection backoff.
var (
	listenBackoffMin = 500 * time.Millisecond
	listenBackoffMax = 30 * time.Second
)

// maxOpenRings bounds the rings a Listener tracks; a server that keeps more
// open is broken, and the Listener reconnects.
const maxOpenRings = 1024

// Listener keeps a host listening on the rejoin channels of its known
// peers over one WebSocket to the rendezvous server, and reconnects (with
// backoff, keeping its channels) when that connection ends. It owns one
// goroutine, which Close stops.
type Listener struct {
	opts  Options
	rings chan Ring

	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned

	// mu guards channels, cur and every lconn's fields, and serialises
	// listen frames so that replies match waiters in order.
	mu       sync.Mutex
	channels []string
	gen      int // counts changes of channels
	cur      *lconn
	closed   bool

	closeOnce sync.Once
}

// lconn is one connection of a Listener. Its fields are guarded by
// Listener.mu.
type lconn struct {
	conn    *mailbox.Conn
	waiters []chan error // one per listen frame sent, in order; nil = nobody waits
	rings   map[string]chan struct{}
	dead    error
}

// Listen connects to the rendezvous server and listens on channels (each
// from Channel; at most wire.MaxListenChannels, no repeats). It returns
// once the server has acknowledged them. Rings arrive on Rings(). ctx
// bounds only this first connection; the Listener lives until Close.
func Listen(ctx context.Context, opts Options, channels []string) (*Listener, error) {
	set, err := checkChannels(channels)
	if err != nil {
		return nil, err
	}
	l := &Listener{opts: opts, rings: make(chan Ring, 2*maxRingsQueued), channels: set, done: make(chan struct{})}
	lc, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(rctx, lc)
	return l, nil
}

// maxRingsQueued sizes the Rings channel: the server keeps at most 16
// calls open per listener, so a host that reads its rings never drops one.
const maxRingsQueued = 16

func checkChannels(channels []string) ([]string, error) {
	set := append([]string(nil), channels...)
	if err := (wire.Frame{Type: wire.TypeListen, Channels: set}).Validate(); err != nil {
		return nil, fmt.Errorf("pairing: listen: %w", err)
	}
	return set, nil
}

// Rings delivers the calls of known peers. It is closed after Close. A
// ring that arrives while the channel is full is dropped (it expires on
// the server).
func (l *Listener) Rings() <-chan Ring { return l.rings }

// SetChannels replaces the set of channels (as for Listen) and returns
// once the server has acknowledged it. While the Listener is reconnecting
// it returns an error wrapping ErrUnreachable; the set is kept all the
// same and sent when the connection is back.
func (l *Listener) SetChannels(ctx context.Context, channels []string) error {
	set, err := checkChannels(channels)
	if err != nil {
		return err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	l.channels = set
	l.gen++
	lc := l.cur
	if lc == nil {
		l.mu.Unlock()
		return fmt.Errorf("%w: reconnecting; the channels apply once connected", ErrUnreachable)
	}
	ack := make(chan error, 1)
	err = l.sendLocked(ctx, lc, set, ack)
	l.mu.Unlock()
	if err != nil {
		return err
	}
	select {
	case err := <-ack:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sendLocked sends a listen frame on lc and queues ack for its reply.
// l.mu must be held.
func (l *Listener) sendLocked(ctx context.Context, lc *lconn, set []string, ack chan error) error {
	if lc.dead != nil {
		return lc.dead
	}
	lc.waiters = append(lc.waiters, ack)
	if err := lc.conn.Listen(ctx, set); err != nil {
		lc.waiters = lc.waiters[:len(lc.waiters)-1]
		return fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	return nil
}

// Close stops listening and waits for the Listener's goroutine; the server
// drops the channels. It runs once.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
		l.cancel()
		<-l.done
	})
	return nil
}

// connect dials the server, listens on the current set and waits for the
// acknowledgement, then makes the connection current.
func (l *Listener) connect(ctx context.Context) (*lconn, error) {
	conn, err := mailbox.Dial(ctx, l.opts.Server, l.opts.Dial)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	l.mu.Lock()
	set, gen := l.channels, l.gen
	l.mu.Unlock()
	if err := conn.Listen(ctx, set); err != nil {
		conn.Close(wire.MoodErrory)
		return nil, mapServerError(err)
	}
	// On a fresh connection the reply comes before any ring.
	f, err := conn.Next(ctx)
	if err == nil && f.Type != wire.TypeListening {
		err = fmt.Errorf("%w: %s frame in reply to listen", mailbox.ErrProtocol, f.Type)
	}
	if err != nil {
		conn.Close(wire.MoodErrory)
		return nil, mapServerError(err)
	}
	lc := &lconn{conn: conn, rings: make(map[string]chan struct{})}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gen != gen {
		// SetChannels ran meanwhile and found no connection.
		if err := l.sendLocked(ctx, lc, l.channels, nil); err != nil {
			conn.Close(wire.MoodErrory)
			return nil, err
		}
	}
	l.cur = lc
	l.opts.logger().DebugContext(ctx, "pairing: listening for known peers", "channels", len(l.channels))
	return lc, nil
}

// run owns the Listener's connections: it reads one until it ends, then
// reconnects with backoff, until Close.
func (l *Listener) run(ctx context.Context, lc *lconn) {
	defer close(l.done)
	defer close(l.rings)
	backoff := listenBackoffMin
	for {
		if lc != nil {
			err := l.serve(ctx, lc)
			if ctx.Err() != nil {
				return
			}
			l.opts.logger().Info("pairing: lost the rendezvous connection for known peers; reconnecting", "err", err)
			backoff = listenBackoffMin
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, listenBackoffMax)
		var err error
		if lc, err = l.connect(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			l.opts.logger().Debug("pairing: reconnecting for known peers failed", "err", err)
		}
	}
}

// serve reads lc's frames until it ends, then tears it down: it is closed,
// its waiters fail and its rings are over.
func (l *Listener) serve(ctx context.Context, lc *lconn) (err error) {
	defer func() {
		lc.conn.Close(wire.MoodHappy)
		dead := fmt.Errorf("%w: %w", ErrUnreachable, err)
		if ctx.Err() != nil {
			dead = ErrClosed
		}
		l.mu.Lock()
		lc.dead = dead
		for _, w := range lc.waiters {
			if w != nil {
				w <- dead
			}
		}
		lc.waiters = nil
		for id, done := range lc.rings {
			close(done)
			delete(lc.rings, id)
		}
		if l.cur == lc {
			l.cur = nil
		}
		l.mu.Unlock()
	}()
	for {
		f, err := lc.conn.Next(ctx)
		if err != nil {
			return mapServerError(err)
		}
		switch f.Type {
		case wire.TypeListening:
			l.mu.Lock()
			if len(lc.waiters) == 0 {
				l.mu.Unlock()
				return fmt.Errorf("%w: listening frame nobody asked for", mailbox.ErrProtocol)
			}
			w := lc.waiters[0]
			lc.waiters = lc.waiters[1:]
			l.mu.Unlock()
			if w != nil {
				w <- nil
			}
		case wire.TypeRing:
			done := make(chan struct{})
			l.mu.Lock()
			if _, dup := lc.rings[string(f.Ring)]; dup || len(lc.rings) >= maxOpenRings {
				l.mu.Unlock()
				return fmt.Errorf("%w: repeated ring, or too many open", mailbox.ErrProtocol)
			}
			lc.rings[string(f.Ring)] = done
			l.mu.Unlock()
			select {
			case l.rings <- Ring{Channel: f.Channel, ID: f.Ring, done: done}:
			default:
				l.opts.logger().Warn("pairing: a known peer's call was dropped: rings are not being read")
			}
		case wire.TypeHangup:
			l.mu.Lock()
			if done, ok := lc.rings[string(f.Ring)]; ok {
				close(done)
				delete(lc.rings, string(f.Ring))
			}
			l.mu.Unlock()
		}
	}
}
