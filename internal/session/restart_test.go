package session

import (
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/wire"
)

// The restart handshake over loopback, without breaking the network: peer
// b's "restart" makes a restart ICE, and the channel opened before goes on
// working over the new pair.
func TestRestartOnRequest(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, cb, _, sigB := pairConfigs(Config{IncludeLoopback: true})
	sa, sb := mustConnect(t, ctx, ca, cb)
	chA, err := sa.Open(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	chB, err := sb.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	changed := sa.PathChanged()
	before := sa.Path()

	// What b's restartLoop sends when its path fails.
	if err := sigB.Send(ctx, wire.Signal{T: wire.SignalRestart}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatalf("no path change after the restart request (a restarts %d, b %d)", sa.rs.restarts.Load(), sb.rs.restarts.Load())
	}
	if got := sa.rs.restarts.Load(); got != 1 {
		t.Errorf("a made %d restart offers, want 1", got)
	}
	if err := sa.awaitICE(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	after := sa.Path()
	if after.LocalAddr == before.LocalAddr {
		t.Errorf("path after the restart still on %s", before.LocalAddr)
	}
	// The channel from before the restart carries data both ways.
	msg := []byte("after the restart")
	if _, err := chA.Write(msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := io.ReadAtLeast(chB, buf, len(msg))
	if err != nil || string(buf[:n]) != string(msg) {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if sa.Err() != nil || sb.Err() != nil {
		t.Fatalf("sessions ended: %v, %v", sa.Err(), sb.Err())
	}
	// b reads to the EOF of a's Close, which is what a's Close waits for.
	eof := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, chB)
		eof <- err
	}()
	if err := chA.Close(); err != nil {
		t.Errorf("close a: %v", err)
	}
	if err := <-eof; err != nil {
		t.Errorf("b read to EOF: %v", err)
	}
	_ = chB.Close()
}

// Only a offers: an offer that reaches a after connect breaks the protocol.
func TestRestartOfferToOfferer(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, cb, _, sigB := pairConfigs(Config{IncludeLoopback: true})
	sa, _ := mustConnect(t, ctx, ca, cb)
	if err := sigB.Send(ctx, wire.Signal{T: wire.SignalOffer, SDP: "v=0\r\n"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sa.Done():
	case <-ctx.Done():
		t.Fatal("a offer to peer a after connect did not end the session")
	}
	if !errors.Is(sa.Err(), ErrProtocol) {
		t.Fatalf("a ended with %v, want ErrProtocol", sa.Err())
	}
}

// ctlBeats reads heartbeats from the ctl channel of s (peer b keeps it
// in boundCtl too) for d and counts them.
func ctlBeats(t *testing.T, ctl detached, d time.Duration) int {
	t.Helper()
	_ = ctl.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 64)
	n := 0
	for {
		m, err := ctl.Read(buf)
		if err != nil {
			return n
		}
		if m != 1 || buf[0] != 0 {
			t.Errorf("ctl message %x, want a heartbeat (one zero byte)", buf[:m])
		}
		n++
	}
}

// With a browser peer (RestartOnRequest) peer a sends a heartbeat on ctl
// every second, which the browser watches for a silent loss, and restarts
// ICE when asked; a Go peer, which does not read ctl after the binding,
// gets no heartbeat.
func TestRestartOnRequestHeartbeat(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, cb, _, sigB := pairConfigs(Config{IncludeLoopback: true})
	ca.RestartOnRequest = true
	sa, sb := mustConnect(t, ctx, ca, cb)
	ca2, cb2, _, _ := pairConfigs(Config{IncludeLoopback: true})
	_, gb := mustConnect(t, ctx, ca2, cb2)

	ctlB, ctlG := <-sb.boundCtl, <-gb.boundCtl
	if n := ctlBeats(t, ctlB, 3*heartbeatInterval+heartbeatInterval/2); n < 3 {
		t.Errorf("the browser's side got %d heartbeats in 3.5 intervals, want 3", n)
	}
	if n := ctlBeats(t, ctlG, 2*heartbeatInterval); n != 0 {
		t.Errorf("a Go peer got %d heartbeats, want none", n)
	}

	changed := sa.PathChanged()
	if err := sigB.Send(ctx, wire.Signal{T: wire.SignalRestart}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatalf("no restart after the request (a restarts %d)", sa.rs.restarts.Load())
	}
	if got := sa.rs.restarts.Load(); got != 1 {
		t.Errorf("a made %d restart offers, want 1", got)
	}
	if err := sa.awaitICE(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if n := ctlBeats(t, ctlB, 2*heartbeatInterval); n == 0 {
		t.Error("no heartbeat after the restart")
	}
	if sa.Err() != nil || sb.Err() != nil {
		t.Fatalf("sessions ended: %v, %v", sa.Err(), sb.Err())
	}
}

// A resumable session with a browser peer ends on "reconnect" without a
// "bye", stops reading the signaller, and a new session connects over the
// same signallers, with a new certificate and a new binding; its
// heartbeat is 0x01. A resumable session that fails says no "bye" either.
func TestReconnectOnRequest(t *testing.T) {
	leakCheck(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca, cb, sigA, sigB := pairConfigs(Config{IncludeLoopback: true})
	ca.RestartOnRequest, ca.Resumable = true, true
	sa, sb := mustConnect(t, ctx, ca, cb)
	ctl := <-sb.boundCtl
	beat := make([]byte, 4)
	n, err := ctl.Read(beat)
	if err != nil || n != 1 || beat[0] != 1 {
		t.Fatalf("heartbeat %x, %v; want 01", beat[:n], err)
	}
	fp1 := sa.localFP

	// What a sends from now on.
	var mu sync.Mutex
	var fromA []string
	sigA.setTamper(func(s wire.Signal) (wire.Signal, bool) {
		mu.Lock()
		fromA = append(fromA, s.T)
		mu.Unlock()
		return s, true
	})
	// b asks, as the browser does when its DTLS failed.
	if err := sigB.Send(ctx, wire.Signal{T: wire.SignalReconnect}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sa.Done():
	case <-ctx.Done():
		t.Fatal("the session did not end on reconnect")
	}
	if err := sa.Err(); !errors.Is(err, ErrPeerReconnects) {
		t.Fatalf("err %v, want ErrPeerReconnects", err)
	}
	_ = sa.Close()
	sigB.setTamper(func(s wire.Signal) (wire.Signal, bool) { return s, s.T != wire.SignalBye })
	_ = sb.Close()
	sigB.setTamper(nil)
	mu.Lock()
	if len(fromA) != 0 {
		t.Errorf("a sent %v after the reconnect request, want nothing", fromA)
	}
	mu.Unlock()
	sigA.setTamper(nil)

	sa2, sb2 := mustConnect(t, ctx, ca, cb)
	if sa2.localFP == fp1 {
		t.Error("the new session kept the old certificate")
	}
	if sa2.Err() != nil || sb2.Err() != nil {
		t.Fatalf("sessions ended: %v, %v", sa2.Err(), sb2.Err())
	}
}
