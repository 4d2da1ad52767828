package session

import (
	"fmt"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/webrtc/v4"

	"github.com/direkt/direkt/internal/wire"
)

// Policy restricts the paths ICE may use (docs/protocol.md, section 5; the
// --path flag and the hello's "path" field).
type Policy int

const (
	// PolicyAuto lets ICE pick the best path: direct where the networks
	// allow, through the TURN relay where not. The zero value.
	PolicyAuto Policy = iota
	// PolicyDirect never uses a relay: no TURN server is configured and the
	// peer's relay candidates are ignored, so that no byte passes through a
	// relay. The connection fails where no direct path exists.
	PolicyDirect
	// PolicyRelay gathers only relay candidates (ICE transport policy
	// "relay"), so that the peer never learns this machine's addresses.
	PolicyRelay
)

// ParsePolicy parses "auto", "direct" or "relay" (the values of --path and
// of the hello's "path" field). The empty string is PolicyAuto.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "auto", "":
		return PolicyAuto, nil
	case "direct":
		return PolicyDirect, nil
	case "relay":
		return PolicyRelay, nil
	}
	return PolicyAuto, fmt.Errorf("%w: path policy %q is not auto, direct or relay", ErrConfig, s)
}

// String returns "auto", "direct" or "relay", the form ParsePolicy accepts.
func (p Policy) String() string {
	switch p {
	case PolicyAuto:
		return "auto"
	case PolicyDirect:
		return "direct"
	case PolicyRelay:
		return "relay"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// iceServers converts the servers of the rendezvous "paired" frame to pion's
// form. PolicyDirect keeps only STUN URLs: without a TURN server no local
// relay candidate exists.
func iceServers(servers []wire.ICEServer, p Policy) []webrtc.ICEServer {
	out := make([]webrtc.ICEServer, 0, len(servers))
	for _, s := range servers {
		urls := make([]string, 0, len(s.URLs))
		for _, u := range s.URLs {
			if p == PolicyDirect && !isSTUNURL(u) {
				continue
			}
			urls = append(urls, u)
		}
		if len(urls) == 0 {
			continue
		}
		out = append(out, webrtc.ICEServer{
			URLs:           urls,
			Username:       s.Username,
			Credential:     s.Credential,
			CredentialType: webrtc.ICECredentialTypePassword,
		})
	}
	return out
}

func isSTUNURL(u string) bool {
	scheme, _, _ := strings.Cut(u, ":")
	scheme = strings.ToLower(scheme)
	return scheme == "stun" || scheme == "stuns"
}

// candidateLine returns the candidate attribute value of a trickled "cand"
// message or an SDP line: "candidate:..." with any "a=" prefix removed.
func candidateLine(s string) string {
	return strings.TrimPrefix(strings.TrimSpace(s), "a=")
}

// isRelayCandidate reports whether a candidate line ("candidate:..." as in
// RFC 8839, section 5.1) is of type relay. A line pion cannot parse is not
// reported as relay; pion discards it later.
func isRelayCandidate(line string) bool {
	v, ok := strings.CutPrefix(candidateLine(line), "candidate:")
	if !ok {
		return false
	}
	c, err := ice.UnmarshalCandidate(v)
	if err != nil {
		return false
	}
	return c.Type() == ice.CandidateTypeRelay
}

// stripRelayCandidates removes relay candidates from an SDP. With
// PolicyDirect a peer that does not trickle (a browser answering with all
// candidates in its SDP) must not get a relay path in through the SDP.
func stripRelayCandidates(sdp string) string {
	if !strings.Contains(sdp, "relay") {
		return sdp
	}
	lines := strings.SplitAfter(sdp, "\n")
	var b strings.Builder
	b.Grow(len(sdp))
	for _, l := range lines {
		if strings.HasPrefix(l, "a=candidate:") && isRelayCandidate(l) {
			continue
		}
		b.WriteString(l)
	}
	return b.String()
}
