package consult

import (
	"fmt"
	"math"
	"time"
)

// Screen sharing's control messages (docs/screen.md, "Control messages").
// Each side has at most one share at a time: "share" starts (on, a new id),
// pauses, resumes (on, the same id) and stops (off) it; "pointer" shows the
// sharer's "look here" on it; "view" tells the sharer whether the viewer
// looks at it. The host shares only while a "screen" ask stands accepted
// (screenConsentLocked); when that consent ends, its share stops on both
// sides at once: the host sends "off", the client takes nothing more of it.
// Pixels never pass here: the app forwards media by the Snapshot's Screen.

// Values of a share's "state".
const (
	ShareOn     = "on"
	SharePaused = "paused"
	ShareOff    = "off"
)

// What is shared (a share's "what").
const (
	ShareScreen = "screen"
	ShareWindow = "window"
	ShareTab    = "tab"
	ShareOther  = "other"
)

// Screen event kinds (ScreenEvent.Kind), in the record as they are.
const (
	ScreenStart   = "start"
	ScreenPause   = "pause"
	ScreenResume  = "resume"
	ScreenStop    = "stop"
	ScreenViewOff = "view-off" // the viewer stopped viewing
	ScreenViewOn  = "view-on"  // the viewer went back to viewing
)

const (
	// MaxSharePixels bounds a share's informative width and height.
	MaxSharePixels = 16384
	// PointerRate is how many pointer positions per second are shown (and
	// sent): the rest are dropped, not an error.
	PointerRate = 20
	// pointerBurst is how many the viewer shows at once before the rate
	// holds: room for positions the network bunched together.
	pointerBurst = 20
	// pointerSendBurst is how many we send at once before the rate holds;
	// less than the viewer's burst, so that an honest pointer is never
	// dropped by jitter.
	pointerSendBurst = 5
	// maxScreenEvents bounds the screen events of a consultation (both
	// sides): a peer that crosses it breaks the protocol, our own action
	// that would is refused. They all go into the record.
	maxScreenEvents = 2000
)

// Pointer is the sharer's pointer: fractions of the picture's width and
// height from its top left.
type Pointer struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// ScreenShare is one side's current share.
type ScreenShare struct {
	ID string `json:"id"`
	// What is ShareScreen, ShareWindow, ShareTab or ShareOther.
	What string `json:"what"`
	// State is ShareOn or SharePaused: a share that is off is no longer in
	// the Snapshot.
	State string `json:"state"`
	// W and H are the capture's size in pixels (informative; 0 unknown).
	W int `json:"w"`
	H int `json:"h"`
	// Started is when the share started (sent or received).
	Started time.Time `json:"started"`
	// Viewing says, for our own share, that the peer views it (true until
	// the peer says "view" false); for the peer's share, that we view it
	// (true until View(false)).
	Viewing bool `json:"viewing"`
	// Pointer is the sharer's pointer on the peer's share, nil when hidden;
	// always nil on our own.
	Pointer *Pointer `json:"pointer"`
}

// ScreenState is the state of screen sharing in a Snapshot.
type ScreenState struct {
	// CanShare says Share may start a share now: for the host, a "screen"
	// ask stands accepted; for the client always; for both only while the
	// consultation runs and is not suspended.
	CanShare bool `json:"can_share"`
	// Own and Peer are our and the peer's share, nil when that side has no
	// share on or paused (it never shared, or its share is off).
	Own  *ScreenShare `json:"own"`
	Peer *ScreenShare `json:"peer"`
}

// ScreenEvent is one start, pause, resume or stop of a share, or a change
// of its viewer's viewing, for the record.
type ScreenEvent struct {
	At time.Time
	// By is the side that did it: the sharer, or for ScreenViewOff and
	// ScreenViewOn the viewer.
	By Role
	// Kind is ScreenStart, ScreenPause, ScreenResume, ScreenStop,
	// ScreenViewOff or ScreenViewOn.
	Kind string
	// ID, What, W and H are the share's.
	ID   string
	What string
	W, H int
	// Detail says why a share stopped other than by its sharer: "consent
	// ended" (the client's screen consent ended while the host shared) or
	// "consultation ended".
	Detail string
}

// ScreenEvent.Detail of a share stopped other than by its sharer.
const (
	// DetailConsentEnded: the host's share, when the client's screen
	// consent ended.
	DetailConsentEnded = "consent ended"
	// DetailEnded: a share still on or paused when the consultation ended.
	DetailEnded = "consultation ended"
)

// shareState is one side's latest share.
type shareState struct {
	ScreenShare
	// off: the share stopped; ScreenShare.State keeps its last state
	// before.
	off bool
	// cut: the host's share, stopped on the client when its consent
	// ended; the host's lines for it that crossed are ignored.
	cut bool
	// shown and dropped count the peer's pointer positions shown and
	// dropped by the rate limit.
	shown, dropped int
}

