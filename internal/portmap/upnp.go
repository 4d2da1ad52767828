package portmap

import (
	"bufio"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/ipv4"
)

// UPnP IGD: SSDP discovery (UPnP Device Architecture 1.1, section 1.3), the
// device description (section 2) and the WANIPConnection and
// WANPPPConnection SOAP actions (section 3; IGD:1 and IGD:2 service specs).

const (
	ssdpMulticastAddr = "239.255.255.250:1900"
	// ssdpMX is the most seconds a device may wait before it answers a
	// multicast search; 1 is the least UDA allows.
	ssdpMX = 1
	// maxSSDP is the largest SSDP answer read; real ones are a few hundred
	// bytes.
	maxSSDP = 2048
	// maxDescription and maxSOAP bound what is read over HTTP: real device
	// descriptions are a few KiB and SOAP answers less.
	maxDescription = 64 << 10
	maxSOAP        = 16 << 10
	// maxDeviceDepth bounds how deep the device tree is searched.
	maxDeviceDepth = 8
	// maxSOAPFields bounds the fields read from one SOAP answer.
	maxSOAPFields = 32
	maxSOAPValue  = 512
)

// searchTargets are what M-SEARCH asks for: the gateway device itself, and
// its connection services for devices that answer only for services.
var searchTargets = []string{
	"urn:schemas-upnp-org:device:InternetGatewayDevice:1",
	"urn:schemas-upnp-org:service:WANIPConnection:1",
	"urn:schemas-upnp-org:service:WANPPPConnection:1",
}

// connectionServices are the services that map ports, most preferred first.
var connectionServices = []string{
	"urn:schemas-upnp-org:service:WANIPConnection:2",
	"urn:schemas-upnp-org:service:WANIPConnection:1",
	"urn:schemas-upnp-org:service:WANPPPConnection:1",
}

// UPnP error codes (IGD:1 WANIPConnection, section 2.4.16 and on).
const (
	upnpConflict        = 718 // ConflictInMappingEntry
	upnpPermanentOnly   = 725 // OnlyPermanentLeasesSupported
	upnpNoSuchEntry     = 714 // NoSuchEntryInArray
	upnpPortAttempts    = 4   // external ports tried on conflicts
	upnpMinDynamicPort  = 1024
	upnpMaxLeaseSeconds = 604800 // IGD:2 caps leases at a week
)

func mSearch(target string, multicast bool) []byte {
	var b strings.Builder
	b.WriteString("M-SEARCH * HTTP/1.1\r\n")
	b.WriteString("HOST: " + ssdpMulticastAddr + "\r\n")
	b.WriteString("MAN: \"ssdp:discover\"\r\n")
	if multicast {
		b.WriteString("MX: " + strconv.Itoa(ssdpMX) + "\r\n")
	}
	b.WriteString("ST: " + target + "\r\n\r\n")
	return []byte(b.String())
}

// parseSSDP reads an answer to M-SEARCH that came from from. Its LOCATION
// must be a plain http URL whose host is from itself, written as an
// address: the device description is only ever fetched from the gateway
// that answered, never from a host an answer names.
func parseSSDP(b []byte, from netip.Addr) (*url.URL, error) {
	if len(b) > maxSSDP {
		return nil, fmt.Errorf("%w: SSDP answer of %d bytes", ErrMalformed, len(b))
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: SSDP answer: %w", ErrMalformed, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: SSDP answer with status %d", ErrMalformed, resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, fmt.Errorf("%w: SSDP answer without LOCATION", ErrMalformed)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("%w: SSDP LOCATION: %w", ErrMalformed, err)
	}
	if err := sameHost(u, from); err != nil {
		return nil, err
	}
	return u, nil
}

// sameHost checks that u is http://<host>[:port]/… with host the address
// want (IPv4, or IPv6 in brackets), no user info.
func sameHost(u *url.URL, want netip.Addr) error {
	if u.Scheme != "http" || u.User != nil || u.Opaque != "" {
		return fmt.Errorf("%w: URL %q is not plain http", ErrMalformed, u.Redacted())
	}
	host := u.Hostname()
	a, err := netip.ParseAddr(host)
	if err != nil || a.Unmap() != want.Unmap() || a.Zone() != "" {
		return fmt.Errorf("%w: URL host %q is not the gateway %v", ErrMalformed, host, want)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.ParseUint(p, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("%w: URL port %q", ErrMalformed, p)
		}
	}
	return nil
}

