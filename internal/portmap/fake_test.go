package portmap

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// loopback is the gateway and the host in the fake-gateway tests: every
// packet stays on this machine.
var loopback = netip.MustParseAddr("127.0.0.1")

// pmpRequest is a request the fake PCP/NAT-PMP gateway received.
type pmpRequest struct {
	version  uint8
	op       uint8
	lifetime uint32
	nonce    [12]byte
	internal uint16
	suggest  uint16
	raw      []byte
}

// fakePMP is a PCP and NAT-PMP gateway on loopback. Its reply function
// decides what to send back for each request (nothing, or several
// datagrams: hostile ones before the real one).
type fakePMP struct {
	t    *testing.T
	conn *net.UDPConn

	mu    sync.Mutex
	reqs  []pmpRequest
	reply func(r pmpRequest) [][]byte
	seen  chan struct{} // gets a token per request
}

func newFakePMP(t *testing.T, reply func(pmpRequest) [][]byte) *fakePMP {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePMP{t: t, conn: c, reply: reply, seen: make(chan struct{}, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2000)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			r := decodeRequest(buf[:n])
			f.mu.Lock()
			f.reqs = append(f.reqs, r)
			fn := f.reply
			f.mu.Unlock()
			for _, b := range fn(r) {
				_, _ = c.WriteToUDPAddrPort(b, from)
			}
			select {
			case f.seen <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return f
}

func (f *fakePMP) port() uint16 { return uint16(f.conn.LocalAddr().(*net.UDPAddr).Port) }

func (f *fakePMP) setReply(fn func(pmpRequest) [][]byte) {
	f.mu.Lock()
	f.reply = fn
	f.mu.Unlock()
}

func (f *fakePMP) requests() []pmpRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]pmpRequest(nil), f.reqs...)
}

// waitFor waits until cond holds over the requests received so far.
func (f *fakePMP) waitFor(ctx context.Context, what string, cond func([]pmpRequest) bool) {
	f.t.Helper()
	for !cond(f.requests()) {
		select {
		case <-f.seen:
		case <-ctx.Done():
			f.t.Fatalf("gateway never saw %s; requests: %+v", what, f.requests())
		}
	}
}

func decodeRequest(b []byte) pmpRequest {
	r := pmpRequest{raw: append([]byte(nil), b...)}
	if len(b) >= 2 {
		r.version, r.op = b[0], b[1]
	}
	switch {
	case r.version == 2 && len(b) >= 60:
		r.lifetime = binary.BigEndian.Uint32(b[4:])
		copy(r.nonce[:], b[24:36])
		r.internal = binary.BigEndian.Uint16(b[40:])
		r.suggest = binary.BigEndian.Uint16(b[42:])
	case r.version == 0 && r.op == 1 && len(b) >= 12:
		r.internal = binary.BigEndian.Uint16(b[4:])
		r.suggest = binary.BigEndian.Uint16(b[6:])
		r.lifetime = binary.BigEndian.Uint32(b[8:])
	}
	return r
}

// pcpAnswer is the fake's PCP MAP reply to r.
func pcpAnswer(r pmpRequest, result uint8, lifetime, epoch uint32, ext netip.AddrPort) []byte {
	b := make([]byte, 60)
	b[0] = 2
	b[1] = 0x80 | r.op
	b[3] = result
	binary.BigEndian.PutUint32(b[4:], lifetime)
	binary.BigEndian.PutUint32(b[8:], epoch)
	copy(b[24:36], r.nonce[:])
	b[36] = 17
	binary.BigEndian.PutUint16(b[40:], r.internal)
	binary.BigEndian.PutUint16(b[42:], ext.Port())
	a := ext.Addr().As16()
	copy(b[44:60], a[:])
	return b
}

// natpmpAnswer is the fake's NAT-PMP reply to r.
func natpmpAnswer(r pmpRequest, result uint16, epoch uint32, ext netip.AddrPort, lifetime uint32) []byte {
	switch r.op {
	case 0:
		b := make([]byte, 12)
		b[1] = 128
		binary.BigEndian.PutUint16(b[2:], result)
		binary.BigEndian.PutUint32(b[4:], epoch)
		a := ext.Addr().As4()
		copy(b[8:], a[:])
		return b
	default:
		b := make([]byte, 16)
		b[1] = 128 + r.op
		binary.BigEndian.PutUint16(b[2:], result)
		binary.BigEndian.PutUint32(b[4:], epoch)
		binary.BigEndian.PutUint16(b[8:], r.internal)
		binary.BigEndian.PutUint16(b[10:], ext.Port())
		binary.BigEndian.PutUint32(b[12:], lifetime)
		return b
	}
}

// notPCP is what a NAT-PMP-only gateway answers to a PCP request.
func notPCP(r pmpRequest) []byte {
	b := make([]byte, 8)
	b[1] = 128 + r.op
	binary.BigEndian.PutUint16(b[2:], 1)
	return b
}

// fakeUPnP is a UPnP IGD on loopback: an SSDP responder for unicast
// M-SEARCH and an HTTP server with the description and the control URL.
type fakeUPnP struct {
	t    *testing.T
	ssdp *net.UDPConn
	http *httptest.Server

	mu       sync.Mutex
	desc     string            // the description; %s is replaced by the control path
	location string            // overrides the LOCATION header when set
	fault    map[string][]int  // action → error codes to answer, one per call
	external string            // GetExternalIPAddress
	mappings map[string]string // "port" → internal client
	leases   []string          // NewLeaseDuration of every AddPortMapping
	deleted  []string          // ports deleted
}

