package console

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
)

// Security of the console (issue 3, section 7). Every request passes, in
// this order:
//
//  1. the Host check: Host must be exactly our IP:PORT or localhost:PORT,
//     which defeats DNS rebinding (a foreign name resolving to 127.0.0.1);
//  2. fetch metadata: a browser request from another site (Sec-Fetch-Site
//     cross-site or same-site, which includes other ports of 127.0.0.1) is
//     refused, except a top-level navigation to "/", which still needs the
//     token;
//  3. http.CrossOriginProtection for state-changing methods;
//  4. the token: GET /?t=TOKEN sets the cookie and redirects to "/"; every
//     other request needs the cookie or "Authorization: Bearer TOKEN".
//
// Every response carries the headers of securityHeaders; no response ever
// carries CORS headers.

// securityHeaders are set on every response. The CSP allows scripts and
// styles from the console itself only (no inline code), images for the QR
// code, fetch/EventSource to itself, and no framing. Screen sharing needs
// nothing more: a video element showing a MediaStream (srcObject) loads no
// URL, so media-src stays 'none'; WebRTC is not subject to the CSP; and
// display-capture is allowed to the console itself (getDisplayMedia).
var securityHeaders = [][2]string{
	{"Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"},
	{"X-Frame-Options", "DENY"},
	{"Referrer-Policy", "no-referrer"},
	{"X-Content-Type-Options", "nosniff"},
	{"Cache-Control", "no-store"},
	{"Cross-Origin-Opener-Policy", "same-origin"},
	{"Cross-Origin-Resource-Policy", "same-origin"},
	{"Permissions-Policy", "camera=(), microphone=(), geolocation=(), usb=(), payment=(), display-capture=(self)"},
}

// secure wraps next in the checks above.
func (s *Server) secure(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for _, kv := range securityHeaders {
			h.Set(kv[0], kv[1])
		}
		if !slices.Contains(s.hosts, r.Host) {
			s.refuse(w, r, http.StatusMisdirectedRequest, "foreign host", "This console only answers to "+s.hosts[0]+".")
			return
		}
		if !fetchAllowed(r) {
			s.refuse(w, r, http.StatusForbidden, "cross-site request", "Cross-site requests are refused.")
			return
		}
		if err := cop.Check(r); err != nil {
			s.refuse(w, r, http.StatusForbidden, "cross-origin request", "Cross-origin requests are refused.")
			return
		}
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) && r.URL.Query().Has("t") {
			s.enter(w, r)
			return
		}
		if !s.authorized(r) {
			if r.URL.Path == "/" {
				s.log.Info("console: refused", "reason", "no token", "method", r.Method, "path", r.URL.Path)
				h.Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(http.StatusUnauthorized)
				w.Write([]byte(noTokenPage))
				return
			}
			s.refuse(w, r, http.StatusUnauthorized, "no token", "Open the console with the link direkt printed.")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// noTokenPage is what a browser sees at "/" without the token.
const noTokenPage = `<!doctype html><html><head><meta charset="utf-8"><title>direkt</title></head>
<body><h1>direkt</h1><p>Open the console with the link direkt printed in the terminal (it ends in <code>?t=…</code>).</p>
<p>Öffnen Sie die Konsole über den Link, den direkt im Terminal ausgegeben hat (er endet auf <code>?t=…</code>).</p></body></html>
`

// fetchAllowed applies a resource-isolation policy with the Fetch Metadata
// headers browsers send: requests from the console itself ("same-origin"),
// typed or opened by the user ("none") and non-browser clients (no header)
// pass; so does a navigation to "/" from elsewhere (it still needs the token).
func fetchAllowed(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
		return true
	}
	return r.Method == http.MethodGet && r.URL.Path == "/" &&
		r.Header.Get("Sec-Fetch-Mode") == "navigate" && r.Header.Get("Sec-Fetch-Dest") == "document"
}

// enter handles GET /?t=TOKEN: a valid token sets the cookie and redirects to
// "/", which takes the token out of the address bar and the history. The
// URL keeps working for the whole run, so the user can open it again.
func (s *Server) enter(w http.ResponseWriter, r *http.Request) {
	if !s.tokenOK(r.URL.Query().Get("t")) {
		s.refuse(w, r, http.StatusUnauthorized, "wrong token", "This link is not valid (any more). Open the link direkt printed.")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookie,
		Value:    s.token,
		Path:     "/",
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" || site == "same-site" {
		// Opened from another site's page: after an HTTP redirect the
		// browser would still count the request chain as cross-site and
		// withhold the SameSite=Strict cookie. A refresh from this page
		// is same-origin, so the cookie goes along.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(refreshPage))
		return
	}
	w.Header().Set("Location", "/")
	w.WriteHeader(http.StatusSeeOther)
}

// refreshPage moves a browser that came from another site on to "/".
const refreshPage = `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="0; url=/"><title>direkt</title></head>
<body><p><a href="/">direkt</a></p></body></html>
`

// authorized reports whether r carries the token in our cookie or as a
// bearer token. All cookies of our name are tried: another port on
// 127.0.0.1 may plant one with a longer path, which the browser sends first.
func (s *Server) authorized(r *http.Request) bool {
	for _, c := range r.CookiesNamed(s.cookie) {
		if s.tokenOK(c.Value) {
			return true
		}
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return s.tokenOK(tok)
	}
	return false
}

// tokenOK compares in constant time.
func (s *Server) tokenOK(tok string) bool {
	return subtle.ConstantTimeCompare([]byte(tok), []byte(s.token)) == 1
}

// refuse logs a refused request (never its query, which may hold a token)
// and answers with a JSON error.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, reason, msg string) {
	lvl := s.log.Info
	if status != http.StatusUnauthorized {
		lvl = s.log.Warn
	}
	lvl("console: refused", "reason", reason, "method", r.Method, "path", r.URL.Path, "host", r.Host, "remote", r.RemoteAddr)
	writeError(w, status, msg)
}
