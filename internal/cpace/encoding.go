package cpace

import (
	"bytes"
	"crypto/sha512"
	"encoding/binary"
)

// PrependLen returns LEB128(len(data)) || data, the draft's prepend_len
// (draft-irtf-cfrg-cpace, section 6.3 and appendix A.1.1).
func PrependLen(data []byte) []byte {
	out := make([]byte, 0, binary.MaxVarintLen64+len(data))
	out = binary.AppendUvarint(out, uint64(len(data))) // unsigned LEB128
	return append(out, data...)
}

// LVCat returns prepend_len(a0) || prepend_len(a1) || …, the draft's
// length-value concatenation lv_cat (appendix A.1.3). The length prefixes
// make the encoding prefix-free, so hashing it needs no further framing
// (section 10.2).
func LVCat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += binary.MaxVarintLen64 + len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = binary.AppendUvarint(out, uint64(len(p)))
		out = append(out, p...)
	}
	return out
}

// OCat is the draft's ordered concatenation o_cat (appendix A.3.2):
// "oc" followed by the lexicographically larger of a and b, then the other.
// When one is a prefix of the other, the longer one is larger.
func OCat(a, b []byte) []byte {
	if bytes.Compare(a, b) <= 0 {
		a, b = b, a
	}
	out := make([]byte, 0, 2+len(a)+len(b))
	out = append(out, "oc"...)
	out = append(out, a...)
	return append(out, b...)
}

// TranscriptIR is the initiator-responder transcript lv_cat(Ya, ADa) ||
// lv_cat(Yb, ADb) (appendix A.3.4). direkt uses this one: peer a always
// speaks first.
func TranscriptIR(ya, ada, yb, adb []byte) []byte {
	return append(LVCat(ya, ada), LVCat(yb, adb)...)
}

// TranscriptOC is the symmetric transcript o_cat(lv_cat(Ya, ADa),
// lv_cat(Yb, ADb)) for runs without fixed roles (appendix A.3.6). direkt
// does not use it; it is here so the draft's vector pins it.
func TranscriptOC(ya, ada, yb, adb []byte) []byte {
	return OCat(LVCat(ya, ada), LVCat(yb, adb))
}

// SidOutput is the public session identifier SHA-512("CPaceSidOutput" ||
// transcript) that both parties can compute when they had no sid input
// (section 10.6). direkt has a sid (the mailbox id), so it does not need it.
func SidOutput(transcript []byte) []byte {
	h := sha512.New()
	h.Write([]byte("CPaceSidOutput"))
	h.Write(transcript)
	return h.Sum(nil)
}