// ssdpDiscover searches for the gateway's description URL: by unicast to
// the gateway's SSDP port (UDA 1.1, section 1.3.2; answered at once) and by
// multicast on the local address's interface, retrying every 500 ms until
// ctx ends. Only answers from the gateway count.
func ssdpDiscover(ctx context.Context, cfg Config, local, gw netip.Addr) (*url.URL, error) {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)))
	if err != nil {
		return nil, fmt.Errorf("portmap: SSDP socket: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Now()) })
	defer stop()

	uport := cfg.ssdpUnicast
	if uport == 0 {
		uport = ssdpPort
	}
	unicast := net.UDPAddrFromAddrPort(netip.AddrPortFrom(gw, uport))
	var multicast *net.UDPAddr
	if !cfg.noMulticast {
		multicast, _ = net.ResolveUDPAddr("udp4", ssdpMulticastAddr)
		p := ipv4.NewPacketConn(c)
		// UDA 1.1, section 1.1.2: TTL 2 by default.
		_ = p.SetMulticastTTL(2)
		if name, _, err := interfaceOf(local); err == nil {
			if ifi, err := net.InterfaceByName(name); err == nil {
				_ = p.SetMulticastInterface(ifi)
			}
		}
	}

	var rejected error
	buf := make([]byte, maxSSDP+1)
	for {
		for _, st := range searchTargets {
			_, _ = c.WriteToUDP(mSearch(st, false), unicast)
			if multicast != nil {
				_, _ = c.WriteToUDP(mSearch(st, true), multicast)
			}
		}
		next := time.Now().Add(500 * time.Millisecond)
		for {
			if ctx.Err() != nil {
				if rejected != nil {
					return nil, rejected
				}
				return nil, fmt.Errorf("%w: no SSDP answer from %v: %w", ErrUnsupported, gw, context.Cause(ctx))
			}
			_ = c.SetReadDeadline(next)
			if ctx.Err() != nil {
				continue
			}
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				if errors.Is(err, net.ErrClosed) {
					return nil, err
				}
				continue // an ICMP error from an earlier send
			}
			if from.Addr().Unmap() != gw {
				continue
			}
			u, err := parseSSDP(buf[:n], gw)
			if err != nil {
				rejected = err
				continue
			}
			return u, nil
		}
	}
}

// description is the part of a UPnP device description we read.
type description struct {
	URLBase string `xml:"URLBase"`
	Device  device `xml:"device"`
}

type device struct {
	DeviceType string    `xml:"deviceType"`
	Services   []service `xml:"serviceList>service"`
	Devices    []device  `xml:"deviceList>device"`
}

type service struct {
	ServiceType string `xml:"serviceType"`
	ControlURL  string `xml:"controlURL"`
}

// parseDescription reads a device description fetched from loc and returns
// the most preferred connection service and its control URL, which must be
// on the same host as loc.
func parseDescription(b []byte, loc *url.URL) (string, *url.URL, error) {
	if len(b) > maxDescription {
		return "", nil, fmt.Errorf("%w: device description of %d bytes", ErrMalformed, len(b))
	}
	var d description
	if err := xml.Unmarshal(b, &d); err != nil {
		return "", nil, fmt.Errorf("%w: device description: %w", ErrMalformed, err)
	}
	var found []service
	var walk func(dev *device, depth int)
	walk = func(dev *device, depth int) {
		if depth > maxDeviceDepth {
			return
		}
		found = append(found, dev.Services...)
		for i := range dev.Devices {
			walk(&dev.Devices[i], depth+1)
		}
	}
	walk(&d.Device, 0)
	base := loc
	if s := strings.TrimSpace(d.URLBase); s != "" {
		u, err := url.Parse(s)
		if err != nil {
			return "", nil, fmt.Errorf("%w: URLBase: %w", ErrMalformed, err)
		}
		base = loc.ResolveReference(u)
	}
	want, err := netip.ParseAddr(loc.Hostname())
	if err != nil {
		return "", nil, fmt.Errorf("%w: description URL host %q", ErrMalformed, loc.Hostname())
	}
	for _, st := range connectionServices {
		for _, s := range found {
			if strings.TrimSpace(s.ServiceType) != st {
				continue
			}
			ref, err := url.Parse(strings.TrimSpace(s.ControlURL))
			if err != nil || s.ControlURL == "" {
				continue
			}
			ctrl := base.ResolveReference(ref)
			if sameHost(ctrl, want) != nil {
				continue
			}
			return st, ctrl, nil
		}
	}
	return "", nil, fmt.Errorf("%w: no WANIPConnection or WANPPPConnection service", ErrUnsupported)
}

