package consult

import (
	"context"
	"slices"
	"time"
)

// Role is the side of a consultation.
type Role int

const (
	// Host is the adviser (pairing role a, `direkt host`): it opens the
	// consult channel and asks the client's consent.
	Host Role = iota + 1
	// Client is the advised (pairing role b: the browser or `direkt join`).
	Client
)

// String returns "host" or "client", the role's name in hello.
func (r Role) String() string {
	switch r {
	case Host:
		return "host"
	case Client:
		return "client"
	}
	return ""
}

// peer is the other role.
func (r Role) peer() Role {
	if r == Host {
		return Client
	}
	return Host
}

// prefix is the first character of the ids the role creates.
func (r Role) prefix() byte {
	if r == Host {
		return 'h'
	}
	return 'c'
}

// AskState is the state of a consent request.
type AskState string

// Ask states.
const (
	AskPending   AskState = "pending"
	AskAccepted  AskState = "accepted"
	AskDeclined  AskState = "declined"
	AskWithdrawn AskState = "withdrawn"
)

// FileState is the state of a file.
type FileState string

// File states. Done and Failed are final; a sent file becomes Done only on
// the receiver's verdict.
const (
	// FileAsked: a host file waiting for the client's answer.
	FileAsked FileState = "asked"
	// FileDeclined: the client declined the host file; it was never sent.
	FileDeclined FileState = "declined"
	// FileWithdrawn: the host withdrew its ask; the file was never sent.
	FileWithdrawn FileState = "withdrawn"
	// FileSending: the file is announced and its bytes are moving (or,
	// for a sent file, moved and awaiting the receiver's verdict).
	FileSending FileState = "sending"
	// FileDone: the receiver verified size and SHA-256.
	FileDone FileState = "done"
	// FileFailed: see File.Error.
	FileFailed FileState = "failed"
)

// Event kinds.
const (
	EventAsked     = "asked"
	EventAccepted  = "accepted"
	EventDeclined  = "declined"
	EventWithdrawn = "withdrawn"
	// EventRefused: this client refused something the host sent without
	// consent (a file or a channel); nothing of it was stored.
	EventRefused = "refused"
)

// Recording states.
const (
	RecordingOff      = "off"
	RecordingAsked    = "asked"
	RecordingAccepted = "accepted"
	RecordingDeclined = "declined"
)

// Participant is one side's hello.
type Participant struct {
	Role Role
	Name string
	// Lang is "de" or "en".
	Lang string
	// Agent says what the side runs (informative).
	Agent string
}

// ChatMessage is one line of the transcript.
type ChatMessage struct {
	ID   string
	From Role
	Text string
	// At is this side's time: when it was sent, or received.
	At time.Time
	// Sent is the sender's clock ("ts").
	Sent time.Time
}

// Ask is a consent request.
type Ask struct {
	ID string
	// What is WhatRecord, WhatFile or WhatScreen.
	What string
	// Name (sanitised), Size and SHA256 describe the file of a WhatFile ask.
	Name   string
	Size   int64
	SHA256 string
	State  AskState
	// AskedAt is when it was sent (host) or received (client).
	AskedAt time.Time
	// AnsweredAt is when it was answered or withdrawn.
	AnsweredAt time.Time
}

// File is a file of the consultation, either direction.
type File struct {
	ID   string
	From Role
	// Kind is KindDoc or KindRecord.
	Kind string
	// Name is the file's name: as announced for a sent file; sanitised for
	// a received one (Path may differ by a conflict number).
	Name string
	Size int64
	// SHA256 is hex: the announced digest of a sent file; of what arrived
	// for a received one (known once it is Done or Failed).
	SHA256 string
	State  FileState
	// Done is the bytes moved so far.
	Done int64
	// At is when the file was offered or announced.
	At time.Time
	// Path is where a received file was stored (an operating-system path
	// under Config.DataDir), once Done.
	Path string
	// Error says why State is FileFailed.
	Error string
	// Resent counts the times the file was offered again, under the same
	// id, because the connection was rebuilt while it was in flight
	// (docs/consult.md, "Resuming"). It stays one file.
	Resent int
}

