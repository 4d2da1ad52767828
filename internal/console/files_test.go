package console

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// part is one field of a multipart upload.
type part struct {
	name, filename string
	body           io.Reader
}

// postMultipart streams parts to POST /api/files through a pipe, so the
// client never holds the body either.
func postMultipart(t testing.TB, s *Server, parts []part) (*http.Response, []byte) {
	t.Helper()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	werr := make(chan error, 1)
	go func() {
		err := func() error {
			for _, p := range parts {
				var w io.Writer
				var err error
				if p.filename != "" {
					w, err = mw.CreateFormFile(p.name, p.filename)
				} else {
					w, err = mw.CreateFormField(p.name)
				}
				if err != nil {
					return err
				}
				if _, err := io.Copy(w, p.body); err != nil {
					return err
				}
			}
			return mw.Close()
		}()
		pw.CloseWithError(err)
		werr <- err
	}()
	req, _ := http.NewRequest("POST", base(s)+"/api/files", pr)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token(s))
	res, err := client(t).Do(req)
	if err != nil {
		pr.CloseWithError(err)
		<-werr
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	pr.Close()
	<-werr // the server may stop reading early: the writer then fails, fine
	return res, body
}

// pattern is a deterministic stream of n bytes that allocates nothing per read.
type pattern struct{ left int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	for i := range b {
		b[i] = byte(p.left - int64(i))
	}
	p.left -= int64(len(b))
	return len(b), nil
}

func patternSHA(n int64) string {
	h := sha256.New()
	io.Copy(h, &pattern{n})
	return hex.EncodeToString(h.Sum(nil))
}

func TestUpload(t *testing.T) {
	b := newTestBackend(connectedState())
	s := startServer(t, b)
	content := "Angebot bAV\n"
	res, body := postMultipart(t, s, []part{
		{name: "size", body: strings.NewReader(strconv.Itoa(len(content)))},
		{name: "file", filename: "Angebot März.pdf", body: strings.NewReader(content)},
	})
	if res.StatusCode != 204 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	up := b.Uploads()
	sum := sha256.Sum256([]byte(content))
	if len(up) != 1 || up[0].Name != "Angebot März.pdf" || up[0].Size != int64(len(content)) || up[0].Read != int64(len(content)) ||
		up[0].SHA256 != hex.EncodeToString(sum[:]) || up[0].Err != nil {
		t.Errorf("uploads %+v", up)
	}
}

func TestUploadRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		parts []part
		want  int
		// reached: the backend saw the upload (and failed reading it)
		reached bool
	}{
		{"no size", []part{{name: "file", filename: "a.txt", body: strings.NewReader("abc")}}, 400, false},
		{"size after file", []part{
			{name: "file", filename: "a.txt", body: strings.NewReader("abc")},
			{name: "size", body: strings.NewReader("3")}}, 400, false},
		{"bad size", []part{{name: "size", body: strings.NewReader("3x")}, {name: "file", filename: "a", body: strings.NewReader("abc")}}, 400, false},
		{"negative size", []part{{name: "size", body: strings.NewReader("-1")}, {name: "file", filename: "a", body: strings.NewReader("")}}, 400, false},
		{"huge size", []part{{name: "size", body: strings.NewReader(strconv.FormatInt(maxFileSize+1, 10))}, {name: "file", filename: "a", body: strings.NewReader("")}}, 413, false},
		{"long size field", []part{{name: "size", body: strings.NewReader(strings.Repeat("9", 100))}, {name: "file", filename: "a", body: strings.NewReader("")}}, 400, false},
		{"no file name", []part{{name: "size", body: strings.NewReader("3")}, {name: "file", body: strings.NewReader("abc")}}, 400, false},
		{"no file", []part{{name: "size", body: strings.NewReader("3")}}, 400, false},
		{"longer than size", []part{{name: "size", body: strings.NewReader("3")}, {name: "file", filename: "a", body: strings.NewReader("abcd")}}, 400, true},
		{"shorter than size", []part{{name: "size", body: strings.NewReader("5")}, {name: "file", filename: "a", body: strings.NewReader("abcd")}}, 400, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newTestBackend(connectedState())
			s := startServer(t, b)
			res, body := postMultipart(t, s, tc.parts)
			if res.StatusCode != tc.want {
				t.Fatalf("%d, want %d: %s", res.StatusCode, tc.want, body)
			}
			up := b.Uploads()
			if tc.reached != (len(up) == 1) {
				t.Fatalf("uploads %+v", up)
			}
			if tc.reached && up[0].Err == nil {
				t.Errorf("backend read the bad upload without an error: %+v", up[0])
			}
		})
	}

	b := newTestBackend(connectedState())
	s := startServer(t, b)
	req, _ := http.NewRequest("POST", base(s)+"/api/files", strings.NewReader("abc"))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+token(s))
	res, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 415 {
		t.Errorf("raw body: %d, want 415", res.StatusCode)
	}
}

