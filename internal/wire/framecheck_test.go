package wire_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/direkt/direkt/internal/wire"
)

func validFrames() []wire.Frame {
	mb := fill(16, 0x42)
	return []wire.Frame{
		{Type: wire.TypeAllocate},
		{Type: wire.TypeClaim, Nameplate: "47"},
		{Type: wire.TypeAdd, Body: wire.EncodePakeA(fill(32, 1))},
		{Type: wire.TypeClose, Mood: wire.MoodScary},
		{Type: wire.TypeWelcome, Version: 1, MOTD: "Wartung heute um 22 Uhr"},
		{Type: wire.TypeWelcome, Version: 1},
		{Type: wire.TypeAllocated, Nameplate: "1234", Mailbox: mb},
		{Type: wire.TypeClaimed, Mailbox: mb},
		{Type: wire.TypePaired, TTL: 3600, ICEServers: []wire.ICEServer{
			{URLs: []string{"stun:rv.example:3478"}},
			{URLs: []string{"turn:rv.example:3478?transport=udp", "turn:rv.example:3478?transport=tcp"}, Username: "1700000000:x", Credential: "c2VjcmV0"},
		}},
		{Type: wire.TypePaired}, // no ICE servers configured
		{Type: wire.TypeMessage, Body: []byte{1, 0x7f}},
		{Type: wire.TypeClosed, Mood: wire.MoodExpired},
		{Type: wire.TypeError, Kind: wire.ErrKindCrowded, Message: "mailbox is crowded"},
		{Type: wire.TypeError, Kind: wire.ErrKindUnavailable, Message: "nobody answers"},
		{Type: wire.TypeListen, Channels: []string{testChannel, strings.Repeat("0", 32)}},
		{Type: wire.TypeListen}, // listens on nothing
		{Type: wire.TypeDial, Channel: testChannel},
		{Type: wire.TypeAnswer, Ring: fill(16, 7)},
		{Type: wire.TypeListening},
		{Type: wire.TypeRing, Channel: testChannel, Ring: fill(16, 7)},
		{Type: wire.TypeHangup, Ring: fill(16, 7)},
		{Type: wire.TypeAnswered, Mailbox: mb},
		{Type: wire.TypeDialed, Mailbox: mb},
		{Type: wire.TypeClaim, Nameplate: "47", Reopen: true},
		{Type: wire.TypePaired, Token: fill(32, 9)},
		{Type: wire.TypeReopen, Mailbox: mb, Token: fill(32, 9), Received: 3},
		{Type: wire.TypeReopen, Mailbox: mb, Token: fill(32, 9)}, // received nothing yet
		{Type: wire.TypeReopened, Received: wire.MaxBodiesPerSide},
		{Type: wire.TypeReopened},
		{Type: wire.TypeError, Kind: wire.ErrKindUnknownMailbox, Message: "unknown mailbox"},
	}
}

// testChannel is the channel of token 00 01 … 1f (see TestRejoinChannel).
const testChannel = "e21f784a83e4a6c0dcc4faf20819922f"

func TestFrameMarshalParse(t *testing.T) {
	for _, f := range validFrames() {
		b, err := f.Marshal()
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		got, err := wire.ParseFrame(b)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", b, got, f)
		}
	}
}

