package session

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// connectLoopback connects two peers on this machine's loopback and
// interface addresses.
func connectLoopback(t *testing.T, ctx context.Context, base Config) (*Session, *Session) {
	t.Helper()
	base.IncludeLoopback = true
	ca, cb, _, _ := pairConfigs(base)
	return mustConnect(t, ctx, ca, cb)
}

// openPair opens a channel from a and accepts it on b.
func openPair(t *testing.T, ctx context.Context, a, b *Session, label string) (*Channel, *Channel) {
	t.Helper()
	type accepted struct {
		c   *Channel
		err error
	}
	acc := make(chan accepted, 1)
	go func() {
		c, err := b.Accept(ctx)
		acc <- accepted{c, err}
	}()
	ca, err := a.Open(ctx, label)
	if err != nil {
		t.Fatalf("open %q: %v", label, err)
	}
	r := <-acc
	if r.err != nil {
		t.Fatalf("accept %q: %v", label, r.err)
	}
	if r.c.Label() != label {
		t.Fatalf("accepted %q, want %q", r.c.Label(), label)
	}
	return ca, r.c
}

// TestCloseKeepsData writes large amounts and closes the channel, then the
// whole session, right away: every byte must still arrive, followed by
// io.EOF. Closing with data in flight is the classic data-channel pitfall.
func TestCloseKeepsData(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := connectLoopback(t, ctx, Config{})

	size := int64(12 << 20)
	if raceEnabled {
		size = 2 << 20
	}
	const channels = 3
	type result struct {
		label string
		n     int64
		err   error
	}
	results := make(chan result, channels)
	var readers sync.WaitGroup
	readers.Add(channels)
	go func() {
		for range channels {
			c, err := b.Accept(ctx)
			if err != nil {
				results <- result{err: err}
				readers.Done()
				continue
			}
			go func() {
				defer readers.Done()
				n, err := readPattern(c, 32<<10)
				results <- result{c.Label(), n, err}
			}()
		}
	}()

	var writers sync.WaitGroup
	writeErrs := make(chan error, channels)
	for i := range channels {
		c, err := a.Open(ctx, fmt.Sprintf("ch%d", i))
		if err != nil {
			t.Fatal(err)
		}
		writers.Add(1)
		go func() {
			defer writers.Done()
			// One huge Write, then Close at once.
			buf := make([]byte, size)
			pattern(buf, 0)
			if _, err := c.Write(buf); err != nil {
				writeErrs <- err
				return
			}
			writeErrs <- c.Close()
		}()
	}
	writers.Wait()
	if err := a.Close(); err != nil { // at once, with the peer maybe still reading
		t.Fatal(err)
	}
	for range channels {
		if err := <-writeErrs; err != nil {
			t.Fatalf("write/close: %v", err)
		}
	}
	readers.Wait()
	for range channels {
		r := <-results
		if r.err != nil || r.n != size {
			t.Errorf("channel %s: read %d of %d bytes, err %v", r.label, r.n, size, r.err)
		}
	}
}

// TestBackpressure checks that Write never lets more than highWater plus one
// message pile up in pion, with a reader slower than the writer, and that the
// buffer was in fact used (so the check can fail).
func TestBackpressure(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := connectLoopback(t, ctx, Config{})
	ca, cb := openPair(t, ctx, a, b, "bp")

	size := int64(16 << 20)
	if raceEnabled {
		size = 4 << 20
	}
	done := make(chan error, 1)
	go func() {
		// Small reads: many more calls per byte than the writer makes.
		n, err := readPattern(cb, 512)
		if err == nil && n != size {
			err = fmt.Errorf("read %d of %d bytes", n, size)
		}
		done <- err
	}()
	if err := writePattern(ca, size, 8<<20); err != nil {
		t.Fatal(err)
	}
	if err := ca.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	maxBuf := ca.maxBuffered.Load()
	t.Logf("largest send buffer: %d KiB", maxBuf>>10)
	if maxBuf > highWater+uint64(ca.chunk) {
		t.Errorf("send buffer reached %d bytes, limit %d", maxBuf, highWater+ca.chunk)
	}
	if maxBuf <= lowWater {
		t.Errorf("send buffer never exceeded the low-water mark (%d bytes): backpressure not exercised", maxBuf)
	}
}

