package e2e

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/code"
)

// checkOrder checks what the contract promises of every event stream: t_ms
// never goes back, progress never goes back and stays within its total.
func checkOrder(t *testing.T, p *proc) {
	t.Helper()
	var lastMs, lastBytes int64
	for _, e := range p.all() {
		if e.ms() < lastMs {
			t.Errorf("%s: t_ms went back from %d to %d at %s", p.name, lastMs, e.ms(), e.raw)
		}
		lastMs = e.ms()
		if e.Event == "progress" {
			if e.Bytes < lastBytes || e.Bytes > e.Total {
				t.Errorf("%s: progress %d/%d after %d", p.name, e.Bytes, e.Total, lastBytes)
			}
			lastBytes = e.Bytes
		}
	}
}

// TestSendReceiveLoopback sends two files and a folder (with a sub-folder and
// an empty file) between real processes through a real server on loopback.
func TestSendReceiveLoopback(t *testing.T) {
	ctx := testContext(t, 90*time.Second)
	// Debug logs everywhere, to check that not even they carry secrets.
	srv := startLoopbackServer(ctx, t, "-v")
	srv.healthz(ctx, t)

	src := t.TempDir()
	want := map[string]string{}
	for name, size := range map[string]int64{
		"notes.txt":              1000,
		"photo.bin":              3 << 20,
		"project/a.bin":          64<<10 + 1,
		"project/sub/deep.bin":   1 << 20,
		"project/sub/empty.txt":  0,
		"project/other/last.txt": 17,
	} {
		path := filepath.Join(src, filepath.FromSlash(name))
		writeRandom(t, path, size)
		want[name] = path
	}
	send := start(t, "send", procOptions{}, "send", "--server", srv.url, "--json", "-v",
		filepath.Join(src, "notes.txt"), filepath.Join(src, "photo.bin"), filepath.Join(src, "project"))
	c := send.mustEvent(ctx, "code").Code
	if _, err := code.Parse(c); err != nil {
		t.Fatalf("the sender's code %q does not parse: %v", c, err)
	}

	out := t.TempDir()
	recv := start(t, "receive", procOptions{}, "receive", "--server", srv.url, "--json", "-v", "--out", out, c)
	if rc := recv.wait(ctx); rc != 0 {
		t.Fatalf("receive exited %d:\n%s", rc, recv.eventLog())
	}
	if sc := send.wait(ctx); sc != 0 {
		t.Fatalf("send exited %d:\n%s", sc, send.eventLog())
	}

	sdone, _ := send.last("done")
	rdone, ok := recv.last("done")
	if !ok {
		t.Fatalf("receiver exited 0 without a done event:\n%s", recv.eventLog())
	}
	if !sameFiles(sdone.Files, rdone.Files) {
		t.Errorf("done events disagree:\n send    %s\n receive %s", sdone.raw, rdone.raw)
	}
	checkReceived(t, out, rdone, want)

	sc, _ := send.last("connected")
	rc, _ := recv.last("connected")
	for _, e := range []event{sc, rc} {
		if e.Path != "direct" {
			t.Errorf("connected %s, want a direct path on loopback", e.raw)
		}
	}
	if sc.Phrase == "" || sc.Phrase != rc.Phrase || len(strings.Fields(sc.Phrase)) != 3 {
		t.Errorf("check phrases %q and %q: want the same three words on both sides", sc.Phrase, rc.Phrase)
	}
	if first := send.all()[0]; first.Event != "code" {
		t.Errorf("the sender's first event is %s, want the code", first.raw)
	}
	for _, p := range []*proc{send, recv} {
		checkOrder(t, p)
		last, ok := p.last("progress")
		if !ok || last.Bytes != last.Total || last.Total != 3<<20+1000+64<<10+1+1<<20+17 {
			t.Errorf("%s: last progress %s, want all bytes of the offer", p.name, last.raw)
		}
	}
	t.Logf("code to connected: %d ms; receiver done at %d ms", rc.ms(), rdone.ms())

	// Logs never contain the code's secret words or the check phrase.
	words := strings.SplitN(c, "-", 2)[1]
	for _, p := range []*proc{srv.p, send, recv} {
		for _, secret := range []string{words, strings.ReplaceAll(words, "-", " "), sc.Phrase} {
			if line, ok := p.stderrContains(secret); ok {
				t.Errorf("%s logged a secret (%q): %s", p.name, secret, line)
			}
		}
	}

	// The server stops on SIGINT, promptly and cleanly.
	srv.p.signal(os.Interrupt)
	if ec := srv.p.wait(testContext(t, 10*time.Second)); ec != 0 {
		t.Errorf("server exited %d after SIGINT, want 0", ec)
	}
}

