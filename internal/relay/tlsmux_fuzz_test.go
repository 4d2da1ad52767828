package relay

import (
	"encoding/binary"
	"testing"
)

func FuzzClassifyFirstBytes(f *testing.F) {
	for _, s := range []string{
		"\x00\x03\x00\x00\x21\x12\xa4\x42",     // Allocate request header
		"\x00\x01\x00\x08\x21\x12\xa4\x42abcd", // Binding request
		"GET /v1/mailbox HTTP/1.1\r\n",
		"OPTIONS * HTTP/1.1\r\n",
		"DELETE /x HTTP/1.1",
		"\x40\x00\x00\x04\x21\x12\xa4\x42", // ChannelData, not a first message
		"GEX / HTTP/1.1",
		"\x16\x03\x01\x02\x00\x01\x00\x01",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k := classifyFirstBytes(b)
		if len(b) < sniffLen {
			if k != kindUnknown {
				t.Fatalf("%q: short input classified as %d", b, k)
			}
			return
		}
		stun := b[0]&0xC0 == 0 && binary.BigEndian.Uint32(b[4:8]) == stunMagicCookie
		if stun != (k == kindTURN) {
			t.Fatalf("%q: classified %d, STUN header %v", b, k, stun)
		}
		if k == kindHTTP && (b[0] < 'A' || b[0] > 'Z') {
			t.Fatalf("%q: HTTP that does not start with a method", b)
		}
	})
}
