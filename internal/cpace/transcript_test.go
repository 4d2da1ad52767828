package cpace_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/direkt/direkt/internal/cpace"
	"github.com/direkt/direkt/internal/wire"
)

// The golden vectors of the whole pairing transcript (docs/protocol.md,
// sections 4 to 7), shared with the browser implementation. Regenerate with
//
//	go test ./internal/cpace -run TestPairingTranscript -update
//
// and review the diff: any change to these bytes is a protocol change.

var update = flag.Bool("update", false, "rewrite testdata/pairing-v1.json at the repository root")

const goldenPath = "../../testdata/pairing-v1.json"

// Fixed inputs. The scalars are canonical (below the group order); the
// fingerprints and ids are arbitrary 32-byte strings.
const (
	goldenCode      = "47-nordsee-tulpe"
	goldenWrongCode = "47-nordsee-tanne"
	goldenNameplate = "47"
	goldenSID       = "2bfc2f121d016758607c8a171caaa5d7"
	goldenYaScalar  = "f122b27e09f784a97b51efa433c94aee84d01a33b99331ff6987b13a7026750a"
	goldenYbScalar  = "9b04dad635af23d1e089ae50b3432b75162e971769c9e4b8fb115bab0ab9a004"
	goldenFpA       = "207c3eb6648b087b281f4e9a17f85a8153a4aa6092812f8a6a75e7e6e9a6dbd5"
	goldenFpB       = "ee1c268cc9ca7b314d65dc0d5dc1cc8d04159ceb3dab709888f335bed07a37e5"
	goldenIDA       = "a80969f0db55181ffcbb18c66d3109e2e5701877a7284cdc4f6d6881840d8774"
	goldenIDB       = "6829f16952eba2f52985dc7d9b1f4d42ec81b210ec54d836c2c1bc4769477181"
)

// hexBytes is a byte string written as lower-case hex in the golden file.
type hexBytes []byte

func (h hexBytes) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(h)), nil }

func (h *hexBytes) UnmarshalText(b []byte) error {
	d, err := hex.DecodeString(string(b))
	*h = d
	return err
}

type goldenInputs struct {
	Code      string   `json:"code"`
	Nameplate string   `json:"nameplate"`
	SID       hexBytes `json:"sid"`
	YaScalar  hexBytes `json:"ya_scalar"`
	YbScalar  hexBytes `json:"yb_scalar"`
	FpA       hexBytes `json:"fp_a"`
	FpB       hexBytes `json:"fp_b"`
}

type goldenCPace struct {
	PRS             hexBytes `json:"prs"`
	CI              hexBytes `json:"ci"`
	ADa             hexBytes `json:"ada"`
	ADb             hexBytes `json:"adb"`
	GeneratorString hexBytes `json:"generator_string"`
	G               hexBytes `json:"g"`
	Ya              hexBytes `json:"Ya"`
	Yb              hexBytes `json:"Yb"`
	K               hexBytes `json:"K"`
	ISK             hexBytes `json:"ISK"`
}

type goldenKeys struct {
	ConfirmA hexBytes `json:"kc_a"`
	ConfirmB hexBytes `json:"kc_b"`
	SealAB   hexBytes `json:"ks_ab"`
	SealBA   hexBytes `json:"ks_ba"`
	Binding  hexBytes `json:"kbind"`
	SAS      hexBytes `json:"sas"`
}

type goldenSealed struct {
	Dir       string      `json:"dir"`
	Seq       uint64      `json:"seq"`
	Signal    wire.Signal `json:"signal"`
	Plaintext hexBytes    `json:"plaintext"`
	Body      hexBytes    `json:"body"`
}

type goldenWrong struct {
	CodeB    string   `json:"code_b"`
	ISKB     hexBytes `json:"isk_b"`
	Tb       hexBytes `json:"tb"`
	PakeB    hexBytes `json:"pake_b"`
	ATbValid bool     `json:"a_accepts_tb"`
	Ta       hexBytes `json:"ta"`
	BTaValid bool     `json:"b_accepts_ta"`
	ConfirmA hexBytes `json:"confirm_a"`
}

type golden struct {
	Description string         `json:"description"`
	Inputs      goldenInputs   `json:"inputs"`
	CPace       goldenCPace    `json:"cpace"`
	Keys        goldenKeys     `json:"keys"`
	Ta          hexBytes       `json:"ta"`
	Tb          hexBytes       `json:"tb"`
	PakeA       hexBytes       `json:"pake_a"`
	PakeB       hexBytes       `json:"pake_b"`
	ConfirmA    hexBytes       `json:"confirm_a"`
	Sealed      []goldenSealed `json:"sealed"`
	SASIndices  [3]int         `json:"sas_indices"`
	BindingA    hexBytes       `json:"binding_proof_a"`
	BindingB    hexBytes       `json:"binding_proof_b"`
	WrongCode   goldenWrong    `json:"wrong_code"`
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// colonHex formats a fingerprint the way SDP's a=fingerprint does
// (RFC 8122, section 5).
func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":")
}

