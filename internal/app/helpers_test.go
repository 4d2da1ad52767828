package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/testwatch"
)

func TestMain(m *testing.M) {
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}

// leakCheck verifies, after everything else the test cleans up, that none of
// its goroutines outlived it. Call it first in a test.
func leakCheck(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// testCtx bounds a test well below the test binary's timeout.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// testLogger logs at the level of $APP_TEST_LOG (e.g. DEBUG-4; slog reads level names, not numbers), else nothing.
func testLogger() *slog.Logger {
	lvl := slog.LevelError + 100
	if v := os.Getenv("APP_TEST_LOG"); v != "" {
		_ = lvl.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// newRendezvous runs a real rendezvous server on loopback and returns its
// URL. ringTTL 0 is the server's default.
func newRendezvous(t *testing.T, ringTTL time.Duration) string {
	t.Helper()
	rv := rendezvous.New(rendezvous.Config{
		RingTTL:         ringTTL,
		AllocsPerMinute: 1 << 20,
		ClaimsPerMinute: 1 << 20,
		Logger:          testLogger(),
	})
	hs := httptest.NewServer(rv.Handler())
	t.Cleanup(func() {
		rv.Close()
		hs.Close()
	})
	return hs.URL
}

func newKey(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pub(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// events collects a peer's OnEvent calls.
type events struct {
	mu      sync.Mutex
	all     []Event
	changed chan struct{} // closed and replaced by each event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	if e.changed != nil {
		close(e.changed)
		e.changed = nil
	}
	e.mu.Unlock()
}

// wait waits for an event of kind for which ok holds (nil: any) and
// returns it.
func (e *events) wait(t *testing.T, ctx context.Context, kind string, ok func(Event) bool) Event {
	t.Helper()
	for {
		e.mu.Lock()
		for _, ev := range e.all {
			if ev.Kind == kind && (ok == nil || ok(ev)) {
				e.mu.Unlock()
				return ev
			}
		}
		if e.changed == nil {
			e.changed = make(chan struct{})
		}
		ch := e.changed
		e.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("waiting for a %s event: %v; got %v", kind, ctx.Err(), e.kinds())
		}
	}
}

func (e *events) kinds() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.all {
		out = append(out, ev.Kind)
	}
	return out
}

// peerConfig is a peer's configuration: its own key and data folder, real
// sessions on loopback.
func peerConfig(t *testing.T, server, name string, ev *events) Config {
	return Config{
		Server:          server,
		Name:            name,
		Lang:            code.German,
		Key:             newKey(t),
		DataDir:         t.TempDir(),
		IncludeLoopback: true,
		Logger:          testLogger(),
		OnEvent:         ev.add,
	}
}

// running is a Host's Run in the background, owned by the test: Cleanup
// cancels it and waits for it.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func startHost(t *testing.T, ctx context.Context, h *Host) *running {
	t.Helper()
	rctx, cancel := context.WithCancel(ctx)
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- h.Run(rctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels Run and waits for it; Run returns nil when its context ends.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok && err != nil {
			t.Errorf("Host.Run: %v", err)
		}
		if ok {
			close(r.done)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("Host.Run did not return 30 s after its context ended")
	}
}

// goRun runs f (a Join's Run or RunRejoin) in the background; the returned
// channel yields its error. Cleanup cancels f's context and waits for it.
func goRun(t *testing.T, ctx context.Context, f func(context.Context) error) <-chan error {
	t.Helper()
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		done <- f(rctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			t.Errorf("a join did not return 30 s after its context ended")
		}
	})
	return done
}

// result waits for a background run's error.
func result(t *testing.T, ctx context.Context, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		t.Fatalf("run did not return: %v", ctx.Err())
		return nil
	}
}

// waitState waits until cond holds for b's State, woken only by b.Changed:
// a change the backend does not announce makes the test fail at ctx's
// deadline, as the console would never show it.
func waitState(t *testing.T, ctx context.Context, b console.Backend, what string, cond func(console.State) bool) console.State {
	t.Helper()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch := b.Changed(wctx)
	for {
		st := b.State()
		if cond(st) {
			return st
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%s %s: waiting for %s: %v\nstate: %s", st.Role, t.Name(), what, ctx.Err(), describe(st))
		}
	}
}

func phaseIs(phase string) func(console.State) bool {
	return func(st console.State) bool { return st.Phase == phase }
}

