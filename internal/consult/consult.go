package consult

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/direkt/direkt/internal/session"
)

const (
	// consultLabel is the channel of the JSON Lines messages.
	consultLabel = "consult"
	// fileLabelPrefix starts the label of a file's channel: "file/<id>".
	fileLabelPrefix = "file/"

	defaultEndWait      = 30 * time.Second
	defaultAnnounceWait = 10 * time.Second
	// endWriteWait bounds how long ending waits for "end" to be handed to
	// the channel (the channel's Close then waits for it to arrive).
	endWriteWait = 5 * time.Second
	// protocolEndWait is the same for the "end" sent after a protocol
	// error: the peer is misbehaving, so it gets less.
	protocolEndWait = time.Second

	// Bounds on what one peer can make us keep. docs/consult.md sets none;
	// these are far above any real consultation and keep a hostile peer
	// from growing our memory without limit. Crossing one is ErrProtocol.
	// (The transcript is bounded by each side's share, MaxShare, instead:
	// crossing it cuts, share.go.)
	maxAsks  = 1000
	maxFiles = 1000 // files announced plus files and channels refused
	// maxOrphans bounds the file channels waiting for their "file" (the
	// session queues at most 64 unaccepted channels, too).
	maxOrphans = 64
	// maxRecordFile bounds a record file a client takes in: the record's
	// JSON and PDF are far smaller, and a record is consented to as a whole,
	// not per file.
	maxRecordFile = 64 << 20
	// maxReoffers bounds how often a file in flight is offered again after
	// the connection was rebuilt (docs/consult.md, "Resuming"), so that a
	// flapping network cannot make it go round for ever.
	maxReoffers = 3

	copyBuf       = 256 << 10
	progressEvery = 100 * time.Millisecond
)

// Config configures Start. Role and DataDir are required; every other field
// has a usable zero value.
type Config struct {
	// Role is Host or Client. Required.
	Role Role
	// Name is our name in hello, at most MaxName characters; may be empty.
	Name string
	// Lang is our language in hello, "de" or "en"; zero means "en".
	Lang string
	// Agent says what we run, at most MaxAgent characters; zero means
	// "direkt".
	Agent string
	// DataDir is our data folder. Received documents are stored in
	// DataDir/files, record copies a client receives in DataDir/records,
	// both flat, atomically and never overwriting ("name (1).ext"); files
	// being sent are spooled in DataDir/spool until the consultation ends.
	// Created if missing. Required.
	DataDir string
	// AskRecord (host only) asks the client's consent to a record right
	// after hello.
	AskRecord bool
	// EndWait bounds how long ending waits for record files in flight: the
	// host for the client's verdicts after its End, the client for the
	// announced record files after the host's "end". Zero means 30 s.
	EndWait time.Duration
	// Logger receives the consultation's logs (never chat text, names,
	// tokens or file contents). Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock of the Snapshot's times. Nil means time.Now.
	Now func() time.Time

	// Resumable lets the consultation outlive its session: when the session
	// or the consult channel is lost, the consultation waits (Suspended)
	// instead of ending, until Resume carries it on over a new session or
	// Abandon ends it (docs/consult.md, "Resuming"). Only for a host whose
	// client is a browser: Go peers keep their session through ICE restarts.
	Resumable bool

	// announceWait is how long a file channel the peer opened waits for
	// its "file" message before it is refused (tests). Zero means 10 s.
	announceWait time.Duration
}

