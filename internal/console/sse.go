package console

import (
	"net/http"
	"time"
)

// events streams Server-Sent Events: "changed" whenever Backend.Changed
// fires (coalesced; the page then fetches /api/state), one right away so a
// page that reconnects catches up, and a comment every keepalive interval.
// It ends when the request's context ends: the page goes away or Serve shuts
// down.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	// No read deadline: the server's ReadTimeout would otherwise end the
	// idle connection's background read and with it the request's context.
	rc.SetReadDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	changed := s.backend.Changed(ctx)
	tick := time.NewTicker(s.keepalive)
	defer tick.Stop()

	// send writes one event; each write gets its own deadline instead of
	// the server's whole-response WriteTimeout, so the stream may live
	// long while a page that stopped reading is dropped.
	send := func(msg string) bool {
		rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := w.Write([]byte(msg)); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\nevent: changed\ndata: {}\n\n") {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changed:
			if !ok {
				return
			}
			if !send("event: changed\ndata: {}\n\n") {
				return
			}
		case <-tick.C:
			if !send(": keepalive\n\n") {
				return
			}
		}
	}
}
