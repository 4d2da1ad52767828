package web_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// needNode skips t unless node and web/node_modules (npm ci in web/) are
// there, and returns the path of node.
func needNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the JavaScript side is not tested (install Node.js 20+)")
	}
	if _, err := os.Stat(filepath.Join("node_modules", "@noble", "curves")); err != nil {
		t.Skip("web/node_modules is missing: run `npm ci` in web/ to test the JavaScript side")
	}
	return node
}
