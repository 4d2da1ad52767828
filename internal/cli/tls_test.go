package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/security"
	"github.com/chromedp/chromedp"

	"github.com/direkt/direkt/internal/browsertest"
	"github.com/direkt/direkt/internal/netbed"
)

// tlsServer runs the real stack on loopback with HTTPS and TURN over TLS on
// one port, its certificate from a private CA.
func tlsServer(t *testing.T) (st *stack, files netbed.TLSFiles) {
	t.Helper()
	files, err := netbed.WriteTLS(t.TempDir(), netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	listen, tc, err := tlsFlags{listen: "127.0.0.1:0", cert: files.Cert, key: files.Key}.load(quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	st, err = startStack(stackConfig{
		Listen:       "127.0.0.1:0",
		TURNListen:   "127.0.0.1:0",
		TLSListen:    listen,
		TLS:          tc,
		RelayPrivate: true,
		Logger:       quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("stack Close: %v", err)
		}
	})
	return st, files
}

func TestTLSFlags(t *testing.T) {
	files, err := netbed.WriteTLS(t.TempDir(), netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	var ue *usageError
	for _, f := range []tlsFlags{
		{cert: files.Cert},
		{key: files.Key},
		{listen: ":443"},
		{listen: ":443", cert: files.Cert},
	} {
		if _, _, err := f.load(quietLogger()); !errors.As(err, &ue) {
			t.Errorf("%+v: err = %v, want a usage error", f, err)
		}
	}
	if _, _, err := (tlsFlags{listen: ":443", cert: files.Cert, key: files.CA}).load(quietLogger()); err == nil {
		t.Error("a CA certificate was taken for a private key")
	}
	if l, c, err := (tlsFlags{}).load(quietLogger()); l != "" || c != nil || err != nil {
		t.Errorf("no flags: %q %v %v", l, c, err)
	}
}

func TestNetFlags(t *testing.T) {
	files, err := netbed.WriteTLS(t.TempDir(), netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	noEnv := Env{Getenv: func(string) string { return "" }}
	var ue *usageError
	if _, err := (netFlags{ca: filepath.Join(t.TempDir(), "missing.pem")}).build(noEnv); err == nil || errors.As(err, &ue) {
		t.Errorf("missing CA file: err = %v, want an I/O error", err)
	}
	if _, err := (netFlags{ca: files.Key}).build(noEnv); !errors.As(err, &ue) {
		t.Errorf("CA file without a certificate: err = %v, want a usage error", err)
	}
	if _, err := (netFlags{proxy: "socks5://proxy:1080"}).build(noEnv); !errors.As(err, &ue) {
		t.Errorf("socks proxy: err = %v, want a usage error", err)
	}
	bad := Env{Getenv: func(k string) string {
		if k == "HTTPS_PROXY" {
			return "ftp://proxy"
		}
		return ""
	}}
	if _, err := (netFlags{}).build(bad); !errors.As(err, &ue) {
		t.Errorf("bad $HTTPS_PROXY: err = %v, want a usage error", err)
	}
	nc, err := (netFlags{ca: files.CA, proxy: "http://proxy.corp:3128"}).build(noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if nc.dial == nil || nc.turn == nil || nc.dial.RootCAs == nil || nc.dial.RootCAs != nc.turn.RootCAs || nc.dial.NetDial == nil || nc.turn.Dialer == nil {
		t.Errorf("netConfig %+v: want one set of roots and a dialer for both", nc)
	}
}

// The HTTPS side of the TLS port serves the rendezvous like the HTTP one.
func TestServerTLSPort(t *testing.T) {
	st, files := tlsServer(t)
	pem, err := os.ReadFile(files.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for _, path := range []string{"/healthz", "/j/"} {
		resp, err := c.Get("https://" + st.TLSAddr.String() + path)
		if err != nil {
			t.Fatalf("GET %s over TLS: %v", path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s over TLS: %s", path, resp.Status)
		}
	}
	host := "127.0.0.1"
	_, port, _ := net.SplitHostPort(st.TLSAddr.String())
	var turns string
	for _, s := range st.relay.ICEServers(host, time.Now()) {
		for _, u := range s.URLs {
			if strings.HasPrefix(u, "turns:") {
				turns = u
			}
		}
	}
	if want := "turns:127.0.0.1:" + port + "?transport=tcp"; turns != want {
		t.Errorf("issued turns URL %q, want %q", turns, want)
	}
}

// A transfer whose signalling runs over wss with a private CA and whose
// only relay is TURN over TLS on the same port.
func TestSendReceiveOverTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st, files := tlsServer(t)
	server := "https://" + st.TLSAddr.String()
	user, pass, _ := st.relay.Credentials(time.Now())
	turns := "turns:" + st.TLSAddr.String() + "?transport=tcp"
	common := []string{"--ca", files.CA, "--path", "relay", "--ice-server", turns, "--ice-user", user, "--ice-pass", pass}
	src, out := t.TempDir(), t.TempDir()
	data := writeRandom(t, filepath.Join(src, "f.bin"), 1<<20)
	se, re, sEvs, rEvs := sendReceive(t, ctx, server, append(common, filepath.Join(src, "f.bin")), append(common, "--out", out))
	if se != 0 || re != 0 {
		t.Fatalf("exit codes send=%d receive=%d: %v %v", se, re, sEvs, rEvs)
	}
	for _, evs := range [][]event{sEvs, rEvs} {
		c := lastEvent(evs, EventConnected)
		if c.str("path") != "relay" || c.str("local") != "relay" || c.str("proto") != "tls" {
			t.Errorf("connected %v, want a relay candidate over tls", c)
		}
	}
	got, _ := os.ReadFile(filepath.Join(out, "f.bin"))
	if !bytes.Equal(got, data) {
		t.Fatal("file differs after a transfer over TURN over TLS")
	}

	// Without --ca the server's certificate is refused before any pairing.
	snd := run(t, ctx, "send", "", "send", "--json", "--server", server, filepath.Join(src, "f.bin"))
	if code, evs := snd.wait(ctx); code == 0 || lastEvent(evs, EventError) == nil {
		t.Errorf("send without --ca: exit %d, events %v", code, evs)
	}
}

// The join page works over https: it reaches the mailbox with wss on the
// page's own origin (web/src/pairing.js mailboxURL), and the browser joins
// a host that signals through the same TLS port.
func TestBrowserJoinOverHTTPS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, files := tlsServer(t)
	server := "https://" + st.TLSAddr.String()
	host := run(t, ctx, "host", "", "host", "--json", "--server", server, "--ca", files.CA, "--no-browser", "--data", t.TempDir())
	codeEv := host.next(ctx, EventCode)
	joinURL := codeEv.str("join_url")
	if !strings.HasPrefix(joinURL, server+"/j/") {
		t.Fatalf("join link %q is not on %s", joinURL, server)
	}
	b := browsertest.New(t, browsertest.Options{})
	// The test CA is not in the browser's store; the page's own
	// certificate is not what is tested here.
	if _, err := chromedp.CallBrowser(b, security.SetIgnoreCertificateErrors, security.SetIgnoreCertificateErrorsParams{Ignore: true}); err != nil {
		t.Fatal(err)
	}
	browsertest.Do(t, b, chromedp.Navigate(joinURL))
	browsertest.Do(t, b, chromedp.WaitVisible(sel(`body[data-state=connected]`)))
	conn := host.next(ctx, EventConnected)
	if got := browsertest.Do(t, b, chromedp.Text(sel(`[data-testid=phrase]`))); got != conn.str("phrase") {
		t.Errorf("browser phrase %q, host phrase %q", got, conn.str("phrase"))
	}
	if proto := browsertest.Do(t, b, chromedp.Evaluate[string](`location.protocol`)); proto != "https:" {
		t.Errorf("page protocol %q", proto)
	}
}
