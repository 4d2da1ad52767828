package session

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"

	"github.com/direkt/direkt/internal/wire"
)

// The virtual internet of these tests, after pion/ice's
// connectivity_vnet_test.go: a WAN router with the STUN/TURN server on it,
// and two LANs behind NATs of the behaviours RFC 4787 names.
const (
	vnetServerIP = "1.2.3.4"
	vnetPublicA  = "27.1.1.1"
	vnetLocalA   = "192.168.0.2"
	vnetPublicB  = "28.1.1.1"
	vnetLocalB   = "10.2.0.2"
	vnetTURNPort = 3478
	// vnetDelay is the one-way delay of each router hop: real latency, so
	// that hole punching races as it does on the internet.
	vnetDelay = 5 * time.Millisecond
)

// NAT behaviours (RFC 4787, sections 4.1 and 5).
var (
	// fullCone: endpoint-independent mapping and filtering.
	fullCone = vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointIndependent}
	// portRestricted: endpoint-independent mapping, address-and-port-
	// dependent filtering (Linux masquerade).
	portRestricted = vnet.NATType{MappingBehavior: vnet.EndpointIndependent, FilteringBehavior: vnet.EndpointAddrPortDependent}
	// symmetric: address-and-port-dependent mapping and filtering: a new
	// public port for every destination.
	symmetric = vnet.NATType{MappingBehavior: vnet.EndpointAddrPortDependent, FilteringBehavior: vnet.EndpointAddrPortDependent}
)

// vnetBuildMu serializes building virtual networks: vnet numbers MAC
// addresses with an unsynchronized global counter (pion/transport v5.1.5,
// vnet/net.go newMACAddress), a data race when parallel tests build theirs.
var vnetBuildMu sync.Mutex

type virtualNet struct {
	wan        *vnet.Router
	netA, netB *vnet.Net
}

// buildVNet builds the WAN with its TURN server and the two NATed LANs; all
// of it is stopped when the test ends.
func buildVNet(t *testing.T, natA, natB vnet.NATType) *virtualNet {
	t.Helper()
	vnetBuildMu.Lock()
	defer vnetBuildMu.Unlock()
	lf := pionLogs{log: testLogger()}
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "0.0.0.0/0", MinDelay: vnetDelay, LoggerFactory: lf})
	if err != nil {
		t.Fatal(err)
	}
	wanNet, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{vnetServerIP}})
	if err != nil {
		t.Fatal(err)
	}
	if err := wan.AddNet(wanNet); err != nil {
		t.Fatal(err)
	}
	lan := func(public, local, cidr string, nat vnet.NATType) *vnet.Net {
		r, err := vnet.NewRouter(&vnet.RouterConfig{
			StaticIPs: []string{public}, CIDR: cidr, NATType: &nat, MinDelay: vnetDelay, LoggerFactory: lf,
		})
		if err != nil {
			t.Fatal(err)
		}
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{local}})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.AddNet(n); err != nil {
			t.Fatal(err)
		}
		if err := wan.AddRouter(r); err != nil {
			t.Fatal(err)
		}
		return n
	}
	v := &virtualNet{
		wan:  wan,
		netA: lan(vnetPublicA, vnetLocalA, "192.168.0.0/24", natA),
		netB: lan(vnetPublicB, vnetLocalB, "10.2.0.0/24", natB),
	}
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wan.Stop() })

	conn, err := wanNet.ListenPacket("udp4", fmt.Sprintf("%s:%d", vnetServerIP, vnetTURNPort))
	if err != nil {
		t.Fatal(err)
	}
	key := turn.GenerateAuthKey(turnUser, turnRealm, turnPass)
	srv, err := turn.NewServer(turn.ServerConfig{
		Realm: turnRealm,
		AuthHandler: func(ra *turn.RequestAttributes) (string, []byte, bool) {
			return ra.Username, key, ra.Username == turnUser
		},
		PacketConnConfigs: []turn.PacketConnConfig{{
			PacketConn: conn,
			RelayAddressGenerator: &turn.RelayAddressGeneratorStatic{
				RelayAddress: net.ParseIP(vnetServerIP), Address: "0.0.0.0", Net: wanNet,
			},
		}},
		LoggerFactory: lf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() }) // runs before the router stops
	return v
}

// vnetConfigs returns the two peers' configurations on v: a in LAN A, b in
// LAN B, both with the WAN's STUN and TURN server.
func vnetConfigs(v *virtualNet, policy Policy) (Config, Config) {
	servers := []wire.ICEServer{
		{URLs: []string{fmt.Sprintf("stun:%s:%d", vnetServerIP, vnetTURNPort)}},
		{URLs: []string{fmt.Sprintf("turn:%s:%d?transport=udp", vnetServerIP, vnetTURNPort)}, Username: turnUser, Credential: turnPass},
	}
	ca, cb, _, _ := pairConfigs(Config{ICEServers: servers, Policy: policy})
	ca.Net, cb.Net = v.netA, v.netB
	return ca, cb
}

