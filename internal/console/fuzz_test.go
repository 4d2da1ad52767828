package console

import (
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzSafeFilename(f *testing.F) {
	for _, s := range []string{"report.pdf", "../../etc/passwd", `..\a`, ".", "..", "", "a\x00b", "evil\u202etxt.exe",
		strings.Repeat("ä", 300) + ".pdf", "\xff\xfe", " . ", "CON", "a/b/", "x.tar.gz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := safeFilename(in)
		checkSafeName(t, in, got)
		cd := contentDisposition(in)
		disp, params, err := mime.ParseMediaType(cd)
		if err != nil || disp != "attachment" || params["filename"] != got {
			t.Fatalf("contentDisposition(%q) = %s → %q %v %v, want filename %q", in, cd, disp, params, err, got)
		}
		if strings.ContainsAny(cd, "\r\n") {
			t.Fatalf("header breaks: %q", cd)
		}
	})
}

func FuzzValidID(f *testing.F) {
	for _, s := range []string{"h1", "c-2_x", "20250301-0900-abc", ".", "..", "../x", "a/b", "", strings.Repeat("a", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !validID(id) {
			return
		}
		if strings.ContainsAny(id, "/\\\x00") || strings.HasPrefix(id, ".") || len(id) > maxIDLen || !utf8.ValidString(id) {
			t.Fatalf("validID(%q)", id)
		}
	})
}

// FuzzRequest sends arbitrary requests through the whole handler: it must
// not panic, a foreign Host must be refused, and nothing without the token
// may reach the Backend.
func FuzzRequest(f *testing.F) {
	b := newTestBackend(connectedState())
	b.files["h1"] = []byte("data")
	b.st.Files = []File{{ID: "h1", Name: "a.txt", State: "done"}}
	s, err := New(Config{Backend: b})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	tok := s.token
	host := s.hosts[0]
	f.Add("GET", "/api/state", host, "", "", "", true)
	f.Add("POST", "/api/chat", host, "application/json", `{"text":"hi"}`, "", true)
	f.Add("POST", "/api/chat", host, "application/json", `{"text":"hi"}`, "http://evil.example", true)
	f.Add("POST", "/api/files", host, "multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"size\"\r\n\r\n2\r\n--X\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nab\r\n--X--\r\n", "", true)
	f.Add("GET", "/api/files/h1", host, "", "", "", true)
	f.Add("GET", "/?t="+tok, host, "", "", "", false)
	f.Add("PUT", "/api/notes", "evil.example", "application/json", `{"text":"x"}`, "", true)
	f.Add("POST", "/api/known/a%2Fb/allow", host, "application/json", `{"ok":true}`, "", true)
	f.Add("GET", "/api/records/x.pdf", host, "", "", "", false)
	f.Add("POST", "/api/screen/rtc", host, "application/json", `{"sdp":"v=0\r\n"}`, "", true)
	f.Add("POST", "/api/screen", host, "application/json", `{"action":"start","what":"tab","w":800,"h":600}`, "", true)
	f.Add("POST", "/api/screen/pointer", host, "application/json", `{"x":0.1,"y":0.9}`, "http://evil.example", true)
	f.Add("POST", "/api/screen/view", host, "application/json", `{"on":false}`, "", false)
	f.Fuzz(func(t *testing.T, method, target, reqHost, ctype, body, origin string, auth bool) {
		if !validMethod(method) || !strings.HasPrefix(target, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://"+host+target, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Host = reqHost
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if auth {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		before := len(b.Calls())
		w := httptest.NewRecorder()
		s.handler.ServeHTTP(w, req)
		calls := len(b.Calls()) - before
		if reqHost != host && reqHost != "localhost:"+s.port && w.Code != http.StatusMisdirectedRequest {
			t.Fatalf("Host %q answered %d", reqHost, w.Code)
		}
		if calls > 0 && !auth {
			t.Fatalf("%s %s reached the backend without the token", method, target)
		}
		for k := range w.Header() {
			if strings.HasPrefix(strings.ToLower(k), "access-control-") {
				t.Fatalf("CORS header %s", k)
			}
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, c := range []byte(m) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
