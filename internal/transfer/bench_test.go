package transfer

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// BenchmarkTransferTCP moves one 256 MiB file over a TCP loopback connection,
// hashing on both sides and writing through the receiver's full path (partial
// file, periodic fsync, link into place). "disk" receives into the test's
// temporary folder, "shm" into /dev/shm, which takes the disk out of the
// measurement.
func BenchmarkTransferTCP(b *testing.B) {
	const size = 256 << 20
	src := filepath.Join(b.TempDir(), "big.bin")
	writeFile(b, src, randBytes(42, size), 0o644)
	targets := map[string]string{"disk": b.TempDir()}
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "direkt-bench"); err == nil {
			defer os.RemoveAll(d)
			targets["shm"] = d
		}
	}
	for _, name := range []string{"disk", "shm"} {
		base, ok := targets[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			benchTransfer(b, []string{src}, base, size)
		})
	}
}

// BenchmarkTransferSmallFiles moves 1000 files of 4 KiB: the per-file cost
// (frames, a verdict, an fsync and a link each).
func BenchmarkTransferSmallFiles(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "many")
	for i := range 1000 {
		writeFile(b, filepath.Join(dir, strconv.Itoa(i)), randBytes(uint64(i), 4096), 0o644)
	}
	base := b.TempDir()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		if d, err := os.MkdirTemp("/dev/shm", "direkt-bench"); err == nil {
			defer os.RemoveAll(d)
			base = d
		}
	}
	benchTransfer(b, []string{dir}, base, 1000*4096)
}

func benchTransfer(b *testing.B, paths []string, base string, size int64) {
	b.ReportAllocs()
	b.SetBytes(size)
	// The machine is shared: CPU time (both sides, user + system) per byte
	// says what the transfer costs regardless of what else runs.
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		out := filepath.Join(base, strconv.Itoa(i))
		i++
		if err := os.Mkdir(out, 0o755); err != nil {
			b.Fatal(err)
		}
		a, c := tcpPair(b)
		ctx := testCtx(b)
		var wg sync.WaitGroup
		var serr error
		wg.Go(func() { _, serr = Send(ctx, a, paths, SendOptions{}) })
		_, rerr := Receive(ctx, c, out, ReceiveOptions{})
		wg.Wait()
		if serr != nil || rerr != nil {
			b.Fatalf("send: %v, receive: %v", serr, rerr)
		}
		b.StopTimer()
		if err := os.RemoveAll(out); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/(1<<20)/cpu.Seconds(), "MiB/cpu-s")
	}
}
