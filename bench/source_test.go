package bench

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// defaultBytes is what each measurement moves unless DIREKT_BENCH_BYTES says
// otherwise: 1 GiB, as the issue asks, so that connection set-up and slow
// start vanish in the figure.
const defaultBytes = 1 << 30

// sizeEnv names the environment variable that overrides defaultBytes, so CI
// can run the benchmark once, quickly.
const sizeEnv = "DIREKT_BENCH_BYTES"

// maxBytes bounds the size: the source file and the received copy both land
// in the temporary folder.
const maxBytes = 64 << 30

var errBadSize = errors.New("want a byte count such as 1073741824, 64M or 1G (K, M, G are powers of 1024)")

// parseSize reads a byte count: a decimal number with an optional binary
// suffix K, M or G (KiB, MiB, GiB; an optional trailing "iB" or "B" is
// accepted). It must be at least 1 and at most maxBytes.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	u := strings.ToUpper(s)
	u = strings.TrimSuffix(u, "IB")
	u = strings.TrimSuffix(u, "B")
	if n := len(u); n > 0 {
		switch u[n-1] {
		case 'K':
			mult, u = 1<<10, u[:n-1]
		case 'M':
			mult, u = 1<<20, u[:n-1]
		case 'G':
			mult, u = 1<<30, u[:n-1]
		}
	}
	n, err := strconv.ParseInt(u, 10, 64)
	if err != nil || n < 1 || n > maxBytes/mult {
		return 0, fmt.Errorf("%s=%q: %w", sizeEnv, s, errBadSize)
	}
	return n * mult, nil
}

// benchBytes is the size every measurement of this run moves.
func benchBytes(tb testing.TB) int64 {
	tb.Helper()
	s := os.Getenv(sizeEnv)
	if s == "" {
		return defaultBytes
	}
	n, err := parseSize(s)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// source is the file "direkt send" sends.
type source struct {
	path   string
	size   int64
	sha256 [32]byte
}

// makeSource writes size bytes of seeded ChaCha8 output to a new file in dir.
// Every block is written, so the file is not sparse; the content is
// incompressible, so no layer can cheat by compressing it. The digest is
// taken while writing, to check the receiver's later.
func makeSource(dir string, size int64) (*source, error) {
	path := filepath.Join(dir, "direkt-bench.bin")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, err
	}
	rng := rand.NewChaCha8([32]byte{'d', 'i', 'r', 'e', 'k', 't'})
	h := sha256.New()
	w := bufio.NewWriterSize(f, 1<<20)
	buf := make([]byte, 1<<20)
	for left := size; left > 0; {
		b := buf[:min(left, int64(len(buf)))]
		_, _ = rng.Read(b) // never fails
		h.Write(b)
		if _, err := w.Write(b); err != nil {
			f.Close()
			return nil, err
		}
		left -= int64(len(b))
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	s := &source{path: path, size: size}
	h.Sum(s.sha256[:0])
	return s, nil
}
