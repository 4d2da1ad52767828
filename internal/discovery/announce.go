package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Announcement is what Announce makes discoverable.
type Announcement struct {
	// Instance is the DNS-SD instance name and, with ".local", the host name
	// of the SRV record: letters, digits and inner hyphens, at most 63. Empty
	// means "direkt-" and 12 random hex digits, which is what callers should
	// use unless a test needs a fixed name.
	Instance string

	// Port is the TCP port of the embedded rendezvous server, 1–65535.
	Port int

	// Nameplate is the nameplate the embedded server allocated, a decimal
	// number (docs/protocol.md §2). It is public; never pass a code's words.
	Nameplate string
}

// Announcer answers mDNS queries for one Announcement until Close.
type Announcer struct {
	log      *slog.Logger
	rs       *recordSet
	ifaces   []*ifaceInfo
	conns    []*mconn
	instance string

	// legacy limits unicast answers to legacy queriers (RFC 6762 §6.7), which
	// the per-interface multicast limit does not cover.
	legacy *rate.Limiter

	mu     sync.Mutex // guards sched and closed, and orders sends before goodbyes
	sched  *scheduler
	closed bool

	wake      chan struct{} // capacity 1: the scheduler has a new entry
	done      chan struct{} // closed by shutdown: the sender loop stops
	senderWG  sync.WaitGroup
	readerWG  sync.WaitGroup
	stopCtx   func() bool
	closeOnce sync.Once
	closeErr  error
}

// Announce starts answering queries for a on the local network: PTR for
// Service, SRV, TXT (v=1, np=<nameplate>) and A/AAAA of the interface each
// query arrived on. It sends two unsolicited announcements (RFC 6762 §8.3) so
// that a Lookup already waiting sees it at once. Several announcers may run
// in one process or on one host.
//
// ctx bounds the setup and the announcer's life: when ctx ends the announcer
// stops as if Close had been called. Close must be called either way.
func Announce(ctx context.Context, a Announcement, opts *Options) (*Announcer, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !validNameplate(a.Nameplate) {
		return nil, ErrInvalidNameplate
	}
	if a.Port < 1 || a.Port > 65535 {
		return nil, fmt.Errorf("%w: port %d", ErrInvalidAnnouncement, a.Port)
	}
	if a.Instance == "" {
		a.Instance = randomInstance()
	} else if !validInstance(a.Instance) {
		return nil, fmt.Errorf("%w: instance name must be letters, digits and inner hyphens, at most %d", ErrInvalidAnnouncement, maxInstanceLen)
	}
	rs, err := newRecordSet(a.Instance, uint16(a.Port), a.Nameplate)
	if err != nil {
		return nil, err
	}
	ifaces, err := snapshotInterfaces(opts)
	if err != nil {
		return nil, err
	}
	log := opts.logger().With("instance", a.Instance)

	an := &Announcer{
		log:      log,
		rs:       rs,
		ifaces:   ifaces,
		instance: a.Instance,
		legacy:   rate.NewLimiter(rate.Every(100*time.Millisecond), 10),
		sched:    newScheduler(),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	var errs []error
	for _, v6 := range []bool{false, true} {
		c, err := listenMulticast(ctx, v6, mdnsPort, true, ifaces, log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		an.conns = append(an.conns, c)
	}
	if len(an.conns) == 0 {
		return nil, fmt.Errorf("discovery: announce: %w", errors.Join(errs...))
	}
	for _, err := range errs {
		log.Debug("mdns: one address family unavailable", "err", err)
	}

	now := time.Now()
	for _, c := range an.conns {
		for _, i := range c.joined {
			an.sched.startAnnouncing(schedKey{v6: c.v6, ifIndex: i.ifi.Index}, now)
		}
	}
	an.senderWG.Add(1)
	go an.sendLoop()
	for _, c := range an.conns {
		an.readerWG.Add(1)
		go an.readLoop(c)
	}
	an.stopCtx = context.AfterFunc(ctx, an.shutdown)
	log.Debug("mdns: announcing", "port", a.Port, "sockets", len(an.conns))
	return an, nil
}

// Instance returns the instance name being announced (useful when
// Announcement.Instance was empty).
func (a *Announcer) Instance() string { return a.instance }

// Close stops answering, sends goodbye packets (TTL 0, RFC 6762 §10.1) on
// every interface so that caches drop the records at once, closes the
// sockets and returns when all of the announcer's goroutines have ended.
// Later calls return the first call's result.
func (a *Announcer) Close() error {
	a.stopCtx()
	a.shutdown()
	return a.closeErr
}

func (a *Announcer) shutdown() {
	a.closeOnce.Do(func() {
		close(a.done)
		a.senderWG.Wait()

		a.mu.Lock()
		a.closed = true
		// Goodbyes under mu: a reader cannot slip a legacy answer in after them.
		for _, c := range a.conns {
			for _, i := range c.joined {
				a.sendLocked(c, i, message{answer: fAll, ttl: 0, flush: true})
			}
		}
		a.mu.Unlock()

		var errs []error
		for _, c := range a.conns {
			if err := c.close(); err != nil {
				errs = append(errs, err)
			}
		}
		a.readerWG.Wait()
		if len(errs) > 0 {
			a.closeErr = fmt.Errorf("discovery: close: %w", errors.Join(errs...))
		}
		a.log.Debug("mdns: announcer closed")
	})
}

// sendLoop multicasts scheduled answers when they fall due.
func (a *Announcer) sendLoop() {
	defer a.senderWG.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		a.mu.Lock()
		at, ok := a.sched.next()
		a.mu.Unlock()
		wait := time.Hour
		if ok {
			wait = time.Until(at)
		}
		timer.Reset(wait) // Go 1.23+: no stale value to drain
		select {
		case <-a.done:
			return
		case <-a.wake:
		case <-timer.C:
		}
		a.mu.Lock()
		for _, j := range a.sched.due(time.Now()) {
			c, i := a.lookupKey(j.key)
			if c != nil {
				a.sendLocked(c, i, message{answer: j.flags, extra: fAll, ttl: recordTTL, flush: true})
			}
		}
		a.mu.Unlock()
	}
}

func (a *Announcer) lookupKey(k schedKey) (*mconn, *ifaceInfo) {
	for _, c := range a.conns {
		if c.v6 != k.v6 {
			continue
		}
		for _, i := range c.joined {
			if i.ifi.Index == k.ifIndex {
				return c, i
			}
		}
	}
	return nil, nil
}

// sendLocked builds m with the addresses of interface i and multicasts it
// there. a.mu must be held.
func (a *Announcer) sendLocked(c *mconn, i *ifaceInfo, m message) {
	m.v4, m.v6 = i.addrs(false), i.addrs(true)
	var buf [maxPacket]byte
	b, err := a.rs.build(buf[:], m)
	if err != nil {
		a.log.Warn("mdns: build response", "err", err)
		return
	}
	if err := c.sendMulticast(&i.ifi, b); err != nil {
		a.log.Debug("mdns: send failed", "iface", i.ifi.Name, "ipv6", c.v6, "err", err)
	}
}

func (a *Announcer) readLoop(c *mconn) {
	defer a.readerWG.Done()
	buf := make([]byte, maxPacket)
	failures := 0
	for {
		n, src, ifIndex, err := c.read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if failures++; failures >= maxReadErrors {
				a.log.Warn("mdns: giving up reading", "ipv6", c.v6, "err", err)
				return
			}
			continue
		}
		failures = 0
		a.handle(c, buf[:n], src, ifIndex)
	}
}

