package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/wire"
)

// keepUp carries a browser client's consultation over new connections
// (docs/protocol.md, section 5.2): whenever the consultation is suspended
// because its session was lost, it waits for the browser's "reconnect" on
// the mailbox, connects anew over the same pairing and resumes the
// consultation there. It gives up, ending the consultation as lost, when
// no new connection is up within session.ReconnectWait. It returns when
// the consultation ends or ctx does.
func (b *base) keepUp(ctx context.Context, l *live) {
	for {
		select {
		case <-l.cons.Suspended():
		case <-l.cons.Done():
			return
		case <-ctx.Done():
			return
		}
		t0 := time.Now()
		if err := b.reconnect(ctx, l); err != nil {
			if ctx.Err() == nil {
				b.log.Warn("the connection to the browser could not be rebuilt", "err", err)
			}
			l.cons.Abandon(err)
			return
		}
		b.log.Info("the consultation goes on over a new connection", "after", time.Since(t0).Round(time.Millisecond))
		b.notify()
	}
}

// reconnect replaces l's lost session by a new one and resumes the
// consultation on it.
func (b *base) reconnect(ctx context.Context, l *live) error {
	b.mu.Lock()
	old := l.sess
	b.mu.Unlock()
	asked := errors.Is(old.Err(), session.ErrPeerReconnects)
	// Closing the old session lets the consultation's old goroutines go.
	// No "bye": the browser is to come back over the same mailbox.
	old.Drop()
	rctx, cancel := context.WithTimeout(ctx, session.ReconnectWait)
	defer cancel()
	if !asked {
		b.log.Info("the connection to the browser was lost; waiting for it to reconnect", "cause", old.Err())
		if err := awaitReconnect(rctx, l); err != nil {
			return err
		}
	}
	for {
		sess, err := session.Connect(rctx, sessionConfig(l.pair, b.cfg.Policy, b.cfg.IncludeLoopback, b.cfg.TURNDial, b.log))
		if err == nil {
			if err = l.cons.Resume(rctx, sess); err != nil {
				sess.Close()
				return err
			}
			b.mu.Lock()
			l.sess = sess
			b.mu.Unlock()
			// The share goes on over the new connection's video.
			l.scr.Attach(sess.Video())
			return nil
		}
		if rctx.Err() != nil || !errors.Is(err, session.ErrPeerReconnects) {
			return fmt.Errorf("new connection: %w", err)
		}
		// The browser gave that attempt up and asks again.
	}
}

// awaitReconnect reads the mailbox until the browser asks for a new
// connection. What else arrives belongs to the lost connection (late
// candidates, a restart request) and is dropped; a "bye" or a closed
// mailbox means the browser left.
func awaitReconnect(ctx context.Context, l *live) error {
	for {
		sig, err := l.pair.Recv(ctx)
		if err != nil {
			return fmt.Errorf("waiting for the browser to reconnect: %w", err)
		}
		switch sig.T {
		case wire.SignalReconnect:
			return nil
		case wire.SignalBye:
			return fmt.Errorf("%w: the browser left", session.ErrPeerClosed)
		}
	}
}
