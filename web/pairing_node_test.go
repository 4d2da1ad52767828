package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/mitm"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/wire"
)

// newRendezvous runs the real rendezvous server on loopback.
func newRendezvous(t *testing.T, pages http.Handler) string {
	t.Helper()
	rv := rendezvous.New(rendezvous.Config{
		ICEServers: func(*http.Request, time.Time) []wire.ICEServer {
			return []wire.ICEServer{{URLs: []string{"stun:127.0.0.1:3478"}}}
		},
		Pages:  pages,
		Logger: slog.New(slog.DiscardHandler),
	})
	hs := httptest.NewServer(rv.Handler())
	t.Cleanup(func() {
		rv.Close()
		hs.Close()
	})
	return hs.URL
}

// nodeEvent is one line of test/pair-with-go.mjs.
type nodeEvent struct {
	Event   string `json:"event"`
	Phrase  string `json:"phrase"`
	Lang    string `json:"lang"`
	T       string `json:"t"`
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Peer    struct {
		Name, App, Path string
	} `json:"peer"`
	ICEServers int `json:"ice_servers"`
}

// runNode starts test/pair-with-go.mjs and returns its events as they come,
// and a function that waits for it to exit.
func runNode(t *testing.T, ctx context.Context, server, typed string, args ...string) (<-chan nodeEvent, func() error) {
	t.Helper()
	cmd := exec.CommandContext(ctx, needNode(t), append([]string{"test/pair-with-go.mjs", server, typed}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events := make(chan nodeEvent, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(events)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev nodeEvent
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Errorf("node printed %q: %v", sc.Text(), err)
				continue
			}
			events <- ev
		}
	}()
	wait := func() error {
		<-done
		err := cmd.Wait()
		if err != nil && stderr.Len() > 0 {
			t.Logf("node stderr: %s", stderr.String())
		}
		return err
	}
	return events, wait
}

func next(t *testing.T, ctx context.Context, events <-chan nodeEvent) nodeEvent {
	t.Helper()
	select {
	case ev, ok := <-events:
		if !ok {
			t.Fatal("node exited early")
		}
		return ev
	case <-ctx.Done():
		t.Fatal("timed out waiting for node")
	}
	return nodeEvent{}
}

// TestPairWithNode pairs a Go host (side a, internal/pairing) with the
// JavaScript client (side b) through a real rendezvous and WebSocket, and
// runs sealed signals both ways.
func TestPairWithNode(t *testing.T) {
	needNode(t)
	for _, lang := range []code.Lang{code.German, code.English} {
		t.Run(lang.String(), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			server := newRendezvous(t, nil)
			pend, err := pairing.Allocate(ctx, pairing.Options{
				Server: server, Lang: lang,
				Hello: wire.Signal{Name: "Anna Adviser", ID: bytes.Repeat([]byte{7}, 32), App: wire.AppConsult, Path: wire.PathAuto},
			})
			if err != nil {
				t.Fatal(err)
			}
			// Typed the way a person might: upper case, spaces.
			typed := strings.ToUpper(strings.ReplaceAll(pend.Code().String(), "-", " "))
			events, wait := runNode(t, ctx, server, typed)
			pair, err := pend.Wait(ctx)
			if err != nil {
				t.Fatalf("Wait: %v", err)
			}
			defer pair.Close(wire.MoodHappy)

			ev := next(t, ctx, events)
			if ev.Event != "paired" {
				t.Fatalf("node: %+v", ev)
			}
			if ev.Phrase != pair.Phrase || len(strings.Fields(ev.Phrase)) != 3 {
				t.Errorf("phrases differ: node %q, Go %q", ev.Phrase, pair.Phrase)
			}
			if ev.Lang != lang.String() {
				t.Errorf("node phrase language %q, want %s", ev.Lang, lang)
			}
			if ev.Peer.Name != "Anna Adviser" || ev.Peer.App != "consult" || ev.Peer.Path != "auto" {
				t.Errorf("node saw hello %+v", ev.Peer)
			}
			if ev.ICEServers != 1 {
				t.Errorf("node got %d ICE servers, want 1", ev.ICEServers)
			}
			if pair.Peer.Name != "Bernd Büchner (node)" || pair.Peer.App != wire.AppConsult || pair.Peer.ID != nil {
				t.Errorf("Go saw hello %+v", pair.Peer)
			}

			sdp := "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AA:BB\r\n"
			mid, idx := "0", uint16(0)
			cand := "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host"
			for _, s := range []wire.Signal{
				{T: wire.SignalOffer, SDP: sdp},
				{T: wire.SignalCand, Cand: cand, Mid: &mid, Idx: &idx},
				{T: wire.SignalCandEnd},
			} {
				if err := pair.Send(ctx, s); err != nil {
					t.Fatal(err)
				}
			}
			for _, want := range []string{"offer", "cand", "cand-end"} {
				if ev := next(t, ctx, events); ev.Event != "signal" || ev.T != want {
					t.Fatalf("node: %+v, want signal %s", ev, want)
				}
			}
			var got []wire.Signal
			for range 3 {
				s, err := pair.Recv(ctx)
				if err != nil {
					t.Fatalf("Recv: %v", err)
				}
				got = append(got, s)
			}
			if got[0].T != wire.SignalAnswer || got[0].SDP != "echo:"+sdp {
				t.Errorf("answer %+v", got[0])
			}
			if got[1].T != wire.SignalCand || got[1].Cand != cand || got[1].Mid == nil || *got[1].Mid != mid || got[1].Idx == nil || *got[1].Idx != idx {
				t.Errorf("cand %+v", got[1])
			}
			if got[2].T != wire.SignalCandEnd {
				t.Errorf("cand-end %+v", got[2])
			}
			if err := pair.Send(ctx, wire.Signal{T: wire.SignalBye, Reason: "done"}); err != nil {
				t.Fatal(err)
			}
			if ev := next(t, ctx, events); ev.Event != "done" {
				t.Errorf("node: %+v", ev)
			}
			if err := wait(); err != nil {
				t.Errorf("node: %v", err)
			}
		})
	}
}

