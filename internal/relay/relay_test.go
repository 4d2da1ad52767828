package relay_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/relay"
	"github.com/direkt/direkt/internal/testwatch"
)

var quiet = slog.New(slog.DiscardHandler)

func TestMain(m *testing.M) {
	testwatch.Arm()
	// pion's TURN client, the test peer here, binds a channel in a
	// goroutine of its own after the first write; a bind still in flight
	// when the test tears the client down waits out its retransmissions
	// (seconds). That goroutine is the client's, not the server's.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/pion/turn/v5/internal/client.(*UDPConn).bindChannel"))
}

// startRelay runs a relay on fresh loopback UDP and TCP sockets. cfg's
// listener fields are filled in; the server is closed at cleanup.
func startRelay(t *testing.T, cfg relay.Config) *relay.Server {
	t.Helper()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.UDPConn, cfg.TCPListener = udp, tcp
	if cfg.Logger == nil {
		cfg.Logger = quiet
	}
	if cfg.RelayBindAddr == "" {
		cfg.RelayBindAddr = "127.0.0.1"
	}
	s, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// serverAddrs returns the relay's UDP and TCP "host:port" from ICEServers.
func serverAddrs(t *testing.T, s *relay.Server) (udpAddr, tcpAddr string) {
	t.Helper()
	for _, is := range s.ICEServers("127.0.0.1", time.Now()) {
		for _, u := range is.URLs {
			switch {
			case strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "?transport=udp"):
				udpAddr = strings.TrimSuffix(strings.TrimPrefix(u, "turn:"), "?transport=udp")
			case strings.HasPrefix(u, "turn:") && strings.HasSuffix(u, "?transport=tcp"):
				tcpAddr = strings.TrimSuffix(strings.TrimPrefix(u, "turn:"), "?transport=tcp")
			case strings.HasPrefix(u, "stun:"):
				if udpAddr == "" {
					udpAddr = strings.TrimPrefix(u, "stun:")
				}
			}
		}
	}
	if udpAddr == "" {
		t.Fatal("no UDP address in ICEServers")
	}
	return udpAddr, tcpAddr
}

// turnClient is a pion/turn client on its own socket, over UDP or over a TCP
// connection to addr. Everything is torn down at cleanup.
func turnClient(t *testing.T, network, addr, user, pass string) *turn.Client {
	t.Helper()
	var conn net.PacketConn
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	case "tcp":
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	}
	c, err := turn.NewClient(&turn.ClientConfig{
		STUNServerAddr: addr,
		TURNServerAddr: addr,
		Username:       user,
		Password:       pass,
		Conn:           conn,
		RTO:            50 * time.Millisecond,
		LoggerFactory:  relay.NewPionLogger(quiet),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Closing the socket first makes the relayed conn's deallocation
		// fail fast instead of retransmitting to a server that may be gone.
		_ = conn.Close()
		c.Close()
	})
	return c
}

func allocate(t *testing.T, c *turn.Client) (net.PacketConn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := c.AllocateWithContext(ctx)
	if err == nil {
		t.Cleanup(func() { _ = rc.Close() })
	}
	return rc, err
}

func turnCode(err error) int {
	var te *stun.TurnError
	if errors.As(err, &te) {
		return int(te.ErrorCodeAttr.Code)
	}
	return 0
}

func TestAllocateAndRelay(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			s := startRelay(t, relay.Config{AllowPrivate: true})
			udpAddr, tcpAddr := serverAddrs(t, s)
			addr := udpAddr
			if network == "tcp" {
				addr = tcpAddr
			}
			user, pass, _ := s.Credentials(time.Now())
			c := turnClient(t, network, addr, user, pass)
			rc, err := allocate(t, c)
			if err != nil {
				t.Fatalf("allocate: %v", err)
			}
			relayRoundTrip(t, rc, peerAllocation(t, s), "to peer")
		})
	}
}

