package mailbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
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
}

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
// elsewhere; frames wait in a bounded queue for Next.
type Conn struct {
	ws   *websocket.Conn
	motd string

	frames     chan wire.Frame
	readerDone chan struct{} // closed when the reader goroutine has ended
	readErr    error         // why the reader ended; written before readerDone is closed
	cancel     context.CancelFunc

	mu        sync.Mutex
	bound     bool // Allocate, Claim, DialChannel or Answer has been sent
	listening bool // Listen has been sent

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
	ws, resp, err := websocket.Dial(ctx, u.String(), &websocket.DialOptions{
		HTTPClient:   client,
		HTTPHeader:   opts.Header.Clone(),
		Subprotocols: []string{wire.Subprotocol},
	})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
			return nil, fmt.Errorf("mailbox: dial %s: %w", u.Host, ErrRateLimited)
		}
		return nil, fmt.Errorf("mailbox: dial %s: %w", u.Host, err)
	}
	if ws.Subprotocol() != wire.Subprotocol {
		_ = ws.CloseNow()
		return nil, fmt.Errorf("%w: server did not agree to subprotocol %s", ErrProtocol, wire.Subprotocol)
	}
	ws.SetReadLimit(wire.MaxFrame)

	rctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		ws:         ws,
		frames:     make(chan wire.Frame, frameQueue),
		readerDone: make(chan struct{}),
		cancel:     cancel,
	}
	go c.readLoop(rctx)

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

// MOTD returns the message of the day from the server's welcome frame, or "".
func (c *Conn) MOTD() string { return c.motd }

// readLoop reads frames until the connection ends. It owns c.frames'
// sending side and c.readErr; Close waits for it. A server that breaks the
// protocol is hung up on at once (CloseNow): a close handshake with it could
// stall for seconds.
func (c *Conn) readLoop(ctx context.Context) {
	defer close(c.readerDone)
	for {
		typ, data, err := c.ws.Read(ctx)
		if err != nil {
			c.readErr = readError(err)
			return
		}
		if typ != websocket.MessageText {
			c.readErr = fmt.Errorf("%w: binary frame", ErrProtocol)
			_ = c.ws.CloseNow()
			return
		}
		f, err := wire.ParseFrame(data)
		if err == nil && !serverType(f.Type) {
			err = fmt.Errorf("frame type %q from server", f.Type)
		}
		if err != nil {
			c.readErr = fmt.Errorf("%w: %w", ErrProtocol, err)
			_ = c.ws.CloseNow()
			return
		}
		select {
		case c.frames <- f:
		default:
			c.readErr = fmt.Errorf("%w: more than %d frames unread", ErrProtocol, frameQueue)
			_ = c.ws.CloseNow()
			return
		}
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
func (c *Conn) Add(ctx context.Context, body []byte) error {
	if len(body) > wire.MaxBody {
		return fmt.Errorf("%w: body of %d bytes (max %d)", ErrTooLarge, len(body), wire.MaxBody)
	}
	if len(body) == 0 {
		return fmt.Errorf("%w: empty body", ErrBadRequest)
	}
	c.mu.Lock()
	bound := c.bound
	c.mu.Unlock()
	if !bound {
		return fmt.Errorf("%w: add before allocate or claim", ErrState)
	}
	return c.send(ctx, wire.Frame{Type: wire.TypeAdd, Body: body})
}

// send writes one frame. If ctx ends during the write the WebSocket is
// closed: a half-written frame cannot be taken back.
func (c *Conn) send(ctx context.Context, f wire.Frame) error {
	b, err := f.Marshal()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	select {
	case <-c.readerDone:
		return c.readErr
	default:
	}
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
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

// shutdown closes the WebSocket and waits for the reader goroutine.
func (c *Conn) shutdown() {
	c.cancel()
	_ = c.ws.CloseNow()
	<-c.readerDone
}
