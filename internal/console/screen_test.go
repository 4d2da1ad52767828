package console

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// offerSDP is an offer as a page sends it, shortened.
const offerSDP = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"

// TestScreenActions: the screen endpoints check their bodies as the other
// actions do and forward exactly what they were sent.
func TestScreenActions(t *testing.T) {
	for _, tc := range []struct {
		path string
		body any
		want int
		call call
	}{
		{"/api/screen", map[string]any{"action": "start", "what": "screen", "w": 1920, "h": 1080}, 204, call{"Share", []any{"start", "screen", 1920, 1080}}},
		{"/api/screen", map[string]any{"action": "start", "what": "window", "w": 0, "h": 16384}, 204, call{"Share", []any{"start", "window", 0, 16384}}},
		{"/api/screen", map[string]any{"action": "start", "what": "tab"}, 204, call{"Share", []any{"start", "tab", 0, 0}}},
		{"/api/screen", map[string]any{"action": "start", "what": "other", "w": 640, "h": 480}, 204, call{"Share", []any{"start", "other", 640, 480}}},
		{"/api/screen", map[string]any{"action": "pause"}, 204, call{"Share", []any{"pause", "", 0, 0}}},
		{"/api/screen", map[string]any{"action": "resume"}, 204, call{"Share", []any{"resume", "", 0, 0}}},
		{"/api/screen", map[string]any{"action": "stop"}, 204, call{"Share", []any{"stop", "", 0, 0}}},
		{"/api/screen", map[string]any{"action": "start"}, 400, call{}},
		{"/api/screen", map[string]any{"action": "start", "what": "camera"}, 400, call{}},
		{"/api/screen", map[string]any{"action": "start", "what": "screen", "w": 16385, "h": 10}, 400, call{}},
		{"/api/screen", map[string]any{"action": "start", "what": "screen", "w": 10, "h": -1}, 400, call{}},
		{"/api/screen", `{"action":"start","what":"screen","w":1.5,"h":10}`, 400, call{}},
		{"/api/screen", `{"action":"start","what":"screen","w":1e30,"h":10}`, 400, call{}},
		{"/api/screen", map[string]any{"action": "pause", "what": "screen"}, 400, call{}},
		{"/api/screen", map[string]any{"action": "stop", "w": 1}, 400, call{}},
		{"/api/screen", map[string]any{"action": "control"}, 400, call{}},
		{"/api/screen", map[string]any{}, 400, call{}},
		{"/api/screen", map[string]any{"action": "stop", "extra": true}, 400, call{}},
		{"/api/screen", `{"action":"stop"} {"action":"stop"}`, 400, call{}},
		{"/api/screen/pointer", map[string]any{"x": 0.25, "y": 0.75}, 204, call{"Pointer", []any{0.25, 0.75, true}}},
		{"/api/screen/pointer", map[string]any{"x": 0, "y": 1}, 204, call{"Pointer", []any{0.0, 1.0, true}}},
		{"/api/screen/pointer", map[string]any{"hide": true}, 204, call{"Pointer", []any{0.0, 0.0, false}}},
		{"/api/screen/pointer", map[string]any{"x": 0.5}, 400, call{}},
		{"/api/screen/pointer", map[string]any{"y": 0.5}, 400, call{}},
		{"/api/screen/pointer", map[string]any{"x": 1.0001, "y": 0.5}, 400, call{}},
		{"/api/screen/pointer", map[string]any{"x": 0.5, "y": -0.1}, 400, call{}},
		{"/api/screen/pointer", map[string]any{"x": 0.5, "y": 0.5, "hide": true}, 400, call{}},
		{"/api/screen/pointer", map[string]any{"hide": false}, 400, call{}},
		{"/api/screen/pointer", `{"x":NaN,"y":0}`, 400, call{}},
		{"/api/screen/pointer", `{"x":1e999,"y":0}`, 400, call{}},
		{"/api/screen/pointer", `{"x":"0.5","y":0.5}`, 400, call{}},
		{"/api/screen/pointer", map[string]any{}, 400, call{}},
		{"/api/screen/view", map[string]any{"on": false}, 204, call{"View", []any{false}}},
		{"/api/screen/view", map[string]any{"on": true}, 204, call{"View", []any{true}}},
		{"/api/screen/view", map[string]any{}, 400, call{}},
		{"/api/screen/view", map[string]any{"on": 1}, 400, call{}},
		{"/api/screen/rtc", map[string]any{"sdp": offerSDP}, 200, call{"ScreenRTC", []any{offerSDP}}},
		{"/api/screen/rtc", map[string]any{"sdp": ""}, 400, call{}},
		{"/api/screen/rtc", map[string]any{"sdp": "hello"}, 400, call{}},
		{"/api/screen/rtc", map[string]any{}, 400, call{}},
		{"/api/screen/rtc", map[string]any{"sdp": offerSDP + "a=x:" + strings.Repeat("y", maxSDP-len(offerSDP)-6) + "\r\n"}, 200, call{}},
		{"/api/screen/rtc", map[string]any{"sdp": offerSDP + "a=x:" + strings.Repeat("y", maxSDP-len(offerSDP)-5) + "\r\n"}, 413, call{}},
		{"/api/screen/rtc", `{"sdp":"` + strings.Repeat("\\r\\n", maxSDPBody/4) + `"}`, 413, call{}},
	} {
		name := tc.path
		if b, ok := tc.body.(string); ok {
			name += " " + b
		} else {
			j, _ := json.Marshal(tc.body)
			name += " " + string(j)
		}
		if len(name) > 100 {
			name = name[:100]
		}
		t.Run(name, func(t *testing.T) {
			b := newTestBackend(connectedState())
			s := startServer(t, b)
			res, body := do(t, s, "POST", tc.path, tc.body)
			if res.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, tc.want, body)
			}
			calls := b.Calls()
			switch {
			case tc.want >= 400:
				if len(calls) != 0 {
					t.Errorf("calls %v, want none", calls)
				}
				var e apiError
				if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
					t.Errorf("error body %q", body)
				}
			case tc.call.Method != "":
				if len(calls) != 1 || !reflect.DeepEqual(calls[0], tc.call) {
					t.Errorf("calls %v, want %v", calls, tc.call)
				}
			default:
				if len(calls) != 1 || calls[0].Method != "ScreenRTC" {
					t.Errorf("calls %v, want ScreenRTC", calls)
				}
			}
		})
	}
}

