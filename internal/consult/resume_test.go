package consult

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/session"
)

// resumable is cfg with Config.Resumable set.
func resumable(cfg Config) Config {
	cfg.Resumable = true
	return cfg
}

// chatCount counts chat messages by text.
func chatCount(s Snapshot) map[string]int {
	n := map[string]int{}
	for _, m := range s.Chat {
		n[m.Text]++
	}
	return n
}

func isSuspended(t *testing.T, c *Consultation) {
	t.Helper()
	select {
	case <-c.Suspended():
	case <-testCtx(t).Done():
		t.Fatalf("the %s consultation was not suspended", c.role)
	}
}

// Two resumable consultations lose their sessions; what either side says
// meanwhile waits, and after Resume over a new session pair every message
// is there exactly once on both sides, a file in flight in each direction
// is offered again by its sender and arrives once, whole, under its id,
// and the consultation goes on.
func TestResumeOverNewSession(t *testing.T) {
	leakCheck(t)
	hc, cc := resumable(hostConfig(t)), resumable(clientConfig(t))
	host, client := startPair(t, hc, cc)
	if err := host.Chat("before"); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the first chat", func(s Snapshot) bool { return chatCount(s)["before"] == 1 })

	// A file each way, in flight when the connection goes: the host's
	// after the client's consent.
	up := pseudo(32<<20, 3)
	upID, err := client.SendFile("up.bin", int64(len(up)), bytes.NewReader(up))
	if err != nil {
		t.Fatal(err)
	}
	down := pseudo(32<<20, 5)
	downID, err := host.SendFile("down.bin", int64(len(down)), bytes.NewReader(down))
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the host's file ask", func(s Snapshot) bool { _, ok := askByWhat(s, WhatFile); return ok })
	if err := client.Answer(downID, true); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		c  *Consultation
		id string
	}{{host, upID}, {client, downID}} {
		waitSnap(t, w.c, "a file moving", func(s Snapshot) bool {
			f, ok := fileByID(s, w.id)
			return ok && f.Done > 0
		})
	}
	oldH, oldC := host.current().s, client.current().s
	_ = oldH.Close()
	_ = oldC.Close()
	isSuspended(t, host)
	isSuspended(t, client)
	for _, w := range []struct {
		c  *Consultation
		id string
	}{{host, upID}, {client, downID}} {
		if f, _ := fileByID(w.c.Snapshot(), w.id); f.State == FileDone {
			t.Logf("%s: %s arrived before the loss; nothing to offer again", w.c.role, w.id)
		}
	}
	if err := host.Chat("while away, host"); err != nil {
		t.Fatal(err)
	}
	if err := client.Chat("while away, client"); err != nil {
		t.Fatal(err)
	}

	sa, sb := connectPair(t)
	ctx := testCtx(t)
	var errH, errC error
	var wg sync.WaitGroup
	wg.Go(func() { errH = host.Resume(ctx, sa) })
	wg.Go(func() { errC = client.Resume(ctx, sb) })
	wg.Wait()
	if errH != nil || errC != nil {
		t.Fatalf("resume: host: %v; client: %v", errH, errC)
	}
	if err := client.Chat("after"); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"before": 1, "while away, host": 1, "while away, client": 1, "after": 1}
	for _, c := range []*Consultation{host, client} {
		s := waitSnap(t, c, "every message", func(s Snapshot) bool { return len(chatCount(s)) == len(want) })
		if got := chatCount(s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: chat %v, want %v", c.role, got, want)
		}
		for _, id := range []string{upID, downID} {
			// Failed for a moment (the attempt in flight at the loss), then
			// done once the sender's re-offer is through.
			s = waitSnap(t, c, "the file "+id+" done", func(s Snapshot) bool {
				f, ok := fileByID(s, id)
				return ok && f.State == FileDone
			})
			f, _ := fileByID(s, id)
			t.Logf("%s: file %s %s, offered again %d times", c.role, id, f.State, f.Resent)
		}
		if n := len(s.Files); n != 2 {
			t.Errorf("%s: %d files in the snapshot, want 2: %+v", c.role, n, s.Files)
		}
		if s.Ended {
			t.Errorf("%s: ended: %s", c.role, s.EndReason)
		}
	}
	// Exactly one whole copy of each, where its receiver keeps files.
	for _, w := range []struct {
		c    *Consultation
		dir  string
		id   string
		name string
		data []byte
	}{{host, hc.DataDir, upID, "up.bin", up}, {client, cc.DataDir, downID, "down.bin", down}} {
		if got := storedFiles(t, w.dir, dirFiles); fmt.Sprint(got) != fmt.Sprint([]string{w.name}) {
			t.Errorf("%s stored %v, want [%s]", w.c.role, got, w.name)
		}
		f, _ := fileByID(w.c.Snapshot(), w.id)
		if f.SHA256 != sum(w.data) {
			t.Errorf("%s: %s has SHA-256 %s, want %s", w.c.role, w.name, f.SHA256, sum(w.data))
		}
		equalBytes(t, f.Path, w.data)
	}
	// Consent still works: an ask and its answer over the new session.
	ask, err := host.Ask(WhatRecord)
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the ask", func(s Snapshot) bool { _, ok := askByWhat(s, WhatRecord); return ok })
	if err := client.Answer(ask, true); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, host, "the answer", func(s Snapshot) bool { return s.Recording == RecordingAccepted })
	// And a file goes through now.
	small := pseudo(100<<10, 4)
	id2, err := client.SendFile("small.bin", int64(len(small)), bytes.NewReader(small))
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the second file", func(s Snapshot) bool { f, _ := fileByID(s, id2); return f.State == FileDone })
}

