package cpace_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/direkt/direkt/internal/cpace"
)

var (
	testCI  = cpace.LVCat([]byte("direkt/v1"), []byte("47"))
	testSID = []byte("0123456789abcdef")
	testADa = []byte("direkt/v1 a")
	testADb = []byte("direkt/v1 b")
)

// run does one full exchange with fresh random scalars.
func run(t *testing.T, prsA, prsB string) (iskA, iskB []byte) {
	t.Helper()
	ini, ya, err := cpace.Start([]byte(prsA), testCI, testSID, testADa)
	if err != nil {
		t.Fatal(err)
	}
	if len(ya) != cpace.PointSize {
		t.Fatalf("len(Ya) = %d", len(ya))
	}
	yb, iskB, err := cpace.Respond([]byte(prsB), testCI, testSID, testADb, ya, testADa)
	if err != nil {
		t.Fatal(err)
	}
	iskA, err = ini.Finish(yb, testADb)
	if err != nil {
		t.Fatal(err)
	}
	if len(iskA) != cpace.ISKSize || len(iskB) != cpace.ISKSize {
		t.Fatalf("ISK sizes %d, %d", len(iskA), len(iskB))
	}
	return iskA, iskB
}

func TestRoundTrip(t *testing.T) {
	a1, b1 := run(t, "47-nordsee-tulpe", "47-nordsee-tulpe")
	if !bytes.Equal(a1, b1) {
		t.Fatal("same password, different ISK")
	}
	a2, b2 := run(t, "47-nordsee-tulpe", "47-nordsee-tulpe")
	if !bytes.Equal(a2, b2) {
		t.Fatal("same password, different ISK")
	}
	if bytes.Equal(a1, a2) {
		t.Fatal("two runs gave the same ISK: scalars are not fresh")
	}
}

func TestWrongPassword(t *testing.T) {
	a, b := run(t, "47-nordsee-tulpe", "47-nordsee-tanne")
	if bytes.Equal(a, b) {
		t.Fatal("different passwords, same ISK")
	}
}

// Every public input must change the key: a mismatch in CI, sid or either
// AD is a mismatch in ISK.
func TestInputsBindISK(t *testing.T) {
	prs := []byte("47-nordsee-tulpe")
	_, ya, err := cpace.Start(prs, testCI, testSID, testADa)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name         string
		ci, sid, ada []byte
	}{
		{"ci", cpace.LVCat([]byte("direkt/v1"), []byte("48")), testSID, testADa},
		{"sid", testCI, []byte("0123456789abcdeF"), testADa},
		{"ada", testCI, testSID, []byte("direkt/v1 b")},
	}
	_, ref, err := cpace.RespondWithScalar(prs, testCI, testSID, testADb, ya, testADa, scalar(7))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		_, isk, err := cpace.RespondWithScalar(prs, c.ci, c.sid, testADb, ya, c.ada, scalar(7))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(isk, ref) {
			t.Errorf("changing %s did not change ISK", c.name)
		}
	}
}

// scalar returns the canonical encoding of a small integer.
func scalar(n byte) []byte {
	s := make([]byte, 32)
	s[0] = n
	return s
}

func TestFinishRejectsBadShares(t *testing.T) {
	prs := []byte("47-nordsee-tulpe")
	_, ya, err := cpace.Start(prs, testCI, testSID, testADa)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range badShares(ya) {
		ini, _, err := cpace.Start(prs, testCI, testSID, testADa)
		if err != nil {
			t.Fatal(err)
		}
		isk, err := ini.Finish(c.y, testADb)
		if !errors.Is(err, c.want) || isk != nil {
			t.Errorf("Finish(%s): isk=%x err=%v, want %v", c.name, isk, err, c.want)
		}
		// The state is spent even after a failure: no second guess.
		if _, err := ini.Finish(ya, testADb); !errors.Is(err, cpace.ErrFinished) {
			t.Errorf("second Finish after %s: err=%v, want ErrFinished", c.name, err)
		}
	}
}

func TestRespondRejectsBadShares(t *testing.T) {
	prs := []byte("47-nordsee-tulpe")
	_, ya, err := cpace.Start(prs, testCI, testSID, testADa)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range badShares(ya) {
		yb, isk, err := cpace.Respond(prs, testCI, testSID, testADb, c.y, testADa)
		if !errors.Is(err, c.want) || yb != nil || isk != nil {
			t.Errorf("Respond(%s): yb=%x isk=%x err=%v, want %v", c.name, yb, isk, err, c.want)
		}
	}
}

type badShare struct {
	name string
	y    []byte
	want error
}

