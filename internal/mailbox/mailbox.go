package mailbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/wire"
)

// DialOptions configures Dial. A nil *DialOptions means all defaults.
type DialOptions struct {
	// HTTPClient performs the WebSocket handshake. nil = a client made
	// from RootCAs and NetDial, or http.DefaultClient when both are unset.
	HTTPClient *http.Client
	// RootCAs verifies an https or wss server's certificate, for a
	// server whose certificate a private CA signed. nil = the system's
	// roots. Ignored when HTTPClient is set.
	RootCAs *x509.CertPool
	// NetDial opens the TCP connection to the server, for example through
	// an HTTP CONNECT proxy (package proxy); TLS runs on top of it. nil =
	// a direct connection, or the proxy of $HTTPS_PROXY / $HTTP_PROXY as Go's
	// http.ProxyFromEnvironment picks it. Ignored when HTTPClient is set.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Header is added to the handshake request. nil = none.
	Header http.Header
	// Reopen asks the server for a reopen token when the connection binds
	// (docs/protocol.md, section 3) and, once paired, survives the
	// connection dropping: Conn pings the server, and when the connection
	// fails it dials again with backoff, reclaims its side with the token
	// for up to wire.ReopenGrace, and sends again the bodies the server
	// did not get; Next and Add carry on as if nothing happened. false =
	// the mailbox ends with the connection.
	Reopen bool
	// PingInterval is how often a Reopen connection pings the server; a
	// pong that does not come back within it counts as a dropped
	// connection. 0 = 5 s. Ignored without Reopen.
	PingInterval time.Duration
	// Logger receives reopen progress. nil = slog.Default().
	Logger *slog.Logger
}

// DefaultPingInterval is DialOptions.PingInterval's default.
const DefaultPingInterval = 5 * time.Second

// frameQueue bounds frames read from the server but not yet taken by Next.
// A conforming server sends at most a handful of control frames plus
// wire.MaxBodiesPerSide messages to one side, so a full queue means a
// misbehaving server.
const frameQueue = 2*wire.MaxBodiesPerSide + 16

// closeWait bounds how long Close waits for the server to acknowledge a
// "close" frame by closing the WebSocket.
const closeWait = 2 * time.Second

// Conn is one client connection to a rendezvous mailbox. Next may be
// called from one goroutine while Add is called from another; Close may be
// called from any goroutine at any time.
//
// A background goroutine reads the WebSocket all the time, so that the
// server's keepalive pings are answered even while the caller is busy
// elsewhere; frames wait in a bounded queue for Next. With
// DialOptions.Reopen the same goroutine reopens the mailbox on a new
// WebSocket when the connection drops, and a second one pings the server.
type Conn struct {
	motd string
	url  string      // the mailbox URL, for reopening
	opts DialOptions // for reopening
	log  *slog.Logger

	frames     chan wire.Frame
	readerDone chan struct{} // closed when the reader goroutine has ended
	readErr    error         // why the reader ended; written before readerDone is closed
	cancel     context.CancelFunc
	pingerDone chan struct{} // closed when the pinger has ended (or at once without Reopen)

	// wmu serializes writing bodies with re-sending them on a reopened
	// connection, so that bodies keep their order.
	wmu sync.Mutex

	mu        sync.Mutex
	ws        *websocket.Conn // the current WebSocket; a reopen replaces it
	down      bool            // ws failed and a reopen runs: bodies wait in sent
	bound     bool            // Allocate, Claim, DialChannel or Answer has been sent
	listening bool            // Listen has been sent
	closing   bool            // Close has begun: a dropped connection is not reopened
	// With Reopen: every body added, the mailbox id and the reopen token
	// from the server, and whether the server ended the mailbox ("closed"
	// or "error"), after which there is nothing to reopen.
	sent  [][]byte
	id    []byte
	token []byte
	final bool

	received int // "message" frames read; only the reader goroutine touches it

	closeOnce sync.Once
}

