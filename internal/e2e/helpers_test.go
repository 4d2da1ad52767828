package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testContext is a context that ends at d, or shortly before the test
// binary's own deadline, whichever is first, so that a hanging process fails
// its test with a message instead of killing the whole binary.
func testContext(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	deadline := time.Now().Add(d)
	// Benchmarks have no Deadline method.
	if dt, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if td, ok := dt.Deadline(); ok && td.Add(-10*time.Second).Before(deadline) {
			deadline = td.Add(-10 * time.Second)
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	t.Cleanup(cancel)
	return ctx
}

// server is a running "direkt server".
type server struct {
	p   *proc
	url string
}

// startLoopbackServer runs a server on 127.0.0.1 with ports of the kernel's
// choosing, read back from its start-up log line.
func startLoopbackServer(ctx context.Context, t testing.TB, flags ...string) *server {
	t.Helper()
	args := append([]string{"server", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--relay-private"}, flags...)
	p := start(t, "server", procOptions{}, args...)
	return awaitServer(ctx, t, p, "")
}

// awaitServer waits for the server's "running" log line and takes the HTTP
// address from it; host, when not empty, replaces the logged host.
func awaitServer(ctx context.Context, t testing.TB, p *proc, host string) *server {
	t.Helper()
	line, err := p.awaitStderr(ctx, "direkt server running")
	if err != nil {
		t.Fatalf("server did not start: %v\n%s", err, p.eventLog())
	}
	var addr string
	for _, f := range strings.Fields(line) {
		if a, ok := strings.CutPrefix(f, "http="); ok {
			addr = a
		}
	}
	if addr == "" {
		t.Fatalf("no http= address in the server's start line %q", line)
	}
	if host != "" {
		addr = host + addr[strings.LastIndexByte(addr, ':'):]
	}
	return &server{p: p, url: "http://" + addr}
}

// healthz checks the server's /healthz from the test's own network.
func (s *server) healthz(ctx context.Context, t *testing.T) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/healthz", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /healthz: %s", resp.Status)
	}
	http.DefaultClient.CloseIdleConnections()
}

// writeRandom writes n pseudo-random bytes (seeded by the name, so runs are
// repeatable) to path.
func writeRandom(t testing.TB, path string, n int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var seed [32]byte
	copy(seed[:], filepath.Base(path))
	if _, err := io.CopyN(f, rand.NewChaCha8(seed), n); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func sha256File(t testing.TB, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// listFiles returns the slash-separated paths of the regular files under
// dir, sorted.
func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, path)
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// checkReceived checks that the receiver's out folder holds exactly the files
// of the done event, each byte-identical to its source (want maps the event's
// name to the source path) and with the event's size and SHA-256.
func checkReceived(t *testing.T, out string, done event, want map[string]string) {
	t.Helper()
	var names []string
	for _, f := range done.Files {
		names = append(names, f.Name)
		src, ok := want[f.Name]
		if !ok {
			t.Errorf("done event names %q, which was not sent", f.Name)
			continue
		}
		got := filepath.Join(out, filepath.FromSlash(f.Name))
		a, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(got)
		if err != nil {
			t.Errorf("received file %q: %v", f.Name, err)
			continue
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: received %d bytes that differ from the %d sent", f.Name, len(b), len(a))
		}
		if f.Bytes != int64(len(a)) {
			t.Errorf("%s: done event says %d bytes, source has %d", f.Name, f.Bytes, len(a))
		}
		if h := sha256File(t, got); h != f.SHA256 {
			t.Errorf("%s: done event sha256 %s, received file hashes to %s", f.Name, f.SHA256, h)
		}
	}
	slices.Sort(names)
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Errorf("done event files %q, want %q", names, wantNames)
	}
	if got := listFiles(t, out); !slices.Equal(got, wantNames) {
		t.Errorf("out folder holds %q, want exactly %q", got, wantNames)
	}
}

// sameFiles reports whether two done events list the same files.
func sameFiles(a, b []fileEvent) bool {
	key := func(fs []fileEvent) []fileEvent {
		s := slices.Clone(fs)
		slices.SortFunc(s, func(x, y fileEvent) int { return strings.Compare(x.Name, y.Name) })
		return s
	}
	return slices.Equal(key(a), key(b))
}
