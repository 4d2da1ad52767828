package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/transfer"
	"github.com/direkt/direkt/internal/wire"
)

// filesLabel is the data channel label of a send/receive transfer.
const filesLabel = "files"

func runSend(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("send", env)
	var pf peerFlags
	pf.register(fs, env)
	lang := fs.String("lang", env.Getenv("DIREKT_LANG"), "language of the code words: en or de (default from $LANG)")
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: direkt send [flags] PATH...\n\nSends files and folders to whoever enters the code it prints.\n\n")
		fs.PrintDefaults()
	}
	paths, err := parseInterspersed(fs, args)
	ev := &events{json: pf.json, out: env.Stdout, start: env.Start}
	if err != nil {
		return exitUsage
	}
	if len(paths) == 0 {
		return fail(ev, env, usagef("send needs at least one file or folder"))
	}
	p, err := newPeer(env, pf)
	if err != nil {
		return fail(ev, env, err)
	}
	l, err := codeLang(*lang, env)
	if err != nil {
		return fail(p.ev, env, err)
	}
	if err := p.send(ctx, paths, l); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", errInterrupted, err)
		}
		return fail(p.ev, env, err)
	}
	return exitOK
}

// codeLang picks the word list: the flag, else the locale.
func codeLang(flagValue string, env Env) (code.Lang, error) {
	if flagValue != "" {
		l, err := code.ParseLang(flagValue)
		if err != nil {
			return 0, usagef(fmt.Sprintf("--lang %q: want en or de", flagValue))
		}
		return l, nil
	}
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if s := env.Getenv(v); s != "" {
			if l, err := code.ParseLang(s); err == nil {
				return l, nil
			}
			break
		}
	}
	return code.English, nil
}

func (p *peer) send(ctx context.Context, paths []string, lang code.Lang) error {
	man, err := transfer.Scan(paths)
	if err != nil {
		return err
	}
	server := p.flags.server
	var local *localServer
	if server == "" {
		local, err = startLocalServer(ctx, p.log)
		if err != nil {
			return err
		}
		defer local.Close()
		server = local.URL
	}
	pend, err := pairing.Allocate(ctx, pairing.Options{
		Server: server,
		Dial:   p.net.dial,
		Lang:   lang,
		Hello:  p.hello("send"),
		Logger: p.log,
	})
	if err != nil {
		return err
	}
	c := pend.Code().String()
	if local != nil {
		stop, err := local.Announce(ctx, pend.Code().Nameplate)
		if err != nil {
			pend.Close()
			return err
		}
		defer stop()
	}
	p.ev.emit(EventCode, map[string]any{"code": c})
	p.say("Sending %d file(s), %s. Code:\n\n    %s\n\nOn the other computer run:  direkt receive %s", len(man.Files), formatBytes(man.Total), c, c)
	if local != nil {
		p.say("(No --server given: reachable on this local network only.)")
	}
	pair, err := pend.Wait(ctx)
	if err != nil {
		return err
	}
	defer pair.Close(wire.MoodHappy)
	sess, err := p.connect(ctx, pair)
	if err != nil {
		return err
	}
	defer sess.Close()
	defer p.watchPath(sess)()
	ch, err := sess.Open(ctx, filesLabel)
	if err != nil {
		return err
	}
	defer closeQuietly(ch)
	update, finish := p.progress("sent")
	start := time.Now()
	res, err := transfer.Send(ctx, ch, paths, transfer.SendOptions{Progress: update, Logger: p.log})
	finish()
	if err != nil {
		return err
	}
	p.reportDone(res, time.Since(start), "Sent")
	return nil
}

// reportDone emits the done event and a summary line.
func (p *peer) reportDone(res transfer.Result, took time.Duration, verb string) {
	files := make([]FileEvent, 0, len(res.Files))
	var total int64
	for _, f := range res.Files {
		files = append(files, FileEvent{Name: f.Name, Bytes: f.Size, SHA256: hex.EncodeToString(f.SHA256)})
		total += f.Size
	}
	p.ev.emit(EventDone, map[string]any{"files": files, "resumed": res.Resumed})
	rate := ""
	if secs := took.Seconds(); secs > 0 && total > 0 {
		rate = fmt.Sprintf(", %s/s", formatBytes(int64(float64(total-res.Resumed)/secs)))
	}
	round := 100 * time.Millisecond
	if took < time.Second {
		round = time.Millisecond
	}
	p.say("%s %d file(s), %s in %s%s.", verb, len(files), formatBytes(total), took.Round(round), rate)
}
