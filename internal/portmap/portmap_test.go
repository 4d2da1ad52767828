package portmap

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/testwatch"
)

func TestMain(m *testing.M) {
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}

var ext = netip.MustParseAddrPort("198.51.100.7:41000")

func TestPCPMapRenewDelete(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	g := newFakePMP(t, func(r pmpRequest) [][]byte {
		return [][]byte{pcpAnswer(r, 0, r.lifetime, 100, ext)}
	})
	local := localSocket(t)
	m, err := New(testConfig(PCP, g.port(), 0), local)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	mapped, result := run(t, rctx, m)
	got := nextMapping(t, ctx, mapped, result)
	want := Mapping{Protocol: PCP, Internal: local, External: ext, Lifetime: DefaultLifetime, Gateway: loopback}
	if got != want {
		t.Errorf("mapping %+v, want %+v", got, want)
	}
	stop()
	if err := awaitResult(t, ctx, result); err != nil {
		t.Errorf("Run: %v", err)
	}
	reqs := g.requests()
	last := reqs[len(reqs)-1]
	if last.lifetime != 0 || last.nonce != reqs[0].nonce || last.internal != local.Port() {
		t.Errorf("last request %+v is not a delete of the mapping %+v", last, reqs[0])
	}
	if reqs[0].internal != local.Port() || reqs[0].suggest != local.Port() || reqs[0].lifetime != uint32(DefaultLifetime/time.Second) {
		t.Errorf("first request %+v", reqs[0])
	}
}

// A NAT-PMP-only gateway answers PCP with "unsupported version"; the mapper
// falls back at once, asks for the external address and maps.
func TestPCPFallsBackToNATPMP(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	g := newFakePMP(t, func(r pmpRequest) [][]byte {
		if r.version == 2 {
			return [][]byte{notPCP(r)}
		}
		return [][]byte{natpmpAnswer(r, 0, 50, ext, r.lifetime)}
	})
	local := localSocket(t)
	m, _ := New(testConfig(PCP|NATPMP, g.port(), 0), local)
	rctx, stop := context.WithCancel(ctx)
	mapped, result := run(t, rctx, m)
	start := time.Now()
	got := nextMapping(t, ctx, mapped, result)
	if got.Protocol != NATPMP || got.External != ext || got.Internal != local {
		t.Errorf("mapping %+v", got)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("the fallback took %v: it waited instead of reading the version answer", d)
	}
	stop()
	awaitResult(t, ctx, result)
	reqs := g.requests()
	last := reqs[len(reqs)-1]
	if last.version != 0 || last.op != 1 || last.lifetime != 0 || last.suggest != 0 {
		t.Errorf("last request %+v is not a NAT-PMP delete", last)
	}
}

func TestRefusalsAndSilence(t *testing.T) {
	cases := []struct {
		name  string
		proto Protocol
		reply func(pmpRequest) [][]byte
		want  error
	}{
		{"natpmp not authorised", NATPMP, func(r pmpRequest) [][]byte { return [][]byte{natpmpAnswer(r, 2, 1, ext, 0)} }, ErrRefused},
		{"natpmp unsupported opcode", NATPMP, func(r pmpRequest) [][]byte { return [][]byte{natpmpAnswer(r, 5, 1, ext, 0)} }, ErrUnsupported},
		{"pcp no resources", PCP, func(r pmpRequest) [][]byte { return [][]byte{pcpAnswer(r, 8, 0, 1, netip.AddrPort{})} }, ErrRefused},
		{"pcp not authorised, short error reply", PCP, func(r pmpRequest) [][]byte { return [][]byte{pcpAnswer(r, 2, 0, 1, ext)[:24]} }, ErrRefused},
		{"silent gateway", PCP | NATPMP, func(pmpRequest) [][]byte { return nil }, ErrUnsupported},
		{"only hostile replies", PCP, func(r pmpRequest) [][]byte {
			bad := pcpAnswer(r, 0, 60, 1, ext)
			bad[30] ^= 1 // another nonce
			return [][]byte{bad, pcpAnswer(r, 0, 60, 1, ext)[:59], {2}}
		}, ErrMalformed},
		{"zero lifetime granted", NATPMP, func(r pmpRequest) [][]byte { return [][]byte{natpmpAnswer(r, 0, 1, ext, 0)} }, ErrMalformed},
		{"unspecified external address", PCP, func(r pmpRequest) [][]byte {
			return [][]byte{pcpAnswer(r, 0, 60, 1, netip.MustParseAddrPort("0.0.0.0:5000"))}
		}, ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t, 10*time.Second)
			g := newFakePMP(t, c.reply)
			cfg := testConfig(c.proto, g.port(), 0)
			cfg.Timeout = 400 * time.Millisecond
			m, _ := New(cfg, localSocket(t))
			mapped, result := run(t, ctx, m)
			err := awaitResult(t, ctx, result)
			if !errors.Is(err, c.want) {
				t.Errorf("Run: %v, want %v", err, c.want)
			}
			select {
			case pm := <-mapped:
				t.Errorf("reported a mapping %+v", pm)
			default:
			}
		})
	}
}

