package transfer

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Sender pipeline sizes: a reader goroutine reads and hashes up to
// sendChunks MiB ahead of the network writes.
const (
	sendChunks   = 4
	writeBufSize = 64 << 10
	readBufSize  = 256 << 10
)

// Send sends the files and folders at paths (see Scan for what is sent and
// under which names) to a peer running Receive on the other end of rw.
//
// Send owns rw: it closes it before returning, and closes it early when ctx
// is cancelled, to unblock reads and writes. It returns after the receiver
// acknowledged that every file is stored and synced, or on the first failure.
// Result.Files lists the files the receiver stored, with their SHA-256;
// Result.Resumed the bytes the receiver already had. On failure the Result
// still lists what was stored so far.
//
// Send has no timeouts of its own: a receiver that keeps the stream open but
// stops answering (while deciding in Accept, or never acknowledging) is bounded
// only by ctx, which the caller should give a deadline or cancel on demand.
func Send(ctx context.Context, rw io.ReadWriteCloser, paths []string, opts SendOptions) (Result, error) {
	s := &sender{
		c:      &conn{rw: rw},
		log:    logger(opts.Logger),
		bw:     bufio.NewWriterSize(rw, writeBufSize),
		br:     bufio.NewReaderSize(rw, 4<<10),
		acked:  make(chan struct{}),
		rdDone: make(chan struct{}),
	}
	s.meter.fn = opts.Progress
	return s.run(ctx, paths)
}

// chunk is one frame on its way from the file reader to the network writer.
// The pool of chunks is fixed, so the steady state allocates nothing.
type chunk struct {
	buf  []byte // headerLen + maxData bytes; the frame is buf[:n]
	n    int
	kind byte
	off  int64 // frameFile: the offset the file continues at
	err  error // set on the last chunk when reading the files failed
}

type sender struct {
	c   *conn
	log *slog.Logger
	bw  *bufio.Writer
	br  *bufio.Reader

	m      Manifest
	srcs   []string
	offers []offer
	sums   [][]byte // written by the producer before it queues the end frame

	meter   meter
	resumed int64

	free, full chan *chunk
	probe      [1]byte // producer only

	// ends counts end frames queued for writing; the reader refuses a
	// verdict for a file whose end was not sent yet.
	ends atomic.Int64
	// doneSent is set before the done frame is queued.
	doneSent atomic.Bool

	// Set by the reader goroutine.
	mu       sync.Mutex
	verdicts []byte // status per file, len = verdicts received
	peerErr  error  // abort or protocol violation from the peer, or stream loss
	acked    chan struct{}
	rdDone   chan struct{}
}

func (s *sender) run(parent context.Context, paths []string) (res Result, err error) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := context.AfterFunc(ctx, func() { s.c.close() })
	var wg sync.WaitGroup
	defer func() {
		cancel(nil)
		s.c.close()
		wg.Wait()
		stop()
	}()

	m, srcs, err := scan(paths)
	if err != nil {
		s.abort(abortLocal, "the sender cannot read its files")
		return Result{}, err
	}
	body, err := marshalManifest(m)
	if err != nil {
		s.abort(abortLocal, "too many files")
		return Result{}, err
	}
	s.m, s.srcs = m, srcs
	s.meter.total = m.Total
	s.sums = make([][]byte, len(m.Files))
	s.log.DebugContext(ctx, "transfer: sending manifest", "files", len(m.Files), "dirs", len(m.Dirs), "bytes", m.Total)

	if err := s.writeFrame(frameManifest, body); err != nil {
		return Result{}, streamError(parent, err)
	}
	if err := s.bw.Flush(); err != nil {
		return Result{}, streamError(parent, err)
	}
	if err := s.readAnswer(); err != nil {
		if errors.Is(err, ErrProtocol) {
			s.abort(abortProtocol, "malformed answer")
		}
		if errors.Is(err, ErrProtocol) || errors.Is(err, ErrRejected) || errors.Is(err, ErrPeerAborted) {
			return Result{}, err
		}
		return Result{}, streamError(parent, err)
	}
	s.log.InfoContext(ctx, "transfer: receiver accepted", "files", len(m.Files), "bytes", m.Total, "resume_offers", len(s.offers))

	s.free = make(chan *chunk, sendChunks)
	s.full = make(chan *chunk, sendChunks)
	for range sendChunks {
		s.free <- &chunk{buf: make([]byte, headerLen+maxData)}
	}
	wg.Go(func() { s.readLoop(cancel) })
	wg.Go(func() { s.produce(ctx) })

	if err := s.pump(ctx); err != nil {
		return s.result(), s.fail(parent, err)
	}
	select {
	case <-s.acked:
	case <-s.rdDone:
	case <-ctx.Done():
	}
	if err := s.peerError(); err != nil {
		return s.result(), s.fail(parent, err)
	}
	select {
	case <-s.acked:
	default:
		return s.result(), s.fail(parent, context.Cause(ctx))
	}
	s.meter.finish()
	res = s.result()
	res.Resumed = s.resumed
	s.log.InfoContext(ctx, "transfer: sent", "files", len(res.Files), "bytes", m.Total, "resumed", s.resumed)
	return res, s.verdictError()
}