// TestPairWithNodeReopen: the JavaScript client re-opens its mailbox on a
// fresh WebSocket (docs/protocol.md, section 3.1) twice, once with a signal
// of its own waiting and once in the middle of a's signals: every signal
// arrives once, in order, still sealed with the same keys and sequence.
func TestPairWithNodeReopen(t *testing.T) {
	needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	server := newRendezvous(t, nil)
	pend, err := pairing.Allocate(ctx, pairing.Options{Server: server, Lang: code.English, Hello: wire.Signal{Name: "Anna"}})
	if err != nil {
		t.Fatal(err)
	}
	events, wait := runNode(t, ctx, server, pend.Code().String(), "reopen")
	pair, err := pend.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	defer pair.Close(wire.MoodHappy)
	if ev := next(t, ctx, events); ev.Event != "paired" {
		t.Fatalf("node: %+v", ev)
	}
	// a's signals go out while b's connection is being replaced.
	sdp := "v=0\r\na=fingerprint:sha-256 AA:BB\r\n"
	mid, idx := "0", uint16(0)
	for _, s := range []wire.Signal{
		{T: wire.SignalOffer, SDP: sdp},
		{T: wire.SignalCand, Cand: "candidate:1 1 udp 2130706431 192.0.2.1 5000 typ host", Mid: &mid, Idx: &idx},
		{T: wire.SignalCandEnd},
	} {
		if err := pair.Send(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	for len(seen) < 5 {
		ev := next(t, ctx, events)
		switch ev.Event {
		case "reopened":
			seen = append(seen, "reopened")
		case "signal":
			seen = append(seen, ev.T)
		default:
			t.Fatalf("node: %+v (after %v)", ev, seen)
		}
	}
	if want := []string{"reopened", "offer", "reopened", "cand", "cand-end"}; !slices.Equal(seen, want) {
		t.Errorf("node saw %v, want %v", seen, want)
	}
	var got []string
	for range 4 {
		s, err := pair.Recv(ctx)
		if err != nil {
			t.Fatalf("Recv after %v: %v", got, err)
		}
		got = append(got, s.T)
	}
	if want := []string{"restart", "answer", "cand", "cand-end"}; !slices.Equal(got, want) {
		t.Errorf("Go got %v, want %v", got, want)
	}
	if err := pair.Send(ctx, wire.Signal{T: wire.SignalBye, Reason: "done"}); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, ctx, events); ev.Event != "done" {
		t.Errorf("node: %+v", ev)
	}
	if err := wait(); err != nil {
		t.Errorf("node: %v", err)
	}
}

// TestPairWithNodeWrongCode: the JavaScript side types another code with the
// right nameplate; both sides refuse with a wrong-code error.
func TestPairWithNodeWrongCode(t *testing.T) {
	needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	server := newRendezvous(t, nil)
	pend, err := pairing.Allocate(ctx, pairing.Options{Server: server, Lang: code.German, Hello: wire.Signal{Name: "Anna"}})
	if err != nil {
		t.Fatal(err)
	}
	c := pend.Code()
	words := code.Words(code.German)
	wrong := code.Code{Nameplate: c.Nameplate, Words: slices.Clone(c.Words), Lang: c.Lang}
	for _, w := range words {
		if w != c.Words[1] {
			wrong.Words[1] = w
			break
		}
	}
	events, wait := runNode(t, ctx, server, wrong.String())
	pair, err := pend.Wait(ctx)
	if pair != nil {
		pair.Close(wire.MoodHappy)
	}
	if !errors.Is(err, pairing.ErrBadCode) {
		t.Errorf("Go: %v, want ErrBadCode", err)
	}
	ev := next(t, ctx, events)
	if ev.Event != "error" || ev.Kind != "bad-code" {
		t.Errorf("node: %+v, want a bad-code error", ev)
	}
	var exit *exec.ExitError
	if err := wait(); !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("node exit: %v, want status 3", err)
	}
	// One guess per code: the nameplate is burned.
	_, err = pairing.Claim(ctx, pairing.Options{Server: server}, c)
	if !errors.Is(err, pairing.ErrUnknownCode) {
		t.Errorf("claim after the wrong guess: %v, want ErrUnknownCode", err)
	}
}