// A gateway without a NAT-PMP/PCP server answers with ICMP port
// unreachable: the mapper gives up at once rather than at the timeout.
func TestNoServerIsQuick(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	cfg := testConfig(PCP|NATPMP, 0, 0)
	cfg.Timeout = 5 * time.Second
	m, _ := New(cfg, localSocket(t))
	start := time.Now()
	err := m.Run(ctx, func(Mapping) { t.Error("mapped") })
	if !errors.Is(err, ErrUnsupported) {
		t.Errorf("Run: %v, want ErrUnsupported", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("gave up after %v", d)
	}
}

// Hostile datagrams before the real reply are dropped: a wrong nonce, a
// wrong internal port, a truncated reply, a request echoed back, a huge
// datagram.
func TestHostileRepliesAreDropped(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	g := newFakePMP(t, func(r pmpRequest) [][]byte {
		good := pcpAnswer(r, 0, 120, 7, ext)
		nonce := slices.Clone(good)
		nonce[24] ^= 0xff
		port := slices.Clone(good)
		port[40] ^= 0xff
		return [][]byte{nonce, port, good[:40], r.raw, make([]byte, 1500), slices.Concat(good, []byte{1, 2}), good}
	})
	local := localSocket(t)
	m, _ := New(testConfig(PCP, g.port(), 0), local)
	rctx, stop := context.WithCancel(ctx)
	mapped, result := run(t, rctx, m)
	got := nextMapping(t, ctx, mapped, result)
	if got.External != ext || got.Lifetime != 120*time.Second {
		t.Errorf("mapping %+v", got)
	}
	stop()
	awaitResult(t, ctx, result)
}

// A gateway that grants a 2 s lease sees the mapping renewed before it
// lapses, with the same nonce and the external port suggested.
func TestShortLeaseIsRenewed(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	g := newFakePMP(t, func(r pmpRequest) [][]byte {
		return [][]byte{pcpAnswer(r, 0, min(r.lifetime, 2), 100, ext)}
	})
	m, _ := New(testConfig(PCP, g.port(), 0), localSocket(t))
	rctx, stop := context.WithCancel(ctx)
	mapped, result := run(t, rctx, m)
	first := nextMapping(t, ctx, mapped, result)
	if first.Lifetime != 2*time.Second {
		t.Fatalf("mapping %+v", first)
	}
	start := time.Now()
	g.waitFor(ctx, "two renewals", func(rs []pmpRequest) bool { return len(rs) >= 3 })
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("two renewals of a 2 s lease took %v", d)
	}
	stop()
	awaitResult(t, ctx, result)
	reqs := g.requests()
	for _, r := range reqs[1:] {
		if r.nonce != reqs[0].nonce {
			t.Errorf("renewal with another nonce: %+v", r)
		}
	}
	if r := reqs[1]; r.suggest != ext.Port() || r.lifetime == 0 {
		t.Errorf("renewal %+v does not ask for the granted port", r)
	}
	select {
	case pm := <-mapped:
		t.Errorf("unchanged renewal reported again: %+v", pm)
	default:
	}
}

