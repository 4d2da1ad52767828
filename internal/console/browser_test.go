package console

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fakeOpener writes an executable script named name into dir.
func fakeOpener(t *testing.T, dir, name, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestOpenWith(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh for the stand-in openers")
	}
	dir := t.TempDir()
	got := filepath.Join(dir, "opened")
	fakeOpener(t, dir, "fails", "exit 3")
	fakeOpener(t, dir, "works", `printf '%s' "$@" > "`+got+`"`)
	t.Setenv("PATH", dir)
	u := "file:///run/user/1000/direkt-console-1/open.html"

	if err := openWith([][]string{{"missing"}, {"fails"}, {"works"}}, u); err != nil {
		t.Fatalf("openWith: %v", err)
	}
	if b, _ := os.ReadFile(got); string(b) != u {
		t.Errorf("opener got %q, want %q", b, u)
	}
	if err := openWith([][]string{{"fails"}}, u); !errors.Is(err, ErrNoBrowser) {
		t.Errorf("failing opener: %v", err)
	}
	if err := openWith([][]string{{"missing"}}, u); !errors.Is(err, ErrNoBrowser) {
		t.Errorf("no opener: %v", err)
	}
}

// xdgOpenPlatform skips the test where OpenBrowser does not use xdg-open.
func xdgOpenPlatform(t *testing.T) {
	t.Helper()
	if openers[runtime.GOOS] == nil || openers[runtime.GOOS][0][0] != "xdg-open" {
		t.Skip("OpenBrowser does not use xdg-open on " + runtime.GOOS)
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh for the stand-in xdg-open")
	}
}

// recordingOpener puts an xdg-open on PATH that writes its arguments (one a
// line) to argv and its pid to pid, then waits until the file release
// exists (at most 10 s), so that a test can look at the running process.
func recordingOpener(t *testing.T) (argv, pid, release string) {
	t.Helper()
	bin := t.TempDir()
	argv, pid, release = filepath.Join(bin, "argv"), filepath.Join(bin, "pid"), filepath.Join(bin, "release")
	fakeOpener(t, bin, "xdg-open", `printf '%s\n' "$@" > "`+argv+`"
echo $$ > "`+pid+`.tmp" && mv "`+pid+`.tmp" "`+pid+`"
i=0
while [ ! -e "`+release+`" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done`)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+"/usr/bin:/bin")
	return argv, pid, release
}

// openedFile checks what the opener got: one file:// URL without the
// token, naming a page of mode 0600 in a folder of mode 0700 under base
// that takes the browser to the console; it returns the page's path.
func openedFile(t *testing.T, s *Server, base, argv string) string {
	t.Helper()
	b, err := os.ReadFile(argv)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(args) != 1 {
		t.Fatalf("opener got %d arguments %q, want one", len(args), args)
	}
	if strings.Contains(args[0], s.token) {
		t.Fatalf("the token is on the opener's command line: %q", args[0])
	}
	u, err := url.Parse(args[0])
	if err != nil || u.Scheme != "file" {
		t.Fatalf("opener got %q, want a file:// URL", args[0])
	}
	path := filepath.FromSlash(u.Path)
	if filepath.Dir(filepath.Dir(path)) != base || path != s.LauncherPath() {
		t.Errorf("page %s, want one in a folder of its own under %s (LauncherPath %s)", path, base, s.LauncherPath())
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("page %s: %v, mode %v; want 0600", path, err, fi.Mode())
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("page's folder: %v, mode %v; want 0700", err, fi.Mode())
	}
	page, _ := os.ReadFile(path)
	if !strings.Contains(string(page), `url=`+s.URL()+`"`) {
		t.Errorf("page does not lead to the console:\n%s", page)
	}
	return path
}

func waitFile(t *testing.T, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
		time.Sleep(20 * time.Millisecond) // polling another process's file
	}
}

// TestOpenBrowserLauncher runs OpenBrowser with a stand-in xdg-open: it
// gets a private page's file:// URL, never the token, and the page is gone
// when the console stops.
func TestOpenBrowserLauncher(t *testing.T) {
	xdgOpenPlatform(t)
	argv, _, release := recordingOpener(t)
	if err := os.WriteFile(release, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	s, err := New(Config{Backend: newTestBackend(hostState()), LaunchDir: base})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.OpenBrowser(); err != nil {
		t.Fatalf("OpenBrowser: %v", err)
	}
	path := openedFile(t, s, base, argv)
	// A second call opens the same page.
	if err := s.OpenBrowser(); err != nil || s.LauncherPath() != path {
		t.Errorf("second OpenBrowser: %v, %s", err, s.LauncherPath())
	}
	s.Close()
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("page's folder after Close: %v, want it gone", err)
	}
	if err := s.OpenBrowser(); !errors.Is(err, ErrNoBrowser) {
		t.Errorf("OpenBrowser after Close: %v, want ErrNoBrowser", err)
	}
	if s.LauncherPath() != "" {
		t.Errorf("LauncherPath after Close: %q", s.LauncherPath())
	}
}