// otherWord returns a code with the same nameplate and first word as c and a
// different, valid second word: a typo the code parser cannot catch.
func otherWord(t *testing.T, c string) string {
	t.Helper()
	parts := strings.Split(c, "-")
	if len(parts) != 3 {
		t.Fatalf("code %q: want nameplate-word-word", c)
	}
	lang, ok := code.LangOf(parts[1:])
	if !ok {
		t.Fatalf("code %q: words of no known list", c)
	}
	words := code.Words(lang)
	w := words[0]
	if w == parts[2] {
		w = words[1]
	}
	return parts[0] + "-" + parts[1] + "-" + w
}

// TestWrongCode: a receiver that types a code with one wrong word fails on
// both sides with exit 3 and writes nothing, and the code is then used up.
func TestWrongCode(t *testing.T) {
	ctx := testContext(t, 60*time.Second)
	srv := startLoopbackServer(ctx, t)
	src := filepath.Join(t.TempDir(), "secret.txt")
	writeRandom(t, src, 4096)

	send := start(t, "send", procOptions{}, "send", "--server", srv.url, "--json", src)
	c := send.mustEvent(ctx, "code").Code
	bad := otherWord(t, c)

	out := t.TempDir()
	recv := start(t, "receive", procOptions{}, "receive", "--server", srv.url, "--json", "--out", out, bad)
	for _, p := range []*proc{recv, send} {
		if ec := p.wait(ctx); ec != 3 {
			t.Errorf("%s exited %d after a wrong code, want 3:\n%s", p.name, ec, p.eventLog())
		}
		e, ok := p.last("error")
		if !ok || e.Kind != "bad-code" || e.Message == "" {
			t.Errorf("%s: last error %q, want kind bad-code with a message", p.name, e.raw)
		}
		if _, ok := p.last("connected"); ok {
			t.Errorf("%s connected with a wrong code", p.name)
		}
	}
	if got := listFiles(t, out); len(got) != 0 {
		t.Errorf("receiver wrote %q with a wrong code", got)
	}

	// One guess per code: the right code no longer works either.
	again := start(t, "receive again", procOptions{}, "receive", "--server", srv.url, "--json", "--out", out, c)
	if ec := again.wait(ctx); ec != 3 {
		t.Errorf("receive with the burned code exited %d, want 3:\n%s", ec, again.eventLog())
	}
	if e, ok := again.last("error"); !ok || e.Kind != "bad-code" {
		t.Errorf("receive with the burned code: last error %q, want kind bad-code", e.raw)
	}
	if got := listFiles(t, out); len(got) != 0 {
		t.Errorf("receiver wrote %q with a burned code", got)
	}
}