// TestUploadBackendError: a Backend that refuses the file (host not
// connected, say) answers 409 with its message.
func TestUploadBackendError(t *testing.T) {
	b := newTestBackend(connectedState())
	b.setErr(errBusy)
	s := startServer(t, b)
	res, body := postMultipart(t, s, []part{{name: "size", body: strings.NewReader("1")}, {name: "file", filename: "a", body: strings.NewReader("x")}})
	if res.StatusCode != 409 || !strings.Contains(string(body), errBusy.Error()) {
		t.Errorf("%d %s", res.StatusCode, body)
	}
}

// TestUploadStreams: a 64 MiB upload passes through the console without
// being held in memory. Both ends run in this process, so TotalAlloc counts
// the client, the server and the backend's hashing together.
func TestUploadStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 64 MiB")
	}
	b := newTestBackend(connectedState())
	s := startServer(t, b)
	const n = 64 << 20
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	res, body := postMultipart(t, s, []part{
		{name: "size", body: strings.NewReader(strconv.Itoa(n))},
		{name: "file", filename: "big.bin", body: &pattern{n}},
	})
	runtime.ReadMemStats(&after)
	if res.StatusCode != 204 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	up := b.Uploads()
	if len(up) != 1 || up[0].Read != n || up[0].SHA256 != patternSHA(n) {
		t.Fatalf("uploads %+v", up)
	}
	alloc := after.TotalAlloc - before.TotalAlloc
	t.Logf("64 MiB upload: %d KiB allocated in total, heap in use %d → %d KiB", alloc>>10, before.HeapInuse>>10, after.HeapInuse>>10)
	if alloc > 8<<20 {
		t.Errorf("64 MiB upload allocated %d MiB", alloc>>20)
	}
}

// slowReader trickles r out in small pieces.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause) // a slow client, not synchronisation
	return s.r.Read(p[:min(len(p), 4096)])
}