// bucket is a token bucket: rate tokens a second, at most burst.
type bucket struct {
	tokens float64
	at     time.Time
}

// take takes a token at now if there is one; else it says how long until
// there is.
func (b *bucket) take(now time.Time, burst float64) (bool, time.Duration) {
	if b.at.IsZero() {
		b.tokens = burst
	} else if d := now.Sub(b.at); d > 0 {
		b.tokens = min(burst, b.tokens+d.Seconds()*PointerRate)
	}
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / PointerRate * float64(time.Second))
}

func validWhat(what string) bool {
	switch what {
	case ShareScreen, ShareWindow, ShareTab, ShareOther:
		return true
	}
	return false
}

func validPixels(n int) bool { return n >= 0 && n <= MaxSharePixels }

// validFraction accepts a finite number in [0, 1] (NaN fails both tests).
func validFraction(f float64) bool { return f >= 0 && f <= 1 && !math.IsInf(f, 0) }

// screenConsentLocked reports whether the client's consent to the host's
// share stands: the latest "screen" ask that was answered (accepted or
// declined) was accepted. A pending ask changes nothing until answered; a
// withdrawn one never counts, on both sides alike (the host withdraws only
// pending asks, and ignores an answer that crossed its withdraw; the
// client, seeing the withdraw after its acceptance, withdraws it too). mu
// must be held.
func (c *Consultation) screenConsentLocked() bool {
	for i := len(c.asks) - 1; i >= 0; i-- {
		a := c.asks[i]
		if a.What != WhatScreen {
			continue
		}
		switch a.State {
		case AskAccepted:
			return true
		case AskDeclined:
			return false
		}
	}
	return false
}

// screenConsentChangedLocked stops the host's share when the client's
// consent ended: the host sends "off", the client takes nothing more of
// that share. mu must be held.
func (c *Consultation) screenConsentChangedLocked() {
	if c.screenConsentLocked() {
		return
	}
	sh := c.screen[Host-1]
	if sh == nil || sh.off {
		return
	}
	sh.off = true
	sh.Pointer = nil
	c.screenEventLocked(Host, ScreenStop, sh, DetailConsentEnded)
	if c.role == Host {
		c.stopPointerLocked()
		c.enqueueLocked(c.shareLine(sh, ShareOff))
	} else {
		sh.cut = true
	}
	c.log.Info("screen share stopped: the client's consent ended", "id", sh.ID)
}

func (c *Consultation) screenEventLocked(by Role, kind string, sh *shareState, detail string) {
	c.screenEvents = append(c.screenEvents, ScreenEvent{
		At: c.now(), By: by, Kind: kind, ID: sh.ID, What: sh.What, W: sh.W, H: sh.H, Detail: detail,
	})
}

func (c *Consultation) shareLine(sh *shareState, state string) message {
	return message{T: tShare, ID: sh.ID, State: state, What: sh.What, W: ptr(sh.W), H: ptr(sh.H)}
}

// ownShareLocked is our share if it is on or paused, else nil. mu must be
// held.
func (c *Consultation) ownShareLocked() *shareState {
	if sh := c.screen[c.role-1]; sh != nil && !sh.off {
		return sh
	}
	return nil
}

// Share starts sharing (what: "screen", "window", "tab" or "other"; w, h
// the capture's size, informative) and returns the share's id. The host
// needs an accepted screen ask (ErrNoConsent otherwise); the client shares
// on its own initiative. One share at a time: stop the last first.
func (c *Consultation) Share(what string, w, h int) (string, error) {
	if !validWhat(what) {
		return "", fmt.Errorf("%w: share of %q (screen, window, tab or other)", ErrInvalid, what)
	}
	if !validPixels(w) || !validPixels(h) {
		return "", fmt.Errorf("%w: share of %d×%d pixels (0–%d each)", ErrInvalid, w, h, MaxSharePixels)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return "", ErrEnded
	}
	if c.ownShareLocked() != nil {
		return "", fmt.Errorf("%w: already sharing; stop that share first", ErrInvalid)
	}
	if c.role == Host && !c.screenConsentLocked() {
		return "", fmt.Errorf("%w: the client has not accepted screen sharing", ErrNoConsent)
	}
	if len(c.screenEvents) >= maxScreenEvents {
		return "", fmt.Errorf("%w: too many screen sharing events", ErrInvalid)
	}
	sh := &shareState{ScreenShare: ScreenShare{ID: c.newIDLocked(), What: what, State: ShareOn, W: w, H: h, Started: c.now(), Viewing: true}}
	c.screen[c.role-1] = sh
	c.shareIDs[sh.ID] = true
	c.screenEventLocked(c.role, ScreenStart, sh, "")
	c.enqueueLocked(c.shareLine(sh, ShareOn))
	c.changedLocked()
	return sh.ID, nil
}

