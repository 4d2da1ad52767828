package cpace_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/direkt/direkt/internal/cpace"
)

// seedShares adds the interesting peer shares: a valid one, the identity,
// and the invalid encodings of badShares.
func seedShares(f *testing.F, withAD bool) {
	_, ya, err := cpace.StartWithScalar([]byte("47-nordsee-tulpe"), testCI, testSID, testADa, scalar(9))
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range append(badShares(ya), badShare{y: ya}) {
		if withAD {
			f.Add(c.y, testADb)
		} else {
			f.Add(c.y)
		}
	}
}

// checkShare asserts what any peer share must satisfy: accepted shares are
// canonical non-identity encodings, and everything else is refused with one of
// the two documented errors.
func checkShare(t *testing.T, y, isk []byte, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, cpace.ErrInvalidPoint) && !errors.Is(err, cpace.ErrIdentity) {
			t.Fatalf("unexpected error %v", err)
		}
		if isk != nil {
			t.Fatal("ISK returned with an error")
		}
		return
	}
	if len(isk) != cpace.ISKSize {
		t.Fatalf("len(ISK) = %d", len(isk))
	}
	// Decoding and re-encoding (multiplying by 1) must give the same bytes:
	// only canonical encodings may be accepted.
	again, err := cpace.ScalarMult(scalar(1), y)
	if err != nil || !bytes.Equal(again, y) {
		t.Fatalf("accepted non-canonical share %x", y)
	}
	if bytes.Equal(y, make([]byte, 32)) {
		t.Fatal("accepted the identity")
	}
}

func FuzzFinish(f *testing.F) {
	seedShares(f, true)
	f.Fuzz(func(t *testing.T, yb, adb []byte) {
		ini, _, err := cpace.StartWithScalar([]byte("47-nordsee-tulpe"), testCI, testSID, testADa, scalar(11))
		if err != nil {
			t.Fatal(err)
		}
		isk, err := ini.Finish(yb, adb)
		checkShare(t, yb, isk, err)
	})
}

func FuzzRespond(f *testing.F) {
	seedShares(f, true)
	f.Fuzz(func(t *testing.T, ya, ada []byte) {
		yb, isk, err := cpace.RespondWithScalar([]byte("47-nordsee-tulpe"), testCI, testSID, testADb, ya, ada, scalar(13))
		checkShare(t, ya, isk, err)
		if err == nil && len(yb) != cpace.PointSize {
			t.Fatalf("len(Yb) = %d", len(yb))
		}
		if err != nil && yb != nil {
			t.Fatal("Yb returned with an error")
		}
	})
}

// FuzzScalarMultVfy drives the point decoder directly.
func FuzzScalarMultVfy(f *testing.F) {
	seedShares(f, false)
	f.Fuzz(func(t *testing.T, x []byte) {
		k, err := cpace.ScalarMultVfy(scalar(1), x)
		if err == nil {
			k2 := append([]byte(nil), k...)
			checkShare(t, x, make([]byte, cpace.ISKSize), nil)
			if !bytes.Equal(k2, x) {
				t.Fatalf("1*X = %x, want %x", k2, x)
			}
			return
		}
		checkShare(t, x, nil, err)
	})
}
