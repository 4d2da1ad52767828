package cpace_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/direkt/direkt/internal/cpace"
)

// vector is the draft's ristretto255 test vector (draft-irtf-cfrg-cpace,
// appendix B.3), values base64.
type vector struct {
	G struct {
		RawPRS      string `json:"PRS"`
		RawCI       string `json:"CI"`
		RawSID      string `json:"sid"`
		RawG        string `json:"g"`
		RawYaScalar string `json:"ya"`
		RawADa      string `json:"ADa"`
		RawYa       string `json:"Ya"`
		RawYbScalar string `json:"yb"`
		RawADb      string `json:"ADb"`
		RawYb       string `json:"Yb"`
		RawK        string `json:"K"`
		RawISKIR    string `json:"ISK_IR"`
		RawISKSY    string `json:"ISK_SY"`
		RawSidOutIR string `json:"sid_output_ir"`
		RawSidOutOC string `json:"sid_output_oc"`
	} `json:"G_Coffee25519"`
	Points struct {
		// Keys contain commas, which struct tags cannot express.
		Valid    map[string]string `json:"Valid"`
		InvalidY string            `json:"Invalid Y"`
	} `json:"G_Coffee25519_points"`
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("bad base64 %q: %v", s, err)
	}
	return b
}

func loadVector(t *testing.T) vector {
	t.Helper()
	data, err := os.ReadFile("testdata/cpace-ristretto255-sha512.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vector
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func eq(t *testing.T, name string, got, want []byte) {
	t.Helper()
	if len(want) == 0 {
		t.Fatalf("%s: no expected value (vector file incomplete?)", name)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s:\n got %x\nwant %x", name, got, want)
	}
}

func TestDraftVector(t *testing.T) {
	v := loadVector(t).G
	prs, ci, sid := b64(t, v.RawPRS), b64(t, v.RawCI), b64(t, v.RawSID)
	ada, adb := b64(t, v.RawADa), b64(t, v.RawADb)
	ya, yb := b64(t, v.RawYa), b64(t, v.RawYb)
	k := b64(t, v.RawK)

	eq(t, "g", cpace.Generator(prs, ci, sid), b64(t, v.RawG))

	ini, gotYa, err := cpace.StartWithScalar(prs, ci, sid, ada, b64(t, v.RawYaScalar))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Ya", gotYa, ya)

	gotYb, iskB, err := cpace.RespondWithScalar(prs, ci, sid, adb, ya, ada, b64(t, v.RawYbScalar))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Yb", gotYb, yb)
	eq(t, "ISK_IR (responder)", iskB, b64(t, v.RawISKIR))

	iskA, err := ini.Finish(yb, adb)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "ISK_IR (initiator)", iskA, b64(t, v.RawISKIR))

	// K from both sides, through the test hook (the API never shows K).
	ka, err := cpace.ScalarMultVfy(b64(t, v.RawYaScalar), yb)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := cpace.ScalarMultVfy(b64(t, v.RawYbScalar), ya)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "K (a)", ka, k)
	eq(t, "K (b)", kb, k)

	eq(t, "ISK_SY", cpace.DeriveISK(sid, k, cpace.TranscriptOC(ya, ada, yb, adb)), b64(t, v.RawISKSY))
	eq(t, "sid_output_ir", cpace.SidOutput(cpace.TranscriptIR(ya, ada, yb, adb)), b64(t, v.RawSidOutIR))
	eq(t, "sid_output_oc", cpace.SidOutput(cpace.TranscriptOC(ya, ada, yb, adb)), b64(t, v.RawSidOutOC))
}

func TestDraftPoints(t *testing.T) {
	p := loadVector(t).Points
	s, x := b64(t, p.Valid["s"]), b64(t, p.Valid["X"])
	m, err := cpace.ScalarMult(s, x)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "scalar_mult", m, b64(t, p.Valid["G.scalar_mult(s,decode(X))"]))
	mv, err := cpace.ScalarMultVfy(s, x)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "scalar_mult_vfy", mv, b64(t, p.Valid["G.scalar_mult_vfy(s,X)"]))

	if _, err := cpace.ScalarMultVfy(s, b64(t, p.InvalidY)); !errors.Is(err, cpace.ErrInvalidPoint) {
		t.Errorf("invalid Y: err = %v, want ErrInvalidPoint", err)
	}
	// The identity's encoding decodes, but scalar_mult_vfy must refuse it
	// (section 8.3.1).
	if _, err := cpace.ScalarMultVfy(s, make([]byte, 32)); !errors.Is(err, cpace.ErrIdentity) {
		t.Errorf("identity: err = %v, want ErrIdentity", err)
	}
}

// The draft's string-utility vectors (appendix A.1.2, A.1.4, A.3.3, A.3.5,
// A.3.7).
func TestStringUtilities(t *testing.T) {
	h := func(s string) []byte {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	seq := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}
	eq(t, "prepend_len empty", cpace.PrependLen(nil), h("00"))
	eq(t, "prepend_len 1234", cpace.PrependLen([]byte("1234")), h("0431323334"))
	eq(t, "prepend_len 127", cpace.PrependLen(seq(127)), append([]byte{0x7f}, seq(127)...))
	eq(t, "prepend_len 128", cpace.PrependLen(seq(128)), append([]byte{0x80, 0x01}, seq(128)...))
	eq(t, "lv_cat", cpace.LVCat([]byte("1234"), []byte("5"), nil, []byte("678")), h("043132333401350003363738"))
	eq(t, "o_cat 1", cpace.OCat([]byte("ABCD"), []byte("BCD")), h("6f6342434441424344"))
	eq(t, "o_cat 2", cpace.OCat([]byte("BCD"), []byte("ABCDE")), h("6f634243444142434445"))
	// lexiographically_larger cases, seen through o_cat: the larger goes first.
	eq(t, "o_cat prefix", cpace.OCat([]byte{0}, []byte{0, 0}), []byte{'o', 'c', 0, 0, 0})
	eq(t, "o_cat first byte", cpace.OCat([]byte{0, 1}, []byte{1}), []byte{'o', 'c', 1, 0, 1})
	eq(t, "transcript_ir 1", cpace.TranscriptIR([]byte("123"), []byte("PartyA"), []byte("234"), []byte("PartyB")),
		h("03313233065061727479410332333406506172747942"))
	eq(t, "transcript_ir 2", cpace.TranscriptIR([]byte("3456"), []byte("PartyA"), []byte("2345"), []byte("PartyB")),
		h("043334353606506172747941043233343506506172747942"))
	eq(t, "transcript_oc 1", cpace.TranscriptOC([]byte("123"), []byte("PartyA"), []byte("234"), []byte("PartyB")),
		h("6f6303323334065061727479420331323306506172747941"))
	eq(t, "transcript_oc 2", cpace.TranscriptOC([]byte("3456"), []byte("PartyA"), []byte("2345"), []byte("PartyB")),
		h("6f63043334353606506172747941043233343506506172747942"))
}