// The host resends exactly the lines the peer says it did not get, after
// its "resume", and counts the peer's lines the same way.
func TestResumeResendsWhatThePeerMissed(t *testing.T) {
	leakCheck(t)
	setup := hostWithRawClient(t, hostConfig(t))
	host, p, sa, sb, ctx := setup.host, setup.p, setup.sa, setup.sb, setup.ctx
	p.next(tHello) // line 0
	for _, s := range []string{"a", "b", "c"} {
		if err := host.Chat(s); err != nil {
			t.Fatal(err)
		}
		if m := p.next(tChat); m.Text != s {
			t.Fatalf("chat %q, want %q", m.Text, s)
		}
	}
	_ = sa.Close()
	_ = sb.Close()
	isSuspended(t, host)

	p2, _, done := resumeRaw(t, ctx, host)
	// As if "b" and "c" had been lost in flight; we sent one line (hello).
	p2.send(`{"t":"resume","got":2,"sent":1}`)
	r := p2.next(tResume)
	if *r.Got != 1 || *r.Sent != 4 {
		t.Errorf("the host's resume says got %d, sent %d; want 1 and 4", *r.Got, *r.Sent)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"b", "c"} {
		if m := p2.next(tChat); m.Text != s {
			t.Fatalf("resent chat %q, want %q", m.Text, s)
		}
	}
	if err := host.Chat("d"); err != nil {
		t.Fatal(err)
	}
	if m := p2.next(tChat); m.Text != "d" {
		t.Fatalf("chat %q, want d", m.Text)
	}
	p2.send(`{"t":"chat","id":"c9","text":"from the client","ts":1}`)
	waitSnap(t, host, "the client's chat", func(s Snapshot) bool { return chatCount(s)["from the client"] == 1 })
}

