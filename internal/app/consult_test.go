package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/identity"
	"github.com/direkt/direkt/internal/record"
)

// pairByCode starts h's Run, waits for its code and joins it with j. It
// returns both States once connected and the join's Run result channel.
func pairByCode(t *testing.T, ctx context.Context, h *Host, j *Join) (hs, js console.State, joined <-chan error) {
	t.Helper()
	st := waitState(t, ctx, h, "a code", func(st console.State) bool { return st.Phase == PhaseWaiting && st.Code != "" })
	c, err := code.Parse(st.Code)
	if err != nil {
		t.Fatalf("the host's code %q does not parse: %v", st.Code, err)
	}
	joined = goRun(t, ctx, func(ctx context.Context) error { return j.Run(ctx, c) })
	hs = waitState(t, ctx, h, "connected", phaseIs(PhaseConnected))
	js = waitState(t, ctx, j, "connected", phaseIs(PhaseConnected))
	return hs, js, joined
}

// TestConsultationByCode is a whole consultation between a Go host and a
// Go client that joins by code: phases, phrase, participants, record
// consent, chat both ways, files both ways with the host's only after
// consent, notes, the record on both sides, and a new code afterwards.
func TestConsultationByCode(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 90*time.Second)
	server := newRendezvous(t, 0)
	var hev, jev events
	hcfg := peerConfig(t, server, "Anna Berater", &hev)
	hcfg.AskRecord = true
	jcfg := peerConfig(t, server, "Carl Kunde", &jev)
	h, err := NewHost(hcfg)
	if err != nil {
		t.Fatal(err)
	}
	j, err := NewJoin(jcfg)
	if err != nil {
		t.Fatal(err)
	}
	if st := h.State(); st.Phase != PhaseIdle || st.Role != "host" {
		t.Fatalf("new host: phase %q role %q, want idle host", st.Phase, st.Role)
	}
	hp, jp := watchPhases(t, ctx, h), watchPhases(t, ctx, j)
	startHost(t, ctx, h)

	waiting := waitState(t, ctx, h, "a code", func(st console.State) bool { return st.Code != "" })
	c, err := code.Parse(waiting.Code)
	if err != nil {
		t.Fatal(err)
	}
	if c.Lang != code.German {
		t.Errorf("code %q is not German", waiting.Code)
	}
	if want := server + "/j/" + c.Nameplate + "#" + strings.Join(c.Words, "-"); waiting.JoinURL != want {
		t.Errorf("join link %q, want %q", waiting.JoinURL, want)
	}
	if ev := hev.wait(t, ctx, "code", nil); ev.Code != waiting.Code || ev.JoinURL != waiting.JoinURL {
		t.Errorf("code event %+v, want the shown code and link", ev)
	}

	hs, js, joined := pairByCode(t, ctx, h, j)

	// The same phrase on both screens, and each side knows the other's key.
	if hs.Phrase == "" || hs.Phrase != js.Phrase {
		t.Errorf("phrases %q and %q, want the same", hs.Phrase, js.Phrase)
	}
	if hs.Code != "" || hs.JoinURL != "" {
		t.Errorf("connected host still shows code %q link %q", hs.Code, hs.JoinURL)
	}
	hfp, jfp := identity.Fingerprint(pub(hcfg.Key)), identity.Fingerprint(pub(jcfg.Key))
	if hs.Self.Fingerprint != hfp || js.Self.Fingerprint != jfp {
		t.Errorf("self fingerprints %q, %q; want %q, %q", hs.Self.Fingerprint, js.Self.Fingerprint, hfp, jfp)
	}
	if hs.Peer == nil || hs.Peer.Name != "Carl Kunde" || hs.Peer.Role != "client" || hs.Peer.Fingerprint != jfp {
		t.Errorf("host sees peer %+v, want Carl Kunde, client, %s", hs.Peer, jfp)
	}
	if js.Peer == nil || js.Peer.Name != "Anna Berater" || js.Peer.Role != "host" || js.Peer.Fingerprint != hfp {
		t.Errorf("client sees peer %+v, want Anna Berater, host, %s", js.Peer, hfp)
	}
	for _, st := range []console.State{hs, js} {
		if st.Path == nil || st.Path.Kind != "direct" {
			t.Errorf("%s path %+v, want direct", st.Role, st.Path)
		}
		if st.Started.IsZero() {
			t.Errorf("%s: no start time", st.Role)
		}
	}
	for _, ev := range []*events{&hev, &jev} {
		if e := ev.wait(t, ctx, "connected", nil); e.Phrase != hs.Phrase {
			t.Errorf("connected event %+v, want phrase %q", e, hs.Phrase)
		}
	}

	// Record consent: asked at the start, accepted by the client.
	js = waitState(t, ctx, j, "the record ask", func(st console.State) bool {
		_, ok := findAsk(st, "record", "pending")
		return ok
	})
	if js.Recording != "asked" {
		t.Errorf("client recording %q, want asked", js.Recording)
	}
	ask, _ := findAsk(js, "record", "pending")
	if err := j.Answer(ask.ID, true); err != nil {
		t.Fatalf("Answer record: %v", err)
	}
	waitState(t, ctx, h, "record accepted", func(st console.State) bool { return st.Recording == "accepted" })

	// Chat both ways.
	if err := h.Chat("Guten Tag, Herr Kunde."); err != nil {
		t.Fatal(err)
	}
	if err := j.Chat("Hello, Ms Berater."); err != nil {
		t.Fatal(err)
	}
	bothChats := func(st console.State) bool {
		return hasChat(st, "host", "Guten Tag, Herr Kunde.") && hasChat(st, "client", "Hello, Ms Berater.")
	}
	for _, st := range []console.State{waitState(t, ctx, h, "the chat", bothChats), waitState(t, ctx, j, "the chat", bothChats)} {
		for _, m := range st.Chat {
			want := map[string]string{"host": "Anna Berater", "client": "Carl Kunde"}[m.From]
			if m.Name != want || m.ID == "" || m.At.IsZero() {
				t.Errorf("%s: chat message %+v, want name %q, an id and a time", st.Role, m, want)
			}
		}
	}

	// The host's file: asked first, nothing arrives before the answer.
	hostData, hostSum := randomData(t, 300<<10)
	if err := h.SendFile("Vertrag.pdf", int64(len(hostData)), bytes.NewReader(hostData)); err != nil {
		t.Fatalf("host SendFile: %v", err)
	}
	// A chat after the offer is a barrier: once the client has it, it has
	// everything the host put on the consult channel before it.
	if err := h.Chat("Please look at the contract."); err != nil {
		t.Fatal(err)
	}
	js = waitState(t, ctx, j, "the file ask and the chat after it", func(st console.State) bool {
		_, ok := findAsk(st, "file", "pending")
		return ok && hasChat(st, "host", "Please look at the contract.")
	})
	fileAsk, _ := findAsk(js, "file", "pending")
	if fileAsk.Name != "Vertrag.pdf" || fileAsk.Size != int64(len(hostData)) {
		t.Errorf("file ask %+v, want Vertrag.pdf of %d bytes", fileAsk, len(hostData))
	}
	for _, f := range js.Files {
		if f.From == "host" && (f.State == "done" || f.Done > 0) {
			t.Errorf("before consent the client has the host's file %+v", f)
		}
	}
	if names := dirNames(t, filepath.Join(jcfg.DataDir, "files")); len(names) > 0 {
		t.Errorf("before consent the client's files folder holds %v", names)
	}
	if f, ok := findFile(h.State(), "host", "Vertrag.pdf"); !ok || f.State != "asked" {
		t.Errorf("host's file before consent: %+v, want asked", f)
	}
	if err := j.Answer(fileAsk.ID, true); err != nil {
		t.Fatalf("Answer file: %v", err)
	}
	fileDone := func(from, name string) func(console.State) bool {
		return func(st console.State) bool {
			f, ok := findFile(st, from, name)
			return ok && f.State == "done"
		}
	}
	js = waitState(t, ctx, j, "the host's file", fileDone("host", "Vertrag.pdf"))
	waitState(t, ctx, h, "the client's verdict", fileDone("host", "Vertrag.pdf"))
	got, _ := findFile(js, "host", "Vertrag.pdf")
	if got.SHA256 != hostSum || got.Size != int64(len(hostData)) || got.Done != got.Size {
		t.Errorf("client got %+v, want sha256 %s, %d bytes", got, hostSum, len(hostData))
	}
	if !sameBytes(t, filepath.Join(jcfg.DataDir, "files", "Vertrag.pdf"), hostData) {
		t.Error("the file in the client's data folder is not the host's")
	}
	name, f, err := j.OpenFile(got.ID)
	if err != nil {
		t.Fatalf("client OpenFile: %v", err)
	}
	if b := readAllClose(t, f); name != "Vertrag.pdf" || !bytes.Equal(b, hostData) {
		t.Errorf("client OpenFile: %q, %d bytes; want the host's file", name, len(b))
	}

	// The client's file needs no consent.
	clientData, clientSum := randomData(t, 200<<10)
	if err := j.SendFile("Scan 1.png", int64(len(clientData)), bytes.NewReader(clientData)); err != nil {
		t.Fatalf("client SendFile: %v", err)
	}
	hs = waitState(t, ctx, h, "the client's file", fileDone("client", "Scan 1.png"))
	waitState(t, ctx, j, "the host's verdict", fileDone("client", "Scan 1.png"))
	if f, _ := findFile(hs, "client", "Scan 1.png"); f.SHA256 != clientSum {
		t.Errorf("host got sha256 %s, want %s", f.SHA256, clientSum)
	}
	if !sameBytes(t, filepath.Join(hcfg.DataDir, "files", "Scan 1.png"), clientData) {
		t.Error("the file in the host's data folder is not the client's")
	}
	if _, ok := findAsk(hs, "file", "pending"); ok {
		t.Error("the client's file made the host ask something")
	}

	// Notes.
	const notes = "Beratung zur Hausratversicherung.\nKunde wünscht Bedenkzeit."
	if err := h.SetNotes(notes); err != nil {
		t.Fatal(err)
	}
	if st := h.State(); st.Notes != notes {
		t.Errorf("notes %q, want %q", st.Notes, notes)
	}

	// The adviser ends: the record is written and the client has its copy.
	if err := h.End(); err != nil {
		t.Fatalf("End: %v", err)
	}
	hs = waitState(t, ctx, h, "ended with a record", func(st console.State) bool { return st.Phase == PhaseEnded && st.Record != nil })
	if err := result(t, ctx, joined); err != nil {
		t.Errorf("Join.Run: %v", err)
	}
	js = waitState(t, ctx, j, "ended with a record", func(st console.State) bool { return st.Phase == PhaseEnded && st.Record != nil })
	const reason = "the adviser ended the consultation"
	for _, st := range []console.State{hs, js} {
		if st.EndReason != reason || st.Ended.IsZero() {
			t.Errorf("%s: end reason %q at %v, want %q", st.Role, st.EndReason, st.Ended, reason)
		}
		if st.Record.ID != hs.Record.ID {
			t.Errorf("%s: record %s, want %s", st.Role, st.Record.ID, hs.Record.ID)
		}
	}
	id := hs.Record.ID
	for _, ev := range []*events{&hev, &jev} {
		if e := ev.wait(t, ctx, "ended", nil); e.Reason != reason || e.Record != id {
			t.Errorf("ended event %+v, want reason %q record %s", e, reason, id)
		}
	}

	signed, err := os.ReadFile(filepath.Join(hcfg.DataDir, "records", id+".json"))
	if err != nil {
		t.Fatal(err)
	}
	rec, key, err := record.Verify(signed)
	if err != nil {
		t.Fatalf("the host's record does not verify: %v", err)
	}
	if !key.Equal(pub(hcfg.Key)) || !bytes.Equal(rec.Client.Key, pub(jcfg.Key)) {
		t.Error("the record is not signed by the host, or does not name the client's key")
	}
	if rec.Host.Name != "Anna Berater" || rec.Client.Name != "Carl Kunde" || rec.Phrase != hs.Phrase {
		t.Errorf("record parties %q, %q, phrase %q", rec.Host.Name, rec.Client.Name, rec.Phrase)
	}
	if rec.Notes != notes {
		t.Errorf("record notes %q, want %q", rec.Notes, notes)
	}
	var lines []string
	for _, m := range rec.Chat {
		lines = append(lines, m.From+": "+m.Text)
	}
	wantLines := []string{"host: Guten Tag, Herr Kunde.", "client: Hello, Ms Berater.", "host: Please look at the contract."}
	for _, l := range wantLines {
		if !slices.Contains(lines, l) {
			t.Errorf("record chat %q lacks %q", lines, l)
		}
	}
	var files []string
	for _, f := range rec.Files {
		files = append(files, f.From+" "+f.Name+" "+f.SHA256)
	}
	slices.Sort(files)
	if want := []string{"client Scan 1.png " + clientSum, "host Vertrag.pdf " + hostSum}; !slices.Equal(files, want) {
		t.Errorf("record files %q, want %q", files, want)
	}
	var consents []string
	for _, c := range rec.Consents {
		consents = append(consents, c.What+" "+c.State)
	}
	if want := []string{"record accepted", "file accepted"}; !slices.Equal(consents, want) {
		t.Errorf("record consents %q, want %q", consents, want)
	}
	if rec.Start.IsZero() || rec.End.Before(rec.Start) || rec.Path.Kind != "direct" {
		t.Errorf("record start %v end %v path %+v", rec.Start, rec.End, rec.Path)
	}
	if _, err := os.Stat(filepath.Join(hcfg.DataDir, "records", id+".pdf")); err != nil {
		t.Errorf("no PDF: %v", err)
	}

	// The client's copy is the host's signed record.
	list, err := j.Records("")
	if err != nil || len(list) != 1 || list[0].ID != id {
		t.Fatalf("client Records: %+v, %v; want %s", list, err, id)
	}
	_, f, err = j.OpenRecord(id, "json")
	if err != nil {
		t.Fatalf("client OpenRecord: %v", err)
	}
	if b := readAllClose(t, f); !bytes.Equal(b, signed) {
		t.Error("the client's copy differs from the host's record")
	}
	if _, f, err = j.OpenRecord(id, "pdf"); err != nil {
		t.Errorf("client OpenRecord pdf: %v", err)
	} else {
		f.Close()
	}
	// The host's list finds it by the chat's words.
	if list, err := h.Records("guten kunde"); err != nil || len(list) != 1 || list[0].ID != id {
		t.Errorf("host Records(guten kunde): %+v, %v", list, err)
	}
	if list, err := h.Records("nowhere"); err != nil || len(list) != 0 {
		t.Errorf("host Records(nowhere): %+v, %v", list, err)
	}
	// Received files of the ended consultation stay downloadable.
	if cf, _ := findFile(hs, "client", "Scan 1.png"); true {
		if name, f, err := h.OpenFile(cf.ID); err != nil {
			t.Errorf("host OpenFile after the end: %v", err)
		} else if b := readAllClose(t, f); name != "Scan 1.png" || !bytes.Equal(b, clientData) {
			t.Errorf("host OpenFile after the end: %q, %d bytes", name, len(b))
		}
	}
	if name, f, err := j.OpenFile(got.ID); err != nil {
		t.Errorf("client OpenFile after the end: %v", err)
	} else if b := readAllClose(t, f); name != "Vertrag.pdf" || !bytes.Equal(b, hostData) {
		t.Errorf("client OpenFile after the end: %q, %d bytes", name, len(b))
	}

	// New: a fresh code, the last consultation's state gone.
	if err := h.New(); err != nil {
		t.Fatalf("New: %v", err)
	}
	next := waitState(t, ctx, h, "a new code", func(st console.State) bool {
		return st.Phase == PhaseWaiting && st.Code != "" && st.Code != waiting.Code
	})
	if next.Record != nil || len(next.Chat) != 0 || next.Notes != "" || next.Peer != nil || next.Phrase != "" {
		t.Errorf("after New the host still shows the last consultation: %s", describe(next))
	}
	hev.wait(t, ctx, "code", func(e Event) bool { return e.Code == next.Code })

	hp.stop()
	jp.stop()
	checkPhases(t, "host", hp.list(), []string{PhaseIdle, PhaseWaiting, PhasePairing, PhaseConnected, PhaseEnded, PhaseIdle, PhaseWaiting}, PhaseIdle, PhasePairing)
	checkPhases(t, "client", jp.list(), []string{PhaseIdle, PhasePairing, PhaseConnected, PhaseEnded}, PhaseIdle)
}

