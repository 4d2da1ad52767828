package transfer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"strings"
	"sync"
	"time"
)

const (
	// recvBuffers frames may be read ahead of the disk writes.
	recvBuffers = 8
	// syncEvery bounds what a crash can cost: the partial file is synced
	// after this many bytes, so a resume restarts from at most this far back.
	syncEvery = 64 << 20
	// maxConflicts bounds the search for a free "name (k).ext".
	maxConflicts = 1000
)

// Receive receives files from a peer running Send on the other end of rw and
// writes them below outDir, which must exist.
//
// Everything it writes stays inside outDir (os.Root: a symbolic link planted
// there cannot lead outside). Each file arrives as "<name>.direkt-partial",
// is checked against the sender's SHA-256, synced, and then linked into place
// under "<name>", or "<name> (1).ext", "<name> (2).ext", … if that exists;
// nothing is overwritten. A folder name that exists as something other than a
// folder becomes "<folder> (1)". A file that is already in place with the same
// content is not written again. An interrupted transfer leaves its partial
// files, and a later Receive of the same manifest into the same outDir resumes
// from them (see protocol.go).
//
// Receive owns rw: it closes it before returning, and early when ctx is
// cancelled. Result.Files lists the files stored, with the names actually
// written (relative to outDir, slash-separated). On failure it still lists
// what was stored so far, and the error wraps ErrDiskFull, ErrHashMismatch,
// ErrPeerGone, ErrProtocol, ErrRejected or ErrPeerAborted.
func Receive(ctx context.Context, rw io.ReadWriteCloser, outDir string, opts ReceiveOptions) (Result, error) {
	r := &receiver{
		c:      &conn{rw: rw},
		log:    logger(opts.Logger),
		accept: opts.Accept,
		br:     bufio.NewReaderSize(rw, readBufSize),
		dirs:   make(map[string]string),
		synced: make(map[string]struct{}),
		cur:    -1,
	}
	r.meter.fn = opts.Progress
	return r.run(ctx, outDir)
}

// filePlan is what the receiver decided for one file before answering.
type filePlan struct {
	dir     string // folder actually used, relative to the root ("" = the root)
	base    string // sanitised base name, before conflict renaming
	partial string // path of the partial file
	offset  int64  // bytes offered for resume (0 = none)
	state   []byte // SHA-256 state after the offered bytes of the partial
	sum     [32]byte
	// existing, if set, is a complete file already in place whose digest
	// is sum; the offer refers to it rather than to a partial.
	existing string
}

// rframe is one frame handed from the reader goroutine to the main loop.
type rframe struct {
	typ byte
	buf []byte // from r.free, or nil with err
	n   int
	err error
}

type receiver struct {
	c      *conn
	log    *slog.Logger
	accept func(Manifest) error
	br     *bufio.Reader
	root   *os.Root

	m     Manifest
	plans []filePlan
	dirs  map[string]string // manifest folder → folder used

	frames chan rframe
	free   chan []byte
	wbuf   []byte // outgoing frame, main goroutine only

	// The file in progress.
	cur       int // index, -1 = none
	next      int // next index expected
	f         *os.File
	h         hash.Hash
	written   int64
	sinceSync int64

	meter    meter
	res      Result
	noLinks  bool                // the file system refused a hard link; rename instead
	synced   map[string]struct{} // folders that received a file, synced before the ack
	mismatch []string
	scratch  []byte
}

