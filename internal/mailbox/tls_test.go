package mailbox_test

import (
	"context"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/rendezvous"
)

// A server whose certificate only a private CA vouches for: refused with
// the system's roots, accepted with RootCAs, reached through NetDial.
func TestDialPrivateCA(t *testing.T) {
	s := rendezvous.New(rendezvous.Config{Logger: slog.New(slog.DiscardHandler)})
	ts := httptest.NewTLSServer(s.Handler())
	t.Cleanup(func() { _ = s.Close(); ts.Close() })
	roots := x509.NewCertPool()
	roots.AddCert(ts.Certificate())

	if c, err := mailbox.Dial(testCtx(t), ts.URL, nil); err == nil {
		c.Close("")
		t.Fatal("dialled a server of an unknown CA with the system's roots")
	} else if !errors.As(err, new(x509.UnknownAuthorityError)) {
		t.Errorf("err = %v, want an unknown-authority error", err)
	}

	for _, u := range []string{ts.URL, "wss://" + ts.Listener.Addr().String()} {
		c, err := mailbox.Dial(testCtx(t), u, &mailbox.DialOptions{RootCAs: roots})
		if err != nil {
			t.Fatalf("%s with the CA: %v", u, err)
		}
		c.Close("")
	}

	var dials atomic.Int32
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	c, err := mailbox.Dial(testCtx(t), ts.URL, &mailbox.DialOptions{RootCAs: roots, NetDial: dial})
	if err != nil {
		t.Fatalf("with NetDial: %v", err)
	}
	c.Close("")
	if dials.Load() != 1 {
		t.Errorf("NetDial called %d times, want 1", dials.Load())
	}
}
