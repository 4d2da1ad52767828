package consult

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/direkt/direkt/internal/session"
)

// SendFile offers a file of size bytes read from r, named name (made safe
// and flat the way the receiver will: "/" becomes "_"). r is read to the end
// before SendFile returns: into a spooled copy under the data folder, whose
// SHA-256 the offer announces. The host then asks the client's consent and
// sends only after acceptance; the client sends at once. Sending runs in the
// background: progress and outcome are in the Snapshot's Files under the
// returned id. A reader that yields more or fewer than size bytes is
// ErrInvalid.
func (c *Consultation) SendFile(name string, size int64, r io.Reader) (string, error) {
	clean, err := flatName(name)
	if err != nil || len(clean) > MaxFileName {
		return "", fmt.Errorf("%w: file name: %v", ErrInvalid, err)
	}
	if size < 0 || size > MaxFileSize {
		return "", fmt.Errorf("%w: size %d outside 0–4 GiB", ErrInvalid, size)
	}
	if !c.spooling() {
		return "", ErrEnded
	}
	defer c.wg.Done()
	spool, sum, err := c.spool(size, r)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		c.st.remove(spool)
		return "", ErrEnded
	}
	if len(c.files) >= maxFiles || (c.role == Host && len(c.asks) >= maxAsks) {
		c.st.remove(spool)
		return "", fmt.Errorf("%w: too many files", ErrInvalid)
	}
	id := c.newIDLocked()
	f := &fileState{
		File: File{ID: id, From: c.role, Kind: KindDoc, Name: clean, Size: size, SHA256: sum, At: c.now()},
		out:  true, spool: spool,
	}
	c.files = append(c.files, f)
	c.fileByID[id] = f
	if c.role == Host {
		f.State = FileAsked
		c.addAskLocked(&askState{
			Ask:     Ask{ID: id, What: WhatFile, Name: clean, Size: size, SHA256: sum, State: AskPending, AskedAt: f.At},
			rawName: clean,
		})
		c.enqueueLocked(message{T: tAsk, ID: id, What: WhatFile, Name: clean, Size: ptr(size), SHA256: sum})
	} else {
		c.startSendLocked(f)
	}
	c.log.Debug("file offered", "id", id, "size", size)
	c.changedLocked()
	return id, nil
}

// SendRecord sends the finished record to the client (host only, and only
// when the client accepted "record"): json as "<id>.json" and pdf as
// "<id>.pdf", files of kind "record", in the background. Call it before End,
// which waits for them.
func (c *Consultation) SendRecord(id string, json, pdf []byte) error {
	if c.role != Host {
		return fmt.Errorf("%w: only the host sends the record", ErrRole)
	}
	if len(json) > maxRecordFile || len(pdf) > maxRecordFile {
		return fmt.Errorf("%w: record file over %d bytes", ErrInvalid, maxRecordFile)
	}
	names := [2]string{id + ".json", id + ".pdf"}
	for i, n := range names {
		clean, err := flatName(n)
		if err != nil || len(clean) > MaxFileName {
			return fmt.Errorf("%w: record id: %v", ErrInvalid, err)
		}
		names[i] = clean
	}
	c.mu.Lock()
	consent := c.recordingLocked() == RecordingAccepted
	c.mu.Unlock()
	if !consent {
		return fmt.Errorf("%w: record", ErrNoConsent)
	}
	if !c.spooling() {
		return ErrEnded
	}
	defer c.wg.Done()
	var spools, sums [2]string
	for i, b := range [2][]byte{json, pdf} {
		var err error
		if spools[i], sums[i], err = c.spool(int64(len(b)), bytes.NewReader(b)); err != nil {
			c.st.remove(spools[0])
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || c.recordingLocked() != RecordingAccepted {
		c.st.remove(spools[0])
		c.st.remove(spools[1])
		if c.ended {
			return ErrEnded
		}
		return fmt.Errorf("%w: record", ErrNoConsent)
	}
	for i, b := range [2][]byte{json, pdf} {
		f := &fileState{
			File: File{
				ID: c.newIDLocked(), From: Host, Kind: KindRecord, Name: names[i],
				Size: int64(len(b)), SHA256: sums[i], At: c.now(),
			},
			out: true, spool: spools[i],
		}
		c.files = append(c.files, f)
		c.fileByID[f.ID] = f
		c.startSendLocked(f)
	}
	c.changedLocked()
	return nil
}

// spooling registers a spool in progress with wg, so that teardown waits
// for it; it reports false once the consultation ended. The caller calls
// wg.Done.
func (c *Consultation) spooling() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return false
	}
	c.wg.Add(1) // before teardown's Wait: ended is still false
	return true
}