func (r *receiver) run(parent context.Context, outDir string) (Result, error) {
	ctx, cancel := context.WithCancel(parent)
	stop := context.AfterFunc(ctx, func() { r.c.close() })
	var wg sync.WaitGroup
	defer func() {
		cancel()
		r.c.close()
		wg.Wait()
		stop()
		r.closeFile()
		r.syncDirs()
		if r.root != nil {
			r.root.Close()
		}
	}()

	root, err := os.OpenRoot(outDir)
	if err != nil {
		r.abortEarly(abortLocal, "the receiver cannot open its download folder")
		return Result{}, fmt.Errorf("transfer: download folder: %w", err)
	}
	r.root = root

	var hdr [headerLen]byte
	t, p, err := readFrameAlloc(r.br, hdr[:])
	if err == nil && t != frameManifest && t != frameAbort {
		err = errProtocolf("frame %#x instead of a manifest", t)
	}
	if err != nil {
		if errors.Is(err, ErrProtocol) {
			r.abortEarly(abortProtocol, "expected a manifest")
			return Result{}, err
		}
		return Result{}, streamError(parent, err)
	}
	if t == frameAbort {
		return Result{}, abortError(p)
	}
	m, err := parseManifest(p)
	if err != nil {
		r.abortEarly(abortProtocol, "malformed manifest")
		return Result{}, err
	}
	r.m = m
	r.meter.total = m.Total
	r.log.InfoContext(ctx, "transfer: manifest received", "files", len(m.Files), "dirs", len(m.Dirs), "bytes", m.Total)

	if r.accept != nil {
		if err := r.accept(m); err != nil {
			if werr := r.writeFrame(frameReject, []byte("the receiver declined the transfer")); werr == nil {
				r.linger()
			}
			return Result{}, fmt.Errorf("%w: %w", ErrRejected, err)
		}
	}
	offers, err := r.plan(ctx)
	if err != nil {
		if isDiskFull(err) {
			r.abortEarly(abortDiskFull, "the receiver's disk is full")
			return Result{}, fmt.Errorf("%w: %w", ErrDiskFull, err)
		}
		r.abortEarly(abortLocal, "the receiver cannot create its folders")
		return Result{}, err
	}
	if err := r.writeFrame(frameAccept, appendAccept(nil, offers)); err != nil {
		return Result{}, streamError(parent, err)
	}

	r.frames = make(chan rframe, recvBuffers)
	r.free = make(chan []byte, recvBuffers)
	for range recvBuffers {
		r.free <- make([]byte, maxData)
	}
	r.h = sha256.New()
	wg.Go(func() { r.readLoop(ctx) })

	err = r.loop(ctx)
	if err == nil {
		r.meter.finish()
		r.log.InfoContext(ctx, "transfer: received", "files", len(r.res.Files), "bytes", m.Total, "resumed", r.res.Resumed)
		if len(r.mismatch) > 0 {
			err = fmt.Errorf("%w: %d file(s) removed, first %q", ErrHashMismatch, len(r.mismatch), r.mismatch[0])
		}
		return r.res, err
	}
	r.closeFile()
	if cerr := context.Cause(parent); cerr != nil {
		return r.res, fmt.Errorf("transfer: %w", cerr)
	}
	return r.res, err
}

// plan resolves folders (creating them), the partial file names and the resume
// offers. It hashes existing partial files, at local disk speed.
func (r *receiver) plan(ctx context.Context) ([]offer, error) {
	r.plans = make([]filePlan, len(r.m.Files))
	var offers []offer
	for i, f := range r.m.Files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, base := path.Split(f.Name)
		dir, err := r.resolveDir(strings.TrimSuffix(d, "/"))
		if err != nil {
			return nil, err
		}
		p := &r.plans[i]
		p.dir, p.base, p.partial = dir, base, joinPath(dir, partialName(base))
		r.findOffer(p, f)
		if p.offset > 0 {
			offers = append(offers, offer{index: i, offset: p.offset, sum: p.sum})
		}
	}
	for _, d := range r.m.Dirs {
		if _, err := r.resolveDir(d); err != nil {
			return nil, err
		}
	}
	return offers, nil
}

