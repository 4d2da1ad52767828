package session

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"

	"github.com/direkt/direkt/internal/wire"
)

const (
	turnRealm = "direkt.test"
	turnUser  = "peer"
	turnPass  = "secret"
)

// startTURN runs a pion TURN server on loopback, listening on UDP and TCP,
// relaying from 127.0.0.1, and returns its two addresses.
func startTURN(t *testing.T) (udpAddr, tcpAddr string) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newTURNServer(t, pc, ln, func() turn.RelayAddressGenerator {
		return &turn.RelayAddressGeneratorStatic{RelayAddress: net.ParseIP("127.0.0.1"), Address: "127.0.0.1"}
	})
	t.Cleanup(func() { _ = srv.Close() })
	return pc.LocalAddr().String(), ln.Addr().String()
}

// newTURNServer serves TURN for turnUser on pc and ln, with a relay address
// generator from gen for each.
func newTURNServer(t testing.TB, pc net.PacketConn, ln net.Listener, gen func() turn.RelayAddressGenerator) *turn.Server {
	t.Helper()
	key := turn.GenerateAuthKey(turnUser, turnRealm, turnPass)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: turnRealm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == turnUser
		},
		PacketConnConfigs: []turn.PacketConnConfig{{PacketConn: pc, RelayAddressGenerator: gen()}},
		ListenerConfigs:   []turn.ListenerConfig{{Listener: ln, RelayAddressGenerator: gen()}},
		LoggerFactory:     pionLogs{log: testLogger()},
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// localCandidateTypes counts the session's gathered local candidates by type.
func localCandidateTypes(s *Session) map[string]int {
	n := map[string]int{}
	for _, st := range s.pc.GetStats() {
		if c, ok := st.(webrtc.ICECandidateStats); ok && c.Type == webrtc.StatsTypeLocalCandidate {
			n[c.CandidateType.String()]++
		}
	}
	return n
}

// TestTURNLoopback runs both peers against a real TURN server on loopback
// and checks which path each policy yields, and that Path.Proto names the
// transport to the TURN server.
func TestTURNLoopback(t *testing.T) {
	leakCheck(t)
	udpAddr, tcpAddr := startTURN(t)
	server := func(transport, addr string) []wire.ICEServer {
		return []wire.ICEServer{{
			URLs:       []string{fmt.Sprintf("turn:%s?transport=%s", addr, transport)},
			Username:   turnUser,
			Credential: turnPass,
		}}
	}
	for _, tc := range []struct {
		name    string
		policy  Policy
		servers []wire.ICEServer
		want    Path // Direct, Local, Remote, Proto are compared
	}{
		{"relay-udp", PolicyRelay, server("udp", udpAddr), Path{Local: "relay", Remote: "relay", Proto: "udp"}},
		{"relay-tcp", PolicyRelay, server("tcp", tcpAddr), Path{Local: "relay", Remote: "relay", Proto: "tcp"}},
		{"auto", PolicyAuto, append(server("udp", udpAddr), server("tcp", tcpAddr)...), Path{Direct: true, Local: "host", Remote: "host", Proto: "udp"}},
		{"direct", PolicyDirect, append(server("udp", udpAddr), server("tcp", tcpAddr)...), Path{Direct: true, Local: "host", Remote: "host", Proto: "udp"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			ca, cb, _, _ := pairConfigs(Config{IncludeLoopback: true, Policy: tc.policy, ICEServers: tc.servers})
			a, b := mustConnect(t, ctx, ca, cb)
			for _, s := range []*Session{a, b} {
				p := s.Path()
				remote := p.Remote
				if remote == "prflx" && tc.want.Remote == "host" {
					// The peer's check can arrive before its candidate
					// does; ICE then knows the address as peer-reflexive.
					remote = "host"
				}
				if p.Direct != tc.want.Direct || p.Local != tc.want.Local || remote != tc.want.Remote || p.Proto != tc.want.Proto {
					t.Errorf("%c: path %+v, want %s", s.role, p, tc.want)
				}
			}
			// The path may be up before gathering is done.
			select {
			case <-webrtc.GatheringCompletePromise(a.pc):
			case <-ctx.Done():
				t.Fatal("gathering did not complete")
			}
			types := localCandidateTypes(a)
			switch tc.policy {
			case PolicyRelay:
				if types["host"]+types["srflx"] != 0 || types["relay"] == 0 {
					t.Errorf("policy relay gathered %v", types)
				}
			case PolicyDirect:
				if types["relay"] != 0 {
					t.Errorf("policy direct gathered %v", types)
				}
			case PolicyAuto:
				// Both TURN transports allocate.
				if types["relay"] < 2 {
					t.Errorf("policy auto gathered %v, want relays over UDP and TCP", types)
				}
			}
			// The relayed path carries data.
			ca2, cb2 := openPair(t, ctx, a, b, "data")
			errc := make(chan error, 1)
			go func() { errc <- writePattern(ca2, 1<<20, 10_000) }()
			if n, err := readPattern(io.LimitReader(cb2, 1<<20), 4096); err != nil || n != 1<<20 {
				t.Fatalf("read %d bytes: %v", n, err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
		})
	}
}
