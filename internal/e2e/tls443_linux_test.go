//go:build linux

package e2e

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/direkt/direkt/internal/netbed"
)

// Relay through locked-down networks (issue 4, section 3): both peers sit in
// netbed TCP443 sites, where nothing but TCP to port 443 leaves the LAN, and
// reach "direkt server --tls-listen" there for the mailbox (wss) and for
// TURN over TLS. Then the same with the sites' direct 443 shut as well, so
// that the only way out is Debian's tinyproxy on each site's router: one
// peer finds it in $HTTPS_PROXY, the other is given --proxy, and the
// proxies' logs must show the CONNECTs.

// tlsPrefix names these tests' namespaces.
const tlsPrefix = "dkt"

// tlsBed is a bed of two TCP443 sites with a server that serves TLS on 443.
type tlsBed struct {
	bed   *netbed.Bed
	files netbed.TLSFiles
}

func newTLSBed(t *testing.T, ctx context.Context) *tlsBed {
	t.Helper()
	requireMatrix(t)
	if !probeFeatures().tls {
		t.Fatal("the binary has no --tls-listen or --ca")
	}
	bed := openBed(ctx, t, netbed.Config{Prefix: tlsPrefix, A: netbed.TCP443, B: netbed.TCP443})
	files, err := netbed.WriteTLS(t.TempDir(), netbed.ServerAddr)
	if err != nil {
		t.Fatal(err)
	}
	srvAddr := netbed.ServerAddr.String()
	srv := start(t, "server", procOptions{Netns: bed.Server}, "server",
		"--listen", srvAddr+":8080", "--turn-listen", srvAddr+":3478", "--public-ip", srvAddr,
		"--tls-listen", srvAddr+":443", "--tls-cert", files.Cert, "--tls-key", files.Key,
		"--relay-allow", netbed.SitePrefixes()[0].String(), "--relay-allow", netbed.SitePrefixes()[1].String())
	if _, err := srv.awaitStderr(ctx, "direkt server running"); err != nil {
		t.Fatalf("server did not start: %v\n%s", err, srv.eventLog())
	}
	return &tlsBed{bed: bed, files: files}
}

// transfer sends a file from site A to site B with the extra flags and
// environment of each side, and checks that both connected through their
// own relay candidate over TLS and that the file arrived intact.
func (b *tlsBed) transfer(t *testing.T, ctx context.Context, sendOpt, recvOpt procOptions, sendArgs, recvArgs []string) {
	t.Helper()
	server := []string{"--server", "https://" + netbed.ServerAddr.String(), "--ca", b.files.CA, "--path", "relay"}
	src := filepath.Join(t.TempDir(), "tls443.bin")
	writeRandom(t, src, 1<<20)
	out := t.TempDir()
	sendOpt.Netns, recvOpt.Netns = b.bed.A.Host, b.bed.B.Host
	send := start(t, "send", sendOpt, slices.Concat([]string{"send", "--json"}, server, sendArgs, []string{src})...)
	codeEv, _, err := send.await(ctx, 0, func(e event) bool { return e.Event == "code" || e.Event == "error" })
	if err != nil || codeEv.Event != "code" {
		t.Fatalf("sender got no code: %s", describeFailure(send, err))
	}
	recv := start(t, "receive", recvOpt, slices.Concat([]string{"receive", "--json", "--out", out}, server, recvArgs, []string{codeEv.Code})...)
	for _, p := range []*proc{recv, send} {
		code, ok := exitCode(ctx, p)
		if !ok {
			t.Fatalf("%s did not exit\n%s", p.name, p.eventLog())
		}
		if code != 0 {
			t.Fatalf("%s exited %d: %s", p.name, code, describeFailure(p, nil))
		}
		c, ok := p.last("connected")
		if !ok {
			t.Fatalf("%s: no connected event", p.name)
		}
		if c.Path != "relay" || c.Local != "relay" || c.Proto != "tls" {
			t.Errorf("%s connected on path %s, %s→%s over %s; want relay from its own relay candidate over tls", p.name, c.Path, c.Local, c.Remote, c.Proto)
		}
	}
	done, ok := recv.last("done")
	if !ok {
		t.Fatal("no done event from the receiver")
	}
	var res cellResult
	if !fileIntact(t, out, done, src, &res) {
		t.Fatalf("file not intact: %s", strings.Join(res.problems, "; "))
	}
}

// TestTLS443 sends a file between two sites that reach nothing but TCP 443:
// signalling over wss and the relay over TURN over TLS, on the one port.
func TestTLS443(t *testing.T) {
	ctx := testContext(t, 90*time.Second)
	b := newTLSBed(t, ctx)
	b.transfer(t, ctx, procOptions{}, procOptions{}, nil, nil)
}

// TestTLS443Proxy does the same where only each site's HTTP CONNECT proxy
// may reach port 443.
func TestTLS443Proxy(t *testing.T) {
	if _, err := exec.LookPath("tinyproxy"); err != nil {
		t.Skip("needs tinyproxy (Debian package tinyproxy)")
	}
	ctx := testContext(t, 90*time.Second)
	b := newTLSBed(t, ctx)
	var proxies []*netbed.Proxy
	for _, s := range []*netbed.Site{b.bed.A, b.bed.B} {
		p, err := b.bed.StartProxy(ctx, s, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		proxies = append(proxies, p)
		// Shut the LAN's direct way to 443: the proxy, which runs on
		// the router itself, is all that is left.
		nft := b.bed.Command(ctx, s.Router, "nft", "insert", "rule", "ip", "filter", "forward",
			"iifname", "lan0", "oifname", "wan0", "tcp", "dport", "443", "reject", "with", "tcp", "reset")
		if out, err := nft.CombinedOutput(); err != nil {
			t.Fatalf("nft on %s: %v\n%s", s.Router, err, out)
		}
	}
	b.transfer(t, ctx,
		procOptions{Env: []string{"HTTPS_PROXY=" + proxies[0].URL()}},
		procOptions{},
		nil, []string{"--proxy", proxies[1].URL()})

	// Each peer opened at least two tunnels to the server's 443: the
	// mailbox and TURN over TLS.
	want := "CONNECT " + netbed.ServerAddr.String() + ":443"
	for i, p := range proxies {
		log, err := os.ReadFile(p.Log)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(log), want); n < 2 {
			t.Errorf("proxy of site %s logged %d %q, want at least 2:\n%s", []string{"a", "b"}[i], n, want, log)
		}
	}
}
