package app

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/identity"
	"github.com/direkt/direkt/internal/known"
	"github.com/direkt/direkt/internal/pairing"
)

// ringTTL is the test server's ring time: how long a call that nobody
// takes rings before the caller hears "unavailable".
const ringTTL = 2 * time.Second

func knownByFP(st console.State, fp string) (console.KnownPeer, bool) {
	for _, k := range st.Known {
		if k.Fingerprint == fp {
			return k, true
		}
	}
	return console.KnownPeer{}, false
}

// newWaiting calls New on an ended host and waits for its new code.
func newWaiting(t *testing.T, ctx context.Context, h *Host) console.State {
	t.Helper()
	if err := h.New(); err != nil {
		t.Fatalf("New: %v", err)
	}
	return waitState(t, ctx, h, "a new code", func(st console.State) bool { return st.Phase == PhaseWaiting && st.Code != "" })
}

// endByHost ends the running consultation from the host and waits for the
// client's run to return.
func endByHost(t *testing.T, ctx context.Context, h *Host, joined <-chan error) {
	t.Helper()
	if err := h.End(); err != nil {
		t.Fatalf("End: %v", err)
	}
	if err := result(t, ctx, joined); err != nil {
		t.Errorf("the client's run: %v", err)
	}
	waitState(t, ctx, h, "ended", phaseIs(PhaseEnded))
}