// spool copies exactly size bytes from r into a new file under spool/ and
// returns its path and SHA-256.
func (c *Consultation) spool(size int64, r io.Reader) (rel, sum string, err error) {
	f, rel, err := c.st.createTemp(dirSpool)
	if err != nil {
		return "", "", err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(ctxReader{c.ctx, r}, size+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	switch {
	case err != nil && c.ctx.Err() != nil:
		err = ErrEnded
	case err != nil:
		err = fmt.Errorf("consult: spool the file: %w", err)
	case n != size:
		err = fmt.Errorf("%w: the reader gave %d bytes or more, not %d", ErrInvalid, n, size)
	}
	if err != nil {
		c.st.remove(rel)
		return "", "", err
	}
	return rel, hex.EncodeToString(h.Sum(nil)), nil
}

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

// startSendLocked announces an outgoing file and starts sending it. mu must
// be held: the "file" line is queued in order with the other messages (a
// record's before "end").
func (c *Consultation) startSendLocked(f *fileState) {
	f.State, f.announced = FileSending, true
	sent := c.enqueueLocked(message{
		T: tFile, ID: f.ID, Name: f.Name, Size: ptr(f.Size), SHA256: f.SHA256, Kind: f.Kind,
	})
	try := f.try
	c.wg.Go(func() { c.send(f, try, sent) })
}

// send moves an announced file's bytes on "file/<id>" once its "file" line
// is written, for attempt try. The receiver's verdict (onFileOK) makes it
// done.
func (c *Consultation) send(f *fileState, try int, sent <-chan error) {
	select {
	case err := <-sent:
		if err != nil {
			c.fileBroke(f, try, "connection lost")
			return
		}
	case <-c.ctx.Done():
		return
	}
	c.mu.Lock()
	// Failed meanwhile (the connection was rebuilt), or offered again.
	stale := f.final() || f.try != try
	// The link of this attempt: if the connection is rebuilt from here on,
	// its channel fails with the old link, never opens on the new one.
	l := c.ln
	c.mu.Unlock()
	if stale {
		return
	}
	src, err := c.st.root.Open(f.spool)
	if err != nil {
		c.log.Warn("cannot open a spooled file", "id", f.ID, "err", err)
		c.fileFailed(f, try, "the spooled copy is gone")
		return
	}
	defer src.Close()
	ch, err := l.s.Open(l.ctx, fileLabelPrefix+f.ID)
	if err != nil {
		if l.ctx.Err() == nil {
			c.fileBroke(f, try, "could not open the file's channel")
		}
		return
	}
	if !c.registerChan(ch) {
		_ = ch.Close()
		return
	}
	buf := make([]byte, copyBuf)
	var n int64
	for n < f.Size {
		k, rerr := src.Read(buf[:min(int64(len(buf)), f.Size-n)])
		if k > 0 {
			if _, err := ch.Write(buf[:k]); err != nil {
				c.closeChan(ch)
				c.fileBroke(f, try, "connection lost while sending")
				return
			}
			n += int64(k)
			c.progress(f, try, n)
		}
		if rerr != nil && n < f.Size {
			c.log.Warn("cannot read a spooled file", "id", f.ID, "err", rerr)
			c.closeChan(ch)
			c.fileFailed(f, try, "the spooled copy could not be read")
			return
		}
	}
	// Keep the channel open until the receiver's verdict (see copyIn), or
	// the end of the consultation, or verdictWait.
	c.waitFor(verdictWait, func() bool {
		return f.verdict || f.final() || f.try != try || c.closing || c.ctx.Err() != nil
	})
	c.closeChan(ch)
}

// whyShort is the error of a received file whose channel closed early:
// the sender's doing, or the connection's end (resume.go).
const whyShort = "fewer bytes than announced"

// verdictWait bounds how long a sender keeps a file's channel open waiting
// for the receiver's verdict.
const verdictWait = 2 * time.Minute

// receive takes an accepted file's bytes from its channel: exactly the
// announced size, then EOF, with the announced SHA-256. A good file is
// stored; either way the sender hears the verdict. try is the attempt.
func (c *Consultation) receive(f *fileState, try int, ch *session.Channel) {
	defer c.closeChan(ch)
	tmp, rel, err := c.st.createTemp(f.sub)
	if err != nil {
		c.log.Warn("cannot store a received file", "id", f.ID, "err", err)
		c.received(f, try, "", "", "could not store the file", true)
		return
	}
	h := sha256.New()
	why, tell := c.copyIn(f, try, ch, tmp, h)
	sum := hex.EncodeToString(h.Sum(nil))
	if why == "" && sum != f.want {
		why = "SHA-256 mismatch: the file was damaged or altered"
	}
	if why == "" {
		if err := tmp.Sync(); err != nil {
			c.log.Warn("cannot store a received file", "id", f.ID, "err", err)
			why = "could not store the file"
		}
	}
	tmp.Close()
	var stored string
	if why == "" {
		if stored, err = c.st.place(rel, f.sub, f.Name); err != nil {
			c.log.Warn("cannot store a received file", "id", f.ID, "err", err)
			why = "could not store the file"
		}
	}
	if why != "" {
		c.st.remove(rel)
	}
	c.received(f, try, stored, sum, why, tell)
}

// copyIn copies f.Size bytes from ch to w and h and checks that the sender
// then closed the channel. It returns why the file is bad ("" if it is not)
// and whether the sender should hear about it (not when the channel broke).
func (c *Consultation) copyIn(f *fileState, try int, ch *session.Channel, w io.Writer, h io.Writer) (why string, tell bool) {
	buf := make([]byte, copyBuf)
	var n int64
	for n < f.Size {
		k, err := ch.Read(buf[:min(int64(len(buf)), f.Size-n)])
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				c.log.Warn("cannot store a received file", "id", f.ID, "err", werr)
				return "could not store the file", true
			}
			h.Write(buf[:k])
			n += int64(k)
			c.progress(f, try, n)
		}
		if errors.Is(err, io.EOF) {
			return whyShort, true
		}
		if err != nil {
			return "connection lost", false
		}
	}
	// The verdict follows at the announced size, not at the sender's close:
	// the sender keeps the channel open until it has the verdict, because a
	// browser may drop messages it has not yet handed to the page when the
	// stream is reset right behind them. Whatever the sender might write
	// after the size is never read: the receiver closes the channel.
	return "", true
}

