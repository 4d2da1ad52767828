package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// formatBytes renders n in binary units: "1.5 GiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// progressBar draws bytes, rate and ETA: redrawn in place on a terminal, a
// plain line every few seconds otherwise.
type progressBar struct {
	mu       sync.Mutex
	w        io.Writer
	tty      bool
	verb     string
	start    time.Time
	last     time.Time
	lastDone int64
	rate     float64 // bytes/s, smoothed
	rateAt   time.Time
	rateDone int64
	// rateStart is where this run started (resumed bytes excluded).
	rateStart int64
	started   bool
	drawn     bool
	done      int64
	total     int64
}

func newProgressBar(w io.Writer, tty bool, verb string) *progressBar {
	now := time.Now()
	return &progressBar{w: w, tty: tty, verb: verb, start: now, rateAt: now, lastDone: -1}
}

func (b *progressBar) update(done, total int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := time.Now()
	if b.lastDone < 0 && !b.started {
		// Resumed bytes are not speed.
		b.started, b.rateDone, b.rateStart = true, done, done
	}
	b.done, b.total = done, total
	if dt := now.Sub(b.rateAt).Seconds(); dt >= 0.5 {
		inst := float64(done-b.rateDone) / dt
		if b.rate == 0 {
			b.rate = inst
		} else {
			b.rate = 0.7*b.rate + 0.3*inst
		}
		b.rateAt, b.rateDone = now, done
	}
	every := 3 * time.Second
	if b.tty {
		every = 200 * time.Millisecond
	}
	if done != total && now.Sub(b.last) < every {
		return
	}
	if done == b.lastDone || (!b.tty && done == 0 && total > 0) {
		return
	}
	b.last, b.lastDone = now, done
	if done == total {
		// The smoothed rate lags, and is zero for transfers under half a
		// second: end with the average.
		if secs := now.Sub(b.start).Seconds(); secs > 0 {
			b.rate = float64(done-b.rateStart) / secs
		}
	}
	b.drawLocked()
}

func (b *progressBar) drawLocked() {
	pct := 100.0
	if b.total > 0 {
		pct = 100 * float64(b.done) / float64(b.total)
	}
	eta := "--:--"
	if b.rate > 0 && b.total >= b.done {
		eta = formatETA(time.Duration(float64(b.total-b.done) / b.rate * float64(time.Second)))
	}
	line := fmt.Sprintf("%5.1f%%  %s / %s  %s/s  ETA %s", pct, formatBytes(b.done), formatBytes(b.total), formatBytes(int64(b.rate)), eta)
	if b.tty {
		const width = 24
		n := int(pct / 100 * width)
		bar := "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "] "
		fmt.Fprintf(b.w, "\r%s%s\033[K", bar, line)
		b.drawn = true
		return
	}
	fmt.Fprintf(b.w, "%s %s\n", b.verb, line)
}

func (b *progressBar) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tty && b.drawn {
		fmt.Fprint(b.w, "\n")
	}
}

func formatETA(d time.Duration) string {
	s := int(d.Round(time.Second).Seconds())
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
