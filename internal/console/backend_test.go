package console

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/testwatch"
)

func TestMain(m *testing.M) {
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}

// call is one action the console forwarded to the test backend.
type call struct {
	Method string
	Args   []any
}

func (c call) String() string { return fmt.Sprint(c.Method, c.Args) }

// upload is what SendFile read.
type upload struct {
	Name   string
	Size   int64
	Read   int64
	SHA256 string
	Err    error
}

// testBackend is a Backend for the HTTP layer: it serves a canned State,
// records every action, and holds files and records in memory. The real
// Backend is internal/app; its end-to-end tests run the console against it.
type testBackend struct {
	mu      sync.Mutex
	st      State
	calls   []call
	uploads []upload
	err     error // returned by every action when set
	files   map[string][]byte
	records []RecordInfo
	subs    map[chan struct{}]struct{}
	callCh  chan call
	// answer answers ScreenRTC's offers (nil: a canned answer).
	answer func(ctx context.Context, offer string) (string, error)
}

func newTestBackend(st State) *testBackend {
	return &testBackend{
		st:     st,
		files:  map[string][]byte{},
		subs:   map[chan struct{}]struct{}{},
		callCh: make(chan call, 100),
	}
}

func (b *testBackend) record(method string, args ...any) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := call{method, args}
	b.calls = append(b.calls, c)
	select {
	case b.callCh <- c:
	default:
	}
	return b.err
}

func (b *testBackend) Calls() []call {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]call(nil), b.calls...)
}

func (b *testBackend) setErr(err error) {
	b.mu.Lock()
	b.err = err
	b.mu.Unlock()
}

// setState replaces the state and notifies subscribers.
func (b *testBackend) setState(f func(*State)) {
	b.mu.Lock()
	f(&b.st)
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	b.mu.Unlock()
}

// waitCall waits for the next recorded call of method.
func (b *testBackend) waitCall(t *testing.T, method string) call {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case c := <-b.callCh:
			if c.Method == method {
				return c
			}
		case <-timeout:
			t.Fatalf("no %s call; calls: %v", method, b.Calls())
			return call{}
		}
	}
}

func (b *testBackend) subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

func (b *testBackend) State() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.st
}

func (b *testBackend) Changed(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	context.AfterFunc(ctx, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	})
	return ch
}

func (b *testBackend) Chat(text string) error          { return b.record("Chat", text) }
func (b *testBackend) Ask(what string) error           { return b.record("Ask", what) }
func (b *testBackend) Answer(id string, ok bool) error { return b.record("Answer", id, ok) }
func (b *testBackend) SetNotes(text string) error      { return b.record("SetNotes", text) }
func (b *testBackend) End() error                      { return b.record("End") }
func (b *testBackend) New() error                      { return b.record("New") }
func (b *testBackend) AllowPeer(key string, ok bool) error {
	return b.record("AllowPeer", key, ok)
}
func (b *testBackend) RevokePeer(key string) error { return b.record("RevokePeer", key) }
func (b *testBackend) Rejoin(key string) error     { return b.record("Rejoin", key) }

// ScreenRTC records the offer and answers with b.answer (set by
// setAnswer; "v=0 answer" when unset).
func (b *testBackend) ScreenRTC(ctx context.Context, offer string) (string, error) {
	if err := b.record("ScreenRTC", offer); err != nil {
		return "", err
	}
	b.mu.Lock()
	answer := b.answer
	b.mu.Unlock()
	if answer == nil {
		return "v=0 answer", nil
	}
	return answer(ctx, offer)
}
func (b *testBackend) Share(action, what string, w, h int) error {
	return b.record("Share", action, what, w, h)
}
func (b *testBackend) Pointer(x, y float64, show bool) error { return b.record("Pointer", x, y, show) }
func (b *testBackend) View(on bool) error                    { return b.record("View", on) }

// setAnswer makes ScreenRTC answer offers with f.
func (b *testBackend) setAnswer(f func(ctx context.Context, offer string) (string, error)) {
	b.mu.Lock()
	b.answer = f
	b.mu.Unlock()
}

// SendFile reads r to the end like the real backend, hashing it.
func (b *testBackend) SendFile(name string, size int64, r io.Reader) error {
	h := sha256.New()
	n, err := io.Copy(h, r)
	b.mu.Lock()
	b.uploads = append(b.uploads, upload{name, size, n, hex.EncodeToString(h.Sum(nil)), err})
	b.mu.Unlock()
	if rerr := b.record("SendFile", name, size); rerr != nil {
		return rerr
	}
	if err != nil {
		return fmt.Errorf("reading the upload: %w", err)
	}
	return nil
}

func (b *testBackend) Uploads() []upload {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]upload(nil), b.uploads...)
}

type nopCloser struct{ io.ReadSeeker }

func (nopCloser) Close() error { return nil }

func (b *testBackend) OpenFile(id string) (string, io.ReadSeekCloser, error) {
	b.record("OpenFile", id)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.st.Files {
		if f.ID == id {
			if data, ok := b.files[id]; ok {
				return f.Name, nopCloser{bytes.NewReader(data)}, nil
			}
		}
	}
	return "", nil, fmt.Errorf("file %s: %w", id, fs.ErrNotExist)
}

func (b *testBackend) Records(query string) ([]RecordInfo, error) {
	if err := b.record("Records", query); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []RecordInfo
	for _, r := range b.records {
		if query == "" || strings.Contains(strings.ToLower(r.Client+" "+r.Summary), strings.ToLower(query)) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (b *testBackend) OpenRecord(id, format string) (string, io.ReadSeekCloser, error) {
	b.record("OpenRecord", id, format)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, r := range b.records {
		if r.ID == id {
			return id + "." + format, nopCloser{strings.NewReader("record " + id + " as " + format)}, nil
		}
	}
	return "", nil, fs.ErrNotExist
}

// hostState is a host waiting for its client.
func hostState() State {
	return State{
		Role:    "host",
		Self:    Participant{Name: "Beraterin Koch", Role: "host", Fingerprint: "SHA256:abcd efgh"},
		Lang:    "en",
		Phase:   "waiting",
		Code:    "47-nordsee-tulpe",
		JoinURL: "http://192.0.2.10:8080/j/47-nordsee-tulpe",
	}
}

// connectedState is a host in a running consultation.
func connectedState() State {
	st := hostState()
	st.Phase = "connected"
	st.Code, st.JoinURL = "", ""
	st.Peer = &Participant{Name: "Max Muster", Role: "client", Agent: "Chromium"}
	st.Phrase = "anker wolke tanne"
	st.Path = &Path{Kind: "direct", Local: "host", Remote: "srflx", Proto: "udp"}
	st.Started = time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	st.Recording = "accepted"
	return st
}

// startServer runs a console for b and stops it when the test ends.
func startServer(t *testing.T, b Backend) *Server {
	t.Helper()
	s, err := New(Config{Backend: b, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// client is an HTTP client of its own, so no keep-alive goroutines outlive
// the test.
func client(t testing.TB) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport: tr,
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

var errBusy = errors.New("a consultation is running")
