package wire_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/direkt/direkt/internal/wire"
)

func ptr[T any](v T) *T { return &v }

const testSDP = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AA:BB\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n"

// validSignals covers every type with its fields set.
func validSignals() []wire.Signal {
	return []wire.Signal{
		{T: wire.SignalHello, V: 1, Name: "Maklerbüro Schmidt & Söhne <bAV>", ID: fill(32, 5), App: wire.AppConsult, Path: wire.PathAuto},
		{T: wire.SignalHello, V: 1}, // a browser without a long-term key
		{T: wire.SignalHello, V: 1, App: wire.AppConsult, Screen: 1},
		{T: wire.SignalHello, V: 1, Screen: wire.MaxScreen}, // a later version
		{T: wire.SignalOffer, SDP: testSDP},
		{T: wire.SignalAnswer, SDP: testSDP},
		{T: wire.SignalCand, Cand: "candidate:1 1 udp 2130706431 192.0.2.1 54321 typ host", Mid: ptr("0"), Idx: ptr(uint16(0))},
		{T: wire.SignalCand, Cand: "candidate:2 1 udp 1 4b1c0b2e-55a1.local 9 typ host"},
		{T: wire.SignalCandEnd},
		{T: wire.SignalBye, Reason: "done"},
		{T: wire.SignalBye},
		{T: wire.SignalProof, Sig: fill(64, 9)},
		{T: wire.SignalRestart},
	}
}

func TestSignalMarshalParse(t *testing.T) {
	for _, s := range validSignals() {
		b, err := s.Marshal()
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		got, err := wire.ParseSignal(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("round trip of %s: got %+v, want %+v", b, got, s)
		}
	}
}

// Marshal's bytes are what the golden vectors and the browser pin: struct
// order, no whitespace, omitted empties, no HTML escaping.
func TestSignalMarshalExact(t *testing.T) {
	for _, c := range []struct {
		s    wire.Signal
		want string
	}{
		{wire.Signal{T: "hello", V: 1, Name: "A & B <x>", ID: fill(32, 0), App: "send", Path: "relay"},
			`{"t":"hello","v":1,"name":"A & B <x>","id":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","app":"send","path":"relay"}`},
		{wire.Signal{T: "hello", V: 1, App: "consult", Screen: 1}, `{"t":"hello","v":1,"app":"consult","screen":1}`},
		{wire.Signal{T: "offer", SDP: "v=0\r\n"}, `{"t":"offer","sdp":"v=0\r\n"}`},
		{wire.Signal{T: "cand", Cand: "candidate:x", Mid: ptr(""), Idx: ptr(uint16(0))}, `{"t":"cand","c":"candidate:x","mid":"","idx":0}`},
		{wire.Signal{T: "cand-end"}, `{"t":"cand-end"}`},
		{wire.Signal{T: "restart"}, `{"t":"restart"}`},
	} {
		b, err := c.s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("Marshal = %s\n      want %s", b, c.want)
		}
	}
}

