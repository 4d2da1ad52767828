// Package pairing turns a short code into an authenticated signalling channel:
// it allocates or claims a nameplate on the rendezvous server, runs CPace over
// the mailbox with explicit key confirmation, and then seals every signalling
// message with direction keys derived from the CPace key (docs/protocol.md,
// section 4). A Pair implements session.Signaller.
//
// pairing imports the protocol packages (wire, cpace, code, mailbox) and never
// a service, the session engine or the CLI.
package pairing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/cpace"
	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/wire"
)

// Options configures either side of a pairing.
type Options struct {
	// Server is the rendezvous URL (http, https, ws or wss). Required.
	Server string
	// Dial is passed to mailbox.Dial; nil means defaults.
	Dial *mailbox.DialOptions
	// Lang is the word list of the code the allocating side draws.
	Lang code.Lang
	// Hello is this peer's hello; its T and V are set by pairing.
	Hello wire.Signal
	// Logger receives progress at debug level; nil means slog.Default().
	Logger *slog.Logger
}

func (o *Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.Default()
}

// mailboxDial is opts.Dial with Reopen on: a paired mailbox outlives its
// connection dropping (docs/protocol.md, section 3), so that signalling —
// an ICE restart after the network changed (section 5.1) — gets through
// on a new connection with the same keys and sequence numbers.
func (o *Options) mailboxDial() *mailbox.DialOptions {
	var d mailbox.DialOptions
	if o.Dial != nil {
		d = *o.Dial
	}
	d.Reopen = true
	if d.Logger == nil {
		d.Logger = o.logger()
	}
	return &d
}

// Protocol constants of docs/protocol.md, section 4.1.
var (
	adA = []byte("direkt/v1 a")
	adB = []byte("direkt/v1 b")
)

// channelID is CI = lv_cat("direkt/v1", nameplate).
func channelID(nameplate string) []byte {
	return cpace.LVCat([]byte("direkt/v1"), []byte(nameplate))
}

// Pending is side a after allocation, before the other peer has arrived.
type Pending struct {
	opts      Options
	conn      *mailbox.Conn
	code      code.Code
	sid       []byte
	initiator *cpace.Initiator
}

// Allocate asks the server for a nameplate, draws the secret words and sends
// the first CPace message. The caller shows Code() to the user and calls Wait.
func Allocate(ctx context.Context, opts Options) (*Pending, error) {
	conn, err := mailbox.Dial(ctx, opts.Server, opts.mailboxDial())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	nameplate, sid, err := conn.Allocate(ctx)
	if err != nil {
		conn.Close(wire.MoodErrory)
		return nil, mapServerError(err)
	}
	c, err := code.Generate(nameplate, opts.Lang)
	if err != nil {
		conn.Close(wire.MoodErrory)
		return nil, err
	}
	ini, ya, err := cpace.Start([]byte(c.String()), channelID(nameplate), sid, adA)
	if err != nil {
		conn.Close(wire.MoodErrory)
		return nil, err
	}
	if err := conn.Add(ctx, wire.EncodePakeA(ya)); err != nil {
		conn.Close(wire.MoodErrory)
		return nil, mapServerError(err)
	}
	return &Pending{opts: opts, conn: conn, code: c, sid: sid, initiator: ini}, nil
}

// Code is the code to tell the other person.
func (p *Pending) Code() code.Code { return p.code }

// Close abandons a pending pairing (mood lonely). It is not needed after Wait.
func (p *Pending) Close() error { return p.conn.Close(wire.MoodLonely) }

// Wait waits for the other peer, finishes CPace, checks its key confirmation
// and exchanges hellos. A wrong code returns ErrBadCode and burns the nameplate.
func (p *Pending) Wait(ctx context.Context) (_ *Pair, err error) {
	conn := p.conn
	defer func() {
		if err != nil {
			conn.Close(moodFor(err))
		}
	}()
	var ice []wire.ICEServer
	var yb, tb []byte
	for yb == nil {
		f, err := conn.Next(ctx)
		if err != nil {
			return nil, mapServerError(err)
		}
		switch f.Type {
		case wire.TypePaired:
			ice = f.ICEServers
		case wire.TypeClosed:
			return nil, closedError(f.Mood)
		case wire.TypeMessage:
			pf, err := wire.ParsePairingFrame(f.Body)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrTampered, err)
			}
			switch pf.Kind {
			case wire.KindPakeB:
				yb, tb = pf.Y, pf.T
			case wire.KindAbort:
				return nil, fmt.Errorf("%w: the other side gave up: %q", ErrPeerGone, pf.Reason)
			default:
				return nil, fmt.Errorf("%w: unexpected frame kind %#x before key confirmation", ErrTampered, pf.Kind)
			}
		}
	}
	p.opts.logger().DebugContext(ctx, "pairing: peer arrived")
	isk, err := p.initiator.Finish(yb, adB)
	if err != nil {
		// An invalid point is what a wrong password cannot produce: tampering.
		return nil, fmt.Errorf("%w: %w", ErrTampered, err)
	}
	keys, err := wire.DeriveKeys(isk)
	if err != nil {
		return nil, err
	}
	// Confirm-a goes out whether or not Tb matched, so that b learns of a wrong
	// code from the tag it cannot verify (docs/protocol.md, section 4).
	if err := conn.Add(ctx, wire.EncodeConfirmA(wire.Confirm(keys.ConfirmA, p.sid))); err != nil {
		return nil, mapServerError(err)
	}
	if !wire.CheckConfirm(keys.ConfirmB, p.sid, tb) {
		return nil, ErrBadCode
	}
	return newPair(ctx, p.opts, conn, wire.RoleA, p.code, keys, ice)
}