const igdDescription = `<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
 <specVersion><major>1</major><minor>0</minor></specVersion>
 <device>
  <deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType>
  <serviceList><service><serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType><controlURL>/l3f</controlURL></service></serviceList>
  <deviceList><device>
   <deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType>
   <deviceList><device>
    <deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType>
    <serviceList><service>
     <serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType>
     <controlURL>%s</controlURL>
    </service></serviceList>
   </device></deviceList>
  </device></deviceList>
 </device>
</root>`

func newFakeUPnP(t *testing.T) *fakeUPnP {
	t.Helper()
	f := &fakeUPnP{t: t, desc: igdDescription, fault: map[string][]int{}, external: "198.51.100.7", mappings: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /rootDesc.xml", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		d := fmt.Sprintf(f.desc, "/ctl/IPConn")
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, d)
	})
	mux.HandleFunc("POST /ctl/IPConn", f.control)
	f.http = httptest.NewServer(mux)
	t.Cleanup(f.http.Close)

	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f.ssdp = c
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2000)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			if !strings.HasPrefix(string(buf[:n]), "M-SEARCH * HTTP/1.1\r\n") {
				continue
			}
			f.mu.Lock()
			loc := f.location
			f.mu.Unlock()
			if loc == "" {
				loc = f.http.URL + "/rootDesc.xml"
			}
			resp := "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nUSN: uuid:fake::upnp:rootdevice\r\nEXT:\r\nLOCATION: " + loc + "\r\n\r\n"
			_, _ = c.WriteToUDPAddrPort([]byte(resp), from)
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return f
}

func (f *fakeUPnP) port() uint16 { return uint16(f.ssdp.LocalAddr().(*net.UDPAddr).Port) }

// control answers the SOAP actions.
func (f *fakeUPnP) control(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<16))
	action := r.Header.Get("SOAPAction")
	_, action, _ = strings.Cut(strings.Trim(action, `"`), "#")
	args := map[string]string{}
	for _, k := range []string{"NewExternalPort", "NewInternalClient", "NewLeaseDuration", "NewInternalPort", "NewProtocol"} {
		if _, rest, ok := strings.Cut(string(body), "<"+k+">"); ok {
			args[k], _, _ = strings.Cut(rest, "</"+k+">")
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if codes := f.fault[action]; len(codes) > 0 {
		f.fault[action] = codes[1:]
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode><errorDescription>fake fault</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`, codes[0])
		return
	}
	out := ""
	switch action {
	case "GetExternalIPAddress":
		out = "<NewExternalIPAddress>" + f.external + "</NewExternalIPAddress>"
	case "AddPortMapping":
		f.mappings[args["NewExternalPort"]] = args["NewInternalClient"] + ":" + args["NewInternalPort"]
		f.leases = append(f.leases, args["NewLeaseDuration"])
	case "DeletePortMapping":
		delete(f.mappings, args["NewExternalPort"])
		f.deleted = append(f.deleted, args["NewExternalPort"])
	default:
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body><u:%sResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1">%s</u:%sResponse></s:Body></s:Envelope>`, action, out, action)
}

func (f *fakeUPnP) state() (mappings map[string]string, leases, deleted []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := map[string]string{}
	for k, v := range f.mappings {
		m[k] = v
	}
	return m, append([]string(nil), f.leases...), append([]string(nil), f.deleted...)
}

// run starts m.Run and returns a channel of its mappings and one of its
// result; the test's cleanup stops it.
func run(t *testing.T, ctx context.Context, m *Mapper) (<-chan Mapping, <-chan error) {
	t.Helper()
	mapped := make(chan Mapping, 16)
	result := make(chan error, 1)
	go func() { result <- m.Run(ctx, func(pm Mapping) { mapped <- pm }) }()
	return mapped, result
}

func nextMapping(t *testing.T, ctx context.Context, mapped <-chan Mapping, result <-chan error) Mapping {
	t.Helper()
	select {
	case m := <-mapped:
		return m
	case err := <-result:
		t.Fatalf("Run returned before a mapping: %v", err)
	case <-ctx.Done():
		t.Fatal("no mapping before the deadline")
	}
	return Mapping{}
}

func awaitResult(t *testing.T, ctx context.Context, result <-chan error) error {
	t.Helper()
	select {
	case err := <-result:
		return err
	case <-ctx.Done():
		t.Fatal("Run did not return before the deadline")
		return nil
	}
}

func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// localSocket is the "ICE socket" being mapped: a real bound port, so that
// no other test's socket is mapped by mistake.
func localSocket(t *testing.T) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

// testConfig points a Mapper at fakes on loopback; a zero port means "no
// such server": requests go to a closed port.
func testConfig(protos Protocol, pmpPort, ssdpPort uint16) Config {
	if pmpPort == 0 {
		pmpPort = closedPort
	}
	if ssdpPort == 0 {
		ssdpPort = closedPort
	}
	return Config{
		Protocols:   protos,
		Gateway:     loopback,
		Timeout:     time.Second,
		pmpPort:     pmpPort,
		ssdpUnicast: ssdpPort,
		noMulticast: true,
		retransmit0: 20 * time.Millisecond,
	}
}

// closedPort is a loopback UDP port nothing listens on (port 9, discard,
// is not served on test machines).
const closedPort = 9