// readAnswer reads the receiver's accept, reject or abort.
func (s *sender) readAnswer() error {
	var hdr [headerLen]byte
	t, p, err := readFrameAlloc(s.br, hdr[:])
	if err != nil {
		return err
	}
	switch t {
	case frameAccept:
		s.offers, err = parseAccept(p, s.m.Files)
		return err
	case frameReject:
		return fmt.Errorf("%w: %s", ErrRejected, cleanReason(p))
	case frameAbort:
		return abortError(p)
	}
	return errProtocolf("frame %#x instead of an answer", t)
}

// pump writes the producer's frames to the stream until all files are sent,
// then the done frame. It runs on Send's goroutine.
func (s *sender) pump(ctx context.Context) error {
	for {
		var c *chunk
		select {
		case c = <-s.full:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if c == nil {
			// The producer finished (or gave up on cancellation).
			if err := ctx.Err(); err != nil {
				return context.Cause(ctx)
			}
			break
		}
		if c.err != nil {
			return c.err
		}
		switch c.kind {
		case frameFile:
			s.resumed += c.off
			s.meter.add(c.off)
		case frameEnd:
			s.ends.Add(1)
		}
		if _, err := s.bw.Write(c.buf[:c.n]); err != nil {
			return fmt.Errorf("%w: %w", errStream, err)
		}
		if c.kind == frameData {
			s.meter.add(int64(c.n - headerLen))
		}
		s.free <- c
		if len(s.full) == 0 {
			if err := s.bw.Flush(); err != nil {
				return fmt.Errorf("%w: %w", errStream, err)
			}
		}
	}
	s.doneSent.Store(true)
	if err := s.writeFrame(frameDone, nil); err != nil {
		return fmt.Errorf("%w: %w", errStream, err)
	}
	if err := s.bw.Flush(); err != nil {
		return fmt.Errorf("%w: %w", errStream, err)
	}
	return nil
}

// errStream marks a failed read or write on the stream inside the sender.
var errStream = errors.New("stream failed")

// fail turns the first failure into Send's error, preferring what the peer
// said (its abort frame usually explains why the stream broke) and the
// caller's cancellation over the bare stream error.
func (s *sender) fail(parent context.Context, err error) error {
	if cerr := context.Cause(parent); cerr != nil {
		return fmt.Errorf("transfer: %w", cerr)
	}
	if errors.Is(err, errStream) {
		// The peer closed on us; its reason may still be on the way.
		t := time.NewTimer(lingerTime)
		select {
		case <-s.rdDone:
		case <-t.C:
		}
		t.Stop()
	}
	if perr := s.peerError(); perr != nil {
		if errors.Is(perr, ErrProtocol) {
			s.abort(abortProtocol, "protocol violation")
		}
		return perr
	}
	switch {
	case errors.Is(err, errStream):
		return fmt.Errorf("%w: %w", ErrPeerGone, errors.Unwrap(err))
	case errors.Is(err, ErrSourceChanged):
		s.abort(abortLocal, "a file changed while it was being sent")
	default:
		s.abort(abortLocal, "the sender cannot read a file")
	}
	return err
}

// abort tells the peer why the transfer stops and waits briefly for it to
// close, so the frame is not lost. It never blocks longer than lingerTime.
func (s *sender) abort(code byte, reason string) {
	t := time.AfterFunc(lingerTime, func() { s.c.close() })
	defer t.Stop()
	if err := s.writeFrame(frameAbort, appendAbort(nil, code, reason)); err != nil {
		return
	}
	if err := s.bw.Flush(); err != nil {
		return
	}
	if s.free == nil {
		// No reader goroutine yet: wait for the peer's close ourselves.
		_, _ = io.Copy(io.Discard, s.br)
		return
	}
	<-s.rdDone
}

func (s *sender) writeFrame(t byte, payload []byte) error {
	var h [headerLen]byte
	putHeader(h[:], t, len(payload))
	if _, err := s.bw.Write(h[:]); err != nil {
		return err
	}
	_, err := s.bw.Write(payload)
	return err
}

// readLoop reads the receiver's verdicts, its ack or its abort. It owns s.br
// once the answer is read, and cancels the transfer on anything unexpected.
func (s *sender) readLoop(cancel context.CancelCauseFunc) {
	defer close(s.rdDone)
	var hdr [headerLen]byte
	p := make([]byte, 1+maxReason)
	for {
		t, n, err := readHeader(s.br, hdr[:])
		if err == nil && t != frameVerdict && t != frameAck && t != frameAbort {
			err = errProtocolf("unexpected frame %#x from the receiver", t)
		}
		if err == nil {
			_, err = io.ReadFull(s.br, p[:n])
		}
		if err != nil {
			if !errors.Is(err, ErrProtocol) {
				err = fmt.Errorf("%w: %w", ErrPeerGone, err)
			}
			s.setPeerErr(err)
			cancel(err)
			return
		}
		switch t {
		case frameVerdict:
			err = s.verdict(p[:n])
		case frameAck:
			s.mu.Lock()
			complete := len(s.verdicts) == len(s.m.Files)
			s.mu.Unlock()
			if !complete || !s.doneSent.Load() {
				err = errProtocolf("acknowledgement before all verdicts")
				break
			}
			close(s.acked)
			return
		case frameAbort:
			err = abortError(p[:n])
		}
		if err != nil {
			s.setPeerErr(err)
			cancel(err)
			return
		}
	}
}

func (s *sender) verdict(p []byte) error {
	idx, status := binary.BigEndian.Uint32(p), p[4]
	s.mu.Lock()
	defer s.mu.Unlock()
	if uint64(idx) != uint64(len(s.verdicts)) || int64(idx) >= s.ends.Load() {
		return errProtocolf("verdict for file %d out of order", idx)
	}
	if status != verdictStored && status != verdictMismatch {
		return errProtocolf("unknown verdict %d", status)
	}
	s.verdicts = append(s.verdicts, status)
	return nil
}

func (s *sender) setPeerErr(err error) {
	s.mu.Lock()
	if s.peerErr == nil {
		s.peerErr = err
	}
	s.mu.Unlock()
}

func (s *sender) peerError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peerErr
}

