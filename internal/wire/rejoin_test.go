package wire_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/direkt/direkt/internal/wire"
)

// The channel and proof are pinned to values computed independently
// (Python's hmac module), so that a change to the labels or the truncation
// shows up here.
func TestRejoinChannel(t *testing.T) {
	token := make([]byte, wire.TokenSize)
	for i := range token {
		token[i] = byte(i)
	}
	ch, err := wire.RejoinChannel(token)
	if err != nil {
		t.Fatal(err)
	}
	if ch != testChannel {
		t.Fatalf("channel = %s, want %s", ch, testChannel)
	}
	if !wire.ValidChannel(ch) {
		t.Fatal("derived channel is not valid")
	}
	b, err := wire.ChannelBytes(ch)
	if err != nil || hex.EncodeToString(b) != ch || len(b) != wire.ChannelSize {
		t.Fatalf("ChannelBytes = %x, %v", b, err)
	}
	token[0] ^= 1
	if other, _ := wire.RejoinChannel(token); other == ch {
		t.Fatal("another token gives the same channel")
	}
	for _, n := range []int{0, 16, 31, 33} {
		if _, err := wire.RejoinChannel(make([]byte, n)); !errors.Is(err, wire.ErrKeySize) {
			t.Errorf("token of %d bytes: %v", n, err)
		}
	}
	for _, s := range []string{"", "E21F784A83E4A6C0DCC4FAF20819922F", testChannel + "00", testChannel[:31] + "g"} {
		if _, err := wire.ChannelBytes(s); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("ChannelBytes(%q): %v", s, err)
		}
	}
}

func TestRejoinProof(t *testing.T) {
	var kbind [32]byte
	for i := range kbind {
		kbind[i] = 7
	}
	const want = "646972656b742f76312072656a6f696e2070726f6f6620624ed57256c407a68f8da79c675cffb249f5ee0188793120ce487a84c3e1b3d0a5"
	if got := hex.EncodeToString(wire.RejoinProof(kbind, wire.RoleB)); got != want {
		t.Fatalf("proof message = %s, want %s", got, want)
	}
	a, b := wire.RejoinProof(kbind, wire.RoleA), wire.RejoinProof(kbind, wire.RoleB)
	if bytes.Equal(a, b) {
		t.Fatal("both roles sign the same message")
	}
	kbind[31] ^= 1
	if bytes.Equal(wire.RejoinProof(kbind, wire.RoleB), b) {
		t.Fatal("the proof does not depend on the key")
	}
	// A proof signal carries an Ed25519 signature of exactly SigSize bytes.
	_, priv, _ := ed25519.GenerateKey(nil)
	sig := wire.Signal{T: wire.SignalProof, Sig: ed25519.Sign(priv, b)}
	if err := sig.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 63, 65} {
		if err := (wire.Signal{T: wire.SignalProof, Sig: make([]byte, n)}).Validate(); !errors.Is(err, wire.ErrMalformed) {
			t.Errorf("proof with %d signature bytes: %v", n, err)
		}
	}
}
