package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/consult"
	"github.com/direkt/direkt/internal/known"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/record"
	"github.com/direkt/direkt/internal/version"
	"github.com/direkt/direkt/internal/wire"
)

// Host is `direkt host`: it shows a code, waits for a client (by code, or a
// known peer reconnecting), runs the consultation, writes the record, and
// then waits for New.
type Host struct {
	*base
	peers *known.Store

	newCh  chan struct{}   // New was clicked
	ringCh chan acceptRing // a known peer's call to take

	// watchers end with their ring or with Run's context; Run waits.
	watchers sync.WaitGroup

	lmu      sync.Mutex
	listener *pairing.Listener
	calling  map[string]callingPeer // channel -> caller awaiting a decision

	// umu serialises updates of the listened channels, so that an older
	// set never overtakes a newer one on its way to the server.
	umu sync.Mutex
}

type acceptRing struct {
	ring pairing.Ring
	peer known.Peer
}

type callingPeer struct {
	ring pairing.Ring
	peer known.Peer
}

// NewHost prepares a host; Run runs it.
func NewHost(cfg Config) (*Host, error) {
	b, err := newBase(cfg, "host")
	if err != nil {
		return nil, err
	}
	peers, err := known.Open(cfg.DataDir, known.PeersFile)
	if err != nil {
		return nil, fmt.Errorf("known peers: %w", err)
	}
	return &Host{
		base:    b,
		peers:   peers,
		newCh:   make(chan struct{}, 1),
		ringCh:  make(chan acceptRing, 1),
		calling: make(map[string]callingPeer),
	}, nil
}

// Run serves consultations until ctx ends: a code, a consultation, its
// record, then the next code once New is called.
func (h *Host) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer h.watchers.Wait()
	defer wg.Wait()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if h.cfg.RejoinServer != "" {
		wg.Go(func() { h.listen(lctx) })
	}
	for {
		err := h.once(ctx)
		h.mu.Lock()
		h.code, h.joinURL = "", "" // a code that no longer waits
		h.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			h.log.Warn("consultation failed", "err", err)
			h.setPhase(PhaseFailed, shortErr(err))
			h.cfg.OnEvent(Event{Kind: "ended", Reason: shortErr(err)})
		}
		select {
		case <-h.newCh:
		case <-ctx.Done():
			return nil
		}
	}
}

// once runs one consultation: by code, or with a known peer that calls
// while the code waits.
func (h *Host) once(ctx context.Context) error {
	h.reset()
	opts := pairing.Options{Server: h.cfg.Server, Dial: h.cfg.Dial, Lang: h.cfg.Lang, Hello: h.hello(), Logger: h.log}
	pend, err := pairing.Allocate(ctx, opts)
	if err != nil {
		return err
	}
	c := pend.Code()
	join := h.joinLink(c.Nameplate, strings.Join(c.Words, "-"))
	h.mu.Lock()
	h.code, h.joinURL = c.String(), join
	h.phase, h.errText = PhaseWaiting, ""
	h.mu.Unlock()
	h.notify()
	if h.cfg.Announce != nil {
		stop, err := h.cfg.Announce(ctx, c.Nameplate)
		if err != nil {
			pend.Close()
			return err
		}
		defer stop()
	}
	h.cfg.OnEvent(Event{Kind: "code", Code: c.String(), JoinURL: join})

	pair, rejoined, err := h.await(ctx, opts, pend)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.code, h.joinURL = "", ""
	h.mu.Unlock()
	h.setPhase(PhasePairing, "")
	l, err := h.connect(ctx, pair, consult.Host, h.cfg.AskRecord)
	if err != nil {
		return err
	}
	if rejoined == nil && l.peerKey != nil && h.cfg.RejoinServer != "" {
		h.offerRejoin(ctx, l, pair.Peer.Name)
	}
	h.serve(ctx, l)
	return nil
}

