package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/record"
	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/wire"
)

// rawClient is a hostile client over the wire: it pairs with the host's
// code through the real rendezvous server, connects a real session and
// speaks the consult protocol line by line, as a browser would, but with
// whatever content it likes.
type rawClient struct {
	t    *testing.T
	sess *session.Session
	pair *pairing.Pair
	ch   *session.Channel
	in   chan map[string]any
	n    int
}

// dialRaw joins h (waiting with a code) as a raw client named name.
func dialRaw(t *testing.T, ctx context.Context, h *Host, server, name string) *rawClient {
	t.Helper()
	st := waitState(t, ctx, h, "a code", func(st console.State) bool { return st.Phase == PhaseWaiting && st.Code != "" })
	c, err := code.Parse(st.Code)
	if err != nil {
		t.Fatal(err)
	}
	// No long-term key in the hello: a browser.
	pair, err := pairing.Claim(ctx, pairing.Options{Server: server, Hello: wire.Signal{Name: "x", App: wire.AppConsult}, Logger: testLogger()}, c)
	if err != nil {
		t.Fatalf("claim: %v", err)
	}
	sess, err := ConnectSession(ctx, pair, 0, true, nil, testLogger())
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	ch, err := sess.Accept(ctx)
	if err != nil || ch.Label() != "consult" {
		t.Fatalf("accept consult: %v %v", ch, err)
	}
	r := &rawClient{t: t, sess: sess, pair: pair, ch: ch, in: make(chan map[string]any, 1024)}
	go func() {
		defer close(r.in)
		sc := bufio.NewScanner(ch)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				select {
				case r.in <- m:
				default: // nobody reads them any more
				}
			}
		}
	}()
	t.Cleanup(func() {
		sess.Close()
		pair.Close(wire.MoodHappy)
		for range r.in {
		}
	})
	r.send(map[string]any{"t": "hello", "v": 1, "role": "client", "name": name, "lang": "de", "agent": "raw"})
	return r
}

func (r *rawClient) send(m map[string]any) {
	r.t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		r.t.Fatal(err)
	}
	r.sendLine(string(b))
}

// sendLine sends one line as it is (json.Marshal would escape "<").
func (r *rawClient) sendLine(line string) {
	r.t.Helper()
	if _, err := r.ch.Write([]byte(line + "\n")); err != nil {
		r.t.Fatalf("raw client write: %v", err)
	}
}

// next waits for the host's next message of type typ.
func (r *rawClient) next(ctx context.Context, typ string) map[string]any {
	r.t.Helper()
	for {
		select {
		case m, ok := <-r.in:
			if !ok {
				r.t.Fatalf("the host closed the consultation before %q", typ)
			}
			if m["t"] == typ {
				return m
			}
		case <-ctx.Done():
			r.t.Fatalf("no %q from the host: %v", typ, ctx.Err())
		}
	}
}

// acceptRecord answers the host's record ask with yes.
func (r *rawClient) acceptRecord(ctx context.Context) {
	r.t.Helper()
	for {
		m := r.next(ctx, "ask")
		if m["what"] == "record" {
			r.send(map[string]any{"t": "answer", "id": m["id"], "ok": true})
			return
		}
	}
}

// chat sends a chat line whose text is JSON already (escapes and all).
func (r *rawClient) chat(jsonText string) {
	r.t.Helper()
	r.n++
	r.sendLine(fmt.Sprintf(`{"t":"chat","id":"c%d","ts":%d,"text":%s}`, r.n, time.Now().UnixMilli(), jsonText))
}

// sendFile offers the host a one-byte document named name and sends it.
func (r *rawClient) sendFile(ctx context.Context, id, name string) {
	r.t.Helper()
	sum := sha256.Sum256([]byte("x"))
	r.send(map[string]any{"t": "file", "id": id, "name": name, "size": 1, "sha256": hex.EncodeToString(sum[:]), "kind": "doc"})
	ch, err := r.sess.Open(ctx, "file/"+id)
	if err != nil {
		r.t.Fatalf("open file channel: %v", err)
	}
	if _, err := ch.Write([]byte("x")); err != nil {
		r.t.Fatal(err)
	}
	if m := r.next(ctx, "file-ok"); m["id"] != id || m["ok"] != true {
		r.t.Fatalf("verdict %v", m)
	}
	_ = ch.Close()
}

