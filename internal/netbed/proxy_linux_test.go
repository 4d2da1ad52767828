package netbed

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"testing"
	"time"
)

// TestProxy starts tinyproxy in a TCP443 site and checks that the site's
// host reaches a server's port 443 only through a CONNECT tunnel, and that
// the proxy refuses CONNECT to other ports.
func TestProxy(t *testing.T) {
	if _, err := exec.LookPath("tinyproxy"); err != nil {
		t.Skip("needs tinyproxy (Debian package tinyproxy)")
	}
	b := newBed(t, Config{A: TCP443})
	ctx := testContext(t, 30*time.Second)
	// An echo server on 443 and 8443 in the server's namespace.
	serveTCP(t, b, func(c net.Conn) {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.Copy(c, c)
	}, 443, 8443)
	p, err := b.StartProxy(ctx, b.A, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	connect := func(port int) (int, string) {
		t.Helper()
		var c net.Conn
		if err := Do(b.A.Host, func() (err error) {
			c, err = net.DialTimeout("tcp4", p.Addr.String(), 5*time.Second)
			return err
		}); err != nil {
			t.Fatalf("dial proxy %s: %v", p.URL(), err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		target := netip.AddrPortFrom(ServerAddr, uint16(port))
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil {
			t.Fatalf("CONNECT %s: %v", target, err)
		}
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, ""
		}
		fmt.Fprint(c, "ping\n")
		line, err := br.ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		return resp.StatusCode, line
	}
	if code, echo := connect(443); code != http.StatusOK || echo != "ping\n" {
		t.Errorf("CONNECT to 443: status %d, echo %q", code, echo)
	}
	if code, _ := connect(8443); code == http.StatusOK {
		t.Error("the proxy tunnelled to port 8443")
	}
	if got := dialTCP(t, b.A.Host, 443); got != "ok" {
		t.Errorf("direct TCP to 443 from the site: %s", got)
	}
}
