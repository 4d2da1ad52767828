package proxy

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/direkt/direkt/internal/testwatch"
)

func TestMain(m *testing.M) {
	testwatch.Arm()
	goleak.VerifyTestMain(m)
}

// fakeProxy is a loopback TCP server that reads one CONNECT request per
// connection and then does what reply says: it is the proxy's side, under
// the test's control.
type fakeProxy struct {
	ln   net.Listener
	wg   sync.WaitGroup
	mu   sync.Mutex
	reqs []string // request heads seen
}

// startProxy serves every connection with handle(conn, head), where head
// is the request head up to the blank line.
func startProxy(t *testing.T, handle func(c net.Conn, head string)) *fakeProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProxy{ln: ln}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(c)
				var head strings.Builder
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" {
						break
					}
					head.WriteString(line)
				}
				p.mu.Lock()
				p.reqs = append(p.reqs, head.String())
				p.mu.Unlock()
				handle(c, head.String())
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.wg.Wait()
	})
	return p
}

func (p *fakeProxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *fakeProxy) heads() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.reqs...)
}

// echoServer answers every connection by echoing it.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			})
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// echoName is the destination name the tunnel proxy resolves to the echo
// server: loopback destinations themselves never go through a proxy.
const echoName = "echo.test:7"

// tunnel returns a working proxy: it dials the CONNECT target (echoName
// means echo) and splices.
func tunnel(echo string) func(c net.Conn, head string) {
	return func(c net.Conn, head string) { splice(c, head, echo) }
}

func splice(c net.Conn, head, echo string) {
	target := strings.Fields(head)[1]
	if target == echoName {
		target = echo
	}
	up, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer up.Close()
	_ = c.SetDeadline(time.Time{})
	_, _ = io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, c)
		up.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	_, _ = io.Copy(c, up)
	<-done
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// roundTrip writes msg through conn and expects it echoed.
func roundTrip(t *testing.T, conn net.Conn, msg string) {
	t.Helper()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil {
		t.Fatal(err)
	}
	if string(buf) != msg {
		t.Fatalf("echo %q, want %q", buf, msg)
	}
}

func TestTunnelThroughProxy(t *testing.T) {
	echo := echoServer(t)
	p := startProxy(t, tunnel(echo))
	u, _ := url.Parse(p.url())
	u.User = url.UserPassword("alice", "s3cret")
	d, err := New(Config{URL: u.String()})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Proxy(echoName); got != p.ln.Addr().String() {
		t.Fatalf("Proxy(%s) = %q, want %s", echoName, got, p.ln.Addr())
	}
	conn, err := d.DialContext(ctxT(t, 5*time.Second), "tcp", echoName)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	roundTrip(t, conn, "hello through the tunnel")
	heads := p.heads()
	if len(heads) != 1 {
		t.Fatalf("proxy saw %d requests, want 1", len(heads))
	}
	if !strings.HasPrefix(heads[0], "CONNECT "+echoName+" HTTP/1.1\r\n") {
		t.Errorf("request line: %q", heads[0])
	}
	wantAuth := "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	if !strings.Contains(heads[0], wantAuth) {
		t.Errorf("no %q in %q", wantAuth, heads[0])
	}
}