// takeRecord takes in the record's two files the host announces before its
// "end", as the join page does, and returns them by extension.
func (r *rawClient) takeRecord(ctx context.Context) map[string][]byte {
	r.t.Helper()
	type want struct {
		name string
		size int64
		sum  string
	}
	files := map[string]want{}
	for len(files) < 2 {
		m := r.next(ctx, "file")
		if m["kind"] != "record" {
			r.t.Fatalf("file %v before the record", m)
		}
		files[m["id"].(string)] = want{m["name"].(string), int64(m["size"].(float64)), m["sha256"].(string)}
	}
	// Both at once, as a real client does: the host sends them at once, and
	// a channel nobody reads holds up the other.
	type arrived struct {
		id  string
		b   []byte
		err error
	}
	done := make(chan arrived, 2)
	for range 2 {
		ch, err := r.sess.Accept(ctx)
		if err != nil {
			r.t.Fatalf("accept a record file: %v", err)
		}
		id := strings.TrimPrefix(ch.Label(), "file/")
		w, ok := files[id]
		if !ok {
			r.t.Fatalf("channel %q", ch.Label())
		}
		// The Go client takes record files of at most 64 MiB, the join page
		// of at most 4 GiB (web/src/consult.js MAX_FILE).
		if w.size > 64<<20 {
			r.t.Fatalf("record file %s of %d bytes", w.name, w.size)
		}
		go func() {
			b := make([]byte, w.size)
			_, err := io.ReadFull(ch, b)
			done <- arrived{id, b, err}
		}()
	}
	got := map[string][]byte{}
	for range 2 {
		a := <-done
		w := files[a.id]
		if a.err != nil {
			r.t.Fatalf("read %s: %v", w.name, a.err)
		}
		sum := sha256.Sum256(a.b)
		r.send(map[string]any{"t": "file-ok", "id": a.id, "ok": true, "sha256": hex.EncodeToString(sum[:])})
		if hex.EncodeToString(sum[:]) != w.sum {
			r.t.Fatalf("%s arrived damaged", w.name)
		}
		got[w.name[strings.LastIndexByte(w.name, '.')+1:]] = a.b
	}
	return got
}

