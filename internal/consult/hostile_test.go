package consult

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// rawHostAndClient connects a hand-driven host to a real client.
func rawHostAndClient(t *testing.T) (*rawPeer, *Consultation, Config) {
	t.Helper()
	sa, sb := connectPair(t)
	raw := newRawHost(t, sa)
	cc := clientConfig(t)
	client, err := Start(testCtx(t), sb, cc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.End("") })
	return raw, client, cc
}

// rawClientAndHost connects a real host to a hand-driven client.
func rawClientAndHost(t *testing.T, hc Config) (*rawPeer, *Consultation) {
	t.Helper()
	sa, sb := connectPair(t)
	type res struct {
		c   *Consultation
		err error
	}
	r := make(chan res, 1)
	go func() { c, err := Start(testCtx(t), sa, hc); r <- res{c, err} }()
	raw := newRawClient(t, sb)
	h := <-r
	if h.err != nil {
		t.Fatal(h.err)
	}
	t.Cleanup(func() { _ = h.c.End("") })
	raw.next(tHello)
	return raw, h.c
}

// expectRefused checks the client refused host file id: ok:false to the
// host, a refusal event, no file entry, nothing stored, and the
// consultation goes on.
func expectRefused(t *testing.T, raw *rawPeer, client *Consultation, cc Config, id string) {
	t.Helper()
	if v := raw.next(tFileOK); v.ID != id || *v.OK {
		t.Fatalf("verdict %+v, want ok:false for %s", v, id)
	}
	s := waitSnap(t, client, "the refusal", func(s Snapshot) bool { return hasEvent(s, EventRefused, id) })
	if f, ok := fileByID(s, id); ok {
		t.Errorf("refused file shown: %+v", f)
	}
	expectAlive(t, raw, client)
	if names := storedFiles(t, cc.DataDir, dirFiles); len(names) != 0 {
		t.Errorf("stored %v", names)
	}
	if names := storedFiles(t, cc.DataDir, dirRecords); len(names) != 0 {
		t.Errorf("stored records %v", names)
	}
}

// expectAlive checks the consultation still carries chat both ways.
func expectAlive(t *testing.T, raw *rawPeer, c *Consultation) {
	t.Helper()
	n := len(c.Snapshot().Chat)
	raw.send(fmt.Sprintf(`{"t":"chat","id":"%c900","text":"still there?","ts":1}`, c.role.peer().prefix()))
	waitSnap(t, c, "the raw chat", func(s Snapshot) bool { return len(s.Chat) > n })
	if err := c.Chat("yes"); err != nil {
		t.Fatal(err)
	}
	raw.next(tChat)
}

// askAccepted makes the client accept a file ask for data.
func askAccepted(t *testing.T, raw *rawPeer, client *Consultation, id, name string, data []byte) {
	t.Helper()
	raw.send(askJSON(id, name, data))
	waitSnap(t, client, "the ask", func(s Snapshot) bool { _, ok := askByID(s, id); return ok })
	if err := client.Answer(id, true); err != nil {
		t.Fatal(err)
	}
	if a := raw.next(tAnswer); a.ID != id || !*a.OK {
		t.Fatalf("answer %+v", a)
	}
}

func askByID(s Snapshot, id string) (Ask, bool) {
	for _, a := range s.Asks {
		if a.ID == id {
			return a, true
		}
	}
	return Ask{}, false
}

