package relay_test

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/pion/stun/v4"
	"github.com/pion/turn/v5"
)

// rawClient speaks TURN by hand, one request at a time, so that a test can
// send what a well-behaved client never would: a Send indication without a
// permission, a ChannelBind to a refused address, a Connect on a TCP
// allocation. It authenticates with long-term credentials, taking the realm
// and nonce from the server's 401.
type rawClient struct {
	t      *testing.T
	conn   net.PacketConn // UDP socket, or a TCP connection framed by turn.NewSTUNConn
	server net.Addr
	user   string
	pass   string
	realm  stun.Realm
	nonce  stun.Nonce
}

// newRawClient connects to the relay at addr over network ("udp" or "tcp");
// the socket closes at cleanup.
func newRawClient(t *testing.T, network, addr, user, pass string) *rawClient {
	t.Helper()
	c := &rawClient{t: t, user: user, pass: pass}
	switch network {
	case "udp":
		ua, err := net.ResolveUDPAddr("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: ua.IP})
		if err != nil {
			t.Fatal(err)
		}
		c.conn, c.server = conn, ua
	case "tcp":
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.conn, c.server = turn.NewSTUNConn(conn), conn.RemoteAddr()
	default:
		t.Fatalf("network %q", network)
	}
	t.Cleanup(func() { _ = c.conn.Close() })
	return c
}

// roundTrip sends req and returns the response with its transaction ID,
// skipping indications and channel data in between.
func (c *rawClient) roundTrip(req *stun.Message) *stun.Message {
	c.t.Helper()
	if err := c.conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.conn.WriteTo(req.Raw, c.server); err != nil {
		c.t.Fatalf("send %v: %v", req.Type, err)
	}
	buf := make([]byte, 64<<10)
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			c.t.Fatalf("no answer to %v: %v", req.Type, err)
		}
		if !stun.IsMessage(buf[:n]) {
			continue
		}
		res := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if err := res.Decode(); err != nil {
			c.t.Fatalf("answer to %v: %v", req.Type, err)
		}
		if res.TransactionID == req.TransactionID {
			return res
		}
	}
}

// request sends an authenticated request of method with the attributes and
// returns the final response: on a 401 or 438 it takes the realm and nonce
// and tries once more.
func (c *rawClient) request(method stun.Method, attrs ...stun.Setter) *stun.Message {
	c.t.Helper()
	build := func() *stun.Message {
		setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
		if c.nonce != nil {
			setters = append(setters, stun.NewUsername(c.user), c.realm, c.nonce,
				stun.NewLongTermIntegrity(c.user, c.realm.String(), c.pass))
		}
		return stun.MustBuild(append(setters, stun.Fingerprint)...)
	}
	res := c.roundTrip(build())
	// A challenge (RFC 8489, section 9.2.4) carries a realm and a nonce;
	// a refusal (pion answers a refused ChannelBind with a bare 401) or a
	// second 401 after authenticating does not lead to a retry.
	code := errorCode(res)
	if (code == stun.CodeUnauthorized && c.nonce == nil) || code == stun.CodeStaleNonce {
		var realm stun.Realm
		var nonce stun.Nonce
		if realm.GetFrom(res) == nil && nonce.GetFrom(res) == nil {
			c.realm, c.nonce = realm, nonce
			res = c.roundTrip(build())
		}
	}
	return res
}

// fire sends an authenticated request of method (after request has taken
// the realm and nonce) and does not wait for an answer, which may never
// come.
func (c *rawClient) fire(method stun.Method, attrs ...stun.Setter) {
	c.t.Helper()
	setters := append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassRequest)}, attrs...)
	setters = append(setters, stun.NewUsername(c.user), c.realm, c.nonce,
		stun.NewLongTermIntegrity(c.user, c.realm.String(), c.pass), stun.Fingerprint)
	if _, err := c.conn.WriteTo(stun.MustBuild(setters...).Raw, c.server); err != nil {
		c.t.Fatalf("send %v: %v", method, err)
	}
}

// send sends an indication; there is no answer.
func (c *rawClient) send(method stun.Method, attrs ...stun.Setter) {
	c.t.Helper()
	m := stun.MustBuild(append([]stun.Setter{stun.TransactionID, stun.NewType(method, stun.ClassIndication)}, attrs...)...)
	if _, err := c.conn.WriteTo(m.Raw, c.server); err != nil {
		c.t.Fatalf("send %v: %v", m.Type, err)
	}
}

