package session

import (
	"context"
	"errors"
	"io"
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
