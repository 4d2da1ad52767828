package cli

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func (c consoleAPI) post(path, body string) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		c.t.Fatalf("POST %s: %s", path, resp.Status)
	}
}

// TestHostJoinCLI runs `direkt host` and `direkt join` against each other, as
// two terminals would, driving both consoles through their HTTP APIs: the
// client's copy of the record lands in its data folder, and join exits 0
// when the adviser ends.
func TestHostJoinCLI(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	server := testServer(t)
	hostData, joinData := t.TempDir(), t.TempDir()
	host := run(t, ctx, "host", "", "host", "--json", "--no-browser", "--server", server, "--name", "Adviser", "--data", hostData, "--once")
	code := host.next(ctx, EventCode)
	join := run(t, ctx, "join", "", "join", "--json", "--no-browser", "--server", server, "--name", "Client", "--data", joinData, code.str("code"))
	jc := newConsoleAPI(t, join.next(ctx, EventConsole).str("console_url"))
	hc := newConsoleAPI(t, code.str("console_url"))
	hconn, jconn := host.next(ctx, EventConnected), join.next(ctx, EventConnected)
	if hconn.str("phrase") != jconn.str("phrase") || jconn.str("peer") != "Adviser" || hconn.str("peer") != "Client" {
		t.Fatalf("connected events disagree: %v / %v", hconn, jconn)
	}
	// The client accepts the record, both chat, the adviser ends.
	waitFor(t, ctx, func() bool {
		var s struct{ Asks []struct{ ID, What string } }
		jc.get("/api/state", &s)
		return len(s.Asks) == 1 && s.Asks[0].What == "record"
	})
	var s struct{ Asks []struct{ ID string } }
	jc.get("/api/state", &s)
	jc.post("/api/answer", `{"id":"`+s.Asks[0].ID+`","ok":true}`)
	hc.post("/api/chat", `{"text":"Ihr Angebot kommt gleich."}`)
	jc.post("/api/chat", `{"text":"Danke!"}`)
	waitFor(t, ctx, func() bool {
		var st struct{ Chat []struct{ Text string } }
		hc.get("/api/state", &st)
		return len(st.Chat) == 2
	})
	hc.post("/api/end", `{}`)
	hend, jend := host.next(ctx, EventEnded), join.next(ctx, EventEnded)
	if hend.str("record") == "" || hend.str("record") != jend.str("record") {
		t.Fatalf("record ids: host %v, join %v", hend, jend)
	}
	if code, _ := join.wait(ctx); code != 0 {
		t.Fatalf("join exited %d: %s", code, join.stderr.String())
	}
	if code, _ := host.wait(ctx); code != 0 {
		t.Fatalf("host --once exited %d: %s", code, host.stderr.String())
	}
	// The client's copy verifies, with its PDF, and is the adviser's
	// record: the host offered reconnection, so its key is a known host's.
	var out, errb bytes.Buffer
	rec := filepath.Join(joinData, "records", hend.str("record")+".json")
	if code := Main(ctx, []string{"verify", "--data", joinData, rec}, Env{Stdout: &out, Stderr: &errb}); code != 0 {
		t.Fatalf("verify the client's copy: %d %s", code, errb.String())
	}
	for _, want := range []string{"signed by:  Adviser (a known host", "2 chat messages", "is this record's PDF"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("verify does not say %q:\n%s", want, out.String())
		}
	}
	// Without the client's known hosts, the adviser's key is a stranger's.
	out.Reset()
	errb.Reset()
	if code := Main(ctx, []string{"verify", "--data", t.TempDir(), rec}, Env{Stdout: &out, Stderr: &errb}); code != exitFailure || !strings.Contains(errb.String(), "do not trust") {
		t.Errorf("verify without the known host: %d\n%s%s", code, out.String(), errb.String())
	}
}