// newPair makes a host (asking for a record if askRecord) and a client on
// one rendezvous server, starts the host and joins it by code.
func newPair(t *testing.T, ctx context.Context, askRecord bool) (h *Host, j *Join, hcfg, jcfg Config, hev, jev *events, joined <-chan error) {
	t.Helper()
	server := newRendezvous(t, 0)
	hev, jev = new(events), new(events)
	hcfg = peerConfig(t, server, "Anna Berater", hev)
	hcfg.AskRecord = askRecord
	jcfg = peerConfig(t, server, "Carl Kunde", jev)
	var err error
	if h, err = NewHost(hcfg); err != nil {
		t.Fatal(err)
	}
	if j, err = NewJoin(jcfg); err != nil {
		t.Fatal(err)
	}
	startHost(t, ctx, h)
	_, _, joined = pairByCode(t, ctx, h, j)
	return h, j, hcfg, jcfg, hev, jev, joined
}

// answerRecord waits for the host's record ask and answers it.
func answerRecord(t *testing.T, ctx context.Context, h *Host, j *Join, ok bool) {
	t.Helper()
	st := waitState(t, ctx, j, "the record ask", func(st console.State) bool {
		_, ok := findAsk(st, "record", "pending")
		return ok
	})
	a, _ := findAsk(st, "record", "pending")
	if err := j.Answer(a.ID, ok); err != nil {
		t.Fatalf("Answer record: %v", err)
	}
	want := map[bool]string{true: "accepted", false: "declined"}[ok]
	waitState(t, ctx, h, "record "+want, func(st console.State) bool { return st.Recording == want })
}

