package console

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what the page may send (API.md lists them).
const (
	maxJSONBody  = 64 << 10 // chat, ask, answer, allow
	maxNotesBody = 1 << 20  // PUT /api/notes
	maxChatRunes = 4000     // docs/consult.md: chat text 1–4000 characters
	maxQuery     = 500      // GET /api/records?q=
	maxIDLen     = 128
	maxKeyLen    = 256
	// maxSDP bounds the bridge's offer (docs/screen.md); its JSON body
	// may be larger, line breaks escaped.
	maxSDP     = 64 << 10
	maxSDPBody = 4 * maxSDP
	// maxScreenPixels bounds a share's width and height (docs/screen.md).
	maxScreenPixels = 16384
)

// routes is the whole console: the API, the embedded UI, and the security
// checks in front of both.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	api := func(pattern, method string, h http.HandlerFunc) {
		mux.Handle(pattern, only(method, h))
	}
	api("/api/state", http.MethodGet, s.getState)
	api("/api/events", http.MethodGet, s.events)
	api("/api/chat", http.MethodPost, s.postChat)
	api("/api/ask", http.MethodPost, s.postAsk)
	api("/api/answer", http.MethodPost, s.postAnswer)
	api("/api/files", http.MethodPost, s.postFile)
	api("/api/files/{id}", http.MethodGet, s.getFile)
	api("/api/notes", http.MethodPut, s.putNotes)
	api("/api/end", http.MethodPost, s.action(func() error { return s.backend.End() }))
	api("/api/new", http.MethodPost, s.action(func() error { return s.backend.New() }))
	api("/api/records", http.MethodGet, s.getRecords)
	api("/api/records/{file}", http.MethodGet, s.getRecord)
	api("/api/known/{key}/allow", http.MethodPost, s.postAllow)
	api("/api/known/{key}/revoke", http.MethodPost, s.known(s.backend.RevokePeer))
	api("/api/known/{key}/rejoin", http.MethodPost, s.known(s.backend.Rejoin))
	api("/api/qr.png", http.MethodGet, s.getQR)
	api("/api/screen/rtc", http.MethodPost, s.postScreenRTC)
	api("/api/screen", http.MethodPost, s.postScreen)
	api("/api/screen/pointer", http.MethodPost, s.postPointer)
	api("/api/screen/view", http.MethodPost, s.postView)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "No such API.")
	})
	s.static(mux)
	return s.secure(mux)
}

// only answers 405 to other methods than method (GET includes HEAD).
func only(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != method && (method != http.MethodGet || r.Method != http.MethodHead) {
			allow := method
			if method == http.MethodGet {
				allow += ", HEAD"
			}
			w.Header().Set("Allow", allow)
			writeError(w, http.StatusMethodNotAllowed, "Method not allowed.")
			return
		}
		h(w, r)
	}
}

// apiError is the body of every error response.
type apiError struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, apiError{msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
	w.Write([]byte{'\n'})
}

// backendError answers an action the Backend refused: its message is shown to
// the user as it is. fs.ErrNotExist means 404, fs.ErrPermission 403, and
// anything else 409 (not possible now).
func (s *Server) backendError(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusConflict
	switch {
	case errors.Is(err, fs.ErrNotExist):
		status = http.StatusNotFound
	case errors.Is(err, fs.ErrPermission):
		status = http.StatusForbidden
	}
	// The message may name a file or a peer: not logged.
	s.log.Debug("console: action refused", "path", r.URL.Path, "status", status)
	writeError(w, status, err.Error())
}

// decodeJSON reads r's body, at most limit bytes of application/json, into v
// and refuses unknown fields and trailing data. It answers the error itself
// and reports whether v is good.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, "Send application/json.")
		return false
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("trailing data")
			if terr != nil {
				err = terr
			}
		}
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, http.StatusRequestEntityTooLarge, "Request too large.")
			return false
		}
		writeError(w, http.StatusBadRequest, "Malformed request: invalid JSON body.")
		return false
	}
	return true
}

func (s *Server) state() State {
	st := s.backend.State()
	if st.Lang == "" {
		st.Lang = s.lang
	}
	return st
}

