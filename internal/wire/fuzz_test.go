package wire_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/direkt/direkt/internal/wire"
)

func FuzzParsePairingFrame(f *testing.F) {
	s, _, _ := pair(f)
	for _, b := range [][]byte{
		wire.EncodePakeA(fill(32, 1)),
		wire.EncodePakeB(fill(32, 2), fill(32, 3)),
		wire.EncodeConfirmA(fill(32, 4)),
		wire.EncodeAbort("wrong code"),
		seal(f, s, wire.Signal{T: wire.SignalOffer, SDP: testSDP}),
		{}, {1}, {2, 1}, {1, 0x7f, 0xff},
	} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := wire.ParsePairingFrame(body)
		if err != nil {
			return
		}
		// Whatever parses re-encodes to the same bytes: the format has one
		// encoding per frame.
		var again []byte
		switch p.Kind {
		case wire.KindPakeA:
			again = wire.EncodePakeA(p.Y)
		case wire.KindPakeB:
			again = wire.EncodePakeB(p.Y, p.T)
		case wire.KindConfirmA:
			again = wire.EncodeConfirmA(p.T)
		case wire.KindAbort:
			again = wire.EncodeAbort(p.Reason)
		case wire.KindSealed:
			again = append(body[:wire.SealedHeaderSize:wire.SealedHeaderSize], p.Sealed...)
		default:
			t.Fatalf("parsed unknown kind 0x%02x", p.Kind)
		}
		if !bytes.Equal(again, body) {
			t.Fatalf("re-encoded %x as %x", body, again)
		}
	})
}

func FuzzOpen(f *testing.F) {
	s, _, _ := pair(f)
	for _, sig := range validSignals() {
		f.Add(seal(f, s, sig))
	}
	f.Add([]byte{1, 0x10, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(wire.EncodePakeA(fill(32, 1)))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, o, _ := pair(t)
		sig, err := o.Open(body)
		if err == nil {
			if verr := sig.Validate(); verr != nil {
				t.Fatalf("Open returned an invalid signal: %v", verr)
			}
			return
		}
		for _, e := range []error{wire.ErrMalformed, wire.ErrTooLarge, wire.ErrVersion, wire.ErrUnknownType, wire.ErrSequence, wire.ErrAuth} {
			if errors.Is(err, e) {
				if _, err2 := o.Open(body); !errors.Is(err2, wire.ErrBroken) {
					t.Fatalf("second Open after %v: %v, want ErrBroken", err, err2)
				}
				return
			}
		}
		t.Fatalf("undocumented error %v", err)
	})
}

func FuzzParseSignal(f *testing.F) {
	for _, sig := range validSignals() {
		b, err := sig.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{`null`, `{}`, `{"t":"hello","v":1,"id":""}`, `{"t":"cand","c":"a","idx":65536}`, `{"T":"bye"}`, `{"t":"proof","sig":""}`, `{"t":"hello","v":1,"screen":-1}`, `{"t":"hello","v":1,"screen":2e2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sig, err := wire.ParseSignal(data)
		if err != nil {
			return
		}
		b, err := sig.Marshal()
		if err != nil {
			t.Fatalf("parsed signal does not marshal: %v", err)
		}
		again, err := wire.ParseSignal(b)
		if err != nil || !reflect.DeepEqual(again, sig) {
			t.Fatalf("round trip: %+v, %v; want %+v", again, err, sig)
		}
	})
}

func FuzzParseFrame(f *testing.F) {
	for _, fr := range validFrames() {
		b, err := fr.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{`{}`, `{"type":"claim","nameplate":"047"}`, `{"type":"add","body":"AA=="}`, `{"type":"paired","ice_servers":null}`,
		`{"type":"listen","channels":[]}`, `{"type":"listen","channels":["e21f784a83e4a6c0dcc4faf20819922f",null]}`,
		`{"type":"ring","channel":"e21f784a83e4a6c0dcc4faf20819922f","ring":"BwcHBwcHBwcHBwcHBwcHBw=="}`,
		`{"type":"reopen","mailbox":"QkJCQkJCQkJCQkJCQkJCQg==","token":"","received":64}`, `{"type":"reopened","received":0}`,
		`{"type":"paired","token":null,"reopen":true}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := wire.ParseFrame(data)
		if err != nil {
			return
		}
		b, err := fr.Marshal()
		if err != nil {
			t.Fatalf("parsed frame does not marshal: %v", err)
		}
		// Compare encodings, not structs: an empty JSON value decodes to an
		// empty, non-nil slice that encodes like nil.
		again, err := wire.ParseFrame(b)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", b, err)
		}
		b2, err := again.Marshal()
		if err != nil || !bytes.Equal(b2, b) {
			t.Fatalf("encoding not stable: %s then %s (%v)", b, b2, err)
		}
	})
}