// await waits for the client with the code, or for a known peer's call
// the host takes meanwhile (then rejoined is that peer). The code stays
// valid while a call is answered: a call that fails (the caller left, or
// cannot prove the stored key) leaves the host waiting with the same code.
func (h *Host) await(ctx context.Context, opts pairing.Options, pend *pairing.Pending) (pair *pairing.Pair, rejoined *known.Peer, err error) {
	type waited struct {
		pair *pairing.Pair
		err  error
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan waited, 1)
	go func() {
		p, err := pend.Wait(wctx)
		done <- waited{p, err}
	}()
	for {
		select {
		case w := <-done:
			return w.pair, nil, w.err
		case ar := <-h.ringCh:
			select {
			case <-ar.ring.Done():
				continue // over before it was taken
			default:
			}
			h.setPhase(PhasePairing, "")
			p, err := pairing.Answer(ctx, opts, ar.ring, pairing.Rejoin{Token: ar.peer.Token, Self: h.cfg.Key, Peer: ar.peer.Key})
			if err != nil {
				if ctx.Err() != nil {
					<-done
					return nil, nil, err
				}
				h.log.Warn("a known peer's reconnection failed", "err", err)
				h.setPhase(PhaseWaiting, "")
				continue
			}
			// The known peer takes the place of the code.
			cancel()
			if w := <-done; w.pair != nil {
				w.pair.Close(wire.MoodLonely)
			}
			_ = h.peers.Touch(ar.peer.Key, time.Now())
			return p, &ar.peer, nil
		}
	}
}

// serve runs a connected consultation to its end and writes the record.
func (h *Host) serve(ctx context.Context, l *live) {
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { h.follow(fctx, l) })
	written := false
	select {
	case reason := <-l.endReq:
		// The adviser ends: the record first, so the client gets its copy
		// before "end".
		if rec, ok := h.writeRecord(l); ok {
			written = true
			h.sendRecord(l, rec)
		}
		l.cons.End(reason)
	case <-l.cons.Done():
	case <-ctx.Done():
	}
	wg.Wait()
	if !written {
		h.writeRecord(l)
	}
	h.mu.Lock()
	reason, rec := h.endReason, ""
	if h.lastRec != nil {
		rec = h.lastRec.ID
	}
	h.mu.Unlock()
	h.cfg.OnEvent(Event{Kind: "ended", Reason: reason, Record: rec})
	h.notify()
}

// writeRecord saves the record if the client accepted it.
func (h *Host) writeRecord(l *live) (record.Info, bool) {
	snap := l.cons.Snapshot()
	if snap.Recording != consult.RecordingAccepted {
		return record.Info{}, false
	}
	h.mu.Lock()
	notes := h.notes
	h.mu.Unlock()
	end := snap.EndedAt
	if end.IsZero() {
		end = time.Now()
	}
	r := record.Record{
		Host:     record.Party{Name: h.cfg.Name, Role: "host", Key: h.cfg.Key.Public().(ed25519.PublicKey), Agent: "direkt"},
		Client:   record.Party{Name: snap.Peer.Name, Role: "client", Key: l.peerKey, Agent: snap.Peer.Agent},
		Phrase:   l.phrase,
		Start:    snap.Started,
		End:      end,
		TimeZone: record.LocalTimeZone(),
		Notes:    notes,
		Lang:     h.cfg.Lang.String(),
		Software: "direkt " + version.Version,
	}
	if l.path != nil {
		r.Path = record.Path{Kind: l.path.Kind(), Local: l.path.Local, Remote: l.path.Remote, Proto: l.path.Proto}
	}
	names := map[consult.Role]string{consult.Host: h.cfg.Name, consult.Client: snap.Peer.Name}
	for _, m := range snap.Chat {
		r.Chat = append(r.Chat, record.Chat{From: m.From.String(), Name: names[m.From], Text: m.Text, At: m.At})
	}
	for _, f := range snap.Files {
		if f.State != consult.FileDone || f.Kind != consult.KindDoc {
			continue
		}
		r.Files = append(r.Files, record.File{From: f.From.String(), Name: f.Name, Size: f.Size, SHA256: f.SHA256, Kind: f.Kind, At: f.At})
	}
	for _, a := range snap.Asks {
		r.Consents = append(r.Consents, record.Consent{ID: a.ID, What: a.What, Detail: a.Name, State: string(a.State), AskedAt: a.AskedAt, AnsweredAt: a.AnsweredAt})
	}
	for _, e := range snap.ScreenEvents {
		r.Screen = append(r.Screen, record.ScreenEvent{At: e.At, By: e.By.String(), Event: e.Kind, ID: e.ID, What: e.What, W: e.W, H: e.H, Detail: e.Detail})
	}
	// The record is written before the consultation's end reaches the
	// shares: one still on or paused ends with it, as the consultation
	// notes it then.
	for _, sh := range []struct {
		by string
		s  *consult.ScreenShare
	}{{"host", snap.Screen.Own}, {"client", snap.Screen.Peer}} {
		if sh.s != nil {
			r.Screen = append(r.Screen, record.ScreenEvent{At: end, By: sh.by, Event: consult.ScreenStop, ID: sh.s.ID, What: sh.s.What, W: sh.s.W, H: sh.s.H, Detail: consult.DetailEnded})
		}
	}
	// Messages cut because a side's share of the transcript was full: the
	// record says so (Save may cut more, and says that too).
	for _, sh := range []struct {
		from string
		s    consult.Share
	}{{"host", snap.HostShare}, {"client", snap.ClientShare}} {
		if sh.s.Cut > 0 {
			r.Cut = append(r.Cut, record.Cut{From: sh.from, What: "chat", Count: sh.s.Cut, Bytes: sh.s.CutBytes, Since: sh.s.CutSince})
		}
	}
	info, err := h.store.Save(r, h.cfg.Key)
	if err != nil {
		h.log.Error("consultation record not written", "err", err)
		h.mu.Lock()
		h.errText = "The consultation record could not be written: " + shortErr(err)
		h.mu.Unlock()
		return record.Info{}, false
	}
	h.mu.Lock()
	h.lastRec = &info
	h.mu.Unlock()
	h.notify()
	return info, true
}