func (cfg *Config) check() error {
	switch cfg.Role {
	case Host, Client:
	default:
		return fmt.Errorf("%w: role %d", ErrConfig, int(cfg.Role))
	}
	if cfg.DataDir == "" {
		return fmt.Errorf("%w: no data folder", ErrConfig)
	}
	switch cfg.Lang {
	case "":
		cfg.Lang = "en"
	case "de", "en":
	default:
		return fmt.Errorf("%w: language %q", ErrConfig, cfg.Lang)
	}
	if runes(cfg.Name) > MaxName {
		return fmt.Errorf("%w: name over %d characters", ErrConfig, MaxName)
	}
	if cfg.Agent == "" {
		cfg.Agent = "direkt"
	}
	if runes(cfg.Agent) > MaxAgent {
		return fmt.Errorf("%w: agent over %d characters", ErrConfig, MaxAgent)
	}
	if cfg.EndWait < 0 {
		return fmt.Errorf("%w: negative EndWait", ErrConfig)
	}
	if cfg.EndWait == 0 {
		cfg.EndWait = defaultEndWait
	}
	if cfg.announceWait == 0 {
		cfg.announceWait = defaultAnnounceWait
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return nil
}

// endKind says how a consultation ended.
type endKind int

const (
	endLocal    endKind = iota + 1 // End was called
	endPeer                        // the peer sent "end"
	endProtocol                    // the peer broke the protocol
	endLost                        // the session or the channel died
)

type askState struct {
	Ask
	// rawName is the file name as the host sent it: the "file" must
	// repeat it exactly.
	rawName string
}

type fileState struct {
	File
	// out: we send it.
	out bool
	// spool is the path of a sent file's copy, relative to the data folder.
	spool string
	// announced: a sent file's "file" message is queued.
	announced bool
	// verdict: the receiver's file-ok arrived for a sent file.
	verdict bool
	// sub is the folder a received file goes to, want its announced
	// digest, rawName its announced name, stored its path in the data
	// folder once done.
	sub     string
	rawName string
	want    string
	stored  string
	// attached: a received file's channel arrived.
	attached bool
	// rebuilt: failed because the connection was rebuilt while it was in
	// flight (resume.go); a good verdict that was on its way still counts,
	// and otherwise the sender offers it again under the same id.
	rebuilt bool
	// broke is the link in use when it failed because its channel or the
	// connection broke, or (received) the channel closed early, which is
	// also how a dying connection may look: Resume counts it as in flight
	// when that link is the one lost. Nil otherwise.
	broke *link
	// try counts the attempts at moving the file: a goroutine of an
	// earlier attempt changes nothing once a re-offer began another.
	try int
	// noted is when progress was last announced to subscribers.
	noted time.Time
}

func (f *fileState) final() bool {
	switch f.State {
	case FileDone, FileFailed, FileDeclined, FileWithdrawn:
		return true
	}
	return false
}

// outLine is one line we send, kept (while resumable) until the peer has
// it.
type outLine struct {
	line []byte     // nil once the peer has it
	sent chan error // receives the first write's outcome; buffered
}

// flusher waits until the first at lines were written.
type flusher struct {
	at   int
	sent chan error
}

// Consultation is one running consultation over a session, for either role.
// Its methods are safe for concurrent use.
type Consultation struct {
	role         Role
	log          *slog.Logger
	now          func() time.Time
	endWait      time.Duration
	announceWait time.Duration
	resumable    bool
	st           *store

	// ctx lives until teardown; it stops every goroutine but the reaper.
	ctx    context.Context
	cancel context.CancelFunc
	// wg counts every goroutine but the reaper, and SendFile's spooling.
	wg sync.WaitGroup

	// Outgoing lines, written in order by writeLoop: out holds every line
	// queued, wrote counts those written on the current link (resume.go).
	outMu    sync.Mutex
	out      []outLine
	wrote    int
	flushers []flusher
	broken   error // the consult channel failed (not resumable)
	outWake  chan struct{}

	subMu sync.Mutex
	subs  map[chan struct{}]struct{}

	helloCh   chan struct{} // closed when the peer's hello arrived
	finishing chan struct{} // closed when ended is set
	done      chan struct{} // closed when teardown is complete

	mu        sync.Mutex // guards everything below
	bcast     chan struct{}
	ln        *link         // the session and consult channel in use
	got       int           // lines received from the peer (resume counts them)
	peerSent  int           // lines the peer had queued at its last resume
	suspended bool          // the link is lost; Resume or Abandon decides
	suspendCh chan struct{} // closed while suspended
	self      Participant
	peer      Participant
	gotHello  bool
	started   time.Time
	nextID    int
	chat      []ChatMessage
	shares    [2]Share // by Role-1: each side's share of the transcript
	asks      []*askState
	askByID   map[string]*askState
	files     []*fileState
	fileByID  map[string]*fileState
	events    []Event
	refused   map[string]bool // ids of refused host files
	refusals  int
	rejoin    *Rejoin
	// Screen sharing (screen.go): each side's latest share by Role-1, the
	// ids of every share so far, the events for the record, the rate of
	// the peer's pointer positions shown and of ours sent, and our latest
	// position held back by that rate while a goroutine waits to send it
	// (ptrWaiting).
	screen       [2]*shareState
	shareIDs     map[string]bool
	screenEvents []ScreenEvent
	ptrIn        bucket
	ptrOut       bucket
	ptrPending   *message
	ptrWaiting   bool
	gotJSON      bool // a record .json / .pdf was taken in (client)
	gotPDF       bool
	orphans      map[string]*session.Channel // file channels before their "file"
	chans        map[*session.Channel]struct{}
	closing      bool // teardown took chans; new channels are closed at once
	ended        bool
	endedAt      time.Time
	endedBy      Role
	endReason    string
	endKind      endKind
	endSent      <-chan error
	err          error
}

// Start runs a consultation over s: the host opens the "consult" channel, the
// client accepts it (closing any other channel opened before it); both send
// hello, and Start returns once the peer's hello arrived. A host with
// AskRecord has asked for "record" by then. ctx bounds Start only.
//
// The Consultation then runs until either side ends it (End, or the peer's
// "end"), the peer breaks the protocol, or s ends. It never closes s: after
// Done, the caller closes the session.
func Start(ctx context.Context, s *session.Session, cfg Config) (*Consultation, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: nil session", ErrConfig)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	st, err := openStore(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	c := &Consultation{
		role:         cfg.Role,
		log:          cfg.Logger.With("consult", cfg.Role.String()),
		now:          cfg.Now,
		endWait:      cfg.EndWait,
		announceWait: cfg.announceWait,
		resumable:    cfg.Resumable,
		st:           st,
		outWake:      make(chan struct{}, 1),
		subs:         map[chan struct{}]struct{}{},
		helloCh:      make(chan struct{}),
		finishing:    make(chan struct{}),
		done:         make(chan struct{}),
		bcast:        make(chan struct{}),
		askByID:      map[string]*askState{},
		fileByID:     map[string]*fileState{},
		refused:      map[string]bool{},
		shareIDs:     map[string]bool{},
		orphans:      map[string]*session.Channel{},
		chans:        map[*session.Channel]struct{}{},
		shares:       [2]Share{{Max: MaxShare}, {Max: MaxShare}},
		suspendCh:    make(chan struct{}),
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.self = Participant{Role: cfg.Role, Name: cfg.Name, Lang: cfg.Lang, Agent: cfg.Agent}
	c.started = c.now()

	ch, err := c.openConsult(ctx, s)
	if err != nil {
		c.cancel()
		c.wg.Wait()
		st.close()
		return nil, fmt.Errorf("consult: open the %q channel: %w", consultLabel, err)
	}

	c.mu.Lock()
	c.enqueueLocked(message{T: tHello, V: ptr(1), Role: c.role.String(), Name: cfg.Name, Lang: cfg.Lang, Agent: cfg.Agent})
	if cfg.Role == Host && cfg.AskRecord {
		c.askLocked(WhatRecord)
	}
	c.mu.Unlock()

	c.mu.Lock()
	c.ln = newLink(c.ctx, s, ch, false)
	c.startLinkLocked(c.ln)
	c.mu.Unlock()
	go c.reap()

	select {
	case <-c.helloCh:
		c.log.Debug("consultation started")
		return c, nil
	case <-c.finishing:
		if isClosed(c.helloCh) {
			return c, nil // started, and already ended: Snapshot and Done say so
		}
		<-c.done
		if err := c.Err(); err != nil {
			return nil, err
		}
		return nil, ErrEnded
	case <-ctx.Done():
		c.finish(endLost, 0, "no hello from the peer", fmt.Errorf("consult: waiting for the peer's hello: %w", context.Cause(ctx)))
		<-c.done
		return nil, c.Err()
	}
}

// openConsult opens (host) or accepts (client) the consult channel on s.
func (c *Consultation) openConsult(ctx context.Context, s *session.Session) (*session.Channel, error) {
	if c.role == Host {
		return s.Open(ctx, consultLabel)
	}
	return c.acceptConsult(ctx, s)
}

// acceptConsult accepts channels until "consult"; the client closes any
// channel the host opened before it (nothing can have been announced).
func (c *Consultation) acceptConsult(ctx context.Context, s *session.Session) (*session.Channel, error) {
	for {
		ch, err := s.Accept(ctx)
		if err != nil {
			return nil, err
		}
		if ch.Label() == consultLabel {
			return ch, nil
		}
		c.log.Debug("refusing a channel opened before the consultation")
		c.wg.Go(func() { _ = ch.Close() })
	}
}

// Done is closed when the consultation is over and its goroutines and
// channels are down; the caller then closes the session.
func (c *Consultation) Done() <-chan struct{} { return c.done }

// Err returns why the consultation ended: nil while it runs and after an
// "end" from either side; ErrProtocol or ErrConnectionLost (wrapped) when
// it failed.
func (c *Consultation) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// End ends the consultation on both sides: it sends "end" with reason (at
// most MaxReason characters; the host sends its record files with
// SendRecord before), waits up to Config.EndWait for record files in
// flight, closes the consultation's channels and returns when everything is
// down. Calling it again, or after the consultation ended otherwise, waits
// for the end and returns nil.
func (c *Consultation) End(reason string) error {
	if runes(reason) > MaxReason {
		return fmt.Errorf("%w: reason over %d characters", ErrInvalid, MaxReason)
	}
	c.finish(endLocal, c.role, reason, nil)
	<-c.done
	return nil
}

// finish ends the consultation once; the first cause wins.
func (c *Consultation) finish(kind endKind, by Role, reason string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.finishLocked(kind, by, reason, err)
}

// finishLocked marks the consultation ended and queues the "end" we owe the
// peer; the reaper does the rest. mu must be held.
func (c *Consultation) finishLocked(kind endKind, by Role, reason string, err error) {
	if c.ended {
		return
	}
	c.ended, c.endedAt, c.endedBy, c.endReason, c.endKind, c.err = true, c.now(), by, reason, kind, err
	c.stopPointerLocked()
	c.stopSharesLocked()
	switch kind {
	case endLocal:
		c.endSent = c.enqueueLocked(message{T: tEnd, Reason: reason})
	case endProtocol:
		c.endSent = c.enqueueLocked(message{T: tEnd, Reason: "protocol error"})
	}
	if err != nil {
		c.log.Info("consultation failed", "err", err)
	} else {
		c.log.Debug("consultation ended", "by", by.String())
	}
	close(c.finishing)
	c.changedLocked()
}

func (c *Consultation) protocolError(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.protocolErrorLocked(err)
}

// protocolErrorLocked ends the consultation for a protocol violation. mu
// must be held.
func (c *Consultation) protocolErrorLocked(err error) {
	c.finishLocked(endProtocol, 0, "protocol error: "+strings.TrimPrefix(err.Error(), ErrProtocol.Error()+": "), err)
}

// reap waits for the end, lets record files finish where the protocol says
// so, and tears everything down.
func (c *Consultation) reap() {
	<-c.finishing
	c.mu.Lock()
	kind, sent := c.endKind, c.endSent
	if c.suspended {
		kind = endLost // no connection: nothing can go out or come in
	}
	c.mu.Unlock()
	switch kind {
	case endLocal:
		waitSent(sent, endWriteWait)
		if c.role == Host {
			c.waitFor(c.endWait, func() bool { return c.recordsSettledLocked(true) })
		}
	case endProtocol:
		waitSent(sent, protocolEndWait)
	case endPeer:
		if c.role == Client {
			c.waitFor(c.endWait, func() bool { return c.recordsSettledLocked(false) })
		}
	}
	if kind != endLost {
		// Verdicts on record files may still be queued behind "end".
		waitSent(c.flush(), endWriteWait)
	}
	c.teardown()
}

// flush returns where the writer reports that every line queued so far was
// written.
func (c *Consultation) flush() <-chan error {
	sent := make(chan error, 1)
	c.outMu.Lock()
	defer c.outMu.Unlock()
	switch {
	case c.broken != nil:
		sent <- c.broken
	case c.wrote >= len(c.out):
		sent <- nil
	default:
		c.flushers = append(c.flushers, flusher{at: len(c.out), sent: sent})
	}
	return sent
}

func waitSent(sent <-chan error, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-sent:
	case <-t.C:
	}
}

