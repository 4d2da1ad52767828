package cli

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"

	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/proxy"
	"github.com/direkt/direkt/internal/session"
)

// netFlags are --ca and --proxy: how a peer reaches a server in a locked-down
// network (issue 4, section 3). Both apply to the mailbox WebSocket and to
// TURN over TCP and TLS; STUN and TURN over UDP never go through a proxy.
type netFlags struct {
	ca    string
	proxy string
}

func (f *netFlags) register(fs *flag.FlagSet, env Env) {
	fs.StringVar(&f.ca, "ca", env.Getenv("DIREKT_CA"), "PEM file of a private CA to trust for the https server and its TURN over TLS, besides the system's (default $DIREKT_CA)")
	fs.StringVar(&f.proxy, "proxy", "", "HTTP CONNECT proxy for the server connections, http://[user:pass@]host:port (default $HTTPS_PROXY; $NO_PROXY is honoured)")
}

// netConfig is what netFlags configure: the mailbox's dialing and the
// session's TURN dialing, both with the same roots and proxy choice. build
// always sets both, so that $HTTPS_PROXY and $NO_PROXY mean the same to
// either.
type netConfig struct {
	dial *mailbox.DialOptions
	turn *session.TURNDial
}

// build reads the CA file and the proxy settings. Mistakes in the flags are
// usage errors; an unreadable CA file is an I/O error.
func (f netFlags) build(env Env) (netConfig, error) {
	var roots *x509.CertPool
	if f.ca != "" {
		pem, err := os.ReadFile(f.ca)
		if err != nil {
			return netConfig{}, fmt.Errorf("--ca: %w", err)
		}
		roots, err = x509.SystemCertPool()
		if err != nil {
			roots = x509.NewCertPool()
		}
		if !roots.AppendCertsFromPEM(pem) {
			return netConfig{}, usagef(fmt.Sprintf("--ca %s holds no PEM certificate", f.ca))
		}
	}
	d, err := proxy.New(proxy.Config{URL: f.proxy, Getenv: env.Getenv})
	if err != nil {
		return netConfig{}, usagef(fmt.Sprintf("--proxy or $HTTPS_PROXY: %v", err))
	}
	return netConfig{
		dial: &mailbox.DialOptions{RootCAs: roots, NetDial: d.DialContext},
		turn: &session.TURNDial{RootCAs: roots, Dialer: d},
	}, nil
}

// lanDial is how a peer reaches a server it found on the local network:
// directly, whatever proxy the environment names for the internet.
func lanDial() *mailbox.DialOptions {
	var d net.Dialer
	return &mailbox.DialOptions{NetDial: d.DialContext}
}

// tlsFlags are the server's --tls-listen, --tls-cert and --tls-key: HTTPS
// and TURN over TLS on one port, 443 in production.
type tlsFlags struct {
	listen, cert, key string
}

func (f *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.listen, "tls-listen", "", "address for HTTPS (mailboxes, join page) and TURN over TLS on one port, e.g. :443 (needs --tls-cert and --tls-key)")
	fs.StringVar(&f.cert, "tls-cert", "", "PEM certificate chain for --tls-listen")
	fs.StringVar(&f.key, "tls-key", "", "PEM private key for --tls-listen")
}

// load checks the flags and reads the key pair, which is read again when
// the files change (certReloader); "" and nil without --tls-listen.
func (f tlsFlags) load(log *slog.Logger) (string, *tls.Config, error) {
	if f.listen == "" {
		if f.cert != "" || f.key != "" {
			return "", nil, usagef("--tls-cert and --tls-key need --tls-listen")
		}
		return "", nil, nil
	}
	if f.cert == "" || f.key == "" {
		return "", nil, usagef("--tls-listen needs --tls-cert and --tls-key")
	}
	r, err := newCertReloader(f.cert, f.key, log)
	if err != nil {
		return "", nil, err
	}
	return f.listen, &tls.Config{GetCertificate: r.GetCertificate}, nil
}
