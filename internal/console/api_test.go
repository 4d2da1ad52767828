package console

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// do sends an authorised request (bearer token) with body as its JSON, or
// as raw bytes when it is a string.
func do(t *testing.T, s *Server, method, path string, body any) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	ctype := ""
	switch b := body.(type) {
	case nil:
	case string:
		r, ctype = strings.NewReader(b), "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r, ctype = strings.NewReader(string(j)), "application/json"
	}
	req, err := http.NewRequest(method, base(s)+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Authorization", "Bearer "+token(s))
	res, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, data
}

func TestState(t *testing.T) {
	b := newTestBackend(connectedState())
	s := startServer(t, b)
	res, body := do(t, s, "GET", "/api/state", nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var got State
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	want := connectedState()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("state\n got %+v\nwant %+v", got, want)
	}
	if strings.Contains(string(body), `"code"`) || strings.Contains(string(body), `"ended"`) {
		t.Errorf("empty fields not omitted: %s", body)
	}
}

func TestStateLangDefault(t *testing.T) {
	st := hostState()
	st.Lang = ""
	b := newTestBackend(st)
	for _, lang := range []string{"", "de"} {
		s, err := New(Config{Backend: b, Lang: lang})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx) }()
		_, body := do(t, s, "GET", "/api/state", nil)
		var got State
		json.Unmarshal(body, &got)
		if got.Lang != lang {
			t.Errorf("Config.Lang %q: state lang %q", lang, got.Lang)
		}
		cancel()
		<-done
	}
}

func TestActions(t *testing.T) {
	key := "q83vEjRWeJA+/q83vEjRWeJA=="
	esc := url.PathEscape(key) // "/" must be escaped in a path segment
	if !strings.Contains(esc, "%2F") {
		esc = strings.ReplaceAll(esc, "/", "%2F")
	}
	for _, tc := range []struct {
		method, path string
		body         any
		want         int
		call         call
	}{
		{"POST", "/api/chat", map[string]any{"text": "Guten Tag"}, 204, call{"Chat", []any{"Guten Tag"}}},
		{"POST", "/api/chat", map[string]any{"text": strings.Repeat("ä", 4000)}, 204, call{"Chat", []any{strings.Repeat("ä", 4000)}}},
		{"POST", "/api/chat", map[string]any{"text": strings.Repeat("a", 4001)}, 400, call{}},
		{"POST", "/api/chat", map[string]any{"text": " \n\t"}, 400, call{}},
		{"POST", "/api/chat", map[string]any{"text": ""}, 400, call{}},
		{"POST", "/api/chat", map[string]any{}, 400, call{}},
		{"POST", "/api/chat", map[string]any{"text": "x", "extra": 1}, 400, call{}},
		{"POST", "/api/chat", `{"text":"x"} {"text":"y"}`, 400, call{}},
		{"POST", "/api/chat", `{"text":`, 400, call{}},
		{"POST", "/api/chat", `["x"]`, 400, call{}},
		{"POST", "/api/chat", `{"text":"` + strings.Repeat("a", 70000) + `"}`, 413, call{}},
		{"POST", "/api/ask", map[string]any{"what": "record"}, 204, call{"Ask", []any{"record"}}},
		{"POST", "/api/ask", map[string]any{"what": "screen"}, 204, call{"Ask", []any{"screen"}}},
		{"POST", "/api/ask", map[string]any{"what": "file"}, 400, call{}},
		{"POST", "/api/ask", map[string]any{"what": "control"}, 400, call{}},
		{"POST", "/api/answer", map[string]any{"id": "h1", "ok": true}, 204, call{"Answer", []any{"h1", true}}},
		{"POST", "/api/answer", map[string]any{"id": "h1", "ok": false}, 204, call{"Answer", []any{"h1", false}}},
		{"POST", "/api/answer", map[string]any{"id": "h1"}, 400, call{}},
		{"POST", "/api/answer", map[string]any{"id": "../x", "ok": true}, 400, call{}},
		{"POST", "/api/answer", map[string]any{"id": "", "ok": true}, 400, call{}},
		{"PUT", "/api/notes", map[string]any{"text": "Kunde wünscht bAV-Angebot."}, 204, call{"SetNotes", []any{"Kunde wünscht bAV-Angebot."}}},
		{"PUT", "/api/notes", map[string]any{"text": ""}, 204, call{"SetNotes", []any{""}}},
		{"PUT", "/api/notes", map[string]any{"text": strings.Repeat("n", 200000)}, 204, call{"SetNotes", []any{strings.Repeat("n", 200000)}}},
		{"PUT", "/api/notes", map[string]any{}, 400, call{}},
		{"PUT", "/api/notes", map[string]any{"text": strings.Repeat("n", 1<<20)}, 413, call{}},
		{"POST", "/api/notes", map[string]any{"text": "x"}, 405, call{}},
		{"POST", "/api/end", nil, 204, call{"End", nil}},
		{"GET", "/api/end", nil, 405, call{}},
		{"POST", "/api/new", nil, 204, call{"New", nil}},
		{"POST", "/api/known/" + esc + "/allow", map[string]any{"ok": true}, 204, call{"AllowPeer", []any{key, true}}},
		{"POST", "/api/known/" + esc + "/allow", map[string]any{"ok": false}, 204, call{"AllowPeer", []any{key, false}}},
		{"POST", "/api/known/" + esc + "/allow", map[string]any{}, 400, call{}},
		{"POST", "/api/known/" + esc + "/revoke", nil, 204, call{"RevokePeer", []any{key}}},
		{"POST", "/api/known/" + esc + "/rejoin", nil, 204, call{"Rejoin", []any{key}}},
		{"POST", "/api/known/a%20b/revoke", nil, 400, call{}},
		{"POST", "/api/known/a%3Cb/rejoin", nil, 400, call{}},
		{"POST", "/api/known/" + esc + "/delete", nil, 404, call{}},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			b := newTestBackend(connectedState())
			s := startServer(t, b)
			res, body := do(t, s, tc.method, tc.path, tc.body)
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.want, body)
			}
			calls := b.Calls()
			if tc.call.Method == "" {
				if len(calls) != 0 {
					t.Errorf("calls %v, want none", calls)
				}
				var e apiError
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Errorf("error body %q", body)
				}
				return
			}
			if len(calls) != 1 || !reflect.DeepEqual(calls[0], tc.call) {
				t.Errorf("calls %v, want %v", calls, tc.call)
			}
		})
	}
}