// resolveDir maps a manifest folder to the folder used below the root,
// creating it. A component that exists as a file, or as a link that leads
// outside the root or nowhere, is replaced by "name (k)".
func (r *receiver) resolveDir(d string) (string, error) {
	if d == "" {
		return "", nil
	}
	if got, ok := r.dirs[d]; ok {
		return got, nil
	}
	parentM, comp := path.Split(d)
	parent, err := r.resolveDir(strings.TrimSuffix(parentM, "/"))
	if err != nil {
		return "", err
	}
	for k := range maxConflicts {
		name := comp
		if k > 0 {
			name = dirConflictName(comp, k)
		}
		cand := joinPath(parent, name)
		fi, err := r.root.Stat(cand)
		if err == nil && fi.IsDir() {
			r.dirs[d] = cand
			return cand, nil
		}
		if errors.Is(err, fs.ErrNotExist) {
			err := r.root.Mkdir(cand, 0o777)
			if err == nil {
				r.dirs[d] = cand
				return cand, nil
			}
			if !errors.Is(err, fs.ErrExist) {
				return "", fmt.Errorf("transfer: create folder %s: %w", cand, err)
			}
		}
	}
	return "", fmt.Errorf("transfer: no free name for folder %s", d)
}

// findOffer looks for what the receiver already holds of file f: a partial
// file (preferred: it is this transfer's own leftover) or a complete file of
// exactly the right size under the target name.
func (r *receiver) findOffer(p *filePlan, f File) {
	if f.Size == 0 {
		return
	}
	if fi, err := r.root.Lstat(p.partial); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
		n := min(fi.Size(), f.Size)
		h, err := r.hashPrefix(p.partial, n)
		if err != nil {
			r.log.Warn("transfer: cannot read partial file, starting over", "err", err)
			return
		}
		state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
		if err != nil {
			return
		}
		p.offset, p.state = n, state
		h.Sum(p.sum[:0])
		return
	}
	target := joinPath(p.dir, p.base)
	if fi, err := r.root.Lstat(target); err == nil && fi.Mode().IsRegular() && fi.Size() == f.Size {
		h, err := r.hashPrefix(target, f.Size)
		if err != nil {
			return
		}
		p.offset, p.existing = f.Size, target
		h.Sum(p.sum[:0])
	}
}

// hashPrefix hashes the first n bytes of a file below the root.
func (r *receiver) hashPrefix(name string, n int64) (hash.Hash, error) {
	f, err := r.root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if r.scratch == nil {
		r.scratch = make([]byte, maxData)
	}
	h := sha256.New()
	got, err := io.CopyBuffer(h, io.LimitReader(f, n), r.scratch)
	if err != nil {
		return nil, err
	}
	if got != n {
		return nil, io.ErrUnexpectedEOF
	}
	return h, nil
}

// readLoop reads frames into pooled buffers for the main loop. It owns r.br
// after the manifest; it stops on the first error, which it passes on.
func (r *receiver) readLoop(ctx context.Context) {
	defer close(r.frames)
	var hdr [headerLen]byte
	for {
		t, n, err := readHeader(r.br, hdr[:])
		if err == nil {
			switch t {
			case frameFile, frameData, frameEnd, frameDone, frameAbort:
			default:
				err = errProtocolf("unexpected frame %#x from the sender", t)
			}
		}
		if err != nil {
			select {
			case r.frames <- rframe{err: err}:
			case <-ctx.Done():
			}
			return
		}
		var buf []byte
		select {
		case buf = <-r.free:
		case <-ctx.Done():
			return
		}
		if _, err := io.ReadFull(r.br, buf[:n]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			r.free <- buf
			select {
			case r.frames <- rframe{err: err}:
			case <-ctx.Done():
			}
			return
		}
		select {
		case r.frames <- rframe{typ: t, buf: buf, n: n}:
		case <-ctx.Done():
			return
		}
	}
}

