package console

import (
	"math"
	"net/http"
	"strings"
	"unicode/utf8"
)

// The screen sharing endpoints (docs/screen.md, "The console API").

// postScreenRTC answers the page's bridge offer with the Backend's answer.
func (s *Server) postScreenRTC(w http.ResponseWriter, r *http.Request) {
	var req struct {
		SDP string `json:"sdp"`
	}
	if !decodeJSON(w, r, maxSDPBody, &req) {
		return
	}
	if len(req.SDP) > maxSDP {
		writeError(w, http.StatusRequestEntityTooLarge, "The offer is longer than 64 KiB.")
		return
	}
	if !validSDP(req.SDP) {
		writeError(w, http.StatusBadRequest, "Send an SDP offer.")
		return
	}
	answer, err := s.backend.ScreenRTC(r.Context(), req.SDP)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		SDP string `json:"sdp"`
	}{answer})
}

// validSDP is a cheap look at an offer before pion parses it for real:
// UTF-8 text that starts with the version line.
func validSDP(sdp string) bool {
	return (strings.HasPrefix(sdp, "v=0\r\n") || strings.HasPrefix(sdp, "v=0\n")) && utf8.ValidString(sdp)
}

// shareRequest is the body of POST /api/screen.
type shareRequest struct {
	Action string `json:"action"`
	What   string `json:"what"`
	W      *int   `json:"w"`
	H      *int   `json:"h"`
}

// check says what is wrong with a share request, "" if nothing: "start"
// needs what (w and h may be left out: 0, unknown); the other actions take
// nothing else.
func (q shareRequest) check() string {
	switch q.Action {
	case "start":
		switch q.What {
		case "screen", "window", "tab", "other":
		default:
			return `Say what is shared: "screen", "window", "tab" or "other".`
		}
		for _, n := range []*int{q.W, q.H} {
			if n != nil && (*n < 0 || *n > maxScreenPixels) {
				return "Width and height are 0 to 16384 pixels."
			}
		}
		return ""
	case "pause", "resume", "stop":
		if q.What != "" || q.W != nil || q.H != nil {
			return "Only start says what is shared."
		}
		return ""
	}
	return `The action is "start", "pause", "resume" or "stop".`
}

func (s *Server) postScreen(w http.ResponseWriter, r *http.Request) {
	var req shareRequest
	if !decodeJSON(w, r, maxJSONBody, &req) {
		return
	}
	if msg := req.check(); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	var width, height int
	if req.W != nil {
		width = *req.W
	}
	if req.H != nil {
		height = *req.H
	}
	s.action(func() error { return s.backend.Share(req.Action, req.What, width, height) })(w, r)
}

// pointerRequest is the body of POST /api/screen/pointer: x and y, or hide.
type pointerRequest struct {
	X    *float64 `json:"x"`
	Y    *float64 `json:"y"`
	Hide bool     `json:"hide"`
}

// point returns where to show the pointer, or show false to hide it; ok
// is false for a request that is neither: x and y both, finite and in
// [0, 1], or hide true alone.
func (q pointerRequest) point() (x, y float64, show, ok bool) {
	if q.Hide {
		return 0, 0, false, q.X == nil && q.Y == nil
	}
	if q.X == nil || q.Y == nil || !fraction(*q.X) || !fraction(*q.Y) {
		return 0, 0, false, false
	}
	return *q.X, *q.Y, true, true
}

func fraction(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && v >= 0 && v <= 1
}

func (s *Server) postPointer(w http.ResponseWriter, r *http.Request) {
	var req pointerRequest
	if !decodeJSON(w, r, maxJSONBody, &req) {
		return
	}
	x, y, show, ok := req.point()
	if !ok {
		writeError(w, http.StatusBadRequest, `Send x and y, each from 0 to 1, or "hide": true.`)
		return
	}
	s.action(func() error { return s.backend.Pointer(x, y, show) })(w, r)
}

func (s *Server) postView(w http.ResponseWriter, r *http.Request) {
	var req struct {
		On *bool `json:"on"`
	}
	if !decodeJSON(w, r, maxJSONBody, &req) {
		return
	}
	if req.On == nil {
		writeError(w, http.StatusBadRequest, "Say on true or false.")
		return
	}
	s.action(func() error { return s.backend.View(*req.On) })(w, r)
}
