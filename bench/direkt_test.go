package bench

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/direkt/direkt/internal/cli"
)

// command is one direkt command running in-process through cli.Main, as the
// binary would run it, with its stdout parsed as --json events.
type command struct {
	events *eventLog
	stderr *tailBuffer
	done   chan struct{} // closed when Main returned
	exit   int           // Main's result; read after done
}

// start runs "direkt args..." in a goroutine. The caller owns it: it must
// end ctx or let the command finish, and receive from done. home is the
// command's DIREKT_HOME (its identity); started is its process start (t_ms
// counts from it); stderr nil means a new buffer; logger nil means the
// command's own (warnings to stderr).
func start(ctx context.Context, home string, started time.Time, stderr *tailBuffer, logger *slog.Logger, args ...string) *command {
	if stderr == nil {
		stderr = &tailBuffer{}
	}
	c := &command{events: newEventLog(), stderr: stderr, done: make(chan struct{})}
	env := cli.Env{
		Stdin:  strings.NewReader(""),
		Stdout: c.events,
		Stderr: c.stderr,
		Getenv: func(k string) string {
			if k == "DIREKT_HOME" {
				return home
			}
			return ""
		},
		Start:  started,
		Logger: logger,
	}
	go func() {
		defer close(c.done)
		c.exit = cli.Main(ctx, args, env)
	}()
	return c
}

// failure describes a failed command for a test log: exit code and the end
// of its stderr.
func (c *command) failure() string {
	select {
	case <-c.done:
		return fmt.Sprintf("exit %d, stderr: %q", c.exit, c.stderr.String())
	default:
		return fmt.Sprintf("still running, stderr: %q", c.stderr.String())
	}
}

// tailBuffer keeps the last 16 KiB written to it; safe for concurrent use.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

const tailMax = 16 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - tailMax; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// server is "direkt server" running in-process on loopback: rendezvous
// mailboxes on HTTP, STUN and TURN on UDP and TCP, relaying to private
// (here: loopback) addresses as --relay-private allows.
type server struct {
	URL    string
	cmd    *command
	cancel context.CancelFunc
}

// startServer runs "direkt server" on ephemeral loopback ports. The command
// prints its addresses only in its start-up log line, so a logger that
// watches for that line's "http" attribute tells us the URL.
func startServer(ctx context.Context) (*server, error) {
	addr := make(chan string, 1)
	logs := &tailBuffer{}
	logger := slog.New(&addrHandler{
		next: slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}),
		addr: addr,
	})
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cmd := start(sctx, "", time.Now(), logs, logger,
		"server", "--listen", "127.0.0.1:0", "--turn-listen", "127.0.0.1:0", "--relay-private")
	s := &server{cmd: cmd, cancel: cancel}
	select {
	case a := <-addr:
		s.URL = "http://" + a
		return s, nil
	case <-cmd.done:
		cancel()
		return nil, fmt.Errorf("direkt server: %s", cmd.failure())
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("direkt server did not start: %w", context.Cause(ctx))
	}
}

// Close stops the server, as SIGINT would, and waits until it has exited.
func (s *server) Close() error {
	s.cancel()
	<-s.cmd.done
	if s.cmd.exit != 0 {
		return fmt.Errorf("direkt server: %s", s.cmd.failure())
	}
	return nil
}

// addrHandler passes records on to next and reports the value of the first
// "http" attribute it sees (the server's listen address) on addr.
type addrHandler struct {
	next slog.Handler
	addr chan<- string
}

func (h *addrHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *addrHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Attrs(func(a slog.Attr) bool {
		if a.Key != "http" {
			return true
		}
		select {
		case h.addr <- a.Value.String():
		default:
		}
		return false
	})
	if h.next.Enabled(ctx, r.Level) {
		return h.next.Handle(ctx, r)
	}
	return nil
}

func (h *addrHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &addrHandler{next: h.next.WithAttrs(as), addr: h.addr}
}

func (h *addrHandler) WithGroup(name string) slog.Handler {
	return &addrHandler{next: h.next.WithGroup(name), addr: h.addr}
}

// result is one measurement.
type result struct {
	name  string
	path  string        // how the bytes went, e.g. "direct host↔host udp"
	bytes int64         // moved
	wall  time.Duration // from the first byte sent (or "connected") to the last received (or "done")
	cpu   time.Duration // process CPU time over wall; both ends (and the relay)
	// connect is from starting "direkt receive" with the code to its
	// "connected" event; zero for the bare references.
	connect time.Duration
}

func (r result) mibps() float64 {
	if r.wall <= 0 {
		return 0
	}
	return float64(r.bytes) / (1 << 20) / r.wall.Seconds()
}

// cpuPerMiB is CPU milliseconds per MiB moved; 0 when unmeasured.
func (r result) cpuPerMiB() float64 {
	if r.bytes == 0 {
		return 0
	}
	return float64(r.cpu) / float64(time.Millisecond) / (float64(r.bytes) / (1 << 20))
}