// peerAllocation is a second client's UDP allocation on s: the only peer a
// relay on loopback can reach, as every loopback address is its own
// (self.go); it is how two relayed peers of one server meet.
func peerAllocation(t *testing.T, s *relay.Server) net.PacketConn {
	t.Helper()
	udpAddr, _ := serverAddrs(t, s)
	user, pass, _ := s.Credentials(time.Now())
	rc, err := allocate(t, turnClient(t, "udp", udpAddr, user, pass))
	if err != nil {
		t.Fatalf("peer allocation: %v", err)
	}
	return rc
}

// relayRoundTrip sends msg from the client through its allocation rc to
// the relayed peer, which must see it come from rc's relayed address, and
// answers until the answer reaches the client from the peer's address.
// The peer first sends towards rc, so that its own allocation has the
// permission it needs. Relayed datagrams may be lost like any UDP: pion's
// client drops ChannelData that races its own ChannelBind response.
func relayRoundTrip(t *testing.T, rc, peer net.PacketConn, msg string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	_ = rc.SetDeadline(deadline)
	if _, err := peer.WriteTo([]byte("open"), rc.LocalAddr()); err != nil {
		t.Fatalf("peer write: %v", err)
	}
	buf := make([]byte, 1500)
	var from net.Addr
	for from == nil {
		if _, err := rc.WriteTo([]byte(msg), peer.LocalAddr()); err != nil {
			t.Fatalf("relay write: %v", err)
		}
		_ = peer.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, src, err := peer.ReadFrom(buf)
		if err == nil && string(buf[:n]) == msg {
			from = src
		} else if time.Now().After(deadline) {
			t.Fatalf("peer read %q, %v", buf[:n], err)
		}
	}
	if from.String() != rc.LocalAddr().String() {
		t.Fatalf("peer saw source %v, relay address is %v", from, rc.LocalAddr())
	}
	for {
		if _, err := peer.WriteTo([]byte("back"), from); err != nil {
			t.Fatal(err)
		}
		_ = rc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, src, err := rc.ReadFrom(buf)
		if err == nil && bytes.Equal(buf[:n], []byte("back")) && src.String() == peer.LocalAddr().String() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("client got %q from %v, %v", buf[:n], src, err)
		}
	}
}

func TestCredentialsRefused(t *testing.T) {
	s := startRelay(t, relay.Config{AllowPrivate: true})
	udpAddr, tcpAddr := serverAddrs(t, s)
	other := startRelay(t, relay.Config{AllowPrivate: true}) // different random secret

	expiredUser, expiredPass, expires := s.Credentials(time.Now().Add(-time.Hour))
	if !expires.Before(time.Now()) {
		t.Fatalf("credentials issued an hour ago expire at %v", expires)
	}
	goodUser, goodPass, _ := s.Credentials(time.Now())
	forgedUser, forgedPass, _ := other.Credentials(time.Now())

	cases := []struct{ name, user, pass string }{
		{"expired", expiredUser, expiredPass},
		{"forged HMAC", forgedUser, forgedPass},
		{"wrong password", goodUser, goodPass + "x"},
		{"not TURN REST", "alice", goodPass},
	}
	for _, network := range []string{"udp", "tcp"} {
		addr := udpAddr
		if network == "tcp" {
			addr = tcpAddr
		}
		for _, tc := range cases {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				c := turnClient(t, network, addr, tc.user, tc.pass)
				_, err := allocate(t, c)
				if code := turnCode(err); code != int(stun.CodeUnauthorized) {
					t.Fatalf("allocate with %s credentials: err %v (code %d), want 401", tc.name, err, code)
				}
			})
		}
	}
}