// A NAT-PMP gateway that restarts (its epoch goes back) may have a new
// external address: the mapper asks again and reports the new address.
func TestNATPMPEpochReset(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	newExt := netip.MustParseAddrPort("203.0.113.9:41000")
	g := newFakePMP(t, func(r pmpRequest) [][]byte {
		return [][]byte{natpmpAnswer(r, 0, 5000, ext, min(r.lifetime, 2))}
	})
	m, _ := New(testConfig(NATPMP, g.port(), 0), localSocket(t))
	rctx, stop := context.WithCancel(ctx)
	mapped, result := run(t, rctx, m)
	if got := nextMapping(t, ctx, mapped, result); got.External != ext {
		t.Fatalf("mapping %+v", got)
	}
	// The "restart": epoch 3, another external address.
	g.setReply(func(r pmpRequest) [][]byte {
		return [][]byte{natpmpAnswer(r, 0, 3, newExt, min(r.lifetime, 2))}
	})
	if got := nextMapping(t, ctx, mapped, result); got.External != newExt {
		t.Errorf("after the restart: %+v, want external %v", got, newExt)
	}
	stop()
	awaitResult(t, ctx, result)
}

// A renewal that fails keeps being retried, and a lapsed mapping is made
// anew, with whatever port the gateway now grants.
func TestRenewalFailureAndRecovery(t *testing.T) {
	ctx := testContext(t, 20*time.Second)
	g := newFakePMP(t, func(r pmpRequest) [][]byte {
		return [][]byte{pcpAnswer(r, 0, min(r.lifetime, 2), 100, ext)}
	})
	m, _ := New(testConfig(PCP, g.port(), 0), localSocket(t))
	rctx, stop := context.WithCancel(ctx)
	mapped, result := run(t, rctx, m)
	nextMapping(t, ctx, mapped, result)
	g.setReply(func(r pmpRequest) [][]byte { return [][]byte{pcpAnswer(r, 7, 0, 100, ext)} }) // network failure
	n := len(g.requests())
	g.waitFor(ctx, "a failed renewal and a retry", func(rs []pmpRequest) bool { return len(rs) >= n+2 })
	moved := netip.MustParseAddrPort("198.51.100.7:42000")
	g.setReply(func(r pmpRequest) [][]byte { return [][]byte{pcpAnswer(r, 0, min(r.lifetime, 2), 400, moved)} })
	if got := nextMapping(t, ctx, mapped, result); got.External != moved {
		t.Errorf("after recovery: %+v, want %v", got, moved)
	}
	stop()
	awaitResult(t, ctx, result)
}

func TestUPnPMapRenewDelete(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	u := newFakeUPnP(t)
	local := localSocket(t)
	cfg := testConfig(UPnP, 0, u.port())
	cfg.Lifetime = time.Hour
	m, _ := New(cfg, local)
	rctx, stop := context.WithCancel(ctx)
	mapped, result := run(t, rctx, m)
	got := nextMapping(t, ctx, mapped, result)
	want := Mapping{Protocol: UPnP, Internal: local, External: netip.AddrPortFrom(netip.MustParseAddr("198.51.100.7"), local.Port()),
		Lifetime: time.Hour, Gateway: loopback}
	if got != want {
		t.Errorf("mapping %+v, want %+v", got, want)
	}
	maps, leases, _ := u.state()
	if maps[itoa(local.Port())] != local.String() || leases[0] != "3600" {
		t.Errorf("gateway table %v, leases %v", maps, leases)
	}
	stop()
	awaitResult(t, ctx, result)
	maps, _, deleted := u.state()
	if len(maps) != 0 || len(deleted) != 1 {
		t.Errorf("after Run: table %v, deleted %v", maps, deleted)
	}
}