// chatBoth exchanges one message each way and waits until both sides have
// both.
func chatBoth(t *testing.T, ctx context.Context, h *Host, j *Join, hostText, clientText string) {
	t.Helper()
	if err := h.Chat(hostText); err != nil {
		t.Fatal(err)
	}
	if err := j.Chat(clientText); err != nil {
		t.Fatal(err)
	}
	both := func(st console.State) bool { return hasChat(st, "host", hostText) && hasChat(st, "client", clientText) }
	waitState(t, ctx, h, "the chat", both)
	waitState(t, ctx, j, "the chat", both)
}

// noRecords checks that a peer keeps no record, on disk or in its lists.
func noRecords(t *testing.T, b console.Backend, dir string) {
	t.Helper()
	st := b.State()
	if st.Record != nil {
		t.Errorf("%s shows record %s", st.Role, st.Record.ID)
	}
	if list, err := b.Records(""); err != nil || len(list) != 0 {
		t.Errorf("%s lists records %+v, %v", st.Role, list, err)
	}
	if names := dirNames(t, filepath.Join(dir, "records")); len(names) != 0 {
		t.Errorf("%s's records folder holds %v", st.Role, names)
	}
}

// TestRecordDeclined: a client that declines the record gets none, and the
// host keeps none.
func TestRecordDeclined(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 60*time.Second)
	h, j, hcfg, jcfg, hev, _, joined := newPair(t, ctx, true)
	answerRecord(t, ctx, h, j, false)
	chatBoth(t, ctx, h, j, "Guten Tag.", "No record, please.")
	if err := h.SetNotes("Kunde lehnt Protokoll ab."); err != nil {
		t.Fatal(err)
	}
	if err := h.End(); err != nil {
		t.Fatal(err)
	}
	if err := result(t, ctx, joined); err != nil {
		t.Errorf("Join.Run: %v", err)
	}
	waitState(t, ctx, h, "ended", phaseIs(PhaseEnded))
	waitState(t, ctx, j, "ended", phaseIs(PhaseEnded))
	if e := hev.wait(t, ctx, "ended", nil); e.Record != "" {
		t.Errorf("host ended event names record %q", e.Record)
	}
	noRecords(t, h, hcfg.DataDir)
	noRecords(t, j, jcfg.DataDir)
}

