package cli

import (
	"sync"

	"github.com/direkt/direkt/internal/session"
)

// EventPath: the connection's path changed after "connected" (an ICE
// restart after a network change found a new one, or ICE switched pairs).
const EventPath = "path"

// watchPath reports every change of the session's path after connect as a
// path event (and a line for a person) until the returned stop is called or
// the session ends. stop waits for the watcher; call it before closing the
// session.
func (p *peer) watchPath(sess *session.Session) (stop func()) {
	last := sess.Path()
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			changed := sess.PathChanged()
			if now := sess.Path(); now != last && now.Local != "" {
				last = now
				p.reportPath(now)
			}
			select {
			case <-changed:
			case <-sess.Done():
				return
			case <-quit:
				return
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() { close(quit) })
		wg.Wait()
	}
}

// reportPath emits the path event and tells the person.
func (p *peer) reportPath(path session.Path) {
	p.ev.emit(EventPath, map[string]any{
		"path":        path.Kind(),
		"local":       path.Local,
		"remote":      path.Remote,
		"proto":       path.Proto,
		"local_addr":  path.LocalAddr,
		"remote_addr": path.RemoteAddr,
	})
	how := "directly"
	if !path.Direct {
		how = "through the relay"
	}
	p.say("The network changed; connected %s again (%s↔%s over %s).", how, path.Local, path.Remote, path.Proto)
}
