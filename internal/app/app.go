package app

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/consult"
	"github.com/direkt/direkt/internal/identity"
	"github.com/direkt/direkt/internal/known"
	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/record"
	"github.com/direkt/direkt/internal/screen"
	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/wire"
)

// connectTimeout bounds ICE, DTLS, SCTP and channel binding after pairing.
const connectTimeout = 30 * time.Second

// Config configures a Host or a Join.
type Config struct {
	// Server is the rendezvous URL. Required.
	Server string
	// Dial is passed to the mailbox client; nil means defaults.
	Dial *mailbox.DialOptions
	// TURNDial is passed to every session: how TURN over TCP and TLS is
	// reached (private CA roots, a proxy). nil means pion's direct dialing.
	TURNDial *session.TURNDial
	// JoinBase is the base of browser join links, ending in "/j/"; "" means
	// Server + "/j/" (host only).
	JoinBase string
	// Announce makes a nameplate findable on the local network (host with
	// an embedded server); nil means no announcement.
	Announce func(ctx context.Context, nameplate string) (stop func(), err error)
	// RejoinServer is the rendezvous URL known peers reconnect through; ""
	// means no reconnection without a code (an embedded LAN server moves
	// with every run).
	RejoinServer string
	// Name is this peer's name for the other side. "" means "direkt".
	Name string
	// Lang is the language of the code words and of the console.
	Lang code.Lang
	// Key is this peer's long-term identity. Required.
	Key ed25519.PrivateKey
	// DataDir holds records, received files and known peers. Required.
	DataDir string
	// Policy and IncludeLoopback are passed to the session.
	Policy          session.Policy
	IncludeLoopback bool
	// ICEServers picks each session's STUN/TURN servers given those the
	// rendezvous issued (the CLI's --ice-server). nil means the issued ones.
	ICEServers func(issued []wire.ICEServer) []wire.ICEServer
	// AskRecord makes the host ask the client's consent to a record at
	// the start of every consultation.
	AskRecord bool
	// Logger receives diagnostics; nil means slog.Default().
	Logger *slog.Logger
	// OnEvent is told of codes, connections and ends (the CLI's --json
	// events and lines). It is called from the peer's goroutines and must
	// not block. nil means nobody listens.
	OnEvent func(Event)
}

// Event is something the CLI reports.
type Event struct {
	// Kind is "code", "connected", "ended", "calling" or "transcript".
	Kind string
	// Code and JoinURL: kind code.
	Code, JoinURL string
	// Path, Phrase and Peer: kind connected (Peer also for calling).
	Path   session.Path
	Phrase string
	Peer   string
	// Reason and Record: kind ended (Record is the record's id, if any).
	// Reason, kind transcript: a side's share of the transcript is nearly
	// full, or the other side's messages are being cut (one sentence).
	Reason string
	Record string
}

func (c *Config) check() error {
	switch {
	case c.Server == "":
		return errors.New("app: no rendezvous server")
	case len(c.Key) != ed25519.PrivateKeySize:
		return errors.New("app: no identity key")
	case c.DataDir == "":
		return errors.New("app: no data folder")
	}
	if c.Name == "" {
		c.Name = "direkt"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OnEvent == nil {
		c.OnEvent = func(Event) {}
	}
	return nil
}

// Phases of console.State.
const (
	PhaseIdle      = "idle"
	PhaseWaiting   = "waiting"
	PhasePairing   = "pairing"
	PhaseConnected = "connected"
	PhaseEnded     = "ended"
	PhaseFailed    = "failed"
)

// live is the consultation in progress (or the last one, after its end).
type live struct {
	pair    *pairing.Pair
	sess    *session.Session
	cons    *consult.Consultation
	peerKey ed25519.PublicKey // nil for a browser
	path    *session.Path
	phrase  string
	// scr forwards screen sharing's media (screen.go); its Attach follows
	// sess across rebuilt connections.
	scr   *screen.Service
	ended bool // guarded by base.mu
	// endReq carries End's reason to the goroutine that runs this
	// consultation. It belongs to this consultation, so that a late or
	// repeated End never reaches the next one.
	endReq chan string
}

// base is what Host and Join share: configuration, state and the console
// actions that work the same for both roles.
type base struct {
	cfg   Config
	role  string
	log   *slog.Logger
	store *record.Store
	notifier

	mu        sync.Mutex
	phase     string
	errText   string
	code      string
	joinURL   string
	cur       *live
	notes     string
	lastRec   *record.Info
	endReason string
	started   time.Time
	ended     time.Time
}

func newBase(cfg Config, role string) (*base, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	st, err := record.OpenStore(filepath.Join(cfg.DataDir, "records"))
	if err != nil {
		return nil, fmt.Errorf("records: %w", err)
	}
	return &base{cfg: cfg, role: role, log: cfg.Logger, store: st, phase: PhaseIdle}, nil
}

func (b *base) setPhase(phase, errText string) {
	b.mu.Lock()
	b.phase, b.errText = phase, errText
	b.mu.Unlock()
	b.notify()
}

// consultation returns the running consultation, or ErrNotNow.
func (b *base) consultation() (*consult.Consultation, error) {
	l, err := b.running()
	if err != nil {
		return nil, err
	}
	return l.cons, nil
}

// running returns the running consultation, or ErrNotNow.
func (b *base) running() (*live, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur == nil || b.cur.cons == nil || b.cur.ended {
		return nil, ErrNotNow
	}
	return b.cur, nil
}

// requestEnd asks the goroutine running the consultation to end it with
// reason. Repeated requests coalesce.
func (b *base) requestEnd(reason string) error {
	l, err := b.running()
	if err != nil {
		return err
	}
	select {
	case l.endReq <- reason:
	default:
	}
	return nil
}

// reset forgets the last consultation before the next one starts.
func (b *base) reset() {
	b.mu.Lock()
	b.cur, b.code, b.joinURL, b.notes, b.lastRec = nil, "", "", "", nil
	b.endReason, b.started, b.ended = "", time.Time{}, time.Time{}
	b.mu.Unlock()
}

// consultErr maps the consultation's refusals onto what the console
// answers: an action after the end is ErrNotNow (409), an unknown id
// ErrNotFound (404).
func consultErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, consult.ErrEnded):
		return fmt.Errorf("%w: %w", ErrNotNow, err)
	case errors.Is(err, consult.ErrUnknownID):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// ConnectSession builds the session over a finished pairing; ctx bounds the
