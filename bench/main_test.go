package bench

import (
	"runtime"
	"testing"

	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/testwatch"
)

// TestMain fails the run if a test or benchmark leaves a goroutine behind:
// every command, PeerConnection and QUIC connection started here must be
// torn down before its measurement returns.
func TestMain(m *testing.M) {
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}

// numCPU is what the table's heading reports: the figures scale with it.
func numCPU() int { return runtime.GOMAXPROCS(0) }
