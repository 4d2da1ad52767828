package consult

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/direkt/direkt/internal/session"
)

// Links and resuming (docs/consult.md, "Resuming").
//
// A consultation runs over a link: a session and its consult channel, with
// a reader, a writer, an acceptor of file channels and a watcher of the
// session. A resumable consultation (Config.Resumable) that loses its link
// is suspended rather than ended; Resume gives it a new session. Both sides
// then send "resume" first on the new consult channel: how many lines they
// received (got) and how many they had queued (sent). Each resends the
// lines the other did not get, from what it keeps, so every line arrives
// exactly once. Files in flight when the link was lost fail on both sides
// (whyRebuilt); once the sender has every line the receiver had queued at
// its resume, a verdict on its way among them, it offers each such file
// without a verdict again under the same id (reofferLocked), at most
// maxReoffers times.

// whyRebuilt is the error of a file that was in flight when the connection
// had to be rebuilt; the sender offers it again unless it did so
// maxReoffers times already (whyGaveUp).
const (
	whyRebuilt = "the connection was rebuilt while the file was in flight"
	whyGaveUp  = "the connection was rebuilt while the file was in flight, too often; send it again"
)

// link is one session the consultation runs over.
type link struct {
	s       *session.Session
	ch      *session.Channel // "consult"
	ctx     context.Context  // ends when the link is lost or at teardown
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the link's four goroutines
	again   bool           // not the first: "resume" comes first each way
	got     int            // lines received when it began (resumed links)
	sent    int            // lines queued when it began: our "resume"'s sent
	resumed chan struct{}  // closed when the peer's "resume" arrived
	peerGot int            // its "got"; set before resumed is closed
	lost    bool           // linkLost ran; mu must be held
	// reoffered: the files in flight at the loss were offered again; mu
	// must be held.
	reoffered bool
}

func newLink(parent context.Context, s *session.Session, ch *session.Channel, again bool) *link {
	ctx, cancel := context.WithCancel(parent)
	return &link{s: s, ch: ch, ctx: ctx, cancel: cancel, again: again, resumed: make(chan struct{})}
}

// startLinkLocked starts l's goroutines; they count in c.wg too. mu must be
// held and teardown must not have begun (closing false).
func (c *Consultation) startLinkLocked(l *link) {
	for _, f := range []func(*link){c.readLoop, c.writeLoop, c.acceptLoop, c.watch} {
		l.wg.Add(1)
		c.wg.Go(func() {
			defer l.wg.Done()
			f(l)
		})
	}
}

// current returns the link in use.
func (c *Consultation) current() *link {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ln
}

// linkLost handles the loss of l: a resumable consultation is suspended,
// any other ends.
func (c *Consultation) linkLost(l *link, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || l.lost || c.ln != l || c.ctx.Err() != nil {
		return
	}
	l.lost = true
	if !c.resumable || !c.gotHello {
		c.finishLocked(endLost, 0, "connection lost", err)
		return
	}
	c.suspended = true
	l.cancel()
	close(c.suspendCh)
	c.log.Info("connection lost; the consultation waits for a new one", "err", err)
	c.changedLocked()
}

// Suspended returns a channel that is closed while the consultation waits
// for a new session (Config.Resumable): the session or the consult channel
// was lost. Resume or Abandon decides; after a Resume, call Suspended again
// for the next loss.
func (c *Consultation) Suspended() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.suspendCh
}

// Abandon ends a suspended consultation as lost, with err as the cause. It
// does nothing to a consultation that runs or ended.
func (c *Consultation) Abandon(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.suspended || c.ended {
		return
	}
	c.finishLocked(endLost, 0, "connection lost", fmt.Errorf("%w: %w", ErrConnectionLost, err))
}