// TestPairWithNodeTampering puts a hostile rendezvous (internal/mitm) between
// the Go host and the JavaScript client: a sealed frame replayed or changed on
// its way to the client is refused, and both sides stop with "tampered".
func TestPairWithNodeTampering(t *testing.T) {
	needNode(t)
	for _, tc := range []struct {
		name string
		evil func(f wire.Frame) []wire.Frame
	}{
		{"replay", func(f wire.Frame) []wire.Frame { return []wire.Frame{f, f} }},
		{"flip", func(f wire.Frame) []wire.Frame {
			f.Body = slices.Clone(f.Body)
			f.Body[len(f.Body)-1] ^= 1
			return []wire.Frame{f}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			server := newRendezvous(t, nil)
			// Conn 0 is the Go host (it connects first), conn 1 the client.
			proxy := mitm.New(server, func(conn int, dir mitm.Dir, f wire.Frame) []wire.Frame {
				if conn == 1 && dir == mitm.ToClient && f.Type == wire.TypeMessage && len(f.Body) > 2 && f.Body[1] == wire.KindSealed {
					return tc.evil(f)
				}
				return []wire.Frame{f}
			})
			defer proxy.Close()
			pend, err := pairing.Allocate(ctx, pairing.Options{Server: proxy.URL, Lang: code.German, Hello: wire.Signal{Name: "Anna"}})
			if err != nil {
				t.Fatal(err)
			}
			events, wait := runNode(t, ctx, proxy.URL, pend.Code().String())
			pair, err := pend.Wait(ctx)
			if err == nil {
				// The client may have taken the hello before the replay:
				// then the host learns of the refusal on its next receive.
				defer pair.Close(wire.MoodHappy)
				_ = pair.Send(ctx, wire.Signal{T: wire.SignalOffer, SDP: "v=0\r\n"})
				_, err = pair.Recv(ctx)
			}
			if !errors.Is(err, pairing.ErrTampered) {
				t.Errorf("Go: %v, want ErrTampered", err)
			}
			var last nodeEvent
			for ev := range events {
				last = ev
			}
			if last.Event != "error" || last.Kind != "tampered" {
				t.Errorf("node ended with %+v, want a tampered error", last)
			}
			if err := wait(); err == nil {
				t.Error("node exited 0")
			}
		})
	}
}