// soapRequest builds the SOAP envelope of an action (UDA 1.1, section 3.1.1).
func soapRequest(serviceType, action string, args [][2]string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0"?>` + "\r\n")
	b.WriteString(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>`)
	b.WriteString(`<u:` + action + ` xmlns:u="`)
	_ = xml.EscapeText(&b, []byte(serviceType))
	b.WriteString(`">`)
	for _, a := range args {
		b.WriteString("<" + a[0] + ">")
		_ = xml.EscapeText(&b, []byte(a[1]))
		b.WriteString("</" + a[0] + ">")
	}
	b.WriteString(`</u:` + action + `></s:Body></s:Envelope>`)
	return b.Bytes()
}

// parseSOAP reads a SOAP answer to action: the out-arguments of
// <actionResponse>, or the UPnPError of a <Fault> as a *resultError.
func parseSOAP(b []byte, action string) (map[string]string, error) {
	if len(b) > maxSOAP {
		return nil, fmt.Errorf("%w: SOAP answer of %d bytes", ErrMalformed, len(b))
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	var (
		path    []string // local names of the open elements
		out     = map[string]string{}
		inResp  bool
		inFault bool
		field   string
		text    strings.Builder
		code    string
		desc    string
	)
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: SOAP answer: %w", ErrMalformed, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			path = append(path, t.Name.Local)
			// Envelope > Body > actionResponse|Fault > …
			if len(path) == 3 && path[0] == "Envelope" && path[1] == "Body" {
				switch t.Name.Local {
				case action + "Response":
					inResp = true
				case "Fault":
					inFault = true
				}
			}
			if (inResp && len(path) == 4) || (inFault && (t.Name.Local == "errorCode" || t.Name.Local == "errorDescription")) {
				field = t.Name.Local
				text.Reset()
			}
		case xml.CharData:
			if field != "" && text.Len() < maxSOAPValue {
				text.Write(t[:min(len(t), maxSOAPValue-text.Len())])
			}
		case xml.EndElement:
			if field != "" && t.Name.Local == field {
				v := strings.TrimSpace(text.String())
				switch {
				case inResp:
					if len(out) >= maxSOAPFields {
						return nil, fmt.Errorf("%w: SOAP answer with too many fields", ErrMalformed)
					}
					out[field] = v
				case field == "errorCode":
					code = v
				default:
					desc = v
				}
				field = ""
			}
			if len(path) > 0 {
				path = path[:len(path)-1]
			}
		}
	}
	switch {
	case inFault:
		n, err := strconv.Atoi(code)
		if err != nil || n < 0 || n > 9999 {
			return nil, fmt.Errorf("%w: SOAP fault with error code %q", ErrMalformed, code)
		}
		return nil, &resultError{proto: UPnP, code: n, text: printable(desc)}
	case inResp:
		return out, nil
	}
	return nil, fmt.Errorf("%w: SOAP answer without %sResponse", ErrMalformed, action)
}

// printable keeps a gateway's text safe for an error message: at most 64
// runes, control characters replaced.
func printable(s string) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == 64 {
			b.WriteString("…")
			break
		}
		n++
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// upnpClient talks to one gateway's connection service.
type upnpClient struct {
	http    *http.Client
	ctrl    *url.URL
	service string
}

