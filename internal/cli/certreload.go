package cli

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certReloadEvery is how often, at most, a handshake looks at the files'
// modification times.
const certReloadEvery = 30 * time.Second

// certReloader serves the key pair of --tls-cert/--tls-key and picks up a
// renewed pair (certbot and the like rewrite the files) without a restart:
// at most every certReloadEvery a handshake checks the files' modification
// times and loads them again when they changed. A pair that fails to load
// (a half-written renewal) is logged and the old one kept.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time // tests move the clock

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     [2]time.Time // modification times of the loaded files
	nextCheck time.Time
}

func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, now: time.Now}
	stamp, err := r.stat()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	r.cert, r.stamp, r.nextCheck = &cert, stamp, r.now().Add(certReloadEvery)
	return r, nil
}

func (r *certReloader) stat() ([2]time.Time, error) {
	var st [2]time.Time
	for i, f := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return st, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		st[i] = fi.ModTime()
	}
	return st, nil
}

// GetCertificate is tls.Config.GetCertificate.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.After(r.nextCheck) {
		r.nextCheck = now.Add(certReloadEvery)
		r.reloadLocked()
	}
	return r.cert, nil
}

// reloadLocked loads the pair again if the files changed. r.mu must be held.
func (r *certReloader) reloadLocked() {
	stamp, err := r.stat()
	if err != nil {
		r.log.Warn("TLS certificate files unreadable; keeping the loaded pair", "err", err)
		return
	}
	if stamp == r.stamp {
		return
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		// Perhaps only one of the two files is renewed yet: try again at
		// the next check.
		r.log.Warn("TLS certificate files changed but do not load; keeping the loaded pair", "err", err)
		return
	}
	r.cert, r.stamp = &cert, stamp
	r.log.Info("TLS certificate reloaded", "file", r.certFile)
}
