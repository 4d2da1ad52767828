package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// event is one line of the --json contract (README, "Events"): the union of
// the fields of all event kinds.
type event struct {
	Event string `json:"event"`
	TMs   *int64 `json:"t_ms"`

	Code string `json:"code"` // code

	Path   string `json:"path"` // connected
	Local  string `json:"local"`
	Remote string `json:"remote"`
	Proto  string `json:"proto"`
	Phrase string `json:"phrase"`

	Bytes int64 `json:"bytes"` // progress
	Total int64 `json:"total"`

	Files   []fileEvent `json:"files"` // done
	Resumed *int64      `json:"resumed"`

	Kind    string `json:"kind"` // error
	Message string `json:"message"`

	raw string
}

// ms is the event's t_ms (the parser guarantees it is present).
func (e event) ms() int64 { return *e.TMs }

type fileEvent struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// proc is a direkt process started by a test. Its stdout is parsed as --json
// events as they arrive, its stderr kept for diagnostics. The test's cleanup
// kills it (if it still runs) and waits for it.
type proc struct {
	t    testing.TB
	name string
	cmd  *exec.Cmd

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced whenever events, stderr or the exit change
	events   []event
	badLines []string // stdout lines that are not events
	stdout   lineBuffer
	stderr   lineBuffer
	exited   bool
	exitCode int // valid once exited; -1 when killed by a signal

	done chan struct{} // closed once the process has exited and its pipes are drained
}

// lineBuffer splits a stream into lines.
type lineBuffer struct {
	partial []byte
	lines   []string
}

func (b *lineBuffer) write(p []byte) []string {
	b.partial = append(b.partial, p...)
	var out []string
	for {
		i := bytes.IndexByte(b.partial, '\n')
		if i < 0 {
			break
		}
		line := string(b.partial[:i])
		b.partial = b.partial[i+1:]
		b.lines = append(b.lines, line)
		out = append(out, line)
	}
	return out
}

type procWriter struct {
	p      *proc
	stderr bool
}

func (w procWriter) Write(b []byte) (int, error) {
	p := w.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.stderr {
		p.stderr.write(b)
	} else {
		for _, line := range p.stdout.write(b) {
			p.addLineLocked(line)
		}
	}
	p.notifyLocked()
	return len(b), nil
}

// addLineLocked parses one stdout line. p.mu must be held.
func (p *proc) addLineLocked(line string) {
	var e event
	if err := json.Unmarshal([]byte(line), &e); err != nil || e.Event == "" || e.TMs == nil {
		p.badLines = append(p.badLines, line)
		return
	}
	e.raw = line
	p.events = append(p.events, e)
}

// notifyLocked wakes everyone waiting for a change. p.mu must be held.
func (p *proc) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// procOptions configure start.
type procOptions struct {
	// Netns runs the process in that network namespace ("ip netns exec");
	// empty means the test's own.
	Netns string
	// Home is $DIREKT_HOME; empty means a fresh temporary directory.
	Home string
	// Env are extra KEY=value variables, DIREKT_ ones included; nil means
	// none.
	Env []string
}

