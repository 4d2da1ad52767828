package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/mitm"
	"github.com/direkt/direkt/internal/testwatch"
	"github.com/direkt/direkt/internal/wire"
)

func TestMain(m *testing.M) {
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}

// testServer runs the real rendezvous and relay on loopback.
func testServer(t *testing.T) string {
	t.Helper()
	st, err := startStack(stackConfig{
		Listen:       "127.0.0.1:0",
		TURNListen:   "127.0.0.1:0",
		RelayPrivate: true,
		Logger:       quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return "http://" + st.HTTPAddr.String()
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

type event map[string]any

func (e event) str(k string) string { s, _ := e[k].(string); return s }

// proc is one in-process run of Main.
type proc struct {
	t      *testing.T
	name   string
	cancel context.CancelFunc
	exit   chan int
	events chan event
	stderr *lockedBuffer
	// home is the run's identity folder ($DIREKT_HOME).
	home string

	mu  sync.Mutex
	all []event
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// run starts "direkt args..." in-process with its own identity directory.
func run(t *testing.T, ctx context.Context, name string, stdin string, args ...string) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	home := t.TempDir()
	pr, pw := io.Pipe()
	p := &proc{t: t, name: name, cancel: cancel, exit: make(chan int, 1), events: make(chan event, 1024), stderr: &lockedBuffer{}, home: home}
	env := Env{
		Stdin:  strings.NewReader(stdin),
		Stdout: pw,
		Stderr: p.stderr,
		Getenv: func(k string) string {
			switch k {
			case "DIREKT_HOME":
				return home
			case "DIREKT_LOOPBACK":
				return "1"
			}
			return ""
		},
		Start:  time.Now(),
		Logger: quietLogger(),
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var e event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Errorf("%s: stdout line is not JSON: %q", name, sc.Text())
				continue
			}
			if _, ok := e["t_ms"].(float64); !ok || e.str("event") == "" {
				t.Errorf("%s: event without event/t_ms: %q", name, sc.Text())
			}
			p.mu.Lock()
			p.all = append(p.all, e)
			p.mu.Unlock()
			select {
			case p.events <- e:
			default:
			}
		}
		close(p.events)
	})
	go func() {
		code := Main(ctx, args, env)
		pw.Close()
		wg.Wait()
		p.exit <- code
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-p.exit:
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop", name)
		}
	})
	return p
}

// next waits for the event called name, skipping others.
func (p *proc) next(ctx context.Context, name string) event {
	p.t.Helper()
	for {
		select {
		case e, ok := <-p.events:
			if !ok {
				p.t.Fatalf("%s ended without a %q event; stderr:\n%s", p.name, name, p.stderr.String())
			}
			if e.str("event") == name {
				return e
			}
			if e.str("event") == EventError && name != EventError {
				p.t.Fatalf("%s: error event while waiting for %q: %v", p.name, name, e)
			}
		case <-ctx.Done():
			p.t.Fatalf("%s: no %q event: %v; stderr:\n%s", p.name, name, ctx.Err(), p.stderr.String())
		}
	}
}

// wait returns the exit code and every event.
func (p *proc) wait(ctx context.Context) (int, []event) {
	p.t.Helper()
	select {
	case code := <-p.exit:
		p.exit <- code // for Cleanup
		p.mu.Lock()
		defer p.mu.Unlock()
		return code, append([]event(nil), p.all...)
	case <-ctx.Done():
		p.t.Fatalf("%s did not exit: %v; stderr:\n%s", p.name, ctx.Err(), p.stderr.String())
		return 0, nil
	}
}

func lastEvent(evs []event, name string) event {
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].str("event") == name {
			return evs[i]
		}
	}
	return nil
}

