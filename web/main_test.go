package web_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
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

var (
	installOnce sync.Once
	installErr  string
)

// needNode skips t unless node is installed and web/node_modules is there,
// and returns the path of node. A missing node_modules is installed once
// with `npm ci` from the committed package-lock.json (what CI does), so
// that `go test ./...` on a fresh clone tests the JavaScript side too.
func needNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the JavaScript side is not tested (install Node.js 20+)")
	}
	marker := filepath.Join("node_modules", "@noble", "curves")
	if _, err := os.Stat(marker); err != nil {
		installOnce.Do(func() {
			npm, err := exec.LookPath("npm")
			if err != nil {
				installErr = "npm is not installed"
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--loglevel=error").CombinedOutput()
			if err != nil {
				installErr = "npm ci failed: " + err.Error() + "\n" + string(out)
			}
		})
	}
	if _, err := os.Stat(marker); err != nil {
		t.Skipf("web/node_modules is missing and could not be installed (%s): run `npm ci` in web/ to test the JavaScript side", installErr)
	}
	return node
}
