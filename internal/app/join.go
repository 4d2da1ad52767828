package app

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/consult"
	"github.com/direkt/direkt/internal/known"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/record"
	"github.com/direkt/direkt/internal/wire"
)

// Join is `direkt join`: a Go client of a consultation, by code or as a
// known peer of a host it met before.
type Join struct {
	*base
	hosts *known.Store

	rejoinCh chan known.Peer // Rejoin was clicked
}

// NewJoin prepares a client; Run or RunRejoin runs it.
func NewJoin(cfg Config) (*Join, error) {
	b, err := newBase(cfg, "client")
	if err != nil {
		return nil, err
	}
	hosts, err := known.Open(cfg.DataDir, known.HostsFile)
	if err != nil {
		return nil, fmt.Errorf("known hosts: %w", err)
	}
	return &Join{base: b, hosts: hosts, rejoinCh: make(chan known.Peer, 1)}, nil
}

// KnownHosts lists the hosts this client may reconnect to.
func (j *Join) KnownHosts() []known.Peer { return j.hosts.List() }

// Run joins by code and returns when the consultation ended.
func (j *Join) Run(ctx context.Context, c code.Code) error {
	j.start()
	j.setPhase(PhasePairing, "")
	opts := pairing.Options{Server: j.cfg.Server, Dial: j.cfg.Dial, Hello: j.hello(), Logger: j.log}
	pair, err := pairing.Claim(ctx, opts, c)
	if err != nil {
		j.setPhase(PhaseFailed, shortErr(err))
		return err
	}
	return j.run(ctx, pair, nil)
}

// RunRejoin reconnects to a known host without a code.
func (j *Join) RunRejoin(ctx context.Context, host known.Peer) error {
	j.start()
	j.setPhase(PhasePairing, "")
	server := host.Server
	if server == "" {
		server = j.cfg.Server
	}
	opts := pairing.Options{Server: server, Dial: j.cfg.Dial, Hello: j.hello(), Logger: j.log}
	pair, err := pairing.Dial(ctx, opts, pairing.Rejoin{Token: host.Token, Self: j.cfg.Key, Peer: host.Key})
	if err != nil {
		j.setPhase(PhaseFailed, shortErr(err))
		return err
	}
	_ = j.hosts.Touch(host.Key, time.Now())
	return j.run(ctx, pair, &host)
}

// start forgets the last consultation, and a Rejoin click this run
// supersedes.
func (j *Join) start() {
	select {
	case <-j.rejoinCh:
	default:
	}
	j.reset()
}

// Idle waits for a Rejoin click in the console (no code given) and runs
// that reconnection; it returns when that consultation ended.
func (j *Join) Idle(ctx context.Context) error {
	select {
	case h := <-j.rejoinCh:
		return j.RunRejoin(ctx, h)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (j *Join) run(ctx context.Context, pair *pairing.Pair, host *known.Peer) error {
	l, err := j.connect(ctx, pair, consult.Client, false)
	if err != nil {
		j.setPhase(PhaseFailed, shortErr(err))
		return err
	}
	var wg sync.WaitGroup
	fctx, cancel := context.WithCancel(ctx)
	wg.Go(func() { j.follow(fctx, l) })
	wg.Go(func() {
		select {
		case reason := <-l.endReq:
			l.cons.End(reason)
		case <-l.cons.Done():
		case <-fctx.Done():
		}
	})
	<-l.cons.Done()
	cancel()
	wg.Wait()
	snap := l.cons.Snapshot()
	if snap.Rejoin != nil && l.peerKey != nil && host == nil {
		// The host offered reconnection without a code: remember it.
		if _, err := j.hosts.Add(known.Peer{Key: l.peerKey, Name: snap.Peer.Name, Token: snap.Rejoin.Token, Server: snap.Rejoin.Server}); err != nil {
			j.log.Warn("known host not stored", "err", err)
		}
	}
	// Record copies arrived as files "<id>.json" and "<id>.pdf"; the store
	// lists those that verify.
	if info, ok := j.receivedRecord(snap); ok {
		j.mu.Lock()
		j.lastRec = &info
		j.mu.Unlock()
	}
	j.mu.Lock()
	reason := j.endReason
	rec := ""
	if j.lastRec != nil {
		rec = j.lastRec.ID
	}
	j.mu.Unlock()
	j.notify()
	j.cfg.OnEvent(Event{Kind: "ended", Reason: reason, Record: rec})
	if snap.EndedBy == 0 && snap.EndReason != "" && ctx.Err() == nil {
		return fmt.Errorf("%w: %s", ErrLost, snap.EndReason)
	}
	return nil
}

// receivedRecord finds the record copy this consultation brought among the
// verified records of the store.
func (j *Join) receivedRecord(snap consult.Snapshot) (record.Info, bool) {
	ids := make(map[string]bool)
	for _, f := range snap.Files {
		if f.Kind == consult.KindRecord && f.State == consult.FileDone && f.From == consult.Host {
			ids[strings.TrimSuffix(f.Name, filepath.Ext(f.Name))] = true
		}
	}
	if len(ids) == 0 {
		return record.Info{}, false
	}
	infos, err := j.store.List("")
	if err != nil {
		j.log.Warn("records not listed", "err", err)
		return record.Info{}, false
	}
	for _, info := range infos {
		if ids[info.ID] {
			return info, true
		}
	}
	return record.Info{}, false
}

func (j *Join) hello() wire.Signal {
	return wire.Signal{Name: j.cfg.Name, ID: j.cfg.Key.Public().(ed25519.PublicKey), App: wire.AppConsult, Path: j.cfg.Policy.String(), Screen: wire.ScreenVersion}
}

// Console actions.

// State is the console's view.
func (j *Join) State() console.State {
	st := j.state()
	st.Known = knownView(j.hosts)
	return st
}

// Ask is the host's.
func (j *Join) Ask(string) error { return ErrRole }

// Answer answers the host's consent request.
func (j *Join) Answer(id string, ok bool) error {
	c, err := j.consultation()
	if err != nil {
		return err
	}
	return consultErr(c.Answer(id, ok))
}

// SetNotes is the host's.
func (j *Join) SetNotes(string) error { return ErrRole }

// End ends the consultation on both sides.
func (j *Join) End() error {
	return j.requestEnd("the client ended the consultation")
}

// New is the host's.
func (j *Join) New() error { return ErrRole }

// AllowPeer is the host's.
func (j *Join) AllowPeer(string, bool) error { return ErrRole }

// RevokePeer forgets a known host.
func (j *Join) RevokePeer(key string) error {
	k, err := parseKey(key)
	if err != nil {
		return err
	}
	if err := j.hosts.Revoke(k); err != nil {
		return fmt.Errorf("%w: %v", ErrNotFound, err)
	}
	j.notify()
	return nil
}

// Rejoin reconnects to a known host (when idle).
func (j *Join) Rejoin(key string) error {
	k, err := parseKey(key)
	if err != nil {
		return err
	}
	h, ok := j.hosts.Get(k)
	if !ok {
		return ErrNotFound
	}
	// The phase turns to pairing at once, so that a second click is
	// refused rather than queued for after this reconnection.
	j.mu.Lock()
	if j.phase == PhasePairing || j.phase == PhaseConnected {
		j.mu.Unlock()
		return ErrNotNow
	}
	j.phase, j.errText = PhasePairing, ""
	j.mu.Unlock()
	j.notify()
	select {
	case j.rejoinCh <- h:
	default:
	}
	return nil
}