// testbed is what the send/receive measurements share: the server, the file
// and the peers' folders.
type testbed struct {
	srv       *server
	src       *source
	dir       string // holds the peers' homes and the receive folders
	sendHome  string
	recvHome  string
	transfers int
}

func newTestbed(ctx context.Context, dir string, size int64) (*testbed, error) {
	tb := &testbed{dir: dir, sendHome: filepath.Join(dir, "send-home"), recvHome: filepath.Join(dir, "receive-home")}
	for _, d := range []string{tb.sendHome, tb.recvHome} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	src, err := makeSource(dir, size)
	if err != nil {
		return nil, fmt.Errorf("source file: %w", err)
	}
	tb.src = src
	if tb.srv, err = startServer(ctx); err != nil {
		return nil, err
	}
	return tb, nil
}

func (tb *testbed) Close() error {
	if tb.srv == nil {
		return nil
	}
	return tb.srv.Close()
}

// transferTimeout bounds one send/receive: generous set-up time plus the file
// at a crawl of 2 MiB/s (a race-detector run), so that only a hang fails.
func transferTimeout(size int64) time.Duration {
	return 2*time.Minute + time.Duration(size/(2<<20))*time.Second
}

// sendReceive runs "direkt send --json" and, once it printed the code,
// "direkt receive --json CODE" with --path path on both sides, both with
// loopback candidates. It checks what a script would check (both exit 0,
// the connected event's path, the done event's size and SHA-256, the file on
// disk) and measures from the receiver's connected event to its done event.
// The received copy is removed before it returns.
func (tb *testbed) sendReceive(ctx context.Context, path string) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, transferTimeout(tb.src.size))
	defer cancel()
	tb.transfers++
	out := filepath.Join(tb.dir, fmt.Sprintf("out%d", tb.transfers))
	if err := os.Mkdir(out, 0o700); err != nil {
		return result{}, err
	}
	defer os.RemoveAll(out)

	common := []string{"--server", tb.srv.URL, "--json", "--loopback", "--path", path}
	snd := start(ctx, tb.sendHome, time.Now(), nil, nil, append(append([]string{"send"}, common...), tb.src.path)...)
	var rcv *command
	defer func() {
		// Both commands end before we return, also on failure.
		cancel()
		<-snd.done
		if rcv != nil {
			<-rcv.done
		}
	}()
	ce, err := snd.events.wait(ctx, "code", snd.done)
	if err != nil {
		return result{}, fmt.Errorf("send: %w (%s)", err, snd.failure())
	}
	// "Code entered" is the moment receive starts with the code.
	t0 := time.Now()
	rcv = start(ctx, tb.recvHome, t0, nil, nil, append(append([]string{"receive"}, common...), "--out", out, ce.Code)...)
	conn, err := rcv.events.wait(ctx, "connected", rcv.done)
	if err != nil {
		return result{}, fmt.Errorf("receive: %w (%s; sender %s)", err, rcv.failure(), snd.failure())
	}
	done, err := rcv.events.wait(ctx, "done", rcv.done)
	if err != nil {
		return result{}, fmt.Errorf("receive: %w (%s; sender %s)", err, rcv.failure(), snd.failure())
	}
	for _, c := range []*command{rcv, snd} {
		select {
		case <-c.done:
		case <-ctx.Done():
			return result{}, fmt.Errorf("waiting for exit: %w (receive %s; send %s)", context.Cause(ctx), rcv.failure(), snd.failure())
		}
	}
	if rcv.exit != 0 || snd.exit != 0 {
		return result{}, fmt.Errorf("receive %s; send %s", rcv.failure(), snd.failure())
	}
	if err := tb.check(conn, done, path, out); err != nil {
		return result{}, err
	}
	return result{
		name:    "direkt send/receive",
		path:    fmt.Sprintf("%s %s↔%s %s", conn.Path, conn.Local, conn.Remote, conn.Proto),
		bytes:   tb.src.size,
		wall:    done.at.Sub(conn.at),
		cpu:     done.cpu - conn.cpu,
		connect: conn.at.Sub(t0),
	}, nil
}

var errCheck = errors.New("transfer outcome wrong")

// check compares the receiver's events and the received file with the source.
func (tb *testbed) check(conn, done event, path, out string) error {
	if conn.Path != path {
		return fmt.Errorf("%w: connected over %q, want %q", errCheck, conn.Path, path)
	}
	if len(done.Files) != 1 {
		return fmt.Errorf("%w: done event lists %d files, want 1", errCheck, len(done.Files))
	}
	f := done.Files[0]
	if want := hex.EncodeToString(tb.src.sha256[:]); f.Bytes != tb.src.size || f.SHA256 != want {
		return fmt.Errorf("%w: done reports %d bytes, sha256 %s; want %d, %s", errCheck, f.Bytes, f.SHA256, tb.src.size, want)
	}
	fi, err := os.Stat(filepath.Join(out, f.Name))
	if err != nil {
		return fmt.Errorf("%w: %w", errCheck, err)
	}
	if fi.Size() != tb.src.size {
		return fmt.Errorf("%w: received file has %d bytes, want %d", errCheck, fi.Size(), tb.src.size)
	}
	return nil
}