// describe is a State for a failure message (no file contents there anyway).
func describe(st console.State) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s error=%q code=%q phrase=%q recording=%s end=%q", st.Phase, st.Error, st.Code, st.Phrase, st.Recording, st.EndReason)
	for _, a := range st.Asks {
		fmt.Fprintf(&b, "\n  ask %s %s %s", a.ID, a.What, a.State)
	}
	for _, f := range st.Files {
		fmt.Fprintf(&b, "\n  file %s %s %s %s %d/%d %s", f.ID, f.From, f.Kind, f.State, f.Done, f.Size, f.Error)
	}
	for _, c := range st.Chat {
		fmt.Fprintf(&b, "\n  chat %s %q", c.From, c.Text)
	}
	for _, k := range st.Known {
		fmt.Fprintf(&b, "\n  known %s allowed=%v", k.Name, k.Allowed)
	}
	for _, k := range st.Calling {
		fmt.Fprintf(&b, "\n  calling %s", k.Name)
	}
	if st.Record != nil {
		fmt.Fprintf(&b, "\n  record %s", st.Record.ID)
	}
	return b.String()
}

// phases records the distinct phases a backend goes through, as the console
// sees them (coalesced changes may skip a short phase).
type phases struct {
	mu     sync.Mutex
	seen   []string
	cancel context.CancelFunc
	done   chan struct{}
}

func watchPhases(t *testing.T, ctx context.Context, b console.Backend) *phases {
	wctx, cancel := context.WithCancel(ctx)
	p := &phases{cancel: cancel, done: make(chan struct{})}
	ch := b.Changed(wctx)
	p.note(b.State().Phase)
	go func() {
		defer close(p.done)
		for {
			select {
			case <-ch:
				p.note(b.State().Phase)
			case <-wctx.Done():
				return
			}
		}
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *phases) note(phase string) {
	p.mu.Lock()
	if n := len(p.seen); n == 0 || p.seen[n-1] != phase {
		p.seen = append(p.seen, phase)
	}
	p.mu.Unlock()
}

func (p *phases) stop() {
	p.cancel()
	<-p.done
}

func (p *phases) list() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

// checkPhases checks that got is want in order, where the phases in
// optional may be missing (too short to be seen).
func checkPhases(t *testing.T, who string, got, want []string, optional ...string) {
	t.Helper()
	var g []string
	for _, p := range got {
		if !slices.Contains(optional, p) {
			g = append(g, p)
		}
	}
	var w []string
	for _, p := range want {
		if !slices.Contains(optional, p) {
			w = append(w, p)
		}
	}
	if !slices.Equal(g, w) {
		t.Errorf("%s went through phases %v, want %v (%v optional)", who, got, want, optional)
	}
	// The optional ones that were seen are in their place.
	i := 0
	for _, p := range got {
		for i < len(want) && want[i] != p {
			i++
		}
		if i == len(want) {
			t.Errorf("%s went through phases %v: out of the order %v", who, got, want)
			return
		}
	}
}

// randomData returns n random bytes and their SHA-256 in hex.
func randomData(t *testing.T, n int) ([]byte, string) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

// dirNames lists a folder; a missing folder is empty.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// readAllClose reads an opened download.
func readAllClose(t *testing.T, f io.ReadSeekCloser) []byte {
	t.Helper()
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func findAsk(st console.State, what, state string) (console.Ask, bool) {
	for _, a := range st.Asks {
		if a.What == what && a.State == state {
			return a, true
		}
	}
	return console.Ask{}, false
}

func findFile(st console.State, from, name string) (console.File, bool) {
	for _, f := range st.Files {
		if f.From == from && f.Name == name {
			return f, true
		}
	}
	return console.File{}, false
}

func hasChat(st console.State, from, text string) bool {
	for _, c := range st.Chat {
		if c.From == from && c.Text == text {
			return true
		}
	}
	return false
}

// sameBytes reports whether the file at path holds b.
func sameBytes(t *testing.T, path string, b []byte) bool {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v", filepath.Base(path), err)
		return false
	}
	return bytes.Equal(got, b)
}

// newPeers makes a host, Anna, and a client, Carl, for server, each with
// its own events. adjust, unless nil, changes the host's config first.
func newPeers(t *testing.T, server string, adjust func(*Config)) (*Host, *Join, *events, *events) {
	t.Helper()
	hev, jev := new(events), new(events)
	hcfg := peerConfig(t, server, "Anna", hev)
	if adjust != nil {
		adjust(&hcfg)
	}
	h, err := NewHost(hcfg)
	if err != nil {
		t.Fatal(err)
	}
	j, err := NewJoin(peerConfig(t, server, "Carl", jev))
	if err != nil {
		t.Fatal(err)
	}
	return h, j, hev, jev
}
