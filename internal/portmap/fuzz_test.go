package portmap

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

func FuzzParseNATPMP(f *testing.F) {
	r := pmpRequest{op: 1, internal: 5000, lifetime: 60}
	f.Add(natpmpAnswer(r, 0, 10, ext, 60))
	f.Add(natpmpAnswer(pmpRequest{op: 0}, 0, 10, ext, 0))
	f.Add(natpmpAnswer(r, 3, 10, ext, 60)[:8])
	f.Add([]byte{0, 128})
	f.Add(make([]byte, 1101))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseNATPMP(b)
		if err != nil {
			return
		}
		if len(b) < natpmpHeaderLen || len(b) > maxReply {
			t.Fatalf("accepted %d bytes", len(b))
		}
		if r.result == 0 && r.op == natpmpOpExternal && !r.external.Is4() {
			t.Fatalf("external address %v", r.external)
		}
	})
}

func FuzzParsePCP(f *testing.F) {
	r := pmpRequest{op: 1, internal: 5000, lifetime: 60, nonce: [12]byte{1, 2, 3}}
	f.Add(pcpAnswer(r, 0, 60, 10, ext))
	f.Add(pcpAnswer(r, 2, 0, 10, ext)[:24])
	f.Add(notPCP(r))
	f.Add(append(pcpAnswer(r, 0, 60, 10, ext), 0x12, 0, 0, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16))
	f.Add(pcpMapRequest(loopback, 60, r.nonce, 5000, netip.AddrPort{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parsePCP(b)
		if err != nil {
			return
		}
		if r.version == pcpVersion && r.result == 0 && len(b) < pcpHeaderLen+pcpMapLen {
			t.Fatalf("successful MAP reply of %d bytes", len(b))
		}
		if r.version == pcpVersion && (len(b) > maxReply || len(b)%4 != 0) {
			t.Fatalf("accepted %d bytes", len(b))
		}
	})
}

func FuzzParseSSDP(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nLocation: http://192.168.1.1/\r\nContent-Length: 5\r\n\r\nhello"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nLOCATION: http://evil.example/\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nLOCATION: http://user@192.168.1.1:0/\r\n\r\n"))
	f.Add([]byte("NOTIFY * HTTP/1.1\r\n\r\n"))
	from := netip.MustParseAddr("192.168.1.1")
	f.Fuzz(func(t *testing.T, b []byte) {
		u, err := parseSSDP(b, from)
		if err != nil {
			return
		}
		if u.Scheme != "http" || u.Hostname() != from.String() {
			t.Fatalf("accepted LOCATION %v", u)
		}
	})
}

func FuzzParseDescription(f *testing.F) {
	f.Add(fmt.Sprintf(igdDescription, "/ctl/IPConn"))
	f.Add(fmt.Sprintf(igdDescription, "http://192.168.1.1:5000/ctl"))
	f.Add(fmt.Sprintf(igdDescription, "//10.0.0.1/ctl"))
	f.Add(`<root><URLBase>http://10.0.0.1/</URLBase><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType><controlURL>x</controlURL></service></serviceList></device></root>`)
	f.Add(strings.Repeat("<device><deviceList>", 50))
	loc, _ := url.Parse("http://192.168.1.1:5000/rootDesc.xml")
	f.Fuzz(func(t *testing.T, s string) {
		st, ctrl, err := parseDescription([]byte(s), loc)
		if err != nil {
			return
		}
		if ctrl.Scheme != "http" || ctrl.Hostname() != "192.168.1.1" || !strings.Contains(st, "Connection:") {
			t.Fatalf("accepted service %q at %v", st, ctrl)
		}
	})
}

func FuzzParseSOAP(f *testing.F) {
	ok := `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:GetExternalIPAddressResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewExternalIPAddress>1.2.3.4</NewExternalIPAddress></u:GetExternalIPAddressResponse></s:Body></s:Envelope>`
	fault := `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><detail><UPnPError><errorCode>718</errorCode><errorDescription>Conflict</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>`
	f.Add(ok)
	f.Add(fault)
	f.Add(strings.Replace(fault, "718", "x", 1))
	f.Add("<Envelope><Body><GetExternalIPAddressResponse>" + strings.Repeat("<a>1</a>", 40) + "</GetExternalIPAddressResponse></Body></Envelope>")
	f.Fuzz(func(t *testing.T, s string) {
		out, err := parseSOAP([]byte(s), "GetExternalIPAddress")
		if err != nil {
			return
		}
		if len(out) > maxSOAPFields {
			t.Fatalf("%d fields", len(out))
		}
		for k, v := range out {
			if len(v) > maxSOAPValue {
				t.Fatalf("field %s of %d bytes", k, len(v))
			}
		}
	})
}

func FuzzParseProcRoute(f *testing.F) {
	f.Add("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\n")
	f.Add("Iface\nTheader\neth0\t00000000\t0100000A\t0003\t0\t0\t-1\t00000000\t0\n")
	f.Add("Iface\neth0\tZZ\t0100000A\t0003\t0\t0\t0\t00000000\n")
	f.Fuzz(func(t *testing.T, s string) {
		gw, err := parseProcRoute([]byte(s), "eth0")
		if err == nil && (!gw.Is4() || gw.IsUnspecified()) {
			t.Fatalf("gateway %v", gw)
		}
	})
}