// waitFor waits until cond (called with mu held) holds, at most d.
func (c *Consultation) waitFor(d time.Duration, cond func() bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		c.mu.Lock()
		ok, wake := cond(), c.bcast
		c.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-wake:
		case <-t.C:
			return
		}
	}
}

// recordsSettledLocked reports whether every record file of one direction
// is done or failed. mu must be held.
func (c *Consultation) recordsSettledLocked(out bool) bool {
	for _, f := range c.files {
		if f.Kind == KindRecord && f.out == out && !f.final() {
			return false
		}
	}
	return true
}

// teardown stops every goroutine, closes every channel and removes the
// spooled copies.
func (c *Consultation) teardown() {
	c.cancel()
	c.mu.Lock()
	c.closing = true
	c.changedLocked() // wakes senders waiting for a verdict
	chans := make([]*session.Channel, 0, len(c.chans)+1)
	for ch := range c.chans {
		chans = append(chans, ch)
	}
	c.chans = nil
	chans = append(chans, c.ln.ch)
	c.mu.Unlock()
	// Each Close may wait for the peer; in parallel, they take as long as
	// the slowest.
	var cw sync.WaitGroup
	for _, ch := range chans {
		cw.Go(func() { _ = ch.Close() })
	}
	cw.Wait()
	c.wg.Wait()

	c.mu.Lock()
	for _, f := range c.files {
		if f.State == FileSending {
			f.State, f.Error = FileFailed, "the consultation ended before the file was complete"
		}
		if f.spool != "" {
			c.st.remove(f.spool)
		}
	}
	c.st.close()
	close(c.done)
	c.changedLocked()
	c.mu.Unlock()
	c.log.Debug("consultation closed")
}