func TestUPnPCornerCases(t *testing.T) {
	t.Run("port taken", func(t *testing.T) {
		ctx := testContext(t, 10*time.Second)
		u := newFakeUPnP(t)
		u.mu.Lock()
		u.fault["AddPortMapping"] = []int{718}
		u.mu.Unlock()
		local := localSocket(t)
		m, _ := New(testConfig(UPnP, 0, u.port()), local)
		rctx, stop := context.WithCancel(ctx)
		mapped, result := run(t, rctx, m)
		got := nextMapping(t, ctx, mapped, result)
		if got.External.Port() == local.Port() || got.External.Port() < 1024 {
			t.Errorf("after a conflict: %+v", got)
		}
		stop()
		awaitResult(t, ctx, result)
	})
	t.Run("permanent leases only", func(t *testing.T) {
		ctx := testContext(t, 10*time.Second)
		u := newFakeUPnP(t)
		u.mu.Lock()
		u.fault["AddPortMapping"] = []int{725}
		u.mu.Unlock()
		m, _ := New(testConfig(UPnP, 0, u.port()), localSocket(t))
		rctx, stop := context.WithCancel(ctx)
		mapped, result := run(t, rctx, m)
		if got := nextMapping(t, ctx, mapped, result); got.Lifetime != 0 {
			t.Errorf("mapping %+v, want a permanent one", got)
		}
		stop()
		awaitResult(t, ctx, result)
		_, leases, deleted := u.state()
		if !slices.Equal(leases, []string{"0"}) || len(deleted) != 1 {
			t.Errorf("leases %v, deleted %v: the permanent mapping must be deleted", leases, deleted)
		}
	})
	for _, c := range []struct {
		name  string
		setup func(*fakeUPnP)
		want  error
	}{
		{"refused", func(u *fakeUPnP) { u.fault["AddPortMapping"] = []int{606} }, ErrRefused},
		{"conflicts everywhere", func(u *fakeUPnP) { u.fault["AddPortMapping"] = []int{718, 718, 718, 718, 718, 718} }, ErrRefused},
		{"no connection service", func(u *fakeUPnP) { u.desc = `<root><device><serviceList>%s</serviceList></device></root>` }, ErrUnsupported},
		{"control URL on another host", func(u *fakeUPnP) {
			u.desc = `<root><device><serviceList><service><serviceType>urn:schemas-upnp-org:service:WANIPConnection:1</serviceType><controlURL>http://192.0.2.1%s</controlURL></service></serviceList></device></root>`
		}, ErrUnsupported},
		{"LOCATION on another host", func(u *fakeUPnP) { u.location = "http://192.0.2.1:80/rootDesc.xml" }, ErrMalformed},
		{"bad external address", func(u *fakeUPnP) { u.external = "0.0.0.0" }, ErrMalformed},
		{"description not XML", func(u *fakeUPnP) { u.desc = "<root><device>%s" }, ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx := testContext(t, 10*time.Second)
			u := newFakeUPnP(t)
			u.mu.Lock()
			c.setup(u)
			u.mu.Unlock()
			cfg := testConfig(UPnP, 0, u.port())
			cfg.Timeout = 700 * time.Millisecond
			m, _ := New(cfg, localSocket(t))
			mapped, result := run(t, ctx, m)
			if err := awaitResult(t, ctx, result); !errors.Is(err, c.want) {
				t.Errorf("Run: %v, want %v", err, c.want)
			}
			select {
			case pm := <-mapped:
				t.Errorf("reported a mapping %+v", pm)
			default:
			}
			if maps, _, _ := u.state(); len(maps) != 0 {
				t.Errorf("left mappings behind: %v", maps)
			}
		})
	}
}

