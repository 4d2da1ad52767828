// Package cli implements the direkt command: its subcommands, their human
// output, the --json event stream and the exit codes. It sits on top of every
// other package and nothing imports it but cmd/direkt.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/direkt/direkt/internal/version"
)

// Env is what a command may touch of the process: its streams, environment
// and clock. Tests run commands in-process with their own Env.
type Env struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// StdinTerminal and StderrTerminal say whether these are terminals
	// (prompts and progress bars); set by Std.
	StdinTerminal, StderrTerminal bool
	// Start is when the process started; t_ms of events counts from it.
	Start time.Time
	// Logger receives diagnostics; nil means a quiet logger on Stderr.
	Logger *slog.Logger
}

// Std is the environment of the real process.
func Std() Env {
	return Env{
		Stdin:          os.Stdin,
		Stdout:         os.Stdout,
		Stderr:         os.Stderr,
		Getenv:         os.Getenv,
		StdinTerminal:  isTerminal(os.Stdin),
		StderrTerminal: isTerminal(os.Stderr),
		Start:          time.Now(),
	}
}

const usageText = `direkt connects two computers directly by a short code.

Usage:
  direkt host [flags]              start a consultation: a code, a join link, the console
  direkt join [flags] [CODE]       join a consultation (or reconnect to a known host)
  direkt send [flags] PATH...      send files or folders; prints a code
  direkt receive [flags] [CODE]    receive with the code from the sender
  direkt server [flags]            run a rendezvous and relay server
  direkt verify [flags] FILE.json  check a signed consultation record and who signed it
  direkt version                   print the version

Run "direkt COMMAND -h" for a command's flags.
`

// Main runs the direkt command with args (without the program name) and
// returns the process exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if env.Start.IsZero() {
		env.Start = time.Now()
	}
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usageText)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var run func(context.Context, []string, Env) int
	switch cmd {
	case "send":
		run = runSend
	case "receive", "recv":
		run = runReceive
	case "server":
		run = runServer
	case "host":
		run = runHost
	case "join":
		run = runJoin
	case "verify":
		run = runVerify
	case "version", "--version":
		fmt.Fprintln(env.Stdout, "direkt", version.Version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(env.Stdout, usageText)
		return exitOK
	default:
		fmt.Fprintf(env.Stderr, "direkt: unknown command %q\n\n%s", cmd, usageText)
		return exitUsage
	}
	return run(ctx, rest, env)
}

// parseInterspersed parses flags that may come before or after the positional
// arguments ("direkt receive CODE --out dir"). "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// Parse stops at the first positional argument or just after "--".
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newFlagSet makes a flag set that reports errors as usage errors.
func newFlagSet(name string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet("direkt "+name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	return fs
}

// fail reports err on the event stream (json) or as one sentence on stderr,
// and returns the exit code.
func fail(ev *events, env Env, err error) int {
	kind, exit := classify(err)
	if errors.Is(err, flag.ErrHelp) {
		return exitUsage
	}
	msg := sentence(err)
	if ev.json {
		ev.emit(EventError, map[string]any{"kind": kind, "message": msg})
	} else {
		fmt.Fprintf(env.Stderr, "direkt: %s\n", msg)
	}
	return exit
}