// TestWriteBlocksWithoutReader: with a peer that does not read, Write must
// stall (its bytes cannot all be buffered), and Close must end the stalled
// Write with ErrClosed at once, without lingering.
func TestWriteBlocksWithoutReader(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := connectLoopback(t, ctx, Config{})
	ca, cb := openPair(t, ctx, a, b, "stall")

	const size = 16 << 20
	type result struct {
		n   int
		err error
	}
	wrote := make(chan result, 1)
	go func() {
		n, err := ca.Write(make([]byte, size))
		wrote <- result{n, err}
	}()
	// Wait until the writer sits on a full buffer: it filled the send
	// buffer past the high-water mark at least once, and the amount has
	// stopped moving because the peer's receive window is full. Write then
	// waits for the amount to fall to the low-water mark, which it never
	// will, wherever between the marks the last acknowledgement left it.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	last, still := uint64(0), 0
	for ca.maxBuffered.Load() <= highWater || still < 10 {
		select {
		case r := <-wrote:
			t.Fatalf("Write of %d bytes returned (%d, %v) with nobody reading", size, r.n, r.err)
		case <-ctx.Done():
			t.Fatalf("the send buffer never filled: %d bytes buffered now, %d at most", ca.rwc.BufferedAmount(), ca.maxBuffered.Load())
		case <-tick.C:
		}
		if b := ca.rwc.BufferedAmount(); b != last || b <= lowWater {
			last, still = b, 0
		} else {
			still++
		}
	}
	start := time.Now()
	if err := ca.Close(); err != nil {
		t.Fatal(err)
	}
	r := <-wrote
	if !errors.Is(r.err, ErrClosed) || r.n >= size {
		t.Errorf("stalled Write returned (%d, %v), want a short count and ErrClosed", r.n, r.err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close of an aborted channel took %v", d)
	}
	_ = cb.Close()
}

// TestMessageBoundaries sends messages of many sizes, including empty ones
// and ones larger than Write's chunk, and reads them back through tiny and
// huge buffers: Read is a byte stream that keeps the unread rest of a
// message.
func TestMessageBoundaries(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := connectLoopback(t, ctx, Config{})

	sizes := []int{1, 0, 7, 1000, writeChunk - 1, writeChunk, writeChunk + 1, 100_000, maxInbound, 3, maxInbound - 5, 0, 12345}
	var want bytes.Buffer
	for i, n := range sizes {
		m := make([]byte, n)
		pattern(m, int64(i)*7919)
		want.Write(m)
	}
	for _, readSize := range []int{1, 7, 4096, 1 << 20} {
		t.Run(fmt.Sprintf("read%d", readSize), func(t *testing.T) {
			ca, cb := openPair(t, ctx, a, b, fmt.Sprintf("msg%d", readSize))
			errc := make(chan error, 1)
			go func() {
				// Raw messages, one per size, bypassing Write's splitting.
				for i, n := range sizes {
					m := make([]byte, n)
					pattern(m, int64(i)*7919)
					if _, err := ca.rwc.Write(m); err != nil {
						errc <- err
						return
					}
				}
				errc <- ca.Close()
			}()
			var got bytes.Buffer
			buf := make([]byte, readSize)
			for {
				n, err := cb.Read(buf)
				got.Write(buf[:n])
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("read: %v", err)
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Fatalf("read %d bytes that differ from the %d written", got.Len(), want.Len())
			}
			if n, err := cb.Read(buf); n != 0 || err != io.EOF {
				t.Errorf("Read after EOF = %d, %v; want 0, io.EOF", n, err)
			}
			_ = cb.Close()
		})
	}
}

// TestDuplex: both sides write at once; each closes once it has written its
// part and read the other's (a protocol's own framing tells it when), and
// both Closes return. There is no half-close: pion resets a stream's
// outgoing side when its reader reaches EOF.
func TestDuplex(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := connectLoopback(t, ctx, Config{})
	ca, cb := openPair(t, ctx, a, b, "duplex")
	const size = 3 << 20
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, c := range []*Channel{ca, cb} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			werr := make(chan error, 1)
			go func() { werr <- writePattern(c, size, 100_000) }()
			n, err := readPattern(io.LimitReader(c, size), 64<<10)
			if err == nil && n != size {
				err = fmt.Errorf("read %d of %d", n, size)
			}
			errs <- errors.Join(err, <-werr, c.Close())
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestWriteAfterPeerClose: once the peer closed the channel and we read its
// EOF, Write fails with io.ErrClosedPipe.
func TestWriteAfterPeerClose(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := connectLoopback(t, ctx, Config{})
	ca, cb := openPair(t, ctx, a, b, "half")
	closed := make(chan error, 1)
	go func() { closed <- ca.Close() }()
	if n, err := cb.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("Read = %d, %v; want io.EOF", n, err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Write([]byte("late")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Write after the peer closed = %v, want io.ErrClosedPipe", err)
	}
	if err := cb.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCloseUnblocks: Channel.Close ends a blocked Read; Session.Close ends a
// blocked Accept and Read on the other channels.
func TestCloseUnblocks(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Nobody reads on a's side, so b's Channel.Close gives up waiting for
	// a's confirmation after the linger time.
	a, b := connectLoopback(t, ctx, Config{linger: 200 * time.Millisecond})
	_, cb := openPair(t, ctx, a, b, "one")
	_, cb2 := openPair(t, ctx, a, b, "two")

	readErr := make(chan error, 2)
	go func() { _, err := cb.Read(make([]byte, 10)); readErr <- err }()
	go func() { _, err := cb2.Read(make([]byte, 10)); readErr <- err }()
	acceptErr := make(chan error, 1)
	go func() { _, err := b.Accept(ctx); acceptErr <- err }()

	if err := cb.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; !errors.Is(err, ErrClosed) {
		t.Errorf("Read blocked during Channel.Close = %v, want ErrClosed", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; !errors.Is(err, ErrClosed) {
		t.Errorf("Read blocked during Session.Close = %v, want ErrClosed", err)
	}
	if err := <-acceptErr; !errors.Is(err, ErrClosed) {
		t.Errorf("Accept blocked during Session.Close = %v, want ErrClosed", err)
	}
	if _, err := cb2.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Session.Close = %v, want ErrClosed", err)
	}
	// Close twice, concurrently: both return when teardown is done.
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); _ = b.Close() }()
	}
	wg.Wait()
}

// TestLabels: "ctl" and the empty label are reserved; Open after the peer
// closed fails with the peer's reason.
func TestLabels(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := connectLoopback(t, ctx, Config{})
	for _, l := range []string{"ctl", ""} {
		if _, err := a.Open(ctx, l); !errors.Is(err, ErrLabel) {
			t.Errorf("Open(%q) = %v, want ErrLabel", l, err)
		}
	}
	// Labels are carried as is, in order.
	for _, l := range []string{"file/1", "chat", "ünïcode ✓"} {
		_, cb := openPair(t, ctx, a, b, l)
		_ = cb
	}
	_ = b.Close()
	<-a.Done()
	if _, err := a.Open(ctx, "x"); !errors.Is(err, ErrPeerClosed) {
		t.Errorf("Open after the peer left = %v, want ErrPeerClosed", err)
	}
}