// computeGolden runs the whole pairing with the fixed inputs, checking on the
// way that both sides agree, and returns every intermediate value.
func computeGolden(t *testing.T) golden {
	t.Helper()
	in := goldenInputs{
		Code:      goldenCode,
		Nameplate: goldenNameplate,
		SID:       mustHex(t, goldenSID),
		YaScalar:  mustHex(t, goldenYaScalar),
		YbScalar:  mustHex(t, goldenYbScalar),
		FpA:       mustHex(t, goldenFpA),
		FpB:       mustHex(t, goldenFpB),
	}
	g := golden{
		Description: "direkt protocol v1 pairing transcript (docs/protocol.md sections 4-7); see testdata/README.md. Byte strings are lower-case hex.",
		Inputs:      in,
	}

	// Section 4.1: CPace inputs.
	prs := []byte(in.Code)
	ci := cpace.LVCat([]byte("direkt/v1"), []byte(in.Nameplate))
	ada, adb := []byte("direkt/v1 a"), []byte("direkt/v1 b")
	ini, ya, err := cpace.StartWithScalar(prs, ci, in.SID, ada, in.YaScalar)
	if err != nil {
		t.Fatal(err)
	}
	yb, iskB, err := cpace.RespondWithScalar(prs, ci, in.SID, adb, ya, ada, in.YbScalar)
	if err != nil {
		t.Fatal(err)
	}
	iskA, err := ini.Finish(yb, adb)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(iskA, iskB) {
		t.Fatal("a and b derived different ISKs from the same code")
	}
	k, err := cpace.ScalarMultVfy(in.YaScalar, yb)
	if err != nil {
		t.Fatal(err)
	}
	g.CPace = goldenCPace{
		PRS: prs, CI: ci, ADa: ada, ADb: adb,
		GeneratorString: cpace.GeneratorString(prs, ci, in.SID),
		G:               cpace.Generator(prs, ci, in.SID),
		Ya:              ya, Yb: yb, K: k, ISK: iskA,
	}

	// Section 4.2: key schedule and confirmation.
	keys, err := wire.DeriveKeys(iskA)
	if err != nil {
		t.Fatal(err)
	}
	g.Keys = goldenKeys{
		ConfirmA: keys.ConfirmA[:], ConfirmB: keys.ConfirmB[:],
		SealAB: keys.SealAB[:], SealBA: keys.SealBA[:],
		Binding: keys.Binding[:], SAS: keys.SAS[:],
	}
	g.Ta = wire.Confirm(keys.ConfirmA, in.SID)
	g.Tb = wire.Confirm(keys.ConfirmB, in.SID)
	if !wire.CheckConfirm(keys.ConfirmB, in.SID, g.Tb) || !wire.CheckConfirm(keys.ConfirmA, in.SID, g.Ta) {
		t.Fatal("confirmation tags do not check")
	}
	g.PakeA = wire.EncodePakeA(ya)
	g.PakeB = wire.EncodePakeB(yb, g.Tb)
	g.ConfirmA = wire.EncodeConfirmA(g.Ta)

	// Section 4.3: three sealed frames, opened again by the other side.
	sdp := "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
		"a=group:BUNDLE 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
		"c=IN IP4 0.0.0.0\r\na=ice-ufrag:Zk4Q\r\na=ice-pwd:x7m2Jq9VbLr0cW3sT5yH1nDe\r\n" +
		"a=fingerprint:sha-256 " + colonHex(in.FpA) + "\r\na=setup:actpass\r\na=mid:0\r\n" +
		"a=sctp-port:5000\r\n"
	sealAB, err := wire.NewSealer(keys.SealAB)
	if err != nil {
		t.Fatal(err)
	}
	sealBA, err := wire.NewSealer(keys.SealBA)
	if err != nil {
		t.Fatal(err)
	}
	openAB, err := wire.NewOpener(keys.SealAB)
	if err != nil {
		t.Fatal(err)
	}
	openBA, err := wire.NewOpener(keys.SealBA)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		dir string
		s   *wire.Sealer
		o   *wire.Opener
		sig wire.Signal
	}{
		{"a->b", sealAB, openAB, wire.Signal{T: wire.SignalHello, V: 1, Name: "Anna Adviser", ID: mustHex(t, goldenIDA), App: wire.AppConsult, Path: wire.PathAuto}},
		{"a->b", sealAB, openAB, wire.Signal{T: wire.SignalOffer, SDP: sdp}},
		{"b->a", sealBA, openBA, wire.Signal{T: wire.SignalHello, V: 1, Name: "Bernd Büchner", ID: mustHex(t, goldenIDB), App: wire.AppConsult, Path: wire.PathAuto}},
	} {
		body, err := m.s.Seal(m.sig)
		if err != nil {
			t.Fatal(err)
		}
		f, err := wire.ParsePairingFrame(body)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := m.sig.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.o.Open(body)
		if err != nil {
			t.Fatalf("%s seq %d does not open: %v", m.dir, f.Seq, err)
		}
		if again, _ := got.Marshal(); !bytes.Equal(again, pt) {
			t.Fatalf("%s seq %d opened to %s, want %s", m.dir, f.Seq, again, pt)
		}
		g.Sealed = append(g.Sealed, goldenSealed{Dir: m.dir, Seq: f.Seq, Signal: m.sig, Plaintext: pt, Body: body})
	}

	// Sections 6 and 7.
	g.SASIndices = wire.SASIndices(keys.SAS)
	g.BindingA = wire.BindingProof(keys.Binding, wire.RoleA, in.FpA, in.FpB)
	g.BindingB = wire.BindingProof(keys.Binding, wire.RoleB, in.FpA, in.FpB)

	// A wrong code: b typed another code. Both confirmation checks fail.
	ini, ya2, err := cpace.StartWithScalar(prs, ci, in.SID, ada, in.YaScalar)
	if err != nil {
		t.Fatal(err)
	}
	ybWrong, iskWrong, err := cpace.RespondWithScalar([]byte(goldenWrongCode), ci, in.SID, adb, ya2, ada, in.YbScalar)
	if err != nil {
		t.Fatal(err)
	}
	iskA2, err := ini.Finish(ybWrong, adb)
	if err != nil {
		t.Fatal(err)
	}
	keysA2, err := wire.DeriveKeys(iskA2)
	if err != nil {
		t.Fatal(err)
	}
	keysWrong, err := wire.DeriveKeys(iskWrong)
	if err != nil {
		t.Fatal(err)
	}
	tbWrong := wire.Confirm(keysWrong.ConfirmB, in.SID)
	ta2 := wire.Confirm(keysA2.ConfirmA, in.SID)
	g.WrongCode = goldenWrong{
		CodeB:    goldenWrongCode,
		ISKB:     iskWrong,
		Tb:       tbWrong,
		PakeB:    wire.EncodePakeB(ybWrong, tbWrong),
		ATbValid: wire.CheckConfirm(keysA2.ConfirmB, in.SID, tbWrong),
		Ta:       ta2,
		BTaValid: wire.CheckConfirm(keysWrong.ConfirmA, in.SID, ta2),
		ConfirmA: wire.EncodeConfirmA(ta2),
	}
	if g.WrongCode.ATbValid || g.WrongCode.BTaValid || bytes.Equal(iskA2, iskWrong) {
		t.Fatal("a wrong code passed key confirmation")
	}
	return g
}