func writeRandom(t *testing.T, path string, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// sendReceive runs a sender and a receiver to the end.
func sendReceive(t *testing.T, ctx context.Context, server string, sendArgs, recvArgs []string) (sendExit, recvExit int, sendEvs, recvEvs []event) {
	t.Helper()
	snd := run(t, ctx, "send", "", append([]string{"send", "--json", "--server", server}, sendArgs...)...)
	c := snd.next(ctx, EventCode).str("code")
	if c == "" {
		t.Fatal("empty code")
	}
	rcv := run(t, ctx, "receive", "", append([]string{"receive", "--json", "--server", server}, append(recvArgs, c)...)...)
	recvExit, recvEvs = rcv.wait(ctx)
	sendExit, sendEvs = snd.wait(ctx)
	return
}

func TestSendReceiveFilesAndFolder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	server := testServer(t)
	src, out := t.TempDir(), t.TempDir()
	want := map[string][]byte{
		"one.bin":           writeRandom(t, filepath.Join(src, "one.bin"), 3<<20+17),
		"folder/a.txt":      writeRandom(t, filepath.Join(src, "folder", "a.txt"), 1000),
		"folder/deep/b.bin": writeRandom(t, filepath.Join(src, "folder", "deep", "b.bin"), 70000),
		"folder/deep/empty": writeRandom(t, filepath.Join(src, "folder", "deep", "empty"), 0),
	}
	se, re, sEvs, rEvs := sendReceive(t, ctx, server,
		[]string{filepath.Join(src, "one.bin"), filepath.Join(src, "folder")},
		[]string{"--out", out})
	if se != 0 || re != 0 {
		t.Fatalf("exit codes send=%d receive=%d; events send=%v receive=%v", se, re, sEvs, rEvs)
	}
	sc, rc := lastEvent(sEvs, EventConnected), lastEvent(rEvs, EventConnected)
	if sc.str("path") != "direct" || rc.str("path") != "direct" {
		t.Errorf("loopback connection not direct: %v / %v", sc, rc)
	}
	if sc.str("phrase") == "" || sc.str("phrase") != rc.str("phrase") {
		t.Errorf("check phrases differ: %q vs %q", sc.str("phrase"), rc.str("phrase"))
	}
	for _, k := range []string{"local", "remote", "proto"} {
		if rc.str(k) == "" {
			t.Errorf("connected event lacks %q: %v", k, rc)
		}
	}
	sd, rd := lastEvent(sEvs, EventDone), lastEvent(rEvs, EventDone)
	files, _ := rd["files"].([]any)
	if len(files) != len(want) {
		t.Fatalf("receiver done lists %d files, want %d: %v", len(files), len(want), rd)
	}
	if fmt.Sprint(sd["files"]) != fmt.Sprint(rd["files"]) {
		t.Errorf("done events disagree:\nsend    %v\nreceive %v", sd["files"], rd["files"])
	}
	for _, f := range files {
		m := f.(map[string]any)
		name := m["name"].(string)
		data, ok := want[name]
		if !ok {
			t.Errorf("unexpected file %q", name)
			continue
		}
		got, err := os.ReadFile(filepath.Join(out, filepath.FromSlash(name)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) || m["sha256"] != sha(data) || int(m["bytes"].(float64)) != len(data) {
			t.Errorf("%s: content or event differs (event %v)", name, m)
		}
	}
	// Progress: monotonic, ends at the total.
	var last float64 = -1
	for _, e := range rEvs {
		if e.str("event") != EventProgress {
			continue
		}
		b := e["bytes"].(float64)
		if b < last {
			t.Errorf("progress went backwards: %v after %v", b, last)
		}
		last = b
	}
}

func TestWrongCodeBothExit3(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	server := testServer(t)
	src, out := t.TempDir(), t.TempDir()
	writeRandom(t, filepath.Join(src, "secret.txt"), 100)
	snd := run(t, ctx, "send", "", "send", "--json", "--server", server, "--lang", "de", filepath.Join(src, "secret.txt"))
	good := snd.next(ctx, EventCode).str("code")
	parts := strings.Split(good, "-")
	wrong := parts[0] + "-" + parts[1] + "-anker"
	if wrong == good {
		wrong = parts[0] + "-" + parts[1] + "-apfel"
	}
	rcv := run(t, ctx, "receive", "", "receive", "--json", "--server", server, "--out", out, wrong)
	re, rEvs := rcv.wait(ctx)
	se, sEvs := snd.wait(ctx)
	if re != 3 || se != 3 {
		t.Fatalf("exit codes send=%d receive=%d, want 3 and 3; %v %v", se, re, sEvs, rEvs)
	}
	for _, evs := range [][]event{sEvs, rEvs} {
		if e := lastEvent(evs, EventError); e.str("kind") != KindBadCode {
			t.Errorf("error event %v, want kind bad-code", e)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("receiver wrote %d entries after a wrong code", len(entries))
	}
	// The nameplate is burned: the right code no longer works either.
	again := run(t, ctx, "receive", "", "receive", "--json", "--server", server, "--out", out, good)
	if code, evs := again.wait(ctx); code != 3 || lastEvent(evs, EventError).str("kind") != KindBadCode {
		t.Fatalf("right code after a wrong guess: exit %d, %v", code, evs)
	}
}

func TestForcedRelay(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	server := testServer(t)
	src, out := t.TempDir(), t.TempDir()
	data := writeRandom(t, filepath.Join(src, "f.bin"), 2<<20)
	se, re, sEvs, rEvs := sendReceive(t, ctx, server, []string{filepath.Join(src, "f.bin")}, []string{"--out", out, "--path", "relay"})
	if se != 0 || re != 0 {
		t.Fatalf("exit codes send=%d receive=%d: %v %v", se, re, sEvs, rEvs)
	}
	for _, evs := range [][]event{sEvs, rEvs} {
		c := lastEvent(evs, EventConnected)
		if c.str("path") != "relay" || (c.str("local") != "relay" && c.str("remote") != "relay") {
			t.Errorf("connected %v, want path relay", c)
		}
	}
	got, _ := os.ReadFile(filepath.Join(out, "f.bin"))
	if !bytes.Equal(got, data) {
		t.Fatal("file differs after relay transfer")
	}
}

func TestUnknownAndCrowdedCodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	server := testServer(t)
	out := t.TempDir()
	rcv := run(t, ctx, "receive", "", "receive", "--json", "--server", server, "--out", out, "98765-nordsee-tulpe")
	if code, evs := rcv.wait(ctx); code != 3 || lastEvent(evs, EventError).str("kind") != KindBadCode {
		t.Fatalf("unknown nameplate: exit %d %v", code, evs)
	}

	src := t.TempDir()
	writeRandom(t, filepath.Join(src, "f"), 10)
	snd := run(t, ctx, "send", "", "send", "--json", "--server", server, filepath.Join(src, "f"))
	c := snd.next(ctx, EventCode).str("code")
	squat, err := mailbox.Dial(ctx, server, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close(wire.MoodLonely)
	if _, err := squat.Claim(ctx, strings.SplitN(c, "-", 2)[0]); err != nil {
		t.Fatal(err)
	}
	third := run(t, ctx, "receive", "", "receive", "--json", "--server", server, "--out", out, c)
	code, evs := third.wait(ctx)
	if code != 1 || lastEvent(evs, EventError).str("kind") != KindRefused {
		t.Fatalf("third peer: exit %d %v, want 1 and kind refused", code, evs)
	}
	snd.cancel()
}

func TestCodeFromStdinAndUsage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	server := testServer(t)
	src, out := t.TempDir(), t.TempDir()
	data := writeRandom(t, filepath.Join(src, "f"), 5000)
	snd := run(t, ctx, "send", "", "send", "--json", "--server", server, filepath.Join(src, "f"))
	c := snd.next(ctx, EventCode).str("code")
	// Typed with spaces and capitals, on stdin.
	typed := strings.ToUpper(strings.ReplaceAll(c, "-", " ")) + "\n"
	rcv := run(t, ctx, "receive", typed, "receive", "--json", "--server", server, "--out", out)
	if code, evs := rcv.wait(ctx); code != 0 {
		t.Fatalf("receive with code on stdin: exit %d %v", code, evs)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "f")); !bytes.Equal(got, data) {
		t.Fatal("file differs")
	}
	snd.wait(ctx)

	// A code that cannot be one is refused before anything reaches a server.
	for _, c := range []string{"nordsee-tulpe", "47-nordsee-tulpr", "47-nordsee-tulip"} {
		p := run(t, ctx, "malformed", "", "receive", "--json", "--out", out, "--server", server, c)
		code, evs := p.wait(ctx)
		if code != 3 || lastEvent(evs, EventError).str("kind") != KindBadCode {
			t.Errorf("code %q: exit %d %v, want 3 bad-code", c, code, evs)
		}
	}
	for _, args := range [][]string{
		{"send", "--json"},
		{"send", "--json", "--path", "sideways", "x"},
		{"receive", "--json", "--out", out},
		{"bogus"},
	} {
		p := run(t, ctx, "usage", "", args...)
		code, evs := p.wait(ctx)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (%v)", args, code, evs)
		}
		if args[0] != "bogus" {
			if e := lastEvent(evs, EventError); e == nil || e.str("kind") != KindUsage {
				t.Errorf("%v: error event %v", args, e)
			}
		}
	}
}

