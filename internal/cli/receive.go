package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/direkt/direkt/internal/code"
	"github.com/direkt/direkt/internal/pairing"
	"github.com/direkt/direkt/internal/transfer"
	"github.com/direkt/direkt/internal/wire"
)

// claimTimeout bounds finding the server and pairing with the sender, who is
// already waiting when the receiver types the code.
const claimTimeout = time.Minute

func runReceive(ctx context.Context, args []string, env Env) int {
	fs := newFlagSet("receive", env)
	var pf peerFlags
	pf.register(fs, env)
	out := fs.String("out", ".", "folder to save into")
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "Usage: direkt receive [flags] [CODE]\n\nReceives what the sender offers. Without CODE it is read from stdin.\n\n")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	ev := &events{json: pf.json, out: env.Stdout, start: env.Start}
	if err != nil {
		return exitUsage
	}
	if len(pos) > 1 {
		// "direkt receive 47 nordsee tulpe" is one code typed with spaces.
		pos = []string{strings.Join(pos, " ")}
	}
	p, err := newPeer(env, pf)
	if err != nil {
		return fail(ev, env, err)
	}
	var text string
	if len(pos) == 1 {
		text = pos[0]
	} else {
		text, err = readCode(env)
		if err != nil {
			return fail(p.ev, env, err)
		}
	}
	c, err := code.Parse(text)
	if err != nil {
		return fail(p.ev, env, err)
	}
	if err := p.receive(ctx, c, *out); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w: %w", errInterrupted, err)
		}
		return fail(p.ev, env, err)
	}
	return exitOK
}

// readCode prompts on a terminal, or reads the first line of stdin.
func readCode(env Env) (string, error) {
	if env.StdinTerminal {
		fmt.Fprint(env.Stderr, "Enter the code: ")
	}
	line, err := bufio.NewReader(io.LimitReader(env.Stdin, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return "", usagef("no code given: pass it as an argument or on stdin")
	}
	return line, nil
}

func (p *peer) receive(ctx context.Context, c code.Code, outDir string) error {
	if err := checkOutDir(outDir); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	server, dial := p.flags.server, p.net.dial
	if server == "" {
		var err error
		server, err = findLocalServer(cctx, c.Nameplate, p.log)
		if err != nil {
			return err
		}
		dial = lanDial()
	}
	pair, err := pairing.Claim(cctx, pairing.Options{
		Server: server,
		Dial:   dial,
		Hello:  p.hello("send"),
		Logger: p.log,
	}, c)
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
	actx, acancel := context.WithTimeout(ctx, connectTimeout)
	ch, err := sess.Accept(actx)
	acancel()
	if err != nil {
		return err
	}
	defer closeQuietly(ch)
	update, finish := p.progress("received")
	start := time.Now()
	res, err := transfer.Receive(ctx, ch, outDir, transfer.ReceiveOptions{
		Progress: update,
		Logger:   p.log,
		Accept: func(m transfer.Manifest) error {
			p.say("Receiving %d file(s), %s into %s", len(m.Files), formatBytes(m.Total), outDir)
			return nil
		},
	})
	finish()
	if err != nil {
		return err
	}
	p.reportDone(res, time.Since(start), "Received")
	return nil
}

func checkOutDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if !fi.IsDir() {
		return usagef(fmt.Sprintf("--out %s is not a folder", dir))
	}
	return nil
}
