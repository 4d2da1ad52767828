package netbed

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/testwatch"
)

// testPrefix names this package's test namespaces.
const testPrefix = "nbt"

func TestMain(m *testing.M) {
	testwatch.Arm()
	if Available() == nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if gone, err := SweepStale(ctx, testPrefix); err != nil {
			fmt.Fprintln(os.Stderr, "netbed: sweeping stale namespaces:", err)
		} else if len(gone) > 0 {
			fmt.Fprintf(os.Stderr, "netbed: removed %d stale namespaces\n", len(gone))
		}
		cancel()
	}
	goleak.VerifyTestMain(m)
}

// testContext ends at d or shortly before the test binary's deadline.
func testContext(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(d)
	if tt, ok := t.(*testing.T); ok {
		if td, ok := tt.Deadline(); ok && td.Add(-10*time.Second).Before(deadline) {
			deadline = td.Add(-10 * time.Second)
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// newBed builds a bed that t's cleanup closes, or skips t when no bed can be
// built here.
func newBed(t testing.TB, cfg Config) *Bed {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("no test bed here: %v", err)
	}
	cfg.Prefix = testPrefix
	ctx := testContext(t, time.Minute)
	b, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close bed: %v", err)
		}
	})
	return b
}
