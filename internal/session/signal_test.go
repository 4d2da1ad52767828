package session

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/wire"
)

// TestCandidatesBeforeDescription delivers all of a's candidates to b before
// a's offer, and drops b's candidates on the way to a. The connection can
// only come up if b queued a's early candidates and checks them (a then
// learns b's address as peer-reflexive).
func TestCandidatesBeforeDescription(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, cb, sa, sb := pairConfigs(Config{IncludeLoopback: true, iceFailedTimeout: 3 * time.Second})
	var offer []byte
	sa.setTamper(func(s wire.Signal) (wire.Signal, bool) {
		switch s.T {
		case wire.SignalOffer:
			offer, _ = json.Marshal(s)
			return s, false
		case wire.SignalCandEnd:
			// Send the held offer now, after every candidate.
			sa.out <- offer
		}
		return s, true
	})
	sb.setTamper(func(s wire.Signal) (wire.Signal, bool) {
		return s, s.T != wire.SignalCand
	})
	a, b := mustConnect(t, ctx, ca, cb)
	if p := a.Path(); p.Remote != "prflx" {
		t.Errorf("a's path %+v: want a peer-reflexive remote (b's candidates were dropped)", p)
	}
	_ = b
}

// failingSignaller fails every call with err.
type failingSignaller struct{ err error }

func (f failingSignaller) Send(context.Context, wire.Signal) error { return f.err }
func (f failingSignaller) Recv(ctx context.Context) (wire.Signal, error) {
	return wire.Signal{}, f.err
}

// TestSignallerFailure: a Signaller that fails during setup fails Connect
// with ErrSignalling, promptly.
func TestSignallerFailure(t *testing.T) {
	leakCheck(t)
	for _, role := range []byte{wire.RoleA, wire.RoleB} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := Connect(ctx, Config{Role: role, Signaller: failingSignaller{io.ErrUnexpectedEOF}, Logger: testLogger()})
		cancel()
		if !errors.Is(err, ErrSignalling) || !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("role %c: %v, want ErrSignalling wrapping the cause", role, err)
		}
	}
}

// silentSignaller never delivers anything.
type silentSignaller struct{}

func (silentSignaller) Send(context.Context, wire.Signal) error { return nil }
func (silentSignaller) Recv(ctx context.Context) (wire.Signal, error) {
	<-ctx.Done()
	return wire.Signal{}, ctx.Err()
}

// TestConnectDeadline: with no peer, Connect returns when its context ends,
// with the context's error, and leaves nothing running.
func TestConnectDeadline(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Connect(ctx, Config{Role: wire.RoleA, Signaller: silentSignaller{}, Logger: testLogger()})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Connect = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Connect took %v after a 300 ms deadline", d)
	}
}

// TestProtocolViolation: b answers with an "offer"; a must refuse it with
// ErrProtocol, and b learns from a's "bye" that a gave up.
func TestProtocolViolation(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ca, cb, _, sb := pairConfigs(Config{IncludeLoopback: true})
	sb.setTamper(func(s wire.Signal) (wire.Signal, bool) {
		if s.T == wire.SignalAnswer {
			s.T = wire.SignalOffer
		}
		return s, true
	})
	ra, rb := connectBoth(ctx, ca, cb)
	if !errors.Is(ra.err, ErrProtocol) {
		t.Errorf("a: %v, want ErrProtocol", ra.err)
	}
	if !errors.Is(rb.err, ErrPeerClosed) {
		t.Errorf("b: %v, want ErrPeerClosed", rb.err)
	}
}

// TestByeReason: the peer's "bye" ends the session with its reason. Signals
// that fail wire's Validate (here a control character in the reason) are
// ignored, whatever the Signaller lets through.
func TestByeReason(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ca, cb, _, sb := pairConfigs(Config{IncludeLoopback: true})
	a, _ := mustConnect(t, ctx, ca, cb)
	// Straight into the pipe, past Validate in pipeSignaller.Send.
	raw, _ := json.Marshal(wire.Signal{T: wire.SignalBye, Reason: "user\x1b[31m quit"})
	sb.out <- raw
	if err := sb.Send(ctx, wire.Signal{T: wire.SignalBye, Reason: "Feierabend ✓"}); err != nil {
		t.Fatal(err)
	}
	<-a.Done()
	err := a.Err()
	if !errors.Is(err, ErrPeerClosed) {
		t.Fatalf("Err = %v, want ErrPeerClosed", err)
	}
	if want := "session: peer closed the session (Feierabend ✓)"; err.Error() != want {
		t.Errorf("Err = %q, want %q", err, want)
	}
}

func TestConfigErrors(t *testing.T) {
	leakCheck(t)
	ctx := context.Background()
	for name, cfg := range map[string]Config{
		"role":      {Role: 'x', Signaller: silentSignaller{}},
		"signaller": {Role: wire.RoleA},
		"policy":    {Role: wire.RoleA, Signaller: silentSignaller{}, Policy: 7},
		"url":       {Role: wire.RoleA, Signaller: silentSignaller{}, ICEServers: []wire.ICEServer{{URLs: []string{"bogus://x"}}}},
	} {
		if _, err := Connect(ctx, cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}