// Resume carries a suspended consultation on over s, a new session with the
// same peer: it waits until the old link's goroutines are down (close the
// old session first), opens (host) or accepts (client) the consult channel
// on s, exchanges "resume" and returns once the peer's arrived. Lines the
// peer did not get are sent again; files in flight fail. On failure the
// consultation is suspended again (or ended); the caller still owns s.
func (c *Consultation) Resume(ctx context.Context, s *session.Session) error {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return ErrEnded
	}
	if !c.suspended {
		c.mu.Unlock()
		return fmt.Errorf("%w: the consultation is not suspended", ErrInvalid)
	}
	old := c.ln
	c.mu.Unlock()

	down := make(chan struct{})
	go func() {
		old.wg.Wait()
		close(down)
	}()
	select {
	case <-down:
	case <-ctx.Done():
		return fmt.Errorf("consult: resume: the old connection is still up: %w", context.Cause(ctx))
	case <-c.finishing:
		return ErrEnded
	}
	ch, err := c.openConsult(ctx, s)
	if err != nil {
		return fmt.Errorf("consult: resume: open the %q channel: %w", consultLabel, err)
	}

	c.mu.Lock()
	if c.ended || c.closing {
		c.mu.Unlock()
		_ = ch.Close()
		return ErrEnded
	}
	l := newLink(c.ctx, s, ch, true)
	l.got = c.got
	// Every line queued so far may have gone out on an old link, none
	// queued from now on did: a re-offer's "file" comes after this count.
	c.outMu.Lock()
	l.sent = len(c.out)
	c.outMu.Unlock()
	c.ln = l
	c.suspended = false
	c.suspendCh = make(chan struct{})
	for _, f := range c.files {
		switch {
		case f.State == FileSending:
			f.setFinal(FileFailed, whyRebuilt)
			f.rebuilt = true
		case f.broke == old && f.State == FileFailed && !f.rebuilt && !f.verdict && f.Kind == KindDoc:
			// It failed as its channel broke, most likely with the old
			// connection: in flight all the same.
			f.Error, f.rebuilt = whyRebuilt, true
		}
	}
	for id, och := range c.orphans {
		delete(c.orphans, id)
		c.closeLaterLocked(och)
	}
	c.startLinkLocked(l)
	c.changedLocked()
	c.mu.Unlock()
	c.log.Info("resuming the consultation over a new connection", "got", l.got)

	select {
	case <-l.resumed:
	case <-l.ctx.Done():
		return fmt.Errorf("%w: lost again while resuming", ErrConnectionLost)
	case <-ctx.Done():
		err := fmt.Errorf("consult: resume: no resume from the peer: %w", context.Cause(ctx))
		c.linkLost(l, fmt.Errorf("%w: %w", ErrConnectionLost, err)) // suspended again, for Abandon
		return err
	}
	return nil
}

// watch reports the loss of l when its session ends.
func (c *Consultation) watch(l *link) {
	select {
	case <-l.s.Done():
		err := l.s.Err()
		if err == nil {
			err = session.ErrClosed
		}
		c.linkLost(l, fmt.Errorf("%w: %w", ErrConnectionLost, err))
	case <-l.ctx.Done():
	}
}

// acceptLoop takes the channels the peer opens on l: "file/<id>" for
// announced files; everything else is refused.
func (c *Consultation) acceptLoop(l *link) {
	for {
		ch, err := l.s.Accept(l.ctx)
		if err != nil {
			return // teardown, or the session ended (watch reports it)
		}
		c.onChannel(ch)
	}
}

// writeLoop writes queued lines in order on l. It is the only writer of the
// consult channel, so no caller ever blocks on the peer's reading while it
// holds mu. On a resumed link it first sends "resume" and waits for the
// peer's, then goes on from the first line the peer did not get.
func (c *Consultation) writeLoop(l *link) {
	if l.again {
		line, err := marshalLine(message{T: tResume, Got: ptr(int64(l.got)), Sent: ptr(int64(l.sent))})
		if err == nil {
			_, err = l.ch.Write(line)
		}
		if err != nil {
			c.linkLost(l, fmt.Errorf("%w: %w", ErrConnectionLost, err))
			return
		}
		select {
		case <-l.resumed:
			n := l.peerGot
			c.outMu.Lock()
			c.wrote = n // checked by onResume: n ≤ len(c.out)
			for i := range n {
				c.out[i].line = nil
			}
			c.outMu.Unlock()
		case <-l.ctx.Done():
			return
		}
	}
	for {
		c.outMu.Lock()
		if c.broken != nil {
			c.failPendingLocked()
		}
		if c.wrote < len(c.out) && c.broken == nil {
			i := c.wrote
			m := c.out[i]
			c.outMu.Unlock()
			if _, err := l.ch.Write(m.line); err != nil {
				if c.resumable {
					c.linkLost(l, fmt.Errorf("%w: %w", ErrConnectionLost, err))
					return
				}
				c.outMu.Lock()
				c.broken = err
				c.outMu.Unlock()
				c.linkLost(l, fmt.Errorf("%w: %w", ErrConnectionLost, err))
				continue
			}
			c.outMu.Lock()
			if c.wrote == i {
				c.wrote++
			}
			select {
			case m.sent <- nil:
			default: // written before, on an earlier link
			}
			if !c.resumable {
				c.out[i].line = nil // kept only to be sent again
			}
			c.flushedLocked()
			c.outMu.Unlock()
			continue
		}
		c.outMu.Unlock()
		select {
		case <-c.outWake:
		case <-l.ctx.Done():
			return
		}
	}
}