// TestUploadOutlivesTimeouts: an upload slower than the server's read and
// write timeouts completes, and gets its answer, while it makes progress.
func TestUploadOutlivesTimeouts(t *testing.T) {
	b := newTestBackend(connectedState())
	s, err := New(Config{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	s.srv.ReadTimeout = 300 * time.Millisecond
	s.srv.WriteTimeout = 300 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- s.Serve(t.Context()) }()
	defer func() { s.Close(); <-done }()

	const n = 40 << 10 // 10 pieces, 80 ms apart
	start := time.Now()
	res, body := postMultipart(t, s, []part{
		{name: "size", body: strings.NewReader(strconv.Itoa(n))},
		{name: "file", filename: "slow.bin", body: slowReader{&pattern{n}, 80 * time.Millisecond}},
	})
	if res.StatusCode != 204 {
		t.Fatalf("%d %s after %v", res.StatusCode, body, time.Since(start))
	}
	if up := b.Uploads(); len(up) != 1 || up[0].Read != n || up[0].SHA256 != patternSHA(n) {
		t.Errorf("uploads %+v", up)
	}
	if time.Since(start) < 600*time.Millisecond {
		t.Errorf("upload took only %v: the test proves nothing", time.Since(start))
	}
}

func TestDownload(t *testing.T) {
	st := connectedState()
	st.Files = []File{
		{ID: "c1", From: "client", Name: `..\..\Windows\evil".exe`, Size: 5, State: "done", Kind: "doc"},
		{ID: "h1", From: "host", Name: "Angebot März 2025.pdf", Size: 11, State: "done", Kind: "doc"},
	}
	b := newTestBackend(st)
	b.files["c1"] = []byte("MZ...")
	b.files["h1"] = []byte("%PDF-1.7 ok")
	s := startServer(t, b)

	res, body := do(t, s, "GET", "/api/files/h1", nil)
	if res.StatusCode != 200 || string(body) != "%PDF-1.7 ok" {
		t.Fatalf("%d %q", res.StatusCode, body)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	if res.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("download headers %v", res.Header)
	}
	cd := res.Header.Get("Content-Disposition")
	disp, params, err := mime.ParseMediaType(cd)
	if err != nil || disp != "attachment" || params["filename"] != "Angebot März 2025.pdf" {
		t.Errorf("Content-Disposition %q: %v %v", cd, params, err)
	}
	if !strings.Contains(cd, `filename="Angebot M_rz 2025.pdf"`) {
		t.Errorf("no ASCII fallback in %q", cd)
	}

	res, _ = do(t, s, "GET", "/api/files/c1", nil)
	cd = res.Header.Get("Content-Disposition")
	_, params, err = mime.ParseMediaType(cd)
	if err != nil || params["filename"] != "evil_.exe" {
		t.Errorf("hostile name: Content-Disposition %q → %q, %v", cd, params["filename"], err)
	}

	// Ranges work (a browser resumes downloads).
	req, _ := http.NewRequest("GET", base(s)+"/api/files/h1", nil)
	req.Header.Set("Authorization", "Bearer "+token(s))
	req.Header.Set("Range", "bytes=9-")
	res, err = client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 206 || string(body) != "ok" {
		t.Errorf("range: %d %q", res.StatusCode, body)
	}

	for _, p := range []string{"/api/files/nope", "/api/files/.hidden", "/api/files/a%2Fb", "/api/files/" + strings.Repeat("a", 129)} {
		if res, _ := do(t, s, "GET", p, nil); res.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", p, res.StatusCode)
		}
	}
	// ServeMux cleans dot segments with a redirect (not followed here).
	for _, p := range []string{"/api/files/..", "/api/files/../../x", "/api/files/%2e%2e"} {
		if res, _ := do(t, s, "GET", p, nil); res.StatusCode != 404 && res.StatusCode/100 != 3 {
			t.Errorf("%s: %d, want 404 or a redirect", p, res.StatusCode)
		}
	}
	for _, c := range b.Calls() {
		if c.Method == "OpenFile" && !validID(c.Args[0].(string)) {
			t.Errorf("OpenFile got %q", c.Args[0])
		}
	}
}