// TestWrongRealm speaks STUN directly: pion's client always adopts the
// server's realm, so it cannot send a wrong one.
func TestWrongRealm(t *testing.T) {
	s := startRelay(t, relay.Config{Realm: "direkt-test"})
	udpAddr, _ := serverAddrs(t, s)
	user, pass, _ := s.Credentials(time.Now())

	conn, err := net.Dial("udp4", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	roundTrip := func(setters ...stun.Setter) *stun.Message {
		t.Helper()
		req := stun.MustBuild(append([]stun.Setter{stun.TransactionID,
			stun.NewType(stun.MethodAllocate, stun.ClassRequest),
			stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{17, 0, 0, 0}},
		}, setters...)...)
		if _, err := conn.Write(req.Raw); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 1500)
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if err := res.Decode(); err != nil {
			t.Fatal(err)
		}
		return res
	}

	challenge := roundTrip()
	var nonce stun.Nonce
	var realm stun.Realm
	if err := nonce.GetFrom(challenge); err != nil {
		t.Fatalf("no nonce in challenge: %v", err)
	}
	if err := realm.GetFrom(challenge); err != nil || realm.String() != "direkt-test" {
		t.Fatalf("challenge realm %q, err %v", realm, err)
	}

	for _, tc := range []struct {
		realm string
		ok    bool
	}{{"evil", false}, {"direkt-test", true}} {
		res := roundTrip(stun.NewUsername(user), stun.NewRealm(tc.realm), nonce,
			stun.NewLongTermIntegrity(user, tc.realm, pass), stun.Fingerprint)
		var code stun.ErrorCodeAttribute
		_ = code.GetFrom(res)
		if got := res.Type.Class == stun.ClassSuccessResponse; got != tc.ok {
			t.Fatalf("realm %q: response %v (code %d), want success=%v", tc.realm, res.Type, code.Code, tc.ok)
		}
		if !tc.ok && code.Code != stun.CodeUnauthorized {
			t.Fatalf("realm %q: code %d, want 401", tc.realm, code.Code)
		}
	}
}

func TestPeerPolicy(t *testing.T) {
	private := []string{"10.1.2.3", "192.168.1.1", "172.16.0.9", "100.64.0.1", "169.254.169.254", "169.254.1.1"}
	for _, allow := range []bool{false, true} {
		s := startRelay(t, relay.Config{AllowPrivate: allow})
		udpAddr, _ := serverAddrs(t, s)
		user, pass, _ := s.Credentials(time.Now())
		c := turnClient(t, "udp", udpAddr, user, pass)
		rc, err := allocate(t, c)
		if err != nil {
			t.Fatalf("allocate: %v", err)
		}
		check := func(ip string, want bool) {
			t.Helper()
			peer := &net.UDPAddr{IP: net.ParseIP(ip), Port: 9}
			err := c.CreatePermission(peer)
			if got := err == nil; got != want {
				t.Errorf("AllowPrivate=%v: permission to %s: err %v, want allowed=%v", allow, ip, err, want)
			}
			if !want {
				// A data write needs the same permission and must fail too.
				if _, err := rc.WriteTo([]byte("x"), peer); err == nil {
					t.Errorf("AllowPrivate=%v: write to %s succeeded", allow, ip)
				}
			}
		}
		for _, ip := range private {
			check(ip, allow)
		}
		// The relay host's own addresses never: loopback besides the relay
		// address, "this host", documentation ranges of RFC 5737 without
		// AllowPrivate.
		check("127.0.0.2", false)
		check("0.0.0.0", false)
		check("203.0.113.7", allow)
		check("8.8.8.8", true)    // a public peer (only a permission is made)
		check("224.0.0.1", false) // multicast is never a peer
		check("255.255.255.255", false)
	}
}

func TestQuota(t *testing.T) {
	const max = 2
	s := startRelay(t, relay.Config{AllowPrivate: true, MaxAllocationsPerUser: max})
	udpAddr, tcpAddr := serverAddrs(t, s)
	user, pass, _ := s.Credentials(time.Now())

	var conns []net.PacketConn
	for i := range max {
		network, addr := "udp", udpAddr
		if i%2 == 1 {
			network, addr = "tcp", tcpAddr // the quota spans transports
		}
		rc, err := allocate(t, turnClient(t, network, addr, user, pass))
		if err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
		conns = append(conns, rc)
	}
	_, err := allocate(t, turnClient(t, "udp", udpAddr, user, pass))
	if code := turnCode(err); code != int(stun.CodeAllocQuotaReached) {
		t.Fatalf("allocation %d: err %v (code %d), want 486", max+1, err, code)
	}

	// Other credentials have their own quota.
	user2, pass2, _ := s.Credentials(time.Now())
	if _, err := allocate(t, turnClient(t, "udp", udpAddr, user2, pass2)); err != nil {
		t.Fatalf("allocation for a second user: %v", err)
	}

	// Freeing one allocation makes room again. The client deallocates
	// without waiting for the answer, so retry until the server has
	// processed it.
	_ = conns[0].Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		_, err := allocate(t, turnClient(t, "udp", udpAddr, user, pass))
		if err == nil {
			break
		}
		if turnCode(err) != int(stun.CodeAllocQuotaReached) {
			t.Fatalf("allocation after free: %v", err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("quota never freed after deallocation")
		case <-tick.C:
		}
	}
}

