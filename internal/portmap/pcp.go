package portmap

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// PCP, RFC 6887. All fields are big-endian; addresses are 16 bytes, IPv4 as
// IPv4-mapped IPv6 (section 5).
const (
	pcpVersion   = 2
	pcpOpMap     = 1
	pcpReplyBit  = 0x80
	pcpHeaderLen = 24
	pcpMapLen    = 36 // the MAP opcode's payload (section 11.1)
	protoUDP     = 17
)

// PCP result codes (RFC 6887, section 7.4).
var pcpResults = map[uint8]string{
	1:  "unsupported version",
	2:  "not authorized",
	3:  "malformed request",
	4:  "unsupported opcode",
	5:  "unsupported option",
	6:  "malformed option",
	7:  "network failure",
	8:  "no resources",
	9:  "unsupported protocol",
	10: "user exceeded quota",
	11: "cannot provide external",
	12: "address mismatch",
	13: "excessive remote peers",
}

// pcpReply is a parsed PCP MAP reply. A reply from a NAT-PMP-only gateway
// (version 0) is reported as version 0 with its result.
type pcpReply struct {
	version  uint8
	op       uint8
	result   uint8
	lifetime uint32
	epoch    uint32
	nonce    [12]byte
	proto    uint8
	internal uint16
	external netip.AddrPort
}

// pcpMapRequest builds a MAP request (sections 7.1 and 11.1). client is the
// address the request is sent from (the server checks it against the
// packet's source); suggested may be the zero AddrPort.
func pcpMapRequest(client netip.Addr, lifetime uint32, nonce [12]byte, internal uint16, suggested netip.AddrPort) []byte {
	b := make([]byte, pcpHeaderLen+pcpMapLen)
	b[0] = pcpVersion
	b[1] = pcpOpMap
	binary.BigEndian.PutUint32(b[4:], lifetime)
	c16 := client.As16()
	copy(b[8:24], c16[:])
	p := b[pcpHeaderLen:]
	copy(p[0:12], nonce[:])
	p[12] = protoUDP
	binary.BigEndian.PutUint16(p[16:], internal)
	binary.BigEndian.PutUint16(p[18:], suggested.Port())
	if suggested.Addr().IsValid() {
		s16 := suggested.Addr().As16()
		copy(p[20:36], s16[:])
	} else {
		// "All zeros" is ::, but for an IPv4 mapping the RFC asks for
		// ::ffff:0.0.0.0 (section 11.1).
		p[30], p[31] = 0xff, 0xff
	}
	return b
}

// parsePCP reads a PCP reply. It checks the framing (size, version, reply
// bit) and, for a successful MAP, that the payload is there; the caller
// checks that it answers its request.
func parsePCP(b []byte) (pcpReply, error) {
	var r pcpReply
	if len(b) >= 2 && b[0] == natpmpVersion {
		// A NAT-PMP gateway answers a PCP request with its own "unsupported
		// version" reply (RFC 6887, section 9).
		if len(b) < natpmpHeaderLen || b[1] < natpmpReplyBit {
			return r, fmt.Errorf("%w: NAT-PMP answer of %d bytes to PCP", ErrMalformed, len(b))
		}
		r.version = 0
		r.result = uint8(min(binary.BigEndian.Uint16(b[2:]), 255))
		return r, nil
	}
	if len(b) < pcpHeaderLen || len(b) > maxReply || len(b)%4 != 0 {
		return r, fmt.Errorf("%w: PCP reply of %d bytes", ErrMalformed, len(b))
	}
	r.version = b[0]
	if b[1]&pcpReplyBit == 0 {
		return r, fmt.Errorf("%w: PCP message without the reply bit", ErrMalformed)
	}
	r.op = b[1] &^ pcpReplyBit
	r.result = b[3]
	r.lifetime = binary.BigEndian.Uint32(b[4:])
	r.epoch = binary.BigEndian.Uint32(b[8:])
	if r.version != pcpVersion {
		// A server of another version says so in an "unsupported
		// version" reply; nothing else of it is ours to read.
		return r, nil
	}
	if r.op != pcpOpMap {
		return r, fmt.Errorf("%w: PCP reply to opcode %d", ErrMalformed, r.op)
	}
	if len(b) < pcpHeaderLen+pcpMapLen {
		if r.result != 0 {
			return r, nil
		}
		return r, fmt.Errorf("%w: PCP MAP reply of %d bytes", ErrMalformed, len(b))
	}
	p := b[pcpHeaderLen:]
	copy(r.nonce[:], p[0:12])
	r.proto = p[12]
	r.internal = binary.BigEndian.Uint16(p[16:])
	ext := netip.AddrFrom16([16]byte(p[20:36])).Unmap()
	r.external = netip.AddrPortFrom(ext, binary.BigEndian.Uint16(p[18:]))
	// Options may follow (section 7.3); a MAP reply carries none we asked
	// for, and unknown ones are ignored.
	return r, nil
}