// setup. Either side may insist on the relay: a peer whose hello asks for it
// gets it on both ends, so that both report the same path. On failure it
// leaves the mailbox (mood errory).
func ConnectSession(ctx context.Context, pair *pairing.Pair, policy session.Policy, loopback bool, turnDial *session.TURNDial, log *slog.Logger) (*session.Session, error) {
	sess, err := session.Connect(ctx, sessionConfig(pair, policy, loopback, turnDial, log))
	if err != nil {
		pair.Close(wire.MoodErrory)
		return nil, err
	}
	return sess, nil
}

// sessionConfig is the session's configuration over pair. A browser peer
// (its hello has no long-term key) gets a resumable session: it may ask
// for a new connection when its DTLS transport failed (docs/protocol.md,
// section 5.2).
func sessionConfig(pair *pairing.Pair, policy session.Policy, loopback bool, turnDial *session.TURNDial, log *slog.Logger) session.Config {
	if pair.Peer.Path == wire.PathRelay {
		policy = session.PolicyRelay
	}
	// A browser asks for an ICE restart when its path goes
	// (docs/protocol.md, section 5.1); the host restarts only then, so
	// that a join page that answers one offer only (an older server's)
	// never has its path cut while it may yet recover.
	browser := len(pair.Peer.ID) == 0
	return session.Config{
		// A video transceiver for screen sharing (docs/screen.md) when
		// the other side of a consultation can show a screen; both hellos
		// say so, ours always.
		Video:            pair.Peer.App == wire.AppConsult && pair.Peer.CanScreen(),
		Role:             pair.Role,
		Signaller:        pair,
		ICEServers:       pair.ICEServers,
		Policy:           policy,
		BindingKey:       pair.Keys.Binding,
		IncludeLoopback:  loopback,
		Logger:           log,
		RestartOnRequest: browser,
		Resumable:        browser,
		TURNDial:         turnDial,
	}
}

// connect builds the session over a pairing and starts the consultation.
func (b *base) connect(ctx context.Context, pair *pairing.Pair, role consult.Role, askRecord bool) (*live, error) {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	if b.cfg.ICEServers != nil {
		pair.ICEServers = b.cfg.ICEServers(pair.ICEServers)
	}
	sess, err := ConnectSession(cctx, pair, b.cfg.Policy, b.cfg.IncludeLoopback, b.cfg.TURNDial, b.log)
	if err != nil {
		return nil, err
	}
	path := sess.Path()
	cons, err := consult.Start(cctx, sess, consult.Config{
		Role:      role,
		Name:      b.cfg.Name,
		Lang:      b.cfg.Lang.String(),
		DataDir:   b.cfg.DataDir,
		AskRecord: askRecord,
		Logger:    b.log,
		// A browser client's consultation outlives a connection that
		// has to be rebuilt (resume.go).
		Resumable: role == consult.Host && len(pair.Peer.ID) == 0,
	})
	if err != nil {
		sess.Close()
		pair.Close(wire.MoodErrory)
		return nil, err
	}
	l := &live{pair: pair, sess: sess, cons: cons, path: &path, phrase: pair.Phrase, endReq: make(chan string, 1)}
	b.newScreen(l)
	if len(pair.Peer.ID) == ed25519.PublicKeySize {
		l.peerKey = ed25519.PublicKey(pair.Peer.ID)
	}
	b.mu.Lock()
	b.cur = l
	b.phase, b.errText = PhaseConnected, ""
	b.started, b.ended, b.endReason = time.Now(), time.Time{}, ""
	b.mu.Unlock()
	b.notify()
	b.cfg.OnEvent(Event{Kind: "connected", Path: path, Phrase: pair.Phrase, Peer: pair.Peer.Name})
	return l, nil
}

