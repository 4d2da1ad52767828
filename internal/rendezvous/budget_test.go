package rendezvous_test

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/wire"
)

// Tests of the server-wide budgets (budget.go) and the per-address limits
// that go with them, over real WebSockets on loopback. Hostile clients come
// from distinct source addresses in 127.0.0.0/8, so that each has its own
// per-address limits and only the server-wide budgets stop them together,
// as they must stop an attacker with many addresses (or IPv6 /64s).

// srcAddr is the i-th hostile source address: 127.1.x.y.
func srcAddr(i int) net.IP { return net.IPv4(127, 1, byte(i>>8), byte(i)) }

// fromOpts makes mailbox connections from source address ip.
func fromOpts(ip net.IP) *mailbox.DialOptions {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	return &mailbox.DialOptions{NetDial: d.DialContext}
}

func dialFrom(t testing.TB, url string, ip net.IP) *mailbox.Conn {
	t.Helper()
	c, err := mailbox.Dial(testCtx(t), url, fromOpts(ip))
	if err != nil {
		t.Fatalf("dial from %s: %v", ip, err)
	}
	t.Cleanup(func() { _ = c.Close(wire.MoodHappy) })
	return c
}

// expectBusy checks that err is the server's "busy" refusal: a
// rate-limited error whose message a person can act on.
func expectBusy(t testing.TB, err error, what string) {
	t.Helper()
	var se *mailbox.ServerError
	if !errors.Is(err, mailbox.ErrRateLimited) || !errors.As(err, &se) || !strings.Contains(se.Message, "server is busy") {
		t.Fatalf("%s: %v, want the server's busy refusal", what, err)
	}
}

// pairFrom pairs two connections from address ip.
func pairFrom(t testing.TB, url string, ip net.IP) (a, b *mailbox.Conn) {
	t.Helper()
	ctx := testCtx(t)
	a, b = dialFrom(t, url, ip), dialFrom(t, url, ip)
	np, _, err := a.Allocate(ctx)
	if err != nil {
		t.Fatalf("allocate from %s: %v", ip, err)
	}
	if _, err := b.Claim(ctx, np); err != nil {
		t.Fatalf("claim from %s: %v", ip, err)
	}
	expect(t, a, wire.TypePaired, "")
	expect(t, b, wire.TypePaired, "")
	return a, b
}

// pump adds full-size bodies on c until the server refuses one, and returns
// the refusal. A refused add is answered with an error frame, which the
// other side's frames may precede.
func pump(t testing.TB, c *mailbox.Conn) error {
	t.Helper()
	ctx := testCtx(t)
	body := make([]byte, wire.MaxBody)
	for range wire.MaxBodiesPerSide {
		if err := c.Add(ctx, body); err != nil {
			break
		}
	}
	for {
		f, err := c.Next(ctx)
		if err != nil {
			return err
		}
		if f.Type == wire.TypeClosed {
			return fmt.Errorf("closed with mood %s", f.Mood)
		}
	}
}

// TestBudgetMailboxes: allocations from many addresses stop at
// MaxMailboxes with a clear error; a nameplate allocated already can still
// be claimed, and a closed mailbox makes room again.
func TestBudgetMailboxes(t *testing.T) {
	const budget = 5
	s, url := start(t, rendezvous.Config{MaxMailboxes: budget})
	ctx := testCtx(t)
	var first string
	for i := range budget {
		np, _, err := dialFrom(t, url, srcAddr(i)).Allocate(ctx)
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if i == 0 {
			first = np
		}
	}
	_, _, err := dialFrom(t, url, srcAddr(budget)).Allocate(ctx)
	expectBusy(t, err, "allocation over the budget")
	if st := s.Stats(); st.Mailboxes != budget || st.Refused != 1 {
		t.Fatalf("stats %+v, want %d mailboxes and 1 refusal", st, budget)
	}
	// The honest peer of the first nameplate joins it all the same.
	b := dialFrom(t, url, srcAddr(100))
	if _, err := b.Claim(ctx, first); err != nil {
		t.Fatalf("claim of an allocated nameplate while the budget is full: %v", err)
	}
	expect(t, b, wire.TypePaired, "")
	if err := b.Close(wire.MoodHappy); err != nil {
		t.Fatal(err)
	}
	// Its mailbox closed: there is room for one more.
	waitFor(t, func() bool { return s.Stats().Mailboxes == budget-1 })
	if _, _, err := dialFrom(t, url, srcAddr(101)).Allocate(ctx); err != nil {
		t.Fatalf("allocation after a mailbox closed: %v", err)
	}
}

// TestBudgetBeforePairing reproduces the unclaimed-mailbox attack: a side
// that allocated queues full-size bodies nobody will claim. It now holds
// no more than MailboxReserve.
func TestBudgetBeforePairing(t *testing.T) {
	s, url := start(t, rendezvous.Config{})
	ctx := testCtx(t)
	a := dialFrom(t, url, srcAddr(1))
	if _, _, err := a.Allocate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := pump(t, a); !errors.Is(err, mailbox.ErrTooMany) {
		t.Fatalf("bodies queued before pairing: %v, want too-many", err)
	}
	waitFor(t, func() bool { return s.Stats().Mailboxes == 0 })
	if st := s.Stats(); st.QueuedBytes != 0 {
		t.Fatalf("queued bytes %d after the mailbox ended", st.QueuedBytes)
	}
}