// result lists the files the receiver confirmed. Call only after the
// producer has stopped or when all its sums are written (after the ack).
func (s *sender) result() Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	var res Result
	for i, v := range s.verdicts {
		if v == verdictStored {
			f := s.m.Files[i]
			f.SHA256 = s.sums[i]
			res.Files = append(res.Files, f)
		}
	}
	res.Resumed = s.resumed
	return res
}

func (s *sender) verdictError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var bad []string
	for i, v := range s.verdicts {
		if v == verdictMismatch {
			bad = append(bad, s.m.Files[i].Name)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %d file(s), first %q", ErrHashMismatch, len(bad), bad[0])
}

// produce reads every file in manifest order into chunks, hashing as it goes.
// It is the only goroutine touching the source files. It closes s.full when
// it is done; a failure travels as the last chunk's err.
func (s *sender) produce(ctx context.Context) {
	defer close(s.full)
	h := sha256.New()
	oi := 0
	for i := range s.m.Files {
		var o *offer
		if oi < len(s.offers) && s.offers[oi].index == i {
			o = &s.offers[oi]
			oi++
		}
		if err := s.produceFile(ctx, i, o, h); err != nil {
			if ctx.Err() != nil {
				return
			}
			c, ok := s.get(ctx)
			if !ok {
				return
			}
			c.err = err
			s.put(ctx, c)
			return
		}
	}
}

func (s *sender) produceFile(ctx context.Context, i int, o *offer, h hash.Hash) error {
	file, src := s.m.Files[i], s.srcs[i]
	f, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("transfer: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() != file.Size {
		return fmt.Errorf("%w: %s", ErrSourceChanged, src)
	}
	h.Reset()
	var start int64
	if o != nil {
		ok, err := s.checkPrefix(ctx, f, h, o)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrSourceChanged, src, err)
		}
		if ok {
			start = o.offset
		} else {
			h.Reset()
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("transfer: %w", err)
			}
		}
	}
	c, ok := s.get(ctx)
	if !ok {
		return ctx.Err()
	}
	c.kind, c.off, c.n = frameFile, start, headerLen+12
	putHeader(c.buf, frameFile, 12)
	binary.BigEndian.PutUint32(c.buf[headerLen:], uint32(i))
	binary.BigEndian.PutUint64(c.buf[headerLen+4:], uint64(start))
	if !s.put(ctx, c) {
		return ctx.Err()
	}
	for left := file.Size - start; left > 0; {
		c, ok := s.get(ctx)
		if !ok {
			return ctx.Err()
		}
		n := int(min(left, maxData))
		payload := c.buf[headerLen : headerLen+n]
		if _, err := io.ReadFull(f, payload); err != nil {
			s.free <- c
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("%w: %s shrank", ErrSourceChanged, src)
			}
			return fmt.Errorf("transfer: %w", err)
		}
		h.Write(payload)
		putHeader(c.buf, frameData, n)
		c.kind, c.n = frameData, headerLen+n
		if !s.put(ctx, c) {
			return ctx.Err()
		}
		left -= int64(n)
	}
	// A file that grew would arrive cut short with a matching digest; refuse.
	if n, _ := f.Read(s.probe[:]); n > 0 {
		return fmt.Errorf("%w: %s grew", ErrSourceChanged, src)
	}
	s.sums[i] = h.Sum(nil)
	c, ok = s.get(ctx)
	if !ok {
		return ctx.Err()
	}
	putHeader(c.buf, frameEnd, 32)
	copy(c.buf[headerLen:], s.sums[i])
	c.kind, c.n = frameEnd, headerLen+32
	if !s.put(ctx, c) {
		return ctx.Err()
	}
	return nil
}

// checkPrefix hashes the first o.offset bytes of f into h and reports whether
// they match the receiver's digest. On a match h holds the prefix state, ready
// to continue.
func (s *sender) checkPrefix(ctx context.Context, f *os.File, h hash.Hash, o *offer) (bool, error) {
	c, ok := s.get(ctx)
	if !ok {
		return false, ctx.Err()
	}
	defer func() { s.free <- c }()
	n, err := io.CopyBuffer(h, io.LimitReader(f, o.offset), c.buf)
	if err != nil {
		return false, err
	}
	if n != o.offset {
		return false, io.ErrUnexpectedEOF
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum == o.sum, nil
}

func (s *sender) get(ctx context.Context) (*chunk, bool) {
	select {
	case c := <-s.free:
		c.err = nil
		c.off = 0
		return c, true
	case <-ctx.Done():
		return nil, false
	}
}

func (s *sender) put(ctx context.Context, c *chunk) bool {
	select {
	case s.full <- c:
		return true
	case <-ctx.Done():
		return false
	}
}