// localError marks failures of the receiver's own disk, to tell them from the
// peer's faults.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// loop processes frames until the done frame or the first failure.
func (r *receiver) loop(ctx context.Context) error {
	for {
		var fr rframe
		var ok bool
		select {
		case fr, ok = <-r.frames:
		case <-ctx.Done():
			return streamError(ctx, ctx.Err())
		}
		if !ok {
			return streamError(ctx, io.ErrUnexpectedEOF)
		}
		if fr.err != nil {
			if errors.Is(fr.err, ErrProtocol) {
				return r.abort(abortProtocol, "protocol violation", fr.err)
			}
			return r.peerGone(ctx, fr.err)
		}
		p := fr.buf[:fr.n]
		var err error
		switch fr.typ {
		case frameFile:
			err = r.startFile(p)
		case frameData:
			err = r.data(p)
		case frameEnd:
			err = r.endFile(p)
		case frameDone:
			err = r.done()
			r.free <- fr.buf
			if err == nil {
				return nil
			}
		case frameAbort:
			err = abortError(p)
			r.free <- fr.buf
			r.log.Info("transfer: sender aborted", "err", err)
			return err
		}
		if fr.typ != frameDone {
			r.free <- fr.buf
		}
		if err == nil {
			continue
		}
		var local *localError
		switch {
		case errors.Is(err, ErrProtocol):
			return r.abort(abortProtocol, "protocol violation", err)
		case errors.Is(err, ErrDiskFull):
			return r.abort(abortDiskFull, "the receiver's disk is full", err)
		case errors.As(err, &local):
			return r.abort(abortLocal, "the receiver cannot write a file", local.err)
		default:
			return r.peerGone(ctx, err)
		}
	}
}

// peerGone ends a transfer whose stream broke: the partial file is kept.
func (r *receiver) peerGone(ctx context.Context, err error) error {
	if r.cur >= 0 {
		err = fmt.Errorf("%w (partial %q kept for resume, %d of %d bytes)", err, r.plans[r.cur].partial, r.written, r.m.Files[r.cur].Size)
	}
	return streamError(ctx, err)
}

func (r *receiver) startFile(p []byte) error {
	idx, off := binary.BigEndian.Uint32(p), binary.BigEndian.Uint64(p[4:])
	if r.cur >= 0 || uint64(idx) != uint64(r.next) || r.next >= len(r.m.Files) {
		return errProtocolf("file %d out of order", idx)
	}
	plan, file := &r.plans[idx], r.m.Files[idx]
	if off != 0 && off != uint64(plan.offset) {
		return errProtocolf("file %d resumes at %d, offered %d", idx, off, plan.offset)
	}
	r.cur, r.written, r.sinceSync = int(idx), int64(off), 0
	r.res.Resumed += int64(off)
	r.meter.add(int64(off))
	if off > 0 && plan.existing != "" {
		return nil // already in place: expect no data, only the digest
	}
	perm := fs.FileMode(0o666)
	if file.Mode&0o111 != 0 {
		perm = 0o777
	}
	f, err := r.root.OpenFile(plan.partial, os.O_RDWR|os.O_CREATE, perm)
	if err != nil {
		return r.localErr("open", plan.partial, err)
	}
	r.f = f
	fi, err := f.Stat()
	if err != nil {
		return r.localErr("stat", plan.partial, err)
	}
	if !fi.Mode().IsRegular() {
		return r.localErr("open", plan.partial, errors.New("not a regular file"))
	}
	if want := execBits(fi.Mode().Perm(), perm&0o111 != 0); want != fi.Mode().Perm() {
		if err := f.Chmod(want); err != nil {
			r.log.Warn("transfer: cannot set permissions", "err", err)
		}
	}
	r.h.Reset()
	if off > 0 {
		if fi.Size() < int64(off) {
			return r.localErr("resume", plan.partial, errors.New("partial file shrank"))
		}
		if err := r.h.(encoding.BinaryUnmarshaler).UnmarshalBinary(plan.state); err != nil {
			return r.localErr("resume", plan.partial, err)
		}
	}
	plan.state = nil
	if err := f.Truncate(int64(off)); err != nil {
		return r.localErr("truncate", plan.partial, err)
	}
	if _, err := f.Seek(int64(off), io.SeekStart); err != nil {
		return r.localErr("seek", plan.partial, err)
	}
	return nil
}

