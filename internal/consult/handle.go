package consult

import (
	"encoding/base64"
	"strings"
	"time"
)

func encodeToken(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// handle applies one valid line from the peer. It returns an ErrProtocol
// error when the message breaks the rules of the consultation's state.
func (c *Consultation) handle(m message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.T == tResume {
		return perr("resume on a channel that was not resumed")
	}
	c.got++ // every line but "resume" counts (resume.go)
	if !c.gotHello {
		if m.T != tHello {
			return perr("first message is not hello")
		}
		if m.Role != c.role.peer().String() {
			return perr("hello from a %s, expected a %s", m.Role, c.role.peer())
		}
		c.peer = Participant{Role: c.role.peer(), Name: m.Name, Lang: m.Lang, Agent: m.Agent}
		c.gotHello = true
		close(c.helloCh)
		c.changedLocked()
		return nil
	}
	if c.ended {
		// After the end only the verdicts on our record files matter.
		if m.T != tFileOK {
			return nil
		}
		if err := c.onFileOK(m); err != nil {
			return err
		}
		c.changedLocked()
		return nil
	}
	var err error
	switch m.T {
	case tHello:
		err = perr("second hello")
	case tChat:
		err = c.onChat(m)
	case tAsk:
		err = c.onAsk(m)
	case tAnswer:
		err = c.onAnswer(m)
	case tFile:
		err = c.onFile(m)
	case tFileOK:
		err = c.onFileOK(m)
	case tWithdraw:
		err = c.onWithdraw(m)
	case tRejoin:
		err = c.onRejoin(m)
	case tShare:
		err = c.onShare(m)
	case tPointer:
		var changed bool
		if changed, err = c.onPointer(m); err == nil && !changed {
			return nil // dropped or nothing new: no change to tell
		}
	case tView:
		err = c.onView(m)
	case tEnd:
		c.finishLocked(endPeer, c.role.peer(), m.Reason, nil)
		return nil
	}
	if err != nil {
		return err
	}
	c.changedLocked()
	return nil
}

// fromPeer checks that an id the peer created carries the peer's prefix.
func (c *Consultation) fromPeer(id string) error {
	if id[0] != c.role.peer().prefix() {
		return perr("id with the wrong prefix")
	}
	return nil
}

// hostOnly checks that a host-only message came from the host.
func (c *Consultation) hostOnly(t string) error {
	if c.role != Client {
		return perr("%s from the client", t)
	}
	return nil
}

func (c *Consultation) onChat(m message) error {
	if err := c.fromPeer(m.ID); err != nil {
		return err
	}
	if !c.keepLocked(c.role.peer(), m.Text) {
		return nil // cut: counted in the peer's share
	}
	c.chat = append(c.chat, ChatMessage{
		ID: m.ID, From: c.role.peer(), Text: m.Text,
		At: c.now(), Sent: time.UnixMilli(*m.TS),
	})
	return nil
}

func (c *Consultation) onAsk(m message) error {
	if err := c.hostOnly(m.T); err != nil {
		return err
	}
	if err := c.fromPeer(m.ID); err != nil {
		return err
	}
	if c.askByID[m.ID] != nil {
		return perr("second ask with one id")
	}
	if len(c.asks) >= maxAsks {
		return perr("more than %d asks", maxAsks)
	}
	a := &askState{Ask: Ask{ID: m.ID, What: m.What, State: AskPending, AskedAt: c.now()}}
	if m.What == WhatFile {
		a.Name, _ = flatName(m.Name) // validated by parseLine
		a.Size, a.SHA256, a.rawName = *m.Size, m.SHA256, m.Name
	}
	c.addAskLocked(a)
	return nil
}

func (c *Consultation) onAnswer(m message) error {
	if c.role != Host {
		return perr("answer from the host")
	}
	a := c.askByID[m.ID]
	if a == nil {
		return perr("answer to an unknown ask")
	}
	switch a.State {
	case AskWithdrawn:
		return nil // crossed our withdraw
	case AskPending:
	default:
		return perr("second answer to one ask")
	}
	c.answeredLocked(a, *m.OK)
	if a.What == WhatFile {
		if f := c.fileByID[a.ID]; f != nil && f.State == FileAsked {
			if *m.OK {
				c.startSendLocked(f)
			} else {
				f.State = FileDeclined
			}
		}
	}
	return nil
}

func (c *Consultation) onWithdraw(m message) error {
	if err := c.hostOnly(m.T); err != nil {
		return err
	}
	a := c.askByID[m.ID]
	if a == nil {
		return perr("withdraw of an unknown ask")
	}
	// An accepted ask may be withdrawn too: our answer crossed the host's
	// withdraw, and the host will not send.
	if a.State == AskPending || a.State == AskAccepted {
		c.withdrawnLocked(a)
	}
	return nil
}

func (c *Consultation) onRejoin(m message) error {
	if err := c.hostOnly(m.T); err != nil {
		return err
	}
	token, _ := base64.StdEncoding.DecodeString(m.Token) // validated by parseLine
	c.rejoin = &Rejoin{Token: token, Server: m.Server, At: c.now()}
	return nil
}

// onFile takes a file announcement. From the client it is always welcome;
// from the host only with the client's consent, and otherwise refused.
func (c *Consultation) onFile(m message) error {
	if err := c.fromPeer(m.ID); err != nil {
		return err
	}
	if f := c.fileByID[m.ID]; f != nil {
		return c.onReoffer(f, m)
	}
	if len(c.files)+c.refusals >= maxFiles {
		return perr("more than %d files", maxFiles)
	}
	sub := dirFiles
	if c.role == Host {
		if m.Kind != KindDoc {
			return perr("a record from the client")
		}
	} else {
		var why string
		switch m.Kind {
		case KindDoc:
			why = c.docConsent(m)
		case KindRecord:
			why = c.recordConsent(m)
			sub = dirRecords
		}
		if why != "" {
			c.refuseLocked(m.ID, why)
			return nil
		}
	}
	name, _ := flatName(m.Name) // validated by parseLine
	f := &fileState{
		rawName: m.Name,
		File: File{
			ID: m.ID, From: c.role.peer(), Kind: m.Kind, Name: name, Size: *m.Size,
			State: FileSending, At: c.now(),
		},
		sub:  sub,
		want: m.SHA256,
	}
	c.files = append(c.files, f)
	c.fileByID[f.ID] = f
	if c.got-1 < c.peerSent {
		// Announced before the connection was rebuilt, sent again by
		// resume: its bytes were lost with the old connection, and the
		// sender fails it too, and offers it again: a channel that came
		// for it already is the re-offer's (no sender opens a channel of
		// an earlier attempt on a new connection) and waits for its line.
		f.setFinal(FileFailed, whyRebuilt)
		f.rebuilt = true
		return nil
	}
	c.attachOrphanLocked(f)
	return nil
}

// attachOrphanLocked starts receiving f if its channel came before its
// "file". mu must be held.
func (c *Consultation) attachOrphanLocked(f *fileState) {
	if ch := c.orphans[f.ID]; ch != nil {
		delete(c.orphans, f.ID)
		f.attached = true
		try := f.try
		c.wg.Go(func() { c.receive(f, try, ch) })
	}
}

// onReoffer takes a "file" for an id announced before: allowed only as the
// sender's re-offer of a file that failed because the connection was
// rebuilt (docs/consult.md, "Resuming"), with the same name, size, SHA-256
// and kind, on the new connection (not a line sent again by resume), and
// for a host document only while the client's consent stands. The file
// starts over under its id: one file, never a second copy.
func (c *Consultation) onReoffer(f *fileState, m message) error {
	switch {
	case f.out || !f.rebuilt || f.State != FileFailed || f.Kind != KindDoc || c.got-1 < c.peerSent:
		return perr("second file with one id")
	case f.Resent >= maxReoffers:
		return perr("file %s offered again more than %d times", f.ID, maxReoffers)
	case f.Kind != m.Kind || f.want != m.SHA256 || f.Size != *m.Size || f.rawName != m.Name:
		return perr("file %s offered again as another file", f.ID)
	}
	if c.role == Client {
		if why := c.docConsent(m); why != "" {
			c.refuseLocked(m.ID, why)
			return nil
		}
	}
	f.try++
	f.Resent++
	f.rebuilt, f.attached, f.broke = false, false, nil
	f.State, f.Error, f.Done, f.SHA256 = FileSending, "", 0, ""
	c.log.Debug("file offered again", "id", f.ID, "resent", f.Resent)
	c.attachOrphanLocked(f)
	return nil
}

// docConsent says why a host document may not come in, or "".
func (c *Consultation) docConsent(m message) string {
	a := c.askByID[m.ID]
	switch {
	case a == nil || a.What != WhatFile:
		return "a file the client was not asked for"
	case a.State != AskAccepted:
		return "a file the client did not accept"
	case a.rawName != m.Name || a.Size != *m.Size || a.SHA256 != m.SHA256:
		return "a file other than the one the client accepted"
	}
	return ""
}

// recordConsent says why a record file may not come in, or "". A record is
// consented to as a whole, so it may be one JSON and one PDF file of modest
// size, nothing else.
func (c *Consultation) recordConsent(m message) string {
	if c.recordingLocked() != RecordingAccepted {
		return "a record the client did not accept"
	}
	if *m.Size > maxRecordFile {
		return "a record file larger than a record"
	}
	switch lower := strings.ToLower(m.Name); {
	case strings.HasSuffix(lower, ".json") && !c.gotJSON:
		c.gotJSON = true
	case strings.HasSuffix(lower, ".pdf") && !c.gotPDF:
		c.gotPDF = true
	default:
		return "a record file other than one JSON and one PDF"
	}
	return ""
}

// refuseLocked refuses a host file: nothing of it is stored, its channel is
// closed, the host hears ok:false, and the Snapshot notes the refusal.
func (c *Consultation) refuseLocked(id, why string) {
	c.log.Info("refused a file from the host", "id", id)
	c.refused[id] = true
	c.refusals++
	c.eventLocked(EventRefused, id, WhatFile, why)
	if ch := c.orphans[id]; ch != nil {
		delete(c.orphans, id)
		c.closeLaterLocked(ch)
	}
	c.enqueueLocked(message{T: tFileOK, ID: id, OK: ptr(false)})
}

// onFileOK takes the receiver's verdict on a file we sent.
func (c *Consultation) onFileOK(m message) error {
	f := c.fileByID[m.ID]
	if f == nil || !f.out || !f.announced || f.verdict {
		return perr("file-ok for no file in flight")
	}
	if f.rebuilt {
		if *m.OK && m.SHA256 == f.SHA256 {
			// Failed when the connection was rebuilt, but the receiver had
			// it all: its verdict was on its way.
			f.verdict = true
			f.State, f.Error, f.Done = FileDone, "", f.Size
		}
		// Otherwise the receiver saw the old connection cut it off: no
		// verdict on the file, which reoffer sends again.
		return nil
	}
	f.verdict = true
	switch {
	case !*m.OK:
		f.setFinal(FileFailed, "the receiver refused the file or it arrived damaged")
	case m.SHA256 != f.SHA256:
		f.setFinal(FileFailed, "the receiver got a different SHA-256")
	default:
		f.Done = f.Size
		f.setFinal(FileDone, "")
	}
	c.log.Debug("file verdict", "id", f.ID, "ok", f.State == FileDone)
	return nil
}

// setFinal ends a file's life once: the first final state stays.
func (f *fileState) setFinal(s FileState, why string) {
	if f.final() {
		return
	}
	f.State, f.Error = s, why
}
