package transfer

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testCtx is a context bounded well below the test timeout.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tcpPair returns both ends of a TCP loopback connection.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := ln.Accept()
		ch <- res{c, err}
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		a.Close()
		t.Fatal(r.err)
	}
	return a, r.c
}

type pairFunc func(testing.TB) (net.Conn, net.Conn)

func pipePair(testing.TB) (net.Conn, net.Conn) { return net.Pipe() }

var transports = []struct {
	name string
	pair pairFunc
}{{"tcp", tcpPair}, {"pipe", pipePair}}

// outcome is what both sides of one transfer returned.
type outcome struct {
	sres, rres Result
	serr, rerr error
	sprog      []int64 // done values reported to the sender's Progress
	rprog      []int64
}

// transferOpts lets a test tweak one run.
type transferOpts struct {
	wrapSend func(net.Conn) io.ReadWriteCloser
	wrapRecv func(net.Conn) io.ReadWriteCloser
	accept   func(Manifest) error
	sendCtx  context.Context
	recvCtx  context.Context
}

// run sends paths to outDir over a fresh connection and waits for both sides.
func run(t testing.TB, pair pairFunc, paths []string, outDir string, o transferOpts) outcome {
	t.Helper()
	a, b := pair(t)
	var sa io.ReadWriteCloser = a
	var rb io.ReadWriteCloser = b
	if o.wrapSend != nil {
		sa = o.wrapSend(a)
	}
	if o.wrapRecv != nil {
		rb = o.wrapRecv(b)
	}
	sctx, rctx := o.sendCtx, o.recvCtx
	if sctx == nil {
		sctx = testCtx(t)
	}
	if rctx == nil {
		rctx = testCtx(t)
	}
	var out outcome
	var wg sync.WaitGroup
	wg.Go(func() {
		out.sres, out.serr = Send(sctx, sa, paths, SendOptions{Progress: func(done, total int64) {
			out.sprog = append(out.sprog, done)
		}})
	})
	out.rres, out.rerr = Receive(rctx, rb, outDir, ReceiveOptions{
		Accept: o.accept,
		Progress: func(done, total int64) {
			out.rprog = append(out.rprog, done)
		},
	})
	wg.Wait()
	a.Close()
	b.Close()
	return out
}

// randBytes returns n deterministic pseudo-random bytes.
func randBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func writeFile(t testing.TB, name string, data []byte, perm fs.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, data, perm); err != nil {
		t.Fatal(err)
	}
}

// sameTree fails unless every file and folder below src exists below dst with
// the same content, and dst holds nothing else.
func sameTree(t testing.TB, src, dst string) {
	t.Helper()
	want := map[string]string{}
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			want[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		want[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	err = filepath.WalkDir(dst, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dst, p)
		if d.IsDir() {
			got[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		got[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		g, ok := got[k]
		switch {
		case !ok:
			t.Errorf("missing %s", k)
		case g != v:
			t.Errorf("%s differs (%d bytes, want %d)", k, len(g), len(v))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected %s", k)
		}
	}
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

// cutConn closes the connection once limit bytes have gone through Write (or
// Read), like a peer whose process is killed or whose network dies.
type cutConn struct {
	net.Conn
	mu      sync.Mutex
	limit   int64
	n       int64
	onWrite bool
}

func (c *cutConn) Write(p []byte) (int, error) {
	if !c.onWrite {
		return c.Conn.Write(p)
	}
	c.mu.Lock()
	left := c.limit - c.n
	c.mu.Unlock()
	if int64(len(p)) <= left {
		n, err := c.Conn.Write(p)
		c.mu.Lock()
		c.n += int64(n)
		c.mu.Unlock()
		return n, err
	}
	n, _ := c.Conn.Write(p[:left])
	c.mu.Lock()
	c.n += int64(n)
	c.mu.Unlock()
	c.Conn.Close()
	return n, net.ErrClosed
}

func (c *cutConn) Read(p []byte) (int, error) {
	if c.onWrite {
		return c.Conn.Read(p)
	}
	c.mu.Lock()
	left := c.limit - c.n
	c.mu.Unlock()
	if left <= 0 {
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.n += int64(n)
	c.mu.Unlock()
	return n, err
}

func listDir(t testing.TB, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel != "." {
			names = append(names, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cancelConn cancels its owner's context once limit bytes have been read,
// and reads nothing more.
type cancelConn struct {
	net.Conn
	limit  int64
	n      atomic.Int64
	cancel context.CancelFunc
}

func (c *cancelConn) Read(p []byte) (int, error) {
	left := c.limit - c.n.Load()
	if left <= 0 {
		c.cancel()
		return 0, net.ErrClosed
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// flipConn flips one byte of what is written through it, at stream offset at,
// like a corrupting link or a bad disk below the transport.
type flipConn struct {
	net.Conn
	at, n int64
}

func (c *flipConn) Write(p []byte) (int, error) {
	if c.at >= c.n && c.at < c.n+int64(len(p)) {
		q := bytes.Clone(p)
		q[c.at-c.n] ^= 0x01
		p = q
	}
	n, err := c.Conn.Write(p)
	c.n += int64(n)
	return n, err
}

// hookConn calls fn once when limit bytes have been read through it.
type hookConn struct {
	net.Conn
	limit int64
	n     int64
	once  sync.Once
	fn    func()
}

func (c *hookConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n += int64(n)
	if c.n >= c.limit {
		c.once.Do(c.fn)
	}
	return n, err
}
