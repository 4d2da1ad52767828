package netbed

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

func FuzzNamespacePid(f *testing.F) {
	for _, s := range []string{"nbt123x4inet", "nbt1x", "nbtx1", "nbt-1x2", "nbt99999999999x1", "other1x2", "nbt12"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		pid, ok := namespacePid(name, testPrefix)
		if !ok {
			return
		}
		if pid <= 0 {
			t.Fatalf("namespacePid(%q) = %d", name, pid)
		}
		if want := fmt.Sprintf("%s%dx", testPrefix, pid); len(name) < len(want) || name[:len(want)] != want {
			t.Fatalf("namespacePid(%q) = %d, but the name does not start with %q", name, pid, want)
		}
	})
}

// TestSweepStale leaves a namespace named after a process that has exited
// and one named after this process, and checks that only the first goes.
func TestSweepStale(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err)
	}
	ctx := testContext(t, 30*time.Second)
	// A pid that surely does not run: one of a child that has exited.
	cmd := exec.CommandContext(ctx, "true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := fmt.Sprintf("%s%dx0stale", testPrefix, cmd.Process.Pid)
	live := fmt.Sprintf("%s%dx0live", testPrefix, os.Getpid())
	for _, ns := range []string{dead, live} {
		if err := run(ctx, "", "ip", "netns", "add", ns); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, ns := range []string{dead, live} {
			if _, err := os.Stat(filepath.Join(netnsDir, ns)); err == nil {
				_ = run(context.Background(), "", "ip", "netns", "del", ns)
			}
		}
	})
	gone, err := SweepStale(ctx, testPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if len(gone) != 1 || gone[0] != dead {
		t.Errorf("swept %q, want only %q", gone, dead)
	}
	if _, err := os.Stat(filepath.Join(netnsDir, live)); err != nil {
		t.Errorf("the live namespace went: %v", err)
	}
}