// Claim joins the mailbox of c's nameplate as side b and runs the pairing.
// A wrong code returns ErrBadCode; the nameplate is then burned.
func Claim(ctx context.Context, opts Options, c code.Code) (_ *Pair, err error) {
	conn, err := mailbox.Dial(ctx, opts.Server, opts.mailboxDial())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreachable, err)
	}
	defer func() {
		if err != nil {
			conn.Close(moodFor(err))
		}
	}()
	sid, err := conn.Claim(ctx, c.Nameplate)
	if err != nil {
		return nil, mapServerError(err)
	}
	keys, ice, err := respond(ctx, conn, []byte(c.String()), channelID(c.Nameplate), sid)
	if err != nil {
		return nil, err
	}
	return newPair(ctx, opts, conn, wire.RoleB, c, keys, ice)
}

// respond runs side b of CPace and key confirmation (docs/protocol.md,
// section 4) in conn's mailbox with password prs, channel identifier ci and
// session id sid. A failed confirmation returns ErrBadCode; the caller
// closes conn on any error.
func respond(ctx context.Context, conn *mailbox.Conn, prs, ci, sid []byte) (wire.Keys, []wire.ICEServer, error) {
	var ice []wire.ICEServer
	var keys wire.Keys
	confirmed := false
	sentB := false
	for !confirmed {
		f, err := conn.Next(ctx)
		if err != nil {
			return wire.Keys{}, nil, mapServerError(err)
		}
		switch f.Type {
		case wire.TypePaired:
			ice = f.ICEServers
			continue
		case wire.TypeClosed:
			if sentB && f.Mood == wire.MoodScary {
				// a refused our confirmation before its own arrived.
				return wire.Keys{}, nil, ErrBadCode
			}
			return wire.Keys{}, nil, closedError(f.Mood)
		case wire.TypeMessage:
		default:
			continue
		}
		pf, err := wire.ParsePairingFrame(f.Body)
		if err != nil {
			return wire.Keys{}, nil, fmt.Errorf("%w: %w", ErrTampered, err)
		}
		switch {
		case pf.Kind == wire.KindAbort:
			return wire.Keys{}, nil, fmt.Errorf("%w: the other side gave up: %q", ErrPeerGone, pf.Reason)
		case pf.Kind == wire.KindPakeA && !sentB:
			yb, isk, err := cpace.Respond(prs, ci, sid, adB, pf.Y, adA)
			if err != nil {
				return wire.Keys{}, nil, fmt.Errorf("%w: %w", ErrTampered, err)
			}
			if keys, err = wire.DeriveKeys(isk); err != nil {
				return wire.Keys{}, nil, err
			}
			if err := conn.Add(ctx, wire.EncodePakeB(yb, wire.Confirm(keys.ConfirmB, sid))); err != nil {
				return wire.Keys{}, nil, mapServerError(err)
			}
			sentB = true
		case pf.Kind == wire.KindConfirmA && sentB:
			if !wire.CheckConfirm(keys.ConfirmA, sid, pf.T) {
				return wire.Keys{}, nil, ErrBadCode
			}
			confirmed = true
		default:
			return wire.Keys{}, nil, fmt.Errorf("%w: unexpected frame kind %#x", ErrTampered, pf.Kind)
		}
	}
	return keys, ice, nil
}

// Pair is a paired, key-confirmed signalling channel. It implements
// session.Signaller: Send seals, Recv opens.
type Pair struct {
	// Role is wire.RoleA or wire.RoleB.
	Role byte
	// Keys are the keys derived from the CPace key.
	Keys wire.Keys
	// Phrase is the check phrase both peers show.
	Phrase string
	// Code is the code this pairing used.
	Code code.Code
	// Peer is the other side's hello.
	Peer wire.Signal
	// ICEServers are the STUN/TURN servers the rendezvous issued.
	ICEServers []wire.ICEServer

	log    *slog.Logger
	conn   *mailbox.Conn
	sealMu sync.Mutex
	sealer *wire.Sealer
	opener *wire.Opener

	in        chan wire.Signal
	done      chan struct{} // closed when the reader stops
	errMu     sync.Mutex
	err       error // why the reader stopped
	closeOnce sync.Once
	cancel    context.CancelFunc
}

