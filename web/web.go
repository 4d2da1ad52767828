package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

//go:embed dist
var dist embed.FS

const (
	// PagePath is where the join page lives: /j/ shows the code form,
	// /j/<nameplate>#<words> (and /j/<code>) joins at once.
	PagePath = "/j/"
	// AssetPath is the prefix of the page's scripts and styles, whose names
	// carry a content hash.
	AssetPath = "/j/assets/"

	// contentSecurityPolicy allows the page's own scripts and styles, the
	// mailbox WebSocket and nothing else: no inline script, no third party,
	// no framing. WebRTC is not subject to CSP.
	contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " +
		"connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; " +
		"require-trusted-types-for 'script'"
	// permissionsPolicy: the client never shares its camera, microphone or
	// location (docs/consult.md: no remote control, consent first). It may
	// show the adviser its screen on its own initiative (docs/screen.md):
	// display-capture for the page itself only.
	permissionsPolicy = "camera=(), microphone=(), display-capture=(self), geolocation=(), payment=(), usb=()"

	cachePage   = "no-cache"
	cacheAsset  = "public, max-age=31536000, immutable"
	cacheErrors = "no-store"
)

type asset struct {
	name, ctype, etag string
	data              []byte
}

type handler struct {
	page   asset
	assets map[string]asset
}

// Handler serves the browser client: GET /j/ and /j/<anything> return the
// join page (the same HTML for every path; the page reads the code from its
// address), GET /j/assets/<file> its scripts and styles, / redirects to /j/,
// and everything else is 404. Every response carries the security headers:
// a strict Content-Security-Policy, Referrer-Policy no-referrer (the URL
// fragment holds the code's secret words), nosniff and no framing.
func Handler() http.Handler {
	h := &handler{assets: map[string]asset{}}
	entries, err := fs.ReadDir(dist, "dist")
	if err != nil {
		panic("web: dist/ is not embedded: " + err.Error())
	}
	for _, e := range entries {
		data, err := fs.ReadFile(dist, "dist/"+e.Name())
		if err != nil {
			panic("web: " + err.Error())
		}
		sum := sha256.Sum256(data)
		a := asset{name: e.Name(), ctype: contentType(e.Name()), etag: `"` + hex.EncodeToString(sum[:16]) + `"`, data: data}
		if e.Name() == "join.html" {
			h.page = a
		} else {
			h.assets[e.Name()] = a
		}
	}
	if h.page.data == nil {
		panic("web: dist/join.html is not embedded; run npm run build in web/")
	}
	return h
}

func contentType(name string) string {
	switch path.Ext(name) {
	case ".html":
		return "text/html; charset=utf-8"
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	}
	return "application/octet-stream"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", contentSecurityPolicy)
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	hd.Set("Cross-Origin-Resource-Policy", "same-origin")
	hd.Set("Permissions-Policy", permissionsPolicy)

	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		hd.Set("Cache-Control", cacheErrors)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	switch {
	case p == "/" || p == "/j":
		hd.Set("Cache-Control", cacheErrors)
		http.Redirect(w, r, PagePath, http.StatusFound)
	case strings.HasPrefix(p, AssetPath):
		a, ok := h.assets[strings.TrimPrefix(p, AssetPath)]
		if !ok {
			hd.Set("Cache-Control", cacheErrors)
			http.NotFound(w, r)
			return
		}
		serve(w, r, a, cacheAsset)
	case strings.HasPrefix(p, PagePath):
		serve(w, r, h.page, cachePage)
	default:
		hd.Set("Cache-Control", cacheErrors)
		http.NotFound(w, r)
	}
}

func serve(w http.ResponseWriter, r *http.Request, a asset, cache string) {
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("Cache-Control", cache)
	hd.Set("ETag", a.etag)
	http.ServeContent(w, r, a.name, time.Time{}, bytes.NewReader(a.data))
}
