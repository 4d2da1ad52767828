package session

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/direkt/direkt/internal/wire"
)

func TestParsePolicy(t *testing.T) {
	for in, want := range map[string]Policy{"": PolicyAuto, "auto": PolicyAuto, "direct": PolicyDirect, "relay": PolicyRelay} {
		got, err := ParsePolicy(in)
		if err != nil || got != want {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v", in, got, err, want)
		}
		if in != "" && got.String() != in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), in)
		}
	}
	for _, in := range []string{"Direct", "relayed", "p2p", " auto"} {
		if _, err := ParsePolicy(in); !errors.Is(err, ErrConfig) {
			t.Errorf("ParsePolicy(%q) = %v, want ErrConfig", in, err)
		}
	}
}

func TestICEServersPolicy(t *testing.T) {
	servers := []wire.ICEServer{
		{URLs: []string{"stun:rv.example:3478"}},
		{URLs: []string{"turn:rv.example:3478?transport=udp", "turn:rv.example:3478?transport=tcp", "turns:rv.example:443?transport=tcp"}, Username: "u", Credential: "c"},
		{URLs: []string{"STUN:other.example", "turn:other.example"}, Username: "u2", Credential: "c2"},
	}
	all := iceServers(servers, PolicyAuto)
	if len(all) != 3 || len(all[1].URLs) != 3 || all[1].Username != "u" || all[1].Credential != "c" {
		t.Errorf("auto: %+v", all)
	}
	direct := iceServers(servers, PolicyDirect)
	var urls []string
	for _, s := range direct {
		urls = append(urls, s.URLs...)
	}
	if strings.Join(urls, " ") != "stun:rv.example:3478 STUN:other.example" {
		t.Errorf("direct keeps %q, want only the STUN URLs", urls)
	}
}

const (
	hostCand  = "candidate:1966762134 1 udp 2130706431 192.168.1.2 50000 typ host"
	srflxCand = "candidate:842163049 1 udp 1694498815 203.0.113.7 50001 typ srflx raddr 192.168.1.2 rport 50000"
	relayCand = "candidate:3745615287 1 udp 16777215 198.51.100.9 61000 typ relay raddr 203.0.113.7 rport 50001"
)

func TestIsRelayCandidate(t *testing.T) {
	for line, want := range map[string]bool{
		hostCand:                   false,
		srflxCand:                  false,
		relayCand:                  true,
		"a=" + relayCand:           true,
		"  " + relayCand:           true,
		"candidate:garbage":        false,
		"":                         false,
		"typ relay":                false,
		relayCand[len("c"):]:       false, // no "candidate:" prefix
		strings.ToUpper(relayCand): false,
	} {
		if got := isRelayCandidate(line); got != want {
			t.Errorf("isRelayCandidate(%q) = %v, want %v", line, got, want)
		}
	}
}

func TestStripRelayCandidates(t *testing.T) {
	sdp := "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n" +
		"a=" + hostCand + "\r\n" +
		"a=" + relayCand + "\r\n" +
		"a=" + srflxCand + "\r\n" +
		"a=end-of-candidates\r\n"
	got := stripRelayCandidates(sdp)
	want := strings.Replace(sdp, "a="+relayCand+"\r\n", "", 1)
	if got != want {
		t.Errorf("stripRelayCandidates:\n%q\nwant\n%q", got, want)
	}
	if s := "v=0\r\na=" + hostCand + "\r\n"; stripRelayCandidates(s) != s {
		t.Error("an SDP without relay candidates changed")
	}
}

// FuzzStripRelayCandidates: the result is the input minus some
// "a=candidate:" lines, and none of the remaining candidate lines is relay.
func FuzzStripRelayCandidates(f *testing.F) {
	f.Add("v=0\r\na=" + hostCand + "\r\na=" + relayCand + "\r\n")
	f.Add("a=" + relayCand)
	f.Add("a=" + relayCand + "\na=" + relayCand + " generation 0 ufrag x\n")
	f.Add("a=candidate:1 1 tcp 1 1.2.3.4 9 typ relay tcptype passive\r\n")
	f.Add("relay\n\n\r\n")
	f.Fuzz(func(t *testing.T, sdp string) {
		out := stripRelayCandidates(sdp)
		in := strings.SplitAfter(sdp, "\n")
		kept := strings.SplitAfter(out, "\n")
		j := 0
		for _, l := range in {
			if j < len(kept) && kept[j] == l {
				j++
				continue
			}
			if !strings.HasPrefix(l, "a=candidate:") || !isRelayCandidate(l) {
				t.Fatalf("line %q dropped but is not a relay candidate", l)
			}
		}
		for _, l := range kept {
			if strings.HasPrefix(l, "a=candidate:") && isRelayCandidate(l) {
				t.Fatalf("relay candidate %q kept", l)
			}
		}
	})
}

// FuzzPrintable: peer-supplied text comes out printable, valid UTF-8 and
// short.
func FuzzPrintable(f *testing.F) {
	f.Add("user quit", 64)
	f.Add("\x1b[31mred\x00\xff", 4)
	f.Add("ünïcode ✓\u202e", 3)
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 0 || n > 1000 {
			return
		}
		out := printable(s, n)
		if !utf8.ValidString(out) {
			t.Fatalf("printable(%q) = %q is not UTF-8", s, out)
		}
		if c := utf8.RuneCountInString(out); c > n+1 {
			t.Fatalf("printable(%q, %d) has %d runes", s, n, c)
		}
		for _, r := range out {
			if !unicode.IsPrint(r) && r != '…' {
				t.Fatalf("printable(%q) = %q contains %U", s, out, r)
			}
		}
	})
}
