package console

import (
	"context"
	"io"
	"time"
)

// Backend is the running peer the console shows and drives: `direkt host`
// (Role "host") or `direkt join` (Role "client"). It is implemented by
// internal/app; the console only renders its State and forwards actions.
// All methods are safe for concurrent use. Errors returned by actions are shown
// to the user as they are (one sentence).
type Backend interface {
	// State is a snapshot of everything the console shows.
	State() State
	// Changed returns a channel that receives a value (non-blocking, coalesced)
	// whenever State changed, until ctx ends. The console pushes "changed" to
	// the page, which then fetches the state again.
	Changed(ctx context.Context) <-chan struct{}

	// Chat sends a chat message to the other side.
	Chat(text string) error
	// Ask asks the client's consent (host only): what is "record" or "screen".
	// Files are asked for by SendFile.
	Ask(what string) error
	// Answer answers a consent request (client only).
	Answer(id string, ok bool) error
	// SendFile offers a file: the host asks consent first and sends after
	// acceptance; the client sends at once. r is read to the end (the backend
	// may spool it to disk first); size is its length.
	SendFile(name string, size int64, r io.Reader) error
	// OpenFile opens a received or sent file (by State.Files[i].ID) for
	// download from the console.
	OpenFile(id string) (name string, f io.ReadSeekCloser, err error)
	// SetNotes replaces the adviser's notes (host only).
	SetNotes(text string) error
	// End ends the current consultation on both sides at once.
	End() error
	// New starts waiting for the next client with a new code (host only;
	// allowed when no consultation is running).
	New() error

	// Records lists the stored consultation records matching query (all
	// words must occur in the record's text; "" lists all), newest first
	// (host only; the client lists the copies it received).
	Records(query string) ([]RecordInfo, error)
	// OpenRecord opens a record's "pdf" or "json" file.
	OpenRecord(id, format string) (name string, f io.ReadSeekCloser, err error)

	// AllowPeer answers a known peer's first reconnection without a code
	// (host only): ok true remembers the decision, false refuses it.
	AllowPeer(key string, ok bool) error
	// RevokePeer forgets a known peer (host) or host (client): it can no
	// longer reconnect without a code.
	RevokePeer(key string) error
	// Rejoin reconnects to a known host without a code (client only).
	Rejoin(key string) error

	// Screen sharing (docs/screen.md). The page captures and views through
	// a bridge to this peer; the peer forwards the pixels to the other side.

	// ScreenRTC answers the console page's bridge offer (docs/screen.md).
	// A new offer replaces the page's earlier bridge. ctx ends when the
	// page's request does.
	ScreenRTC(ctx context.Context, offer string) (answer string, err error)
	// Share starts ("start", with what, w, h), pauses ("pause"), resumes
	// ("resume") or stops ("stop") our screen share. what is "screen",
	// "window", "tab" or "other"; w and h (0–16384 pixels, informative)
	// are the picture's size. The host may start only while the client's
	// consent to "screen" stands (State.Screen.CanShare).
	Share(action, what string, w, h int) error
	// Pointer places ("look here") the pointer on our share at x, y
	// (fractions of the picture's width and height from its top left, in
	// [0, 1]), or hides it (show false; x and y are then 0).
	Pointer(x, y float64, show bool) error
	// View stops (false) or resumes (true) viewing the peer's share.
	View(on bool) error
}

// State is what the console shows. Times are UTC; the page renders them in
// local time. Empty fields are omitted from the JSON.
type State struct {
	// Role is "host" or "client".
	Role string `json:"role"`
	// Self is this peer.
	Self Participant `json:"self"`
	// Lang is the language the console speaks by default: "de" or "en".
	Lang string `json:"lang"`

	// Phase is waiting (host: code shown, no client yet), pairing,
	// connected, ended or failed; idle before the first code.
	Phase string `json:"phase"`
	// Error is why Phase is failed, one sentence.
	Error string `json:"error,omitempty"`

	// Code, JoinURL: the code and browser link while the host waits.
	Code    string `json:"code,omitempty"`
	JoinURL string `json:"join_url,omitempty"`

	// Peer is the other participant once paired.
	Peer *Participant `json:"peer,omitempty"`
	// Phrase is the 3-word check phrase once paired.
	Phrase string `json:"phrase,omitempty"`
	// Path is the connection path once connected.
	Path *Path `json:"path,omitempty"`

	Started time.Time `json:"started,omitzero"`
	Ended   time.Time `json:"ended,omitzero"`
	// EndReason says who ended and why.
	EndReason string `json:"end_reason,omitempty"`

	// Recording is "off", "asked", "accepted" or "declined".
	Recording string `json:"recording,omitempty"`
	// Chat is the transcript, oldest first.
	Chat []ChatMessage `json:"chat,omitempty"`
	// Asks are the consent requests of this consultation, oldest first.
	Asks []Ask `json:"asks,omitempty"`
	// Files are the files of this consultation, both directions.
	Files []File `json:"files,omitempty"`
	// Shares are the sides' shares of the transcript that need a warning:
	// at least 80 % full, or (the other side's) being cut; empty otherwise.
	Shares []Share `json:"shares,omitempty"`
	// Notes are the adviser's notes (host).
	Notes string `json:"notes,omitempty"`
	// Record is the record written when the consultation ended.
	Record *RecordInfo `json:"record,omitempty"`

	// Known are the known peers (host) or known hosts (client).
	Known []KnownPeer `json:"known,omitempty"`
	// Calling are known peers asking to reconnect that need the host's
	// decision (host only).
	Calling []KnownPeer `json:"calling,omitempty"`

	// Screen is the screen sharing of the running consultation; nil when
	// neither side can share (no consultation, or a peer without it).
	Screen *Screen `json:"screen,omitempty"`
}

