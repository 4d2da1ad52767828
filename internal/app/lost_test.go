package app

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/session"
)

// sessionOf is the running consultation's session, to break it as a lost
// network would.
func sessionOf(t *testing.T, b *base) *session.Session {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur == nil || b.cur.sess == nil {
		t.Fatal("no running consultation")
	}
	return b.cur.sess
}

// TestLostConnection: when one side's session breaks or its run is
// cancelled in the middle of a consultation, both sides end with a reason,
// the host keeps the record the client accepted, and no goroutine is left.
func TestLostConnection(t *testing.T) {
	cases := []struct {
		name string
		// brk breaks the consultation; it returns the host run's stopper
		// when it cancels the host.
		brk func(t *testing.T, h *Host, j *Join, stopJoin context.CancelFunc, hr *running)
		// joinErr: what the client's run returns.
		joinErr error
		// hostReason, joinReason: the end reasons shown ("" = any).
		hostReason, joinReason string
		// hostStops: the host's Run was cancelled.
		hostStops bool
	}{
		{
			name:    "host session closed",
			brk:     func(t *testing.T, h *Host, _ *Join, _ context.CancelFunc, _ *running) { sessionOf(t, h.base).Close() },
			joinErr: ErrLost,
		},
		{
			name:    "client session closed",
			brk:     func(t *testing.T, _ *Host, j *Join, _ context.CancelFunc, _ *running) { sessionOf(t, j.base).Close() },
			joinErr: ErrLost,
		},
		{
			name:       "client cancelled",
			brk:        func(_ *testing.T, _ *Host, _ *Join, stop context.CancelFunc, _ *running) { stop() },
			hostReason: "the client ended the consultation",
		},
		{
			name:       "host cancelled",
			brk:        func(_ *testing.T, _ *Host, _ *Join, _ context.CancelFunc, hr *running) { hr.cancel() },
			joinReason: "the adviser ended the consultation",
			hostStops:  true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			ctx := testCtx(t, 60*time.Second)
			server := newRendezvous(t, 0)
			h, j, hev, _ := newPeers(t, server, func(c *Config) { c.AskRecord = true })
			hr := startHost(t, ctx, h)
			jctx, stopJoin := context.WithCancel(ctx)
			defer stopJoin()
			_, _, joined := pairByCode(t, jctx, h, j)
			answerRecord(t, ctx, h, j, true)
			chatBoth(t, ctx, h, j, "Guten Tag.", "Hello.")

			tc.brk(t, h, j, stopJoin, hr)

			err := result(t, ctx, joined)
			if tc.joinErr == nil && err != nil || tc.joinErr != nil && !errors.Is(err, tc.joinErr) {
				t.Errorf("Join.Run: %v, want %v", err, tc.joinErr)
			}
			js := waitState(t, ctx, j, "ended", phaseIs(PhaseEnded))
			if js.EndReason == "" || tc.joinReason != "" && js.EndReason != tc.joinReason {
				t.Errorf("client end reason %q, want %q", js.EndReason, tc.joinReason)
			}
			t.Logf("client: %q", js.EndReason)
			if tc.hostStops {
				hr.stop(t)
			}
			hs := waitState(t, ctx, h, "ended with the record", func(st console.State) bool { return st.Phase == PhaseEnded && st.Record != nil })
			if hs.EndReason == "" || tc.hostReason != "" && hs.EndReason != tc.hostReason {
				t.Errorf("host end reason %q, want %q", hs.EndReason, tc.hostReason)
			}
			t.Logf("host: %q", hs.EndReason)
			if e := hev.wait(t, ctx, "ended", nil); e.Reason != hs.EndReason || e.Record != hs.Record.ID {
				t.Errorf("host ended event %+v, want %q and the record", e, hs.EndReason)
			}
			if !tc.hostStops {
				newWaiting(t, ctx, h)
			}
		})
	}
}
