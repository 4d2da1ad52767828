package wire

// Sealed signalling messages (docs/protocol.md, section 4.3). They travel only
// inside sealed pairing frames.

// Signal types (the "t" field).
const (
	SignalHello   = "hello"
	SignalOffer   = "offer"
	SignalAnswer  = "answer"
	SignalCand    = "cand"
	SignalCandEnd = "cand-end"
	SignalBye     = "bye"

	// SignalProof follows the hellos of a rejoin (docs/protocol.md,
	// section 8): the sender's Ed25519 signature over RejoinProof.
	SignalProof = "proof"

	// SignalRestart is the answerer's request that the offerer restart ICE
	// after the connection's path failed (docs/protocol.md, section 5.1).
	// It has no fields.
	SignalRestart = "restart"

	// SignalReconnect is a browser answerer's request that the offerer build
	// a new connection (new PeerConnection, new DTLS certificate, new
	// channel binding) because its DTLS transport failed, which no ICE
	// restart revives (docs/protocol.md, section 5.2). It has no fields.
	SignalReconnect = "reconnect"
)

// Signal is one sealed signalling message. Only the fields of its T are set.
type Signal struct {
	T string `json:"t"`

	// hello
	V    int    `json:"v,omitempty"`
	Name string `json:"name,omitempty"`
	ID   []byte `json:"id,omitempty"` // Ed25519 public key
	App  string `json:"app,omitempty"`
	Path string `json:"path,omitempty"`
	// Screen says the sender can show and share a screen (docs/screen.md,
	// "Negotiation"): 1 in version 1; zero (absent) means it cannot. A
	// value above ScreenVersion still means able, at version 1.
	Screen int `json:"screen,omitempty"`

	// offer, answer
	SDP string `json:"sdp,omitempty"`

	// cand
	Cand string  `json:"c,omitempty"`
	Mid  *string `json:"mid,omitempty"`
	Idx  *uint16 `json:"idx,omitempty"`

	// bye
	Reason string `json:"reason,omitempty"`

	// proof: an Ed25519 signature, SigSize bytes.
	Sig []byte `json:"sig,omitempty"`
}
