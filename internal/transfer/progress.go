package transfer

import "time"

// progressInterval throttles Progress calls to about ten a second.
const progressInterval = 100 * time.Millisecond

// meter counts bytes and calls a Progress function, throttled. It is used by
// one goroutine only.
type meter struct {
	fn          Progress
	done, total int64
	last        time.Time
}

func (m *meter) add(n int64) {
	m.done += n
	if m.fn == nil {
		return
	}
	if now := time.Now(); now.Sub(m.last) >= progressInterval {
		m.last = now
		m.fn(m.done, m.total)
	}
}

// finish reports the final state once.
func (m *meter) finish() {
	if m.fn != nil {
		m.fn(m.done, m.total)
	}
}