// TestScreenRTC: the page's offer goes to the Backend as it is, the answer
// comes back as JSON, and the Backend's errors map as for other actions.
func TestScreenRTC(t *testing.T) {
	b := newTestBackend(connectedState())
	b.setAnswer(func(ctx context.Context, offer string) (string, error) {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return strings.Replace(offer, "o=- 1 2", "o=- 3 4", 1), nil
	})
	s := startServer(t, b)
	res, body := do(t, s, "POST", "/api/screen/rtc", map[string]any{"sdp": offerSDP})
	var got struct {
		SDP string `json:"sdp"`
	}
	if err := json.Unmarshal(body, &got); err != nil || res.StatusCode != 200 || res.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s %v: %s", res.StatusCode, res.Header.Get("Content-Type"), err, body)
	}
	if want := strings.Replace(offerSDP, "o=- 1 2", "o=- 3 4", 1); got.SDP != want {
		t.Errorf("answer %q, want %q", got.SDP, want)
	}
	for _, path := range []string{"/api/screen/rtc", "/api/screen", "/api/screen/pointer", "/api/screen/view"} {
		if res, _ := do(t, s, "GET", path, nil); res.StatusCode != 405 || res.Header.Get("Allow") != "POST" {
			t.Errorf("GET %s: %d, Allow %q", path, res.StatusCode, res.Header.Get("Allow"))
		}
	}

	refused := errors.New("The client has not agreed to see your screen.")
	b.setErr(refused)
	for path, body := range map[string]any{
		"/api/screen/rtc":     map[string]any{"sdp": offerSDP},
		"/api/screen":         map[string]any{"action": "start", "what": "screen", "w": 800, "h": 600},
		"/api/screen/pointer": map[string]any{"hide": true},
		"/api/screen/view":    map[string]any{"on": false},
	} {
		res, data := do(t, s, "POST", path, body)
		var e apiError
		json.Unmarshal(data, &e)
		if res.StatusCode != 409 || e.Error != refused.Error() {
			t.Errorf("%s refused: %d %q", path, res.StatusCode, e.Error)
		}
	}
}