// execBits adds x where r is set, or removes every x bit.
func execBits(m fs.FileMode, exec bool) fs.FileMode {
	if exec {
		return m | (m&0o444)>>2
	}
	return m &^ 0o111
}

func (r *receiver) data(p []byte) error {
	if r.cur < 0 {
		return errProtocolf("data outside a file")
	}
	size := r.m.Files[r.cur].Size
	if int64(len(p)) > size-r.written {
		return errProtocolf("more data than the announced %d bytes", size)
	}
	if _, err := r.f.Write(p); err != nil {
		return r.localErr("write", r.plans[r.cur].partial, err)
	}
	r.h.Write(p)
	r.written += int64(len(p))
	r.sinceSync += int64(len(p))
	if r.sinceSync >= syncEvery {
		r.sinceSync = 0
		if err := r.f.Sync(); err != nil {
			return r.localErr("sync", r.plans[r.cur].partial, err)
		}
	}
	r.meter.add(int64(len(p)))
	return nil
}

func (r *receiver) endFile(p []byte) error {
	if r.cur < 0 {
		return errProtocolf("end outside a file")
	}
	idx, plan, file := r.cur, &r.plans[r.cur], r.m.Files[r.cur]
	if r.written != file.Size {
		return errProtocolf("file %d ended after %d of %d bytes", idx, r.written, file.Size)
	}
	var name string
	if r.f == nil {
		// The offer was a complete file in place; the sender only resumes at
		// its end when its own digest matched ours.
		if !bytes.Equal(p, plan.sum[:]) {
			return errProtocolf("file %d: digest differs from the accepted offer", idx)
		}
		name = plan.existing
	} else {
		var got [32]byte
		r.h.Sum(got[:0])
		if !bytes.Equal(got[:], p) {
			r.f.Close()
			r.f = nil
			if err := r.root.Remove(plan.partial); err != nil {
				r.log.Warn("transfer: cannot remove damaged partial file", "err", err)
			}
			r.log.Warn("transfer: SHA-256 mismatch, damaged file removed", "index", idx)
			r.mismatch = append(r.mismatch, joinPath(plan.dir, plan.base))
			r.cur, r.next = -1, r.next+1
			return r.verdict(idx, verdictMismatch)
		}
		if err := r.f.Sync(); err != nil {
			return r.localErr("sync", plan.partial, err)
		}
		err := r.f.Close()
		r.f = nil
		if err != nil {
			return r.localErr("close", plan.partial, err)
		}
		name, err = r.place(plan, file.Size)
		if err != nil {
			return err
		}
	}
	file.Name = name
	file.SHA256 = bytes.Clone(p)
	r.res.Files = append(r.res.Files, file)
	r.cur, r.next = -1, r.next+1
	return r.verdict(idx, verdictStored)
}

// place moves a verified partial file into place under the first free name.
// A hard link fails if the name exists, which makes the check and the move
// one atomic step; where the file system has no hard links it falls back to
// an existence check and a rename, which another process could race.
func (r *receiver) place(plan *filePlan, size int64) (string, error) {
	for k := range maxConflicts {
		name := plan.base
		if k > 0 {
			name = conflictName(plan.base, k)
		}
		target := joinPath(plan.dir, name)
		if size == 0 {
			// An empty file already there is this one: keep it.
			if fi, err := r.root.Lstat(target); err == nil && fi.Mode().IsRegular() && fi.Size() == 0 {
				if err := r.root.Remove(plan.partial); err != nil {
					return "", r.localErr("remove", plan.partial, err)
				}
				return target, nil
			}
		}
		if !r.noLinks {
			err := r.root.Link(plan.partial, target)
			if err == nil {
				if err := r.root.Remove(plan.partial); err != nil {
					r.log.Warn("transfer: cannot remove partial file after linking", "err", err)
				}
				r.synced[plan.dir] = struct{}{}
				return target, nil
			}
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			if !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, fs.ErrPermission) {
				return "", r.localErr("link", target, err)
			}
			r.log.Debug("transfer: no hard links here, renaming instead", "err", err)
			r.noLinks = true
		}
		if _, err := r.root.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := r.root.Rename(plan.partial, target); err != nil {
			return "", r.localErr("rename", target, err)
		}
		r.synced[plan.dir] = struct{}{}
		return target, nil
	}
	return "", r.localErr("place", joinPath(plan.dir, plan.base), errors.New("no free name"))
}