// enqueueLocked queues m for the writer and returns where the write's
// outcome will be reported. mu must be held, so that the order of lines
// follows the order of state changes.
func (c *Consultation) enqueueLocked(m message) <-chan error {
	sent := make(chan error, 1)
	line, err := marshalLine(m)
	if err != nil {
		// Our own messages are checked before they get here.
		c.log.Error("cannot encode a message", "t", m.T, "err", err)
		sent <- err
		return sent
	}
	c.outMu.Lock()
	if c.broken != nil {
		sent <- c.broken
	} else {
		c.out = append(c.out, outLine{line: line, sent: sent})
	}
	c.outMu.Unlock()
	select {
	case c.outWake <- struct{}{}:
	default:
	}
	return sent
}

func (c *Consultation) onChannel(ch *session.Channel) {
	id, isFile := strings.CutPrefix(ch.Label(), fileLabelPrefix)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		c.wg.Go(func() { _ = ch.Close() })
		return
	}
	c.chans[ch] = struct{}{}
	if !isFile || checkID(id) != nil || id[0] != c.role.peer().prefix() {
		c.log.Debug("refusing a channel this consultation does not use")
		c.refuseChannelLocked(ch, "", "a channel this consultation does not use")
		return
	}
	f := c.fileByID[id]
	switch {
	case f != nil && !f.out && !f.attached && f.State == FileSending:
		f.attached = true
		try := f.try
		c.wg.Go(func() { c.receive(f, try, ch) })
	case f != nil && !(f.rebuilt && f.State == FileFailed) || c.refused[id]:
		c.closeLaterLocked(ch) // refused, or a second channel for a file
	case len(c.orphans) >= maxOrphans:
		c.refuseChannelLocked(ch, id, "too many file channels without an announcement")
	default:
		// The "file" may still be on its way: the two travel on different
		// streams and are handled by different goroutines. (For a file
		// failed when the connection was rebuilt, it is the re-offer's.)
		c.orphans[id] = ch
		c.wg.Go(func() { c.orphanWait(id, ch) })
	}
}