// Event is a consent event, in the order they happened.
type Event struct {
	At   time.Time
	Kind string
	// ID is the ask's or the file's id ("" for a refused channel with a
	// malformed label).
	ID string
	// What is the ask's What, or "file"/"channel" for a refusal.
	What string
	// Detail says why something was refused.
	Detail string
}

// Rejoin is the host's offer to reconnect without a code
// (docs/consult.md, "rejoin").
type Rejoin struct {
	Token  []byte
	Server string
	At     time.Time
}

// Snapshot is the state of a consultation at one moment. It shares nothing
// with the Consultation.
type Snapshot struct {
	Role    Role
	Self    Participant
	Peer    Participant
	Started time.Time

	// Chat is the transcript, oldest first.
	Chat []ChatMessage
	// HostShare and ClientShare are how much of each side's share of the
	// transcript is used, and what was cut once it was full.
	HostShare, ClientShare Share
	// Asks are the consent requests, oldest first.
	Asks []Ask
	// Files are the files of both directions, in the order they were
	// offered or announced.
	Files []File
	// Events are the consent events: asked, accepted, declined, withdrawn,
	// refused.
	Events []Event
	// Recording is RecordingOff, RecordingAsked, RecordingAccepted or
	// RecordingDeclined: the state of the latest "record" ask.
	Recording string
	// Rejoin is the host's last rejoin offer (client only).
	Rejoin *Rejoin
	// Screen is the state of screen sharing (docs/screen.md): whether we
	// may share, and each side's share while it is on or paused.
	Screen ScreenState
	// ScreenEvents are the starts, pauses, resumes and stops of both
	// sides' shares and the changes of their viewing, in order, for the
	// record.
	ScreenEvents []ScreenEvent

	// Ended is set as soon as either side ended the consultation or it
	// failed; Done follows once the last record file is in.
	Ended   bool
	EndedAt time.Time
	// EndedBy is who sent "end"; 0 when the consultation failed (lost
	// connection, protocol error).
	EndedBy Role
	// EndReason is the reason from "end", or what went wrong.
	EndReason string
}

// Snapshot returns the current state.
func (c *Consultation) Snapshot() Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Snapshot{
		Role:         c.role,
		Self:         c.self,
		Peer:         c.peer,
		Started:      c.started,
		Chat:         slices.Clone(c.chat),
		HostShare:    c.shares[Host-1],
		ClientShare:  c.shares[Client-1],
		Events:       slices.Clone(c.events),
		Recording:    c.recordingLocked(),
		Screen:       c.screenLocked(),
		ScreenEvents: slices.Clone(c.screenEvents),
		Ended:        c.ended,
		EndedAt:      c.endedAt,
		EndedBy:      c.endedBy,
		EndReason:    c.endReason,
	}
	for _, a := range c.asks {
		s.Asks = append(s.Asks, a.Ask)
	}
	for _, f := range c.files {
		s.Files = append(s.Files, f.File)
	}
	if c.rejoin != nil {
		r := *c.rejoin
		r.Token = slices.Clone(r.Token)
		s.Rejoin = &r
	}
	return s
}

// recordingLocked is the state of the latest record ask. mu must be held.
func (c *Consultation) recordingLocked() string {
	for _, a := range slices.Backward(c.asks) {
		if a.What != WhatRecord {
			continue
		}
		switch a.State {
		case AskPending:
			return RecordingAsked
		case AskAccepted:
			return RecordingAccepted
		case AskDeclined:
			return RecordingDeclined
		}
		return RecordingOff
	}
	return RecordingOff
}

// Changed returns a channel that receives a value (coalesced, never
// blocking the consultation) whenever the Snapshot changed, until ctx ends;
// then it is closed.
func (c *Consultation) Changed(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	c.subMu.Lock()
	c.subs[ch] = struct{}{}
	c.subMu.Unlock()
	context.AfterFunc(ctx, func() {
		c.subMu.Lock()
		delete(c.subs, ch)
		close(ch)
		c.subMu.Unlock()
	})
	return ch
}

// changedLocked tells waiters and subscribers that the state changed. mu
// must be held (so that the broadcast channel is swapped consistently).
func (c *Consultation) changedLocked() {
	close(c.bcast)
	c.bcast = make(chan struct{})
	c.subMu.Lock()
	for ch := range c.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	c.subMu.Unlock()
}