// A resumed consult channel must begin with "resume"; anything else is a
// protocol error. A consultation that is abandoned ends as lost.
func TestResumeRules(t *testing.T) {
	leakCheck(t)
	t.Run("no resume first", func(t *testing.T) {
		setup := hostWithRawClient(t, hostConfig(t))
		host, sa, ctx := setup.host, setup.sa, setup.ctx
		_ = sa.Close()
		isSuspended(t, host)
		p, _, done := resumeRaw(t, ctx, host)
		p.send(`{"t":"chat","id":"c1","text":"x","ts":1}`)
		if err := <-done; err == nil {
			t.Error("Resume succeeded without the peer's resume")
		}
		waitDone(t, host)
		if err := host.Err(); !errors.Is(err, ErrProtocol) {
			t.Errorf("err %v, want ErrProtocol", err)
		}
	})
	t.Run("no resume at all", func(t *testing.T) {
		setup := hostWithRawClient(t, hostConfig(t))
		host, sa, ctx := setup.host, setup.sa, setup.ctx
		_ = sa.Close()
		isSuspended(t, host)
		sa2, sb2 := connectPair(t)
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		go func() {
			if ch, err := sb2.Accept(ctx); err == nil {
				startRaw(t, sb2, ch) // says nothing
			}
		}()
		if err := host.Resume(rctx, sa2); err == nil {
			t.Fatal("Resume succeeded without the peer's resume")
		}
		isSuspended(t, host)
		host.Abandon(errors.New("gave up"))
		waitDone(t, host)
		if err := host.Err(); !errors.Is(err, ErrConnectionLost) {
			t.Errorf("err %v, want ErrConnectionLost", err)
		}
	})
	t.Run("abandoned", func(t *testing.T) {
		host, client := startPair(t, resumable(hostConfig(t)), clientConfig(t))
		_ = host.current().s.Close()
		isSuspended(t, host)
		waitDone(t, client) // not resumable: lost
		host.Abandon(session.ErrICEFailed)
		waitDone(t, host)
		if err := host.Err(); !errors.Is(err, ErrConnectionLost) {
			t.Errorf("err %v, want ErrConnectionLost", err)
		}
		if s := host.Snapshot(); s.EndReason != "connection lost" {
			t.Errorf("end reason %q", s.EndReason)
		}
	})
}

