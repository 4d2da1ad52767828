package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// event is one line of the --json event stream (README, "Events"), with the
// moment it was written and the process CPU time at that moment.
type event struct {
	Name    string      `json:"event"`
	TMs     int64       `json:"t_ms"`
	Code    string      `json:"code"`
	Path    string      `json:"path"`
	Local   string      `json:"local"`
	Remote  string      `json:"remote"`
	Proto   string      `json:"proto"`
	Bytes   int64       `json:"bytes"`
	Total   int64       `json:"total"`
	Files   []fileEvent `json:"files"`
	Kind    string      `json:"kind"`
	Message string      `json:"message"`

	at  time.Time
	cpu time.Duration
}

type fileEvent struct {
	Name   string `json:"name"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

var errNoEventName = errors.New(`event line without "event"`)

// parseEvent reads one line of the event stream.
func parseEvent(line []byte) (event, error) {
	var e event
	if err := json.Unmarshal(line, &e); err != nil {
		return event{}, fmt.Errorf("event line %.80q: %w", line, err)
	}
	if e.Name == "" {
		return event{}, fmt.Errorf("event line %.80q: %w", line, errNoEventName)
	}
	return e, nil
}

// eventLog is the stdout of one in-process direkt command: it splits what the
// command writes into lines, parses each as an event and stamps it with the
// time and CPU time of its arrival. The command writes each event with one
// Write call right after the moment it reports, so the stamp is that moment.
type eventLog struct {
	mu      sync.Mutex
	partial []byte        // an unterminated line
	events  []event       // in arrival order
	bad     []string      // lines that are not events (reported on failure)
	wake    chan struct{} // closed and replaced on every new line
}

func newEventLog() *eventLog { return &eventLog{wake: make(chan struct{})} }

func (l *eventLog) Write(p []byte) (int, error) {
	at, cpu := time.Now(), cpuTime()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	n := 0
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := l.partial[:i]
		l.partial = l.partial[i+1:]
		n++
		e, err := parseEvent(line)
		if err != nil {
			l.bad = append(l.bad, err.Error())
			continue
		}
		e.at, e.cpu = at, cpu
		l.events = append(l.events, e)
	}
	if n > 0 {
		// Start the next line in a fresh buffer so the old one can go.
		l.partial = append([]byte(nil), l.partial...)
		close(l.wake)
		l.wake = make(chan struct{})
	}
	return len(p), nil
}

var errExited = errors.New("command exited")

// wait returns the first event called name. It fails on an "error" event,
// when exited is closed before the event came, or when ctx ends.
func (l *eventLog) wait(ctx context.Context, name string, exited <-chan struct{}) (event, error) {
	for {
		l.mu.Lock()
		wake := l.wake
		for _, e := range l.events {
			if e.Name == name {
				l.mu.Unlock()
				return e, nil
			}
			if e.Name == "error" {
				l.mu.Unlock()
				return event{}, fmt.Errorf("waiting for %q: error event, kind %s: %s", name, e.Kind, e.Message)
			}
		}
		bad := l.bad
		l.mu.Unlock()
		if len(bad) > 0 {
			return event{}, fmt.Errorf("waiting for %q: %s", name, bad[0])
		}
		select {
		case <-wake:
		case <-exited:
			// The command's last writes happen before it exits; look once
			// more, then give up.
			select {
			case <-wake:
				continue
			default:
			}
			return event{}, fmt.Errorf("waiting for %q: %w", name, errExited)
		case <-ctx.Done():
			return event{}, fmt.Errorf("waiting for %q: %w", name, context.Cause(ctx))
		}
	}
}
