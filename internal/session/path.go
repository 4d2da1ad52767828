package session

import (
	"net"
	"strconv"
	"strings"

	"github.com/pion/webrtc/v4"
)

// Path describes the candidate pair ICE selected (RFC 8445, section 8): how
// the session's packets actually travel.
type Path struct {
	// Direct is true when neither end is a relay candidate: packets go
	// between the peers without a TURN server in the middle.
	Direct bool
	// Local and Remote are the candidate types of the two ends: "host",
	// "srflx", "prflx" or "relay" (RFC 8445, section 5.1.1).
	Local, Remote string
	// Proto is the transport this peer sends on: "udp" or "tcp"; when the
	// local end is a relay candidate, the transport to the TURN server:
	// "udp", "tcp", "tls" or "dtls".
	Proto string
	// LocalAddr and RemoteAddr are the candidates' addresses (host:port). For
	// a relay candidate that is the address the TURN server allocated.
	LocalAddr, RemoteAddr string
}

// Kind returns "direct" or "relay", the word the CLI and console show.
func (p Path) Kind() string {
	if p.Direct {
		return "direct"
	}
	return "relay"
}

// String is for logs: "direct host/srflx udp".
func (p Path) String() string {
	if p.Local == "" {
		return "none"
	}
	return p.Kind() + " " + p.Local + "/" + p.Remote + " " + p.Proto
}

// pathFromStats builds a Path from the stats of the selected pair's two
// candidates. pion reports the TURN transport only in the candidate stats
// (RelayProtocol), not on ICECandidate, so stats are the one source that has
// everything.
func pathFromStats(local, remote webrtc.ICECandidateStats) Path {
	p := Path{
		Local:      local.CandidateType.String(),
		Remote:     remote.CandidateType.String(),
		Proto:      strings.ToLower(local.Protocol),
		LocalAddr:  net.JoinHostPort(local.IP, strconv.Itoa(int(local.Port))),
		RemoteAddr: net.JoinHostPort(remote.IP, strconv.Itoa(int(remote.Port))),
	}
	p.Direct = local.CandidateType != webrtc.ICECandidateTypeRelay &&
		remote.CandidateType != webrtc.ICECandidateTypeRelay
	if local.CandidateType == webrtc.ICECandidateTypeRelay && local.RelayProtocol != "" {
		p.Proto = strings.ToLower(local.RelayProtocol)
	}
	return p
}

// selectedPath reads the selected pair from pion. ok is false while ICE has
// not selected a pair (or after the PeerConnection closed).
func selectedPath(pc *webrtc.PeerConnection) (Path, bool) {
	sctp := pc.SCTP()
	if sctp == nil || sctp.Transport() == nil || sctp.Transport().ICETransport() == nil {
		return Path{}, false
	}
	pair, ok := sctp.Transport().ICETransport().GetSelectedCandidatePairStats()
	if !ok {
		return Path{}, false
	}
	report := pc.GetStats()
	local, lok := report[pair.LocalCandidateID].(webrtc.ICECandidateStats)
	remote, rok := report[pair.RemoteCandidateID].(webrtc.ICECandidateStats)
	if !lok || !rok {
		return Path{}, false
	}
	return pathFromStats(local, remote), true
}
