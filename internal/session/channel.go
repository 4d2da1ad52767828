package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/datachannel"
	"github.com/pion/sctp"
	"github.com/pion/webrtc/v4"
)

const (
	// writeChunk is the largest message Write sends, capped by the peer's
	// max-message-size (RFC 8841, section 6). BenchmarkChannel measured 16,
	// 32 and 64 KiB on loopback: the same CPU per byte (pion's SCTP, one
	// sendmsg per 1200-byte packet, dominates), 32 KiB a little faster than
	// 64 KiB in every paired run, 16 KiB slower. Every browser takes 32 KiB.
	writeChunk = 32 << 10
	// maxInbound is the largest message we accept and advertise. Our own
	// writer stays at writeChunk; browsers send what the application gives
	// them, up to this.
	maxInbound = 256 << 10
	// Write blocks while more than highWater bytes are queued or in flight
	// on the channel, and resumes when pion reports the queue fell to
	// lowWater (the RTCDataChannel bufferedAmountLowThreshold pattern). So
	// one channel never holds more than highWater+writeChunk bytes of
	// a caller's data, however much it writes.
	highWater = 1 << 20
	lowWater  = 512 << 10
	// defaultLinger bounds each wait in Channel.Close: for the queued data
	// to drain, and for the peer to confirm the close. A peer that makes no
	// progress for this long is given up on.
	defaultLinger = 5 * time.Second
)

// detached is what pion's detached data channel (*datachannel.DataChannel)
// offers: the stream plus its send-buffer accounting.
type detached interface {
	datachannel.ReadWriteCloserDeadliner
	BufferedAmount() uint64
	SetBufferedAmountLowThreshold(th uint64)
	OnBufferedAmountLow(f func())
}

// detach takes the stream out of an open pion data channel.
func detach(dc *webrtc.DataChannel) (detached, error) {
	rwc, err := dc.DetachWithDeadline()
	if err != nil {
		return nil, fmt.Errorf("session: detach channel: %w", err)
	}
	d, ok := rwc.(detached)
	if !ok {
		_ = rwc.Close()
		return nil, fmt.Errorf("session: detach channel: pion returned %T without buffered-amount control", rwc)
	}
	return d, nil
}

// lowSignal makes d's buffered-amount-low event a channel. pion calls the
// callback from the SCTP read loop, so it must not block: a pending signal is
// enough, waiters re-check the amount anyway.
func lowSignal(d detached) chan struct{} {
	low := make(chan struct{}, 1)
	d.OnBufferedAmountLow(func() {
		select {
		case low <- struct{}{}:
		default:
		}
	})
	return low
}

