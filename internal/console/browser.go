package console

import (
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"runtime"
	"time"
)

// openers are the programs that open a URL in the user's browser, tried in
// order; the URL is appended as the last argument.
var openers = map[string][][]string{
	"linux":   {{"xdg-open"}, {"sensible-browser"}, {"x-www-browser"}},
	"freebsd": {{"xdg-open"}},
	"openbsd": {{"xdg-open"}},
	"darwin":  {{"open"}},
	"windows": {{"rundll32", "url.dll,FileProtocolHandler"}},
}

// openerGrace is how long OpenBrowser waits for an opener to fail. Openers
// such as xdg-open may run the browser in the foreground; one still running
// after this long is taken to have worked.
const openerGrace = 3 * time.Second

// OpenBrowser opens u, an http or https URL, in the user's browser with the
// system's opener (xdg-open, open, rundll32 url.dll). It returns ErrNoBrowser
// if none exists or all fail, so the caller prints the URL instead, and
// ErrBadURL for anything but an absolute http(s) URL. An opener that is still
// running after a few seconds is left to run; a goroutine waits for it so it
// does not linger as a zombie.
func OpenBrowser(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || len(u) > 8192 {
		return ErrBadURL
	}
	return openWith(openers[runtime.GOOS], u)
}

func openWith(cands [][]string, u string) error {
	var errs []error
	for _, c := range cands {
		path, err := exec.LookPath(c[0])
		if err != nil {
			continue
		}
		cmd := exec.Command(path, append(c[1:len(c):len(c)], u)...)
		if err := cmd.Start(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c[0], err))
			continue
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t := time.NewTimer(openerGrace)
		select {
		case err := <-done:
			t.Stop()
			if err == nil {
				return nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", c[0], err))
		case <-t.C:
			return nil // still running: the browser is up; the goroutine reaps it
		}
	}
	if len(errs) == 0 {
		return fmt.Errorf("%w: no opener found", ErrNoBrowser)
	}
	return fmt.Errorf("%w: %w", ErrNoBrowser, errors.Join(errs...))
}
