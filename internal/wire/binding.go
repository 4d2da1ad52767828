package wire

import (
	"crypto/hmac"
	"crypto/sha256"
)

// Roles of the two peers (docs/protocol.md, section 1).
const (
	RoleA byte = 'a' // allocator: CPace initiator, WebRTC offerer
	RoleB byte = 'b' // claimer: CPace responder, WebRTC answerer
)

// BindingProof is the channel-binding proof a peer of the given role sends as
// the first message on the ctl channel (docs/protocol.md, section 6). fpA and
// fpB are the SHA-256 digests of the DER DTLS certificates that peers a and b
// presented.
func BindingProof(kbind [32]byte, role byte, fpA, fpB []byte) []byte {
	m := hmac.New(sha256.New, kbind[:])
	m.Write([]byte("direkt/v1 binding "))
	m.Write([]byte{role})
	m.Write(fpA)
	m.Write(fpB)
	return m.Sum(nil)
}