func TestFrameWireForm(t *testing.T) {
	b, err := wire.Frame{Type: wire.TypeAdd, Body: []byte{1, 2, 3}}.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"type":"add","body":"AQID"}` {
		t.Errorf("add frame = %s", b)
	}
	f, err := wire.ParseFrame([]byte(`{"type":"claim","nameplate":"7","extra":{"ignored":[1,2]}}`))
	if err != nil || f.Nameplate != "7" {
		t.Errorf("unknown fields must be ignored: %+v, %v", f, err)
	}
}

func TestParseFrameRejects(t *testing.T) {
	bigBody := `{"type":"add","body":"` + strings.Repeat("A", (wire.MaxBody+3)/3*4) + `"}`
	for _, c := range []struct {
		in   string
		want error
	}{
		{``, wire.ErrMalformed},
		{`{`, wire.ErrMalformed},
		{`{"type":"claim","nameplate":"47"}{}`, wire.ErrMalformed},
		{`{}`, wire.ErrUnknownType},
		{`{"type":"list"}`, wire.ErrUnknownType},
		{`{"type":"claim"}`, wire.ErrMalformed},
		{`{"type":"claim","nameplate":"047"}`, wire.ErrMalformed},
		{`{"type":"claim","nameplate":"0"}`, wire.ErrMalformed},
		{`{"type":"claim","nameplate":"4a"}`, wire.ErrMalformed},
		{`{"type":"claim","nameplate":"-1"}`, wire.ErrMalformed},
		{`{"type":"claim","nameplate":"12345678901"}`, wire.ErrMalformed},
		{`{"type":"claim","nameplate":47}`, wire.ErrMalformed},
		{`{"type":"add"}`, wire.ErrMalformed},
		{`{"type":"add","body":"***"}`, wire.ErrMalformed},
		{bigBody, wire.ErrTooLarge},
		{`{"type":"close"}`, wire.ErrMalformed},
		{`{"type":"close","mood":"expired"}`, wire.ErrMalformed}, // server-only mood
		{`{"type":"closed","mood":"angry"}`, wire.ErrMalformed},
		{`{"type":"allocated","nameplate":"47"}`, wire.ErrMalformed},
		{`{"type":"allocated","nameplate":"47","mailbox":"AAAA"}`, wire.ErrMalformed},
		{`{"type":"claimed","mailbox":"AAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`, wire.ErrMalformed},
		{`{"type":"paired","ice_servers":[{"urls":[]}]}`, wire.ErrMalformed},
		{`{"type":"paired","ice_servers":[{"urls":["turn:x\r\n"]}]}`, wire.ErrMalformed},
		{`{"type":"paired","ttl":-1}`, wire.ErrMalformed},
		{`{"type":"welcome","motd":"\u001b[2J"}`, wire.ErrMalformed},
		{`{"type":"error","message":"x"}`, wire.ErrMalformed},
		{`{"type":"error","kind":"crowded","message":"a\u0007"}`, wire.ErrMalformed},
		{`{"type":"allocate","pad":"` + strings.Repeat("x", wire.MaxFrame) + `"}`, wire.ErrTooLarge},
		{`{"type":"dial"}`, wire.ErrMalformed},
		{`{"type":"dial","channel":"E21F784A83E4A6C0DCC4FAF20819922F"}`, wire.ErrMalformed},
		{`{"type":"dial","channel":"e21f784a83e4a6c0dcc4faf20819922"}`, wire.ErrMalformed},
		{`{"type":"dial","channel":"e21f784a83e4a6c0dcc4faf20819922fe21f784a83e4a6c0dcc4faf20819922f"}`, wire.ErrMalformed},
		{`{"type":"dial","channel":"g21f784a83e4a6c0dcc4faf20819922f"}`, wire.ErrMalformed},
		{`{"type":"listen","channels":["e21f784a83e4a6c0dcc4faf20819922f","e21f784a83e4a6c0dcc4faf20819922f"]}`, wire.ErrMalformed},
		{`{"type":"listen","channels":[""]}`, wire.ErrMalformed},
		{`{"type":"listen","channels":"e21f784a83e4a6c0dcc4faf20819922f"}`, wire.ErrMalformed},
		{listenFrame(wire.MaxListenChannels + 1), wire.ErrTooLarge},
		{`{"type":"answer"}`, wire.ErrMalformed},
		{`{"type":"answer","ring":"AAAA"}`, wire.ErrMalformed},
		{`{"type":"ring","ring":"AAAAAAAAAAAAAAAAAAAAAA=="}`, wire.ErrMalformed},
		{`{"type":"ring","channel":"e21f784a83e4a6c0dcc4faf20819922f"}`, wire.ErrMalformed},
		{`{"type":"hangup"}`, wire.ErrMalformed},
		{`{"type":"dialed"}`, wire.ErrMalformed},
		{`{"type":"answered","mailbox":"AAAA"}`, wire.ErrMalformed},
		{`{"type":"reopen","token":"` + b64(32) + `"}`, wire.ErrMalformed},
		{`{"type":"reopen","mailbox":"` + b64(16) + `"}`, wire.ErrMalformed},
		{`{"type":"reopen","mailbox":"` + b64(16) + `","token":"` + b64(31) + `"}`, wire.ErrMalformed},
		{`{"type":"reopen","mailbox":"` + b64(16) + `","token":"` + b64(32) + `","received":-1}`, wire.ErrMalformed},
		{`{"type":"reopen","mailbox":"` + b64(16) + `","token":"` + b64(32) + `","received":257}`, wire.ErrMalformed},
		{`{"type":"reopen","mailbox":"` + b64(16) + `","token":"` + b64(32) + `","received":"1"}`, wire.ErrMalformed},
		{`{"type":"reopened","received":257}`, wire.ErrMalformed},
		{`{"type":"reopened","received":-1}`, wire.ErrMalformed},
		{`{"type":"paired","token":"` + b64(16) + `"}`, wire.ErrMalformed},
		{`{"type":"paired","token":""}`, wire.ErrMalformed},
	} {
		if _, err := wire.ParseFrame([]byte(c.in)); !errors.Is(err, c.want) {
			t.Errorf("ParseFrame(%.60s): %v, want %v", c.in, err, c.want)
		}
	}
}

// b64 is the base64 of n zero bytes.
func b64(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }

// listenFrame is a listen frame with n distinct channels.
func listenFrame(n int) string {
	var b strings.Builder
	b.WriteString(`{"type":"listen","channels":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%q", fmt.Sprintf("%032x", i))
	}
	b.WriteString("]}")
	return b.String()
}

// The largest listen frame fits into a mailbox frame: the reason channels
// are 16 bytes, not 32.
func TestLargestListenFits(t *testing.T) {
	s := listenFrame(wire.MaxListenChannels)
	if len(s) > wire.MaxFrame {
		t.Fatalf("listen frame of %d channels is %d bytes, over MaxFrame", wire.MaxListenChannels, len(s))
	}
	f, err := wire.ParseFrame([]byte(s))
	if err != nil || len(f.Channels) != wire.MaxListenChannels {
		t.Fatalf("largest listen frame: %d channels, %v", len(f.Channels), err)
	}
}

func TestFrameMarshalRefuses(t *testing.T) {
	for _, f := range []wire.Frame{
		{Type: "nope"},
		{Type: wire.TypeAdd, Body: fill(wire.MaxBody+1, 0)},
		{Type: wire.TypeClaim, Nameplate: "x"},
		// pion's URL parser recurses without end on these.
		{Type: wire.TypePaired, ICEServers: []wire.ICEServer{{URLs: []string{"stun:[1]t"}}}},
		{Type: wire.TypePaired, ICEServers: []wire.ICEServer{{URLs: []string{"turn:[1]t?transport=udp"}}}},
		{Type: wire.TypePaired, ICEServers: []wire.ICEServer{{URLs: []string{"turn:"}}}},
	} {
		if _, err := f.Marshal(); err == nil {
			t.Errorf("Marshal(%.60v) succeeded", f)
		}
	}
}
