package session

import "errors"

// Errors returned by Connect, Session and Channel. They are wrapped with
// context; test for them with errors.Is.
var (
	// ErrConfig means Config was unusable: a role other than wire.RoleA or
	// wire.RoleB, a nil Signaller, or an ICE server URL pion rejects.
	ErrConfig = errors.New("session: invalid configuration")

	// ErrBinding means the peer's channel-binding proof on the ctl channel
	// (docs/protocol.md, section 6) did not match: the DTLS certificates the
	// two peers saw differ from the ones the pairing key vouches for (a
	// person in the middle), or the peers hold different binding keys.
	ErrBinding = errors.New("session: channel binding failed")

	// ErrICEFailed means ICE found no working path to the peer, or lost the
	// path it had and found no other.
	ErrICEFailed = errors.New("session: no network path to the peer")

	// ErrDTLS means the DTLS handshake failed, typically because the peer's
	// certificate does not match the fingerprint in its (authenticated) SDP.
	ErrDTLS = errors.New("session: DTLS handshake failed")

	// ErrPeerClosed means the peer ended the session: it sent "bye" or closed
	// the connection. After a successful Connect this is the normal way a
	// session ends from the other side.
	ErrPeerClosed = errors.New("session: peer closed the session")

	// ErrPeerReconnects means the browser peer asked for a new connection
	// ("reconnect", docs/protocol.md, section 5.2): its DTLS transport
	// failed. The session is over; its Signaller is free for the next
	// Connect, which the caller makes as peer a.
	ErrPeerReconnects = errors.New("session: the peer asks for a new connection")

	// ErrSignalling means the Signaller failed before the connection was up.
	ErrSignalling = errors.New("session: signalling failed")

	// ErrProtocol means the peer broke the signalling or data-channel rules:
	// an offer sent to the offerer, an SDP pion cannot apply, a message larger
	// than we advertised.
	ErrProtocol = errors.New("session: protocol violation by the peer")

	// ErrLabel means Open was asked for a reserved or invalid label ("ctl",
	// the empty label, or one longer than 65535 bytes).
	ErrLabel = errors.New("session: invalid channel label")

	// ErrClosed means the Session or Channel was closed locally (or, for a
	// Channel, its Session ended).
	ErrClosed = errors.New("session: closed")
)