// TestScreenCrossOrigin: another origin or site cannot start, steer or
// bridge a share, nor can a request without the token.
func TestScreenCrossOrigin(t *testing.T) {
	b := newTestBackend(connectedState())
	s := startServer(t, b)
	bodies := map[string]string{
		"/api/screen/rtc":     `{"sdp":"v=0\r\n"}`,
		"/api/screen":         `{"action":"start","what":"screen"}`,
		"/api/screen/pointer": `{"x":0.5,"y":0.5}`,
		"/api/screen/view":    `{"on":false}`,
	}
	for path, body := range bodies {
		for _, tc := range []struct {
			name string
			hdr  map[string]string
			auth bool
			want int
		}{
			{"cross-origin", map[string]string{"Origin": "http://evil.example"}, true, 403},
			{"cross-site", map[string]string{"Sec-Fetch-Site": "cross-site"}, true, 403},
			{"same-site", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}, true, 403},
			{"no token", nil, false, 401},
			{"foreign host", map[string]string{"Host": "evil.example:" + s.port}, true, 421},
		} {
			req, _ := http.NewRequest("POST", base(s)+path, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if tc.auth {
				req.AddCookie(&http.Cookie{Name: s.cookie, Value: token(s)})
			}
			for k, v := range tc.hdr {
				if k == "Host" {
					req.Host = v
				} else {
					req.Header.Set(k, v)
				}
			}
			res, err := client(t).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.want {
				t.Errorf("%s %s: %d, want %d", tc.name, path, res.StatusCode, tc.want)
			}
			checkHeaders(t, res)
		}
	}
	if c := b.Calls(); len(c) != 0 {
		t.Errorf("refused requests reached the backend: %v", c)
	}
}

// TestScreenState: the screen's state reaches the page as API.md says.
func TestScreenState(t *testing.T) {
	st := connectedState()
	started := time.Date(2025, 3, 1, 9, 5, 0, 0, time.UTC)
	st.Screen = &Screen{
		CanShare: true,
		Own:      &ScreenShare{ID: "h3", State: "paused", What: "window", W: 1280, H: 720, Started: started, Viewing: true},
		Peer:     &ScreenShare{ID: "c2", State: "on", What: "screen", W: 1920, H: 1080, Started: started, Pointer: &Point{X: 0.25, Y: 0.5}},
		Bitrate:  1_500_000,
	}
	s := startServer(t, newTestBackend(st))
	_, body := do(t, s, "GET", "/api/state", nil)
	var raw struct {
		Screen map[string]any `json:"screen"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"can_share": true,
		"own":       map[string]any{"id": "h3", "state": "paused", "what": "window", "w": 1280.0, "h": 720.0, "started": "2025-03-01T09:05:00Z", "viewing": true},
		"peer":      map[string]any{"id": "c2", "state": "on", "what": "screen", "w": 1920.0, "h": 1080.0, "started": "2025-03-01T09:05:00Z", "viewing": false, "pointer": map[string]any{"x": 0.25, "y": 0.5}},
		"bitrate":   1_500_000.0,
	}
	if !reflect.DeepEqual(raw.Screen, want) {
		t.Errorf("screen\n got %v\nwant %v", raw.Screen, want)
	}
	st.Screen = nil
	s = startServer(t, newTestBackend(st))
	if _, body := do(t, s, "GET", "/api/state", nil); strings.Contains(string(body), `"screen"`) {
		t.Errorf("no screen, yet: %s", body)
	}
}

// FuzzPointer: whatever the page sends, a pointer that reaches the
// Backend is finite and within the picture, and hiding carries no place.
func FuzzPointer(f *testing.F) {
	for _, s := range []string{`{"x":0.5,"y":0.5}`, `{"hide":true}`, `{"x":1,"y":0}`, `{"x":-0,"y":1e-300}`, `{"x":1.0000000000000002,"y":0}`, `{"x":0.5}`, `{"hide":true,"x":0}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var q pointerRequest
		if json.Unmarshal([]byte(body), &q) != nil {
			return
		}
		x, y, show, ok := q.point()
		if !ok {
			return
		}
		if show && (math.IsNaN(x) || math.IsNaN(y) || x < 0 || x > 1 || y < 0 || y > 1) {
			t.Fatalf("%s: pointer at %v, %v", body, x, y)
		}
		if !show && (x != 0 || y != 0 || !q.Hide) {
			t.Fatalf("%s: hidden at %v, %v", body, x, y)
		}
	})
}

// FuzzShareRequest: an accepted share request names a known action, and
// only "start" carries what and a size within bounds.
func FuzzShareRequest(f *testing.F) {
	for _, s := range []string{`{"action":"start","what":"screen","w":1920,"h":1080}`, `{"action":"pause"}`, `{"action":"stop","w":0}`, `{"action":"start","what":"tab","w":-1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		var q shareRequest
		if json.Unmarshal([]byte(body), &q) != nil || q.check() != "" {
			return
		}
		switch q.Action {
		case "start":
			if q.What == "" || q.W != nil && (*q.W < 0 || *q.W > maxScreenPixels) || q.H != nil && (*q.H < 0 || *q.H > maxScreenPixels) {
				t.Fatalf("%s accepted", body)
			}
		case "pause", "resume", "stop":
			if q.What != "" || q.W != nil || q.H != nil {
				t.Fatalf("%s accepted", body)
			}
		default:
			t.Fatalf("%s accepted", body)
		}
	})
}