// PauseShare pauses (true) or resumes (false) our share. Pausing a paused
// share or resuming one that is on does nothing.
func (c *Consultation) PauseShare(paused bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return ErrEnded
	}
	sh := c.ownShareLocked()
	if sh == nil {
		return fmt.Errorf("%w: not sharing", ErrInvalid)
	}
	state, kind := ShareOn, ScreenResume
	if paused {
		state, kind = SharePaused, ScreenPause
	}
	if sh.State == state {
		return nil
	}
	if len(c.screenEvents) >= maxScreenEvents {
		return fmt.Errorf("%w: too many screen sharing events", ErrInvalid)
	}
	sh.State = state
	c.screenEventLocked(c.role, kind, sh, "")
	c.enqueueLocked(c.shareLine(sh, state))
	c.changedLocked()
	return nil
}

// StopShare stops our share; without one it does nothing.
func (c *Consultation) StopShare() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return ErrEnded
	}
	sh := c.ownShareLocked()
	if sh == nil {
		return nil
	}
	sh.off = true
	c.stopPointerLocked()
	// A stop is always recorded, whatever the limit: the record must not
	// show a share that never ended.
	c.screenEventLocked(c.role, ScreenStop, sh, "")
	c.enqueueLocked(c.shareLine(sh, ShareOff))
	c.changedLocked()
	return nil
}

// Pointer shows the pointer at (x, y), fractions of the picture in [0, 1],
// or hides it (show false), on our share. At most PointerRate positions a
// second go out: a faster caller's positions are coalesced, and the latest
// goes out as soon as the rate allows.
func (c *Consultation) Pointer(x, y float64, show bool) error {
	if show && (!validFraction(x) || !validFraction(y)) {
		return fmt.Errorf("%w: pointer at (%v, %v), outside 0–1", ErrInvalid, x, y)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return ErrEnded
	}
	sh := c.ownShareLocked()
	if sh == nil {
		return fmt.Errorf("%w: not sharing", ErrInvalid)
	}
	m := message{T: tPointer, ID: sh.ID}
	if show {
		m.X, m.Y = ptr(x), ptr(y)
	}
	if c.ptrWaiting {
		c.ptrPending = &m // goes out when the wait is over
		return nil
	}
	ok, wait := c.ptrOut.take(time.Now(), pointerSendBurst)
	if ok {
		c.enqueueLocked(m)
		return nil
	}
	c.ptrPending, c.ptrWaiting = &m, true
	// Not ended, so teardown has not begun to wait for c.wg.
	c.wg.Go(func() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			c.flushPointer()
		case <-c.ctx.Done():
		}
	})
	return nil
}

// flushPointer sends the latest coalesced pointer position, if its share
// is still on or paused.
func (c *Consultation) flushPointer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.ptrPending
	c.ptrPending, c.ptrWaiting = nil, false
	if m == nil || c.ended {
		return
	}
	if sh := c.ownShareLocked(); sh == nil || sh.ID != m.ID {
		return
	}
	c.ptrOut.take(time.Now(), pointerSendBurst)
	c.enqueueLocked(*m)
}

// stopPointerLocked forgets a coalesced pointer position; the wait for it
// ends on its own. mu must be held.
func (c *Consultation) stopPointerLocked() {
	c.ptrPending = nil
}

// View tells the peer that we stopped (false) or went back to (true)
// viewing its share. Saying what we said last does nothing.
func (c *Consultation) View(on bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return ErrEnded
	}
	sh := c.screen[c.role.peer()-1]
	if sh == nil || sh.off {
		return fmt.Errorf("%w: the peer is not sharing", ErrInvalid)
	}
	if sh.Viewing == on {
		return nil
	}
	if len(c.screenEvents) >= maxScreenEvents {
		return fmt.Errorf("%w: too many screen sharing events", ErrInvalid)
	}
	sh.Viewing = on
	kind := ScreenViewOff
	if on {
		kind = ScreenViewOn
	}
	c.screenEventLocked(c.role, kind, sh, "")
	c.enqueueLocked(message{T: tView, ID: sh.ID, On: ptr(on)})
	c.changedLocked()
	return nil
}