// follow forwards the consultation's changes until it is done, then closes
// the session and the mailbox.
func (b *base) follow(ctx context.Context, l *live) {
	var rw sync.WaitGroup
	defer rw.Wait() // after cancel: the resumer ends with fctx
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rw.Go(func() { b.keepUp(fctx, l) })
	changed := l.cons.Changed(fctx)
	// The consultation may have changed between connect and this
	// subscription (an answer, a chat): the console must hear of it.
	b.notify()
	gateScreen(l)
	var warned warnings
	for {
		select {
		case _, ok := <-changed:
			if !ok {
				changed = nil // closed with fctx: ctx.Done is ready too
			}
			b.notify()
			gateScreen(l)
			hs, cs := l.cons.Shares()
			b.warnShares(hs, cs, &warned)
			continue
		case <-l.cons.Done():
		case <-ctx.Done():
			l.cons.End("")
			<-l.cons.Done()
		}
		break
	}
	snap := l.cons.Snapshot()
	cancel()
	rw.Wait()
	l.scr.Close()
	b.mu.Lock()
	sess := l.sess
	b.mu.Unlock()
	sess.Close()
	l.pair.Close(wire.MoodHappy)
	b.mu.Lock()
	l.ended = true
	b.phase = PhaseEnded
	b.ended = time.Now()
	b.endReason = endReason(snap)
	b.mu.Unlock()
	b.notify()
}

// warnings are the transcript warnings already given, by side: nearly
// full, and cutting.
type warnings struct{ full, cut [2]bool }

// warnShares tells OnEvent once per side when its share of the transcript
// is nearly full and when the other side starts cutting it; the console
// shows the same from State.Shares.
func (b *base) warnShares(host, client consult.Share, w *warnings) {
	for i, sh := range []consult.Share{host, client} {
		who := [2]string{"the adviser's", "the client's"}[i]
		if sh.Warn() && !w.full[i] {
			w.full[i] = true
			b.cfg.OnEvent(Event{Kind: "transcript", Reason: fmt.Sprintf("%s messages fill %d %% of the %d MiB they may take in the record", who, sh.Used*100/sh.Max, sh.Max>>20)})
		}
		if sh.Cut > 0 && !w.cut[i] {
			w.cut[i] = true
			b.cfg.OnEvent(Event{Kind: "transcript", Reason: fmt.Sprintf("%s share of the transcript is full: %s further messages are not kept or recorded", who, who)})
		}
	}
}

func endReason(s consult.Snapshot) string {
	switch {
	case s.EndedBy == consult.Host && s.EndReason == "":
		return "the adviser ended the consultation"
	case s.EndedBy == consult.Client && s.EndReason == "":
		return "the client ended the consultation"
	}
	return s.EndReason
}

