package portmap

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// NAT-PMP, RFC 6886. All fields are big-endian.
const (
	natpmpVersion     = 0
	natpmpOpExternal  = 0
	natpmpOpMapUDP    = 1
	natpmpReplyBit    = 128
	natpmpExternalLen = 12 // reply to an external-address request (section 3.2)
	natpmpMapLen      = 16 // reply to a mapping request (section 3.3)
	natpmpHeaderLen   = 8  // version, opcode, result, epoch: all an error reply must carry

	// maxReply is the largest reply read: a PCP message is at most 1100
	// bytes (RFC 6887, section 7); anything beyond is not a reply of ours.
	maxReply = 1100
)

// NAT-PMP result codes (RFC 6886, section 3.5).
var natpmpResults = map[uint16]string{
	1: "unsupported version",
	2: "not authorized or refused",
	3: "network failure",
	4: "out of resources",
	5: "unsupported opcode",
}

// natpmpReply is a parsed NAT-PMP reply.
type natpmpReply struct {
	op       uint8 // the request's opcode (reply bit cleared)
	result   uint16
	epoch    uint32 // seconds since the gateway's mapping table was reset
	external netip.Addr
	internal uint16
	mapped   uint16
	lifetime uint32
}

func natpmpExternalRequest() []byte { return []byte{natpmpVersion, natpmpOpExternal} }

// natpmpMapRequest asks for a UDP mapping of internal; lifetime 0 with
// suggested 0 deletes it (section 3.4).
func natpmpMapRequest(internal, suggested uint16, lifetime uint32) []byte {
	b := make([]byte, 12)
	b[0] = natpmpVersion
	b[1] = natpmpOpMapUDP
	binary.BigEndian.PutUint16(b[4:], internal)
	binary.BigEndian.PutUint16(b[6:], suggested)
	binary.BigEndian.PutUint32(b[8:], lifetime)
	return b
}

