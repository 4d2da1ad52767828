package discovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"time"
)

// queryDelay returns how long after query k (0-based) the next one goes out:
// the queries leave at 0, 250 ms, 1 s, 2 s, 4 s, … with the interval capped
// at one hour. RFC 6762 §5.2 asks for at least a second between the first two
// queries; the single early retry at 250 ms is a deliberate exception, because
// the first query of a socket that has just joined the group is the one most
// likely lost (IGMP/MLD snooping switches learn the membership from the join
// report that goes out at the same time).
func queryDelay(k int) time.Duration {
	switch k {
	case 0:
		return 250 * time.Millisecond
	case 1:
		return 750 * time.Millisecond
	}
	d := time.Second << min(k-2, 12)
	return min(d, time.Hour)
}

// minFollowUpInterval bounds the direct queries sent when a matching instance
// is known but incomplete.
const minFollowUpInterval = 250 * time.Millisecond

// lookupConn is a socket of Lookup. legacy means it could not share 5353 and
// queries from an ephemeral port instead (RFC 6762 §5.1 one-shot queries,
// answered by unicast, §6.7), so answers must carry our query ID.
type lookupConn struct {
	*mconn
	legacy bool
	id     uint16
}

type inPacket struct {
	c       *lookupConn
	data    []byte
	src     netip.AddrPort
	ifIndex int
}

// Lookup finds the embedded rendezvous server announcing nameplate on the
// local network. It queries for Service on every selected interface,
// repeating the query at 0, 250 ms, 1 s, 2 s, 4 s, …, until an instance whose
// TXT record says v=1 and np=<nameplate> has answered with its port and
// addresses, and returns those addresses: IPv4 first, addresses inside the
// answering interface's prefixes before others, link-local IPv6 (with the
// interface as zone) last. When ctx ends first it returns an error wrapping
// both ErrNotFound and ctx.Err().
//
// If two announcers on the link answer for the same nameplate, the first
// complete answer wins.
func Lookup(ctx context.Context, nameplate string, opts *Options) ([]netip.AddrPort, error) {
	if !validNameplate(nameplate) {
		return nil, ErrInvalidNameplate
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	ifaces, err := snapshotInterfaces(opts)
	if err != nil {
		return nil, err
	}
	log := opts.logger()
	conns, err := openLookupConns(ctx, ifaces, log)
	if err != nil {
		return nil, err
	}

	pkts := make(chan inPacket, 16)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { lookupReadLoop(c, pkts, done, log) })
	}
	defer func() {
		close(done)
		for _, c := range conns {
			_ = c.close()
		}
		wg.Wait()
	}()

	res := newResolver(nameplate)
	send := func() {
		var buf [maxPacket]byte
		for _, c := range conns {
			b, err := res.buildQuery(buf[:], c.id)
			if err != nil {
				log.Warn("mdns: build query", "err", err)
				return
			}
			for _, i := range c.joined {
				if err := c.sendMulticast(&i.ifi, b); err != nil {
					log.Debug("mdns: query failed", "iface", i.ifi.Name, "ipv6", c.v6, "err", err)
				}
			}
		}
	}

	timer := time.NewTimer(0)
	defer timer.Stop()
	var lastFollowUp time.Time
	for k := 0; ; {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNotFound, ctx.Err())
		case <-timer.C:
			send()
			timer.Reset(queryDelay(k))
			k++
		case p := <-pkts:
			in := ifaceFor(p.c.joined, p.ifIndex, p.src.Addr())
			if in == nil && p.ifIndex > 0 {
				continue // an interface we were not asked to use
			}
			wantID := -1
			if p.c.legacy {
				// Unicast answers: check the source is on-link (§11).
				if in == nil || !in.onLink(p.src.Addr()) {
					continue
				}
				wantID = int(p.c.id)
			}
			addrs, followUp := res.handle(p.data, p.src, in, wantID)
			if len(addrs) > 0 {
				log.Debug("mdns: found", "addrs", len(addrs))
				return addrs, nil
			}
			if followUp && time.Since(lastFollowUp) >= minFollowUpInterval {
				lastFollowUp = time.Now()
				send()
			}
		}
	}
}

// openLookupConns opens one socket per address family, on 5353 where it can
// be shared and on an ephemeral port where it cannot.
func openLookupConns(ctx context.Context, ifaces []*ifaceInfo, log *slog.Logger) ([]*lookupConn, error) {
	var (
		conns []*lookupConn
		errs  []error
	)
	for _, v6 := range []bool{false, true} {
		c, err := listenMulticast(ctx, v6, mdnsPort, true, ifaces, log)
		if err == nil {
			conns = append(conns, &lookupConn{mconn: c})
			continue
		}
		if errors.Is(err, ErrNoInterfaces) {
			errs = append(errs, err)
			continue
		}
		log.Debug("mdns: cannot share port 5353, querying from an ephemeral port", "ipv6", v6, "err", err)
		c, err = listenMulticast(ctx, v6, 0, false, ifaces, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		conns = append(conns, &lookupConn{mconn: c, legacy: true, id: uint16(1 + rand.N(0xffff))})
	}
	if len(conns) == 0 {
		return nil, fmt.Errorf("discovery: lookup: %w", errors.Join(errs...))
	}
	return conns, nil
}

func lookupReadLoop(c *lookupConn, out chan<- inPacket, done <-chan struct{}, log *slog.Logger) {
	buf := make([]byte, maxPacket)
	failures := 0
	for {
		n, src, ifIndex, err := c.read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if failures++; failures >= maxReadErrors {
				log.Warn("mdns: giving up reading", "ipv6", c.v6, "err", err)
				return
			}
			continue
		}
		failures = 0
		select {
		case out <- inPacket{c: c, data: bytes.Clone(buf[:n]), src: src, ifIndex: ifIndex}:
		case <-done:
			return
		}
	}
}
