package wire

import "time"

// Mailbox protocol (docs/protocol.md, section 3): JSON text frames over a
// WebSocket at MailboxPath with subprotocol Subprotocol.

const (
	// MailboxPath is the HTTP path of the mailbox WebSocket.
	MailboxPath = "/v1/mailbox"
	// Subprotocol is the WebSocket subprotocol of protocol version 1.
	Subprotocol = "direkt.v1"
	// MaxFrame is the largest mailbox frame (JSON text) either side accepts.
	MaxFrame = 64 << 10
	// MaxBody is the largest decoded body of an "add" frame.
	MaxBody = 16 << 10
	// MaxBodiesPerSide is how many bodies one side may add to a mailbox.
	MaxBodiesPerSide = 256
)

// Mailbox frame types, client to server.
const (
	TypeAllocate = "allocate"
	TypeClaim    = "claim"
	TypeAdd      = "add"
	TypeClose    = "close"

	// Known peers (docs/protocol.md, section 8).
	TypeListen = "listen" // a host listens on its rejoin channels
	TypeDial   = "dial"   // a known client calls one channel
	TypeAnswer = "answer" // the host takes a ring on a new connection

	// Re-opened mailboxes (docs/protocol.md, section 3): a side whose
	// connection dropped takes its place again on a new one.
	TypeReopen = "reopen"
)

// Mailbox frame types, server to client.
const (
	TypeWelcome   = "welcome"
	TypeAllocated = "allocated"
	TypeClaimed   = "claimed"
	TypePaired    = "paired"
	TypeMessage   = "message"
	TypeClosed    = "closed"
	TypeError     = "error"

	// Known peers (docs/protocol.md, section 8).
	TypeListening = "listening" // reply to listen
	TypeRing      = "ring"      // to a listener: a client dialled one of its channels
	TypeHangup    = "hangup"    // to a listener: a ring is over
	TypeAnswered  = "answered"  // reply to answer: the new mailbox, side a
	TypeDialed    = "dialed"    // reply to dial once answered: the new mailbox, side b

	// Re-opened mailboxes (docs/protocol.md, section 3).
	TypeReopened = "reopened" // reply to reopen: the side is back
)

// Moods of a "close" frame.
const (
	MoodHappy   = "happy"   // done, all well
	MoodScary   = "scary"   // pairing failed (wrong code or tampering): burn the nameplate
	MoodLonely  = "lonely"  // gave up waiting for the other side
	MoodErrory  = "errory"  // local error
	MoodExpired = "expired" // server only: the mailbox timed out
)

// Error kinds of an "error" frame.
const (
	ErrKindBadRequest       = "bad-request"
	ErrKindUnknownNameplate = "unknown-nameplate"
	ErrKindCrowded          = "crowded"
	ErrKindRateLimited      = "rate-limited"
	ErrKindTooLarge         = "too-large"
	ErrKindTooMany          = "too-many"
	ErrKindExpired          = "expired"
	ErrKindInternal         = "internal"
	// ErrKindUnavailable answers a dial on a channel nobody listens on, or
	// whose call was not answered in time, and an answer to a ring that is
	// over (docs/protocol.md, section 8).
	ErrKindUnavailable = "unavailable"
	// ErrKindUnknownMailbox answers a reopen of a mailbox that does not
	// exist or has ended, or with a token that is not one of its sides'
	// (docs/protocol.md, section 3). The cases are deliberately the same.
	ErrKindUnknownMailbox = "unknown-mailbox"
)

const (
	// ReopenTokenSize is the size of a side's reopen token.
	ReopenTokenSize = 32
	// ReopenGrace is how long a paired mailbox waits for a side whose
	// connection dropped to reopen it (docs/protocol.md, section 3).
	ReopenGrace = 60 * time.Second
)

// Frame is one mailbox frame in either direction. Only the fields of its Type
// are set; the rest are left empty and omitted.
type Frame struct {
	Type string `json:"type"`

	// welcome
	Version int    `json:"version,omitempty"`
	MOTD    string `json:"motd,omitempty"`

	// claim, allocated
	Nameplate string `json:"nameplate,omitempty"`
	// allocated, claimed, answered, dialed: 16 random bytes, the CPace sid.
	Mailbox []byte `json:"mailbox,omitempty"`

	// listen: the complete set of rejoin channels (lower-case hex,
	// ChannelHexLen characters each), at most MaxListenChannels.
	Channels []string `json:"channels,omitempty"`
	// dial, ring: one rejoin channel.
	Channel string `json:"channel,omitempty"`
	// ring, answer, hangup: RingIDSize random bytes naming one call.
	Ring []byte `json:"ring,omitempty"`

	// add, message
	Body []byte `json:"body,omitempty"`

	// allocate, claim, dial, answer: this side asks for a reopen token,
	// so that the mailbox outlives a dropped connection for ReopenGrace.
	Reopen bool `json:"reopen,omitempty"`
	// paired (to a side that asked for it), reopen: the side's
	// ReopenTokenSize-byte reopen token.
	Token []byte `json:"token,omitempty"`
	// reopen: how many "message" frames the client has received in this
	// mailbox; reopened: how many bodies the server has accepted from this
	// side. Each side sends again what the other has not received.
	Received int `json:"received,omitempty"`

	// close, closed
	Mood string `json:"mood,omitempty"`

	// paired
	ICEServers []ICEServer `json:"ice_servers,omitempty"`
	TTL        int         `json:"ttl,omitempty"` // seconds the credentials are valid

	// error
	Kind    string `json:"kind,omitempty"`
	Message string `json:"message,omitempty"`
}

// ICEServer is a STUN or TURN server as the browser's RTCIceServer describes it.
type ICEServer struct {
	URLs       []string `json:"urls"`
	Username   string   `json:"username,omitempty"`
	Credential string   `json:"credential,omitempty"`
}
