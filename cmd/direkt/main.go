// Command direkt connects two computers directly by a short code. It is a thin
// main: everything lives in internal/cli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/direkt/direkt/internal/cli"
)

func main() {
	// The first interrupt cancels the running command, which cleans up (the
	// mailbox is closed, partial files are kept for resume); a second one kills.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Std())
	stop()
	os.Exit(code)
}
