// Package testwatch turns a hung test binary into a readable failure. go
// test's own -timeout panic prints every goroutine, hundreds of them for a
// test with a browser and a pion peer connection, and a CI log that keeps
// only its tail then shows pion's loops and not the test that hung. Main
// arms a watchdog shortly before that deadline which prints the goroutines
// in this module's code, with the tests they belong to, and last a short
// summary of what is still running, then ends the binary.
//
// Only tests import testwatch.
package testwatch

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// module prefixes the functions of this module in a stack trace.
const module = "github.com/direkt/direkt/"

// Margin is how long before the binary's -test.timeout the watchdog fires:
// a tenth of the timeout, between 5 s and 2 minutes.
func Margin(timeout time.Duration) time.Duration {
	return min(max(timeout/10, 5*time.Second), 2*time.Minute)
}

// Arm starts the watchdog for the binary's -test.timeout, parsing the flags
// if TestMain has not yet. Call it first in TestMain. Without a timeout it
// does nothing.
func Arm() {
	if !flag.Parsed() {
		flag.Parse()
	}
	var timeout time.Duration
	if f := flag.Lookup("test.timeout"); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			timeout, _ = g.Get().(time.Duration)
		}
	}
	if timeout <= 0 {
		return
	}
	wait := timeout - Margin(timeout)
	time.AfterFunc(wait, func() {
		Report(os.Stderr, wait)
		os.Exit(2)
	})
}

// Report writes what the watchdog prints: the goroutines that run this
// module's code (their frames of it only), then the summary. after is how
// long the binary ran.
func Report(w io.Writer, after time.Duration) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	gs := Parse(buf)
	fmt.Fprintf(w, "\ntestwatch: the tests still run after %v, near the -timeout; %d goroutines, these in direkt's code:\n", after.Round(time.Second), len(gs))
	var summary []string
	for _, g := range gs {
		if len(g.Own) == 0 || g.Own[0].Func == "github.com/direkt/direkt/internal/testwatch.Report" {
			continue
		}
		fmt.Fprintf(w, "goroutine %s [%s]%s\n", g.ID, g.State, g.testSuffix())
		for _, f := range g.Own {
			fmt.Fprintf(w, "\t%s\n\t\t%s\n", f.Func, f.Where)
		}
		summary = append(summary, fmt.Sprintf("  %s [%s] in %s (%s)%s", g.ID, g.State, short(g.Own[0].Func), g.Own[0].Where, g.testSuffix()))
	}
	tests := RunningTests(gs)
	fmt.Fprintf(w, "testwatch: summary, the innermost frame of direkt's code per goroutine:\n%s\n", strings.Join(summary, "\n"))
	fmt.Fprintf(w, "testwatch: FAIL: tests still running: %s\n", strings.Join(tests, ", "))
}

// Goroutine is one goroutine of a stack dump.
type Goroutine struct {
	ID, State string
	// Own are its frames in this module's code, innermost first.
	Own []Frame
	// Test is the test function it runs under, if its stack shows one.
	Test string
}

// Frame is one function of a stack and where in it.
type Frame struct{ Func, Where string }

func (g Goroutine) testSuffix() string {
	if g.Test == "" {
		return ""
	}
	return " under " + g.Test
}

// Parse reads runtime.Stack(buf, true)'s output.
func Parse(dump []byte) []Goroutine {
	var gs []Goroutine
	for block := range bytes.SplitSeq(dump, []byte("\n\n")) {
		lines := strings.Split(strings.TrimSpace(string(block)), "\n")
		head, ok := strings.CutPrefix(lines[0], "goroutine ")
		if !ok {
			continue
		}
		id, state, _ := strings.Cut(head, " [")
		state, _, _ = strings.Cut(state, "]")
		g := Goroutine{ID: id, State: state}
		var prev string
		for i := 1; i+1 < len(lines); i += 2 {
			fn := funcName(lines[i])
			where := strings.TrimSpace(lines[i+1])
			if strings.HasPrefix(fn, module) {
				g.Own = append(g.Own, Frame{Func: fn, Where: trimOffset(where)})
			}
			// The main goroutine runs the tests under a tRunner too, in
			// testing's own function.
			if fn == "testing.tRunner" && prev != "" && !strings.HasPrefix(prev, "testing.") && g.Test == "" {
				g.Test = short(prev)
			}
			prev = fn
		}
		gs = append(gs, g)
	}
	return gs
}

// RunningTests names the test functions that goroutines run under, each
// once, in order.
func RunningTests(gs []Goroutine) []string {
	var tests []string
	for _, g := range gs {
		if g.Test != "" && !slices.Contains(tests, g.Test) {
			tests = append(tests, g.Test)
		}
	}
	if len(tests) == 0 {
		return []string{"(none: the binary hangs outside its tests, e.g. in TestMain or a cleanup)"}
	}
	return tests
}

// funcName is a stack line's function without its arguments, "created by"
// and "in goroutine N".
func funcName(line string) string {
	line = strings.TrimPrefix(strings.TrimSpace(line), "created by ")
	if i := strings.LastIndex(line, "("); i > 0 && strings.HasSuffix(line, ")") {
		line = line[:i]
	}
	if i := strings.Index(line, " in goroutine "); i > 0 {
		line = line[:i]
	}
	return line
}

// trimOffset drops a frame position's " +0x1b4".
func trimOffset(where string) string {
	if i := strings.LastIndex(where, " +0x"); i > 0 {
		return where[:i]
	}
	return where
}

// short drops the module path from a function name.
func short(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}
