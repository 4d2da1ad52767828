package console

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuf collects a test's logs; at the end the test checks that they never
// contain the token.
type logBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

var testLogs sync.Map // *testing.T → *logBuf

func testLogger(t *testing.T) *slog.Logger {
	lb := &logBuf{}
	testLogs.Store(t, lb)
	return slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func logsOf(t *testing.T) string {
	if lb, ok := testLogs.Load(t); ok {
		return lb.(*logBuf).String()
	}
	return ""
}

func token(s *Server) string {
	u, _ := url.Parse(s.URL())
	return u.Query().Get("t")
}

func base(s *Server) string {
	u, _ := url.Parse(s.URL())
	return "http://" + u.Host
}

func TestNewRefusesNonLoopback(t *testing.T) {
	b := newTestBackend(hostState())
	for _, addr := range []string{
		"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0", "10.0.0.1:8080",
		"example.com:0", "localhost.example.com:0", "[::ffff:192.0.2.1]:0", "[fe80::1%lo]:0",
	} {
		s, err := New(Config{Addr: addr, Backend: b})
		if !errors.Is(err, ErrNotLoopback) {
			if s != nil {
				s.Close()
			}
			t.Errorf("New(%q): %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:x", "127.0.0.1:99999", "127.0.0.1:+80", "nonsense"} {
		if _, err := New(Config{Addr: addr, Backend: b}); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%q): %v, want ErrConfig", addr, err)
		}
	}
	if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
		t.Errorf("New without Backend: %v, want ErrConfig", err)
	}
	if _, err := New(Config{Backend: b, Lang: "fr"}); !errors.Is(err, ErrConfig) {
		t.Errorf("New with Lang fr: %v, want ErrConfig", err)
	}
}

func TestNewLoopbackAddrs(t *testing.T) {
	b := newTestBackend(hostState())
	for _, tc := range []struct{ addr, prefix string }{
		{"", "http://127.0.0.1:"},
		{"127.0.0.1:0", "http://127.0.0.1:"},
		{"localhost:0", "http://127.0.0.1:"},
		{"127.0.0.2:0", "http://127.0.0.2:"},
		{"[::1]:0", "http://[::1]:"},
	} {
		s, err := New(Config{Addr: tc.addr, Backend: b})
		if err != nil {
			if tc.addr == "[::1]:0" {
				t.Logf("no IPv6 loopback here: %v", err)
				continue
			}
			t.Errorf("New(%q): %v", tc.addr, err)
			continue
		}
		if !strings.HasPrefix(s.URL(), tc.prefix) || !strings.Contains(s.URL(), "/?t=") {
			t.Errorf("New(%q).URL() = %q", tc.addr, s.URL())
		}
		if tok := token(s); len(tok) != 43 {
			t.Errorf("token %q: want 43 characters of base64url (32 bytes)", tok)
		}
		s.Close()
	}
}

// TestOnlyLoopbackListens checks the listener's address and that the port
// is closed on the machine's other addresses.
func TestOnlyLoopbackListens(t *testing.T) {
	s := startServer(t, newTestBackend(hostState()))
	tcp := s.ln.Addr().(*net.TCPAddr)
	if !tcp.IP.IsLoopback() {
		t.Fatalf("listening on %v", tcp)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	tried := 0
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		tried++
		c, err := net.DialTimeout("tcp", net.JoinHostPort(ipn.IP.String(), s.port), 2*time.Second)
		if err == nil {
			c.Close()
			t.Errorf("console reachable on %v", ipn.IP)
		}
	}
	if tried == 0 {
		t.Log("no non-loopback address to try")
	}
}

type secCase struct {
	name   string
	method string
	path   string
	host   string // "" = ours
	auth   string // "bearer", "cookie", "bad-bearer", "bad-cookie", ""
	hdr    map[string]string
	want   int
}

