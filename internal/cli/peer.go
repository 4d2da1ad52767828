package cli

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/direkt/direkt/internal/app"
	"github.com/direkt/direkt/internal/identity"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/session"
	"github.com/direkt/direkt/internal/wire"
)

// connectTimeout bounds ICE, DTLS, SCTP and channel binding after pairing.
const connectTimeout = 30 * time.Second

// peerFlags are the flags every peer command shares.
type peerFlags struct {
	server  string
	json    bool
	path    string
	name    string
	verbose bool
	// loopback gathers loopback candidates; for same-host tests only.
	loopback bool
	ice      iceFlags
	net      netFlags
}

func (p *peerFlags) register(fs *flag.FlagSet, env Env) {
	fs.StringVar(&p.server, "server", env.Getenv("DIREKT_SERVER"), "rendezvous server URL (default $DIREKT_SERVER; none: the local network)")
	fs.BoolVar(&p.json, "json", false, "print one JSON event per line on stdout")
	fs.StringVar(&p.path, "path", "auto", "connection path: auto, direct or relay")
	fs.StringVar(&p.name, "name", "", "your name as the other side sees it (default: host name)")
	fs.BoolVar(&p.verbose, "v", false, "log diagnostics to stderr")
	fs.BoolVar(&p.loopback, "loopback", env.Getenv("DIREKT_LOOPBACK") == "1", "also use loopback addresses (testing on one machine)")
	p.ice.register(fs, env)
	p.net.register(fs, env)
}

// peer is the state a send or receive run builds up.
type peer struct {
	env    Env
	flags  peerFlags
	ev     *events
	log    *slog.Logger
	policy session.Policy
	key    ed25519.PrivateKey
	ice    iceOverride // nil: the rendezvous's ICE servers
	net    netConfig
}

func newPeer(env Env, f peerFlags) (*peer, error) {
	policy, err := session.ParsePolicy(f.path)
	if err != nil {
		return nil, usagef(fmt.Sprintf("--path %q: want auto, direct or relay", f.path))
	}
	ice, err := f.ice.override()
	if err != nil {
		return nil, err
	}
	nc, err := f.net.build(env)
	if err != nil {
		return nil, err
	}
	p := &peer{
		env:    env,
		flags:  f,
		ev:     &events{json: f.json, out: env.Stdout, start: env.Start},
		policy: policy,
		ice:    ice,
		net:    nc,
	}
	p.log = env.Logger
	if p.log == nil {
		level := slog.LevelWarn
		if f.verbose {
			level = slog.LevelDebug
		}
		p.log = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
	}
	dir := env.Getenv("DIREKT_HOME")
	if dir == "" {
		dir, err = identity.Dir()
	}
	if err == nil {
		p.key, err = identity.LoadOrCreate(dir)
	}
	if err != nil {
		// A missing identity must not stop a file transfer: use a key for this run.
		p.log.Warn("no long-term identity; using a one-time key", "err", err)
		_, p.key, _ = ed25519.GenerateKey(nil)
	}
	return p, nil
}

// say prints a line for a person (human mode only).
func (p *peer) say(format string, args ...any) {
	if p.flags.json {
		return
	}
	fmt.Fprintf(p.env.Stderr, format+"\n", args...)
}

func (p *peer) hello(app string) wire.Signal {
	name := p.flags.name
	if name == "" {
		name, _ = os.Hostname()
	}
	return wire.Signal{
		Name: name,
		ID:   p.key.Public().(ed25519.PublicKey),
		App:  app,
		Path: p.flags.path,
	}
}

// connect builds the session over a finished pairing and reports it. On
// failure it leaves the mailbox (mood errory).
func (p *peer) connect(ctx context.Context, pair *pairing.Pair) (*session.Session, error) {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	pair.ICEServers = p.ice.apply(pair.ICEServers)
	s, err := app.ConnectSession(cctx, pair, p.policy, p.flags.loopback, p.net.turn, p.log)
	if err != nil {
		return nil, err
	}
	p.reportConnected(s.Path(), pair.Phrase, pair.Peer.Name)
	return s, nil
}

// reportConnected emits the connected event and tells the person.
func (p *peer) reportConnected(path session.Path, phrase, peerName string) {
	p.ev.emit(EventConnected, map[string]any{
		"path":   path.Kind(),
		"local":  path.Local,
		"remote": path.Remote,
		"proto":  path.Proto,
		"phrase": phrase,
		"peer":   peerName,
	})
	how := "directly"
	if !path.Direct {
		how = "through the relay"
	}
	p.say("Connected %s to %q (%s↔%s over %s).", how, peerName, path.Local, path.Remote, path.Proto)
	p.say("Check phrase: %s   (compare it with the other side by voice)", phrase)
}

// progress returns the transfer progress callback: events in json mode, a bar
// or plain lines for a person.
func (p *peer) progress(verb string) (func(done, total int64), func()) {
	if p.flags.json {
		var last time.Time
		var lastDone int64 = -1
		return func(done, total int64) {
				now := time.Now()
				if done != total && now.Sub(last) < 250*time.Millisecond {
					return
				}
				if done == lastDone {
					return
				}
				last, lastDone = now, done
				p.ev.emit(EventProgress, map[string]any{"bytes": done, "total": total})
			}, func() {
			}
	}
	bar := newProgressBar(p.env.Stderr, p.env.StderrTerminal, verb)
	return bar.update, bar.finish
}

// closeQuietly closes c and ignores the error: used on paths that already fail.
func closeQuietly(c io.Closer) { _ = c.Close() }