// received records a received file's outcome and queues the verdict.
func (c *Consultation) received(f *fileState, try int, stored, sum, why string, tell bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.final() || f.try != try {
		// Failed when the connection was rebuilt (and maybe offered again
		// since): neither side keeps this attempt.
		if stored != "" {
			c.st.remove(stored)
		}
		c.changedLocked()
		return
	}
	f.SHA256 = sum
	if why == "" {
		f.stored, f.Path, f.Done = stored, c.st.abs(stored), f.Size
		f.setFinal(FileDone, "")
		c.log.Debug("file received", "id", f.ID, "size", f.Size)
	} else {
		f.setFinal(FileFailed, why)
		if why == whyShort || !tell {
			f.broke = c.ln
		}
		c.log.Info("received file discarded", "id", f.ID, "reason", why)
	}
	if tell {
		c.enqueueLocked(message{T: tFileOK, ID: f.ID, OK: ptr(why == ""), SHA256: sum})
	}
	c.changedLocked()
}

// fileFailed fails attempt try of f, unless a later attempt began.
func (c *Consultation) fileFailed(f *fileState, try int, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.try != try {
		return
	}
	f.setFinal(FileFailed, why)
	c.changedLocked()
}

// fileBroke fails attempt try of f because its channel or the connection
// broke.
func (c *Consultation) fileBroke(f *fileState, try int, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.try != try || f.final() {
		return
	}
	f.setFinal(FileFailed, why)
	f.broke = c.ln
	c.changedLocked()
}

// progress records n bytes moved by attempt try, telling subscribers at
// most every progressEvery.
func (c *Consultation) progress(f *fileState, try int, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.try != try || f.final() {
		return
	}
	f.Done = n
	if now := time.Now(); n == f.Size || now.Sub(f.noted) >= progressEvery {
		f.noted = now
		c.changedLocked()
	}
}