// sendRecord hands the client its copy.
func (h *Host) sendRecord(l *live, info record.Info) {
	read := func(format string) []byte {
		_, f, err := h.store.Open(info.ID, format)
		if err != nil {
			return nil
		}
		defer f.Close()
		var buf bytes.Buffer
		if _, err := io.Copy(&buf, io.LimitReader(f, record.MaxPDF)); err != nil {
			return nil
		}
		return buf.Bytes()
	}
	js, pdf := read("json"), read("pdf")
	if js == nil || pdf == nil {
		return
	}
	if err := l.cons.SendRecord(info.ID, js, pdf); err != nil {
		h.log.Warn("record copy not sent", "err", err)
	}
}

func (h *Host) hello() wire.Signal {
	return wire.Signal{Name: h.cfg.Name, ID: h.cfg.Key.Public().(ed25519.PublicKey), App: wire.AppConsult, Path: h.cfg.Policy.String(), Screen: wire.ScreenVersion}
}

// joinLink is the browser link: the nameplate in the path, the secret words
// in the fragment, which browsers never send to the server.
func (h *Host) joinLink(nameplate, words string) string {
	base := h.cfg.JoinBase
	if base == "" {
		u, err := url.Parse(h.cfg.Server)
		if err != nil {
			return ""
		}
		switch u.Scheme {
		case "ws":
			u.Scheme = "http"
		case "wss":
			u.Scheme = "https"
		}
		u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), wire.MailboxPath) + "/j/"
		u.RawQuery, u.Fragment = "", ""
		base = u.String()
	}
	return base + nameplate + "#" + words
}

// offerRejoin lets a Go client reconnect later without a code; the host
// confirms its first reconnection.
func (h *Host) offerRejoin(ctx context.Context, l *live, name string) {
	token := pairing.NewToken()
	if _, err := h.peers.Add(known.Peer{Key: l.peerKey, Name: name, Token: token}); err != nil {
		h.log.Warn("known peer not stored", "err", err)
		return
	}
	if err := l.cons.OfferRejoin(token, h.cfg.RejoinServer); err != nil {
		h.log.Warn("rejoin not offered", "err", err)
	}
	h.updateChannels(ctx)
	h.notify()
}

// listen keeps the known peers' channels open and routes their calls.
func (h *Host) listen(ctx context.Context) {
	opts := pairing.Options{Server: h.cfg.RejoinServer, Dial: h.cfg.Dial, Logger: h.log}
	var lst *pairing.Listener
	for lst == nil {
		var err error
		lst, err = pairing.Listen(ctx, opts, h.channels())
		if err == nil {
			break
		}
		h.log.Debug("known peers: cannot listen yet", "err", err)
		select {
		case <-time.After(5 * time.Second):
		case <-ctx.Done():
			return
		}
	}
	h.lmu.Lock()
	h.listener = lst
	h.lmu.Unlock()
	defer lst.Close()
	// Peers added while the listener connected were not in its first set.
	h.updateChannels(ctx)
	for {
		select {
		case r, ok := <-lst.Rings():
			if !ok {
				return
			}
			h.ring(ctx, r)
		case <-ctx.Done():
			return
		}
	}
}

// channels are the rejoin channels of every stored peer.
func (h *Host) channels() []string {
	var out []string
	for _, p := range h.peers.List() {
		if ch, err := pairing.Channel(p.Token); err == nil {
			out = append(out, ch)
		}
	}
	return out
}

func (h *Host) updateChannels(ctx context.Context) {
	h.umu.Lock()
	defer h.umu.Unlock()
	h.lmu.Lock()
	lst := h.listener
	h.lmu.Unlock()
	if lst != nil {
		if err := lst.SetChannels(ctx, h.channels()); err != nil {
			h.log.Debug("known peers: channels not updated yet", "err", err)
		}
	}
}