// drained waits until everything written on d was acknowledged by the peer's
// SCTP stack (BufferedAmount counts queued and in-flight bytes), or until ctx
// or the session ends. It reports whether d drained.
func drained(ctx context.Context, d detached, done <-chan struct{}) bool {
	d.SetBufferedAmountLowThreshold(0)
	low := lowSignal(d)
	for d.BufferedAmount() > 0 {
		select {
		case <-low:
		case <-done:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// Channel is a byte stream over one ordered, reliable data channel: Read
// returns bytes across message boundaries, Write splits into messages and
// blocks while the channel's send buffer is full. It is an
// io.ReadWriteCloser; one goroutine may Read while another Writes.
type Channel struct {
	label string
	s     *Session
	rwc   detached
	chunk int // largest message Write sends

	rmu   sync.Mutex // serializes Reads; guards rbuf, rpend, rerr
	rbuf  []byte     // one whole message; grows up to maxInbound
	rpend []byte     // unread rest of the last message
	rerr  error      // sticky read error

	wmu     sync.Mutex // serializes Writes and Close's drain
	low     chan struct{}
	writing atomic.Int32 // Writes in progress

	closing   chan struct{}
	closeOnce sync.Once

	maxBuffered atomic.Uint64 // high-water mark of BufferedAmount (tests)
}

func (s *Session) newChannel(label string, d detached) *Channel {
	chunk := writeChunk
	if m := int(s.pc.SCTP().GetCapabilities().MaxMessageSize); m > 0 && m < chunk {
		chunk = m
	}
	d.SetBufferedAmountLowThreshold(lowWater)
	return &Channel{
		label:   label,
		s:       s,
		rwc:     d,
		chunk:   chunk,
		rbuf:    make([]byte, writeChunk),
		low:     lowSignal(d),
		closing: make(chan struct{}),
	}
}

// Label returns the label the channel was opened with.
func (c *Channel) Label() string { return c.label }

// Read reads bytes the peer wrote. It returns io.EOF after the peer closed
// the channel and everything it wrote was read, ErrClosed after a local
// Close, and the session's error when the session ended.
func (c *Channel) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.rpend) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		if isClosed(c.closing) {
			return 0, fmt.Errorf("session: channel %q: %w", c.label, ErrClosed)
		}
		// pion returns one whole message per read and fails with
		// io.ErrShortBuffer, leaving the message queued, when it does not
		// fit. Read straight into p when it is big enough for any message
		// seen so far; that saves a copy for large reads.
		if len(p) >= len(c.rbuf) {
			n, err := c.rwc.Read(p)
			if err == nil {
				if n > 0 {
					return n, nil
				}
				continue // an empty message (RFC 8831, section 6.6)
			}
			if !errors.Is(err, io.ErrShortBuffer) {
				c.rerr = c.readErr(err)
				return 0, c.rerr
			}
		}
		n, err := c.rwc.Read(c.rbuf)
		if errors.Is(err, io.ErrShortBuffer) {
			if len(c.rbuf) >= maxInbound {
				c.rerr = fmt.Errorf("%w: channel %q: message larger than %d bytes", ErrProtocol, c.label, maxInbound)
				return 0, c.rerr
			}
			c.rbuf = make([]byte, 2*len(c.rbuf))
			continue
		}
		if err != nil {
			c.rerr = c.readErr(err)
			return 0, c.rerr
		}
		c.rpend = c.rbuf[:n]
	}
	n := copy(p, c.rpend)
	c.rpend = c.rpend[n:]
	return n, nil
}

func (c *Channel) readErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.EOF
	}
	return c.ioErr(err)
}

// ioErr turns a pion error into ours: ErrClosed after a local Close, the
// session's cause once it ended.
func (c *Channel) ioErr(err error) error {
	if isClosed(c.closing) {
		return fmt.Errorf("session: channel %q: %w", c.label, ErrClosed)
	}
	select {
	case <-c.s.done:
		if serr := c.s.Err(); serr != nil {
			return fmt.Errorf("session: channel %q: %w", c.label, serr)
		}
		return fmt.Errorf("session: channel %q: %w", c.label, ErrClosed)
	default:
		return fmt.Errorf("session: channel %q: %w", c.label, err)
	}
}

// Write writes p as one or more messages. It blocks while the channel's send
// buffer is above its high-water mark, and returns early with an error when
// the channel is closed or the session ends; the bytes counted in n were
// handed to SCTP.
func (c *Channel) Write(p []byte) (int, error) {
	c.writing.Add(1)
	defer c.writing.Add(-1)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	var total int
	for len(p) > 0 {
		if err := c.waitWritable(); err != nil {
			return total, err
		}
		n := min(len(p), c.chunk)
		if _, err := c.rwc.Write(p[:n]); err != nil {
			if errors.Is(err, sctp.ErrStreamClosed) && !isClosed(c.closing) && !isClosed(c.s.done) {
				// pion resets our side when our reader reached the
				// peer's EOF (RFC 8831, section 6.7).
				return total, fmt.Errorf("session: channel %q closed by the peer: %w", c.label, io.ErrClosedPipe)
			}
			return total, c.ioErr(err)
		}
		c.noteBuffered()
		total += n
		p = p[n:]
	}
	return total, nil
}

