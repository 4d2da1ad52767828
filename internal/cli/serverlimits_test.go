package cli

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/wire"
)

// TestServerLimitFlags: the budget flags of `direkt server` reach the
// rendezvous: with --max-mailboxes 1 a second code is refused as busy, over
// the wire.
func TestServerLimitFlags(t *testing.T) {
	var l rendezvousLimits
	fs := newFlagSet("server", Env{Stderr: io.Discard})
	l.register(fs)
	if err := fs.Parse([]string{"--max-mailboxes", "1", "--max-conns", "50", "--max-queued-mib", "8", "--max-queued-mib-per-ip", "2", "--max-channels", "3000"}); err != nil {
		t.Fatal(err)
	}
	if l != (rendezvousLimits{Conns: 50, Mailboxes: 1, QueuedMiB: 8, QueuedMiBPerIP: 2, Channels: 3000}) {
		t.Fatalf("parsed %+v", l)
	}
	st, err := startStack(stackConfig{Listen: "127.0.0.1:0", TURNListen: "127.0.0.1:0", NoRelay: true, Limits: l, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := "http://" + st.HTTPAddr.String()
	for i := range 2 {
		c, err := mailbox.Dial(ctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(wire.MoodHappy)
		_, _, err = c.Allocate(ctx)
		switch {
		case i == 0 && err != nil:
			t.Fatalf("first code: %v", err)
		case i == 1 && (!errors.Is(err, mailbox.ErrRateLimited) || !strings.Contains(err.Error(), "server is busy")):
			t.Fatalf("second code with --max-mailboxes 1: %v", err)
		}
	}
}