// orphanWait refuses a file channel whose "file" did not come in time.
func (c *Consultation) orphanWait(id string, ch *session.Channel) {
	t := time.NewTimer(c.announceWait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
		return
	}
	c.mu.Lock()
	if c.orphans[id] != ch {
		c.mu.Unlock()
		return
	}
	delete(c.orphans, id)
	c.log.Debug("refusing a file channel without an announcement", "id", id)
	c.refuseChannelLocked(ch, id, "a file channel without an announcement")
	c.mu.Unlock()
}

// refuseChannelLocked closes a channel the peer opened without the right to,
// notes it, and ends the consultation when a peer keeps doing it. mu must
// be held.
func (c *Consultation) refuseChannelLocked(ch *session.Channel, id, why string) {
	c.closeLaterLocked(ch)
	c.refusals++
	if c.refusals > maxFiles {
		c.protocolErrorLocked(perr("more than %d refused files and channels", maxFiles))
		return
	}
	c.eventLocked(EventRefused, id, "channel", why)
	c.changedLocked()
}

// closeLaterLocked closes ch in a goroutine (Close may wait for the peer).
// mu must be held.
func (c *Consultation) closeLaterLocked(ch *session.Channel) {
	c.wg.Go(func() { c.closeChan(ch) })
}

// closeChan closes a file channel and forgets it.
func (c *Consultation) closeChan(ch *session.Channel) {
	c.mu.Lock()
	delete(c.chans, ch)
	c.mu.Unlock()
	_ = ch.Close()
}

