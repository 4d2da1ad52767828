package consult

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestHello(t *testing.T) {
	leakCheck(t)
	host, client := startPair(t, hostConfig(t), clientConfig(t))
	hs, cs := host.Snapshot(), client.Snapshot()
	if hs.Peer != (Participant{Role: Client, Name: "Carl Kunde", Lang: "en", Agent: "test"}) {
		t.Errorf("host sees peer %+v", hs.Peer)
	}
	if cs.Peer != (Participant{Role: Host, Name: "Anna Berater", Lang: "de", Agent: "direkt"}) {
		t.Errorf("client sees peer %+v", cs.Peer)
	}
	if hs.Recording != RecordingOff || len(cs.Asks) != 0 {
		t.Errorf("recording %q, client asks %v: nothing was asked", hs.Recording, cs.Asks)
	}
}

func TestChatBothWaysInOrder(t *testing.T) {
	leakCheck(t)
	host, client := startPair(t, hostConfig(t), clientConfig(t))
	const n = 30
	errs := make(chan error, 2)
	for _, c := range []*Consultation{host, client} {
		go func() {
			for i := range n {
				if err := c.Chat(fmt.Sprintf("%s %d: grüße ✓", c.role, i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []*Consultation{host, client} {
		s := waitSnap(t, c, "all chat", func(s Snapshot) bool { return len(s.Chat) == 2*n })
		var own, peer []string
		for _, m := range s.Chat {
			if m.At.IsZero() || m.Sent.IsZero() {
				t.Errorf("message without times: %+v", m)
			}
			if m.From == c.role {
				own = append(own, m.Text)
			} else {
				peer = append(peer, m.Text)
			}
		}
		for i := range n {
			if own[i] != fmt.Sprintf("%s %d: grüße ✓", c.role, i) || peer[i] != fmt.Sprintf("%s %d: grüße ✓", c.role.peer(), i) {
				t.Fatalf("%s: message %d out of order: own %q, peer %q", c.role, i, own[i], peer[i])
			}
		}
	}
	if err := host.Chat(""); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty chat: %v, want ErrInvalid", err)
	}
	if err := host.Chat(strings.Repeat("ä", MaxChat+1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("long chat: %v, want ErrInvalid", err)
	}
	if err := host.Chat(strings.Repeat("ä", MaxChat)); err != nil {
		t.Errorf("chat of %d characters: %v", MaxChat, err)
	}
	waitSnap(t, client, "the longest chat", func(s Snapshot) bool { return len(s.Chat) == 2*n+1 })
}

func TestRecordAccepted(t *testing.T) {
	leakCheck(t)
	hc := hostConfig(t)
	hc.AskRecord = true
	cc := clientConfig(t)
	host, client := startPair(t, hc, cc)

	cs := waitSnap(t, client, "the record ask", func(s Snapshot) bool { _, ok := askByWhat(s, WhatRecord); return ok })
	a, _ := askByWhat(cs, WhatRecord)
	if a.State != AskPending || cs.Recording != RecordingAsked {
		t.Fatalf("client: ask %+v, recording %q", a, cs.Recording)
	}
	if err := host.SendRecord("r1", []byte("{}"), []byte("%PDF")); !errors.Is(err, ErrNoConsent) {
		t.Fatalf("SendRecord before the answer: %v, want ErrNoConsent", err)
	}
	if err := client.Answer(a.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := client.Answer(a.ID, false); !errors.Is(err, ErrNotPending) {
		t.Errorf("second answer: %v, want ErrNotPending", err)
	}
	waitSnap(t, host, "recording accepted", func(s Snapshot) bool { return s.Recording == RecordingAccepted })
	if !hasEvent(host.Snapshot(), EventAccepted, a.ID) || !hasEvent(client.Snapshot(), EventAccepted, a.ID) {
		t.Error("no accepted event")
	}

	host.Chat("Guten Tag")
	recJSON := []byte(`{"v":1,"alg":"Ed25519","payload":"e30="}`)
	recPDF := pseudo(300<<10, 9)
	if err := host.SendRecord("2026-01-02-abc", recJSON, recPDF); err != nil {
		t.Fatal(err)
	}
	if err := host.End("Beratung beendet"); err != nil {
		t.Fatal(err)
	}
	waitDone(t, client)
	if host.Err() != nil || client.Err() != nil {
		t.Fatalf("errors after a normal end: host %v, client %v", host.Err(), client.Err())
	}
	hs, cs := host.Snapshot(), client.Snapshot()
	if !cs.Ended || cs.EndedBy != Host || cs.EndReason != "Beratung beendet" {
		t.Errorf("client end: %v by %v: %q", cs.Ended, cs.EndedBy, cs.EndReason)
	}
	var got int
	for _, f := range hs.Files {
		if f.Kind != KindRecord || f.State != FileDone {
			t.Errorf("host record file %+v", f)
		}
	}
	for _, f := range cs.Files {
		if f.Kind != KindRecord || f.State != FileDone {
			t.Errorf("client record file %+v", f)
			continue
		}
		got++
		want := recJSON
		if strings.HasSuffix(f.Name, ".pdf") {
			want = recPDF
		}
		if f.SHA256 != sum(want) || filepath.Dir(f.Path) != filepath.Join(cc.DataDir, dirRecords) {
			t.Errorf("client record file %+v", f)
		}
		equalBytes(t, f.Path, want)
	}
	if got != 2 {
		t.Fatalf("client received %d record files, want 2", got)
	}
	if names := storedFiles(t, cc.DataDir, dirRecords); !slices.Equal(names, []string{"2026-01-02-abc.json", "2026-01-02-abc.pdf"}) {
		t.Errorf("records folder: %v", names)
	}
	if names := listDir(t, filepath.Join(hc.DataDir, dirSpool)); len(names) != 0 {
		t.Errorf("host spool not cleaned: %v", names)
	}
}

func TestRecordDeclined(t *testing.T) {
	leakCheck(t)
	hc := hostConfig(t)
	hc.AskRecord = true
	host, client := startPair(t, hc, clientConfig(t))
	cs := waitSnap(t, client, "the record ask", func(s Snapshot) bool { _, ok := askByWhat(s, WhatRecord); return ok })
	a, _ := askByWhat(cs, WhatRecord)
	if err := client.Answer(a.ID, false); err != nil {
		t.Fatal(err)
	}
	hs := waitSnap(t, host, "recording declined", func(s Snapshot) bool { return s.Recording == RecordingDeclined })
	if !hasEvent(hs, EventDeclined, a.ID) {
		t.Error("no declined event on the host")
	}
	if err := host.SendRecord("r", []byte("{}"), []byte("%PDF")); !errors.Is(err, ErrNoConsent) {
		t.Fatalf("SendRecord after a decline: %v, want ErrNoConsent", err)
	}
	// Asking again is allowed; the latest ask counts.
	id, err := host.Ask(WhatRecord)
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the second ask", func(s Snapshot) bool { return s.Recording == RecordingAsked })
	if err := client.Answer(id, true); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, host, "recording accepted", func(s Snapshot) bool { return s.Recording == RecordingAccepted })
}

func TestHostFileAccepted(t *testing.T) {
	leakCheck(t)
	hc, cc := hostConfig(t), clientConfig(t)
	host, client := startPair(t, hc, cc)
	data := pseudo(3<<20+17, 1)
	id, err := host.SendFile("Angebot bAV.pdf", int64(len(data)), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := fileByID(host.Snapshot(), id); f.State != FileAsked || f.SHA256 != sum(data) {
		t.Fatalf("host file before the answer: %+v", f)
	}
	cs := waitSnap(t, client, "the file ask", func(s Snapshot) bool { return len(s.Asks) == 1 })
	if a := cs.Asks[0]; a.ID != id || a.What != WhatFile || a.Name != "Angebot bAV.pdf" || a.Size != int64(len(data)) || a.SHA256 != sum(data) {
		t.Fatalf("client ask %+v", a)
	}
	if len(cs.Files) != 0 {
		t.Fatalf("client has files before accepting: %+v", cs.Files)
	}
	if err := client.Answer(id, true); err != nil {
		t.Fatal(err)
	}
	hs := waitSnap(t, host, "the file done", func(s Snapshot) bool { f, _ := fileByID(s, id); return f.State == FileDone })
	cs = waitSnap(t, client, "the file done", func(s Snapshot) bool { f, _ := fileByID(s, id); return f.State == FileDone })
	hf, _ := fileByID(hs, id)
	cf, _ := fileByID(cs, id)
	if hf.SHA256 != sum(data) || cf.SHA256 != hf.SHA256 || cf.Size != hf.Size || cf.Done != cf.Size || hf.Done != hf.Size {
		t.Fatalf("host %+v, client %+v", hf, cf)
	}
	if cf.Path != filepath.Join(cc.DataDir, dirFiles, "Angebot bAV.pdf") || cf.From != Host || cf.Kind != KindDoc {
		t.Fatalf("client file %+v", cf)
	}
	equalBytes(t, cf.Path, data)
	for _, c := range []*Consultation{host, client} {
		name, f, err := c.OpenFile(id)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, f); name != "Angebot bAV.pdf" || !bytes.Equal(got, data) {
			t.Errorf("%s OpenFile: %q, %d bytes", c.role, name, len(got))
		}
		f.Close()
	}
	// A second file of the same name never overwrites the first.
	small := []byte("zweite Fassung")
	id2, err := host.SendFile("Angebot bAV.pdf", int64(len(small)), bytes.NewReader(small))
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the second ask", func(s Snapshot) bool { return len(s.Asks) == 2 })
	if err := client.Answer(id2, true); err != nil {
		t.Fatal(err)
	}
	cs = waitSnap(t, client, "the second file", func(s Snapshot) bool { f, _ := fileByID(s, id2); return f.State == FileDone })
	cf, _ = fileByID(cs, id2)
	if filepath.Base(cf.Path) != "Angebot bAV (1).pdf" {
		t.Errorf("second file stored as %q", cf.Path)
	}
	equalBytes(t, cf.Path, small)
	equalBytes(t, filepath.Join(cc.DataDir, dirFiles, "Angebot bAV.pdf"), data)
}

func TestHostFileDeclinedAndWithdrawn(t *testing.T) {
	leakCheck(t)
	hc, cc := hostConfig(t), clientConfig(t)
	host, client := startPair(t, hc, cc)
	data := []byte("geheim")
	id, err := host.SendFile("a.txt", int64(len(data)), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	id2, err := host.SendFile("b.txt", int64(len(data)), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "two asks", func(s Snapshot) bool { return len(s.Asks) == 2 })
	if err := client.Answer(id, false); err != nil {
		t.Fatal(err)
	}
	hs := waitSnap(t, host, "declined", func(s Snapshot) bool { f, _ := fileByID(s, id); return f.State == FileDeclined })
	if a, _ := askByWhat(hs, WhatFile); a.State != AskDeclined || a.AnsweredAt.IsZero() {
		t.Errorf("host ask %+v", a)
	}
	if err := host.Withdraw(id2); err != nil {
		t.Fatal(err)
	}
	if err := host.Withdraw(id); !errors.Is(err, ErrNotPending) {
		t.Errorf("withdraw of a declined ask: %v", err)
	}
	cs := waitSnap(t, client, "withdrawn", func(s Snapshot) bool { return hasEvent(s, EventWithdrawn, id2) })
	if err := client.Answer(id2, true); !errors.Is(err, ErrNotPending) {
		t.Errorf("answer to a withdrawn ask: %v, want ErrNotPending", err)
	}
	if len(cs.Files) != 0 {
		t.Errorf("client files: %+v", cs.Files)
	}
	if f, _ := fileByID(host.Snapshot(), id2); f.State != FileWithdrawn {
		t.Errorf("host file after withdraw: %+v", f)
	}
	// Both sides still talk, and nothing arrived.
	if err := host.Chat("ok"); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "chat", func(s Snapshot) bool { return len(s.Chat) == 1 })
	if names := storedFiles(t, cc.DataDir, dirFiles); len(names) != 0 {
		t.Errorf("client stored %v", names)
	}
}

func TestClientFile(t *testing.T) {
	leakCheck(t)
	hc, cc := hostConfig(t), clientConfig(t)
	host, client := startPair(t, hc, cc)
	files := map[string][]byte{
		"Gehaltsabrechnung.pdf": pseudo(1<<20, 2),
		"../../etc/passwd":      []byte("not here"),
		"leer.txt":              nil,
	}
	ids := map[string]string{}
	for name, data := range files {
		id, err := client.SendFile(name, int64(len(data)), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = id
	}
	hs := waitSnap(t, host, "three files", func(s Snapshot) bool {
		n := 0
		for _, f := range s.Files {
			if f.State == FileDone {
				n++
			}
		}
		return n == 3
	})
	if len(hs.Asks) != 0 {
		t.Errorf("client files raised asks: %+v", hs.Asks)
	}
	want := map[string]string{"Gehaltsabrechnung.pdf": "Gehaltsabrechnung.pdf", "../../etc/passwd": ".._.._etc_passwd", "leer.txt": "leer.txt"}
	for name, data := range files {
		f, _ := fileByID(hs, ids[name])
		if f.From != Client || f.SHA256 != sum(data) || f.Path != filepath.Join(hc.DataDir, dirFiles, want[name]) {
			t.Errorf("host file %+v", f)
		}
		equalBytes(t, f.Path, data)
	}
	cs := waitSnap(t, client, "verdicts", func(s Snapshot) bool {
		for _, f := range s.Files {
			if f.State != FileDone {
				return false
			}
		}
		return true
	})
	if len(cs.Files) != 3 {
		t.Errorf("client files %+v", cs.Files)
	}
	if _, err := client.SendFile("x", 5, strings.NewReader("four")); !errors.Is(err, ErrInvalid) {
		t.Errorf("short reader: %v, want ErrInvalid", err)
	}
	if _, err := client.SendFile("x", 3, strings.NewReader("four")); !errors.Is(err, ErrInvalid) {
		t.Errorf("long reader: %v, want ErrInvalid", err)
	}
	if names := listDir(t, filepath.Join(cc.DataDir, dirSpool)); len(names) != 3 {
		t.Errorf("client spool: %v, want the three sent files' copies", names)
	}
}

func TestEndFromEitherSide(t *testing.T) {
	for _, by := range []Role{Host, Client} {
		t.Run(by.String(), func(t *testing.T) {
			leakCheck(t)
			host, client := startPair(t, hostConfig(t), clientConfig(t))
			ender, other := host, client
			if by == Client {
				ender, other = client, host
			}
			if err := ender.End("Danke, tschüss"); err != nil {
				t.Fatal(err)
			}
			waitDone(t, other)
			for _, c := range []*Consultation{host, client} {
				s := c.Snapshot()
				if !s.Ended || s.EndedBy != by || s.EndReason != "Danke, tschüss" || s.EndedAt.IsZero() || c.Err() != nil {
					t.Errorf("%s: ended %v by %v reason %q err %v", c.role, s.Ended, s.EndedBy, s.EndReason, c.Err())
				}
				if err := c.Chat("noch da?"); !errors.Is(err, ErrEnded) {
					t.Errorf("%s: chat after end: %v, want ErrEnded", c.role, err)
				}
			}
			if err := other.End("again"); err != nil {
				t.Errorf("End after the end: %v", err)
			}
		})
	}
}

func TestSessionLossMidFile(t *testing.T) {
	leakCheck(t)
	hc, cc := hostConfig(t), clientConfig(t)
	sa, sb := connectPair(t)
	ctx := testCtx(t)
	type res struct {
		c   *Consultation
		err error
	}
	hr := make(chan res, 1)
	go func() { c, err := Start(ctx, sa, hc); hr <- res{c, err} }()
	client, err := Start(ctx, sb, cc)
	if err != nil {
		t.Fatal(err)
	}
	r := <-hr
	if r.err != nil {
		t.Fatal(r.err)
	}
	host := r.c
	data := pseudo(32<<20, 3)
	id, err := client.SendFile("big.bin", int64(len(data)), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, host, "bytes arriving", func(s Snapshot) bool { f, _ := fileByID(s, id); return f.Done > 0 })
	if err := sb.Close(); err != nil { // the client's computer goes away
		t.Fatal(err)
	}
	waitDone(t, host)
	waitDone(t, client)
	for _, c := range []*Consultation{host, client} {
		s := c.Snapshot()
		if !errors.Is(c.Err(), ErrConnectionLost) || !s.Ended || s.EndedBy != 0 || s.EndReason == "" {
			t.Errorf("%s: err %v, ended %v by %v (%q)", c.role, c.Err(), s.Ended, s.EndedBy, s.EndReason)
		}
		if f, _ := fileByID(s, id); f.State != FileFailed || f.Error == "" {
			t.Errorf("%s: file %+v", c.role, f)
		}
	}
	if names := storedFiles(t, hc.DataDir, dirFiles); len(names) != 0 {
		t.Errorf("host kept %v of a broken transfer", names)
	}
	_ = sa.Close()
}

func TestRejoinOffer(t *testing.T) {
	leakCheck(t)
	host, client := startPair(t, hostConfig(t), clientConfig(t))
	token := bytes.Repeat([]byte{0xab}, 32)
	if err := host.OfferRejoin(token[:31], "https://r.example"); !errors.Is(err, ErrInvalid) {
		t.Errorf("short token: %v", err)
	}
	if err := host.OfferRejoin(token, "ftp://r.example"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ftp server: %v", err)
	}
	if err := client.OfferRejoin(token, "https://r.example"); !errors.Is(err, ErrRole) {
		t.Errorf("client offering: %v", err)
	}
	if err := host.OfferRejoin(token, "https://rendezvous.example:8443"); err != nil {
		t.Fatal(err)
	}
	s := waitSnap(t, client, "the rejoin offer", func(s Snapshot) bool { return s.Rejoin != nil })
	if !bytes.Equal(s.Rejoin.Token, token) || s.Rejoin.Server != "https://rendezvous.example:8443" {
		t.Errorf("rejoin %+v", s.Rejoin)
	}
}

func TestRoles(t *testing.T) {
	leakCheck(t)
	host, client := startPair(t, hostConfig(t), clientConfig(t))
	if _, err := client.Ask(WhatRecord); !errors.Is(err, ErrRole) {
		t.Errorf("client Ask: %v", err)
	}
	if err := host.Answer("c1", true); !errors.Is(err, ErrRole) {
		t.Errorf("host Answer: %v", err)
	}
	if err := client.SendRecord("r", nil, nil); !errors.Is(err, ErrRole) {
		t.Errorf("client SendRecord: %v", err)
	}
	if _, err := host.Ask(WhatFile); !errors.Is(err, ErrInvalid) {
		t.Errorf("Ask(file): %v", err)
	}
	if err := client.Answer("h99", true); !errors.Is(err, ErrUnknownID) {
		t.Errorf("Answer unknown: %v", err)
	}
	id, err := host.Ask(WhatScreen)
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the screen ask", func(s Snapshot) bool { return len(s.Asks) == 1 })
	if err := client.Answer(id, true); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, host, "screen accepted", func(s Snapshot) bool { return len(s.Asks) == 1 && s.Asks[0].State == AskAccepted })
	if _, _, err := host.OpenFile("h404"); !errors.Is(err, ErrUnknownID) {
		t.Errorf("OpenFile unknown: %v", err)
	}
}

func TestConfig(t *testing.T) {
	leakCheck(t)
	for _, cfg := range []Config{
		{DataDir: t.TempDir()},
		{Role: Host},
		{Role: Host, DataDir: t.TempDir(), Lang: "fr"},
		{Role: Host, DataDir: t.TempDir(), Name: strings.Repeat("x", MaxName+1)},
		{Role: Client, DataDir: t.TempDir(), EndWait: -time.Second},
	} {
		if _, err := Start(t.Context(), nil, cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", cfg, err)
		}
	}
	cfg := Config{Role: Host, DataDir: t.TempDir()}
	if err := cfg.check(); err != nil || cfg.Lang != "en" || cfg.Agent != "direkt" || cfg.EndWait != defaultEndWait || cfg.Now == nil || cfg.Logger == nil {
		t.Errorf("defaults: %+v, %v", cfg, err)
	}
}

// TestStartTimeout: a peer that never says hello makes Start fail by its
// context, with nothing left running.
func TestStartTimeout(t *testing.T) {
	leakCheck(t)
	sa, sb := connectPair(t)
	ctx := testCtx(t)
	peerDone := make(chan struct{})
	go func() {
		defer close(peerDone)
		// A peer that takes the channel and reads, but never says hello.
		ch, err := sb.Accept(ctx)
		if err == nil {
			_, _ = io.Copy(io.Discard, ch)
			_ = ch.Close()
		}
	}()
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	c, err := Start(short, sa, hostConfig(t))
	if c != nil || err == nil {
		t.Fatalf("Start without a peer hello: %v, %v", c, err)
	}
	_ = sa.Close()
	_ = sb.Close()
	<-peerDone
}

func TestSpoolRemovedAtEnd(t *testing.T) {
	leakCheck(t)
	hc := hostConfig(t)
	host, client := startPair(t, hc, clientConfig(t))
	data := []byte("x")
	id, err := host.SendFile("x", 1, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if _, f, err := host.OpenFile(id); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	if err := client.End(""); err != nil {
		t.Fatal(err)
	}
	waitDone(t, host)
	if names := listDir(t, filepath.Join(hc.DataDir, dirSpool)); len(names) != 0 {
		t.Errorf("spool after the end: %v", names)
	}
	if _, _, err := host.OpenFile(id); err == nil {
		t.Error("OpenFile of a sent file after the end worked; its copy should be gone")
	}
	if _, err := os.Stat(hc.DataDir); err != nil {
		t.Fatal(err)
	}
}

// TestEndMidFile: ending stops a file in flight at once on both sides; the
// receiver keeps nothing of it.
func TestEndMidFile(t *testing.T) {
	leakCheck(t)
	cc := clientConfig(t)
	host, client := startPair(t, hostConfig(t), cc)
	data := pseudo(32<<20, 8)
	id, err := host.SendFile("gross.bin", int64(len(data)), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "the ask", func(s Snapshot) bool { return len(s.Asks) == 1 })
	if err := client.Answer(id, true); err != nil {
		t.Fatal(err)
	}
	waitSnap(t, client, "bytes arriving", func(s Snapshot) bool { f, _ := fileByID(s, id); return f.Done > 0 })
	start := time.Now()
	if err := client.End("Abbruch"); err != nil {
		t.Fatal(err)
	}
	waitDone(t, host)
	t.Logf("both ended %v after End", time.Since(start))
	for _, c := range []*Consultation{host, client} {
		s := c.Snapshot()
		if f, _ := fileByID(s, id); f.State != FileFailed {
			t.Errorf("%s: file %+v", c.role, f)
		}
		if s.EndReason != "Abbruch" || c.Err() != nil {
			t.Errorf("%s: reason %q, err %v", c.role, s.EndReason, c.Err())
		}
	}
	if names := storedFiles(t, cc.DataDir, dirFiles); len(names) != 0 {
		t.Errorf("client kept %v", names)
	}
	if err := host.SendRecord("r", []byte("{}"), nil); !errors.Is(err, ErrNoConsent) && !errors.Is(err, ErrEnded) {
		t.Errorf("SendRecord after the end: %v", err)
	}
}