func TestHostileHostRefused(t *testing.T) {
	data := []byte("%PDF-1.7 malicious")
	other := []byte("%PDF-1.7 something else")
	cases := []struct {
		name string
		run  func(t *testing.T, raw *rawPeer, client *Consultation) (id string)
	}{
		{"unsolicited file", func(t *testing.T, raw *rawPeer, client *Consultation) string {
			raw.send(fileJSON("h1", "rechnung.pdf.exe", data, KindDoc))
			raw.sendFile("h1", data)
			return "h1"
		}},
		{"file before the answer", func(t *testing.T, raw *rawPeer, client *Consultation) string {
			raw.send(askJSON("h1", "a.pdf", data))
			waitSnap(t, client, "the ask", func(s Snapshot) bool { return len(s.Asks) == 1 })
			raw.send(fileJSON("h1", "a.pdf", data, KindDoc))
			raw.sendFile("h1", data)
			return "h1"
		}},
		{"file after a decline", func(t *testing.T, raw *rawPeer, client *Consultation) string {
			raw.send(askJSON("h1", "a.pdf", data))
			waitSnap(t, client, "the ask", func(s Snapshot) bool { return len(s.Asks) == 1 })
			if err := client.Answer("h1", false); err != nil {
				t.Fatal(err)
			}
			raw.next(tAnswer)
			raw.send(fileJSON("h1", "a.pdf", data, KindDoc))
			raw.sendFile("h1", data)
			return "h1"
		}},
		{"file after a withdraw", func(t *testing.T, raw *rawPeer, client *Consultation) string {
			askAccepted(t, raw, client, "h1", "a.pdf", data)
			raw.send(`{"t":"withdraw","id":"h1"}`)
			raw.send(fileJSON("h1", "a.pdf", data, KindDoc))
			raw.sendFile("h1", data)
			return "h1"
		}},
		{"other size than asked", func(t *testing.T, raw *rawPeer, client *Consultation) string {
			askAccepted(t, raw, client, "h1", "a.pdf", data)
			raw.send(fileJSON("h1", "a.pdf", append(data, 'x'), KindDoc))
			raw.sendFile("h1", append(data, 'x'))
			return "h1"
		}},
		{"other name than asked", func(t *testing.T, raw *rawPeer, client *Consultation) string {
			askAccepted(t, raw, client, "h1", "a.pdf", data)
			raw.send(fileJSON("h1", "a.exe", data, KindDoc))
			return "h1"
		}},
		{"other hash than asked", func(t *testing.T, raw *rawPeer, client *Consultation) string {
			askAccepted(t, raw, client, "h1", "a.pdf", data)
			m := fileJSON("h1", "a.pdf", data, KindDoc)
			raw.send(strings.Replace(m, sum(data), sum(other), 1))
			return "h1"
		}},
		{"file for a record ask", func(t *testing.T, raw *rawPeer, client *Consultation) string {
			raw.send(`{"t":"ask","id":"h1","what":"record"}`)
			waitSnap(t, client, "the ask", func(s Snapshot) bool { return len(s.Asks) == 1 })
			if err := client.Answer("h1", true); err != nil {
				t.Fatal(err)
			}
			raw.next(tAnswer)
			raw.send(fileJSON("h1", "a.pdf", data, KindDoc))
			return "h1"
		}},
		{"record without consent", func(t *testing.T, raw *rawPeer, client *Consultation) string {
			raw.send(fileJSON("h2", "r.pdf", data, KindRecord))
			raw.sendFile("h2", data)
			return "h2"
		}},
		{"record declined", func(t *testing.T, raw *rawPeer, client *Consultation) string {
			raw.send(`{"t":"ask","id":"h1","what":"record"}`)
			waitSnap(t, client, "the ask", func(s Snapshot) bool { return len(s.Asks) == 1 })
			if err := client.Answer("h1", false); err != nil {
				t.Fatal(err)
			}
			raw.next(tAnswer)
			raw.send(fileJSON("h2", "r.pdf", data, KindRecord))
			return "h2"
		}},
		{"record file that is no record", func(t *testing.T, raw *rawPeer, client *Consultation) string {
			raw.send(`{"t":"ask","id":"h1","what":"record"}`)
			waitSnap(t, client, "the ask", func(s Snapshot) bool { return len(s.Asks) == 1 })
			if err := client.Answer("h1", true); err != nil {
				t.Fatal(err)
			}
			raw.next(tAnswer)
			raw.send(fileJSON("h2", "setup.exe", data, KindRecord))
			raw.sendFile("h2", data)
			return "h2"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			raw, client, cc := rawHostAndClient(t)
			id := tc.run(t, raw, client)
			expectRefused(t, raw, client, cc, id)
		})
	}
}