// Dial connects to the mailbox of the rendezvous server at serverURL
// (http, https, ws or wss; wire.MailboxPath is appended unless the path
// already ends with it) and reads the server's welcome frame.
func Dial(ctx context.Context, serverURL string, opts *DialOptions) (*Conn, error) {
	u, err := url.Parse(serverURL)
	if err != nil {
		return nil, fmt.Errorf("mailbox: server URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return nil, fmt.Errorf("mailbox: server URL scheme %q: want http, https, ws or wss", u.Scheme)
	}
	if !strings.HasSuffix(u.Path, wire.MailboxPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + wire.MailboxPath
		u.RawPath = ""
	}
	u.Fragment = ""
	if opts == nil {
		opts = &DialOptions{}
	}
	client := opts.HTTPClient
	if client == nil && (opts.RootCAs != nil || opts.NetDial != nil) {
		tr := &http.Transport{
			DialContext:         opts.NetDial,
			TLSClientConfig:     &tls.Config{RootCAs: opts.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout: 10 * time.Second,
		}
		if opts.NetDial == nil {
			tr.Proxy = http.ProxyFromEnvironment
		}
		// The WebSocket takes the connection over; nothing stays idle.
		defer tr.CloseIdleConnections()
		client = &http.Client{Transport: tr}
	}
	o := *opts
	o.HTTPClient = client
	if o.PingInterval <= 0 {
		o.PingInterval = DefaultPingInterval
	}
	c := &Conn{
		url:        u.String(),
		opts:       o,
		log:        o.Logger,
		frames:     make(chan wire.Frame, frameQueue),
		readerDone: make(chan struct{}),
		pingerDone: make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	ws, err := c.dialWS(ctx)
	if err != nil {
		return nil, err
	}
	c.ws = ws

	rctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go c.readLoop(rctx)
	if o.Reopen {
		go c.pingLoop(rctx)
	} else {
		close(c.pingerDone)
	}

	f, err := c.next(ctx)
	if err == nil && (f.Type != wire.TypeWelcome || f.Version != 1) {
		err = fmt.Errorf("%w: expected welcome for version 1, got %s version %d", ErrProtocol, f.Type, f.Version)
	}
	if err != nil {
		c.shutdown()
		return nil, err
	}
	c.motd = f.MOTD
	return c, nil
}

// dialWS opens a WebSocket to the mailbox URL with the subprotocol.
func (c *Conn) dialWS(ctx context.Context) (*websocket.Conn, error) {
	ws, resp, err := websocket.Dial(ctx, c.url, &websocket.DialOptions{
		HTTPClient:   c.opts.HTTPClient,
		HTTPHeader:   c.opts.Header.Clone(),
		Subprotocols: []string{wire.Subprotocol},
	})
	host := c.url
	if u, perr := url.Parse(c.url); perr == nil {
		host = u.Host
	}
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			return nil, fmt.Errorf("mailbox: dial %s: %w", host, ErrRateLimited)
		}
		return nil, fmt.Errorf("mailbox: dial %s: %w", host, err)
	}
	if ws.Subprotocol() != wire.Subprotocol {
		_ = ws.CloseNow()
		return nil, fmt.Errorf("%w: server did not agree to subprotocol %s", ErrProtocol, wire.Subprotocol)
	}
	ws.SetReadLimit(wire.MaxFrame)
	return ws, nil
}

// MOTD returns the message of the day from the server's welcome frame, or "".
func (c *Conn) MOTD() string { return c.motd }

// current returns the current WebSocket.
func (c *Conn) current() *websocket.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ws
}

// readLoop reads frames until the connection ends. It owns c.frames'
// sending side and c.readErr; Close waits for it. A server that breaks the
// protocol is hung up on at once (CloseNow): a close handshake with it could
// stall for seconds. With Reopen, a connection that drops is reopened on a
// new WebSocket (reopen.go) and reading carries on there.
func (c *Conn) readLoop(ctx context.Context) {
	defer close(c.readerDone)
	ws := c.current()
	for {
		err, fatal := c.readFrom(ctx, ws)
		_ = ws.CloseNow()
		if fatal || !c.mayReopen(ctx) {
			c.readErr = err
			return
		}
		if ws, err = c.reopen(ctx, err); err != nil {
			c.readErr = err
			return
		}
	}
}

// readFrom reads frames from ws into c.frames until ws fails. fatal means
// the server broke the protocol: no reopen.
func (c *Conn) readFrom(ctx context.Context, ws *websocket.Conn) (err error, fatal bool) {
	for {
		typ, data, err := ws.Read(ctx)
		if err != nil {
			return readError(err), false
		}
		if typ != websocket.MessageText {
			return fmt.Errorf("%w: binary frame", ErrProtocol), true
		}
		f, err := wire.ParseFrame(data)
		if err == nil && !serverType(f.Type) {
			err = fmt.Errorf("frame type %q from server", f.Type)
		}
		if err != nil {
			return fmt.Errorf("%w: %w", ErrProtocol, err), true
		}
		c.note(f)
		select {
		case c.frames <- f:
		default:
			return fmt.Errorf("%w: more than %d frames unread", ErrProtocol, frameQueue), true
		}
	}
}