// TestRecordOff: a host that does not ask keeps no record.
func TestRecordOff(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 60*time.Second)
	h, j, hcfg, jcfg, _, _, joined := newPair(t, ctx, false)
	chatBoth(t, ctx, h, j, "Guten Tag.", "Hello.")
	if st := j.State(); st.Recording != "off" || len(st.Asks) != 0 {
		t.Errorf("client: recording %q, asks %+v; want off and none", st.Recording, st.Asks)
	}
	if err := h.End(); err != nil {
		t.Fatal(err)
	}
	if err := result(t, ctx, joined); err != nil {
		t.Errorf("Join.Run: %v", err)
	}
	waitState(t, ctx, h, "ended", phaseIs(PhaseEnded))
	noRecords(t, h, hcfg.DataDir)
	noRecords(t, j, jcfg.DataDir)
}

// TestClientEnds: when the client ends, the host still writes the record
// the client accepted, but the client gets no copy: the copy travels
// before "end", and the client's "end" closes the connection. This is the
// expected behaviour; the client can ask the adviser for the record.
func TestClientEnds(t *testing.T) {
	leakCheck(t)
	ctx := testCtx(t, 60*time.Second)
	h, j, hcfg, jcfg, hev, jev, joined := newPair(t, ctx, true)
	answerRecord(t, ctx, h, j, true)
	chatBoth(t, ctx, h, j, "Guten Tag.", "I have to go.")
	if err := j.End(); err != nil {
		t.Fatal(err)
	}
	if err := result(t, ctx, joined); err != nil {
		t.Errorf("Join.Run: %v", err)
	}
	const reason = "the client ended the consultation"
	hs := waitState(t, ctx, h, "ended with a record", func(st console.State) bool { return st.Phase == PhaseEnded && st.Record != nil })
	js := waitState(t, ctx, j, "ended", phaseIs(PhaseEnded))
	for _, st := range []console.State{hs, js} {
		if st.EndReason != reason {
			t.Errorf("%s: end reason %q, want %q", st.Role, st.EndReason, reason)
		}
	}
	signed, err := os.ReadFile(filepath.Join(hcfg.DataDir, "records", hs.Record.ID+".json"))
	if err != nil {
		t.Fatal(err)
	}
	rec, _, err := record.Verify(signed)
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	if len(rec.Chat) != 2 || rec.Chat[1].Text != "I have to go." {
		t.Errorf("record chat %+v, want the two messages", rec.Chat)
	}
	if e := hev.wait(t, ctx, "ended", nil); e.Record != hs.Record.ID || e.Reason != reason {
		t.Errorf("host ended event %+v", e)
	}
	if e := jev.wait(t, ctx, "ended", nil); e.Record != "" || e.Reason != reason {
		t.Errorf("client ended event %+v, want no record", e)
	}
	noRecords(t, j, jcfg.DataDir)
}