// handle answers one incoming packet: legacy queriers (source port not 5353)
// by unicast at once, everyone else by a scheduled multicast on the arrival
// interface.
func (a *Announcer) handle(c *mconn, pkt []byte, src netip.AddrPort, ifIndex int) {
	q, ok := parseQuery(a.rs, pkt)
	if !ok {
		return
	}
	i := ifaceFor(c.joined, ifIndex, src.Addr())
	if src.Port() != mdnsPort {
		// RFC 6762 §6.7. A unicast answer goes wherever the source says, so
		// answer only on-link sources (§11) and only at a bounded rate:
		// otherwise we could be used to reflect traffic at a third party.
		if i == nil || !i.onLink(src.Addr()) || !a.legacy.Allow() {
			return
		}
		if src.Addr().Zone() != "" {
			// Name the zone by index: the name-to-index cache of package
			// net may belong to another network namespace than the socket.
			src = netip.AddrPortFrom(src.Addr().WithZone(strconv.Itoa(i.ifi.Index)), src.Port())
		}
		var buf [maxPacket]byte
		b, err := a.rs.build(buf[:], message{
			id: q.id, questions: q.asked, answer: q.answer, extra: fAll,
			ttl: legacyTTL, v4: i.addrs(false), v6: i.addrs(true),
		})
		if err != nil {
			return
		}
		a.mu.Lock()
		if !a.closed {
			if err := c.sendUnicast(src, b); err != nil {
				a.log.Debug("mdns: legacy answer failed", "err", err)
			}
		}
		a.mu.Unlock()
		return
	}
	targets := []*ifaceInfo{i}
	if i == nil {
		if ifIndex > 0 {
			return // arrived on an interface we were not asked to serve
		}
		targets = c.joined // the system cannot tell; answer everywhere
	}
	now := time.Now()
	a.mu.Lock()
	if !a.closed {
		for _, t := range targets {
			a.sched.add(schedKey{v6: c.v6, ifIndex: t.ifi.Index}, q.answer, now, responseDelay(q.answer))
		}
	}
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}