func TestSignalValidateRejects(t *testing.T) {
	for _, c := range []struct {
		name string
		s    wire.Signal
		want error
	}{
		{"no type", wire.Signal{}, wire.ErrUnknownType},
		{"unknown type", wire.Signal{T: "HELLO", V: 1}, wire.ErrUnknownType},
		{"hello v0", wire.Signal{T: "hello"}, wire.ErrMalformed},
		{"hello v2", wire.Signal{T: "hello", V: 2}, wire.ErrMalformed},
		{"hello short id", wire.Signal{T: "hello", V: 1, ID: fill(31, 1)}, wire.ErrMalformed},
		{"hello long id", wire.Signal{T: "hello", V: 1, ID: fill(33, 1)}, wire.ErrMalformed},
		{"hello empty id", wire.Signal{T: "hello", V: 1, ID: []byte{}}, wire.ErrMalformed},
		{"hello app", wire.Signal{T: "hello", V: 1, App: "shell"}, wire.ErrMalformed},
		{"hello path", wire.Signal{T: "hello", V: 1, Path: "tcp"}, wire.ErrMalformed},
		{"hello negative screen", wire.Signal{T: "hello", V: 1, Screen: -1}, wire.ErrMalformed},
		{"hello screen over a byte", wire.Signal{T: "hello", V: 1, Screen: wire.MaxScreen + 1}, wire.ErrMalformed},
		{"hello long name", wire.Signal{T: "hello", V: 1, Name: strings.Repeat("x", wire.MaxName+1)}, wire.ErrTooLarge},
		{"hello escape in name", wire.Signal{T: "hello", V: 1, Name: "\x1b]0;pwned\x07"}, wire.ErrMalformed},
		{"hello bad utf-8 name", wire.Signal{T: "hello", V: 1, Name: "\xc3"}, wire.ErrMalformed},
		{"offer empty", wire.Signal{T: "offer"}, wire.ErrMalformed},
		{"answer bad utf-8", wire.Signal{T: "answer", SDP: "v=0\xff"}, wire.ErrMalformed},
		{"offer too long", wire.Signal{T: "offer", SDP: strings.Repeat("a", wire.MaxSDP+1)}, wire.ErrTooLarge},
		{"cand empty", wire.Signal{T: "cand"}, wire.ErrMalformed},
		{"cand CRLF", wire.Signal{T: "cand", Cand: "candidate:1\r\na=evil"}, wire.ErrMalformed},
		{"cand non-ascii", wire.Signal{T: "cand", Cand: "candidate:ü"}, wire.ErrMalformed},
		{"cand too long", wire.Signal{T: "cand", Cand: strings.Repeat("c", wire.MaxCandidate+1)}, wire.ErrTooLarge},
		{"cand mid CR", wire.Signal{T: "cand", Cand: "candidate:1", Mid: ptr("0\r")}, wire.ErrMalformed},
		{"cand mid long", wire.Signal{T: "cand", Cand: "candidate:1", Mid: ptr(strings.Repeat("m", wire.MaxMid+1))}, wire.ErrMalformed},
		{"bye control", wire.Signal{T: "bye", Reason: "a\tb"}, wire.ErrMalformed},
		{"bye too long", wire.Signal{T: "bye", Reason: strings.Repeat("r", wire.MaxReason+1)}, wire.ErrTooLarge},
	} {
		if err := c.s.Validate(); !errors.Is(err, c.want) {
			t.Errorf("%s: Validate = %v, want %v", c.name, err, c.want)
		}
		if _, err := c.s.Marshal(); !errors.Is(err, c.want) {
			t.Errorf("%s: Marshal = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestParseSignalRejects(t *testing.T) {
	for _, c := range []struct {
		in   string
		want error
	}{
		{``, wire.ErrMalformed},
		{`null`, wire.ErrUnknownType},
		{`[]`, wire.ErrMalformed},
		{`{"t":"hello","v":1} x`, wire.ErrMalformed},
		{`{"t":"hello","v":"1"}`, wire.ErrMalformed},
		{`{"t":"hello","v":1,"id":"not base64"}`, wire.ErrMalformed},
		{`{"t":"cand","c":"candidate:1","idx":70000}`, wire.ErrMalformed},
		{`{"t":"cand","c":"candidate:1","idx":-1}`, wire.ErrMalformed},
		{`{"t":"hello","v":1,"screen":1.5}`, wire.ErrMalformed},
		{`{"t":"hello","v":1,"screen":"1"}`, wire.ErrMalformed},
		{`{"t":"hello","v":1,"screen":256}`, wire.ErrMalformed},
		{`{"t":"nope"}`, wire.ErrUnknownType},
		{`{"t":"offer","sdp":"` + strings.Repeat("a", wire.MaxBody) + `"}`, wire.ErrTooLarge},
	} {
		if _, err := wire.ParseSignal([]byte(c.in)); !errors.Is(err, c.want) {
			t.Errorf("ParseSignal(%.40q): %v, want %v", c.in, err, c.want)
		}
	}
	// Unknown fields are ignored (forward compatibility within v1).
	s, err := wire.ParseSignal([]byte(`{"t":"cand-end","future":true}`))
	if err != nil || s.T != wire.SignalCandEnd {
		t.Errorf("unknown field: %+v, %v", s, err)
	}
}

// A hello's "screen" says whether its sender can show and share a screen
// (docs/screen.md, "Negotiation"): absent or 0 cannot, any version from 1
// on can.
func TestHelloCanScreen(t *testing.T) {
	for _, c := range []struct {
		in   string
		want bool
	}{
		{`{"t":"hello","v":1}`, false},
		{`{"t":"hello","v":1,"screen":0}`, false},
		{`{"t":"hello","v":1,"screen":1}`, true},
		{`{"t":"hello","v":1,"screen":7}`, true},
		{`{"t":"hello","v":1,"screen":255}`, true},
	} {
		s, err := wire.ParseSignal([]byte(c.in))
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if got := s.CanScreen(); got != c.want {
			t.Errorf("%s: CanScreen = %v, want %v", c.in, got, c.want)
		}
	}
	// Only a hello says it.
	if (wire.Signal{T: wire.SignalBye, Screen: 1}).CanScreen() {
		t.Error("a bye can screen")
	}
}