// State builds the console's view.
func (b *base) state() console.State {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := console.State{
		Role:      b.role,
		Self:      console.Participant{Name: b.cfg.Name, Role: b.role, Fingerprint: identity.Fingerprint(b.cfg.Key.Public().(ed25519.PublicKey)), Agent: "direkt"},
		Lang:      b.cfg.Lang.String(),
		Phase:     b.phase,
		Error:     b.errText,
		Code:      b.code,
		JoinURL:   b.joinURL,
		Notes:     b.notes,
		Started:   b.started,
		Ended:     b.ended,
		EndReason: b.endReason,
	}
	if b.lastRec != nil {
		st.Record = recordInfo(*b.lastRec)
	}
	l := b.cur
	if l == nil {
		return st
	}
	st.Phrase = l.phrase
	if l.path != nil {
		st.Path = &console.Path{Kind: l.path.Kind(), Local: l.path.Local, Remote: l.path.Remote, Proto: l.path.Proto}
	}
	snap := l.cons.Snapshot()
	peer := console.Participant{Name: snap.Peer.Name, Role: snap.Peer.Role.String(), Agent: snap.Peer.Agent}
	if l.peerKey != nil {
		peer.Fingerprint = identity.Fingerprint(l.peerKey)
	}
	st.Peer = &peer
	st.Recording = snap.Recording
	st.Screen = screenState(l, snap)
	for _, sh := range []struct {
		from string
		s    consult.Share
	}{{"host", snap.HostShare}, {"client", snap.ClientShare}} {
		if sh.s.Warn() {
			st.Shares = append(st.Shares, console.Share{From: sh.from, Used: sh.s.Used, Max: sh.s.Max, Cut: sh.s.Cut, CutBytes: sh.s.CutBytes, CutSince: sh.s.CutSince.UTC()})
		}
	}
	names := map[consult.Role]string{snap.Self.Role: b.cfg.Name, snap.Peer.Role: snap.Peer.Name}
	for _, m := range snap.Chat {
		st.Chat = append(st.Chat, console.ChatMessage{ID: m.ID, From: m.From.String(), Name: names[m.From], Text: m.Text, At: m.At.UTC()})
	}
	for _, a := range snap.Asks {
		st.Asks = append(st.Asks, console.Ask{ID: a.ID, What: a.What, Name: a.Name, Size: a.Size, State: string(a.State), AskedAt: a.AskedAt.UTC(), AnsweredAt: a.AnsweredAt.UTC()})
	}
	for _, f := range snap.Files {
		st.Files = append(st.Files, console.File{ID: f.ID, From: f.From.String(), Name: f.Name, Size: f.Size, SHA256: f.SHA256, Kind: f.Kind, State: string(f.State), Done: f.Done, At: f.At.UTC(), Error: f.Error, Resent: f.Resent})
	}
	return st
}

func recordInfo(i record.Info) *console.RecordInfo {
	return &console.RecordInfo{ID: i.ID, Client: i.Client, Host: i.Host, Start: i.Start, End: i.End, Summary: i.Summary}
}

// Console actions both roles share.

// Chat sends a chat message.
func (b *base) Chat(text string) error {
	c, err := b.consultation()
	if err != nil {
		return err
	}
	return consultErr(c.Chat(text))
}

// SendFile offers a file to the other side.
func (b *base) SendFile(name string, size int64, r io.Reader) error {
	c, err := b.consultation()
	if err != nil {
		return err
	}
	_, err = c.SendFile(name, size, r)
	return consultErr(err)
}

// OpenFile opens a file of the current (or last) consultation.
func (b *base) OpenFile(id string) (string, io.ReadSeekCloser, error) {
	b.mu.Lock()
	l := b.cur
	b.mu.Unlock()
	if l == nil {
		return "", nil, ErrNotFound
	}
	name, f, err := l.cons.OpenFile(id)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return name, f, nil
}

// Records lists stored records.
func (b *base) Records(query string) ([]console.RecordInfo, error) {
	infos, err := b.store.List(query)
	if err != nil {
		return nil, err
	}
	out := make([]console.RecordInfo, 0, len(infos))
	for _, i := range infos {
		out = append(out, *recordInfo(i))
	}
	return out, nil
}

// OpenRecord opens a record's pdf or json.
func (b *base) OpenRecord(id, format string) (string, io.ReadSeekCloser, error) {
	name, f, err := b.store.Open(id, format)
	if err != nil {
		if errors.Is(err, record.ErrNotFound) || errors.Is(err, record.ErrBadID) || errors.Is(err, record.ErrUnknownFormat) {
			return "", nil, fmt.Errorf("%w: %v", ErrNotFound, err)
		}
		return "", nil, err
	}
	return name, f, nil
}

// Changed is the console's change feed.
func (b *base) Changed(ctx context.Context) <-chan struct{} { return b.notifier.Changed(ctx) }

// knownView lists a known store for the console.
func knownView(st *known.Store) []console.KnownPeer {
	if st == nil {
		return nil
	}
	var out []console.KnownPeer
	for _, p := range st.List() {
		out = append(out, knownPeer(p))
	}
	return out
}

func knownPeer(p known.Peer) console.KnownPeer {
	return console.KnownPeer{
		Key:         known.KeyString(p.Key),
		Name:        p.Name,
		Fingerprint: identity.Fingerprint(p.Key),
		Added:       p.Added,
		LastSeen:    p.LastSeen,
		Allowed:     p.Allowed,
	}
}

// parseKey reads a console key id.
func parseKey(s string) (ed25519.PublicKey, error) {
	k, err := known.ParseKey(s)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	return k, nil
}

// shortErr is one sentence for the console.
func shortErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, "\n"); i >= 0 {
		s = s[:i]
	}
	return s
}
