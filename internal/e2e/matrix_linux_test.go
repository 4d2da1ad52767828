//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/direkt/direkt/internal/netbed"
)

// The NAT matrix (issue 4, section 1): every unordered pair of the six site
// kinds of internal/netbed, at 0 ms and at about 40 ms round-trip time
// between the peers, each cell a bed of its own with the real direkt binary:
// "direkt server" in the server's site, "send --json" in site A and
// "receive --json" in site B. Every cell must connect and deliver the file
// intact; the path must be direct wherever a side is public or open and in
// easy↔easy, relayed over TCP where UDP is blocked and over TLS on 443 where
// only TCP to 443 leaves. The test runs every cell, then fails every cell
// that missed, and logs one table of all of them.

// matrixPrefix names the matrix's namespaces (netbed adds pid and sequence).
const matrixPrefix = "dkm"

// matrixRTTs are the round-trip times between the two peers the matrix runs
// at; each site link gets a quarter of it in each direction.
var matrixRTTs = []time.Duration{0, 40 * time.Millisecond}

// matrixBytes is the file size per cell: $DIREKT_MATRIX_BYTES, default 2 MiB
// (small, so that 42 cells finish in minutes).
func matrixBytes() int64 {
	if n, err := strconv.ParseInt(os.Getenv("DIREKT_MATRIX_BYTES"), 10, 64); err == nil && n > 0 {
		return n
	}
	return 2 << 20
}

// matrixParallel is how many cells of one latency run at once:
// $DIREKT_MATRIX_PARALLEL, default 4.
func matrixParallel() int {
	if n, err := strconv.Atoi(os.Getenv("DIREKT_MATRIX_PARALLEL")); err == nil && n > 0 {
		return n
	}
	return 4
}

// cell is one pair of site kinds at one latency; the sender sits in A.
type cell struct {
	a, b netbed.Kind
	rtt  time.Duration
}

func (c cell) name() string { return string(c.a) + "-" + string(c.b) }

// matrixCells are the 21 unordered pairs of kinds at rtt.
func matrixCells(rtt time.Duration) []cell {
	var cs []cell
	for i, a := range netbed.Kinds {
		for _, b := range netbed.Kinds[i:] {
			cs = append(cs, cell{a: a, b: b, rtt: rtt})
		}
	}
	return cs
}

// has reports whether either side is of one of the kinds.
func (c cell) has(kinds ...netbed.Kind) bool {
	return slices.Contains(kinds, c.a) || slices.Contains(kinds, c.b)
}

// wantPath is the path the issue asks for in c: "direct", "relay", or ""
// where it asks only for a connection (easy↔hard and hard↔hard, where no
// hole punch can work without port prediction or port mapping).
func (c cell) wantPath() string {
	switch {
	case c.has(netbed.UDPBlock, netbed.TCP443):
		return "relay"
	case c.has(netbed.Public, netbed.Open) || (c.a == netbed.Easy && c.b == netbed.Easy):
		return "direct"
	}
	return ""
}

// wantProto is the transport a peer in a site of kind k must report in c:
// "udp" on a direct path, "tls" (TURN over TLS on 443) for a TCP443 site,
// "tcp" for a UDPBlock site (TURN over TCP; TLS is TCP too and is accepted),
// or "" for no requirement.
func (c cell) wantProto(k netbed.Kind) []string {
	switch {
	case k == netbed.TCP443:
		return []string{"tls"}
	case k == netbed.UDPBlock:
		return []string{"tcp", "tls"}
	case c.wantPath() == "direct":
		return []string{"udp"}
	}
	return nil
}

// cellResult is what one cell did.
type cellResult struct {
	cell
	connected bool // both sides reported connected
	intact    bool // the file arrived and hashes right
	path      string
	sendTypes string // sender's local→remote candidate types
	recvTypes string
	sendProto string
	recvProto string
	connectMs int64 // receiver start → its connected event; -1 when it never connected
	problems  []string
	finished  bool
}