// newHTTPClient makes a client that connects from the local address,
// never through a proxy (HTTPS_PROXY is for the internet, not the router),
// follows no redirects and keeps no idle connections.
func newHTTPClient(local netip.Addr) *http.Client {
	d := &net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(local, 0))}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       d.DialContext,
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get fetches u and reads at most limit bytes of a 200 answer.
func (c *upnpClient) do(ctx context.Context, req *http.Request, limit int64) (int, []byte, error) {
	resp, err := c.http.Do(req.WithContext(ctx))
	if err != nil {
		return 0, nil, fmt.Errorf("portmap: UPnP %s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0, nil, fmt.Errorf("portmap: UPnP %s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	if int64(len(b)) > limit {
		return 0, nil, fmt.Errorf("%w: UPnP answer over %d bytes", ErrMalformed, limit)
	}
	return resp.StatusCode, b, nil
}

// call runs one SOAP action.
func (c *upnpClient) call(ctx context.Context, action string, args [][2]string) (map[string]string, error) {
	req, err := http.NewRequest(http.MethodPost, c.ctrl.String(), bytes.NewReader(soapRequest(c.service, action, args)))
	if err != nil {
		return nil, fmt.Errorf("portmap: UPnP request: %w", err)
	}
	req.Header.Set("Content-Type", `text/xml; charset="utf-8"`)
	req.Header.Set("SOAPAction", `"`+c.service+"#"+action+`"`)
	status, body, err := c.do(ctx, req, maxSOAP)
	if err != nil {
		return nil, err
	}
	out, perr := parseSOAP(body, action)
	if status != http.StatusOK && perr == nil {
		return nil, fmt.Errorf("%w: UPnP %s answered %d", ErrMalformed, action, status)
	}
	return out, perr
}

func (c *upnpClient) externalAddr(ctx context.Context) (netip.Addr, error) {
	out, err := c.call(ctx, "GetExternalIPAddress", nil)
	if err != nil {
		return netip.Addr{}, err
	}
	a, err := netip.ParseAddr(out["NewExternalIPAddress"])
	if err != nil || !a.Is4() || a.IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("%w: UPnP external address %q", ErrMalformed, printable(out["NewExternalIPAddress"]))
	}
	return a, nil
}

func (c *upnpClient) addPortMapping(ctx context.Context, local netip.AddrPort, external uint16, lease uint32, desc string) error {
	_, err := c.call(ctx, "AddPortMapping", [][2]string{
		{"NewRemoteHost", ""},
		{"NewExternalPort", strconv.Itoa(int(external))},
		{"NewProtocol", "UDP"},
		{"NewInternalPort", strconv.Itoa(int(local.Port()))},
		{"NewInternalClient", local.Addr().String()},
		{"NewEnabled", "1"},
		{"NewPortMappingDescription", desc},
		{"NewLeaseDuration", strconv.FormatUint(uint64(lease), 10)},
	})
	return err
}

func (c *upnpClient) deletePortMapping(ctx context.Context, external uint16) error {
	_, err := c.call(ctx, "DeletePortMapping", [][2]string{
		{"NewRemoteHost", ""},
		{"NewExternalPort", strconv.Itoa(int(external))},
		{"NewProtocol", "UDP"},
	})
	return err
}

// upnpLease is a mapping made with UPnP IGD.
type upnpLease struct {
	cfg   Config
	local netip.AddrPort
	c     *upnpClient
	lease uint32 // 0: the gateway grants only permanent mappings
	cur   Mapping
}

func upnpAcquire(ctx context.Context, cfg Config, local netip.AddrPort, gw netip.Addr) (*upnpLease, error) {
	loc, err := ssdpDiscover(ctx, cfg, local.Addr(), gw)
	if err != nil {
		return nil, err
	}
	hc := newHTTPClient(local.Addr())
	c := &upnpClient{http: hc}
	req, err := http.NewRequest(http.MethodGet, loc.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	status, body, err := c.do(ctx, req, maxDescription)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, fmt.Errorf("%w: device description answered %d", ErrUnsupported, status)
	}
	c.service, c.ctrl, err = parseDescription(body, loc)
	if err != nil {
		return nil, err
	}
	l := &upnpLease{cfg: cfg, local: local, c: c, lease: min(seconds(cfg.lifetime()), upnpMaxLeaseSeconds)}
	ext, err := c.externalAddr(ctx)
	if err != nil {
		return nil, err
	}
	// The internal port first, then random ones if another host holds it.
	port := local.Port()
	for try := 0; ; try++ {
		err = c.addPortMapping(ctx, local, port, l.lease, cfg.description())
		var re *resultError
		switch {
		case err == nil:
			l.cur = Mapping{Protocol: UPnP, Internal: local, External: netip.AddrPortFrom(ext, port),
				Lifetime: time.Duration(l.lease) * time.Second, Gateway: gw}
			return l, nil
		case errors.As(err, &re) && re.code == upnpPermanentOnly && l.lease != 0:
			// IGD:1 routers may only do permanent mappings; ours is
			// deleted when the mapper stops.
			l.lease = 0
			continue
		case errors.As(err, &re) && re.code == upnpConflict && try < upnpPortAttempts:
			port = uint16(upnpMinDynamicPort + rand.IntN(65536-upnpMinDynamicPort))
			continue
		}
		return nil, err
	}
}

func (l *upnpLease) mapping() Mapping { return l.cur }

// renew adds the same mapping again, which refreshes its lease, and asks
// for the external address, which a router may change.
func (l *upnpLease) renew(ctx context.Context) (Mapping, error) {
	if err := l.c.addPortMapping(ctx, l.local, l.cur.External.Port(), l.lease, l.cfg.description()); err != nil {
		return Mapping{}, err
	}
	ext, err := l.c.externalAddr(ctx)
	if err != nil {
		return Mapping{}, err
	}
	l.cur.External = netip.AddrPortFrom(ext, l.cur.External.Port())
	return l.cur, nil
}

func (l *upnpLease) remove(ctx context.Context) error {
	err := l.c.deletePortMapping(ctx, l.cur.External.Port())
	l.c.http.CloseIdleConnections()
	var re *resultError
	if errors.As(err, &re) && re.code == upnpNoSuchEntry {
		return nil // gone already
	}
	return err
}
