package discovery

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"
)

// Service is the DNS-SD service type of an embedded direkt rendezvous server
// (RFC 6763 §7: "_" application protocol, "_tcp" because it is HTTP).
const Service = "_direkt._tcp"

const (
	mdnsPort = 5353

	// serviceName is the fully qualified, lower-case PTR owner name.
	serviceName = Service + ".local."

	// txtVersion is the value of the TXT key "v" this package speaks. A lookup
	// ignores instances of other versions.
	txtVersion = "1"

	// recordTTL is the TTL of every record we announce (see the package doc).
	recordTTL = 120
	// legacyTTL caps TTLs in answers to legacy unicast queries (RFC 6762 §6.7).
	legacyTTL = 10

	// maxPacket is the largest mDNS message (RFC 6762 §17: 9000 bytes
	// including IP and UDP headers; a little slack for reading is harmless).
	maxPacket = 9000

	// topBit is the cache-flush bit of a resource record's class (RFC 6762
	// §10.2) and the unicast-response bit of a question's class (§5.4).
	topBit = 0x8000

	maxNameplateLen = 10
	maxInstanceLen  = 63 // one DNS label (RFC 1035 §2.3.4)
)

var (
	groupV4 = netip.MustParseAddr("224.0.0.251")
	groupV6 = netip.MustParseAddr("ff02::fb")
)

// validNameplate reports whether np is a nameplate as docs/protocol.md §2
// defines it: a decimal number without a leading zero.
func validNameplate(np string) bool {
	if np == "" || len(np) > maxNameplateLen || np[0] == '0' {
		return false
	}
	for i := 0; i < len(np); i++ {
		if np[i] < '0' || np[i] > '9' {
			return false
		}
	}
	return true
}

// validInstance reports whether s can be both a DNS-SD instance label and a
// host label: letters, digits and inner hyphens (RFC 952/1123 host names), so
// "<s>.local." is a valid host name too.
func validInstance(s string) bool {
	if s == "" || len(s) > maxInstanceLen || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// randomInstance returns "direkt-" and 48 random bits in hex, enough that two
// announcers on one link never pick the same name in practice.
func randomInstance() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+).
	return "direkt-" + hex.EncodeToString(b[:])
}

// recordFlags selects records of a record set.
type recordFlags uint8

const (
	fPTR recordFlags = 1 << iota
	fSRV
	fTXT
	fA
	fAAAA

	fAll = fPTR | fSRV | fTXT | fA | fAAAA
)

// recordSet is what one announcer owns, with its names prepared once.
type recordSet struct {
	service  dnsmessage.Name // _direkt._tcp.local.
	instance dnsmessage.Name // <instance>._direkt._tcp.local.
	host     dnsmessage.Name // <instance>.local.
	port     uint16
	txt      []string

	// Lower-case text forms for matching questions (DNS names compare
	// case-insensitively, RFC 1035 §2.3.3).
	instanceKey, hostKey string
}

func newRecordSet(instance string, port uint16, nameplate string) (*recordSet, error) {
	svc, err := dnsmessage.NewName(serviceName)
	if err != nil {
		return nil, fmt.Errorf("service name: %w", err)
	}
	inst, err := dnsmessage.NewName(instance + "." + serviceName)
	if err != nil {
		return nil, fmt.Errorf("%w: instance name: %w", ErrInvalidAnnouncement, err)
	}
	host, err := dnsmessage.NewName(instance + ".local.")
	if err != nil {
		return nil, fmt.Errorf("%w: host name: %w", ErrInvalidAnnouncement, err)
	}
	return &recordSet{
		service:     svc,
		instance:    inst,
		host:        host,
		port:        port,
		txt:         []string{"v=" + txtVersion, "np=" + nameplate},
		instanceKey: strings.ToLower(inst.String()),
		hostKey:     strings.ToLower(host.String()),
	}, nil
}

// message describes one outgoing response.
type message struct {
	id        uint16                // 0 for multicast; the query's ID for legacy unicast (§18.1)
	questions []dnsmessage.Question // repeated only in legacy unicast answers (§6.7)
	answer    recordFlags           // records in the answer section
	extra     recordFlags           // records in the additional section (minus answer)
	ttl       uint32                // 0 for goodbye packets (§10.1)
	flush     bool                  // set the cache-flush bit on unique records (§10.2)
	v4, v6    []netip.Addr          // addresses for A and AAAA
}

// build appends the DNS message m to buf[:0]. Records of m.extra that are in
// m.answer are not repeated, and A/AAAA records are left out when there is no
// address of that family.
func (rs *recordSet) build(buf []byte, m message) ([]byte, error) {
	b := dnsmessage.NewBuilder(buf[:0], dnsmessage.Header{
		ID:            m.id,
		Response:      true,
		Authoritative: true, // RFC 6762 §18.4: set in all responses
	})
	b.EnableCompression()
	if len(m.questions) > 0 {
		if err := b.StartQuestions(); err != nil {
			return nil, err
		}
		for _, q := range m.questions {
			if err := b.Question(q); err != nil {
				return nil, err
			}
		}
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	if err := rs.add(&b, m.answer, m); err != nil {
		return nil, err
	}
	if err := b.StartAdditionals(); err != nil {
		return nil, err
	}
	if err := rs.add(&b, m.extra&^m.answer, m); err != nil {
		return nil, err
	}
	return b.Finish()
}

func (rs *recordSet) add(b *dnsmessage.Builder, f recordFlags, m message) error {
	unique := dnsmessage.ClassINET
	if m.flush {
		unique |= topBit
	}
	hdr := func(name dnsmessage.Name, class dnsmessage.Class) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: name, Class: class, TTL: m.ttl}
	}
	if f&fPTR != 0 {
		// PTR is a shared record: never the cache-flush bit (§10.2).
		if err := b.PTRResource(hdr(rs.service, dnsmessage.ClassINET), dnsmessage.PTRResource{PTR: rs.instance}); err != nil {
			return err
		}
	}
	if f&fSRV != 0 {
		if err := b.SRVResource(hdr(rs.instance, unique), dnsmessage.SRVResource{Port: rs.port, Target: rs.host}); err != nil {
			return err
		}
	}
	if f&fTXT != 0 {
		if err := b.TXTResource(hdr(rs.instance, unique), dnsmessage.TXTResource{TXT: rs.txt}); err != nil {
			return err
		}
	}
	if f&fA != 0 {
		for _, a := range m.v4 {
			if err := b.AResource(hdr(rs.host, unique), dnsmessage.AResource{A: a.As4()}); err != nil {
				return err
			}
		}
	}
	if f&fAAAA != 0 {
		for _, a := range m.v6 {
			if err := b.AAAAResource(hdr(rs.host, unique), dnsmessage.AAAAResource{AAAA: a.As16()}); err != nil {
				return err
			}
		}
	}
	return nil
}

// parseTXT reads the keys this package uses from a TXT record. Keys compare
// case-insensitively and only the first occurrence of a key counts (RFC 6763
// §6.4).
func parseTXT(ss []string) (version, nameplate string) {
	var haveV, haveNP bool
	for _, s := range ss {
		k, v, _ := strings.Cut(s, "=")
		switch {
		case !haveV && strings.EqualFold(k, "v"):
			version, haveV = v, true
		case !haveNP && strings.EqualFold(k, "np"):
			nameplate, haveNP = v, true
		}
	}
	return version, nameplate
}