func TestSTUNBinding(t *testing.T) {
	for _, noTURN := range []bool{false, true} {
		s := startRelay(t, relay.Config{NoTURN: noTURN})
		udpAddr, _ := serverAddrs(t, s)
		user, pass, _ := s.Credentials(time.Now())
		c := turnClient(t, "udp", udpAddr, user, pass)
		mapped, err := c.SendBindingRequest()
		if err != nil {
			t.Fatalf("NoTURN=%v: binding: %v", noTURN, err)
		}
		// Without NAT the XOR-MAPPED-ADDRESS is the client's own socket.
		conn, _ := net.ResolveUDPAddr("udp4", mapped.String())
		if !conn.IP.Equal(net.IPv4(127, 0, 0, 1)) || conn.Port == 0 {
			t.Fatalf("NoTURN=%v: mapped address %v", noTURN, mapped)
		}
		_, err = allocate(t, c)
		if noTURN && turnCode(err) != int(stun.CodeUnauthorized) {
			t.Fatalf("NoTURN server: allocate err %v, want a prompt 401", err)
		}
		if !noTURN && err != nil {
			t.Fatalf("allocation: %v", err)
		}
	}
}

func TestICEServers(t *testing.T) {
	s := startRelay(t, relay.Config{})
	udpAddr, tcpAddr := serverAddrs(t, s)
	_, udpPort, _ := net.SplitHostPort(udpAddr)
	_, tcpPort, _ := net.SplitHostPort(tcpAddr)
	now := time.Now()
	for _, host := range []string{"relay.example", "relay.example:443", "[2001:db8::1]:443", "2001:db8::1"} {
		got := s.ICEServers(host, now)
		if len(got) != 2 {
			t.Fatalf("%s: %d servers, want STUN + TURN: %+v", host, len(got), got)
		}
		h := strings.TrimSuffix(host, ":443")
		if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
			h = "[" + h + "]"
		}
		if want := "stun:" + h + ":" + udpPort; len(got[0].URLs) != 1 || got[0].URLs[0] != want || got[0].Username != "" {
			t.Errorf("%s: STUN entry %+v, want %s without credentials", host, got[0], want)
		}
		want := []string{"turn:" + h + ":" + udpPort + "?transport=udp", "turn:" + h + ":" + tcpPort + "?transport=tcp"}
		if strings.Join(got[1].URLs, " ") != strings.Join(want, " ") {
			t.Errorf("%s: TURN URLs %v, want %v", host, got[1].URLs, want)
		}
		if got[1].Username == "" || got[1].Credential == "" {
			t.Errorf("%s: TURN entry without credentials", host)
		}
	}
	a, b := s.ICEServers("h", now), s.ICEServers("h", now)
	if a[1].Username == b[1].Username {
		t.Error("two calls issued the same username")
	}

	// pion's own TURN REST handler accepts the credentials.
	user, pass, expires := s.Credentials(now)
	if d := expires.Sub(now); d < 9*time.Minute || d > 10*time.Minute {
		t.Errorf("default credential lifetime %v", d)
	}
	if exp, _, _ := strings.Cut(user, ":"); exp != strconv.FormatInt(expires.Unix(), 10) {
		t.Errorf("username %q does not start with the expiry %d", user, expires.Unix())
	}
	if _, err := base64.StdEncoding.DecodeString(pass); err != nil {
		t.Errorf("password %q is not base64: %v", pass, err)
	}

	noTURN := startRelay(t, relay.Config{NoTURN: true})
	if got := noTURN.ICEServers("h", now); len(got) != 1 || !strings.HasPrefix(got[0].URLs[0], "stun:") {
		t.Errorf("NoTURN ICEServers = %+v, want STUN only", got)
	}
}