// onShare takes the peer's "share". mu must be held.
func (c *Consultation) onShare(m message) error {
	if err := c.fromPeer(m.ID); err != nil {
		return err
	}
	peer := c.role.peer()
	cur := c.screen[peer-1]
	if cur == nil || cur.ID != m.ID {
		// Only a new share may come with a new id.
		switch {
		case m.State != ShareOn:
			return perr("share %s of an unknown share", m.State)
		case c.shareIDs[m.ID]:
			return perr("share with an id used before")
		case cur != nil && !cur.off:
			return perr("a second share while one is on")
		case peer == Host && !c.screenConsentLocked():
			return perr("share from the host without the client's consent")
		case len(c.screenEvents) >= maxScreenEvents:
			return perr("more than %d screen sharing events", maxScreenEvents)
		}
		sh := &shareState{ScreenShare: ScreenShare{ID: m.ID, What: m.What, State: ShareOn, W: *m.W, H: *m.H, Started: c.now(), Viewing: true}}
		c.screen[peer-1] = sh
		c.shareIDs[sh.ID] = true
		c.screenEventLocked(peer, ScreenStart, sh, "")
		return nil
	}
	if cur.cut {
		return nil // crossed the end of the consent: the host stops it too
	}
	switch {
	case cur.off:
		return perr("share %s after its off", m.State)
	case m.What != cur.What:
		return perr("share changed what it shares")
	case m.State == ShareOn && peer == Host && !c.screenConsentLocked():
		return perr("share from the host without the client's consent")
	case m.State != ShareOff && m.State != cur.State && len(c.screenEvents) >= maxScreenEvents:
		// A stop is always recorded: the record must not show a share
		// that never ended.
		return perr("more than %d screen sharing events", maxScreenEvents)
	}
	switch m.State {
	case ShareOff:
		cur.off = true
		cur.Pointer = nil
		cur.W, cur.H = *m.W, *m.H
		c.screenEventLocked(peer, ScreenStop, cur, "")
	case cur.State:
		cur.W, cur.H = *m.W, *m.H // nothing new but perhaps the size
	case SharePaused:
		cur.State = SharePaused
		c.screenEventLocked(peer, ScreenPause, cur, "")
	case ShareOn:
		cur.State = ShareOn
		cur.W, cur.H = *m.W, *m.H
		c.screenEventLocked(peer, ScreenResume, cur, "")
	}
	return nil
}

// onPointer takes the peer's "pointer" on its share and reports whether
// the Snapshot changed: a position over the rate is dropped. mu must be
// held.
func (c *Consultation) onPointer(m message) (bool, error) {
	if err := c.fromPeer(m.ID); err != nil {
		return false, err
	}
	sh := c.screen[c.role.peer()-1]
	switch {
	case sh == nil || sh.ID != m.ID:
		return false, perr("pointer on no share of the peer")
	case sh.cut:
		return false, nil // crossed the end of the consent
	case sh.off:
		return false, perr("pointer on a share that is off")
	}
	if m.X == nil {
		if sh.Pointer == nil {
			return false, nil
		}
		sh.Pointer = nil
		return true, nil
	}
	// Hiding costs nothing: with positions limited, so are the changes.
	if ok, _ := c.ptrIn.take(time.Now(), pointerBurst); !ok {
		sh.dropped++
		return false, nil
	}
	sh.shown++
	sh.Pointer = &Pointer{X: *m.X, Y: *m.Y}
	return true, nil
}

// onView takes the peer's "view" on our share. mu must be held.
func (c *Consultation) onView(m message) error {
	if m.ID[0] != c.role.prefix() {
		return perr("view of a share that is not ours")
	}
	if !c.shareIDs[m.ID] {
		return perr("view of an unknown share")
	}
	sh := c.screen[c.role-1]
	if sh.ID != m.ID || sh.off || sh.Viewing == *m.On {
		return nil // crossed our stop, or nothing new
	}
	if len(c.screenEvents) >= maxScreenEvents {
		return perr("more than %d screen sharing events", maxScreenEvents)
	}
	sh.Viewing = *m.On
	kind := ScreenViewOff
	if sh.Viewing {
		kind = ScreenViewOn
	}
	c.screenEventLocked(c.role.peer(), kind, sh, "")
	return nil
}

// stopSharesLocked stops both sides' shares as the consultation ends, so
// that the record shows each share's end. mu must be held.
func (c *Consultation) stopSharesLocked() {
	for i, sh := range c.screen {
		if sh != nil && !sh.off {
			sh.off, sh.Pointer = true, nil
			c.screenEventLocked(Role(i+1), ScreenStop, sh, DetailEnded)
		}
	}
}

// screenLocked is the Snapshot's ScreenState. mu must be held.
func (c *Consultation) screenLocked() ScreenState {
	s := ScreenState{CanShare: !c.ended && !c.suspended && (c.role == Client || c.screenConsentLocked())}
	view := func(sh *shareState) *ScreenShare {
		if sh == nil || sh.off {
			return nil
		}
		v := sh.ScreenShare
		if v.Pointer != nil {
			p := *v.Pointer
			v.Pointer = &p
		}
		return &v
	}
	s.Own, s.Peer = view(c.screen[c.role-1]), view(c.screen[c.role.peer()-1])
	return s
}

// Screen returns the state of screen sharing, as the Snapshot would,
// without copying the rest of the consultation: the app gates the media
// by it after every change.
func (c *Consultation) Screen() ScreenState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.screenLocked()
}