// note records what a reopen needs from a frame the server sent.
func (c *Conn) note(f wire.Frame) {
	if f.Type == wire.TypeMessage {
		c.received++
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch f.Type {
	case wire.TypeAllocated, wire.TypeClaimed, wire.TypeAnswered, wire.TypeDialed:
		c.id = f.Mailbox
	case wire.TypePaired:
		if c.opts.Reopen && f.Token != nil {
			c.token = f.Token
		}
	case wire.TypeClosed, wire.TypeError:
		c.final = true
	}
}

func serverType(t string) bool {
	switch t {
	case wire.TypeWelcome, wire.TypeAllocated, wire.TypeClaimed, wire.TypePaired,
		wire.TypeMessage, wire.TypeClosed, wire.TypeError,
		wire.TypeListening, wire.TypeRing, wire.TypeHangup, wire.TypeAnswered, wire.TypeDialed:
		return true
	}
	return false
}

// readError maps the error that ended the reader to this package's errors.
func readError(err error) error {
	switch websocket.CloseStatus(err) {
	case websocket.StatusNormalClosure, websocket.StatusGoingAway:
		return ErrClosed
	case websocket.StatusMessageTooBig:
		return fmt.Errorf("%w: %w", ErrClosed, ErrTooLarge)
	}
	return fmt.Errorf("%w: %w", ErrClosed, err)
}

// next returns the next frame from the server, frames already read first.
func (c *Conn) next(ctx context.Context) (wire.Frame, error) {
	select {
	case f := <-c.frames:
		return f, nil
	default:
	}
	select {
	case f := <-c.frames:
		return f, nil
	case <-c.readerDone:
		select {
		case f := <-c.frames:
			return f, nil
		default:
			return wire.Frame{}, c.readErr
		}
	case <-ctx.Done():
		return wire.Frame{}, ctx.Err()
	}
}

// Next returns the next frame from the server after Allocate, Claim,
// DialChannel or Answer: "paired", "message" or "closed"; after Listen:
// "listening", "ring" or "hangup". An "error" frame is returned as a
// *ServerError. After the server has closed the connection Next returns an
// error wrapping ErrClosed.
func (c *Conn) Next(ctx context.Context) (wire.Frame, error) {
	f, err := c.next(ctx)
	if err != nil {
		return wire.Frame{}, err
	}
	c.mu.Lock()
	listening := c.listening
	c.mu.Unlock()
	switch f.Type {
	case wire.TypeError:
		return wire.Frame{}, &ServerError{Kind: f.Kind, Message: f.Message}
	case wire.TypePaired, wire.TypeMessage, wire.TypeClosed:
		if !listening {
			return f, nil
		}
	case wire.TypeListening, wire.TypeRing, wire.TypeHangup:
		if listening {
			return f, nil
		}
	}
	return wire.Frame{}, fmt.Errorf("%w: unexpected %s frame", ErrProtocol, f.Type)
}

// Allocate asks the server for a new nameplate; the connection becomes
// side a of its mailbox. It returns the nameplate and the 16-byte mailbox
// id (the CPace sid).
func (c *Conn) Allocate(ctx context.Context) (nameplate string, mailbox []byte, err error) {
	f, err := c.bind(ctx, wire.Frame{Type: wire.TypeAllocate}, wire.TypeAllocated)
	if err != nil {
		return "", nil, err
	}
	return f.Nameplate, f.Mailbox, nil
}

// Claim joins the mailbox of nameplate as side b and returns its 16-byte id.
func (c *Conn) Claim(ctx context.Context, nameplate string) (mailbox []byte, err error) {
	f, err := c.bind(ctx, wire.Frame{Type: wire.TypeClaim, Nameplate: nameplate}, wire.TypeClaimed)
	if err != nil {
		return nil, err
	}
	return f.Mailbox, nil
}

// bind sends an allocate or claim frame and waits for its reply.
func (c *Conn) bind(ctx context.Context, req wire.Frame, reply string) (wire.Frame, error) {
	c.mu.Lock()
	if c.bound || c.listening {
		c.mu.Unlock()
		return wire.Frame{}, fmt.Errorf("%w: already allocated, claimed or listening", ErrState)
	}
	c.bound = true
	c.mu.Unlock()
	req.Reopen = c.opts.Reopen
	if err := c.send(ctx, req); err != nil {
		return wire.Frame{}, err
	}
	f, err := c.next(ctx)
	if err != nil {
		return wire.Frame{}, err
	}
	switch f.Type {
	case reply:
		return f, nil
	case wire.TypeError:
		return wire.Frame{}, &ServerError{Kind: f.Kind, Message: f.Message}
	}
	return wire.Frame{}, fmt.Errorf("%w: %s frame in reply to %s", ErrProtocol, f.Type, req.Type)
}

// Add sends body to the other side of the mailbox; the server queues it
// until that side has arrived. body must be 1 to wire.MaxBody bytes. Add
// returns once the frame is written; the server reports a refusal (such as
// ErrTooMany) through Next. If ctx ends in the middle of writing, the
// connection is closed.
//
// With DialOptions.Reopen every body is kept (at most
// wire.MaxBodiesPerSide; more return ErrTooMany at once), and once paired
// a body whose connection dropped — or that is added while the mailbox is
// being reopened — is sent on the reopened connection unless the server
// had it already: Add then returns nil.
func (c *Conn) Add(ctx context.Context, body []byte) error {
	if len(body) > wire.MaxBody {
		return fmt.Errorf("%w: body of %d bytes (max %d)", ErrTooLarge, len(body), wire.MaxBody)
	}
	if len(body) == 0 {
		return fmt.Errorf("%w: empty body", ErrBadRequest)
	}
	b, err := wire.Frame{Type: wire.TypeAdd, Body: body}.Marshal()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	if !c.bound {
		c.mu.Unlock()
		return fmt.Errorf("%w: add before allocate or claim", ErrState)
	}
	if c.opts.Reopen {
		if len(c.sent) >= wire.MaxBodiesPerSide {
			c.mu.Unlock()
			return fmt.Errorf("%w: %d bodies added already", ErrTooMany, len(c.sent))
		}
		c.sent = append(c.sent, b)
	}
	ws, down, reopenable := c.ws, c.down, c.reopenableLocked()
	c.mu.Unlock()
	if down && reopenable {
		return nil // the reopen sends it
	}
	err = c.write(ctx, ws, b)
	if err != nil && reopenable && ctx.Err() == nil {
		// The reader notices the dead connection too and reopens it; the
		// body waits in sent.
		_ = ws.CloseNow()
		return nil
	}
	return err
}

// reopenableLocked says whether a dropped connection would be reopened.
// c.mu must be held.
func (c *Conn) reopenableLocked() bool {
	return c.opts.Reopen && c.token != nil && !c.final && !c.closing
}

// send writes one control frame.
func (c *Conn) send(ctx context.Context, f wire.Frame) error {
	b, err := f.Marshal()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return c.write(ctx, c.current(), b)
}

// write writes one marshaled frame on ws. If ctx ends during the write the
// WebSocket is closed: a half-written frame cannot be taken back.
func (c *Conn) write(ctx context.Context, ws *websocket.Conn, b []byte) error {
	select {
	case <-c.readerDone:
		return c.readErr
	default:
	}
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return nil
}

// Close leaves the mailbox: it sends close{mood} if the connection is still
// up ("" means wire.MoodHappy), waits briefly for the server to close the
// WebSocket, then closes it. The mailbox and nameplate are gone for good
// afterwards; a mood of wire.MoodScary burns the nameplate after a failed
// pairing. Close is idempotent. It returns nil unless mood is not a client
// mood (the connection is closed all the same) or sending failed on a live
// connection.
func (c *Conn) Close(mood string) error {
	var err error
	c.closeOnce.Do(func() {
		defer c.shutdown()
		if mood == "" {
			mood = wire.MoodHappy
		}
		c.mu.Lock()
		c.closing = true
		down := c.down
		c.mu.Unlock()
		if down {
			return // a reopen runs: the mailbox ends when the grace is over
		}
		ctx, cancel := context.WithTimeout(context.Background(), closeWait)
		defer cancel()
		select {
		case <-c.readerDone:
			return
		default:
		}
		if e := c.send(ctx, wire.Frame{Type: wire.TypeClose, Mood: mood}); e != nil {
			if !errors.Is(e, ErrClosed) {
				err = e
			}
			return
		}
		// The server answers close by closing the WebSocket.
		select {
		case <-c.readerDone:
		case <-ctx.Done():
		}
	})
	return err
}

// shutdown closes the WebSocket and waits for the reader and the pinger.
func (c *Conn) shutdown() {
	c.cancel()
	_ = c.current().CloseNow()
	<-c.readerDone
	<-c.pingerDone
}
