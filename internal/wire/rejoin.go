package wire

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Known peers (docs/protocol.md, section 8): a client that holds a rejoin
// token calls its host on a rendezvous channel derived from the token, and
// both run the pairing of section 4 with the token as the password.

const (
	// TokenSize is the size of a rejoin token.
	TokenSize = 32
	// ChannelSize is the size of a rejoin channel before hex encoding: the
	// first 16 bytes of an HMAC-SHA256, which keeps 128 bits and lets
	// MaxListenChannels channels fit into one MaxFrame listen frame.
	ChannelSize = 16
	// ChannelHexLen is the length of a channel on the wire.
	ChannelHexLen = 2 * ChannelSize
	// RingIDSize is the size of a ring id.
	RingIDSize = 16
	// MaxListenChannels bounds the channels of one listen frame.
	MaxListenChannels = 1024
	// SigSize is the size of a proof's Ed25519 signature.
	SigSize = 64
)

// Labels of section 8. Changing one changes the protocol.
const (
	labelChannel = "direkt/v1 rejoin channel"
	labelProof   = "direkt/v1 rejoin proof "
	// RejoinCILabel is the first part of a rejoin's CPace channel
	// identifier: CI = lv_cat(RejoinCILabel, channel bytes).
	RejoinCILabel = "direkt/v1 rejoin"
)

// RejoinChannel returns the rendezvous channel of a rejoin token: the lower
// case hex of the first ChannelSize bytes of
// HMAC-SHA256(token, "direkt/v1 rejoin channel"). The server learns the
// channel and nothing else; without the token it cannot be guessed. A token
// that is not TokenSize bytes is refused with ErrKeySize.
func RejoinChannel(token []byte) (string, error) {
	if len(token) != TokenSize {
		return "", fmt.Errorf("%w: rejoin token of %d bytes, want %d", ErrKeySize, len(token), TokenSize)
	}
	m := hmac.New(sha256.New, token)
	m.Write([]byte(labelChannel))
	return hex.EncodeToString(m.Sum(nil)[:ChannelSize]), nil
}

// ValidChannel reports whether s has the form of a rejoin channel:
// ChannelHexLen lower-case hex digits.
func ValidChannel(s string) bool {
	if len(s) != ChannelHexLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ChannelBytes decodes a channel for the CPace channel identifier. It
// returns ErrMalformed for anything ValidChannel refuses.
func ChannelBytes(channel string) ([]byte, error) {
	if !ValidChannel(channel) {
		return nil, fmt.Errorf("%w: rejoin channel %.80q", ErrMalformed, channel)
	}
	return hex.DecodeString(channel)
}

// RejoinProof is the message a peer of the given role (RoleA, the host; or
// RoleB, the client) signs with its Ed25519 identity after the hellos of a
// rejoin: "direkt/v1 rejoin proof " || role || HMAC-SHA256(kbind,
// "direkt/v1 rejoin proof " || role). The HMAC ties the signature to this
// pairing's key, so a signature made in one pairing proves nothing in
// another; the readable prefix keeps it apart from anything else the
// identity signs.
func RejoinProof(kbind [32]byte, role byte) []byte {
	m := hmac.New(sha256.New, kbind[:])
	m.Write([]byte(labelProof))
	m.Write([]byte{role})
	msg := make([]byte, 0, len(labelProof)+1+sha256.Size)
	msg = append(msg, labelProof...)
	msg = append(msg, role)
	return m.Sum(msg)
}
