package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		5 << 20: "5.0 MiB", 1 << 30: "1.0 GiB", 3 << 40: "3.0 TiB",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestFormatETA(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0:00", 59 * time.Second: "0:59", 61 * time.Second: "1:01", 3723 * time.Second: "1:02:03",
	} {
		if got := formatETA(d); got != want {
			t.Errorf("formatETA(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestProgressPlainLines: without a terminal the bar prints plain lines, not
// the empty start, and ends with the whole total at a real rate.
func TestProgressPlainLines(t *testing.T) {
	var buf bytes.Buffer
	b := newProgressBar(&buf, false, "sent")
	b.update(0, 1000)
	time.Sleep(10 * time.Millisecond)
	b.update(1000, 1000)
	b.finish()
	out := buf.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "sent 100.0%") {
		t.Fatalf("output %q: want one line for the finished transfer", out)
	}
	if strings.Contains(out, " 0 B/s") || strings.Contains(out, "\r") {
		t.Errorf("output %q: zero rate or terminal control characters", out)
	}
}

// TestProgressTerminal redraws in place and ends the line at finish.
func TestProgressTerminal(t *testing.T) {
	var buf bytes.Buffer
	b := newProgressBar(&buf, true, "sent")
	b.update(0, 1000)
	b.update(1000, 1000)
	b.finish()
	out := buf.String()
	if !strings.HasPrefix(out, "\r[") || !strings.HasSuffix(out, "\n") || !strings.Contains(out, "100.0%") {
		t.Fatalf("terminal output %q", out)
	}
}
