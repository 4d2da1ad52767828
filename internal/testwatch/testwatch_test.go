package testwatch

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const hangEnv = "TESTWATCH_HANG"

func TestMain(m *testing.M) {
	Arm()
	os.Exit(m.Run())
}

// TestHang hangs, when run by TestWatchdogEndsHungBinary with hangEnv set.
func TestHang(t *testing.T) {
	if os.Getenv(hangEnv) == "" {
		t.Skip("run by TestWatchdogEndsHungBinary")
	}
	hangInHelper(make(chan struct{}))
}

func hangInHelper(never chan struct{}) { <-never }

// TestWatchdogEndsHungBinary runs this test binary with a test that hangs
// and a 10 s timeout: the watchdog ends it after 5 s with exit code 2 and
// names the test and where it waits, in the last lines it prints.
func TestWatchdogEndsHungBinary(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHang$", "-test.timeout=10s")
	cmd.Env = append(os.Environ(), hangEnv+"=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("the hung binary ended with %v after %v, want exit code 2 from the watchdog:\n%s", err, time.Since(start), out.String())
	}
	if strings.Contains(out.String(), "panic: test timed out") {
		t.Fatalf("go test's own timeout fired first:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	tail := strings.Join(lines[max(0, len(lines)-3):], "\n")
	for _, want := range []string{"testwatch: FAIL: tests still running: testwatch.TestHang", "testwatch.hangInHelper", "under testwatch.TestHang"} {
		if !strings.Contains(tail, want) {
			t.Errorf("the last lines lack %q:\n%s", want, tail)
		}
	}
}

// TestReport: Report on this process names the test goroutine, blocked in
// a helper of this package, and leaves out goroutines in no direkt code.
func TestReport(t *testing.T) {
	release := make(chan struct{})
	got := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		// Let the test goroutine block first.
		time.Sleep(50 * time.Millisecond)
		for range 100 {
			b.Reset()
			Report(&b, time.Minute)
			if strings.Contains(b.String(), "hangInHelper") {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		got <- b.String()
		close(release)
	}()
	hangInHelper(release)
	out := <-got
	if !strings.Contains(out, "in testwatch.hangInHelper") || !strings.Contains(out, "under testwatch.TestReport") {
		t.Errorf("the report does not show the test blocked in hangInHelper:\n%s", out)
	}
	if strings.Contains(out, "testwatch.Report") {
		t.Errorf("the report shows its own goroutine:\n%s", out)
	}
	if !strings.HasSuffix(strings.TrimSpace(out), "tests still running: testwatch.TestReport") {
		t.Errorf("the report's last line does not name the running test:\n%s", out)
	}
}

func TestParse(t *testing.T) {
	dump := `goroutine 7 [select, 29 minutes]:
github.com/pion/ice/v4.(*Agent).connectivityChecks(0xc0002de008)
	/root/go/pkg/mod/github.com/pion/ice/v4@v4.4.8/agent.go:725 +0x411
created by github.com/pion/ice/v4.(*Agent).startConnectivityChecks.func1 in goroutine 6114
	/root/go/pkg/mod/github.com/pion/ice/v4@v4.4.8/agent.go:659 +0x1ba

goroutine 21 [chan receive, 29 minutes]:
github.com/direkt/direkt/internal/consult.(*Consultation).End(0xc000123, {0x0, 0x0})
	/src/internal/consult/consult.go:372 +0x85
github.com/direkt/direkt/web_test.joinPageScenario(0xc0001, 0xc0002, {0x13, 0x7})
	/src/web/browser_engines_test.go:330 +0x1234
github.com/direkt/direkt/web_test.joinPageInEngine.func1(0xc0001)
	/src/web/browser_engines_test.go:54 +0x45
testing.tRunner(0xc0001, 0xc0003)
	/usr/local/go/src/testing/testing.go:1934 +0xea
created by testing.(*T).Run in goroutine 20
	/usr/local/go/src/testing/testing.go:1997 +0x465
`
	gs := Parse([]byte(dump))
	if len(gs) != 2 {
		t.Fatalf("parsed %d goroutines, want 2: %+v", len(gs), gs)
	}
	if gs[0].ID != "7" || gs[0].State != "select, 29 minutes" || len(gs[0].Own) != 0 || gs[0].Test != "" {
		t.Errorf("pion's goroutine parsed as %+v", gs[0])
	}
	g := gs[1]
	if g.ID != "21" || len(g.Own) != 3 || g.Own[0].Func != "github.com/direkt/direkt/internal/consult.(*Consultation).End" ||
		g.Own[0].Where != "/src/internal/consult/consult.go:372" || g.Test != "web_test.joinPageInEngine.func1" {
		t.Errorf("the test's goroutine parsed as %+v", g)
	}
	if got := RunningTests(gs); len(got) != 1 || got[0] != "web_test.joinPageInEngine.func1" {
		t.Errorf("running tests %q", got)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("goroutine 1 [running]:\nmain.main()\n\t/x.go:1 +0x1\n"))
	f.Add([]byte("goroutine x\n\n\ngoroutine [\n(\n"))
	f.Fuzz(func(t *testing.T, dump []byte) {
		for _, g := range Parse(dump) {
			for _, fr := range g.Own {
				if !strings.HasPrefix(fr.Func, module) {
					t.Fatalf("frame %q outside the module", fr.Func)
				}
			}
		}
	})
}