func TestPairingTranscript(t *testing.T) {
	g := computeGolden(t)
	// Indented, without HTML escaping, so that "a->b" stays readable.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(g); err != nil {
		t.Fatal(err)
	}
	want := buf.Bytes()
	if *update {
		if err := os.WriteFile(goldenPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenPath)
		return
	}
	have, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if bytes.Equal(have, want) {
		return
	}
	// Say which values differ, not just that the file does.
	var a, b map[string]any
	if err := errors.Join(json.Unmarshal(have, &a), json.Unmarshal(want, &b)); err != nil {
		t.Fatalf("%s is not valid JSON: %v", goldenPath, err)
	}
	for k := range b {
		ja, _ := json.Marshal(a[k])
		jb, _ := json.Marshal(b[k])
		if !bytes.Equal(ja, jb) {
			t.Errorf("%s: %q differs:\nfile     %s\ncomputed %s", goldenPath, k, ja, jb)
		}
	}
	t.Errorf("%s is out of date (formatting or key set differs at least)", goldenPath)
}

// The golden file parses with the wire package, as a browser peer's output
// would be parsed: every body is a valid frame, and the sealed ones open.
func TestPairingTranscriptParses(t *testing.T) {
	data, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var g golden
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	for _, b := range [][]byte{g.PakeA, g.PakeB, g.ConfirmA, g.WrongCode.PakeB, g.WrongCode.ConfirmA} {
		if _, err := wire.ParsePairingFrame(b); err != nil {
			t.Errorf("%x: %v", b, err)
		}
	}
	var ks [32]byte
	copy(ks[:], g.Keys.SealAB)
	openAB, err := wire.NewOpener(ks)
	if err != nil {
		t.Fatal(err)
	}
	copy(ks[:], g.Keys.SealBA)
	openBA, err := wire.NewOpener(ks)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range g.Sealed {
		o := openAB
		if s.Dir == "b->a" {
			o = openBA
		}
		sig, err := o.Open(s.Body)
		if err != nil {
			t.Fatalf("%s seq %d: %v", s.Dir, s.Seq, err)
		}
		if sig.T != s.Signal.T {
			t.Errorf("%s seq %d: opened %q, want %q", s.Dir, s.Seq, sig.T, s.Signal.T)
		}
	}
}