// TestKnownPeers follows a Go client from its first consultation by code
// through reconnections without a code: confirmed on first use, taken
// without asking later, not taken while the host is busy, refused, and
// revoked.
func TestKnownPeers(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 120*time.Second)
	server := newRendezvous(t, ringTTL)
	var hev, cev events
	hcfg := peerConfig(t, server, "Anna Berater", &hev)
	hcfg.RejoinServer = server
	h, err := NewHost(hcfg)
	if err != nil {
		t.Fatal(err)
	}
	startHost(t, ctx, h)
	// ccfg is the known client: each Join below is a later `direkt join`
	// with the same identity and data folder.
	ccfg := peerConfig(t, server, "Carl Kunde", &cev)
	hostFP, carlFP := identity.Fingerprint(pub(hcfg.Key)), identity.Fingerprint(pub(ccfg.Key))
	newJoin := func(cfg Config) *Join {
		t.Helper()
		j, err := NewJoin(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}

	// 1. A consultation by code: the host offers reconnection and
	// remembers the client, not yet allowed; the client remembers the host.
	j1 := newJoin(ccfg)
	_, _, joined := pairByCode(t, ctx, h, j1)
	hs := waitState(t, ctx, h, "the client known", func(st console.State) bool {
		_, ok := knownByFP(st, carlFP)
		return ok
	})
	if k, _ := knownByFP(hs, carlFP); k.Allowed || k.Name != "Carl Kunde" || k.Key != known.KeyString(pub(ccfg.Key)) {
		t.Errorf("host's known peer %+v, want Carl Kunde, not allowed", k)
	}
	endByHost(t, ctx, h, joined)
	hosts := j1.KnownHosts()
	if len(hosts) != 1 || !hosts[0].Key.Equal(pub(hcfg.Key)) || hosts[0].Server != server || hosts[0].Name != "Anna Berater" || len(hosts[0].Token) != known.TokenSize {
		t.Fatalf("client's known hosts %v, want Anna Berater on %s with a token", hosts, server)
	}
	if k, ok := knownByFP(j1.State(), hostFP); !ok || k.Name != "Anna Berater" {
		t.Errorf("client console's known hosts %+v", j1.State().Known)
	}
	for _, p := range []string{ccfg.DataDir + "/" + known.HostsFile, hcfg.DataDir + "/" + known.PeersFile} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", p, err, fi.Mode())
		}
	}

	// 2. The first reconnection waits for the adviser, who allows it.
	newWaiting(t, ctx, h)
	j2 := newJoin(ccfg)
	rejoined := goRun(t, ctx, func(ctx context.Context) error { return j2.RunRejoin(ctx, j2.KnownHosts()[0]) })
	hs = waitState(t, ctx, h, "the call", func(st console.State) bool { return len(st.Calling) == 1 })
	call := hs.Calling[0]
	if call.Fingerprint != carlFP || call.Name != "Carl Kunde" || call.Allowed {
		t.Errorf("calling %+v, want Carl Kunde, not allowed", call)
	}
	if hs.Phase != PhaseWaiting {
		t.Errorf("host phase %q while a first call waits for the adviser, want waiting", hs.Phase)
	}
	if e := hev.wait(t, ctx, "calling", nil); e.Peer != "Carl Kunde" {
		t.Errorf("calling event %+v", e)
	}
	if err := h.AllowPeer(call.Key, true); err != nil {
		t.Fatalf("AllowPeer: %v", err)
	}
	hs = waitState(t, ctx, h, "connected", phaseIs(PhaseConnected))
	js := waitState(t, ctx, j2, "connected", phaseIs(PhaseConnected))
	if hs.Phrase == "" || hs.Phrase != js.Phrase {
		t.Errorf("rejoin phrases %q and %q, want the same", hs.Phrase, js.Phrase)
	}
	if hs.Peer == nil || hs.Peer.Fingerprint != carlFP || js.Peer == nil || js.Peer.Fingerprint != hostFP {
		t.Errorf("rejoin peers %+v and %+v", hs.Peer, js.Peer)
	}
	if len(hs.Calling) != 0 {
		t.Errorf("still calling: %+v", hs.Calling)
	}
	if k, _ := knownByFP(hs, carlFP); !k.Allowed || k.LastSeen.IsZero() {
		t.Errorf("after the allowed call the host's entry is %+v, want allowed and seen", k)
	}
	chatBoth(t, ctx, h, j2, "Schön, dass Sie wieder da sind.", "Thanks.")
	if err := j2.End(); err != nil {
		t.Fatal(err)
	}
	if err := result(t, ctx, rejoined); err != nil {
		t.Errorf("RunRejoin: %v", err)
	}
	waitState(t, ctx, h, "ended", phaseIs(PhaseEnded))
	if hs := j2.KnownHosts(); len(hs) != 1 || hs[0].LastSeen.IsZero() {
		t.Errorf("client's known host after the rejoin: %v, want it seen", hs)
	}

	// 3. Later calls of an allowed peer are taken without asking; this one
	// comes from the client's console (Rejoin while Idle).
	newWaiting(t, ctx, h)
	j3 := newJoin(ccfg)
	idle := goRun(t, ctx, j3.Idle)
	k, ok := knownByFP(j3.State(), hostFP)
	if !ok {
		t.Fatal("the client's console does not list the host")
	}
	if err := j3.Rejoin(k.Key); err != nil {
		t.Fatalf("Rejoin: %v", err)
	}
	wantErr(t, "a second Rejoin click", j3.Rejoin(k.Key), ErrNotNow)
	waitState(t, ctx, h, "connected", phaseIs(PhaseConnected))
	waitState(t, ctx, j3, "connected", phaseIs(PhaseConnected))
	wantErr(t, "Rejoin while connected", j3.Rejoin(k.Key), ErrNotNow)
	endByHost(t, ctx, h, idle)
	if n := len(j3.rejoinCh); n != 0 {
		t.Errorf("%d Rejoin clicks are left for the next Idle", n)
	}
	if n := countKind(&hev, "calling"); n != 1 {
		t.Errorf("the adviser was asked %d times, want once", n)
	}

	// 4. While the host is in another consultation, a known peer's call is
	// not taken: it rings out.
	newWaiting(t, ctx, h)
	var oev events
	ocfg := peerConfig(t, server, "Olga Other", &oev)
	olgaFP := identity.Fingerprint(pub(ocfg.Key))
	o := newJoin(ocfg)
	_, _, ojoined := pairByCode(t, ctx, h, o)
	j4 := newJoin(ccfg)
	// A click in the console just before the run started is superseded
	// by the run, not kept for a later Idle.
	if err := j4.Rejoin(known.KeyString(pub(hcfg.Key))); err != nil {
		t.Fatalf("Rejoin: %v", err)
	}
	if err := j4.RunRejoin(ctx, j4.KnownHosts()[0]); !errors.Is(err, pairing.ErrUnavailable) {
		t.Errorf("rejoin while the host is busy: %v, want ErrUnavailable", err)
	}
	if n := len(j4.rejoinCh); n != 0 {
		t.Errorf("%d Rejoin clicks are left for the next Idle", n)
	}
	if st := j4.State(); st.Phase != PhaseFailed || st.Error == "" {
		t.Errorf("client after the unanswered call: phase %q error %q, want failed with a reason", st.Phase, st.Error)
	}
	hs = h.State()
	if hs.Phase != PhaseConnected || hs.Peer == nil || hs.Peer.Name != "Olga Other" || len(hs.Calling) != 0 {
		t.Errorf("busy host: %s", describe(hs))
	}
	endByHost(t, ctx, h, ojoined)

	// 5. A first call the adviser refuses rings out; the host keeps its code.
	waiting := newWaiting(t, ctx, h)
	o2 := newJoin(ocfg)
	refused := goRun(t, ctx, func(ctx context.Context) error { return o2.RunRejoin(ctx, o2.KnownHosts()[0]) })
	hs = waitState(t, ctx, h, "Olga's call", func(st console.State) bool { return len(st.Calling) == 1 })
	if hs.Calling[0].Fingerprint != olgaFP {
		t.Fatalf("calling %+v, want Olga", hs.Calling)
	}
	if err := h.AllowPeer(hs.Calling[0].Key, false); err != nil {
		t.Fatalf("AllowPeer false: %v", err)
	}
	waitState(t, ctx, h, "no call", func(st console.State) bool { return len(st.Calling) == 0 })
	if err := result(t, ctx, refused); !errors.Is(err, pairing.ErrUnavailable) {
		t.Errorf("refused rejoin: %v, want ErrUnavailable", err)
	}
	hs = h.State()
	if hs.Phase != PhaseWaiting || hs.Code != waiting.Code {
		t.Errorf("after a refused call the host shows phase %q code %q, want waiting with %q", hs.Phase, hs.Code, waiting.Code)
	}
	if k, ok := knownByFP(hs, olgaFP); !ok || k.Allowed {
		t.Errorf("refused peer: %+v, %v; want known, not allowed", k, ok)
	}

	// 6. A revoked peer can no longer reconnect.
	if err := h.RevokePeer(known.KeyString(pub(ccfg.Key))); err != nil {
		t.Fatalf("RevokePeer: %v", err)
	}
	if _, ok := knownByFP(h.State(), carlFP); ok {
		t.Error("the revoked peer is still listed")
	}
	j5 := newJoin(ccfg)
	if err := j5.RunRejoin(ctx, j5.KnownHosts()[0]); !errors.Is(err, pairing.ErrUnavailable) {
		t.Errorf("rejoin after revoke: %v, want ErrUnavailable", err)
	}
	if hs := h.State(); hs.Phase != PhaseWaiting || hs.Code != waiting.Code || len(hs.Calling) != 0 {
		t.Errorf("after a revoked peer's call: %s", describe(hs))
	}
	if err := h.RevokePeer(known.KeyString(pub(ccfg.Key))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("second RevokePeer: %v, want ErrNotExist", err)
	}

	// 7. The client forgets the host, for good.
	if err := j5.RevokePeer(known.KeyString(pub(hcfg.Key))); err != nil {
		t.Fatalf("client RevokePeer: %v", err)
	}
	if hs := newJoin(ccfg).KnownHosts(); len(hs) != 0 {
		t.Errorf("known hosts after revoking: %v", hs)
	}
	if err := j5.Rejoin(known.KeyString(pub(hcfg.Key))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rejoin of a forgotten host: %v, want ErrNotExist", err)
	}
}

func countKind(e *events, kind string) int {
	n := 0
	for _, k := range e.kinds() {
		if k == kind {
			n++
		}
	}
	return n
}