// Screen is the screen sharing of a consultation (docs/screen.md).
type Screen struct {
	// CanShare says whether we may start a share now: the client always,
	// the host while the client's consent to "screen" stands.
	CanShare bool `json:"can_share"`
	// Own is our share, Peer the other side's; nil when there is none.
	Own  *ScreenShare `json:"own,omitempty"`
	Peer *ScreenShare `json:"peer,omitempty"`
	// Bitrate is the estimate of what the path to the peer carries, bit/s
	// (0: unknown); the adviser sees it.
	Bitrate int `json:"bitrate,omitempty"`
}

// ScreenShare is one side's share.
type ScreenShare struct {
	ID string `json:"id"`
	// State is "on", "paused" or "off".
	State string `json:"state"`
	// What is "screen", "window", "tab" or "other".
	What string `json:"what"`
	// W and H are the picture's size in pixels, as the sharer said.
	W       int       `json:"w"`
	H       int       `json:"h"`
	Started time.Time `json:"started,omitzero"`
	// Viewing says whether the viewer views (it may stop and resume).
	Viewing bool `json:"viewing"`
	// Pointer is where the sharer points (Peer only); nil: hidden.
	Pointer *Point `json:"pointer,omitempty"`
}

// Point is a place on a shared picture: fractions of its width and height
// from its top left, each in [0, 1].
type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

// Participant is one side of a consultation.
type Participant struct {
	Name string `json:"name"`
	// Role is "host" or "client".
	Role string `json:"role"`
	// Fingerprint of the long-term key; empty for a browser.
	Fingerprint string `json:"fingerprint,omitempty"`
	// Agent says what the peer runs: "direkt", or the browser.
	Agent string `json:"agent,omitempty"`
}

// Path is how the peers are connected.
type Path struct {
	// Kind is "direct" or "relay".
	Kind   string `json:"kind"`
	Local  string `json:"local"`
	Remote string `json:"remote"`
	Proto  string `json:"proto"`
}

// ChatMessage is one line of the transcript.
type ChatMessage struct {
	ID string `json:"id"`
	// From is "host" or "client".
	From string    `json:"from"`
	Name string    `json:"name"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

// Share is one side's share of the transcript: each side's chat messages may
// add at most Max bytes to the record (docs/consult.md, "Limits of the
// transcript and the record").
type Share struct {
	// From is "host" or "client".
	From string `json:"from"`
	// Used is what the side's messages add to the record so far.
	Used int `json:"used"`
	Max  int `json:"max"`
	// Cut is how many of the other side's messages were neither kept nor
	// recorded because its share was full; CutBytes their text's bytes,
	// CutSince when the first came.
	Cut      int       `json:"cut,omitempty"`
	CutBytes int64     `json:"cut_bytes,omitempty"`
	CutSince time.Time `json:"cut_since,omitzero"`
}

// Ask is a consent request and its answer.
type Ask struct {
	ID string `json:"id"`
	// What is "record", "file" or "screen".
	What string `json:"what"`
	// Name and Size describe the file of a "file" ask.
	Name string `json:"name,omitempty"`
	Size int64  `json:"size,omitempty"`
	// State is "pending", "accepted", "declined" or "withdrawn".
	State      string    `json:"state"`
	AskedAt    time.Time `json:"asked_at"`
	AnsweredAt time.Time `json:"answered_at,omitzero"`
}

// File is a file of the consultation.
type File struct {
	ID string `json:"id"`
	// From is "host" or "client".
	From string `json:"from"`
	Name string `json:"name"`
	Size int64  `json:"size"`
	// SHA256 is hex; for a received file, of what arrived.
	SHA256 string `json:"sha256,omitempty"`
	// Kind is "doc" or "record".
	Kind string `json:"kind"`
	// State is "asked", "declined", "sending", "done" or "failed".
	State string `json:"state"`
	// Done is the bytes moved so far.
	Done int64     `json:"done"`
	At   time.Time `json:"at"`
	// Error says why State is failed.
	Error string `json:"error,omitempty"`
	// Resent counts the times it was offered again, under its id, because
	// the connection was rebuilt while it was in flight.
	Resent int `json:"resent,omitempty"`
}

// RecordInfo describes a stored consultation record.
type RecordInfo struct {
	ID     string    `json:"id"`
	Client string    `json:"client"`
	Host   string    `json:"host"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	// Summary is the first chat lines or notes, for the list.
	Summary string `json:"summary,omitempty"`
}

// KnownPeer is a peer (or host) that may reconnect without a code.
type KnownPeer struct {
	// Key is the peer's public key, base64; the id in actions.
	Key         string    `json:"key"`
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	Added       time.Time `json:"added"`
	LastSeen    time.Time `json:"last_seen,omitzero"`
	// Allowed: the host confirmed this peer's first reconnection.
	Allowed bool `json:"allowed"`
}
