package console

import (
	"embed"
	"net/http"
)

// ui is the page: plain HTML, CSS and JavaScript modules, no inline script
// (the CSP forbids it), no build step.
//
//go:embed ui
var ui embed.FS

// uiFiles maps the paths the console serves to the embedded files and their
// types; nothing else of ui is reachable.
var uiFiles = map[string][2]string{
	"/{$}":         {"ui/index.html", "text/html; charset=utf-8"},
	"/app.js":      {"ui/app.js", "text/javascript; charset=utf-8"},
	"/i18n.js":     {"ui/i18n.js", "text/javascript; charset=utf-8"},
	"/screen.js":   {"ui/screen.js", "text/javascript; charset=utf-8"},
	"/style.css":   {"ui/style.css", "text/css; charset=utf-8"},
	"/favicon.svg": {"ui/favicon.svg", "image/svg+xml"},
	// Browsers ask for /favicon.ico on pages that name no icon (the entry
	// page that sets the cookie); a 404 there is noise in the console.
	"/favicon.ico": {"ui/favicon.svg", "image/svg+xml"},
}

func (s *Server) static(mux *http.ServeMux) {
	for pattern, f := range uiFiles {
		b, err := ui.ReadFile(f[0])
		if err != nil {
			panic("console: embedded UI lacks " + f[0]) // a build mistake, caught by every test
		}
		mux.Handle(pattern, only(http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", f[1])
			w.Write(b)
		}))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "Not found.")
	})
}