// registerChan tracks a channel we opened, so that teardown closes it; it
// reports false when teardown has begun (the caller closes it).
func (c *Consultation) registerChan(ch *session.Channel) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		return false
	}
	c.chans[ch] = struct{}{}
	return true
}

func (c *Consultation) eventLocked(kind, id, what, detail string) {
	c.events = append(c.events, Event{At: c.now(), Kind: kind, ID: id, What: what, Detail: detail})
}

func (c *Consultation) newIDLocked() string {
	c.nextID++
	return string(c.role.prefix()) + strconv.Itoa(c.nextID)
}

// Chat sends a chat message of 1–MaxChat characters.
func (c *Consultation) Chat(text string) error {
	if n := runes(text); n < 1 || n > MaxChat {
		return fmt.Errorf("%w: chat message of %d characters (1–%d)", ErrInvalid, n, MaxChat)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return ErrEnded
	}
	sh := c.shareLocked(c.role)
	cost := RecordCost(c.self.Name, text)
	if sh.Used+cost > sh.Max {
		return fmt.Errorf("%w: your messages may take %d MiB of the record, and this one would pass that", ErrFull, MaxShare>>20)
	}
	sh.Used += cost
	id, now := c.newIDLocked(), c.now()
	c.chat = append(c.chat, ChatMessage{ID: id, From: c.role, Text: text, At: now, Sent: now})
	c.enqueueLocked(message{T: tChat, ID: id, Text: text, TS: ptr(now.UnixMilli())})
	c.changedLocked()
	return nil
}

// Ask asks the client's consent (host only): what is WhatRecord or
// WhatScreen; files are asked for by SendFile. It returns the ask's id.
func (c *Consultation) Ask(what string) (string, error) {
	if c.role != Host {
		return "", fmt.Errorf("%w: only the host asks", ErrRole)
	}
	if what != WhatRecord && what != WhatScreen {
		return "", fmt.Errorf("%w: ask for %q", ErrInvalid, what)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return "", ErrEnded
	}
	if len(c.asks) >= maxAsks {
		return "", fmt.Errorf("%w: too many asks", ErrInvalid)
	}
	id := c.askLocked(what)
	c.changedLocked()
	return id, nil
}

// askLocked sends a record or screen ask. mu must be held.
func (c *Consultation) askLocked(what string) string {
	id := c.newIDLocked()
	c.addAskLocked(&askState{Ask: Ask{ID: id, What: what, State: AskPending, AskedAt: c.now()}})
	c.enqueueLocked(message{T: tAsk, ID: id, What: what})
	return id
}