// TestResumeAfterKilledReceiver kills a receiver with SIGKILL a third into a
// 200 MiB file, then sends again into the same folder: the transfer resumes
// from the partial file and the result verifies.
func TestResumeAfterKilledReceiver(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MiB or more; skipped in -short mode")
	}
	const size = 200 << 20
	ctx := testContext(t, 5*time.Minute)
	srv := startLoopbackServer(ctx, t)
	src := filepath.Join(t.TempDir(), "big.bin")
	writeRandom(t, src, size)
	out := t.TempDir()
	partial := filepath.Join(out, "big.bin.direkt-partial")

	// First run: kill the receiver once it has passed 30%.
	send := start(t, "send 1", procOptions{}, "send", "--server", srv.url, "--json", src)
	c := send.mustEvent(ctx, "code").Code
	recv := start(t, "receive 1", procOptions{}, "receive", "--server", srv.url, "--json", "--out", out, c)
	at, _, err := recv.await(ctx, 0, func(e event) bool { return e.Event == "progress" && e.Bytes >= size*3/10 })
	if err != nil {
		t.Fatalf("receiver never passed 30%%: %v\n%s", err, recv.eventLog())
	}
	recv.signal(syscall.SIGKILL)
	recv.wait(ctx)
	if !recv.exitedBySignal(syscall.SIGKILL) {
		t.Fatalf("receiver was not ended by SIGKILL (it finished first?):\n%s", recv.eventLog())
	}
	fi, err := os.Stat(partial)
	if err != nil {
		t.Fatalf("no partial file after the kill: %v; out holds %q", err, listFiles(t, out))
	}
	if _, err := os.Stat(filepath.Join(out, "big.bin")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the final name exists after the kill (err %v)", err)
	}
	killedAt := fi.Size()
	t.Logf("killed at progress %d bytes (%.0f%%); partial file %d bytes", at.Bytes, 100*float64(at.Bytes)/size, killedAt)
	if killedAt < size/5 || killedAt >= size {
		t.Errorf("partial file has %d bytes, want about the %d the receiver had reported", killedAt, at.Bytes)
	}

	sentAt := time.Now()
	if ec := send.wait(ctx); ec == 0 {
		t.Errorf("sender exited 0 although its receiver was killed:\n%s", send.eventLog())
	}
	e, ok := send.last("error")
	if !ok {
		t.Errorf("sender gave no error event after losing its receiver")
	}
	t.Logf("sender noticed the loss after %v: kind %q, %q", time.Since(sentAt).Round(time.Millisecond), e.Kind, e.Message)
	if _, ok := send.last("done"); ok {
		t.Errorf("sender reported done although its receiver was killed")
	}

	// Second run into the same folder.
	send2 := start(t, "send 2", procOptions{}, "send", "--server", srv.url, "--json", src)
	c2 := send2.mustEvent(ctx, "code").Code
	if c2 == c {
		t.Errorf("second send got the first send's code %q", c)
	}
	recv2 := start(t, "receive 2", procOptions{}, "receive", "--server", srv.url, "--json", "--out", out, c2)
	t0 := time.Now()
	if ec := recv2.wait(ctx); ec != 0 {
		t.Fatalf("resumed receive exited %d:\n%s", ec, recv2.eventLog())
	}
	took := time.Since(t0)
	if ec := send2.wait(ctx); ec != 0 {
		t.Fatalf("resumed send exited %d:\n%s", ec, send2.eventLog())
	}
	done, _ := recv2.last("done")
	sdone, _ := send2.last("done")
	if !sameFiles(done.Files, sdone.Files) {
		t.Errorf("done events disagree:\n send    %s\n receive %s", sdone.raw, done.raw)
	}
	checkReceived(t, out, done, map[string]string{"big.bin": src})

	// How much did the second run move? The receiver's first progress event
	// counts the bytes it already held; the done event may say it too.
	first, _, err := recv2.await(ctx, 0, func(e event) bool { return e.Event == "progress" })
	if err != nil {
		t.Fatalf("resumed receive had no progress event: %v", err)
	}
	resumed := first.Bytes
	if done.Resumed != nil {
		if *done.Resumed != first.Bytes {
			t.Errorf("done says resumed %d, first progress says %d", *done.Resumed, first.Bytes)
		}
		resumed = *done.Resumed
	} else {
		t.Logf("the done event has no \"resumed\" field; measured from the first progress event")
	}
	moved := size - resumed
	t.Logf("second run: resumed at %d bytes (partial was %d), moved %d of %d bytes (%.0f%%) in %v",
		resumed, killedAt, moved, size, 100*float64(moved)/size, took.Round(time.Millisecond))
	if resumed < killedAt*9/10 || resumed > killedAt {
		t.Errorf("resumed from %d bytes, want close to the %d the partial file held", resumed, killedAt)
	}
	if moved > size*8/10 {
		t.Errorf("second run moved %d of %d bytes: not clearly less than the whole file", moved, size)
	}
}

// TestInterruptWaitingSender: SIGINT ends a sender that waits for its
// receiver promptly, with an error event, and gives its code up.
func TestInterruptWaitingSender(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to another process on Windows")
	}
	ctx := testContext(t, 60*time.Second)
	srv := startLoopbackServer(ctx, t)
	src := filepath.Join(t.TempDir(), "a.txt")
	writeRandom(t, src, 100)

	send := start(t, "send", procOptions{}, "send", "--server", srv.url, "--json", src)
	c := send.mustEvent(ctx, "code").Code
	t0 := time.Now()
	send.signal(os.Interrupt)
	ec := send.wait(ctx)
	took := time.Since(t0)
	t.Logf("sender exited %d %v after SIGINT", ec, took.Round(time.Millisecond))
	if ec == 0 || ec == -1 {
		t.Errorf("sender exited %d after SIGINT, want a failure exit code of its own", ec)
	}
	if took > 3*time.Second {
		t.Errorf("sender took %v to exit after SIGINT", took)
	}
	if e, ok := send.last("error"); !ok || e.Message == "" {
		t.Errorf("sender gave no error event after SIGINT:\n%s", send.eventLog())
	} else {
		t.Logf("sender's error event: kind %q, message %q", e.Kind, e.Message)
	}

	// Its nameplate is released: the code is unknown now.
	recv := start(t, "receive", procOptions{}, "receive", "--server", srv.url, "--json", "--out", t.TempDir(), c)
	if ec := recv.wait(ctx); ec != 3 {
		t.Errorf("receive with an abandoned code exited %d, want 3:\n%s", ec, recv.eventLog())
	}
	if e, ok := recv.last("error"); !ok || e.Kind != "bad-code" {
		t.Errorf("receive with an abandoned code: last error %q, want kind bad-code", e.raw)
	}
}