// TestNATMatrix connects peers behind every pair of NAT behaviours (in both
// role assignments) and checks the path: direct where UDP hole punching can
// work (one side full cone, or both with endpoint-independent mapping),
// relayed where it cannot (symmetric against port-restricted or symmetric).
func TestNATMatrix(t *testing.T) {
	leakCheck(t) // after all the parallel subtests
	nats := []struct {
		name string
		typ  vnet.NATType
	}{{"fullcone", fullCone}, {"portrestricted", portRestricted}, {"symmetric", symmetric}}
	wantDirect := func(a, b string) bool {
		if a == "fullcone" || b == "fullcone" {
			return true
		}
		return a != "symmetric" && b != "symmetric"
	}
	for _, na := range nats {
		for _, nb := range nats {
			t.Run(na.name+"-"+nb.name, func(t *testing.T) {
				t.Parallel()
				v := buildVNet(t, na.typ, nb.typ)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				ca, cb := vnetConfigs(v, PolicyAuto)
				start := time.Now()
				a, b := mustConnect(t, ctx, ca, cb)
				elapsed := time.Since(start)
				direct := wantDirect(na.name, nb.name)
				for _, s := range []*Session{a, b} {
					p := s.Path()
					t.Logf("%c: %s (%s -> %s) after %v", s.role, p, p.LocalAddr, p.RemoteAddr, elapsed.Round(time.Millisecond))
					if p.Direct != direct {
						t.Errorf("%c: path %s, want direct=%v", s.role, p, direct)
					}
				}
				_ = a.Close()
				_ = b.Close()
			})
		}
	}
}

// TestPolicyRelayVNet: PolicyRelay relays even between two full-cone NATs,
// where direct would work.
func TestPolicyRelayVNet(t *testing.T) {
	leakCheck(t)
	v := buildVNet(t, fullCone, fullCone)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, cb := vnetConfigs(v, PolicyRelay)
	a, b := mustConnect(t, ctx, ca, cb)
	for _, s := range []*Session{a, b} {
		if p := s.Path(); p.Direct || p.Local != "relay" {
			t.Errorf("%c: path %+v, want our own relay", s.role, p)
		}
	}
}

// TestPolicyDirectVNet: PolicyDirect connects directly where it can, and
// between two symmetric NATs fails with ErrICEFailed in bounded time rather
// than falling back to the relay.
func TestPolicyDirectVNet(t *testing.T) {
	leakCheck(t)
	t.Run("fullcone", func(t *testing.T) {
		v := buildVNet(t, fullCone, portRestricted)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ca, cb := vnetConfigs(v, PolicyDirect)
		a, b := mustConnect(t, ctx, ca, cb)
		for _, s := range []*Session{a, b} {
			if p := s.Path(); !p.Direct {
				t.Errorf("%c: path %+v, want direct", s.role, p)
			}
			if n := localCandidateTypes(s)["relay"]; n != 0 {
				t.Errorf("%c: %d relay candidates with policy direct", s.role, n)
			}
		}
	})
	t.Run("symmetric", func(t *testing.T) {
		v := buildVNet(t, symmetric, symmetric)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ca, cb := vnetConfigs(v, PolicyDirect)
		ca.iceFailedTimeout, cb.iceFailedTimeout = time.Second, time.Second
		start := time.Now()
		ra, rb := connectBoth(ctx, ca, cb)
		t.Logf("failed after %v: a: %v; b: %v", time.Since(start).Round(time.Millisecond), ra.err, rb.err)
		if ra.s != nil || rb.s != nil {
			t.Fatal("policy direct connected two symmetric NATs")
		}
		// One side notices first and says bye; the other may report that.
		if !errors.Is(ra.err, ErrICEFailed) && !errors.Is(rb.err, ErrICEFailed) {
			t.Errorf("want ErrICEFailed: a: %v; b: %v", ra.err, rb.err)
		}
		if ctx.Err() != nil {
			t.Error("failure took until the test deadline")
		}
	})
}

// TestPathLost: when the network between connected peers goes dark, both
// sessions end with ErrICEFailed, and a blocked Read returns that error.
func TestPathLost(t *testing.T) {
	leakCheck(t)
	v := buildVNet(t, fullCone, fullCone)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, cb := vnetConfigs(v, PolicyAuto)
	ca.iceFailedTimeout, cb.iceFailedTimeout = time.Second, time.Second
	a, b := mustConnect(t, ctx, ca, cb)
	_, chb := openPair(t, ctx, a, b, "idle")
	readErr := make(chan error, 1)
	go func() { _, err := chb.Read(make([]byte, 1)); readErr <- err }()

	v.wan.AddChunkFilter(func(vnet.Chunk) bool { return false })
	for _, s := range []*Session{a, b} {
		select {
		case <-s.Done():
		case <-ctx.Done():
			t.Fatalf("%c: session still up after the network went dark", s.role)
		}
		if !errors.Is(s.Err(), ErrICEFailed) && !errors.Is(s.Err(), ErrPeerClosed) {
			t.Errorf("%c: Err = %v, want ErrICEFailed", s.role, s.Err())
		}
	}
	if !errors.Is(a.Err(), ErrICEFailed) && !errors.Is(b.Err(), ErrICEFailed) {
		t.Errorf("neither side reports ErrICEFailed: a: %v; b: %v", a.Err(), b.Err())
	}
	if err := <-readErr; err == nil {
		t.Error("Read on a lost session returned no error")
	}
}
