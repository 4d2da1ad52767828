package console

import (
	"errors"
	"fmt"
	"html"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// openers are the programs that open a file in the user's browser, tried in
// order; the file's URL is appended as the last argument.
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

// launcherName is the page OpenBrowser writes in its private folder.
const launcherName = "open.html"

// OpenBrowser opens the console in the user's browser with the system's
// opener (xdg-open, open, rundll32 url.dll) without putting the token on
// any command line, where every local user could read it (ps,
// /proc/PID/cmdline). Like Jupyter, it writes a page that only this user
// can read — mode 0600, in a folder of its own with mode 0700 under
// Config.LaunchDir — which takes the browser on to URL, and hands the
// opener that file's file:// URL. The page is removed when the console
// stops.
//
// It returns ErrNoBrowser if no opener exists or all fail, so the caller
// prints URL instead, and another error if the page cannot be written. An
// opener that is still running after a few seconds is left to run; a
// goroutine waits for it so it does not linger as a zombie.
func (s *Server) OpenBrowser() error {
	path, err := s.launcher()
	if err != nil {
		return err
	}
	return openWith(openers[runtime.GOOS], fileURL(path))
}

// LauncherPath is the page OpenBrowser wrote, or "" before it did (or after
// the console stopped). It holds the token: the user may open it again.
func (s *Server) LauncherPath() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.launchDir == "" {
		return ""
	}
	return filepath.Join(s.launchDir, launcherName)
}

// launcher writes the page once and returns its path.
func (s *Server) launcher() (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.launchGone {
		return "", fmt.Errorf("%w: the console has stopped", ErrNoBrowser)
	}
	if s.launchDir != "" {
		return filepath.Join(s.launchDir, launcherName), nil
	}
	base, err := launchBase(s.launchBase)
	if err != nil {
		return "", fmt.Errorf("console: no folder for the browser page: %w", err)
	}
	dir, err := os.MkdirTemp(base, "direkt-console-") // mode 0700
	if err != nil {
		return "", fmt.Errorf("console: browser page: %w", err)
	}
	path := filepath.Join(dir, launcherName)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		_, err = f.WriteString(launcherPage(s.url))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("console: browser page: %w", err)
	}
	s.launchDir = dir
	return path, nil
}

// removeLauncher deletes the page and its folder; OpenBrowser fails from
// now on. The token dies with the console anyway; this leaves nothing behind.
func (s *Server) removeLauncher() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.launchGone = true
	if s.launchDir != "" {
		if err := os.RemoveAll(s.launchDir); err != nil {
			s.log.Warn("console: browser page not removed", "err", err)
		}
		s.launchDir = ""
	}
}

// launchBase picks the folder under which the page's private folder is
// made: dir if given, else the user's runtime folder ($XDG_RUNTIME_DIR,
// which only the user can enter and which is emptied at logout), else the
// user's cache folder, else the temp folder (the private folder's random
// name and mode 0700 protect it there).
func launchBase(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return d, nil
		}
	}
	if d, err := os.UserCacheDir(); err == nil {
		d = filepath.Join(d, "direkt")
		if err := os.MkdirAll(d, 0o700); err == nil {
			return d, nil
		}
	}
	return os.TempDir(), nil
}

// launcherPage is the page that takes the browser on to u. The meta refresh
// works without scripts; the link is for a browser that does not follow it.
func launcherPage(u string) string {
	e := html.EscapeString(u)
	return `<!doctype html>
<html><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<meta http-equiv="refresh" content="0; url=` + e + `"><title>direkt</title></head>
<body><p><a href="` + e + `">Open the direkt console / Konsole öffnen</a></p></body></html>
`
}

// fileURL is the file:// URL of an absolute path.
func fileURL(path string) string {
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/… on Windows
	}
	return (&url.URL{Scheme: "file", Path: p}).String()
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