// TestBudgetQueuedBytes: attackers from many addresses pair with
// themselves and queue all they may. Together they stop at
// MaxQueuedBytes; an honest pair opened before goes on, and a new one is
// told the server is busy.
func TestBudgetQueuedBytes(t *testing.T) {
	const budget = 20 * rendezvous.MailboxReserve
	s, url := start(t, rendezvous.Config{MaxQueuedBytes: budget})
	ctx := testCtx(t)
	ha, hb := pairFrom(t, url, srcAddr(999))

	refusedBusy := false
	for i := 0; i < 8 && !refusedBusy; i++ {
		a, _ := pairFrom(t, url, srcAddr(i))
		err := pump(t, a)
		if st := s.Stats(); st.QueuedBytes > budget {
			t.Fatalf("attacker %d: %d bytes queued, budget %d", i, st.QueuedBytes, budget)
		}
		switch {
		case err == nil || !errors.Is(err, mailbox.ErrRateLimited):
			// All its bodies fit.
		default:
			expectBusy(t, err, fmt.Sprintf("attacker %d", i))
			refusedBusy = true
		}
	}
	if !refusedBusy {
		t.Fatal("the attackers never ran into the budget")
	}
	// The honest pair's signalling fits its reserve.
	for i := range 10 {
		msg := strings.Repeat("x", 1000) + fmt.Sprint(i)
		if err := ha.Add(ctx, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		expect(t, hb, wire.TypeMessage, msg)
	}
	// Mailboxes the attackers hold keep their reserves until they end,
	// so there may be no room for a new one: then the honest user hears so.
	x := dialFrom(t, url, srcAddr(1000))
	if _, _, err := x.Allocate(ctx); err != nil {
		expectBusy(t, err, "allocation with the queue budget spent")
	}
}

// TestBudgetQueuedPerAddress: one address pairing with itself stops at
// MaxQueuedBytesPerIP; another address is not affected.
func TestBudgetQueuedPerAddress(t *testing.T) {
	const perIP = 200_000 // about 9 full-size bodies
	_, url := start(t, rendezvous.Config{MaxQueuedBytesPerIP: perIP})
	a, _ := pairFrom(t, url, srcAddr(1))
	err := pump(t, a)
	var se *mailbox.ServerError
	if !errors.Is(err, mailbox.ErrRateLimited) || !errors.As(err, &se) || !strings.Contains(se.Message, "this address") {
		t.Fatalf("queueing past the per-address limit: %v", err)
	}
	c, _ := pairFrom(t, url, srcAddr(2))
	if err := c.Add(testCtx(t), make([]byte, wire.MaxBody)); err != nil {
		t.Fatal(err)
	}
}

// TestBudgetChannels: listeners stop at MaxChannelsPerIP and MaxChannels;
// a listener that listens again on what it holds is not refused.
func TestBudgetChannels(t *testing.T) {
	s, url := start(t, rendezvous.Config{MaxChannels: 2500, MaxChannelsPerIP: 1500})
	ctx := testCtx(t)
	chans := func(k int) []string {
		cs := make([]string, wire.MaxListenChannels)
		for i := range cs {
			cs[i] = fmt.Sprintf("%016x%016x", k, i)
		}
		return cs
	}
	// listenOn listens from address i and returns the server's answer.
	listenOn := func(c *mailbox.Conn, k int) (wire.Frame, error) {
		if err := c.Listen(ctx, chans(k)); err != nil {
			t.Fatal(err)
		}
		return c.Next(ctx)
	}
	l1 := dialFrom(t, url, srcAddr(1))
	if f, err := listenOn(l1, 1); err != nil || f.Type != wire.TypeListening {
		t.Fatalf("first listen: %s, %v", f.Type, err)
	}
	_, err := listenOn(dialFrom(t, url, srcAddr(1)), 2)
	var se *mailbox.ServerError
	if !errors.Is(err, mailbox.ErrRateLimited) || !errors.As(err, &se) || !strings.Contains(se.Message, "this address") {
		t.Fatalf("listen past the per-address limit: %v", err)
	}
	if f, err := listenOn(dialFrom(t, url, srcAddr(2)), 3); err != nil || f.Type != wire.TypeListening {
		t.Fatalf("listen from another address: %s, %v", f.Type, err)
	}
	_, err = listenOn(dialFrom(t, url, srcAddr(3)), 4)
	expectBusy(t, err, "listen past the channel budget")
	if f, err := listenOn(l1, 1); err != nil || f.Type != wire.TypeListening {
		t.Fatalf("listening again on the same channels: %s, %v", f.Type, err)
	}
	if st := s.Stats(); st.Channels != 2*wire.MaxListenChannels {
		t.Fatalf("%d channels held, want %d", st.Channels, 2*wire.MaxListenChannels)
	}
}

// TestBudgetConns: past MaxConns a connection is told the server is busy,
// in words both clients show; when one leaves there is room again.
func TestBudgetConns(t *testing.T) {
	const budget = 4
	s, url := start(t, rendezvous.Config{MaxConns: budget})
	ctx := testCtx(t)
	var cs []*mailbox.Conn
	for i := range budget {
		cs = append(cs, dialFrom(t, url, srcAddr(i)))
	}
	c := dialFrom(t, url, srcAddr(budget))
	_, _, err := c.Allocate(ctx)
	expectBusy(t, err, "allocation on a connection over the budget")
	if st := s.Stats(); st.Conns != budget {
		t.Fatalf("%d connections counted, want %d", st.Conns, budget)
	}
	_ = cs[0].Close(wire.MoodHappy)
	waitFor(t, func() bool { return s.Stats().Conns < budget })
	if _, _, err := dialFrom(t, url, srcAddr(budget+1)).Allocate(ctx); err != nil {
		t.Fatalf("allocation after a connection left: %v", err)
	}
}

// waitFor polls cond until it holds or the test context ends.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	ctx := testCtx(t)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("condition never met")
		case <-tick.C:
		}
	}
}