// A file in flight at every one of four losses is offered again three
// times, then stays failed on both sides: a flapping network cannot make
// it go round for ever.
func TestResumeReoffersAtMostThreeTimes(t *testing.T) {
	leakCheck(t)
	host, client := startPair(t, resumable(hostConfig(t)), resumable(clientConfig(t)))
	data := pseudo(32<<20, 6)
	id, err := client.SendFile("flap.bin", int64(len(data)), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	for i := range maxReoffers + 1 {
		waitSnap(t, host, fmt.Sprintf("attempt %d moving", i+1), func(s Snapshot) bool {
			f, ok := fileByID(s, id)
			return ok && f.State == FileSending && f.Resent == i && f.Done > 0
		})
		_ = host.current().s.Close()
		_ = client.current().s.Close()
		isSuspended(t, host)
		isSuspended(t, client)
		sa, sb := connectPair(t)
		var errH, errC error
		var wg sync.WaitGroup
		wg.Go(func() { errH = host.Resume(ctx, sa) })
		wg.Go(func() { errC = client.Resume(ctx, sb) })
		wg.Wait()
		if errH != nil || errC != nil {
			t.Fatalf("resume %d: host: %v; client: %v", i+1, errH, errC)
		}
	}
	s := waitSnap(t, client, "the client giving up", func(s Snapshot) bool {
		f, _ := fileByID(s, id)
		return f.State == FileFailed && f.Error == whyGaveUp
	})
	if f, _ := fileByID(s, id); f.Resent != maxReoffers {
		t.Errorf("the client offered the file %d times again, want %d", f.Resent, maxReoffers)
	}
	// The host holds it failed, and takes nothing more for it.
	if err := client.Chat("still here"); err != nil {
		t.Fatal(err)
	}
	s = waitSnap(t, host, "the chat after", func(s Snapshot) bool { return chatCount(s)["still here"] == 1 })
	if f, _ := fileByID(s, id); f.State != FileFailed || f.Resent != maxReoffers || len(s.Files) != 1 {
		t.Errorf("host: %+v", s.Files)
	}
	if s.Ended {
		t.Errorf("ended: %s", s.EndReason)
	}
}

// A client file whose "file" line the host never got before the loss: the
// line comes again with resume (the file is in flight at once), then the
// client's re-offer under the same id, whose channel may come first. The
// host ends with one done file; anything else for the id is refused.
func TestResumeReofferOfAFileAnnouncedBeforeTheLoss(t *testing.T) {
	leakCheck(t)
	hc := resumable(hostConfig(t))
	setup := hostWithRawClient(t, hc)
	host, p, sa, sb, ctx := setup.host, setup.p, setup.sa, setup.sb, setup.ctx
	p.next(tHello)
	_ = sa.Close()
	_ = sb.Close()
	isSuspended(t, host)

	data := pseudo(300<<10, 7)
	p2, sb2, done := resumeRaw(t, ctx, host)
	// We queued hello and "file" c1; the host got hello only, so "file"
	// c1 comes again, then the re-offer.
	p2.send(`{"t":"resume","got":1,"sent":2}`)
	if r := p2.next(tResume); *r.Got != 1 {
		t.Fatalf("the host got %d lines, want 1", *r.Got)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	p2.send(fileJSON("c1", "late.bin", data, KindDoc)) // line 1, sent before
	waitSnap(t, host, "the file in flight", func(s Snapshot) bool {
		f, ok := fileByID(s, "c1")
		return ok && f.State == FileFailed
	})
	// The re-offer's channel first, then its line. (The channel stays
	// open until the verdict, as a sender keeps it.)
	fc, err := sb2.Open(ctx, fileLabelPrefix+"c1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fc.Close() })
	wrote := make(chan error, 1)
	go func() { _, err := fc.Write(data); wrote <- err }()
	p2.send(fileJSON("c1", "late.bin", data, KindDoc))
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	s := waitSnap(t, host, "the file done", func(s Snapshot) bool {
		f, _ := fileByID(s, "c1")
		return f.State == FileDone
	})
	if f, _ := fileByID(s, "c1"); f.Resent != 1 || f.SHA256 != sum(data) || len(s.Files) != 1 {
		t.Errorf("host files: %+v", s.Files)
	}
	if v := p2.next(tFileOK); v.ID != "c1" || !*v.OK {
		t.Errorf("verdict %+v", v)
	}
	if got := storedFiles(t, hc.DataDir, dirFiles); fmt.Sprint(got) != "[late.bin]" {
		t.Errorf("stored %v", got)
	}
	// A done file is not offered again: a third "file" for it is a
	// protocol error.
	p2.send(fileJSON("c1", "late.bin", data, KindDoc))
	waitDone(t, host)
	if err := host.Err(); !errors.Is(err, ErrProtocol) {
		t.Errorf("err %v, want ErrProtocol", err)
	}
}

// rawSetup is a resumable host over a fresh session pair with a scripted
// client (rawPeer) on the other end.
type rawSetup struct {
	host   *Consultation
	p      *rawPeer
	sa, sb *session.Session // the host's and the client's
	ctx    context.Context
}

// hostWithRawClient starts a rawSetup; the host's config is cfg made
// resumable.
func hostWithRawClient(t *testing.T, cfg Config) rawSetup {
	t.Helper()
	r := rawSetup{ctx: testCtx(t)}
	r.sa, r.sb = connectPair(t)
	raw := make(chan *rawPeer, 1)
	go func() { raw <- newRawClient(t, r.sb) }()
	host, err := Start(r.ctx, r.sa, resumable(cfg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.End("test over") })
	r.host, r.p = host, <-raw
	return r
}

// resumeRaw resumes the suspended host over a fresh session pair: it
// returns the scripted client on the new consult channel, the client's
// new session, and where Resume's result arrives.
func resumeRaw(t *testing.T, ctx context.Context, host *Consultation) (*rawPeer, *session.Session, <-chan error) {
	t.Helper()
	sa2, sb2 := connectPair(t)
	done := make(chan error, 1)
	go func() { done <- host.Resume(ctx, sa2) }()
	ch, err := sb2.Accept(ctx)
	if err != nil || ch.Label() != consultLabel {
		t.Fatalf("accept: %v %v", ch, err)
	}
	return startRaw(t, sb2, ch), sb2, done
}