// TestHostileClientFloodsRecord: a client that accepted the record floods
// the chat with what JSON escaping and the PDF blow up — "<" (six bytes in
// JSON), control characters, line breaks, invalid UTF-8 (a lone surrogate
// becomes U+FFFD), many tiny messages under a 100-character name of "<" —
// and sends a file with a 255-byte name of "<". Before, the record then
// exceeded its limit and was not written at all (the adviser learned it at
// the end). Now the host keeps the client's messages up to the client's
// share, warns the adviser at 80 % and when cutting starts (console state
// and event), cuts the rest visibly, the consultation goes on, and the
// record is written, signed and handed to the client with the cut in it.
func TestHostileClientFloodsRecord(t *testing.T) {
	lt := strings.Repeat("<", 4000)
	for _, tc := range []struct{ name, text string }{
		{"angle brackets", lt},
		{"control characters", strings.Repeat(`\u0001`, 4000)},
		{"line breaks", strings.Repeat(`a\n`, 2000)},
		{"lone surrogates", strings.Repeat(`\udc00`, 4000)},
		{"tiny messages", "a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			ctx := testCtx(t, 120*time.Second)
			server := newRendezvous(t, 0)
			h, _, hev, _ := newPeers(t, server, func(c *Config) { c.AskRecord = true })
			startHost(t, ctx, h)
			raw := dialRaw(t, ctx, h, server, strings.Repeat("<", 100))
			raw.acceptRecord(ctx)
			waitState(t, ctx, h, "record accepted", func(st console.State) bool { return st.Recording == "accepted" })
			raw.sendFile(ctx, "cf", strings.Repeat("<", 255))

			// Flood until the host cuts, in batches it can keep up with.
			cutting := func(st console.State) bool {
				for _, sh := range st.Shares {
					if sh.From == "client" && sh.Cut > 0 {
						return true
					}
				}
				return false
			}
			sent := 0
			for !cutting(h.State()) {
				if sent > 20000 {
					t.Fatal("20000 messages and no cut")
				}
				for range 500 {
					raw.chat(`"` + tc.text + `"`)
					sent++
				}
				sent++
				raw.send(map[string]any{"t": "chat", "id": "c-mark" + strconv.Itoa(sent), "ts": 1, "text": "mark"})
				waitState(t, ctx, h, "the batch", func(st console.State) bool {
					return cutting(st) || (len(st.Chat) > 0 && st.Chat[len(st.Chat)-1].Text == "mark")
				})
			}
			// Every message sent is either kept or counted as cut.
			st := waitState(t, ctx, h, "all messages", func(st console.State) bool {
				for _, sh := range st.Shares {
					if sh.From == "client" {
						return len(st.Chat)+sh.Cut == sent
					}
				}
				return false
			})
			if st.Phase != PhaseConnected {
				t.Fatalf("phase %s: the flood ended the consultation", st.Phase)
			}
			var share console.Share
			for _, sh := range st.Shares {
				if sh.From == "client" {
					share = sh
				}
			}
			if share.Used > share.Max || share.Max == 0 || share.CutSince.IsZero() {
				t.Fatalf("client share %+v", share)
			}
			// Warned at 80 % and when cutting started.
			var warnings []string
			hev.mu.Lock()
			for _, ev := range hev.all {
				if ev.Kind == "transcript" {
					warnings = append(warnings, ev.Reason)
				}
			}
			hev.mu.Unlock()
			if len(warnings) != 2 || !strings.Contains(warnings[0], "%") || !strings.Contains(warnings[1], "not kept or recorded") {
				t.Errorf("transcript events %q", warnings)
			}

			// The adviser's chat and notes still go into the record.
			if err := h.Chat("Wir beenden das hier."); err != nil {
				t.Fatalf("the adviser cannot chat: %v", err)
			}
			if err := h.SetNotes("Kunde hat den Chat geflutet."); err != nil {
				t.Fatal(err)
			}
			t0 := time.Now()
			if err := h.End(); err != nil {
				t.Fatal(err)
			}
			copies := raw.takeRecord(ctx)
			t.Logf("the record copy of %d + %d bytes arrived %v after End", len(copies["json"]), len(copies["pdf"]), time.Since(t0).Round(time.Millisecond))
			raw.next(ctx, "end")
			ev := hev.wait(t, ctx, "ended", nil)
			if ev.Record == "" {
				t.Fatalf("no record written; host error: %q", h.State().Error)
			}
			_, f, err := h.OpenRecord(ev.Record, "json")
			if err != nil {
				t.Fatal(err)
			}
			stored := readAllClose(t, f)
			if !bytes.Equal(stored, copies["json"]) {
				t.Error("the client's copy differs from the stored record")
			}
			rec, _, err := record.Verify(copies["json"])
			if err != nil {
				t.Fatalf("the client's copy does not verify: %v", err)
			}
			if len(copies["json"]) > record.MaxSigned || len(copies["pdf"]) > record.MaxPDF {
				t.Errorf("record copy of %d + %d bytes", len(copies["json"]), len(copies["pdf"]))
			}
			if len(rec.Cut) != 1 || rec.Cut[0] != (record.Cut{From: "client", What: "chat", Count: share.Cut, Bytes: share.CutBytes, Since: share.CutSince}) {
				t.Errorf("record cut %+v, console share %+v", rec.Cut, share)
			}
			if rec.Notes != "Kunde hat den Chat geflutet." || len(rec.Files) != 1 {
				t.Errorf("notes %q, %d files", rec.Notes, len(rec.Files))
			}
			if last := rec.Chat[len(rec.Chat)-1]; last.From != "host" || last.Text != "Wir beenden das hier." {
				t.Errorf("last message %+v, want the adviser's", last)
			}
			if _, err := exec.LookPath("pdftotext"); err == nil {
				path := filepath.Join(t.TempDir(), "r.pdf")
				if err := os.WriteFile(path, copies["pdf"], 0o600); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command("pdftotext", "-enc", "UTF-8", path, "-").Output()
				if err != nil {
					t.Fatal(err)
				}
				if want := fmt.Sprintf("%d Nachrichten der Kundin / des Kunden", share.Cut); !strings.Contains(string(out), want) {
					t.Errorf("the PDF lacks %q", want)
				}
			}
		})
	}
}
