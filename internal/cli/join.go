package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/direkt/direkt/internal/app"
	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/console"
	"github.com/direkt/direkt/internal/identity"
	"github.com/direkt/direkt/internal/known"
)

func runJoin(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("join", env)
	var pf peerFlags
	pf.register(fs, env)
	var cf consoleFlags
	cf.register(fs, env)
	rejoin := fs.String("rejoin", "", "reconnect without a code to a known host (its name or key fingerprint); \"list\" lists them")
	keep := fs.Bool("keep", false, "keep the console open after the consultation ended (until Ctrl-C)")
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: direkt join [flags] [CODE]\n\nJoins the consultation of the adviser who gave you the code. Without CODE it is read from stdin.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	// After parsing: ev.json must see --json.
	ev := &events{json: pf.json, out: env.Stdout, start: env.Start}
	if err != nil {
		return exitUsage
	}
	if len(pos) > 1 {
		pos = []string{strings.Join(pos, " ")}
	}
	p, err := newPeer(env, pf)
	if err != nil {
		return fail(ev, env, err)
	}
	if err := p.join(ctx, cf, pos, *rejoin, *keep); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", errInterrupted, err)
		}
		return fail(p.ev, env, err)
	}
	return exitOK
}

func (p *peer) join(ctx context.Context, cf consoleFlags, pos []string, rejoin string, keep bool) error {
	cfg, lang, err := p.appConfig(cf)
	if err != nil {
		return err
	}
	var c code.Code
	var host *known.Peer
	switch {
	case rejoin != "":
		if len(pos) > 0 {
			return usagef("give either a code or --rejoin, not both")
		}
		hosts, err := known.Open(cfg.DataDir, known.HostsFile)
		if err != nil {
			return err
		}
		if rejoin == "list" {
			for _, h := range hosts.List() {
				fmt.Fprintf(p.env.Stdout, "%s\t%s\t%s\n", h.Name, identity.Fingerprint(h.Key), h.Server)
			}
			return nil
		}
		h, err := findHost(hosts.List(), rejoin)
		if err != nil {
			return err
		}
		host = &h
	case len(pos) == 1:
		if c, err = code.Parse(pos[0]); err != nil {
			return err
		}
	default:
		text, err := readCode(p.env)
		if err != nil {
			return err
		}
		if c, err = code.Parse(text); err != nil {
			return err
		}
	}
	if cfg.Server == "" && host == nil {
		if cfg.Server, err = findLocalServer(ctx, c.Nameplate, p.log); err != nil {
			return err
		}
		cfg.Dial = lanDial()
	}
	if host != nil && host.Server != "" {
		cfg.Server = host.Server
	}
	if cfg.Server == "" {
		return usagef("no server to reconnect through: give --server")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg.OnEvent = func(e app.Event) {
		switch e.Kind {
		case "connected":
			p.reportConnected(e.Path, e.Phrase, e.Peer)
		case "ended":
			p.ev.emit(EventEnded, map[string]any{"reason": e.Reason, "record": e.Record})
			p.say("Consultation ended: %s.", e.Reason)
			if e.Record != "" {
				p.say("Your copy of the record (%s) is in %s.", e.Record, cfg.DataDir)
			}
		}
	}
	j, err := app.NewJoin(cfg)
	if err != nil {
		return err
	}
	cons, err := console.New(console.Config{Addr: cf.console, Backend: j, Logger: p.log, Lang: lang.String()})
	if err != nil {
		return err
	}
	p.ev.emit(EventConsole, map[string]any{"console_url": cons.URL()})
	p.openConsole(cons, cf.noBrowser)
	var runErr error
	return runBoth(ctx, cancel, cons, func(ctx context.Context) error {
		if host != nil {
			runErr = j.RunRejoin(ctx, *host)
		} else {
			runErr = j.Run(ctx, c)
		}
		if runErr != nil || !keep {
			return runErr
		}
		// The console stays: it can reconnect to a known host from here.
		p.say("The console stays open (known hosts can be reconnected from it). Press Ctrl-C to close it.")
		for ctx.Err() == nil {
			if err := j.Idle(ctx); err != nil && ctx.Err() == nil {
				p.say("Reconnection failed: %s", sentence(err))
			}
		}
		return nil
	})
}

// findHost picks a known host by name or fingerprint.
func findHost(hosts []known.Peer, which string) (known.Peer, error) {
	var found []known.Peer
	for _, h := range hosts {
		fp := identity.Fingerprint(h.Key)
		if strings.EqualFold(h.Name, which) || fp == which || strings.HasPrefix(fp, which) {
			found = append(found, h)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return known.Peer{}, usagef(fmt.Sprintf("no known host %q (direkt join --rejoin list)", which))
	}
	return known.Peer{}, usagef(fmt.Sprintf("%q matches %d known hosts: give the key fingerprint", which, len(found)))
}
