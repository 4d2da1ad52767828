package app

import (
	"context"
	"sync"
)

// notifier wakes subscribers when the state changed. Each subscriber has a
// one-slot channel, so notifications coalesce and a slow reader never blocks
// the writer.
type notifier struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// Changed subscribes until ctx ends. The channel is never closed: readers
// select on ctx.Done() too.
func (n *notifier) Changed(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	n.mu.Lock()
	if n.subs == nil {
		n.subs = make(map[chan struct{}]struct{})
	}
	n.subs[ch] = struct{}{}
	n.mu.Unlock()
	context.AfterFunc(ctx, func() {
		n.mu.Lock()
		delete(n.subs, ch)
		n.mu.Unlock()
	})
	return ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	for ch := range n.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