func TestPionAcceptsCredentials(t *testing.T) {
	secret := []byte("a shared secret for the test")
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := relay.New(relay.Config{UDPConn: udp, Secret: secret, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	user, pass, _ := s.Credentials(time.Now())
	handler := turn.LongTermTURNRESTAuthHandler(string(secret), nil)
	_, key, ok := handler(&turn.RequestAttributes{Username: user, Realm: relay.DefaultRealm, SrcAddr: udp.LocalAddr()})
	if !ok {
		t.Fatal("pion's TURN REST handler refused the credentials")
	}
	if want := turn.GenerateAuthKey(user, relay.DefaultRealm, pass); !bytes.Equal(key, want) {
		t.Fatal("pion derived a different key from the credentials")
	}
}

func TestCloseWithActiveAllocations(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	udp, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := relay.New(relay.Config{UDPConn: udp, TCPListener: tcp, RelayBindAddr: "127.0.0.1", Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	udpAddr, tcpAddr := serverAddrs(t, s)
	user, pass, _ := s.Credentials(time.Now())

	// Clients are torn down by hand (not at cleanup) so that the leak check
	// below sees only what the server left behind.
	var stop []func()
	for _, nw := range []struct{ network, addr string }{{"udp", udpAddr}, {"tcp", tcpAddr}, {"tcp", tcpAddr}} {
		var conn net.PacketConn
		if nw.network == "udp" {
			conn, err = net.ListenPacket("udp4", "127.0.0.1:0")
		} else {
			var c net.Conn
			c, err = net.Dial("tcp4", nw.addr)
			conn = turn.NewSTUNConn(c)
		}
		if err != nil {
			t.Fatal(err)
		}
		c, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: nw.addr, Username: user, Password: pass, Conn: conn, RTO: 50 * time.Millisecond, LoggerFactory: relay.NewPionLogger(quiet)})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		rc, err := c.AllocateWithContext(ctx)
		cancel()
		if err != nil {
			t.Fatalf("allocate over %s: %v", nw.network, err)
		}
		stop = append(stop, func() { _ = conn.Close(); _ = rc.Close(); c.Close() })
	}

	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return with allocations open")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, f := range stop {
		f()
	}
	goleak.VerifyNone(t, ignore)
}

func TestNewErrors(t *testing.T) {
	if _, err := relay.New(relay.Config{}); !errors.Is(err, relay.ErrNoListener) {
		t.Fatalf("no listeners: %v", err)
	}
	udp, err := net.ListenPacket("udp4", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	if _, err := relay.New(relay.Config{UDPConn: udp}); !errors.Is(err, relay.ErrNoPublicIP) {
		t.Fatalf("unspecified listener without PublicIP: %v", err)
	}
	s, err := relay.New(relay.Config{UDPConn: udp, PublicIP: net.IPv4(192, 0, 2, 1), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRefreshAfterExpiry: an allocation outlives its credentials (the
// client keeps refreshing and adding permissions with them), but the
// expired credentials cannot make a new allocation.
func TestRefreshAfterExpiry(t *testing.T) {
	s := startRelay(t, relay.Config{AllowPrivate: true, CredentialTTL: time.Second})
	udpAddr, _ := serverAddrs(t, s)
	user, pass, expires := s.Credentials(time.Now())
	c := turnClient(t, "udp", udpAddr, user, pass)
	if _, err := allocate(t, c); err != nil {
		t.Fatalf("allocate: %v", err)
	}
	// Wait for the wall clock to pass the expiry (whole seconds).
	<-time.After(time.Until(expires.Add(1100 * time.Millisecond)))

	peer := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	if err := c.CreatePermission(peer); err != nil {
		t.Fatalf("permission on an allocation whose credentials expired: %v", err)
	}
	_, err := allocate(t, turnClient(t, "udp", udpAddr, user, pass))
	if code := turnCode(err); code != int(stun.CodeUnauthorized) {
		t.Fatalf("new allocation with expired credentials: %v (code %d), want 401", err, code)
	}
}
