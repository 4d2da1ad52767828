package wire

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
)

// ISKSize is the size of CPace's ISK for CPACE-RISTR255-SHA512.
const ISKSize = 64

// Key-schedule labels: the HKDF info strings of docs/protocol.md, section
// 4.2. Changing one changes the protocol.
const (
	infoConfirmA = "direkt/v1 confirm a"
	infoConfirmB = "direkt/v1 confirm b"
	infoSealAB   = "direkt/v1 seal a->b"
	infoSealBA   = "direkt/v1 seal b->a"
	infoBinding  = "direkt/v1 binding"
	infoSAS      = "direkt/v1 sas"
)

// Keys are the keys both peers derive from CPace's ISK (docs/protocol.md,
// section 4.2).
type Keys struct {
	ConfirmA [32]byte // kc_a: Ta = Confirm(ConfirmA, sid), sent by a
	ConfirmB [32]byte // kc_b: Tb = Confirm(ConfirmB, sid), sent by b
	SealAB   [32]byte // ks_ab: AES-256-GCM key of sealed frames a → b
	SealBA   [32]byte // ks_ba: AES-256-GCM key of sealed frames b → a
	Binding  [32]byte // kbind: channel binding (section 6, BindingProof)
	SAS      [4]byte  // sas: the check phrase (section 7, SASIndices)
}

// DeriveKeys expands ISK into the key schedule: each key is
// HKDF-Expand(SHA-512, PRK = ISK, info, L) (RFC 5869, section 2.3). There is
// no extract step because ISK is already a uniform 64-byte hash output.
func DeriveKeys(isk []byte) (Keys, error) {
	var k Keys
	if len(isk) != ISKSize {
		return k, fmt.Errorf("%w: ISK is %d bytes, want %d", ErrKeySize, len(isk), ISKSize)
	}
	for _, d := range []struct {
		info string
		out  []byte
	}{
		{infoConfirmA, k.ConfirmA[:]},
		{infoConfirmB, k.ConfirmB[:]},
		{infoSealAB, k.SealAB[:]},
		{infoSealBA, k.SealBA[:]},
		{infoBinding, k.Binding[:]},
		{infoSAS, k.SAS[:]},
	} {
		b, err := hkdf.Expand(sha512.New, isk, d.info, len(d.out))
		if err != nil {
			return Keys{}, fmt.Errorf("wire: hkdf %q: %w", d.info, err)
		}
		copy(d.out, b)
		clear(b)
	}
	return k, nil
}

// Confirm returns the key-confirmation tag HMAC-SHA256(key, sid), 32 bytes
// (docs/protocol.md, section 4.2): Ta with kc_a, Tb with kc_b. Confirming
// over sid (the mailbox id) ties the tag to this pairing; ISK already binds
// the CPace transcript.
func Confirm(key [32]byte, sid []byte) []byte {
	m := hmac.New(sha256.New, key[:])
	m.Write(sid)
	return m.Sum(nil)
}

// CheckConfirm reports whether tag is Confirm(key, sid), in constant time.
func CheckConfirm(key [32]byte, sid, tag []byte) bool {
	return hmac.Equal(Confirm(key, sid), tag)
}

// SASIndices splits the first 30 bits of sas (big endian) into three 10-bit
// indices into a 1024-word list (docs/protocol.md, section 7).
func SASIndices(sas [4]byte) [3]int {
	v := binary.BigEndian.Uint32(sas[:])
	return [3]int{int(v >> 22 & 0x3ff), int(v >> 12 & 0x3ff), int(v >> 2 & 0x3ff)}
}