// badShares are shares a peer must refuse (draft section 8.3.1 and 9):
// wrong lengths, non-canonical and off-curve encodings, and the identity.
func badShares(valid []byte) []badShare {
	h := func(s string) []byte { b, _ := hex.DecodeString(s); return b }
	flipped := append([]byte(nil), valid...)
	flipped[0] ^= 1 // a negative (odd) s is never canonical (RFC 9496, 4.3.1)
	return []badShare{
		{"empty", nil, cpace.ErrInvalidPoint},
		{"short", valid[:31], cpace.ErrInvalidPoint},
		{"long", append(append([]byte(nil), valid...), 0), cpace.ErrInvalidPoint},
		{"odd s", flipped, cpace.ErrInvalidPoint},
		{"s = p", h("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"), cpace.ErrInvalidPoint},
		{"all ones", h("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"), cpace.ErrInvalidPoint},
		// RFC 9496 appendix A.2, a non-square (invalid) encoding.
		{"non-square", h("26948d35ca62e643e26a83177332e6b6afeb9d08e4268b650f1f5bbd8d81d371"), cpace.ErrInvalidPoint},
		{"identity", make([]byte, 32), cpace.ErrIdentity},
	}
}

func TestInvalidInputs(t *testing.T) {
	if _, _, err := cpace.Start(nil, testCI, testSID, testADa); !errors.Is(err, cpace.ErrEmptyPassword) {
		t.Errorf("Start(empty prs): %v", err)
	}
	_, ya, _ := cpace.Start([]byte("x"), testCI, testSID, testADa)
	if _, _, err := cpace.Respond(nil, testCI, testSID, testADb, ya, testADa); !errors.Is(err, cpace.ErrEmptyPassword) {
		t.Errorf("Respond(empty prs): %v", err)
	}
	order := []byte{ // the group order l, little endian: not canonical
		0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
	}
	for name, s := range map[string][]byte{"zero": scalar(0), "short": scalar(1)[:31], "order": order} {
		if _, _, err := cpace.StartWithScalar([]byte("x"), nil, nil, nil, s); !errors.Is(err, cpace.ErrInvalidScalar) {
			t.Errorf("StartWithScalar(%s): %v", name, err)
		}
		if _, _, err := cpace.RespondWithScalar([]byte("x"), nil, nil, nil, ya, nil, s); !errors.Is(err, cpace.ErrInvalidScalar) {
			t.Errorf("RespondWithScalar(%s): %v", name, err)
		}
	}
}

// Start must copy its inputs: a caller reusing its buffers must not change
// the transcript Finish hashes.
func TestStartCopiesInputs(t *testing.T) {
	prs := []byte("47-nordsee-tulpe")
	sid := append([]byte(nil), testSID...)
	ada := append([]byte(nil), testADa...)
	ini, ya, err := cpace.StartWithScalar(prs, testCI, sid, ada, scalar(3))
	if err != nil {
		t.Fatal(err)
	}
	yb, iskB, err := cpace.RespondWithScalar(prs, testCI, testSID, testADb, ya, testADa, scalar(5))
	if err != nil {
		t.Fatal(err)
	}
	clear(sid)
	clear(ada)
	ya[0] ^= 0xff
	iskA, err := ini.Finish(yb, testADb)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(iskA, iskB) {
		t.Fatal("mutating Start's inputs or result changed ISK")
	}
}

func TestGeneratorStringPadding(t *testing.T) {
	// DSI (17 bytes + 1 length byte) plus a short PRS with its length byte
	// and the padding's length byte fill exactly one 128-byte block.
	for _, n := range []int{1, 16, 100, 108, 109, 110, 200} {
		prs := bytes.Repeat([]byte{'x'}, n)
		gs := cpace.GeneratorString(prs, nil, nil)
		head := len(cpace.LVCat([]byte(cpace.DSI), prs))
		zpad := max(0, cpace.SInBytes-1-len(cpace.PrependLen(prs))-len(cpace.PrependLen([]byte(cpace.DSI))))
		if want := head + len(cpace.PrependLen(make([]byte, zpad))) + 2; len(gs) != want {
			t.Errorf("len(prs)=%d: len(generator string)=%d, want %d", n, len(gs), want)
		}
		if zpad > 0 && head+1+zpad != cpace.SInBytes {
			t.Errorf("len(prs)=%d: DSI, PRS and padding take %d bytes, want one block", n, head+1+zpad)
		}
	}
}

func BenchmarkStartFinish(b *testing.B) {
	b.ReportAllocs()
	prs := []byte("47-nordsee-tulpe")
	_, ya, err := cpace.Start(prs, testCI, testSID, testADa)
	if err != nil {
		b.Fatal(err)
	}
	yb, _, err := cpace.Respond(prs, testCI, testSID, testADb, ya, testADa)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ini, _, err := cpace.Start(prs, testCI, testSID, testADa)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ini.Finish(yb, testADb); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRespond(b *testing.B) {
	b.ReportAllocs()
	prs := []byte("47-nordsee-tulpe")
	_, ya, err := cpace.Start(prs, testCI, testSID, testADa)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, _, err := cpace.Respond(prs, testCI, testSID, testADb, ya, testADa); err != nil {
			b.Fatal(err)
		}
	}
}