// With every protocol offered, one mapping is kept and a second one that
// also succeeded is deleted.
func TestAllProtocolsKeepOne(t *testing.T) {
	ctx := testContext(t, 10*time.Second)
	g := newFakePMP(t, func(r pmpRequest) [][]byte { return [][]byte{pcpAnswer(r, 0, r.lifetime, 100, ext)} })
	u := newFakeUPnP(t)
	m, _ := New(testConfig(All, g.port(), u.port()), localSocket(t))
	rctx, stop := context.WithCancel(ctx)
	mapped, result := run(t, rctx, m)
	got := nextMapping(t, ctx, mapped, result)
	stop()
	awaitResult(t, ctx, result)
	maps, _, _ := u.state()
	if len(maps) != 0 {
		t.Errorf("UPnP table after Run (kept %v): %v", got.Protocol, maps)
	}
	reqs := g.requests()
	if got.Protocol == PCP || len(reqs) > 1 {
		if last := reqs[len(reqs)-1]; last.lifetime != 0 {
			t.Errorf("PCP mapping not deleted (kept %v): %+v", got.Protocol, reqs)
		}
	}
}

func TestNewRejectsBadLocal(t *testing.T) {
	for _, a := range []string{"0.0.0.0:5000", "[::1]:5000", "10.0.0.1:0", "224.0.0.1:5000"} {
		if _, err := New(Config{}, netip.MustParseAddrPort(a)); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%s): %v, want ErrConfig", a, err)
		}
	}
	if _, err := New(Config{}, netip.MustParseAddrPort("[::ffff:10.0.0.1]:5000")); err != nil {
		t.Errorf("IPv4-mapped address: %v", err)
	}
}

func TestParseProtocols(t *testing.T) {
	for in, want := range map[string]Protocol{
		"": 0, "off": 0, "all": All, "pcp": PCP, "natpmp,upnp": NATPMP | UPnP, " PCP , nat-pmp ": PCP | NATPMP,
	} {
		got, err := ParseProtocols(in)
		if err != nil || got != want {
			t.Errorf("ParseProtocols(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := ParseProtocols("pcp,stun"); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown protocol: %v", err)
	}
	if s := (PCP | UPnP).String(); s != "pcp,upnp" {
		t.Errorf("String: %q", s)
	}
}

func TestEpochConsistent(t *testing.T) {
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		prev, now uint32
		elapsed   time.Duration
		want      bool
	}{
		{100, 100, 0, true},
		{100, 160, time.Minute, true},
		{100, 99, 0, true},             // a second back is allowed
		{100, 98, 0, false},            // further back: restarted
		{100, 5, time.Minute, false},   // restarted
		{100, 100, time.Minute, false}, // the server's clock stood still
		{100, 1000, time.Minute, false},
		{0, 3600, time.Hour, true},
		{0, 3600 - 200, time.Hour, true}, // within 1/16
		{0, 3000, time.Hour, false},
	} {
		if got := epochConsistent(c.prev, t0, c.now, t0.Add(c.elapsed)); got != c.want {
			t.Errorf("epoch %d → %d after %v: %v, want %v", c.prev, c.now, c.elapsed, got, c.want)
		}
	}
}

func TestParseProcRoute(t *testing.T) {
	table := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n" +
		"eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"eth0\t00000000\t0200000A\t0003\t0\t0\t50\t00000000\t0\t0\t0\n" +
		"wlan0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"eth1\t00000000\t00000000\t0001\t0\t0\t0\t00000000\t0\t0\t0\n"
	for ifname, want := range map[string]string{"eth0": "10.0.0.2", "wlan0": "192.168.1.1"} {
		got, err := parseProcRoute([]byte(table), ifname)
		// The table is written in little-endian host order, as on x86 and
		// arm64; on a big-endian machine the same bytes mean other
		// addresses.
		if isLittleEndian() && (err != nil || got.String() != want) {
			t.Errorf("%s: %v, %v; want %s", ifname, got, err, want)
		}
	}
	for _, ifname := range []string{"eth1", "eth9"} {
		if _, err := parseProcRoute([]byte(table), ifname); !errors.Is(err, ErrNoGateway) {
			t.Errorf("%s: %v, want ErrNoGateway", ifname, err)
		}
	}
}