func (r *receiver) done() error {
	if r.cur >= 0 || r.next != len(r.m.Files) {
		return errProtocolf("done after %d of %d files", r.next, len(r.m.Files))
	}
	r.syncDirs()
	if err := r.writeFrame(frameAck, nil); err != nil {
		return err
	}
	r.drain()
	return nil
}

// syncDirs syncs each folder that gained a name since the last call, once,
// rather than after every file: the ack, not the verdict, is the promise that
// everything is durable. It also runs when a transfer fails, so that what was
// stored stays stored.
func (r *receiver) syncDirs() {
	if r.root == nil {
		return
	}
	for dir := range r.synced {
		name := dir
		if name == "" {
			name = "."
		}
		if d, err := r.root.Open(name); err == nil {
			_ = d.Sync() // best effort: not every platform syncs folders
			d.Close()
		}
		delete(r.synced, dir)
	}
}

func (r *receiver) verdict(idx int, status byte) error {
	var p [5]byte
	binary.BigEndian.PutUint32(p[:], uint32(idx))
	p[4] = status
	return r.writeFrame(frameVerdict, p[:])
}

// localErr wraps a failure of the receiver's own file system, classifying a
// full disk.
func (r *receiver) localErr(op, name string, err error) error {
	if isDiskFull(err) {
		return fmt.Errorf("%w: %s %s (partial file kept for resume): %w", ErrDiskFull, op, name, err)
	}
	return &localError{fmt.Errorf("transfer: %s %s: %w", op, name, err)}
}

// abort tells the sender why the transfer stops, keeps the partial file,
// waits briefly for the sender to close and returns err.
func (r *receiver) abort(code byte, reason string, err error) error {
	r.closeFile()
	if werr := r.writeFrame(frameAbort, appendAbort(nil, code, reason)); werr == nil {
		r.drain()
	}
	return err
}

// abortEarly is abort before the reader goroutine runs.
func (r *receiver) abortEarly(code byte, reason string) {
	if err := r.writeFrame(frameAbort, appendAbort(nil, code, reason)); err == nil {
		r.linger()
	}
}

// drain discards frames until the sender closes the stream, at most
// lingerTime, so that the last frame written is not cut off by our close.
func (r *receiver) drain() {
	t := time.NewTimer(lingerTime)
	defer t.Stop()
	for {
		select {
		case fr, ok := <-r.frames:
			if !ok {
				return
			}
			if fr.buf != nil {
				r.free <- fr.buf
			}
		case <-t.C:
			return
		}
	}
}

// linger is drain before the reader goroutine runs.
func (r *receiver) linger() {
	t := time.AfterFunc(lingerTime, func() { r.c.close() })
	defer t.Stop()
	_, _ = io.Copy(io.Discard, r.br)
}

// closeFile syncs and closes the partial file in progress, keeping it.
func (r *receiver) closeFile() {
	if r.f == nil {
		return
	}
	_ = r.f.Sync() // best effort: keep as much as possible for the resume
	r.f.Close()
	r.f = nil
}

// writeFrame writes one frame; only the main goroutine writes.
func (r *receiver) writeFrame(t byte, payload []byte) error {
	r.wbuf = appendFrame(r.wbuf[:0], t, payload)
	_, err := r.c.rw.Write(r.wbuf)
	return err
}