func (r *cellResult) problem(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

// met reports whether the cell did everything the issue asks of it.
func (r *cellResult) met() bool { return r.finished && len(r.problems) == 0 }

// features are the server and peer flags that later parts of issue 4 add;
// the matrix uses them once the binary has them.
type features struct {
	tls bool // server --tls-listen/--tls-cert/--tls-key and peers' --ca
}

var (
	featureOnce sync.Once
	feature     features
)

// probeFeatures reads the binary's usage texts for the flags.
func probeFeatures() features {
	featureOnce.Do(func() {
		usage := func(cmd string) string {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			out, _ := exec.CommandContext(ctx, direktBin, cmd, "-h").CombinedOutput()
			return string(out)
		}
		feature.tls = strings.Contains(usage("server"), "-tls-listen") && strings.Contains(usage("send"), "-ca ")
	})
	return feature
}

// requireMatrix skips unless beds can be built here.
func requireMatrix(t testing.TB) {
	t.Helper()
	if err := netbed.Available(); err != nil {
		t.Skipf("the NAT matrix needs a test bed: %v", err)
	}
}

// openBed builds a bed for t and registers its Close as a cleanup. Register
// it before the cleanups of what runs in the bed: cleanups run last first.
func openBed(ctx context.Context, t testing.TB, cfg netbed.Config) *netbed.Bed {
	t.Helper()
	bed, err := netbed.New(ctx, cfg)
	if err != nil {
		t.Fatalf("bed: %v", err)
	}
	t.Cleanup(func() {
		if err := bed.Close(); err != nil {
			t.Errorf("bed: %v", err)
		}
	})
	return bed
}

// runCell builds c's bed, runs the server, send and receive in it and
// judges the outcome. It fails t only for trouble with the bed itself; what
// direkt did goes into the result.
func runCell(ctx context.Context, t testing.TB, c cell) (res cellResult) {
	res = cellResult{cell: c, connectMs: -1}
	feat := probeFeatures()
	// Its cleanup is registered first, so it runs after the processes'.
	bed := openBed(ctx, t, netbed.Config{Prefix: matrixPrefix, A: c.a, B: c.b, Delay: c.rtt / 4})

	srvAddr := netbed.ServerAddr.String()
	args := append([]string{"server", "--listen", srvAddr + ":8080", "--turn-listen", srvAddr + ":3478", "--public-ip", srvAddr}, relayAllow()...)
	var tlsFiles netbed.TLSFiles
	if feat.tls {
		var err error
		if tlsFiles, err = netbed.WriteTLS(t.TempDir(), netbed.ServerAddr); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--tls-listen", srvAddr+":443", "--tls-cert", tlsFiles.Cert, "--tls-key", tlsFiles.Key)
	}
	srv := start(t, "server", procOptions{Netns: bed.Server}, args...)
	if _, err := srv.awaitStderr(ctx, "direkt server running"); err != nil {
		t.Fatalf("server did not start: %v\n%s", err, srv.eventLog())
	}
	// Peers in a TCP443 site reach the server on 443 only, once it serves
	// TLS there; everyone else uses plain HTTP on 8080.
	peerFlags := func(k netbed.Kind) []string {
		if k == netbed.TCP443 && feat.tls {
			return []string{"--server", "https://" + srvAddr, "--ca", tlsFiles.CA}
		}
		return []string{"--server", "http://" + srvAddr + ":8080"}
	}

	src := filepath.Join(t.TempDir(), "matrix.bin")
	writeRandom(t, src, matrixBytes())
	out := t.TempDir()
	send := start(t, "send", procOptions{Netns: bed.A.Host}, slices.Concat([]string{"send", "--json"}, peerFlags(c.a), []string{src})...)
	codeEv, _, err := send.await(ctx, 0, func(e event) bool { return e.Event == "code" || e.Event == "error" })
	if err != nil || codeEv.Event != "code" {
		res.problem("sender got no code: %s", describeFailure(send, err))
		res.finished = true
		return res
	}
	recv := start(t, "receive", procOptions{Netns: bed.B.Host}, slices.Concat([]string{"receive", "--json", "--out", out}, peerFlags(c.b), []string{codeEv.Code})...)
	// When one side fails the other cannot succeed: it gets a few seconds
	// to report its own view, then the cell ends.
	var rcode, scode int
	var rok, sok bool
	select {
	case <-recv.done:
		rcode, rok = exitCode(ctx, recv)
		gctx, cancel := graceAfter(ctx, rcode)
		scode, sok = exitCode(gctx, send)
		cancel()
	case <-send.done:
		scode, sok = exitCode(ctx, send)
		gctx, cancel := graceAfter(ctx, scode)
		rcode, rok = exitCode(gctx, recv)
		cancel()
	case <-ctx.Done():
	}

	sc, sConn := send.last("connected")
	rc, rConn := recv.last("connected")
	res.connected = sConn && rConn
	if rConn {
		res.connectMs = rc.ms()
		res.recvTypes, res.recvProto = rc.Local+"→"+rc.Remote, rc.Proto
		res.path = rc.Path
	}
	if sConn {
		res.sendTypes, res.sendProto = sc.Local+"→"+sc.Remote, sc.Proto
		if res.path == "" {
			res.path = sc.Path
		}
	}
	for _, x := range []struct {
		p    *proc
		code int
		ok   bool
	}{{send, scode, sok}, {recv, rcode, rok}} {
		switch {
		case !x.ok:
			res.problem("%s still running when the cell ended", x.p.name)
		case x.code != 0:
			res.problem("%s exited %d: %s", x.p.name, x.code, describeFailure(x.p, nil))
		}
	}
	if !res.connected {
		res.problem("not connected (send %v, receive %v)", sConn, rConn)
	} else if sc.Path != rc.Path {
		res.problem("the sides disagree on the path: send %s, receive %s", sc.Path, rc.Path)
	}
	if done, ok := recv.last("done"); ok && rcode == 0 {
		res.intact = fileIntact(t, out, done, src, &res)
	} else if res.connected {
		res.problem("no done event from the receiver")
	}

	if res.connected {
		if want := c.wantPath(); want != "" && res.path != want {
			res.problem("path %s, want %s", res.path, want)
		}
		for _, side := range []struct {
			who  string
			kind netbed.Kind
			ev   event
		}{{"send", c.a, sc}, {"receive", c.b, rc}} {
			want := c.wantProto(side.kind)
			if len(want) > 0 && !slices.Contains(want, side.ev.Proto) {
				res.problem("%s (%s) over %s, want %s", side.who, side.kind, side.ev.Proto, strings.Join(want, " or "))
			}
			if !side.kind.UDP() && side.ev.Local != "relay" {
				res.problem("%s (%s) on a %s candidate, want its own relay candidate", side.who, side.kind, side.ev.Local)
			}
		}
	}
	res.finished = true
	return res
}

// fileIntact checks the received file against the source: the one name,
// the size and SHA-256 in the done event and on disk.
func fileIntact(t testing.TB, out string, done event, src string, res *cellResult) bool {
	t.Helper()
	want := sha256File(t, src)
	if len(done.Files) != 1 || done.Files[0].Name != filepath.Base(src) {
		res.problem("done event lists %v, want only %s", done.Files, filepath.Base(src))
		return false
	}
	if done.Files[0].SHA256 != want {
		res.problem("done event sha256 %s, sent %s", done.Files[0].SHA256, want)
		return false
	}
	got := filepath.Join(out, filepath.Base(src))
	if _, err := os.Stat(got); err != nil {
		res.problem("received file: %v", err)
		return false
	}
	if h := sha256File(t, got); h != want {
		res.problem("received file hashes to %s, sent %s", h, want)
		return false
	}
	return true
}

// exitCode waits for p to exit; false when ctx ended first.
func exitCode(ctx context.Context, p *proc) (int, bool) {
	select {
	case <-p.done:
	case <-ctx.Done():
		return -1, false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exitCode, true
}

// graceAfter is ctx after the first side exited with code: unchanged when it
// succeeded, else cut to a few seconds.
func graceAfter(ctx context.Context, code int) (context.Context, context.CancelFunc) {
	if code == 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, 5*time.Second)
}

// describeFailure names a process's error event, or err, or its last
// stderr line.
func describeFailure(p *proc, err error) string {
	if e, ok := p.last("error"); ok {
		return fmt.Sprintf("%s: %s (%s)", p.name, e.Message, e.Kind)
	}
	if err != nil {
		return fmt.Sprintf("%s: %v", p.name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.stderr.lines); n > 0 {
		return fmt.Sprintf("%s: %s", p.name, p.stderr.lines[n-1])
	}
	return p.name + ": no error reported"
}

// matrixTable renders results as the README's table.
func matrixTable(results []cellResult) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "rtt\tcell (send-receive)\tpath\tsend types\treceive types\tproto (send/receive)\tconnect ms\tresult")
	for _, r := range results {
		ms := "–"
		if r.connectMs >= 0 {
			ms = strconv.FormatInt(r.connectMs, 10)
		}
		verdict := "ok"
		if !r.met() {
			verdict = "FAIL: " + strings.Join(r.problems, "; ")
			if !r.finished {
				verdict = "FAIL: aborted (see the cell's log)"
			}
		}
		path := r.path
		if path == "" {
			path = "–"
		}
		fmt.Fprintf(w, "%dms\t%s\t%s\t%s\t%s\t%s/%s\t%s\t%s\n", r.rtt.Milliseconds(), r.name(), path,
			orDash(r.sendTypes), orDash(r.recvTypes), orDash(r.sendProto), orDash(r.recvProto), ms, verdict)
	}
	w.Flush()
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// matrixSummary counts, per latency, connected cells and direct cells among
// those that must be direct.
func matrixSummary(results []cellResult) string {
	var b strings.Builder
	for _, rtt := range matrixRTTs {
		var cells, connected, intact, mustDirect, direct, met int
		for _, r := range results {
			if r.rtt != rtt {
				continue
			}
			cells++
			if r.connected {
				connected++
			}
			if r.intact {
				intact++
			}
			if r.wantPath() == "direct" {
				mustDirect++
				if r.path == "direct" {
					direct++
				}
			}
			if r.met() {
				met++
			}
		}
		if cells > 0 {
			fmt.Fprintf(&b, "rtt %dms: %d of %d cells connected, %d intact, direct in %d of the %d that must be direct; %d of %d cells as the issue asks\n",
				rtt.Milliseconds(), connected, cells, intact, direct, mustDirect, met, cells)
		}
	}
	return b.String()
}

// TestMatrix runs the 42 cells and fails every one that missed the issue's
// bar. Run by hand (as root): go test -run TestMatrix -v ./internal/e2e
func TestMatrix(t *testing.T) {
	requireMatrix(t)
	var mu sync.Mutex
	var results []cellResult
	for _, rtt := range matrixRTTs {
		t.Run(fmt.Sprintf("rtt=%dms", rtt.Milliseconds()), func(t *testing.T) {
			// Cells run in a pool of our own: t.Run may be called from
			// several goroutines, and this keeps the -parallel default (the
			// number of CPUs) from serialising cells that mostly wait.
			sem := make(chan struct{}, matrixParallel())
			var wg sync.WaitGroup
			for _, c := range matrixCells(rtt) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					t.Run(c.name(), func(t *testing.T) {
						ctx := testContext(t, 90*time.Second)
						var r cellResult
						defer func() {
							if !r.finished {
								r = cellResult{cell: c, connectMs: -1}
							}
							mu.Lock()
							results = append(results, r)
							mu.Unlock()
						}()
						r = runCell(ctx, t, c)
						for _, p := range r.problems {
							t.Error(p)
						}
					})
				}()
			}
			wg.Wait()
		})
	}
	slices.SortFunc(results, func(x, y cellResult) int {
		if x.rtt != y.rtt {
			return int(x.rtt - y.rtt)
		}
		return kindIndex(x.a)*10 + kindIndex(x.b) - kindIndex(y.a)*10 - kindIndex(y.b)
	})
	t.Logf("NAT matrix, %d-byte file per cell:\n%s\n%s", matrixBytes(), matrixTable(results), matrixSummary(results))
}

func kindIndex(k netbed.Kind) int { return slices.Index(netbed.Kinds, k) }

// BenchmarkMatrix runs every cell once, one at a time so that the connect
// times are not skewed by other cells, and reports each cell's connect time
// (receiver start → its connected event) and whether its path was direct.
// It fails a cell only when it did not connect or the file did not arrive
// intact; TestMatrix judges the paths.
func BenchmarkMatrix(b *testing.B) {
	requireMatrix(b)
	for _, rtt := range matrixRTTs {
		b.Run(fmt.Sprintf("rtt=%dms", rtt.Milliseconds()), func(b *testing.B) {
			for _, c := range matrixCells(rtt) {
				b.Run(c.name(), func(b *testing.B) {
					var r cellResult
					for b.Loop() {
						ctx := testContext(b, 90*time.Second)
						r = runCell(ctx, b, c)
					}
					if !r.connected || !r.intact {
						b.Errorf("%s: %s", c.name(), strings.Join(r.problems, "; "))
						return
					}
					b.ReportMetric(float64(r.connectMs), "connect-ms")
					direct := 0.0
					if r.path == "direct" {
						direct = 1
					}
					b.ReportMetric(direct, "direct")
				})
			}
		})
	}
}