// TestResumeAfterInterruptedReceiver stops the receiver mid-file, then sends
// again into the same folder: only the rest travels and the file is whole.
func TestResumeAfterInterruptedReceiver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	server := testServer(t)
	src, out := t.TempDir(), t.TempDir()
	const size = 24 << 20
	data := writeRandom(t, filepath.Join(src, "big.bin"), size)

	snd := run(t, ctx, "send", "", "send", "--json", "--server", server, filepath.Join(src, "big.bin"))
	c := snd.next(ctx, EventCode).str("code")
	rcv := run(t, ctx, "receive", "", "receive", "--json", "--server", server, "--out", out, c)
	for {
		e := rcv.next(ctx, EventProgress)
		if e["bytes"].(float64) >= size/4 {
			break
		}
	}
	rcv.cancel()
	if code, evs := rcv.wait(ctx); code != 1 || lastEvent(evs, EventError).str("kind") != KindInterrupted {
		t.Fatalf("interrupted receiver: exit %d, %v", code, lastEvent(evs, EventError))
	}
	if code, _ := snd.wait(ctx); code == 0 {
		t.Fatal("sender exited 0 although the receiver was interrupted")
	}
	if _, err := os.Stat(filepath.Join(out, "big.bin")); err == nil {
		t.Fatal("an interrupted file has its final name")
	}
	fi, err := os.Stat(filepath.Join(out, "big.bin.direkt-partial"))
	if err != nil {
		t.Fatalf("no partial file kept: %v", err)
	}
	t.Logf("partial file: %d of %d bytes", fi.Size(), size)

	se, re, _, rEvs := sendReceive(t, ctx, server, []string{filepath.Join(src, "big.bin")}, []string{"--out", out})
	if se != 0 || re != 0 {
		t.Fatalf("second run: exit send=%d receive=%d %v", se, re, rEvs)
	}
	done := lastEvent(rEvs, EventDone)
	if r, _ := done["resumed"].(float64); r <= 0 {
		t.Errorf("second run resumed nothing: %v", done)
	}
	got, _ := os.ReadFile(filepath.Join(out, "big.bin"))
	if !bytes.Equal(got, data) {
		t.Fatal("resumed file differs")
	}
	if _, err := os.Stat(filepath.Join(out, "big.bin.direkt-partial")); err == nil {
		t.Error("partial file left behind after completion")
	}
}