func (c *Consultation) addAskLocked(a *askState) {
	c.asks = append(c.asks, a)
	c.askByID[a.ID] = a
	c.eventLocked(EventAsked, a.ID, a.What, "")
}

// Answer answers the host's consent request id (client only).
func (c *Consultation) Answer(id string, ok bool) error {
	if c.role != Client {
		return fmt.Errorf("%w: only the client answers", ErrRole)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return ErrEnded
	}
	a := c.askByID[id]
	if a == nil {
		return fmt.Errorf("%w: ask %q", ErrUnknownID, id)
	}
	if a.State != AskPending {
		return fmt.Errorf("%w: ask %s is %s", ErrNotPending, id, a.State)
	}
	c.answeredLocked(a, ok)
	c.enqueueLocked(message{T: tAnswer, ID: id, OK: ptr(ok)})
	c.changedLocked()
	return nil
}

func (c *Consultation) answeredLocked(a *askState, ok bool) {
	a.State, a.AnsweredAt = AskDeclined, c.now()
	kind := EventDeclined
	if ok {
		a.State, kind = AskAccepted, EventAccepted
	}
	c.eventLocked(kind, a.ID, a.What, "")
	if a.What == WhatScreen {
		c.screenConsentChangedLocked()
	}
}

// Withdraw withdraws the host's open consent request id (host only); a
// withdrawn file is never sent.
func (c *Consultation) Withdraw(id string) error {
	if c.role != Host {
		return fmt.Errorf("%w: only the host withdraws", ErrRole)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return ErrEnded
	}
	a := c.askByID[id]
	if a == nil {
		return fmt.Errorf("%w: ask %q", ErrUnknownID, id)
	}
	if a.State != AskPending {
		return fmt.Errorf("%w: ask %s is %s", ErrNotPending, id, a.State)
	}
	c.withdrawnLocked(a)
	c.enqueueLocked(message{T: tWithdraw, ID: id})
	c.changedLocked()
	return nil
}

func (c *Consultation) withdrawnLocked(a *askState) {
	a.State, a.AnsweredAt = AskWithdrawn, c.now()
	if f := c.fileByID[a.ID]; f != nil && f.out && f.State == FileAsked {
		f.State = FileWithdrawn
	}
	c.eventLocked(EventWithdrawn, a.ID, a.What, "")
	if a.What == WhatScreen {
		c.screenConsentChangedLocked()
	}
}

// OfferRejoin offers the client a reconnection without a code (host only):
// a 32-byte token and the rendezvous URL (docs/consult.md, "rejoin").
func (c *Consultation) OfferRejoin(token []byte, server string) error {
	if c.role != Host {
		return fmt.Errorf("%w: only the host offers a rejoin", ErrRole)
	}
	if len(token) != tokenLen {
		return fmt.Errorf("%w: token of %d bytes, want %d", ErrInvalid, len(token), tokenLen)
	}
	if err := checkServer(server); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return ErrEnded
	}
	c.enqueueLocked(message{T: tRejoin, Token: encodeToken(token), Server: server})
	return nil
}

// OpenFile opens a file of this consultation for reading: a received file
// once it is done (also after the consultation ended), or a sent file's
// spooled copy while the consultation runs. name is the file's name.
func (c *Consultation) OpenFile(id string) (name string, f *os.File, err error) {
	c.mu.Lock()
	var rel string
	if fst := c.fileByID[id]; fst != nil {
		name = fst.Name
		switch {
		case fst.out && !isClosed(c.done):
			rel = fst.spool
		case !fst.out && fst.State == FileDone:
			rel = fst.stored
		}
	}
	c.mu.Unlock()
	if rel == "" {
		return "", nil, fmt.Errorf("%w: no file %q to open", ErrUnknownID, id)
	}
	root, err := os.OpenRoot(c.st.dir)
	if err != nil {
		return "", nil, fmt.Errorf("consult: open file: %w", err)
	}
	defer root.Close()
	f, err = root.Open(rel)
	if err != nil {
		return "", nil, fmt.Errorf("consult: open file: %w", err)
	}
	return name, f, nil
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