// waitWritable blocks while more than highWater bytes are buffered.
func (c *Channel) waitWritable() error {
	for c.rwc.BufferedAmount() > highWater {
		select {
		case <-c.low:
		case <-c.closing:
			return fmt.Errorf("session: channel %q: %w", c.label, ErrClosed)
		case <-c.s.done:
			return c.ioErr(ErrClosed)
		}
	}
	if isClosed(c.closing) {
		return fmt.Errorf("session: channel %q: %w", c.label, ErrClosed)
	}
	return nil
}

func (c *Channel) noteBuffered() {
	b := c.rwc.BufferedAmount()
	for {
		m := c.maxBuffered.Load()
		if b <= m || c.maxBuffered.CompareAndSwap(m, b) {
			return
		}
	}
}

// Close closes the channel so that the peer reads io.EOF after all the data
// written before. It waits until that data was acknowledged by the peer,
// resets the stream (RFC 8831, section 6.7), and waits for the peer to reset
// its side, which a direkt peer does once its reader reached EOF. Each wait
// gives up after 5 s without progress, or when the session ends.
//
// Blocked Reads and Writes return ErrClosed. A Close during a Write aborts:
// it does not wait, and the peer reads io.EOF after whatever part arrived, so
// a protocol that must tell a finished stream from an aborted one needs its
// own framing. Unread incoming data is discarded. Close is safe to call more
// than once; only the first call waits.
func (c *Channel) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.close() })
	return err
}

func (c *Channel) close() error {
	aborted := c.writing.Load() > 0
	close(c.closing)
	// Wake a blocked Read; it sees closing and returns ErrClosed.
	_ = c.rwc.SetReadDeadline(time.Now())
	c.wmu.Lock() // a Write in progress notices closing and returns
	defer c.wmu.Unlock()

	if aborted || isClosed(c.s.done) {
		_ = c.rwc.Close()
		return nil
	}
	linger := c.s.linger

	// The classic data-channel pitfall is closing with data still queued:
	// closing the PeerConnection right after would drop it. Wait until the
	// peer's SCTP acknowledged everything, measuring progress so that a
	// slow but moving peer is not cut off.
	c.rwc.SetBufferedAmountLowThreshold(0)
	last := c.rwc.BufferedAmount()
	idle := time.NewTimer(linger)
	defer idle.Stop()
drain:
	for last > 0 {
		select {
		case <-c.low:
		case <-c.s.done:
			_ = c.rwc.Close()
			return nil
		case <-idle.C:
			now := c.rwc.BufferedAmount()
			if now >= last {
				c.s.log.Debug("channel close: peer stopped acknowledging", "channel", c.label, "buffered", now)
				break drain
			}
			last = now
			idle.Reset(linger)
			continue
		}
		last = c.rwc.BufferedAmount()
	}

	// Reset our outgoing stream: the peer reads io.EOF after the data. pion
	// queues the reset behind the data, and the peer performs it only once
	// every earlier TSN arrived (RFC 6525, section 5.2.2).
	if err := c.rwc.Close(); err != nil {
		return c.ioErr(err)
	}

	// Wait for the peer to reset its side in turn: then the reset surely
	// arrived, and closing the session right after cannot turn the peer's
	// io.EOF into a connection error. Reading until EOF also discards what
	// the peer still sends.
	c.rmu.Lock()
	defer c.rmu.Unlock()
	c.rpend = nil
	if errors.Is(c.rerr, io.EOF) {
		return nil // the peer already closed its side
	}
	c.rerr = fmt.Errorf("session: channel %q: %w", c.label, ErrClosed)
	// First use up the wake-up deadline set above. pion implements it with
	// a timer goroutine that must have fired before the next deadline is
	// set, or it would overwrite that one's state. pion returns queued
	// data before a deadline error, so a peer that keeps sending could
	// keep us here: the clock bounds both loops.
	deadline := time.Now().Add(linger)
	for {
		err := c.discard()
		if err == nil {
			if time.Now().After(deadline) {
				return nil
			}
			continue
		}
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return nil // EOF: the peer closed already; or the session ended
		}
		break
	}
	_ = c.rwc.SetReadDeadline(deadline)
	for {
		err := c.discard()
		if err == nil {
			if time.Now().After(deadline) {
				return nil
			}
			continue
		}
		if !errors.Is(err, io.EOF) {
			c.s.log.Debug("channel close: the peer did not confirm", "channel", c.label, "err", err)
		}
		return nil
	}
}

