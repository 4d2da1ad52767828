package transfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// lingerTime bounds how long a side that has said its last word (ack, abort)
// waits for the peer to close the stream, so that closing does not cut off
// that last frame on transports that drop unsent data on close.
const lingerTime = 2 * time.Second

// conn owns the stream of one transfer: it closes it exactly once, either when
// the transfer ends or when the context is cancelled (to unblock reads and
// writes).
type conn struct {
	rw        io.ReadWriteCloser
	closeOnce sync.Once
	closeErr  error
}

func (c *conn) close() error {
	c.closeOnce.Do(func() { c.closeErr = c.rw.Close() })
	return c.closeErr
}

// streamError classifies a failed read or write on the stream: the caller's
// cancellation wins, everything else means the peer is gone.
func streamError(ctx context.Context, err error) error {
	if cerr := context.Cause(ctx); cerr != nil {
		return fmt.Errorf("transfer: %w", cerr)
	}
	if errors.Is(err, ErrProtocol) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrPeerGone, err)
}

// logger returns l or a logger that discards.
func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
