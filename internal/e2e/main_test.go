package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/testwatch"
)

// direktBin is the path of the direkt binary that TestMain built.
var direktBin string

func TestMain(m *testing.M) {
	testwatch.Arm()
	dir, err := os.MkdirTemp("", "direkt-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	cleanup := func(code int) {
		os.RemoveAll(dir)
		os.Exit(code)
	}
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		cleanup(1)
	}
	removeStaleNamespaces()
	// Every test kills and waits for its processes in t.Cleanup, so no
	// goroutine of the os/exec machinery may outlive the tests.
	goleak.VerifyTestMain(m, goleak.Cleanup(cleanup))
}

// build compiles ./cmd/direkt into dir, once for all tests.
func build(dir string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		// "go test" does not always put its own go on PATH; it does set GOROOT.
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, serr := os.Stat(goTool); serr != nil {
			return fmt.Errorf("no go tool to build direkt: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := filepath.Join(dir, "direkt")
	cmd := exec.CommandContext(ctx, goTool, "build", "-o", bin, "github.com/direkt/direkt/cmd/direkt")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/direkt: %w\n%s", err, out)
	}
	direktBin = bin
	return nil
}
