package consult

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/testwatch"
	"github.com/direkt/direkt/internal/wire"
)

func TestMain(m *testing.M) {
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}

// leakCheck verifies after the test that none of its goroutines outlived it.
func leakCheck(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t) })
}

// testCtx bounds a test well below the test binary's timeout.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// testLogger logs at the level of $CONSULT_TEST_LOG (e.g. DEBUG-4; slog reads level names, not numbers), else nothing.
func testLogger() *slog.Logger {
	lvl := slog.LevelError + 100
	if v := os.Getenv("CONSULT_TEST_LOG"); v != "" {
		_ = lvl.UnmarshalText([]byte(v))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// pipeSignaller is one end of an in-memory signalling channel; every message
// goes through JSON like the real sealed frames.
type pipeSignaller struct {
	in  <-chan []byte
	out chan<- []byte
}

func (p *pipeSignaller) Send(ctx context.Context, s wire.Signal) error {
	if err := s.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	select {
	case p.out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *pipeSignaller) Recv(ctx context.Context) (wire.Signal, error) {
	select {
	case b := <-p.in:
		var s wire.Signal
		err := json.Unmarshal(b, &s)
		return s, err
	case <-ctx.Done():
		return wire.Signal{}, ctx.Err()
	}
}

// connectPair connects two real sessions over loopback: a (the host's,
// pairing role a) and b. Both are closed when the test ends.
func connectPair(t testing.TB) (a, b *session.Session) {
	t.Helper()
	ab, ba := make(chan []byte, 1024), make(chan []byte, 1024)
	key := [32]byte{7, 7, 7}
	base := session.Config{BindingKey: key, IncludeLoopback: true, Logger: testLogger()}
	ca, cb := base, base
	ca.Role, ca.Signaller = wire.RoleA, &pipeSignaller{in: ba, out: ab}
	cb.Role, cb.Signaller = wire.RoleB, &pipeSignaller{in: ab, out: ba}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errA, errB error
	var wg sync.WaitGroup
	wg.Go(func() { a, errA = session.Connect(ctx, ca) })
	wg.Go(func() { b, errB = session.Connect(ctx, cb) })
	wg.Wait()
	for _, s := range []*session.Session{a, b} {
		if s != nil {
			t.Cleanup(func() { _ = s.Close() })
		}
	}
	if errA != nil || errB != nil {
		t.Fatalf("connect: a: %v; b: %v", errA, errB)
	}
	return a, b
}

// hostConfig and clientConfig are the configurations of the tests' two
// sides, each with its own data folder.
func hostConfig(t testing.TB) Config {
	return Config{Role: Host, Name: "Anna Berater", Lang: "de", DataDir: t.TempDir(), Logger: testLogger(), announceWait: 300 * time.Millisecond}
}

func clientConfig(t testing.TB) Config {
	return Config{Role: Client, Name: "Carl Kunde", Lang: "en", Agent: "test", DataDir: t.TempDir(), Logger: testLogger(), announceWait: 300 * time.Millisecond}
}

// startPair starts a host and a client consultation over a new session
// pair. Both are ended (and the sessions closed) when the test ends.
func startPair(t testing.TB, hc, cc Config) (host, client *Consultation) {
	t.Helper()
	sa, sb := connectPair(t)
	ctx := testCtx(t)
	var errH, errC error
	var wg sync.WaitGroup
	wg.Go(func() { host, errH = Start(ctx, sa, hc) })
	wg.Go(func() { client, errC = Start(ctx, sb, cc) })
	wg.Wait()
	for _, c := range []*Consultation{host, client} {
		if c != nil {
			t.Cleanup(func() { _ = c.End("test over") })
		}
	}
	if errH != nil || errC != nil {
		t.Fatalf("start: host: %v; client: %v", errH, errC)
	}
	return host, client
}

// waitSnap waits until cond holds for c's Snapshot and returns it.
func waitSnap(t testing.TB, c *Consultation, what string, cond func(Snapshot) bool) Snapshot {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	changed := c.Changed(ctx)
	for {
		s := c.Snapshot()
		if cond(s) {
			return s
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s; snapshot: %+v", what, s)
		}
	}
}

func waitDone(t testing.TB, c *Consultation) {
	t.Helper()
	select {
	case <-c.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("%s consultation did not end", c.role)
	}
}

func fileByID(s Snapshot, id string) (File, bool) {
	for _, f := range s.Files {
		if f.ID == id {
			return f, true
		}
	}
	return File{}, false
}

func askByWhat(s Snapshot, what string) (Ask, bool) {
	for _, a := range s.Asks {
		if a.What == what {
			return a, true
		}
	}
	return Ask{}, false
}

func hasEvent(s Snapshot, kind, id string) bool {
	for _, e := range s.Events {
		if e.Kind == kind && e.ID == id {
			return true
		}
	}
	return false
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// pseudo returns n deterministic bytes.
func pseudo(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed) + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// listDir lists a folder's names, sorted; a missing folder is empty.
func listDir(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// rawPeer speaks the consult protocol by hand over a real session, to play
// a hostile or a watching peer.
type rawPeer struct {
	t  testing.TB
	s  *session.Session
	ch *session.Channel

	lines chan message // what the reader goroutine parsed
	rerr  chan error   // the reader's end
	wg    sync.WaitGroup
}

// newRawHost opens "consult" on s (the host's session) and sends a hello.
func newRawHost(t testing.TB, s *session.Session) *rawPeer {
	t.Helper()
	ch, err := s.Open(testCtx(t), consultLabel)
	if err != nil {
		t.Fatal(err)
	}
	p := startRaw(t, s, ch)
	p.send(`{"t":"hello","v":1,"role":"host","name":"Mallory","lang":"en","agent":"raw"}`)
	return p
}

// newRawClient accepts "consult" on s and sends a client hello.
func newRawClient(t testing.TB, s *session.Session) *rawPeer {
	t.Helper()
	ch, err := s.Accept(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if ch.Label() != consultLabel {
		t.Fatalf("first channel %q", ch.Label())
	}
	p := startRaw(t, s, ch)
	p.send(`{"t":"hello","v":1,"role":"client","name":"Raw","lang":"en","agent":"raw"}`)
	return p
}

func startRaw(t testing.TB, s *session.Session, ch *session.Channel) *rawPeer {
	p := &rawPeer{t: t, s: s, ch: ch, lines: make(chan message, 256), rerr: make(chan error, 1)}
	p.wg.Go(func() {
		lr := newLineReader(ch)
		for {
			line, err := lr.next()
			if err != nil {
				p.rerr <- err
				close(p.lines)
				return
			}
			m, err := parseLine(line)
			if err != nil {
				p.rerr <- err
				close(p.lines)
				return
			}
			p.lines <- m
		}
	})
	t.Cleanup(func() {
		_ = ch.Close()
		p.wg.Wait()
	})
	return p
}

// send writes one line (a "\n" is added).
func (p *rawPeer) send(line string) {
	p.t.Helper()
	if _, err := p.ch.Write([]byte(line + "\n")); err != nil {
		p.t.Fatalf("raw send: %v", err)
	}
}

// next returns the next message of type t, skipping others.
func (p *rawPeer) next(t string) message {
	p.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("raw peer: stream ended waiting for %q: %v", t, <-p.rerr)
			}
			if m.T == t {
				return m
			}
		case <-timeout:
			p.t.Fatalf("raw peer: timed out waiting for %q", t)
		}
	}
}

// sendFile opens "file/<id>" and writes data, then closes it.
func (p *rawPeer) sendFile(id string, data []byte) {
	p.t.Helper()
	p.openLabel(fileLabelPrefix+id, data)
}

// openLabel opens a channel and writes data, then closes it.
func (p *rawPeer) openLabel(label string, data []byte) {
	p.t.Helper()
	ch, err := p.s.Open(testCtx(p.t), label)
	if err != nil {
		p.t.Fatalf("raw open: %v", err)
	}
	_, _ = ch.Write(data) // the other side may refuse it
	_ = ch.Close()
}

// acceptWithin accepts the next channel the peer opens within d, or nil.
func (p *rawPeer) acceptWithin(d time.Duration) *session.Channel {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	ch, err := p.s.Accept(ctx)
	if err != nil {
		return nil
	}
	p.t.Cleanup(func() { _ = ch.Close() })
	return ch
}

func mustRead(t testing.TB, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fileJSON(id, name string, data []byte, kind string) string {
	m := message{T: tFile, ID: id, Name: name, Size: ptr(int64(len(data))), SHA256: sum(data), Kind: kind}
	b, _ := json.Marshal(m)
	return string(b)
}

func askJSON(id, name string, data []byte) string {
	m := message{T: tAsk, ID: id, What: WhatFile, Name: name, Size: ptr(int64(len(data))), SHA256: sum(data)}
	b, _ := json.Marshal(m)
	return string(b)
}

// storedFiles lists what landed in dir/files, failing on a leftover
// temporary file.
func storedFiles(t testing.TB, dataDir, sub string) []string {
	t.Helper()
	names := listDir(t, filepath.Join(dataDir, sub))
	for _, n := range names {
		if strings.HasPrefix(n, tempPrefix) {
			t.Errorf("leftover temporary file %s in %s", n, sub)
		}
	}
	return names
}

func equalBytes(t testing.TB, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes differ from the %d sent", path, len(got), len(want))
	}
}