// barrier returns once the server has handled everything sent before it:
// pion handles one client socket's messages in order in one read loop, so
// the answer to a Binding request comes after that loop dealt with the
// earlier messages.
func (c *rawClient) barrier() {
	c.t.Helper()
	res := c.roundTrip(stun.MustBuild(stun.TransactionID, stun.BindingRequest, stun.Fingerprint))
	if res.Type != stun.BindingSuccess {
		c.t.Fatalf("binding: %v", res.Type)
	}
}

// permit makes a permission for ip, which must succeed.
func (c *rawClient) permit(ip net.IP) {
	c.t.Helper()
	res := c.request(stun.MethodCreatePermission, peerAddr{ip: ip, port: 1})
	if res.Type.Class != stun.ClassSuccessResponse {
		c.t.Fatalf("CreatePermission for %v: %v (code %d)", ip, res.Type, errorCode(res))
	}
}

// channelData sends data on channel ch (RFC 8656, section 12.4), padded to
// four bytes as a stream transport needs.
func (c *rawClient) channelData(ch uint16, data []byte) {
	c.t.Helper()
	b := make([]byte, 4+(len(data)+3)&^3)
	binary.BigEndian.PutUint16(b, ch)
	binary.BigEndian.PutUint16(b[2:], uint16(len(data)))
	copy(b[4:], data)
	if _, err := c.conn.WriteTo(b, c.server); err != nil {
		c.t.Fatalf("send channel data: %v", err)
	}
}

// poll returns the next indication of method within wait, or nil.
func (c *rawClient) poll(method stun.Method, wait time.Duration) *stun.Message {
	c.t.Helper()
	_ = c.conn.SetDeadline(time.Now().Add(wait))
	buf := make([]byte, 64<<10)
	for {
		n, _, err := c.conn.ReadFrom(buf)
		if err != nil {
			return nil
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if stun.IsMessage(m.Raw) && m.Decode() == nil && m.Type.Method == method && m.Type.Class == stun.ClassIndication {
			return m
		}
	}
}

// allocate makes an allocation relaying over UDP (17) or, RFC 6062, TCP (6).
func (c *rawClient) allocate(protocol byte) net.Addr {
	c.t.Helper()
	res := c.request(stun.MethodAllocate, requestedTransport(protocol))
	if res.Type.Class != stun.ClassSuccessResponse {
		c.t.Fatalf("allocate: %v (code %d)", res.Type, errorCode(res))
	}
	var relayed stun.XORMappedAddress
	if err := relayed.GetFromAs(res, stun.AttrXORRelayedAddress); err != nil {
		c.t.Fatalf("allocate: no relayed address: %v", err)
	}
	if protocol == 6 {
		return &net.TCPAddr{IP: relayed.IP, Port: relayed.Port}
	}
	return &net.UDPAddr{IP: relayed.IP, Port: relayed.Port}
}

func requestedTransport(protocol byte) stun.Setter {
	return stun.RawAttribute{Type: stun.AttrRequestedTransport, Value: []byte{protocol, 0, 0, 0}}
}

// peerAddr is an XOR-PEER-ADDRESS attribute.
type peerAddr struct {
	ip   net.IP
	port int
}

func (p peerAddr) AddTo(m *stun.Message) error {
	return stun.XORMappedAddress{IP: p.ip, Port: p.port}.AddToAs(m, stun.AttrXORPeerAddress)
}

// channelNumber is a CHANNEL-NUMBER attribute (RFC 8656, section 18.1).
func channelNumber(n uint16) stun.Setter {
	v := make([]byte, 4)
	binary.BigEndian.PutUint16(v, n)
	return stun.RawAttribute{Type: stun.AttrChannelNumber, Value: v}
}

func dataAttr(b []byte) stun.Setter {
	return stun.RawAttribute{Type: stun.AttrData, Value: b}
}

// errorCode is the response's ERROR-CODE, 0 for a success.
func errorCode(m *stun.Message) stun.ErrorCode {
	var code stun.ErrorCodeAttribute
	if err := code.GetFrom(m); err != nil {
		if !errors.Is(err, stun.ErrAttributeNotFound) {
			return -1
		}
		return 0
	}
	return code.Code
}