// parseNATPMP reads a NAT-PMP reply. A reply shorter than its opcode's
// fixed size is malformed, except that an error reply need only carry the
// header; bytes beyond the fixed size are ignored, as the RFC asks.
func parseNATPMP(b []byte) (natpmpReply, error) {
	var r natpmpReply
	if len(b) < natpmpHeaderLen || len(b) > maxReply {
		return r, fmt.Errorf("%w: NAT-PMP reply of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != natpmpVersion {
		return r, fmt.Errorf("%w: NAT-PMP reply version %d", ErrMalformed, b[0])
	}
	if b[1] < natpmpReplyBit {
		return r, fmt.Errorf("%w: NAT-PMP opcode %d is a request", ErrMalformed, b[1])
	}
	r.op = b[1] - natpmpReplyBit
	r.result = binary.BigEndian.Uint16(b[2:])
	r.epoch = binary.BigEndian.Uint32(b[4:])
	if r.result != 0 {
		return r, nil
	}
	switch r.op {
	case natpmpOpExternal:
		if len(b) < natpmpExternalLen {
			return r, fmt.Errorf("%w: NAT-PMP external-address reply of %d bytes", ErrMalformed, len(b))
		}
		r.external = netip.AddrFrom4([4]byte(b[8:12]))
	case natpmpOpMapUDP:
		if len(b) < natpmpMapLen {
			return r, fmt.Errorf("%w: NAT-PMP mapping reply of %d bytes", ErrMalformed, len(b))
		}
		r.internal = binary.BigEndian.Uint16(b[8:])
		r.mapped = binary.BigEndian.Uint16(b[10:])
		r.lifetime = binary.BigEndian.Uint32(b[12:])
	default:
		return r, fmt.Errorf("%w: NAT-PMP reply to opcode %d", ErrMalformed, r.op)
	}
	return r, nil
}

func natpmpError(result uint16) error {
	e := &resultError{proto: NATPMP, code: int(result), text: natpmpResults[result]}
	if result == 1 || result == 5 {
		e.kind = ErrUnsupported
	}
	return e
}

// natpmpClient is the NAT-PMP conversation for one mapping.
type natpmpClient struct {
	cfg      Config
	local    netip.AddrPort
	server   netip.AddrPort
	external netip.Addr
	epoch    epochTracker
}

// externalAddr asks for the gateway's external address (section 3.2).
func (c *natpmpClient) externalAddr(ctx context.Context) (netip.Addr, error) {
	var got natpmpReply
	err := exchange(ctx, c.local.Addr(), c.server, natpmpExternalRequest(), c.cfg.retransmit(), func(b []byte) error {
		r, err := parseNATPMP(b)
		if err != nil {
			return err
		}
		if r.op != natpmpOpExternal {
			return fmt.Errorf("%w: NAT-PMP reply to opcode %d, asked %d", ErrMalformed, r.op, natpmpOpExternal)
		}
		if r.result != 0 {
			return natpmpError(r.result)
		}
		if !r.external.IsValid() || r.external.IsUnspecified() {
			return fmt.Errorf("%w: NAT-PMP external address %v", ErrMalformed, r.external)
		}
		got = r
		return nil
	})
	if err != nil {
		return netip.Addr{}, err
	}
	c.epoch.observe(got.epoch, time.Now())
	return got.external, nil
}

// mapPort creates or renews the mapping (section 3.3); lifetime 0 deletes
// it. It returns the mapping and whether the gateway's epoch says it lost
// its state since the last reply.
func (c *natpmpClient) mapPort(ctx context.Context, suggested uint16, lifetime uint32) (Mapping, bool, error) {
	var got natpmpReply
	req := natpmpMapRequest(c.local.Port(), suggested, lifetime)
	if lifetime == 0 {
		req = natpmpMapRequest(c.local.Port(), 0, 0)
	}
	err := exchange(ctx, c.local.Addr(), c.server, req, c.cfg.retransmit(), func(b []byte) error {
		r, err := parseNATPMP(b)
		if err != nil {
			return err
		}
		if r.op != natpmpOpMapUDP {
			return fmt.Errorf("%w: NAT-PMP reply to opcode %d, asked %d", ErrMalformed, r.op, natpmpOpMapUDP)
		}
		if r.result != 0 {
			return natpmpError(r.result)
		}
		if r.internal != c.local.Port() {
			return fmt.Errorf("%w: NAT-PMP reply for internal port %d, asked %d", ErrMalformed, r.internal, c.local.Port())
		}
		if lifetime != 0 && (r.mapped == 0 || r.lifetime == 0) {
			return fmt.Errorf("%w: NAT-PMP granted port %d for %d s", ErrMalformed, r.mapped, r.lifetime)
		}
		got = r
		return nil
	})
	if err != nil {
		return Mapping{}, false, err
	}
	lost := !c.epoch.observe(got.epoch, time.Now())
	return Mapping{
		Protocol: NATPMP,
		Internal: c.local,
		External: netip.AddrPortFrom(c.external, got.mapped),
		Lifetime: time.Duration(got.lifetime) * time.Second,
		Gateway:  c.server.Addr(),
	}, lost, nil
}

// natpmpLease is a mapping made with NAT-PMP.
type natpmpLease struct {
	c   *natpmpClient
	cur Mapping
}

func natpmpAcquire(ctx context.Context, cfg Config, local netip.AddrPort, gw netip.Addr) (*natpmpLease, error) {
	c := &natpmpClient{cfg: cfg, local: local, server: cfg.pmpServer(gw)}
	ext, err := c.externalAddr(ctx)
	if err != nil {
		return nil, err
	}
	c.external = ext
	m, _, err := c.mapPort(ctx, local.Port(), seconds(cfg.lifetime()))
	if err != nil {
		return nil, err
	}
	return &natpmpLease{c: c, cur: m}, nil
}

func (l *natpmpLease) mapping() Mapping { return l.cur }

// renew asks for the same external port again. When the gateway's epoch
// shows it restarted, its external address may have changed too, so it is
// asked again.
func (l *natpmpLease) renew(ctx context.Context) (Mapping, error) {
	m, lost, err := l.c.mapPort(ctx, l.cur.External.Port(), seconds(l.c.cfg.lifetime()))
	if err != nil {
		return Mapping{}, err
	}
	if lost {
		l.c.cfg.logger().Debug("portmap: NAT-PMP gateway lost its state; asking for the external address again")
		ext, err := l.c.externalAddr(ctx)
		if err != nil {
			return Mapping{}, err
		}
		l.c.external = ext
		m.External = netip.AddrPortFrom(ext, m.External.Port())
	}
	l.cur = m
	return m, nil
}

func (l *natpmpLease) remove(ctx context.Context) error {
	_, _, err := l.c.mapPort(ctx, 0, 0)
	return err
}

// seconds converts a lifetime to the protocols' 32-bit seconds, at least 1.
func seconds(d time.Duration) uint32 {
	s := d / time.Second
	switch {
	case s < 1:
		return 1
	case s > 1<<31:
		return 1 << 31
	}
	return uint32(s)
}
