package netbed

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// ProxyPort is where a site's proxy listens, on the site's gateway address.
const ProxyPort = 3128

// Proxy is an HTTP CONNECT proxy running on a site's router.
type Proxy struct {
	// Addr is where the site's host reaches it: the gateway, ProxyPort.
	Addr netip.AddrPort
	// Log is the file that holds the proxy's own log.
	Log string
}

// URL is the proxy's address as HTTPS_PROXY takes it.
func (p *Proxy) URL() string { return "http://" + p.Addr.String() }

// StartProxy runs Debian's tinyproxy on the router of site s, listening on
// the site's gateway address for the site's LAN only, and allowing CONNECT
// to port 443 only, as a corporate proxy would. The proxy's own traffic
// leaves from the router itself, so a TCP443 site's forward filter does not
// apply to it. dir receives its configuration and log. The bed owns the
// process and stops it in Close; StartProxy returns once the proxy accepts
// connections from the site's host.
func (b *Bed) StartProxy(ctx context.Context, s *Site, dir string) (*Proxy, error) {
	if s.Router == "" {
		return nil, fmt.Errorf("%w: site %s is %s", ErrNoRouter, s.Name, s.Kind)
	}
	bin, err := exec.LookPath("tinyproxy")
	if err != nil {
		return nil, fmt.Errorf("%w: tinyproxy (Debian package tinyproxy)", ErrMissingTool)
	}
	p := &Proxy{Addr: netip.AddrPortFrom(s.Gateway, ProxyPort), Log: filepath.Join(dir, "tinyproxy-"+s.Name+".log")}
	conf := filepath.Join(dir, "tinyproxy-"+s.Name+".conf")
	text := fmt.Sprintf(`User nobody
Group nogroup
Port %d
Listen %s
Timeout 600
MaxClients 100
Allow %s
ConnectPort 443
LogLevel Info
DisableViaHeader Yes
`, ProxyPort, s.Gateway, s.LAN)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("netbed: %w", err)
	}
	logf, err := os.Create(p.Log)
	if err != nil {
		return nil, fmt.Errorf("netbed: %w", err)
	}
	defer logf.Close() // the child has its own copy
	cmd := b.Command(context.Background(), s.Router, bin, "-d", "-c", conf)
	cmd.Stdout, cmd.Stderr = logf, logf
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	if err := cmd.Start(); err != nil {
		b.mu.Unlock()
		return nil, fmt.Errorf("netbed: start tinyproxy: %w", err)
	}
	b.procs = append(b.procs, cmd)
	b.mu.Unlock()
	if err := awaitListen(ctx, s.Host, p.Addr); err != nil {
		out, _ := os.ReadFile(p.Log)
		return nil, fmt.Errorf("netbed: tinyproxy on %s did not come up: %w\n%s", s.Router, err, out)
	}
	return p, nil
}

// awaitListen waits until a TCP connection from namespace ns to addr
// succeeds: the readiness probe of a server that announces nothing.
func awaitListen(ctx context.Context, ns string, addr netip.AddrPort) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		var conn net.Conn
		err := Do(ns, func() (err error) {
			d := net.Dialer{Timeout: time.Second}
			conn, err = d.DialContext(ctx, "tcp4", addr.String())
			return err
		})
		if err == nil {
			return conn.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}
