package netbed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// netnsDir is where "ip netns" keeps its named namespaces.
const netnsDir = "/var/run/netns"

// Available reports why the bed cannot be built here, or nil when it can:
// root, the ip, sysctl and nft tools, and network namespaces.
func Available() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w (ip netns add, veth, nftables)", ErrNotRoot)
	}
	for _, t := range []struct{ tool, pkg string }{{"ip", "iproute2"}, {"sysctl", "procps"}, {"nft", "nftables"}} {
		if _, err := exec.LookPath(t.tool); err != nil {
			return fmt.Errorf("%w: %s (Debian package %s)", ErrMissingTool, t.tool, t.pkg)
		}
	}
	if _, err := os.Stat("/proc/thread-self/ns/net"); err != nil {
		return fmt.Errorf("%w: %v", ErrNoNetns, err)
	}
	return nil
}

// Do runs fn on an OS thread switched into the named network namespace and
// returns its error. Sockets that fn opens stay in that namespace for their
// whole life and may be used from any goroutine afterwards; goroutines that
// fn starts do not run in the namespace.
func Do(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netbed: own namespace: %w", err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(filepath.Join(netnsDir, ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netbed: namespace %s: %w", ns, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netbed: enter %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// The thread stays locked, so the runtime ends it with this
			// goroutine instead of reusing it in the wrong namespace.
			errc <- errors.Join(ferr, fmt.Errorf("netbed: leave %s: %w", ns, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// run runs a command with a deadline; stdin may be empty.
func run(ctx context.Context, stdin string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("netbed: %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return nil
}

// SweepStale deletes the namespaces whose names start with prefix followed
// by the pid of a process that no longer runs: leftovers of a test binary
// that was killed before its cleanup ran. Namespaces of live processes,
// this one included, are left alone. It returns the names it deleted.
func SweepStale(ctx context.Context, prefix string) ([]string, error) {
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("netbed: %w", err)
	}
	var deleted []string
	var errs []error
	for _, e := range entries {
		pid, ok := namespacePid(e.Name(), prefix)
		if !ok || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			continue
		}
		if err := run(ctx, "", "ip", "netns", "del", e.Name()); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted = append(deleted, e.Name())
	}
	return deleted, errors.Join(errs...)
}

// namespacePid reads the pid out of a name prefix<pid>x<rest>.
func namespacePid(name, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return 0, false
	}
	digits, _, ok := strings.Cut(rest, "x")
	if !ok || digits == "" || len(digits) > 9 {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	pid, err := strconv.Atoi(digits)
	return pid, err == nil && pid > 0
}