func newPair(ctx context.Context, opts Options, conn *mailbox.Conn, role byte, c code.Code, keys wire.Keys, ice []wire.ICEServer) (*Pair, error) {
	sendKey, recvKey := keys.SealAB, keys.SealBA
	if role == wire.RoleB {
		sendKey, recvKey = keys.SealBA, keys.SealAB
	}
	sealer, err := wire.NewSealer(sendKey)
	if err != nil {
		return nil, err
	}
	opener, err := wire.NewOpener(recvKey)
	if err != nil {
		return nil, err
	}
	lang, ok := code.LangOf(c.Words)
	if !ok {
		lang = code.English
	}
	p := &Pair{
		Role:       role,
		Keys:       keys,
		Phrase:     code.Phrase(lang, wire.SASIndices(keys.SAS)),
		Code:       c,
		ICEServers: ice,
		log:        opts.logger(),
		conn:       conn,
		sealer:     sealer,
		opener:     opener,
		in:         make(chan wire.Signal, 64),
		done:       make(chan struct{}),
	}
	hello := opts.Hello
	hello.T, hello.V = wire.SignalHello, 1
	if err := p.Send(ctx, hello); err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.read(rctx)
	peer, err := p.Recv(ctx)
	if err != nil {
		p.Close(moodFor(err))
		return nil, err
	}
	if peer.T != wire.SignalHello {
		p.Close(wire.MoodScary)
		return nil, fmt.Errorf("%w: expected hello, got %q", ErrTampered, peer.T)
	}
	p.Peer = peer
	return p, nil
}

// read owns conn.Next after pairing: it opens sealed frames into p.in.
func (p *Pair) read(ctx context.Context) {
	defer close(p.done)
	for {
		f, err := p.conn.Next(ctx)
		if err != nil {
			p.stop(mapServerError(err))
			return
		}
		switch f.Type {
		case wire.TypeClosed:
			err := closedError(f.Mood)
			if f.Mood == wire.MoodScary {
				// After key confirmation a scary close means the other side
				// caught a forged or replayed frame.
				err = fmt.Errorf("%w: the other side refused a signalling message", ErrTampered)
			}
			p.stop(err)
			return
		case wire.TypeMessage:
		default:
			continue
		}
		pf, err := wire.ParsePairingFrame(f.Body)
		if err != nil {
			p.stop(fmt.Errorf("%w: %w", ErrTampered, err))
			return
		}
		if pf.Kind == wire.KindAbort {
			p.stop(fmt.Errorf("%w: %q", ErrPeerGone, pf.Reason))
			return
		}
		sig, err := p.opener.Open(f.Body)
		if err != nil {
			p.stop(fmt.Errorf("%w: %w", ErrTampered, err))
			return
		}
		if sig.T == wire.SignalBye {
			p.stop(fmt.Errorf("%w: %s", ErrPeerGone, sig.Reason))
			return
		}
		select {
		case p.in <- sig:
		case <-ctx.Done():
			p.stop(ErrClosed)
			return
		}
	}
}

func (p *Pair) stop(err error) {
	p.errMu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.errMu.Unlock()
}

// Err is why the pair stopped receiving, or nil while it still runs.
func (p *Pair) Err() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.err
}

// Send seals s and adds it to the mailbox.
func (p *Pair) Send(ctx context.Context, s wire.Signal) error {
	p.sealMu.Lock()
	defer p.sealMu.Unlock()
	body, err := p.sealer.Seal(s)
	if err != nil {
		return err
	}
	if err := p.conn.Add(ctx, body); err != nil {
		return mapServerError(err)
	}
	return nil
}

// Recv returns the next signalling message from the peer.
func (p *Pair) Recv(ctx context.Context) (wire.Signal, error) {
	select {
	case s := <-p.in:
		return s, nil
	case <-ctx.Done():
		return wire.Signal{}, ctx.Err()
	case <-p.done:
		// Deliver what was queued before the reader stopped.
		select {
		case s := <-p.in:
			return s, nil
		default:
		}
		return wire.Signal{}, p.Err()
	}
}

// Close leaves the mailbox with the given mood and waits for the reader.
func (p *Pair) Close(mood string) error {
	var err error
	p.closeOnce.Do(func() {
		err = p.conn.Close(mood)
		if p.cancel != nil {
			p.cancel()
			<-p.done
		}
	})
	return err
}

func moodFor(err error) string {
	switch {
	case errors.Is(err, ErrBadCode), errors.Is(err, ErrTampered):
		return wire.MoodScary
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return wire.MoodLonely
	default:
		return wire.MoodErrory
	}
}

func closedError(mood string) error {
	switch mood {
	case wire.MoodScary:
		return ErrBadCode
	case wire.MoodExpired:
		return ErrExpired
	default:
		return fmt.Errorf("%w (%s)", ErrPeerGone, mood)
	}
}

func mapServerError(err error) error {
	switch {
	case errors.Is(err, mailbox.ErrUnknownNameplate):
		return fmt.Errorf("%w: %w", ErrUnknownCode, err)
	case errors.Is(err, mailbox.ErrCrowded):
		return fmt.Errorf("%w: %w", ErrCrowded, err)
	case errors.Is(err, mailbox.ErrExpired):
		return fmt.Errorf("%w: %w", ErrExpired, err)
	case errors.Is(err, mailbox.ErrRateLimited):
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return err
}