// TestTamperingRendezvous puts a hostile server between the peers that
// changes a sealed signalling frame (the SDP offer with its fingerprint, or a
// candidate): both peers refuse and nothing is written.
func TestTamperingRendezvous(t *testing.T) {
	for _, target := range []int{1, 2} { // a's sealed frames: 0 hello, 1 offer, 2 first candidate
		t.Run(fmt.Sprintf("sealed frame %d", target), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
			defer cancel()
			server := testServer(t)
			var mu sync.Mutex
			seen := 0
			p := mitm.New(server, func(conn int, dir mitm.Dir, f wire.Frame) []wire.Frame {
				if conn != 0 || dir != mitm.ToServer || f.Type != wire.TypeAdd || len(f.Body) < 2 || f.Body[1] != wire.KindSealed {
					return []wire.Frame{f}
				}
				mu.Lock()
				n := seen
				seen++
				mu.Unlock()
				if n == target {
					g := f
					g.Body = bytes.Clone(f.Body)
					g.Body[len(g.Body)/2] ^= 0x20
					return []wire.Frame{g}
				}
				return []wire.Frame{f}
			})
			defer p.Close()
			src, out := t.TempDir(), t.TempDir()
			writeRandom(t, filepath.Join(src, "f"), 1000)
			se, re, sEvs, rEvs := sendReceive(t, ctx, p.URL, []string{filepath.Join(src, "f")}, []string{"--out", out})
			if se == 0 || re == 0 {
				t.Fatalf("a side accepted tampered signalling: send=%d receive=%d\n%v\n%v", se, re, sEvs, rEvs)
			}
			if lastEvent(rEvs, EventConnected) != nil {
				t.Errorf("receiver connected despite tampering: %v", rEvs)
			}
			if k := lastEvent(rEvs, EventError).str("kind"); k != KindRefused {
				t.Errorf("receiver error kind %q, want refused", k)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Error("receiver wrote files despite tampering")
			}
		})
	}
}

