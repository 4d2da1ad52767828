package wire_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha512"
	"errors"
	"testing"

	"github.com/direkt/direkt/internal/wire"
)

// hkdfExpand is RFC 5869 section 2.3 written out, independently of
// crypto/hkdf: T(i) = HMAC(PRK, T(i-1) || info || i).
func hkdfExpand(prk []byte, info string, l int) []byte {
	var out, t []byte
	for i := byte(1); len(out) < l; i++ {
		m := hmac.New(sha512.New, prk)
		m.Write(t)
		m.Write([]byte(info))
		m.Write([]byte{i})
		t = m.Sum(nil)
		out = append(out, t...)
	}
	return out[:l]
}

func testISK() []byte {
	isk := make([]byte, wire.ISKSize)
	for i := range isk {
		isk[i] = byte(i * 7)
	}
	return isk
}

func TestDeriveKeys(t *testing.T) {
	isk := testISK()
	k, err := wire.DeriveKeys(isk)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		info string
		got  []byte
	}{
		{"direkt/v1 confirm a", k.ConfirmA[:]},
		{"direkt/v1 confirm b", k.ConfirmB[:]},
		{"direkt/v1 seal a->b", k.SealAB[:]},
		{"direkt/v1 seal b->a", k.SealBA[:]},
		{"direkt/v1 binding", k.Binding[:]},
		{"direkt/v1 sas", k.SAS[:]},
	} {
		if want := hkdfExpand(isk, c.info, len(c.got)); !bytes.Equal(c.got, want) {
			t.Errorf("%s: got %x, want %x", c.info, c.got, want)
		}
	}
	isk[0] ^= 1
	k2, err := wire.DeriveKeys(isk)
	if err != nil {
		t.Fatal(err)
	}
	if k2.SealAB == k.SealAB || k2.SAS == k.SAS {
		t.Error("a different ISK gave the same keys")
	}
}

func TestDeriveKeysSize(t *testing.T) {
	for _, n := range []int{0, 32, 63, 65} {
		if _, err := wire.DeriveKeys(make([]byte, n)); !errors.Is(err, wire.ErrKeySize) {
			t.Errorf("ISK of %d bytes: err = %v, want ErrKeySize", n, err)
		}
	}
}

func TestConfirm(t *testing.T) {
	k, err := wire.DeriveKeys(testISK())
	if err != nil {
		t.Fatal(err)
	}
	sid := []byte("0123456789abcdef")
	ta := wire.Confirm(k.ConfirmA, sid)
	if len(ta) != wire.TagSize {
		t.Fatalf("len(Ta) = %d", len(ta))
	}
	if !wire.CheckConfirm(k.ConfirmA, sid, ta) {
		t.Fatal("own tag does not check")
	}
	if bytes.Equal(ta, wire.Confirm(k.ConfirmB, sid)) {
		t.Fatal("Ta == Tb: a reflected tag would pass")
	}
	bad := append([]byte(nil), ta...)
	bad[31] ^= 0x80
	for name, c := range map[string]struct {
		key      [32]byte
		sid, tag []byte
	}{
		"flipped bit": {k.ConfirmA, sid, bad},
		"other key":   {k.ConfirmB, sid, ta},
		"other sid":   {k.ConfirmA, []byte("0123456789abcdeF"), ta},
		"short":       {k.ConfirmA, sid, ta[:31]},
		"long":        {k.ConfirmA, sid, append(append([]byte(nil), ta...), 0)},
		"empty":       {k.ConfirmA, sid, nil},
	} {
		if wire.CheckConfirm(c.key, c.sid, c.tag) {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSASIndices(t *testing.T) {
	for _, c := range []struct {
		sas  [4]byte
		want [3]int
	}{
		{[4]byte{0, 0, 0, 0}, [3]int{0, 0, 0}},
		{[4]byte{0xff, 0xff, 0xff, 0xff}, [3]int{1023, 1023, 1023}},
		{[4]byte{0, 0, 0, 3}, [3]int{0, 0, 0}},    // the last 2 bits are unused
		{[4]byte{0, 0x40, 0, 0}, [3]int{1, 0, 0}}, // bit 22
		{[4]byte{0, 0, 0x10, 0}, [3]int{0, 1, 0}}, // bit 12
		{[4]byte{0, 0, 0, 4}, [3]int{0, 0, 1}},    // bit 2
		{[4]byte{0x80, 0, 0, 0}, [3]int{512, 0, 0}},
		{[4]byte{0x12, 0x34, 0x56, 0x78}, [3]int{0x048, 0x345, 0x19e}},
	} {
		if got := wire.SASIndices(c.sas); got != c.want {
			t.Errorf("SASIndices(%x) = %v, want %v", c.sas, got, c.want)
		}
	}
}

func BenchmarkDeriveKeys(b *testing.B) {
	b.ReportAllocs()
	isk := testISK()
	for b.Loop() {
		if _, err := wire.DeriveKeys(isk); err != nil {
			b.Fatal(err)
		}
	}
}