func TestSecurity(t *testing.T) {
	b := newTestBackend(hostState())
	s := startServer(t, b)
	tok := token(s)
	wrongTok := tok[:42] + "A" // the last character changed
	if tok[42] == 'A' {
		wrongTok = tok[:42] + "E"
	}
	ours := s.hosts[0]
	other := "127.0.0.1:1"
	if s.port == "1" {
		other = "127.0.0.1:2"
	}
	cases := []secCase{
		{"ok bearer", "GET", "/api/state", "", "bearer", nil, 200},
		{"ok cookie", "GET", "/api/state", "", "cookie", nil, 200},
		{"ok localhost", "GET", "/api/state", "localhost:" + s.port, "bearer", nil, 200},
		{"page with cookie", "GET", "/", "", "cookie", nil, 200},
		{"script with cookie", "GET", "/app.js", "", "cookie", nil, 200},

		// DNS rebinding: the right socket, a foreign name.
		{"foreign host", "GET", "/api/state", "evil.example:" + s.port, "bearer", nil, 421},
		{"foreign host no port", "GET", "/api/state", "127.0.0.1", "bearer", nil, 421},
		{"other port", "GET", "/api/state", other, "bearer", nil, 421},
		{"upper-case localhost", "GET", "/api/state", "LOCALHOST:" + s.port, "bearer", nil, 421},
		{"ipv6 host", "GET", "/api/state", "[::1]:" + s.port, "bearer", nil, 421},
		{"rebinding page entry", "GET", "/?t=" + tok, "evil.example:" + s.port, "", nil, 421},
		{"rebinding post", "POST", "/api/end", "attacker.test:" + s.port, "cookie", nil, 421},

		// The token.
		{"no token", "GET", "/api/state", "", "", nil, 401},
		{"no token page", "GET", "/", "", "", nil, 401},
		{"no token script", "GET", "/app.js", "", "", nil, 401},
		{"no token events", "GET", "/api/events", "", "", nil, 401},
		{"no token post", "POST", "/api/end", "", "", nil, 401},
		{"wrong bearer", "GET", "/api/state", "", "bad-bearer", nil, 401},
		{"wrong cookie", "GET", "/api/state", "", "bad-cookie", nil, 401},
		{"token in query of api", "GET", "/api/state?t=" + tok, "", "", nil, 401},
		{"wrong token entry", "GET", "/?t=" + wrongTok, "", "", nil, 401},
		{"empty token entry", "GET", "/?t=", "", "", nil, 401},
		{"basic auth", "GET", "/api/state", "", "", map[string]string{"Authorization": "Basic " + tok}, 401},
		{"entry", "GET", "/?t=" + tok, "", "", nil, 303},
		{"entry via localhost", "GET", "/?t=" + tok, "localhost:" + s.port, "", nil, 303},
		{"entry from a link elsewhere", "GET", "/?t=" + tok, "", "", map[string]string{
			"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, 200},

		// Cross-origin and cross-site requests.
		{"cross-origin post", "POST", "/api/end", "", "cookie", map[string]string{"Origin": "http://evil.example"}, 403},
		{"other-port origin post", "POST", "/api/end", "", "cookie", map[string]string{"Origin": "http://" + other}, 403},
		{"null origin post", "POST", "/api/end", "", "cookie", map[string]string{"Origin": "null"}, 403},
		{"cross-site post", "POST", "/api/end", "", "cookie", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site post", "POST", "/api/end", "", "cookie", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"cross-site put", "PUT", "/api/notes", "", "cookie", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-origin post bearer", "POST", "/api/end", "", "bearer", map[string]string{"Origin": "http://evil.example"}, 403},
		{"cross-site get", "GET", "/api/state", "", "cookie", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"same-site get", "GET", "/api/state", "", "cookie", map[string]string{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "no-cors"}, 403},
		{"cross-site image", "GET", "/api/qr.png", "", "cookie", map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "image"}, 403},
		{"cross-site navigation to api", "GET", "/api/state?t=" + tok, "", "", map[string]string{
			"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, 403},
		{"cross-site navigation wrong token", "GET", "/?t=x", "", "", map[string]string{
			"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, 401},
		{"cross-site frame", "GET", "/?t=" + tok, "", "", map[string]string{
			"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}, 403},
		{"preflight", "OPTIONS", "/api/chat", "", "", map[string]string{
			"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, 401},

		// The console itself.
		{"same-origin post", "POST", "/api/end", "", "cookie", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + ours}, 204},
		{"same-origin post, origin only", "POST", "/api/end", "", "cookie", map[string]string{"Origin": "http://" + ours}, 204},
		{"script post", "POST", "/api/end", "", "bearer", nil, 204},
		{"wrong method", "DELETE", "/api/state", "", "bearer", nil, 405},
		{"unknown api", "GET", "/api/nothing", "", "bearer", nil, 404},
		{"unknown page", "GET", "/etc/passwd", "", "cookie", nil, 404},
	}
	c := client(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(b.Calls())
			req, err := http.NewRequest(tc.method, base(s)+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.host != "" {
				req.Host = tc.host
			}
			switch tc.auth {
			case "bearer":
				req.Header.Set("Authorization", "Bearer "+tok)
			case "bad-bearer":
				req.Header.Set("Authorization", "Bearer "+strings.ToUpper(tok))
			case "cookie":
				req.AddCookie(&http.Cookie{Name: s.cookie, Value: tok})
			case "bad-cookie":
				req.AddCookie(&http.Cookie{Name: s.cookie, Value: tok[1:]})
			}
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			res, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.want, body)
			}
			checkHeaders(t, res)
			if tc.want >= 400 {
				if n := len(b.Calls()); n != before {
					t.Errorf("refused request reached the backend: %v", b.Calls()[before:])
				}
				if strings.HasPrefix(tc.path, "/api/") && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
					t.Errorf("error with Content-Type %q", res.Header.Get("Content-Type"))
				}
				if bytes.Contains(body, []byte(tok)) {
					t.Error("error body holds the token")
				}
			}
			if strings.HasPrefix(tc.name, "entry") {
				checkEntry(t, s, res)
				if tc.want == 200 && !bytes.Contains(body, []byte(`<meta http-equiv="refresh" content="0; url=/">`)) {
					t.Errorf("no refresh to / in %s", body)
				}
			}
		})
	}
	if strings.Contains(logsOf(t), tok) {
		t.Error("the logs hold the token")
	}
}

// checkHeaders checks the headers every response carries, and that none
// carries CORS headers.
func checkHeaders(t *testing.T, res *http.Response) {
	t.Helper()
	for _, kv := range securityHeaders {
		if res.Header.Get(kv[0]) == "" {
			t.Errorf("no %s header", kv[0])
		}
	}
	csp := res.Header.Get("Content-Security-Policy")
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("X-Frame-Options %q, Referrer-Policy %q", res.Header.Get("X-Frame-Options"), res.Header.Get("Referrer-Policy"))
	}
	for k := range res.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("CORS header %s", k)
		}
	}
}

// checkEntry checks the answer to GET /?t=TOKEN: a redirect to "/" (or a
// page that refreshes to it) that sets an HttpOnly, SameSite=Strict, Path=/
// session cookie holding the token.
func checkEntry(t *testing.T, s *Server, res *http.Response) {
	t.Helper()
	if loc := res.Header.Get("Location"); res.StatusCode == 303 && loc != "/" {
		t.Errorf("Location %q, want /", loc)
	}
	cs := res.Cookies()
	if len(cs) != 1 {
		t.Fatalf("cookies %v", cs)
	}
	c := cs[0]
	if c.Name != s.cookie || c.Value != token(s) || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge != 0 || !c.Expires.IsZero() || c.Domain != "" {
		t.Errorf("cookie %+v", c)
	}
}

// TestEntryKeepsWorking follows the link twice with a cookie jar, as a
// browser would, and then uses only the cookie.
func TestEntryKeepsWorking(t *testing.T) {
	b := newTestBackend(hostState())
	s := startServer(t, b)
	for range 2 {
		tr := &http.Transport{}
		defer tr.CloseIdleConnections()
		jar := newJar()
		c := &http.Client{Transport: tr, Jar: jar, Timeout: 10 * time.Second}
		res, err := c.Get(s.URL())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || res.Request.URL.RawQuery != "" || !bytes.Contains(body, []byte(`src="/app.js"`)) {
			t.Fatalf("after the link: %d at %v", res.StatusCode, res.Request.URL)
		}
		res, err = c.Get(base(s) + "/api/state")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("state with the cookie: %d", res.StatusCode)
		}
	}
}