// ring handles a known peer's call: allowed peers are taken when the host is
// free; a first call waits for the adviser's decision.
func (h *Host) ring(ctx context.Context, r pairing.Ring) {
	var peer known.Peer
	found := false
	for _, p := range h.peers.List() {
		if ch, err := pairing.Channel(p.Token); err == nil && ch == r.Channel {
			peer, found = p, true
			break
		}
	}
	if !found {
		return
	}
	if peer.Allowed {
		h.take(acceptRing{r, peer})
		return
	}
	h.lmu.Lock()
	h.calling[r.Channel] = callingPeer{r, peer}
	h.lmu.Unlock()
	h.notify()
	h.cfg.OnEvent(Event{Kind: "calling", Peer: peer.Name})
	h.watchers.Go(func() {
		select {
		case <-r.Done():
		case <-ctx.Done():
		}
		h.lmu.Lock()
		if c, ok := h.calling[r.Channel]; ok && c.ring.ID != nil && bytes.Equal(c.ring.ID, r.ID) {
			delete(h.calling, r.Channel)
		}
		h.lmu.Unlock()
		h.notify()
	})
}

// take hands a call to the waiting code loop, if the host is free.
func (h *Host) take(ar acceptRing) {
	h.mu.Lock()
	free := h.phase == PhaseWaiting
	h.mu.Unlock()
	if !free {
		return // busy: the caller hears "unavailable" when the ring expires
	}
	select {
	case h.ringCh <- ar:
	default:
	}
}

// Console actions.

// State is the console's view.
func (h *Host) State() console.State {
	st := h.state()
	st.Known = knownView(h.peers)
	h.lmu.Lock()
	for _, c := range h.calling {
		st.Calling = append(st.Calling, knownPeer(c.peer))
	}
	h.lmu.Unlock()
	return st
}

// Ask asks the client's consent to a record or to screen sharing.
func (h *Host) Ask(what string) error {
	c, err := h.consultation()
	if err != nil {
		return err
	}
	_, err = c.Ask(what)
	return consultErr(err)
}

// Answer is the client's.
func (h *Host) Answer(string, bool) error { return ErrRole }

// SetNotes replaces the adviser's notes.
func (h *Host) SetNotes(text string) error {
	if len(text) > 1<<20 {
		return errors.New("notes are limited to 1 MiB")
	}
	h.mu.Lock()
	h.notes = text
	h.mu.Unlock()
	h.notify()
	return nil
}

// End ends the consultation on both sides; the record is written first.
func (h *Host) End() error {
	return h.requestEnd("the adviser ended the consultation")
}

// New shows a new code after a consultation ended. The phase turns idle
// at once, so that a second New is refused rather than queued for after
// the next consultation.
func (h *Host) New() error {
	h.mu.Lock()
	if h.phase != PhaseEnded && h.phase != PhaseFailed {
		h.mu.Unlock()
		return ErrNotNow
	}
	h.phase, h.errText = PhaseIdle, ""
	h.mu.Unlock()
	h.notify()
	select {
	case h.newCh <- struct{}{}:
	default:
	}
	return nil
}

// AllowPeer decides a known peer's first reconnection.
func (h *Host) AllowPeer(key string, ok bool) error {
	k, err := parseKey(key)
	if err != nil {
		return err
	}
	h.lmu.Lock()
	var call *callingPeer
	for ch, c := range h.calling {
		if c.peer.Key.Equal(k) {
			cc := c
			call = &cc
			delete(h.calling, ch)
		}
	}
	h.lmu.Unlock()
	defer h.notify()
	if !ok {
		if _, known := h.peers.Get(k); call == nil && !known {
			return ErrNotFound
		}
		return nil
	}
	if err := h.peers.Allow(k); err != nil {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	if call != nil {
		call.peer.Allowed = true
		h.take(acceptRing{call.ring, call.peer})
	}
	return nil
}

// RevokePeer forgets a known peer: it needs a code again.
func (h *Host) RevokePeer(key string) error {
	k, err := parseKey(key)
	if err != nil {
		return err
	}
	if err := h.peers.Revoke(k); err != nil {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), updateTimeout)
	defer cancel()
	h.updateChannels(ctx)
	h.notify()
	return nil
}

// updateTimeout bounds waiting for the server to confirm the channels after
// a revocation; the Listener keeps the set and sends it when it can.
const updateTimeout = 10 * time.Second

// Rejoin is the client's.
func (h *Host) Rejoin(string) error { return ErrRole }
