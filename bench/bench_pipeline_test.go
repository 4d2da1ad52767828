package bench

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"
)

// smokeBytes is what the tests move: enough for many SCTP packets and QUIC
// flow-control updates, little enough for a -race run in CI.
const smokeBytes = 4 << 20

// TestMeasurements runs every measurement of the benchmark once with a few
// MiB and checks what it measured: the transfers complete over the path
// asked for, with the right bytes (sendReceive checks exit codes, size and
// SHA-256 itself), and the figures are positive. It asserts no speed.
func TestMeasurements(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bed, err := newTestbed(ctx, t.TempDir(), smokeBytes)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := bed.Close(); err != nil {
			t.Error(err)
		}
	}()
	var rows []result
	for _, path := range []string{"direct", "relay"} {
		t.Run(path, func(t *testing.T) {
			r, err := bed.sendReceive(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(r.path, path+" ") {
				t.Errorf("path %q, want %s", r.path, path)
			}
			if path == "relay" && !strings.Contains(r.path, "relay") {
				t.Errorf("relayed path %q names no relay candidate", r.path)
			}
			checkFigures(t, r, true)
			rows = append(rows, r)
		})
	}
	t.Run("no server", func(t *testing.T) {
		// A sender that cannot reach the server must fail the measurement
		// promptly with the command's own error, not hang or pass.
		bad := *bed
		bad.srv = &server{URL: "http://127.0.0.1:1"}
		_, err := bad.sendReceive(ctx, "direct")
		if err == nil || !strings.Contains(err.Error(), "kind unreachable") {
			t.Errorf("send to a closed port: %v, want the sender's unreachable error", err)
		}
	})
	t.Run("pion", func(t *testing.T) {
		r, err := pionTransfer(ctx, smokeBytes)
		if err != nil {
			t.Fatal(err)
		}
		if r.path != "host↔host udp" {
			t.Errorf("pion path %q, want host↔host udp", r.path)
		}
		checkFigures(t, r, false)
		rows = append(rows, r)
	})
	t.Run("quic", func(t *testing.T) {
		r, err := quicTransfer(ctx, smokeBytes)
		if err != nil {
			t.Fatal(err)
		}
		checkFigures(t, r, false)
		rows = append(rows, r)
	})
	var buf bytes.Buffer
	printTable(&buf, smokeBytes, rows)
	t.Log(buf.String())
	if got := strings.Count(buf.String(), "\n| "); got != len(rows)+1 {
		t.Errorf("table has %d rows, want a header and %d:\n%s", got, len(rows), buf.String())
	}
	if len(rows) == 4 && !strings.Contains(buf.String(), "direct / quic-go = ") {
		t.Errorf("table lacks the direct / quic-go ratio:\n%s", buf.String())
	}
	// The received copies are gone; the source stays until TempDir cleanup.
	entries, err := os.ReadDir(bed.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "out") {
			t.Errorf("received folder %s left behind", e.Name())
		}
	}
}

func checkFigures(t *testing.T, r result, connect bool) {
	t.Helper()
	if r.bytes != smokeBytes || r.wall <= 0 || r.mibps() <= 0 {
		t.Errorf("%s: %d bytes in %v", r.name, r.bytes, r.wall)
	}
	if connect != (r.connect > 0) {
		t.Errorf("%s: connect time %v", r.name, r.connect)
	}
}

// TestSourceFile checks that the source is as long as asked, has the digest
// recorded, and is the same for the same size (seeded).
func TestSourceFile(t *testing.T) {
	const size = 3<<20 + 12345 // not a multiple of the write buffer
	a, err := makeSource(t.TempDir(), size)
	if err != nil {
		t.Fatal(err)
	}
	b, err := makeSource(t.TempDir(), size)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(a.path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != size {
		t.Fatalf("source has %d bytes, want %d", len(data), size)
	}
	if a.sha256 != b.sha256 {
		t.Errorf("two sources of one size differ: %s, %s", hex.EncodeToString(a.sha256[:]), hex.EncodeToString(b.sha256[:]))
	}
	if bytes.Count(data, make([]byte, 4096)) > 0 {
		t.Error("source has a 4 KiB run of zeros: not random content")
	}
	if _, err := makeSource(a.path[:len(a.path)-len("direkt-bench.bin")], size); err == nil {
		t.Error("makeSource overwrote an existing file")
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"1":          1,
		"1073741824": 1 << 30,
		"64M":        64 << 20,
		"64MiB":      64 << 20,
		"64mb":       64 << 20,
		" 1G ":       1 << 30,
		"512k":       512 << 10,
		"64G":        64 << 30,
	}
	for in, want := range good {
		got, err := parseSize(in)
		if err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "1T", "65G", "G", "1.5G", "9223372036854775807", "0x10", "1 G"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

// TestEventLog feeds the event stream in awkward pieces and checks that wait
// finds events, stops at an error event, and notices the command's exit.
func TestEventLog(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l := newEventLog()
	exited := make(chan struct{})
	stream := `{"event":"code","t_ms":3,"code":"7-a-b"}` + "\n" +
		`{"event":"connected","t_ms":40,"path":"direct","local":"host","remote":"host","proto":"udp","phrase":"x y z"}` + "\n"
	got := make(chan event, 1)
	errc := make(chan error, 1)
	go func() {
		e, err := l.wait(ctx, "connected", exited)
		got <- e
		errc <- err
	}()
	for i := 0; i < len(stream); i += 7 {
		l.Write([]byte(stream[i:min(i+7, len(stream))]))
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if e := <-got; e.Path != "direct" || e.TMs != 40 || e.at.IsZero() {
		t.Errorf("connected event %+v", e)
	}
	if e, err := l.wait(ctx, "code", exited); err != nil || e.Code != "7-a-b" {
		t.Errorf("code event %+v, %v", e, err)
	}

	l.Write([]byte(`{"event":"error","t_ms":50,"kind":"io","message":"disk full"}` + "\n"))
	if _, err := l.wait(ctx, "done", exited); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("wait past an error event: %v", err)
	}

	l2 := newEventLog()
	close(exited)
	if _, err := l2.wait(ctx, "done", exited); err == nil {
		t.Error("wait on an exited command returned no error")
	}
	l3 := newEventLog()
	l3.Write([]byte("not json\n"))
	if _, err := l3.wait(ctx, "done", make(chan struct{})); err == nil {
		t.Error("wait after a malformed line returned no error")
	}
}