// TestAbsoluteFormHost sends a request line with a foreign absolute URL,
// whose host Go takes as the request's Host.
func TestAbsoluteFormHost(t *testing.T) {
	s := startServer(t, newTestBackend(hostState()))
	for _, tc := range []struct {
		line, host string
		want       int
	}{
		{"GET http://evil.example:" + s.port + "/api/state HTTP/1.1", s.hosts[0], 421},
		{"GET /api/state HTTP/1.1", "", 400}, // HTTP/1.1 without Host
		{"GET /api/state HTTP/1.1", s.hosts[0], 200},
	} {
		conn, err := net.Dial("tcp", s.ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		req := tc.line + "\r\n"
		if tc.host != "" {
			req += "Host: " + tc.host + "\r\n"
		}
		req += "Authorization: Bearer " + token(s) + "\r\nConnection: close\r\n\r\n"
		conn.Write([]byte(req))
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		conn.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%q with Host %q: %d, want %d", tc.line, tc.host, res.StatusCode, tc.want)
		}
	}
}

// TestPlantedCookie: another port of 127.0.0.1 can set a cookie of our name
// with a longer path, which the browser sends first; the real one still
// works.
func TestPlantedCookie(t *testing.T) {
	s := startServer(t, newTestBackend(hostState()))
	req, _ := http.NewRequest("GET", base(s)+"/api/state", nil)
	req.Header.Set("Cookie", s.cookie+"=planted; "+s.cookie+"="+token(s))
	res, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("status %d", res.StatusCode)
	}
}

func TestServeAndClose(t *testing.T) {
	b := newTestBackend(hostState())
	s, err := New(Config{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	// Close without Serve releases the port.
	addr := s.ln.Addr().String()
	s.Close()
	s.Close()
	if err := s.Serve(t.Context()); !errors.Is(err, ErrServed) {
		t.Errorf("Serve after Close: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("port still taken: %v", err)
	}
	ln.Close()

	// Close while serving stops Serve.
	s, err = New(Config{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(t.Context()) }()
	waitUp(t, s)
	if err := s.Serve(t.Context()); !errors.Is(err, ErrServed) {
		t.Errorf("second Serve: %v", err)
	}
	s.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	default:
		t.Error("Close returned before Serve")
	}
	s.Close()
}

// waitUp waits until s answers: the listener queues connections from New
// on, so one request waits for Serve.
func waitUp(t *testing.T, s *Server) {
	t.Helper()
	req, _ := http.NewRequest("GET", base(s)+"/api/state", nil)
	req.Header.Set("Authorization", "Bearer "+token(s))
	res, err := client(t).Do(req)
	if err != nil {
		t.Fatalf("console not up: %v", err)
	}
	res.Body.Close()
}

func newJar() http.CookieJar {
	jar, err := cookiejar.New(nil)
	if err != nil {
		panic(err)
	}
	return jar
}