func pcpError(result uint8) error {
	e := &resultError{proto: PCP, code: int(result), text: pcpResults[result]}
	if result == 1 || result == 4 || result == 9 {
		e.kind = ErrUnsupported
	}
	return e
}

// pcpLease is a mapping made with PCP: the nonce identifies it to the
// server for renewals and the delete (section 11.2).
type pcpLease struct {
	cfg    Config
	local  netip.AddrPort
	server netip.AddrPort
	nonce  [12]byte
	epoch  epochTracker
	cur    Mapping
}

func pcpAcquire(ctx context.Context, cfg Config, local netip.AddrPort, gw netip.Addr) (*pcpLease, error) {
	l := &pcpLease{cfg: cfg, local: local, server: cfg.pmpServer(gw)}
	if _, err := rand.Read(l.nonce[:]); err != nil {
		return nil, fmt.Errorf("portmap: PCP nonce: %w", err)
	}
	// Suggest the internal port: a gateway that can keep it gives the
	// peer a port that looks like ours, which helps nothing but debugging.
	suggest := netip.AddrPortFrom(netip.IPv4Unspecified(), local.Port())
	m, _, err := l.request(ctx, seconds(cfg.lifetime()), suggest)
	if err != nil {
		return nil, err
	}
	l.cur = m
	return l, nil
}

func (l *pcpLease) mapping() Mapping { return l.cur }

// request sends a MAP request and waits for its reply. lost reports that
// the server's epoch says it lost its mappings since the last reply (RFC
// 6887, section 8.5); the reply itself is a fresh mapping either way.
func (l *pcpLease) request(ctx context.Context, lifetime uint32, suggest netip.AddrPort) (Mapping, bool, error) {
	req := pcpMapRequest(l.local.Addr(), lifetime, l.nonce, l.local.Port(), suggest)
	var got pcpReply
	err := exchange(ctx, l.local.Addr(), l.server, req, l.cfg.retransmit(), func(b []byte) error {
		r, err := parsePCP(b)
		if err != nil {
			return err
		}
		if r.version != pcpVersion {
			return &resultError{proto: PCP, code: int(r.result), text: fmt.Sprintf("gateway speaks version %d", r.version), kind: ErrUnsupported}
		}
		if r.result != 0 {
			return pcpError(r.result)
		}
		// A reply for another request (or a forged one) is dropped
		// (section 11.3: nonce, protocol and internal port must match).
		if r.nonce != l.nonce || r.proto != protoUDP || r.internal != l.local.Port() {
			return fmt.Errorf("%w: PCP reply for another mapping", ErrMalformed)
		}
		if lifetime != 0 {
			ext := r.external.Addr()
			if r.lifetime == 0 || r.external.Port() == 0 || !ext.Is4() || ext.IsUnspecified() {
				return fmt.Errorf("%w: PCP granted %v for %d s", ErrMalformed, r.external, r.lifetime)
			}
		}
		got = r
		return nil
	})
	if err != nil {
		return Mapping{}, false, err
	}
	lost := !l.epoch.observe(got.epoch, time.Now())
	return Mapping{
		Protocol: PCP,
		Internal: l.local,
		External: got.external,
		Lifetime: time.Duration(got.lifetime) * time.Second,
		Gateway:  l.server.Addr(),
	}, lost, nil
}

func (l *pcpLease) renew(ctx context.Context) (Mapping, error) {
	m, lost, err := l.request(ctx, seconds(l.cfg.lifetime()), l.cur.External)
	if err != nil {
		return Mapping{}, err
	}
	if lost {
		l.cfg.logger().Debug("portmap: PCP gateway lost its state; the renewal mapped the port again", "external", m.External)
	}
	l.cur = m
	return m, nil
}

func (l *pcpLease) remove(ctx context.Context) error {
	_, _, err := l.request(ctx, 0, netip.AddrPort{})
	return err
}