func TestHostileLocalNames(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	server := testServer(t)
	src, out := t.TempDir(), t.TempDir()
	names := []string{"CON.txt", "a:b?.txt", "tab\there", "trailing. "}
	var args []string
	for _, n := range names {
		writeRandom(t, filepath.Join(src, n), 10)
		args = append(args, filepath.Join(src, n))
	}
	// A file already there is never overwritten.
	if err := os.WriteFile(filepath.Join(out, "CON_.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	se, re, _, rEvs := sendReceive(t, ctx, server, args, []string{"--out", out})
	if se != 0 || re != 0 {
		t.Fatalf("exit send=%d receive=%d %v", se, re, rEvs)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "CON_.txt")); string(b) != "mine" {
		t.Fatal("an existing file was overwritten")
	}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		n := e.Name()
		if strings.ContainsAny(n, ":?\t") || strings.HasSuffix(n, " ") || strings.HasSuffix(n, ".") || strings.EqualFold(n, "CON.txt") {
			t.Errorf("unsafe name written: %q", n)
		}
	}
	if len(entries) != len(names)+1 {
		t.Errorf("%d entries in out, want %d", len(entries), len(names)+1)
	}
}

// TestEventsAreTheContract checks the shape of a successful sender's stream.
func TestEventsAreTheContract(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	server := testServer(t)
	src, out := t.TempDir(), t.TempDir()
	writeRandom(t, filepath.Join(src, "f"), 1<<20)
	_, _, sEvs, _ := sendReceive(t, ctx, server, []string{filepath.Join(src, "f")}, []string{"--out", out})
	var order []string
	var lastT float64
	for _, e := range sEvs {
		if n := e.str("event"); len(order) == 0 || order[len(order)-1] != n {
			order = append(order, n)
		}
		if tm := e["t_ms"].(float64); tm < lastT {
			t.Errorf("t_ms went backwards: %v", e)
		} else {
			lastT = tm
		}
	}
	got := strings.Join(order, ",")
	if got != "code,connected,progress,done" {
		t.Errorf("event order %s", got)
	}
}