// flushedLocked tells the flushers whose lines are written. outMu must be
// held.
func (c *Consultation) flushedLocked() {
	keep := c.flushers[:0]
	for _, f := range c.flushers {
		if f.at <= c.wrote {
			f.sent <- nil
			continue
		}
		keep = append(keep, f)
	}
	c.flushers = keep
}

// failPendingLocked reports the broken channel to everyone waiting for a
// write. outMu must be held.
func (c *Consultation) failPendingLocked() {
	for i := c.wrote; i < len(c.out); i++ {
		select {
		case c.out[i].sent <- c.broken:
		default:
		}
		c.out[i].line = nil
	}
	c.wrote = len(c.out)
	for _, f := range c.flushers {
		f.sent <- c.broken
	}
	c.flushers = nil
}

// readLoop reads and handles the peer's lines on l until the channel ends.
func (c *Consultation) readLoop(l *link) {
	lr := newLineReader(l.ch)
	first := l.again
	for {
		line, err := lr.next()
		if err != nil {
			c.readFailed(l, err)
			return
		}
		m, err := parseLine(line)
		switch {
		case err != nil:
		case first:
			first = false
			err = c.onResume(l, m)
		default:
			err = c.handle(m)
		}
		if err == nil && l.again {
			c.reoffer(l)
		}
		if err != nil {
			if l.ctx.Err() == nil {
				c.protocolError(err)
			}
			return
		}
	}
}

// onResume takes the peer's "resume", the first line on a resumed link.
func (c *Consultation) onResume(l *link, m message) error {
	if m.T != tResume {
		return perr("the first message on a new consult channel is not resume")
	}
	c.outMu.Lock()
	queued := len(c.out)
	c.outMu.Unlock()
	got, sent := *m.Got, *m.Sent
	if got > int64(queued) {
		return perr("resume: the peer got %d lines of %d", got, queued)
	}
	c.mu.Lock()
	if sent < int64(c.got) {
		c.mu.Unlock()
		return perr("resume: the peer sent %d lines, %d arrived", sent, c.got)
	}
	c.peerSent = int(sent)
	c.mu.Unlock()
	l.peerGot = int(got)
	close(l.resumed)
	return nil
}

// reoffer offers again, once per resumed link, our files that failed
// because the connection was rebuilt while they were in flight, as soon as
// we have every line the peer had queued at its "resume": a verdict the
// receiver sent before it lost the old connection is among them, and a
// file without one did not arrive and never will under that attempt.
func (c *Consultation) reoffer(l *link) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l.reoffered || c.ln != l || c.ended || !isClosed(l.resumed) || c.got < c.peerSent {
		return
	}
	l.reoffered = true
	n := 0
	for _, f := range c.files {
		if !f.out || !f.rebuilt || f.verdict || f.State != FileFailed || f.Kind != KindDoc {
			continue
		}
		if f.Resent >= maxReoffers {
			f.Error = whyGaveUp
			continue
		}
		f.try++
		f.Resent++
		f.rebuilt, f.broke = false, nil
		f.State, f.Error, f.Done = FileSending, "", 0
		c.startSendLocked(f)
		n++
	}
	if n > 0 {
		c.log.Info("offering files in flight again over the new connection", "files", n)
		c.changedLocked()
	}
}

func (c *Consultation) readFailed(l *link, err error) {
	if l.ctx.Err() != nil {
		return // teardown, or lost already
	}
	switch {
	case errors.Is(err, ErrProtocol):
		c.protocolError(err)
	case errors.Is(err, io.EOF):
		c.linkLost(l, fmt.Errorf("%w: the peer closed the consultation channel", ErrConnectionLost))
	default:
		c.linkLost(l, fmt.Errorf("%w: %w", ErrConnectionLost, err))
	}
}