// discard reads and drops one message. rmu must be held.
func (c *Channel) discard() error {
	for {
		_, err := c.rwc.Read(c.rbuf)
		if errors.Is(err, io.ErrShortBuffer) && len(c.rbuf) < maxInbound {
			c.rbuf = make([]byte, 2*len(c.rbuf))
			continue
		}
		return err
	}
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// Open opens a new ordered, reliable data channel with the given label and
// returns it once it is open. The peer receives it from Accept. "ctl" is
// reserved.
func (s *Session) Open(ctx context.Context, label string) (*Channel, error) {
	if label == "" || label == ctlLabel || len(label) > 65535 {
		return nil, fmt.Errorf("%w: %q", ErrLabel, printable(label, 32))
	}
	select {
	case <-s.done:
		return nil, s.closedErr()
	default:
	}
	dc, err := s.pc.CreateDataChannel(label, nil)
	if err != nil {
		return nil, s.ioFailure("open channel", err)
	}
	var (
		mu        sync.Mutex
		abandoned bool
	)
	opened := make(chan detached, 1)
	failed := make(chan error, 1)
	dc.OnOpen(func() {
		d, err := detach(dc)
		if err != nil {
			failed <- err
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if abandoned {
			_ = d.Close()
			return
		}
		opened <- d
	})
	abandon := func() {
		mu.Lock()
		abandoned = true
		mu.Unlock()
		select {
		case d := <-opened:
			_ = d.Close()
		default:
			_ = dc.Close()
		}
	}
	select {
	case d := <-opened:
		return s.newChannel(label, d), nil
	case err := <-failed:
		return nil, err
	case <-ctx.Done():
		abandon()
		return nil, fmt.Errorf("session: open %q: %w", printable(label, 32), context.Cause(ctx))
	case <-s.done:
		abandon()
		return nil, s.closedErr()
	}
}

// Accept returns the next channel the peer opened, in the order they opened.
func (s *Session) Accept(ctx context.Context) (*Channel, error) {
	for {
		s.mu.Lock()
		if len(s.accepted) > 0 {
			c := s.accepted[0]
			s.accepted[0] = nil
			s.accepted = s.accepted[1:]
			s.mu.Unlock()
			return c, nil
		}
		s.mu.Unlock()
		select {
		case <-s.acceptWake:
		case <-ctx.Done():
			return nil, fmt.Errorf("session: accept: %w", context.Cause(ctx))
		case <-s.done:
			return nil, s.closedErr()
		}
	}
}

func (s *Session) closedErr() error {
	if err := s.Err(); err != nil {
		return err
	}
	return ErrClosed
}

// onRemoteChannel is pion's OnDataChannel callback for channels the peer
// opened (never the negotiated ctl channel).
func (s *Session) onRemoteChannel(dc *webrtc.DataChannel) {
	label := dc.Label()
	if label == ctlLabel || !dc.Ordered() || dc.MaxRetransmits() != nil || dc.MaxPacketLifeTime() != nil {
		// Only ordered reliable channels make a byte stream; "ctl" is ours.
		s.log.Debug("refusing a channel the peer opened", "label", printable(label, 32))
		_ = dc.Close()
		return
	}
	dc.OnOpen(func() {
		d, err := detach(dc)
		if err != nil {
			s.log.Debug("accepting a channel", "err", err)
			return
		}
		c := s.newChannel(label, d)
		s.mu.Lock()
		if s.closing || len(s.accepted) >= maxAcceptQueue {
			s.mu.Unlock()
			_ = d.Close()
			return
		}
		s.accepted = append(s.accepted, c)
		s.mu.Unlock()
		select {
		case s.acceptWake <- struct{}{}:
		default:
		}
	})
}
