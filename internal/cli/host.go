package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"sync"

	"github.com/direkt/direkt/internal/app"
	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/console"
)

// consoleFlags are what host and join share beyond peerFlags.
type consoleFlags struct {
	console   string
	noBrowser bool
	lang      string
	data      string
}

func (c *consoleFlags) register(fs *flag.FlagSet, env Env) {
	fs.StringVar(&c.console, "console", "", "console address (default 127.0.0.1 on a random port)")
	fs.BoolVar(&c.noBrowser, "no-browser", false, "do not open the console in the browser")
	fs.StringVar(&c.lang, "lang", env.Getenv("DIREKT_LANG"), "language of the code words and the console: en or de (default from $LANG)")
	fs.StringVar(&c.data, "data", "", "data folder for records, received files and known peers (default: the user's data folder)")
}

func runHost(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("host", env)
	var pf peerFlags
	pf.register(fs, env)
	var cf consoleFlags
	cf.register(fs, env)
	noRecord := fs.Bool("no-record", false, "do not ask the client to agree to a consultation record")
	once := fs.Bool("once", false, "exit when the first consultation has ended")
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: direkt host [flags]\n\nStarts a consultation: shows a code and a join link for the client, and the console.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	// After parsing: ev.json must see --json.
	ev := &events{json: pf.json, out: env.Stdout, start: env.Start}
	if err != nil {
		return exitUsage
	}
	if len(pos) > 0 {
		return fail(ev, env, usagef(fmt.Sprintf("host takes no arguments, got %q", pos[0])))
	}
	p, err := newPeer(env, pf)
	if err != nil {
		return fail(ev, env, err)
	}
	if err := p.host(ctx, cf, !*noRecord, *once); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", errInterrupted, err)
		}
		return fail(p.ev, env, err)
	}
	return exitOK
}

// appConfig is what host and join configure alike.
func (p *peer) appConfig(cf consoleFlags) (app.Config, code.Lang, error) {
	lang, err := codeLang(cf.lang, p.env)
	if err != nil {
		return app.Config{}, 0, err
	}
	dir := cf.data
	if dir == "" {
		if dir, err = app.DataDir(p.env.Getenv); err != nil {
			return app.Config{}, 0, err
		}
	}
	name := p.hello("").Name
	return app.Config{
		Server:          p.flags.server,
		Name:            name,
		Lang:            lang,
		Key:             p.key,
		DataDir:         dir,
		Policy:          p.policy,
		IncludeLoopback: p.flags.loopback,
		ICEServers:      p.ice,
		Dial:            p.net.dial,
		TURNDial:        p.net.turn,
		Logger:          p.log,
	}, lang, nil
}

func (p *peer) host(ctx context.Context, cf consoleFlags, askRecord, once bool) error {
	cfg, lang, err := p.appConfig(cf)
	if err != nil {
		return err
	}
	cfg.AskRecord = askRecord
	if cfg.Server == "" {
		local, err := startLocalServer(ctx, p.log)
		if err != nil {
			return err
		}
		defer local.Close()
		cfg.Server, cfg.JoinBase, cfg.Announce = local.URL, local.JoinBase, local.Announce
	} else {
		cfg.RejoinServer = cfg.Server
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var cons *console.Server
	var consoleURL string
	cfg.OnEvent = func(e app.Event) {
		switch e.Kind {
		case "code":
			p.ev.emit(EventCode, map[string]any{"code": e.Code, "join_url": e.JoinURL, "console_url": consoleURL})
			p.say("\nCode for the client:  %s\nJoin link:            %s\n", e.Code, e.JoinURL)
			if !p.flags.json {
				if qr := console.QRCodeText(e.JoinURL); qr != "" {
					fmt.Fprintln(p.env.Stderr, qr)
				}
			}
			if cfg.JoinBase != "" {
				p.say("(No --server given: the client must be on this local network.)")
			}
		case "connected":
			p.reportConnected(e.Path, e.Phrase, e.Peer)
		case "ended":
			p.ev.emit(EventEnded, map[string]any{"reason": e.Reason, "record": e.Record})
			p.say("Consultation ended: %s.", e.Reason)
			if e.Record != "" {
				p.say("Record %s saved in %s.", e.Record, cfg.DataDir)
			}
			if once {
				cancel()
			}
		case "calling":
			p.say("%s wants to reconnect without a code: allow or deny in the console.", e.Peer)
		}
	}
	h, err := app.NewHost(cfg)
	if err != nil {
		return err
	}
	cons, err = console.New(console.Config{Addr: cf.console, Backend: h, Logger: p.log, Lang: lang.String()})
	if err != nil {
		return err
	}
	consoleURL = cons.URL()
	p.openConsole(cons, cf.noBrowser)
	return runBoth(ctx, cancel, cons, h.Run)
}

// openConsole prints the console's address and opens it in the browser.
// The browser gets the address through a page only this user can read, never
// on a command line (console.Server.OpenBrowser).
func (p *peer) openConsole(cons *console.Server, noBrowser bool) {
	p.say("Console: %s", cons.URL())
	if noBrowser {
		return
	}
	if err := cons.OpenBrowser(); err != nil {
		p.log.Debug("console not opened in the browser", "err", err)
		p.say("(Open the console address in your browser.)")
	}
}

// runBoth serves the console while run runs; when either ends, both stop.
func runBoth(ctx context.Context, cancel context.CancelFunc, cons *console.Server, run func(context.Context) error) error {
	var wg sync.WaitGroup
	var consErr error
	wg.Go(func() {
		consErr = cons.Serve(ctx)
		cancel()
	})
	err := run(ctx)
	cancel()
	wg.Wait()
	if err == nil && consErr != nil && !errors.Is(consErr, http.ErrServerClosed) {
		err = consErr
	}
	return err
}