func (s *Server) getState(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.state())
}

// action runs f and answers 204 or the Backend's error.
func (s *Server) action(f func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := f(); err != nil {
			s.backendError(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) postChat(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Text string `json:"text"`
	}
	if !decodeJSON(w, r, maxJSONBody, &req) {
		return
	}
	if strings.TrimFunc(req.Text, unicode.IsSpace) == "" || utf8.RuneCountInString(req.Text) > maxChatRunes || !utf8.ValidString(req.Text) {
		writeError(w, http.StatusBadRequest, "A chat message has 1 to 4000 characters.")
		return
	}
	s.action(func() error { return s.backend.Chat(req.Text) })(w, r)
}

func (s *Server) postAsk(w http.ResponseWriter, r *http.Request) {
	var req struct {
		What string `json:"what"`
	}
	if !decodeJSON(w, r, maxJSONBody, &req) {
		return
	}
	if req.What != "record" && req.What != "screen" {
		writeError(w, http.StatusBadRequest, `Ask for "record" or "screen"; files are asked for by sending them.`)
		return
	}
	s.action(func() error { return s.backend.Ask(req.What) })(w, r)
}

func (s *Server) postAnswer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
		OK *bool  `json:"ok"`
	}
	if !decodeJSON(w, r, maxJSONBody, &req) {
		return
	}
	if !validID(req.ID) || req.OK == nil {
		writeError(w, http.StatusBadRequest, "An answer needs an id and ok.")
		return
	}
	s.action(func() error { return s.backend.Answer(req.ID, *req.OK) })(w, r)
}

func (s *Server) putNotes(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Text *string `json:"text"`
	}
	if !decodeJSON(w, r, maxNotesBody, &req) {
		return
	}
	if req.Text == nil || !utf8.ValidString(*req.Text) {
		writeError(w, http.StatusBadRequest, "Notes need a text.")
		return
	}
	s.action(func() error { return s.backend.SetNotes(*req.Text) })(w, r)
}

func (s *Server) getRecords(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query().Get("q")
	if len(q) > maxQuery || !utf8.ValidString(q) {
		writeError(w, http.StatusBadRequest, "Search text too long.")
		return
	}
	recs, err := s.backend.Records(q)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	if recs == nil {
		recs = []RecordInfo{}
	}
	writeJSON(w, http.StatusOK, recs)
}

func (s *Server) postAllow(w http.ResponseWriter, r *http.Request) {
	key := r.PathValue("key")
	if !validKey(key) {
		writeError(w, http.StatusBadRequest, "Bad peer key.")
		return
	}
	var req struct {
		OK *bool `json:"ok"`
	}
	if !decodeJSON(w, r, maxJSONBody, &req) {
		return
	}
	if req.OK == nil {
		writeError(w, http.StatusBadRequest, "Say ok true or false.")
		return
	}
	s.action(func() error { return s.backend.AllowPeer(key, *req.OK) })(w, r)
}

// known wraps an action on a known peer's key.
func (s *Server) known(f func(key string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.PathValue("key")
		if !validKey(key) {
			writeError(w, http.StatusBadRequest, "Bad peer key.")
			return
		}
		s.action(func() error { return f(key) })(w, r)
	}
}

func (s *Server) getQR(w http.ResponseWriter, r *http.Request) {
	u := s.backend.State().JoinURL
	if u == "" {
		writeError(w, http.StatusNotFound, "No join link now.")
		return
	}
	png, err := QRCodePNG(u, 320)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "Cannot draw the QR code.")
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

// validID accepts the ids of files, asks and records: 1–128 characters of
// [A-Za-z0-9_.-], not starting with a dot.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLen || id[0] == '.' {
		return false
	}
	for _, c := range []byte(id) {
		if !isAlnum(c) && c != '_' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// validKey accepts a public key in standard or URL-safe base64.
func validKey(k string) bool {
	if k == "" || len(k) > maxKeyLen {
		return false
	}
	for _, c := range []byte(k) {
		if !isAlnum(c) && !strings.ContainsRune("+/=_-", rune(c)) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