func TestEnvironmentAndNoProxy(t *testing.T) {
	echo := echoServer(t)
	p := startProxy(t, tunnel(echo))
	env := map[string]string{"https_proxy": p.url()}
	d, err := New(Config{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Proxy("relay.example:443"); got != p.ln.Addr().String() {
		t.Errorf("https_proxy: Proxy = %q, want %s", got, p.ln.Addr())
	}
	// Loopback destinations never go through a proxy.
	conn, err := d.DialContext(ctxT(t, 5*time.Second), "tcp", echo)
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, conn, "direct")
	conn.Close()
	if n := len(p.heads()); n != 0 {
		t.Errorf("a loopback destination went through the proxy (%d requests)", n)
	}

	env["NO_PROXY"] = "example.org, .corp.example 10.0.0.0/8,192.0.2.7:443,[2001:db8::1]"
	d, err = New(Config{URL: p.url(), Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	for addr, want := range map[string]string{
		"example.org:443":        "",
		"www.Example.org.:443":   "",
		"relay.corp.example:443": "",
		"corp.example:443":       p.ln.Addr().String(),
		"notexample.org:443":     p.ln.Addr().String(),
		"relay.example:443":      p.ln.Addr().String(),
		"10.1.2.3:443":           "",
		"192.0.2.7:443":          "",
		"192.0.2.7:3478":         p.ln.Addr().String(),
		"[2001:db8::1]:443":      "",
		"[::1]:443":              "",
		"localhost:443":          "",
	} {
		if got := d.Proxy(addr); got != want {
			t.Errorf("NO_PROXY %s: Proxy(%s) = %q, want %q", env["NO_PROXY"], addr, got, want)
		}
	}

	d, err = New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Proxy("relay.example:443"); got != "" {
		t.Errorf("zero Config: Proxy = %q, want direct", got)
	}
}

// proxyFor returns a dialer that sends even loopback destinations to p.
func proxyFor(t *testing.T, p *fakeProxy) *Dialer {
	t.Helper()
	u, err := ParseURL(p.url())
	if err != nil {
		t.Fatal(err)
	}
	return &Dialer{forward: &net.Dialer{}, proxy: u, noProxy: noProxy{}}
}

func TestProxyReplies(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reply string
		want  error
	}{
		{"forbidden", "HTTP/1.1 403 Filtered\r\nContent-Length: 5\r\n\r\nnope!", ErrRefused},
		{"auth required", "HTTP/1.0 407 Proxy Authentication Required\r\n\r\n", ErrRefused},
		{"not http", "SSH-2.0-OpenSSH_9.2\r\n", ErrReply},
		{"http/2 status line", "HTTP/2.0 200 OK\r\n\r\n", ErrReply},
		{"endless headers", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 100)+"\r\n", 400), ErrReply},
		{"closed early", "HTTP/1.1 200", ErrReply},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startProxy(t, func(c net.Conn, _ string) { _, _ = io.WriteString(c, tc.reply) })
			conn, err := proxyFor(t, p).DialContext(ctxT(t, 5*time.Second), "tcp", "relay.example:443")
			if err == nil {
				conn.Close()
				t.Fatal("dial succeeded")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// A proxy may send the first bytes of the tunnel in the same segment as
// its reply; they must not be lost.
func TestEarlyTunnelBytes(t *testing.T) {
	p := startProxy(t, func(c net.Conn, _ string) {
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nSTUN-ish greeting")
	})
	conn, err := proxyFor(t, p).DialContext(ctxT(t, 5*time.Second), "tcp", "relay.example:443")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(conn)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "STUN-ish greeting" {
		t.Fatalf("tunnel starts with %q", got)
	}
}

// A proxy that accepts and then says nothing holds the dial only until the
// context's deadline.
func TestSilentProxy(t *testing.T) {
	release := make(chan struct{})
	p := startProxy(t, func(net.Conn, string) { <-release })
	defer close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	conn, err := proxyFor(t, p).DialContext(ctx, "tcp", "relay.example:443")
	if err == nil {
		conn.Close()
		t.Fatal("dial succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
}

func TestCancelDuringConnect(t *testing.T) {
	release := make(chan struct{})
	asked := make(chan struct{}, 1)
	p := startProxy(t, func(net.Conn, string) {
		asked <- struct{}{}
		<-release
	})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		conn, err := proxyFor(t, p).DialContext(ctx, "tcp", "relay.example:443")
		if err == nil {
			conn.Close()
		}
		errc <- err
	}()
	// Cancel once the proxy has the request, so the dial is in Connect.
	select {
	case <-asked:
	case <-time.After(5 * time.Second):
		t.Fatal("the proxy never saw the request")
	}
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dial did not end after cancel")
	}
}

func TestParseURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"http://proxy.corp:3128":         true,
		"proxy.corp:3128":                true,
		"http://u:p@10.0.0.1:8080":       true,
		"http://[2001:db8::1]:3128":      true,
		"http://proxy.corp":              true,
		"https://proxy.corp:443":         false,
		"socks5://proxy.corp:1080":       false,
		"http://":                        false,
		"http://proxy.corp:3128/path":    false,
		"http://proxy.corp:3128/?q=1":    false,
		"http://pro xy":                  false,
		"http://proxy.corp:3128#section": false,
	} {
		_, err := ParseURL(raw)
		if (err == nil) != ok {
			t.Errorf("ParseURL(%q): err = %v, want ok=%v", raw, err, ok)
		}
		if err != nil && !errors.Is(err, ErrProxyURL) {
			t.Errorf("ParseURL(%q): err = %v, want ErrProxyURL", raw, err)
		}
	}
	if _, err := ParseURL("http://user:hunter2@proxy:3128/x"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v repeats the password or is nil", err)
	}
	if _, err := New(Config{URL: "ftp://proxy"}); !errors.Is(err, ErrProxyURL) {
		t.Errorf("New with ftp proxy: %v", err)
	}
}

func TestOnlyTCP(t *testing.T) {
	d, _ := New(Config{})
	if _, err := d.DialContext(context.Background(), "udp", "relay.example:443"); err == nil {
		t.Fatal("UDP dial accepted")
	}
}