// TestDownloadOutlivesWriteTimeout: a download slower than the server's
// WriteTimeout still completes while it makes progress.
func TestDownloadOutlivesWriteTimeout(t *testing.T) {
	st := connectedState()
	st.Files = []File{{ID: "h1", From: "host", Name: "big.bin", Size: 8 << 20, State: "done", Kind: "doc"}}
	b := newTestBackend(st)
	b.files["h1"] = bytes.Repeat([]byte("0123456789abcdef"), (8<<20)/16)
	s, err := New(Config{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	s.srv.WriteTimeout = 300 * time.Millisecond
	s.srv.ReadTimeout = 300 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- s.Serve(t.Context()) }()
	defer func() { s.Close(); <-done }()

	req, _ := http.NewRequest("GET", base(s)+"/api/files/h1", nil)
	req.Header.Set("Authorization", "Bearer "+token(s))
	res, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var got int64
	buf := make([]byte, 256<<10)
	start := time.Now()
	for {
		n, err := res.Body.Read(buf)
		got += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes and %v: %v", got, time.Since(start), err)
		}
		time.Sleep(40 * time.Millisecond) // a slow reader, not synchronisation
	}
	if got != 8<<20 {
		t.Errorf("got %d bytes", got)
	}
	if time.Since(start) < 300*time.Millisecond {
		t.Errorf("download took only %v: the test proves nothing", time.Since(start))
	}
}

func TestSafeFilename(t *testing.T) {
	long := strings.Repeat("ä", 200) + ".pdf"
	for _, tc := range []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"Angebot März.pdf", "Angebot März.pdf"},
		{"../../etc/passwd", "passwd"},
		{`..\..\boot.ini`, "boot.ini"},
		{"C:\\Users\\x\\a.txt", "a.txt"},
		{".bashrc", "bashrc"},
		{"...", "download"},
		{"", "download"},
		{"/", "download"},
		{"a\x00b\nc\x7f.txt", "a_b_c_.txt"},
		{"evil\u202egpj.exe", "evil_gpj.exe"},
		{`a"b<c>d|e?f*g:h.txt`, "a_b_c_d_e_f_g_h.txt"},
		{"  spaced  .txt  ", "spaced  .txt"},
		{"trailing.", "trailing"},
		{"bad\xffutf8.txt", "bad_utf8.txt"},
		{"tab\there", "tab_here"},
		{long, strings.Repeat("ä", 125) + ".pdf"},
	} {
		if got := safeFilename(tc.in); got != tc.want {
			t.Errorf("safeFilename(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a.pdf", `attachment; filename="a.pdf"`},
		{"50% off.txt", `attachment; filename="50_ off.txt"; filename*=UTF-8''50%25%20off.txt`},
		{"ä,b=c@d.txt", `attachment; filename="_,b=c@d.txt"; filename*=UTF-8''%C3%A4%2Cb%3Dc%40d.txt`},
		{`x"; filename="evil.exe`, `attachment; filename="x_; filename=_evil.exe"`},
	} {
		if got := contentDisposition(tc.in); got != tc.want {
			t.Errorf("contentDisposition(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// checkSafeName holds for every name safeFilename returns.
func checkSafeName(t *testing.T, in, got string) {
	t.Helper()
	if got == "" || len(got) > maxFileNameByte || !utf8.ValidString(got) ||
		strings.ContainsAny(got, "/\\\"\x00") || strings.HasPrefix(got, ".") || strings.HasPrefix(got, " ") || got == ".." {
		t.Fatalf("safeFilename(%q) = %q", in, got)
	}
	for _, c := range got {
		if c < 0x20 || c == 0x7f {
			t.Fatalf("safeFilename(%q) = %q: control character", in, got)
		}
	}
	if safeFilename(got) != got {
		t.Fatalf("safeFilename not idempotent on %q: %q", got, safeFilename(got))
	}
}

// BenchmarkUpload measures an upload through the console over loopback into
// a backend that hashes it.
func BenchmarkUpload(b *testing.B) {
	tb := newTestBackend(connectedState())
	s, err := New(Config{Backend: tb})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(b.Context()) }()
	defer func() { s.Close(); <-done }()
	const n = 16 << 20
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		res, body := postMultipart(b, s, []part{
			{name: "size", body: strings.NewReader(strconv.Itoa(n))},
			{name: "file", filename: "bench.bin", body: &pattern{n}},
		})
		if res.StatusCode != 204 {
			b.Fatalf("%d %s", res.StatusCode, body)
		}
	}
}