// TestHostileHostRecordLimit: with record consent, a host gets one JSON and
// one PDF in, not a third file.
func TestHostileHostRecordLimit(t *testing.T) {
	leakCheck(t)
	raw, client, cc := rawHostAndClient(t)
	raw.send(`{"t":"ask","id":"h1","what":"record"}`)
	waitSnap(t, client, "the ask", func(s Snapshot) bool { return len(s.Asks) == 1 })
	if err := client.Answer("h1", true); err != nil {
		t.Fatal(err)
	}
	raw.next(tAnswer)
	for i, name := range []string{"r.json", "r.pdf"} {
		id := fmt.Sprintf("h%d", i+2)
		raw.send(fileJSON(id, name, []byte(name), KindRecord))
		raw.sendFile(id, []byte(name))
		if v := raw.next(tFileOK); v.ID != id || !*v.OK || v.SHA256 != sum([]byte(name)) {
			t.Fatalf("verdict %+v", v)
		}
	}
	raw.send(fileJSON("h4", "r2.pdf", data4, KindRecord))
	if v := raw.next(tFileOK); v.ID != "h4" || *v.OK {
		t.Fatalf("third record file: verdict %+v", v)
	}
	if names := storedFiles(t, cc.DataDir, dirRecords); len(names) != 2 {
		t.Errorf("records: %v", names)
	}
}

var data4 = []byte("fourth")

// TestHostileHostMoreBytes: the receiver takes exactly the announced size,
// gives its verdict and closes the channel; what a sender writes beyond the
// size is never read and never stored.
func TestHostileHostMoreBytes(t *testing.T) {
	leakCheck(t)
	data := pseudo(100<<10, 5)
	raw, client, cc := rawHostAndClient(t)
	askAccepted(t, raw, client, "h1", "a.bin", data)
	raw.send(fileJSON("h1", "a.bin", data, KindDoc))
	raw.sendFile("h1", append(data[:len(data):len(data)], []byte("trailing garbage")...))
	if v := raw.next(tFileOK); v.ID != "h1" || !*v.OK || v.SHA256 != sum(data) {
		t.Fatalf("verdict %+v, want ok with the announced digest", v)
	}
	s := waitSnap(t, client, "the file", func(s Snapshot) bool { f, _ := fileByID(s, "h1"); return f.State == FileDone })
	f, _ := fileByID(s, "h1")
	got, err := os.ReadFile(f.Path)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored %d bytes (%v), want exactly the announced %d", len(got), err, len(data))
	}
	if names := storedFiles(t, cc.DataDir, dirFiles); len(names) != 1 {
		t.Errorf("stored %v", names)
	}
	expectAlive(t, raw, client)
}

func TestHostileHostBadBytes(t *testing.T) {
	data := pseudo(100<<10, 4)
	cases := []struct {
		name string
		sent []byte
		why  string
	}{
		{"fewer bytes", data[:len(data)-1], "fewer bytes than announced"},
		{"wrong hash", append(data[:len(data)-1:len(data)-1], ^data[len(data)-1]), "SHA-256 mismatch: the file was damaged or altered"},
		{"nothing", nil, "fewer bytes than announced"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			raw, client, cc := rawHostAndClient(t)
			askAccepted(t, raw, client, "h1", "a.bin", data)
			raw.send(fileJSON("h1", "a.bin", data, KindDoc))
			raw.sendFile("h1", tc.sent)
			v := raw.next(tFileOK)
			if v.ID != "h1" || *v.OK {
				t.Fatalf("verdict %+v, want ok:false", v)
			}
			s := waitSnap(t, client, "the failure", func(s Snapshot) bool { f, _ := fileByID(s, "h1"); return f.State == FileFailed })
			f, _ := fileByID(s, "h1")
			if f.Error != tc.why || f.Path != "" {
				t.Errorf("file %+v, want error %q", f, tc.why)
			}
			if tc.name == "wrong hash" && (v.SHA256 != sum(tc.sent) || f.SHA256 != sum(tc.sent)) {
				t.Errorf("verdict digest %s, file %s, want that of what arrived", v.SHA256, f.SHA256)
			}
			if names := storedFiles(t, cc.DataDir, dirFiles); len(names) != 0 {
				t.Errorf("stored %v", names)
			}
			expectAlive(t, raw, client)
		})
	}
}

