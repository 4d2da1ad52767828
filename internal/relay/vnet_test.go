package relay_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/pion/transport/v5/vnet"
	"github.com/pion/turn/v5"

	"github.com/direkt/direkt/internal/relay"
)

// TestVNet runs the relay on pion's in-memory network: Config.Net carries
// the relay sockets, and a peer with a public (non-private) address is
// reached without AllowPrivate.
func TestVNet(t *testing.T) {
	wan, err := vnet.NewRouter(&vnet.RouterConfig{CIDR: "1.2.3.0/24", LoggerFactory: relay.NewPionLogger(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	newNet := func(ip string) *vnet.Net {
		n, err := vnet.NewNet(&vnet.NetConfig{StaticIPs: []string{ip}})
		if err != nil {
			t.Fatal(err)
		}
		if err := wan.AddNet(n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	serverNet, clientNet, peerNet := newNet("1.2.3.4"), newNet("1.2.3.5"), newNet("1.2.3.6")
	if err := wan.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = wan.Stop() }()

	udp, err := serverNet.ListenPacket("udp4", "1.2.3.4:3478")
	if err != nil {
		t.Fatal(err)
	}
	s, err := relay.New(relay.Config{UDPConn: udp, Net: serverNet, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	user, pass, _ := s.Credentials(time.Now())
	conn, err := clientNet.ListenPacket("udp4", "1.2.3.5:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: "1.2.3.4:3478", TURNServerAddr: "1.2.3.4:3478",
		Username: user, Password: pass, Conn: conn, Net: clientNet,
		RTO: 50 * time.Millisecond, LoggerFactory: relay.NewPionLogger(quiet),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	mapped, err := c.SendBindingRequest()
	if err != nil || mapped.String() != "1.2.3.5:"+portOf(conn.LocalAddr()) {
		t.Fatalf("binding: %v %v", mapped, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := c.AllocateWithContext(ctx)
	if err != nil {
		t.Fatalf("allocate: %v", err)
	}
	defer rc.Close()
	if ip, _, _ := net.SplitHostPort(rc.LocalAddr().String()); ip != "1.2.3.4" {
		t.Fatalf("relay address %v, want on 1.2.3.4", rc.LocalAddr())
	}

	peer, err := peerNet.ListenPacket("udp4", "1.2.3.6:5000")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := rc.WriteTo([]byte("over vnet"), peer.LocalAddr()); err != nil {
		t.Fatalf("relay write: %v", err)
	}
	buf := make([]byte, 100)
	n, from, err := peer.ReadFrom(buf)
	if err != nil || string(buf[:n]) != "over vnet" || from.String() != rc.LocalAddr().String() {
		t.Fatalf("peer read %q from %v: %v", buf[:n], from, err)
	}
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}