func TestJSONContentType(t *testing.T) {
	b := newTestBackend(connectedState())
	s := startServer(t, b)
	for _, ct := range []string{"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		req, _ := http.NewRequest("POST", base(s)+"/api/chat", strings.NewReader(`{"text":"hi"}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Authorization", "Bearer "+token(s))
		res, err := client(t).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 415 {
			t.Errorf("Content-Type %q: %d, want 415", ct, res.StatusCode)
		}
	}
	req, _ := http.NewRequest("POST", base(s)+"/api/chat", strings.NewReader(`{"text":"hi"}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+token(s))
	res, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 204 || len(b.Calls()) != 1 {
		t.Errorf("with charset: %d, calls %v", res.StatusCode, b.Calls())
	}
}

// TestBackendErrors: the Backend's message reaches the user as it is, with
// a status by its kind.
func TestBackendErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{errBusy, 409},
		{fmt.Errorf("no such peer: %w", fs.ErrNotExist), 404},
		{fmt.Errorf("only the host may: %w", fs.ErrPermission), 403},
	} {
		b := newTestBackend(connectedState())
		b.setErr(tc.err)
		s := startServer(t, b)
		res, body := do(t, s, "POST", "/api/new", nil)
		var e apiError
		json.Unmarshal(body, &e)
		if res.StatusCode != tc.want || e.Error != tc.err.Error() {
			t.Errorf("%v: %d %q, want %d", tc.err, res.StatusCode, e.Error, tc.want)
		}
		res, _ = do(t, s, "GET", "/api/records", nil)
		if res.StatusCode != tc.want {
			t.Errorf("records with %v: %d, want %d", tc.err, res.StatusCode, tc.want)
		}
	}
}

func TestRecords(t *testing.T) {
	b := newTestBackend(connectedState())
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	b.records = []RecordInfo{
		{ID: "20250301-0900-abc", Client: "Max Muster", Host: "Koch", Start: start, End: start.Add(time.Hour), Summary: "bAV Angebot"},
		{ID: "20250228-1400-def", Client: "Erika Beispiel", Host: "Koch", Start: start.Add(-19 * time.Hour), End: start.Add(-18 * time.Hour)},
	}
	s := startServer(t, b)

	res, body := do(t, s, "GET", "/api/records", nil)
	var got []RecordInfo
	if err := json.Unmarshal(body, &got); err != nil || res.StatusCode != 200 || !reflect.DeepEqual(got, b.records) {
		t.Fatalf("list: %d %v %s", res.StatusCode, err, body)
	}
	_, body = do(t, s, "GET", "/api/records?q="+url.QueryEscape("bav"), nil)
	if json.Unmarshal(body, &got); len(got) != 1 || got[0].ID != "20250301-0900-abc" {
		t.Errorf("search bav: %s", body)
	}
	_, body = do(t, s, "GET", "/api/records?q=nobody", nil)
	if strings.TrimSpace(string(body)) != "[]" {
		t.Errorf("no hits: %s, want []", body)
	}
	if c := b.Calls(); c[len(c)-1].Args[0] != "nobody" {
		t.Errorf("query passed as %v", c[len(c)-1])
	}
	if res, _ := do(t, s, "GET", "/api/records?q="+strings.Repeat("x", 501), nil); res.StatusCode != 400 {
		t.Errorf("long query: %d", res.StatusCode)
	}

	for _, tc := range []struct {
		path, ctype string
		want        int
	}{
		{"/api/records/20250301-0900-abc.pdf", "application/pdf", 200},
		{"/api/records/20250301-0900-abc.json", "application/json", 200},
		{"/api/records/20250301-0900-abc.html", "", 404},
		{"/api/records/20250301-0900-abc", "", 404},
		{"/api/records/nope.pdf", "", 404},
		{"/api/records/.pdf", "", 404},
		{"/api/records/..%2F..%2Fetc%2Fpasswd.json", "", 404},
	} {
		res, body := do(t, s, "GET", tc.path, nil)
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.path, res.StatusCode, tc.want)
			continue
		}
		if tc.want != 200 {
			continue
		}
		format := tc.path[strings.LastIndexByte(tc.path, '.')+1:]
		if res.Header.Get("Content-Type") != tc.ctype || string(body) != "record 20250301-0900-abc as "+format {
			t.Errorf("%s: %s %q", tc.path, res.Header.Get("Content-Type"), body)
		}
		_, params, err := mime.ParseMediaType(res.Header.Get("Content-Disposition"))
		if err != nil || params["filename"] != "20250301-0900-abc."+format || !strings.HasPrefix(res.Header.Get("Content-Disposition"), "attachment;") {
			t.Errorf("%s: Content-Disposition %q", tc.path, res.Header.Get("Content-Disposition"))
		}
	}
}

func TestQR(t *testing.T) {
	b := newTestBackend(hostState())
	s := startServer(t, b)
	res, body := do(t, s, "GET", "/api/qr.png", nil)
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	checkQRPNG(t, body, 320, hostState().JoinURL)

	b.setState(func(st *State) { st.JoinURL = "" })
	if res, _ := do(t, s, "GET", "/api/qr.png", nil); res.StatusCode != 404 {
		t.Errorf("without a join link: %d", res.StatusCode)
	}
}

// TestEvents: the stream says "changed" at once and after every change,
// sends keepalives, and ends with the page or the server.
func TestEvents(t *testing.T) {
	b := newTestBackend(hostState())
	s, err := New(Config{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	s.keepalive = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()

	req, _ := http.NewRequestWithContext(t.Context(), "GET", base(s)+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+token(s))
	res, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	r := bufio.NewReader(res.Body)
	next := func() string { // one event or comment, without its blank line
		t.Helper()
		var lines []string
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("stream: %v after %q", err, lines)
			}
			if l == "\n" {
				return strings.Join(lines, "")
			}
			lines = append(lines, l)
		}
	}
	nextEvent := func() string {
		t.Helper()
		for {
			if e := next(); !strings.HasPrefix(e, ":") {
				return e
			}
		}
	}
	if e := nextEvent(); !strings.Contains(e, "event: changed\ndata: {}\n") || !strings.HasPrefix(e, "retry: ") {
		t.Errorf("first event %q", e)
	}
	for i := range 3 {
		b.setState(func(st *State) { st.Phase = "pairing" })
		if e := nextEvent(); e != "event: changed\ndata: {}\n" {
			t.Errorf("event %d: %q", i, e)
		}
	}
	for {
		if e := next(); e == ": keepalive\n" {
			break
		}
	}
	if b.subscribers() != 1 {
		t.Errorf("%d subscribers", b.subscribers())
	}
	// The server ends the stream when it shuts down.
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := io.ReadAll(r); err != nil {
		t.Logf("stream ended with %v", err)
	}
	if n := b.subscribers(); n != 0 {
		t.Errorf("%d subscribers after shutdown", n)
	}
}

// TestEventsOutliveTimeouts: an event stream is not cut by the server's
// read and write timeouts.
func TestEventsOutliveTimeouts(t *testing.T) {
	b := newTestBackend(hostState())
	s, err := New(Config{Backend: b})
	if err != nil {
		t.Fatal(err)
	}
	s.srv.ReadTimeout = 200 * time.Millisecond
	s.srv.WriteTimeout = 200 * time.Millisecond
	s.keepalive = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	req, _ := http.NewRequestWithContext(t.Context(), "GET", base(s)+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+token(s))
	res, err := client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := bufio.NewReader(res.Body)
	// Keepalives arrive for well over both timeouts.
	deadline := time.Now().Add(time.Second)
	n := 0
	for time.Now().Before(deadline) {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream cut after %d keepalives: %v", n, err)
		}
		if l == ": keepalive\n" {
			n++
		}
	}
	b.setState(func(st *State) { st.Phase = "connected" })
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("no change event: %v", err)
		}
		if l == "event: changed\n" {
			break
		}
	}
}