// TestOpenBrowserNoOpener: without an opener OpenBrowser says so.
func TestOpenBrowserNoOpener(t *testing.T) {
	xdgOpenPlatform(t)
	t.Setenv("PATH", t.TempDir())
	s, err := New(Config{Backend: newTestBackend(hostState()), LaunchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.OpenBrowser(); !errors.Is(err, ErrNoBrowser) {
		t.Errorf("OpenBrowser without openers: %v", err)
	}
}

// asUser runs argv as the user u (setpriv) and returns its output and exit
// error.
func asUser(t *testing.T, u *user.User, argv ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command("setpriv", append([]string{"--reuid=" + u.Uid, "--regid=" + u.Gid, "--clear-groups", "--"}, argv...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// tokenRE finds console tokens in text: "t=" and 43 base64url characters.
var tokenRE = regexp.MustCompile(`t=[A-Za-z0-9_-]{43}`)

// TestOpenBrowserOtherUser is the attack of issue 7, item 3, tried by a
// second local user: while the console's opener runs, "nobody" reads every
// process's command line (what ps shows) and the page the opener was given.
// Before the fix the URL with the token was xdg-open's argument, so the
// other user read it in /proc/PID/cmdline and could drive the console.
func TestOpenBrowserOtherUser(t *testing.T) {
	xdgOpenPlatform(t)
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to act as a second user")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("no setpriv (util-linux)")
	}
	other, err := user.Lookup("nobody")
	if err != nil {
		t.Skip("no user nobody: " + err.Error())
	}
	argv, pidFile, release := recordingOpener(t)
	// The base folder is open to all, like /tmp: what keeps the other
	// user out must be OpenBrowser's own folder and file modes.
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := serveLaunching(t, dir)
	errc := make(chan error, 1)
	go func() { errc <- s.OpenBrowser() }()
	defer func() {
		os.WriteFile(release, nil, 0o600)
		if err := <-errc; err != nil {
			t.Errorf("OpenBrowser: %v", err)
		}
	}()

	pid, err := strconv.Atoi(strings.TrimSpace(string(waitFile(t, pidFile))))
	if err != nil {
		t.Fatal(err)
	}
	// The other user can read the opener's command line (the channel of
	// the attack is open) ...
	cmdline, err := asUser(t, other, "cat", "/proc/"+strconv.Itoa(pid)+"/cmdline")
	if err != nil {
		t.Fatalf("nobody cannot read the opener's command line (%v): %s", err, cmdline)
	}
	if !bytes.Contains(cmdline, []byte("xdg-open")) {
		t.Fatalf("opener's command line %q", cmdline)
	}
	all, _ := asUser(t, other, "sh", "-c", "cat /proc/[0-9]*/cmdline 2>/dev/null; ps -eo args 2>/dev/null")
	if len(all) == 0 {
		t.Fatal("nobody read no process list")
	}
	// The attack: whatever looks like a console token in there is tried
	// against the console over the wire (before the fix GET /api/state
	// answered with the code).
	for _, m := range tokenRE.FindAll(append(cmdline, all...), -1) {
		req, _ := http.NewRequest(http.MethodGet, base(s)+"/api/state", nil)
		req.Header.Set("Authorization", "Bearer "+string(m[2:]))
		if resp, err := client(t).Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Fatalf("nobody drove the console with %q from the process list", m)
			}
		}
	}
	// ... but neither the opener's command line nor any other holds the token.
	if bytes.Contains(cmdline, []byte(s.token)) || bytes.Contains(all, []byte(s.token)) {
		t.Fatalf("nobody read the console token in the process list: %q", cmdline)
	}
	path := openedFile(t, s, dir, argv)
	// The page holds the token; nobody cannot read it, nor list its folder.
	if out, err := asUser(t, other, "cat", path); err == nil || bytes.Contains(out, []byte(s.token)) {
		t.Errorf("nobody read the page %s: %v %q", path, err, out)
	}
	if out, err := asUser(t, other, "ls", filepath.Dir(path)); err == nil {
		t.Errorf("nobody listed the page's folder: %q", out)
	}
	// The owner can.
	if b, err := os.ReadFile(path); err != nil || !bytes.Contains(b, []byte(s.token)) {
		t.Errorf("the owner cannot read the page: %v", err)
	}
}

// serveLaunching serves a console whose browser page goes under dir, and
// stops it when the test ends, failing the test if Serve failed.
func serveLaunching(t *testing.T, dir string) *Server {
	t.Helper()
	s, err := New(Config{Backend: newTestBackend(hostState()), LaunchDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(context.Background()) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}
