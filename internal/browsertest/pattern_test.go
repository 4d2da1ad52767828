package browsertest

import (
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPattern draws the pattern, shows its own capture in a video element
// and decodes it: the blocks read back and the latency is that of one
// machine's capture and display.
func TestPattern(t *testing.T) {
	ctx := New(t, Options{})
	Do(t, ctx, chromedp.Evaluate[bool](PatternJS+`;true`))
	Do(t, ctx, chromedp.Evaluate[bool](`(() => { const p = window.directkPattern; p.watch(p.start(15).stream); return true })()`))
	var r PatternResults
	deadline := time.Now().Add(20 * time.Second)
	for {
		r = Do(t, ctx, chromedp.Evaluate[PatternResults](`window.directkPattern.results()`))
		if r.Decoded >= 20 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s: %+v", r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r.Width != 800 || r.Height != 450 {
		t.Errorf("frame size %d×%d, want 800×450", r.Width, r.Height)
	}
	for _, l := range r.Latencies {
		if l < 0 || l > 1000 {
			t.Errorf("latency %v ms of a local capture", l)
		}
	}
	t.Logf("%d frames shown, %d decoded, %d not; latencies %v", r.Frames, r.Decoded, r.Bad, r.Latencies)
}