// start runs the direkt binary with args. The environment is the test's with
// every DIREKT_ variable removed, so a developer's settings do not leak in.
func start(t testing.TB, name string, opt procOptions, args ...string) *proc {
	t.Helper()
	if opt.Home == "" {
		opt.Home = t.TempDir()
	}
	var cmd *exec.Cmd
	if opt.Netns != "" {
		// ip netns exec switches namespace and execs direkt in place, so the
		// pid is direkt's and signals reach it.
		cmd = exec.Command("ip", append([]string{"netns", "exec", opt.Netns, direktBin}, args...)...)
	} else {
		cmd = exec.Command(direktBin, args...)
	}
	env := []string{"DIREKT_HOME=" + opt.Home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DIREKT_") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, opt.Env...)
	cmd.SysProcAttr = procAttr()
	p := &proc{t: t, name: name, cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
	cmd.Stdout = procWriter{p: p}
	cmd.Stderr = procWriter{p: p, stderr: true}
	// The process has no children that could hold its pipes open; this only
	// bounds a surprise.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		defer close(p.done)
		err := cmd.Wait()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.exited = true
		p.exitCode = cmd.ProcessState.ExitCode()
		if err != nil && p.exitCode == 0 {
			p.exitCode = -1
		}
		p.notifyLocked()
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, l := range p.badLines {
			t.Errorf("%s: stdout line is not a --json event: %q", name, l)
		}
		if t.Failed() {
			t.Logf("%s %s\n  exit %d\n  stdout:\n    %s\n  stderr:\n    %s", name, strings.Join(args, " "), p.exitCode,
				strings.Join(p.stdout.lines, "\n    "), strings.Join(p.stderr.lines, "\n    "))
		}
	})
	return p
}

// snapshot returns the events so far, whether the process exited, and a
// channel that is closed on the next change.
func (p *proc) snapshot() ([]event, bool, <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]event(nil), p.events...), p.exited, p.changed
}

// errEOF: the process exited without producing the awaited output.
var errEOF = errors.New("process exited")

// await waits until match accepts an event at index >= from, and returns that
// event and its index.
func (p *proc) await(ctx context.Context, from int, match func(event) bool) (event, int, error) {
	for {
		evs, exited, changed := p.snapshot()
		for i := from; i < len(evs); i++ {
			if match(evs[i]) {
				return evs[i], i, nil
			}
		}
		if exited {
			return event{}, -1, errEOF
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return event{}, -1, ctx.Err()
		}
	}
}

// mustEvent waits for the first event named name and fails the test if the
// process exits or ctx ends first.
func (p *proc) mustEvent(ctx context.Context, name string) event {
	p.t.Helper()
	e, _, err := p.await(ctx, 0, func(e event) bool { return e.Event == name })
	if err != nil {
		p.t.Fatalf("%s: no %q event: %v; events so far:\n%s", p.name, name, err, p.eventLog())
	}
	return e
}

// awaitStderr waits for a stderr line containing substr and returns it.
func (p *proc) awaitStderr(ctx context.Context, substr string) (string, error) {
	for {
		p.mu.Lock()
		lines, exited, changed := p.stderr.lines, p.exited, p.changed
		for _, l := range lines {
			if strings.Contains(l, substr) {
				p.mu.Unlock()
				return l, nil
			}
		}
		p.mu.Unlock()
		if exited {
			return "", errEOF
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// stderrContains returns the first stderr line so far that contains substr.
func (p *proc) stderrContains(substr string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range append(p.stderr.lines, string(p.stderr.partial)) {
		if strings.Contains(l, substr) {
			return l, true
		}
	}
	return "", false
}

// wait waits for the process to exit and returns its exit code (-1 when a
// signal ended it).
func (p *proc) wait(ctx context.Context) int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-ctx.Done():
		p.t.Fatalf("%s did not exit: %v; events so far:\n%s", p.name, ctx.Err(), p.eventLog())
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitCode
}

// signal sends sig to the process.
func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s to %s: %v", sig, p.name, err)
	}
}

// all returns every event so far.
func (p *proc) all() []event {
	evs, _, _ := p.snapshot()
	return evs
}

// last returns the last event named name, and whether there was one.
func (p *proc) last(name string) (event, bool) {
	evs := p.all()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Event == name {
			return evs[i], true
		}
	}
	return event{}, false
}

func (p *proc) eventLog() string {
	var b strings.Builder
	for _, e := range p.all() {
		fmt.Fprintf(&b, "  %s\n", e.raw)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(&b, "  stderr:\n    %s", strings.Join(p.stderr.lines, "\n    "))
	return b.String()
}

// exitedBySignal reports whether the process was ended by sig.
func (p *proc) exitedBySignal(sig syscall.Signal) bool {
	<-p.done
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}
