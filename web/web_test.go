package web_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/direkt/direkt/web"
)

func get(t testing.TB, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func checkSecurityHeaders(t *testing.T, path string, res *http.Response) {
	t.Helper()
	csp := res.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self' ws: wss:", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", path, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-") || strings.Contains(csp, "http:") || strings.Contains(csp, "https:") {
		t.Errorf("%s: CSP %q allows inline code or other hosts", path, csp)
	}
	for h, want := range map[string]string{
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
	} {
		if got := res.Header.Get(h); got != want {
			t.Errorf("%s: %s = %q, want %q", path, h, got, want)
		}
	}
}

func TestRoutesAndHeaders(t *testing.T) {
	h := web.Handler()
	page := get(t, h, "GET", "/j/")
	body, _ := io.ReadAll(page.Body)
	if page.StatusCode != 200 || !strings.HasPrefix(page.Header.Get("Content-Type"), "text/html") || len(body) < 500 {
		t.Fatalf("/j/: %d %s, %d bytes", page.StatusCode, page.Header.Get("Content-Type"), len(body))
	}
	// The same page for every /j path: form, nameplate, code in the path.
	for _, p := range []string{"/j/", "/j/47", "/j/47-nordsee-tulpe", "/j/anything/else?x=1"} {
		res := get(t, h, "GET", p)
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || string(b) != string(body) {
			t.Errorf("%s: %d, same page %v", p, res.StatusCode, string(b) == string(body))
		}
		if cc := res.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q", p, cc)
		}
		checkSecurityHeaders(t, p, res)
	}
	if strings.Contains(string(body), "<script>") || regexp.MustCompile(`\son[a-z]+=`).Match(body) || strings.Contains(string(body), "style=") {
		t.Error("the page has inline script, handlers or styles, which the CSP forbids")
	}

	// Every asset the page names is served, cacheable for good, with its type.
	refs := regexp.MustCompile(`(?:src|href)="(/j/assets/[^"]+)"`).FindAllStringSubmatch(string(body), -1)
	if len(refs) != 2 {
		t.Fatalf("page names %d assets, want a script and a stylesheet", len(refs))
	}
	for _, r := range refs {
		res := get(t, h, "GET", r[1])
		b, _ := io.ReadAll(res.Body)
		ct := res.Header.Get("Content-Type")
		if res.StatusCode != 200 || len(b) < 1000 {
			t.Errorf("%s: %d, %d bytes", r[1], res.StatusCode, len(b))
		}
		if (strings.HasSuffix(r[1], ".js") && !strings.HasPrefix(ct, "text/javascript")) || (strings.HasSuffix(r[1], ".css") && !strings.HasPrefix(ct, "text/css")) {
			t.Errorf("%s: Content-Type %q", r[1], ct)
		}
		if cc := res.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q", r[1], cc)
		}
		checkSecurityHeaders(t, r[1], res)
		// A conditional request is answered without the body.
		req := httptest.NewRequest("GET", r[1], nil)
		req.Header.Set("If-None-Match", res.Header.Get("ETag"))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified {
			t.Errorf("%s with its ETag: %d", r[1], rec.Code)
		}
	}

	for _, tc := range []struct {
		method, path string
		code         int
		location     string
	}{
		{"GET", "/", http.StatusFound, "/j/"},
		{"GET", "/j", http.StatusFound, "/j/"},
		{"GET", "/j/assets/", http.StatusNotFound, ""},
		{"GET", "/j/assets/join.html", http.StatusNotFound, ""},
		{"GET", "/j/assets/../../etc/passwd", http.StatusNotFound, ""},
		{"GET", "/j/assets/nope.js", http.StatusNotFound, ""},
		{"GET", "/favicon.ico", http.StatusNotFound, ""},
		{"GET", "/v2/anything", http.StatusNotFound, ""},
		{"POST", "/j/", http.StatusMethodNotAllowed, ""},
		{"PUT", "/j/assets/x", http.StatusMethodNotAllowed, ""},
		{"HEAD", "/j/", http.StatusOK, ""},
	} {
		res := get(t, h, tc.method, tc.path)
		if res.StatusCode != tc.code || res.Header.Get("Location") != tc.location {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, res.StatusCode, res.Header.Get("Location"), tc.code, tc.location)
		}
		checkSecurityHeaders(t, tc.path, res)
		if tc.code >= 300 && res.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: Cache-Control %q", tc.method, tc.path, res.Header.Get("Cache-Control"))
		}
	}
}

// TestBundleUpToDate rebuilds the page from the sources into a temporary
// folder and fails if the committed dist/ differs (npm run check).
func TestBundleUpToDate(t *testing.T) {
	needNode(t)
	out, err := exec.Command("npm", "run", "--silent", "check").CombinedOutput()
	if err != nil {
		t.Fatalf("npm run check: %v\n%s", err, out)
	}
}

// TestJavaScript runs the node tests of web/test (npm test): CPace against
// the draft's vectors, the golden pairing transcript, sealing, code parsing
// against the shared table, the consult line parser.
func TestJavaScript(t *testing.T) {
	needNode(t)
	out, err := exec.Command("npm", "test", "--silent").CombinedOutput()
	if err != nil {
		t.Fatalf("npm test: %v\n%s", err, out)
	}
	if !regexp.MustCompile(`(?m)^# fail 0$`).Match(out) || regexp.MustCompile(`(?m)^# pass 0$`).Match(out) {
		t.Fatalf("npm test ran no test or failed:\n%s", out)
	}
}

// FuzzHandler: whatever path a client asks for, the handler answers with a
// client error, a redirect to /j/, the page or an asset — never a server
// error — and always with the security headers.
func FuzzHandler(f *testing.F) {
	for _, s := range []string{"/", "/j", "/j/", "/j/47", "/j/47-nordsee-tulpe", "/j/assets/", "/j/assets/x.js", "/j/assets/../join.html", "//j/", "/J/", "/j/%00"} {
		f.Add("GET", s)
	}
	f.Add("POST", "/j/")
	h := web.Handler()
	page := get(f, h, "GET", "/j/")
	pageBody, _ := io.ReadAll(page.Body)
	f.Fuzz(func(t *testing.T, method, path string) {
		req, err := http.NewRequest(method, "http://direkt.example"+path, nil)
		if err != nil || req.URL.Path == "" {
			return
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		res := rec.Result()
		if res.StatusCode >= 500 {
			t.Fatalf("%s %q: %d", method, path, res.StatusCode)
		}
		if res.Header.Get("Content-Security-Policy") == "" || res.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("%s %q: security headers missing", method, path)
		}
		if res.StatusCode == 200 && strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			b, _ := io.ReadAll(res.Body)
			if method == "GET" && string(b) != string(pageBody) {
				t.Fatalf("%s %q: HTML that is not the join page", method, path)
			}
		}
	})
}
