package portmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"
)

// lease is one granted mapping and the means to renew and delete it.
type lease interface {
	mapping() Mapping
	renew(ctx context.Context) (Mapping, error)
	remove(ctx context.Context) error
}

// Mapper holds one UDP port mapping for one local socket. Create it with
// New and run it with Run; it is not safe to call Run twice.
type Mapper struct {
	cfg   Config
	local netip.AddrPort
	log   *slog.Logger
}

// New returns a Mapper for the UDP socket bound to local, an IPv4 unicast
// address (not 0.0.0.0) and a port. It does not touch the network.
func New(cfg Config, local netip.AddrPort) (*Mapper, error) {
	a := local.Addr().Unmap()
	if !a.Is4() || a.IsUnspecified() || a.IsMulticast() || local.Port() == 0 {
		return nil, fmt.Errorf("%w: local address %v (want an IPv4 unicast address and a port)", ErrConfig, local)
	}
	if cfg.Protocols&All == 0 && cfg.Protocols != 0 {
		return nil, fmt.Errorf("%w: protocols %v", ErrConfig, cfg.Protocols)
	}
	local = netip.AddrPortFrom(a, local.Port())
	return &Mapper{cfg: cfg, local: local, log: cfg.logger().With("portmap", local.String())}, nil
}

// Run gets a mapping, hands it to onMapped, renews it at half its lifetime
// and deletes it when ctx ends; then it returns nil. onMapped is called
// from Run's goroutine, again whenever the external address changes.
//
// If no protocol gets a mapping in the first attempt (Config.Timeout), Run
// returns that error at once (wrapping ErrNoGateway, ErrUnsupported,
// ErrRefused or ErrMalformed): the gateway does not offer port mapping to
// us. Once a mapping exists, failed renewals are retried until ctx ends, and
// a mapping that lapsed is made anew.
func (m *Mapper) Run(ctx context.Context, onMapped func(Mapping)) error {
	gw := m.cfg.Gateway
	if !gw.IsValid() {
		var err error
		if gw, err = defaultGateway(m.local.Addr()); err != nil {
			return err
		}
	}
	gw = gw.Unmap()
	l, err := m.acquire(ctx, gw)
	if err != nil {
		return err
	}
	cur := l.mapping()
	m.log.Debug("port mapped", "protocol", cur.Protocol.String(), "external", cur.External, "lifetime", cur.Lifetime)
	onMapped(cur)
	defer func() { m.remove(l) }()

	expires := time.Now().Add(cur.Lifetime)
	wait := renewAfter(cur.Lifetime)
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, m.cfg.timeout())
		nm, err := l.renew(rctx)
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if cur.Lifetime > 0 && time.Now().After(expires) {
				// Lapsed: start over, with any protocol.
				m.log.Debug("port mapping lapsed; mapping again", "err", err)
				if nl, aerr := m.acquire(ctx, gw); aerr == nil {
					l, nm, err = nl, nl.mapping(), nil
				}
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			m.log.Debug("port mapping renewal failed", "err", err)
			t.Reset(retryAfter(cur.Lifetime, time.Until(expires)))
			continue
		}
		if nm.External != cur.External || nm.Protocol != cur.Protocol {
			m.log.Debug("port mapping moved", "protocol", nm.Protocol.String(), "external", nm.External)
			onMapped(nm)
		}
		cur = nm
		expires = time.Now().Add(cur.Lifetime)
		t.Reset(renewAfter(cur.Lifetime))
	}
}

// renewAfter is half the lifetime (RFC 6886, section 3.3 suggests renewing
// at half), at least minRenew; a permanent mapping is checked every
// DefaultLifetime/2 for a changed external address.
func renewAfter(lifetime time.Duration) time.Duration {
	if lifetime <= 0 {
		return DefaultLifetime / 2
	}
	return max(lifetime/2, minRenew)
}

// retryAfter spaces failed renewals: a quarter of the lifetime, but no
// later than shortly before the mapping expires, and at least minRenew.
func retryAfter(lifetime, left time.Duration) time.Duration {
	d := lifetime / 4
	if lifetime <= 0 {
		d = DefaultLifetime / 4
	}
	if left > 0 && d > left/2 {
		d = left / 2
	}
	return max(d, minRenew)
}

// acquire tries the enabled protocols at once and keeps the first mapping:
// PCP then NAT-PMP on the gateway's port 5351 (one after the other: a
// gateway answers PCP or says it speaks only NAT-PMP), and UPnP in
// parallel. A second mapping that arrives after the first is deleted.
func (m *Mapper) acquire(ctx context.Context, gw netip.Addr) (lease, error) {
	actx, cancel := context.WithTimeout(ctx, m.cfg.timeout())
	defer cancel()
	type result struct {
		l   lease
		err error
	}
	protos := m.cfg.protocols()
	results := make(chan result, 2)
	n := 0
	if protos&(PCP|NATPMP) != 0 {
		n++
		go func() {
			l, err := m.acquirePMP(actx, gw)
			results <- result{l, err}
		}()
	}
	if protos&UPnP != 0 {
		n++
		go func() {
			var r result
			ul, err := upnpAcquire(actx, m.cfg, m.local, gw)
			if err == nil {
				r.l = ul
			}
			r.err = err
			results <- r
		}()
	}
	var (
		won  lease
		errs []error
	)
	for range n {
		r := <-results
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
		case won == nil:
			won = r.l
			cancel() // the other attempt is not needed
		default:
			m.remove(r.l)
		}
	}
	if won != nil {
		return won, nil
	}
	return nil, pickError(errs)
}

// acquirePMP tries PCP and, if the gateway does not speak it, NAT-PMP.
func (m *Mapper) acquirePMP(ctx context.Context, gw netip.Addr) (lease, error) {
	protos := m.cfg.protocols()
	var pcpErr error
	if protos&PCP != 0 {
		l, err := pcpAcquire(ctx, m.cfg, m.local, gw)
		if err == nil {
			return l, nil
		}
		if protos&NATPMP == 0 || !errors.Is(err, ErrUnsupported) || ctx.Err() != nil {
			return nil, err
		}
		pcpErr = err
	}
	l, err := natpmpAcquire(ctx, m.cfg, m.local, gw)
	if err != nil {
		if pcpErr != nil {
			return nil, fmt.Errorf("%w (PCP: %w)", err, pcpErr)
		}
		return nil, err
	}
	return l, nil
}

// pickError reports the most telling failure: a refusal or a malformed
// answer says more than silence.
func pickError(errs []error) error {
	for _, want := range []error{ErrRefused, ErrMalformed} {
		for _, e := range errs {
			if errors.Is(e, want) {
				return e
			}
		}
	}
	return errors.Join(errs...)
}

// remove deletes a mapping with a short deadline of its own: it runs when
// the caller's context has ended.
func (m *Mapper) remove(l lease) {
	ctx, cancel := context.WithTimeout(context.Background(), deleteTimeout)
	defer cancel()
	if err := l.remove(ctx); err != nil {
		m.log.Debug("deleting the port mapping failed", "err", err)
		return
	}
	m.log.Debug("port mapping deleted", "external", l.mapping().External)
}