// TestHostileHostUnannouncedChannel: a file channel nobody announced is
// closed after the grace time, unread; so are channels of other labels.
func TestHostileHostUnannouncedChannel(t *testing.T) {
	leakCheck(t)
	raw, client, cc := rawHostAndClient(t)
	raw.sendFile("h7", []byte("surprise"))
	s := waitSnap(t, client, "the refusal", func(s Snapshot) bool { return hasEvent(s, EventRefused, "h7") })
	if len(s.Files) != 0 {
		t.Errorf("files %+v", s.Files)
	}
	raw.openLabel("screen", []byte("a pointer move"))
	raw.openLabel("file/c1", []byte("a client's id"))
	waitSnap(t, client, "two more refusals", func(s Snapshot) bool { return len(s.Events) == 3 })
	// A late announcement does not revive it.
	raw.send(fileJSON("h7", "late.txt", []byte("surprise"), KindDoc))
	expectRefused(t, raw, client, cc, "h7")
}

func TestHostileHostProtocolErrors(t *testing.T) {
	cases := []struct{ name, line string }{
		{"oversized line", `{"t":"chat","id":"h1","ts":1,"text":"` + strings.Repeat("a", MaxLine) + `"}`},
		{"garbage JSON", `{"t":"chat",`},
		{"not an object", `["t","chat"]`},
		{"unknown t", `{"t":"exec","cmd":"format c:"}`},
		{"no t", `{"id":"h1"}`},
		{"second hello", `{"t":"hello","v":1,"role":"host","lang":"en"}`},
		{"long chat", `{"t":"chat","id":"h1","ts":1,"text":"` + strings.Repeat("ü", MaxChat+1) + `"}`},
		{"empty chat", `{"t":"chat","id":"h1","ts":1,"text":""}`},
		{"chat without ts", `{"t":"chat","id":"h1","text":"x"}`},
		{"bad id", `{"t":"chat","id":"h/../x","ts":1,"text":"x"}`},
		{"long id", `{"t":"chat","id":"h` + strings.Repeat("1", maxID) + `","ts":1,"text":"x"}`},
		{"client id from the host", `{"t":"chat","id":"c1","ts":1,"text":"x"}`},
		{"answer from the host", `{"t":"answer","id":"c1","ok":true}`},
		{"file-ok for nothing", `{"t":"file-ok","id":"c1","ok":true,"sha256":"` + strings.Repeat("0", 64) + `"}`},
		{"withdraw of nothing", `{"t":"withdraw","id":"h5"}`},
		{"file over 4 GiB", `{"t":"file","id":"h1","name":"a","size":4294967297,"sha256":"` + strings.Repeat("a", 64) + `","kind":"doc"}`},
		{"negative size", `{"t":"ask","id":"h1","what":"file","name":"a","size":-1,"sha256":"` + strings.Repeat("a", 64) + `"}`},
		{"name over 255 bytes", `{"t":"ask","id":"h1","what":"file","name":"` + strings.Repeat("n", 256) + `","size":1,"sha256":"` + strings.Repeat("a", 64) + `"}`},
		{"name ..", `{"t":"ask","id":"h1","what":"file","name":"..","size":1,"sha256":"` + strings.Repeat("a", 64) + `"}`},
		{"short hash", `{"t":"ask","id":"h1","what":"file","name":"a","size":1,"sha256":"abc"}`},
		{"ask for control", `{"t":"ask","id":"h1","what":"control"}`},
		{"bad kind", `{"t":"file","id":"h1","name":"a","size":1,"sha256":"` + strings.Repeat("a", 64) + `","kind":"exe"}`},
		{"bad token", `{"t":"rejoin","token":"AAAA","server":"https://x.example"}`},
		{"bad server", `{"t":"rejoin","token":"` + encodeToken(make([]byte, 32)) + `","server":"javascript:alert(1)"}`},
		{"long reason", `{"t":"end","reason":"` + strings.Repeat("r", MaxReason+1) + `"}`},
		{"invalid UTF-8", "{\"t\":\"chat\",\"id\":\"h1\",\"ts\":1,\"text\":\"\xff\"}"},
		{"empty line", ``},
		{"duplicate ask", `{"t":"ask","id":"h1","what":"screen"}` + "\n" + `{"t":"ask","id":"h1","what":"screen"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			raw, client, _ := rawHostAndClient(t)
			raw.send(tc.line)
			if e := raw.next(tEnd); e.Reason != "protocol error" {
				t.Errorf("end reason %q", e.Reason)
			}
			waitDone(t, client)
			s := client.Snapshot()
			if !errors.Is(client.Err(), ErrProtocol) || !s.Ended || s.EndedBy != 0 || !strings.HasPrefix(s.EndReason, "protocol error: ") {
				t.Errorf("err %v, ended %v by %v: %q", client.Err(), s.Ended, s.EndedBy, s.EndReason)
			}
		})
	}
}

func TestHostileClient(t *testing.T) {
	protocolErrors := []struct{ name, line string }{
		{"ask from the client", `{"t":"ask","id":"c1","what":"screen"}`},
		{"rejoin from the client", `{"t":"rejoin","token":"` + encodeToken(make([]byte, 32)) + `","server":"https://x.example"}`},
		{"withdraw from the client", `{"t":"withdraw","id":"h1"}`},
		{"record from the client", fileJSON("c1", "r.json", []byte("{}"), KindRecord)},
		{"host id from the client", fileJSON("h1", "a", []byte("x"), KindDoc)},
		{"answer to nothing", `{"t":"answer","id":"h9","ok":true}`},
		{"second file with one id", fileJSON("c1", "a", []byte("x"), KindDoc) + "\n" + fileJSON("c1", "b", []byte("x"), KindDoc)},
	}
	for _, tc := range protocolErrors {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			raw, host := rawClientAndHost(t, hostConfig(t))
			raw.send(tc.line)
			if e := raw.next(tEnd); e.Reason != "protocol error" {
				t.Errorf("end reason %q", e.Reason)
			}
			waitDone(t, host)
			if !errors.Is(host.Err(), ErrProtocol) {
				t.Errorf("err %v", host.Err())
			}
		})
	}

	t.Run("no hello first", func(t *testing.T) {
		leakCheck(t)
		sa, sb := connectPair(t)
		errc := make(chan error, 1)
		go func() { _, err := Start(testCtx(t), sa, hostConfig(t)); errc <- err }()
		ch, err := sb.Accept(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		go func() { _, _ = io.Copy(io.Discard, ch) }() // ends with ch
		if _, err := ch.Write([]byte(`{"t":"chat","id":"c1","ts":1,"text":"hi"}` + "\n")); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, ErrProtocol) {
			t.Fatalf("Start: %v, want ErrProtocol", err)
		}
	})

	t.Run("hello as a host", func(t *testing.T) {
		leakCheck(t)
		sa, sb := connectPair(t)
		errc := make(chan error, 1)
		go func() { _, err := Start(testCtx(t), sa, hostConfig(t)); errc <- err }()
		ch, err := sb.Accept(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Close()
		go func() { _, _ = io.Copy(io.Discard, ch) }() // ends with ch
		if _, err := ch.Write([]byte(`{"t":"hello","v":1,"role":"host","lang":"en"}` + "\n")); err != nil {
			t.Fatal(err)
		}
		if err := <-errc; !errors.Is(err, ErrProtocol) {
			t.Fatalf("Start: %v, want ErrProtocol", err)
		}
	})

	t.Run("file with a wrong hash", func(t *testing.T) {
		leakCheck(t)
		hc := hostConfig(t)
		raw, host := rawClientAndHost(t, hc)
		raw.send(fileJSON("c1", "lohn.pdf", []byte("genuine"), KindDoc))
		raw.sendFile("c1", []byte("altered"))
		if v := raw.next(tFileOK); v.ID != "c1" || *v.OK || v.SHA256 != sum([]byte("altered")) {
			t.Fatalf("verdict %+v", v)
		}
		s := waitSnap(t, host, "the failure", func(s Snapshot) bool { f, _ := fileByID(s, "c1"); return f.State == FileFailed })
		if f, _ := fileByID(s, "c1"); f.Path != "" {
			t.Errorf("file %+v", f)
		}
		if names := storedFiles(t, hc.DataDir, dirFiles); len(names) != 0 {
			t.Errorf("stored %v", names)
		}
		expectAlive(t, raw, host)
	})

	t.Run("channel before its file", func(t *testing.T) {
		leakCheck(t)
		hc := hostConfig(t)
		raw, host := rawClientAndHost(t, hc)
		data := []byte("channel first, announcement second")
		done := make(chan struct{})
		go func() { defer close(done); raw.sendFile("c1", data) }()
		// Let the channel arrive first; the grace time covers the wait.
		waitOrphan(t, host, "c1")
		raw.send(fileJSON("c1", "spät.txt", data, KindDoc))
		if v := raw.next(tFileOK); !*v.OK {
			t.Fatalf("verdict %+v", v)
		}
		<-done
		s := host.Snapshot()
		f, _ := fileByID(s, "c1")
		equalBytes(t, f.Path, data)
	})
}

// waitOrphan waits until host holds an unannounced channel for id.
func waitOrphan(t *testing.T, c *Consultation, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		ok := c.orphans[id] != nil
		c.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the channel never arrived")
		}
		time.Sleep(5 * time.Millisecond) // polling internal state, not synchronising
	}
}

// TestHostSendsNothingBeforeConsent watches the wire from the client's
// side: after the host's file ask, neither a "file" line nor a file channel
// comes until the answer; after a decline, never.
func TestHostSendsNothingBeforeConsent(t *testing.T) {
	for _, accept := range []bool{true, false} {
		t.Run(fmt.Sprintf("accept=%v", accept), func(t *testing.T) {
			leakCheck(t)
			raw, host := rawClientAndHost(t, hostConfig(t))
			data := pseudo(200<<10, 5)
			id, err := host.SendFile("vertrag.pdf", int64(len(data)), bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			a := raw.nextAny()
			if a.T != tAsk || a.ID != id || a.What != WhatFile || a.Name != "vertrag.pdf" || *a.Size != int64(len(data)) || a.SHA256 != sum(data) {
				t.Fatalf("first message after hello: %+v", a)
			}
			if ch := raw.acceptWithin(500 * time.Millisecond); ch != nil {
				t.Fatalf("channel %q opened before the answer", ch.Label())
			}
			if err := host.Chat("before"); err != nil {
				t.Fatal(err)
			}
			if m := raw.nextAny(); m.T != tChat {
				t.Fatalf("message before the answer: %+v", m)
			}
			raw.send(fmt.Sprintf(`{"t":"answer","id":%q,"ok":%v}`, id, accept))
			if !accept {
				waitSnap(t, host, "declined", func(s Snapshot) bool { f, _ := fileByID(s, id); return f.State == FileDeclined })
				if err := host.Chat("after"); err != nil {
					t.Fatal(err)
				}
				if m := raw.nextAny(); m.T != tChat {
					t.Fatalf("message after the decline: %+v", m)
				}
				if ch := raw.acceptWithin(500 * time.Millisecond); ch != nil {
					t.Fatalf("channel %q opened after a decline", ch.Label())
				}
				return
			}
			f := raw.nextAny()
			if f.T != tFile || f.ID != id || f.Name != "vertrag.pdf" || *f.Size != int64(len(data)) || f.SHA256 != sum(data) || f.Kind != KindDoc {
				t.Fatalf("after the answer: %+v", f)
			}
			ch := raw.acceptWithin(10 * time.Second)
			if ch == nil || ch.Label() != fileLabelPrefix+id {
				t.Fatalf("file channel %v", ch)
			}
			// The announced size, as a receiver reads it: the sender keeps
			// the channel open until the verdict (files.go, verdictWait),
			// so reading to EOF would wait two minutes.
			got := make([]byte, len(data))
			if n, err := io.ReadFull(ch, got); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read %d bytes, %v", n, err)
			}
			_ = ch.Close()
			raw.send(fmt.Sprintf(`{"t":"file-ok","id":%q,"ok":true,"sha256":%q}`, id, sum(got)))
			waitSnap(t, host, "done", func(s Snapshot) bool { f, _ := fileByID(s, id); return f.State == FileDone })
		})
	}
}

// nextAny returns the next message, whatever its type.
func (p *rawPeer) nextAny() message {
	p.t.Helper()
	select {
	case m, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("raw peer: stream ended: %v", <-p.rerr)
		}
		return m
	case <-time.After(30 * time.Second):
		p.t.Fatal("raw peer: timed out")
	}
	return message{}
}
