package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Event names of the --json contract (README, "Events").
const (
	EventCode      = "code"
	EventConnected = "connected"
	EventProgress  = "progress"
	EventDone      = "done"
	EventError     = "error"
	// EventEnded: a consultation ended (host and join).
	EventEnded = "ended"
	// EventConsole: where the console listens (join; host puts it in code).
	EventConsole = "console"
)

// Error kinds of the --json contract.
const (
	KindBadCode     = "bad-code"
	KindTimeout     = "timeout"
	KindUnreachable = "unreachable"
	KindRefused     = "refused"
	KindIO          = "io"
	KindUsage       = "usage"
	// KindInterrupted: the user stopped the command (Ctrl-C, SIGTERM).
	KindInterrupted = "interrupted"
)

// FileEvent describes one file of a done event.
type FileEvent struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// events writes --json events, one object per line, to out; in human mode it
// writes nothing (the commands print their own sentences).
type events struct {
	mu    sync.Mutex
	json  bool
	out   io.Writer
	start time.Time
}

func (e *events) emit(name string, fields map[string]any) {
	if !e.json {
		return
	}
	head := fmt.Sprintf(`{"event":%q,"t_ms":%d`, name, time.Since(e.start).Milliseconds())
	b, err := json.Marshal(fields)
	if err != nil {
		// Only our own values are marshalled; a failure is a bug.
		panic(fmt.Sprintf("cli: marshal event %s: %v", name, err))
	}
	line := []byte(head)
	if len(b) > 2 { // more than "{}"
		line = append(line, ',')
	}
	line = append(line, b[1:]...)
	b = append(line, '\n')
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out.Write(b)
}
