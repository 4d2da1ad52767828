package bench

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"

	"github.com/quic-go/quic-go"
)

// quicWrite is the size of each Write on the quic-go stream. quic-go copies
// into its own frames, so the size only sets the number of calls.
const quicWrite = 1 << 20

// quicTransfer moves size bytes over one quic-go stream between two UDP
// sockets on 127.0.0.1, with quic-go's default configuration (TLS 1.3,
// its own flow-control window auto-tuning, GSO where the kernel has it), and
// measures from the first write to the last byte read. It is the reference
// the issue sets for direct transfer between two Go peers.
func quicTransfer(ctx context.Context, size int64) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, transferTimeout(size))
	defer cancel()
	serverTLS, clientTLS, err := quicTLS()
	if err != nil {
		return result{}, err
	}
	sc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return result{}, err
	}
	defer sc.Close()
	cc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return result{}, err
	}
	defer cc.Close()
	ln, err := quic.Listen(sc, serverTLS, nil)
	if err != nil {
		return result{}, err
	}

	// The receiver: accept one connection and one stream, read to EOF.
	type received struct {
		n   int64
		at  time.Time
		cpu time.Duration
		err error
	}
	rc := make(chan received, 1)
	exited := make(chan struct{})
	// The receiver ends when the client connection closes (deferred below,
	// so it runs first), else when ctx or the listener ends.
	defer func() {
		cancel()
		ln.Close()
		<-exited
	}()
	go func() {
		defer close(exited)
		conn, err := ln.Accept(ctx)
		if err != nil {
			rc <- received{err: err}
			return
		}
		defer conn.CloseWithError(0, "")
		st, err := conn.AcceptStream(ctx)
		if err != nil {
			rc <- received{err: err}
			return
		}
		n, err := io.CopyBuffer(io.Discard, st, make([]byte, 64<<10))
		rc <- received{n: n, at: time.Now(), cpu: cpuTime(), err: err}
		// Wait for the sender to close, so the close carries no error.
		select {
		case <-conn.Context().Done():
		case <-ctx.Done():
		}
	}()

	conn, err := quic.Dial(ctx, cc, sc.LocalAddr(), clientTLS, nil)
	if err != nil {
		return result{}, fmt.Errorf("quic dial: %w", err)
	}
	// Closing the client connection ends the receiver too (its conn's
	// context), also when something below fails.
	defer func() {
		conn.CloseWithError(0, "")
		<-conn.Context().Done()
	}()
	st, err := conn.OpenStreamSync(ctx)
	if err != nil {
		return result{}, err
	}
	buf := make([]byte, quicWrite)
	t0, cpu0 := time.Now(), cpuTime()
	for sent := int64(0); sent < size; {
		n := min(int64(len(buf)), size-sent)
		if _, err := st.Write(buf[:n]); err != nil {
			return result{}, fmt.Errorf("quic write: %w", err)
		}
		sent += n
	}
	// Close ends the send direction (a FIN): the receiver reads EOF.
	if err := st.Close(); err != nil {
		return result{}, err
	}
	var r received
	select {
	case r = <-rc:
	case <-ctx.Done():
		return result{}, fmt.Errorf("quic read: %w", context.Cause(ctx))
	}
	if r.err != nil || r.n != size {
		return result{}, fmt.Errorf("quic read: %w: %d of %d bytes (%v)", errShort, r.n, size, r.err)
	}
	return result{name: "bare quic-go stream", path: "udp 127.0.0.1", bytes: size, wall: r.at.Sub(t0), cpu: r.cpu - cpu0}, nil
}

// quicTLS makes a throw-away P-256 certificate for "localhost" and TLS
// configurations that trust exactly it.
func quicTLS() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		DNSNames:     []string{"localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	const alpn = "direkt-bench"
	server = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		NextProtos:   []string{alpn},
	}
	client = &tls.Config{RootCAs: pool, ServerName: "localhost", NextProtos: []string{alpn}}
	return server, client, nil
}
