package session

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/pion/ice/v4"
	"github.com/pion/transport/v5/vnet"
	"github.com/pion/webrtc/v4"

	"github.com/direkt/direkt/internal/portmap"
)

func TestPortMapConfig(t *testing.T) {
	vn, err := vnet.NewNet(&vnet.NetConfig{})
	if err != nil {
		t.Fatal(err)
	}
	explicit := &portmap.Config{Protocols: portmap.PCP}
	for _, c := range []struct {
		name string
		env  string // "-" for unset
		cfg  Config
		want portmap.Protocol // 0: no port mapping
	}{
		{"unset", "-", Config{}, 0},
		{"off", "off", Config{}, 0},
		{"env", "natpmp,upnp", Config{}, portmap.NATPMP | portmap.UPnP},
		{"bad env", "stun", Config{}, 0},
		{"test net", "all", Config{Net: vn}, 0},
		{"explicit", "-", Config{PortMap: explicit}, portmap.PCP},
		{"explicit beats env", "upnp", Config{PortMap: explicit}, portmap.PCP},
		{"relay only", "all", Config{Policy: PolicyRelay, PortMap: explicit}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.env == "-" {
				t.Setenv(PortMapEnv, "")
				// t.Setenv cannot unset; an empty value means the same.
			} else {
				t.Setenv(PortMapEnv, c.env)
			}
			got := portMapConfig(c.cfg)
			switch {
			case c.want == 0 && got != nil:
				t.Errorf("port mapping %+v, want none", got)
			case c.want != 0 && (got == nil || got.Protocols != c.want):
				t.Errorf("port mapping %+v, want protocols %v", got, c.want)
			}
		})
	}
}

func TestMappable(t *testing.T) {
	host := func(addr string, port uint16, proto webrtc.ICEProtocol) *webrtc.ICECandidate {
		return &webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeHost, Address: addr, Port: port, Protocol: proto}
	}
	for _, c := range []struct {
		c    *webrtc.ICECandidate
		want bool
	}{
		{host("10.1.0.10", 40000, webrtc.ICEProtocolUDP), true},
		{host("192.168.1.23", 40000, webrtc.ICEProtocolUDP), true},
		{host("100.100.1.2", 40000, webrtc.ICEProtocolUDP), true},
		{host("203.0.113.5", 40000, webrtc.ICEProtocolUDP), false}, // public: nothing to map
		{host("127.0.0.1", 40000, webrtc.ICEProtocolUDP), false},
		{host("fd00::1", 40000, webrtc.ICEProtocolUDP), false},
		{host("10.1.0.10", 40000, webrtc.ICEProtocolTCP), false},
		{host("abc.local", 40000, webrtc.ICEProtocolUDP), false},
		{&webrtc.ICECandidate{Typ: webrtc.ICECandidateTypeSrflx, Address: "10.1.0.10", Port: 1, Protocol: webrtc.ICEProtocolUDP}, false},
	} {
		if _, got := mappable(c.c); got != c.want {
			t.Errorf("mappable(%s %s %s) = %v", c.c.Typ, c.c.Protocol, c.c.Address, got)
		}
	}
}

// The mapped candidate is a server-reflexive one pion parses back, with the
// host socket as related address.
func TestMappedCandidate(t *testing.T) {
	local := netip.MustParseAddrPort("10.1.0.10:40000")
	line, err := mappedCandidate(portmap.Mapping{External: netip.MustParseAddrPort("6.0.0.10:41000")}, local)
	if err != nil {
		t.Fatal(err)
	}
	v, ok := strings.CutPrefix(line, "candidate:")
	if !ok {
		t.Fatalf("line %q", line)
	}
	c, err := ice.UnmarshalCandidate(v)
	if err != nil {
		t.Fatalf("%q: %v", line, err)
	}
	if c.Type() != ice.CandidateTypeServerReflexive || c.Address() != "6.0.0.10" || c.Port() != 41000 ||
		c.RelatedAddress() == nil || c.RelatedAddress().Address != "10.1.0.10" || c.RelatedAddress().Port != 40000 {
		t.Errorf("candidate %s", c)
	}
	if isRelayCandidate(line) {
		t.Error("a mapped candidate counted as relay")
	}
}
