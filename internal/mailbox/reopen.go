package mailbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/wire"
)

// Re-opening a mailbox (docs/protocol.md, section 3). With
// DialOptions.Reopen the server hands this side a reopen token in "paired".
// When the WebSocket drops afterwards — the network changed, a NAT forgot
// the TCP mapping — the reader dials again with backoff and sends "reopen"
// with the mailbox id, the token and how many messages it has read; the
// server answers "reopened" with how many of this side's bodies it
// accepted, this side sends the rest again in order, and the server sends
// the messages it had not delivered. Nothing is lost or delivered twice,
// and the per-side body limit counts each body once.

const (
	// reopenBackoffMin and reopenBackoffMax bound the pause between two
	// reopen attempts.
	reopenBackoffMin = 250 * time.Millisecond
	reopenBackoffMax = 4 * time.Second
	// reopenDialTimeout bounds one attempt: dial, welcome, reopened and
	// sending the lost bodies again.
	reopenDialTimeout = 10 * time.Second
)

// mayReopen says whether the reader should reopen the mailbox after its
// connection failed, and if so marks the connection down, so that Add keeps
// bodies for the reopen instead of writing them.
func (c *Conn) mayReopen(ctx context.Context) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx.Err() != nil || !c.reopenableLocked() {
		return false
	}
	c.down = true
	return true
}

// reopen dials until the mailbox is reopened on a new WebSocket, which it
// returns, or until wire.ReopenGrace has passed since the drop, the server
// refused, or ctx ended. It runs on the reader goroutine.
func (c *Conn) reopen(ctx context.Context, cause error) (*websocket.Conn, error) {
	c.log.Info("mailbox connection lost, reopening", "err", cause)
	start := time.Now()
	deadline := start.Add(wire.ReopenGrace)
	backoff := reopenBackoffMin
	for attempt := 1; ; attempt++ {
		ws, resent, err := c.reopenOnce(ctx, deadline)
		if err == nil {
			c.log.Info("mailbox reopened", "attempt", attempt, "after", time.Since(start).Round(time.Millisecond), "resent", resent)
			return ws, nil
		}
		var se *ServerError
		if errors.As(err, &se) && !errors.Is(err, ErrRateLimited) {
			return nil, fmt.Errorf("%w: mailbox not reopened: %w", ErrClosed, err)
		}
		if errors.Is(err, ErrProtocol) {
			return nil, err
		}
		c.log.Debug("mailbox reopen failed", "attempt", attempt, "err", err)
		wait := min(backoff, time.Until(deadline))
		if wait <= 0 {
			return nil, fmt.Errorf("%w: mailbox not reopened within %s: %w", ErrClosed, wire.ReopenGrace, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("%w: %w", ErrClosed, ctx.Err())
		}
		backoff = min(2*backoff, reopenBackoffMax)
	}
}

// reopenOnce makes one attempt: dial, welcome, reopen, reopened, then the
// bodies the server did not get, and the new WebSocket becomes current. It
// returns how many bodies it sent again.
func (c *Conn) reopenOnce(ctx context.Context, deadline time.Time) (_ *websocket.Conn, resent int, err error) {
	if d := time.Now().Add(reopenDialTimeout); d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	ws, err := c.dialWS(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil {
			_ = ws.CloseNow()
		}
	}()
	c.mu.Lock()
	req := wire.Frame{Type: wire.TypeReopen, Mailbox: c.id, Token: c.token, Received: c.received}
	c.mu.Unlock()
	b, err := req.Marshal()
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if f, err := readOne(ctx, ws); err != nil {
		return nil, 0, err
	} else if f.Type != wire.TypeWelcome || f.Version != 1 {
		return nil, 0, fmt.Errorf("%w: expected welcome for version 1, got %s version %d", ErrProtocol, f.Type, f.Version)
	}
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		return nil, 0, err
	}
	f, err := readOne(ctx, ws)
	if err != nil {
		return nil, 0, err
	}
	switch f.Type {
	case wire.TypeReopened:
	case wire.TypeError:
		return nil, 0, &ServerError{Kind: f.Kind, Message: f.Message}
	default:
		return nil, 0, fmt.Errorf("%w: %s frame in reply to reopen", ErrProtocol, f.Type)
	}
	// Bodies go out in order: no Add writes until the new WebSocket is
	// current and the lost bodies are on it.
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.mu.Lock()
	sent := c.sent
	c.mu.Unlock()
	if f.Received > len(sent) {
		return nil, 0, fmt.Errorf("%w: server claims %d bodies, %d were added", ErrProtocol, f.Received, len(sent))
	}
	for _, body := range sent[f.Received:] {
		if err := ws.Write(ctx, websocket.MessageText, body); err != nil {
			return nil, 0, err
		}
	}
	c.mu.Lock()
	c.ws, c.down = ws, false
	c.mu.Unlock()
	return ws, len(sent) - f.Received, nil
}

// readOne reads one frame from a WebSocket nobody else reads yet.
func readOne(ctx context.Context, ws *websocket.Conn) (wire.Frame, error) {
	typ, data, err := ws.Read(ctx)
	if err != nil {
		return wire.Frame{}, readError(err)
	}
	if typ != websocket.MessageText {
		return wire.Frame{}, fmt.Errorf("%w: binary frame", ErrProtocol)
	}
	f, err := wire.ParseFrame(data)
	if err != nil {
		return wire.Frame{}, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return f, nil
}

// pingLoop pings the server every PingInterval while the connection is up,
// and drops a connection whose pong does not come back within the interval,
// so that the reader reopens it: a connection whose address went away or
// whose NAT mapping was reset may otherwise look alive for minutes.
func (c *Conn) pingLoop(ctx context.Context) {
	defer close(c.pingerDone)
	t := time.NewTicker(c.opts.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		ws, down := c.ws, c.down
		c.mu.Unlock()
		if down {
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, c.opts.PingInterval)
		err := ws.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			c.log.Debug("mailbox ping failed, dropping the connection", "err", err)
			_ = ws.CloseNow()
		}
	}
}
