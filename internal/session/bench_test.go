package session

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"
)

// benchSize is what one benchmark operation moves: big enough that setup and
// slow start do not matter.
const benchSize = 256 << 20

// cpuTime returns the CPU time this process used so far. On a shared
// machine wall-clock throughput swings with the neighbours' load; CPU time per
// byte is the steadier measure of what the code costs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the metric cpu-ms/MiB: process CPU time per MiB moved.
func reportCPU(b *testing.B, start time.Duration) {
	mib := float64(b.N) * benchSize / (1 << 20)
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/mib, "cpu-ms/MiB")
}

// benchPair connects two sessions on loopback for a benchmark.
func benchPair(b *testing.B) (*Session, *Session, context.Context) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	b.Cleanup(cancel)
	ca, cb, _, _ := pairConfigs(Config{IncludeLoopback: true})
	sa, sb := mustConnect(b, ctx, ca, cb)
	return sa, sb, ctx
}

// BenchmarkChannel moves 256 MiB per operation through one Channel on
// loopback: Write in 1 MiB calls, Read into a 64 KiB buffer, both ends in
// this process. The sub-benchmarks vary the message size Write uses.
func BenchmarkChannel(b *testing.B) {
	for _, chunk := range []int{16 << 10, 32 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("msg%dk", chunk>>10), func(b *testing.B) {
			sa, sb, ctx := benchPair(b)
			src := make([]byte, 1<<20)
			dst := make([]byte, 64<<10)
			b.SetBytes(benchSize)
			b.ReportAllocs()
			cpu0 := cpuTime()
			defer reportCPU(b, cpu0)
			i := 0
			for b.Loop() {
				i++
				type accepted struct {
					c   *Channel
					err error
				}
				acc := make(chan accepted, 1)
				go func() { c, err := sb.Accept(ctx); acc <- accepted{c, err} }()
				w, err := sa.Open(ctx, fmt.Sprintf("bench%d", i))
				if err != nil {
					b.Fatal(err)
				}
				w.chunk = chunk
				r := <-acc
				if r.err != nil {
					b.Fatal(r.err)
				}
				werr := make(chan error, 1)
				go func() {
					for n := 0; n < benchSize; n += len(src) {
						if _, err := w.Write(src); err != nil {
							werr <- err
							return
						}
					}
					werr <- w.Close()
				}()
				var got int64
				for {
					n, err := r.c.Read(dst)
					got += int64(n)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if err := <-werr; err != nil {
					b.Fatal(err)
				}
				if got != benchSize {
					b.Fatalf("read %d bytes, want %d", got, benchSize)
				}
				_ = r.c.Close()
			}
		})
	}
}

// BenchmarkBareDataChannel is the baseline: the same transfer over a
// detached pion data channel used directly, messages of Write's size
// (writeChunk) sent with the same buffered-amount flow control (without it pion would queue all
// 256 MiB), read into a 64 KiB buffer. The difference to BenchmarkChannel
// is what the wrapper costs.
func BenchmarkBareDataChannel(b *testing.B) {
	sa, sb, ctx := benchPair(b)
	src := make([]byte, writeChunk)
	dst := make([]byte, 64<<10)
	b.SetBytes(benchSize)
	b.ReportAllocs()
	cpu0 := cpuTime()
	defer reportCPU(b, cpu0)
	i := 0
	for b.Loop() {
		i++
		// Open through the session, then use pion's detached channels on
		// both ends and nothing of Channel.
		type accepted struct {
			c   *Channel
			err error
		}
		acc := make(chan accepted, 1)
		go func() { c, err := sb.Accept(ctx); acc <- accepted{c, err} }()
		wc, err := sa.Open(ctx, fmt.Sprintf("bare%d", i))
		if err != nil {
			b.Fatal(err)
		}
		ra := <-acc
		if ra.err != nil {
			b.Fatal(ra.err)
		}
		w, r := wc.rwc, ra.c.rwc
		low := make(chan struct{}, 1)
		w.SetBufferedAmountLowThreshold(lowWater)
		w.OnBufferedAmountLow(func() {
			select {
			case low <- struct{}{}:
			default:
			}
		})
		werr := make(chan error, 1)
		go func() {
			for n := 0; n < benchSize; n += len(src) {
				for w.BufferedAmount() > highWater {
					<-low
				}
				if _, err := w.Write(src); err != nil {
					werr <- err
					return
				}
			}
			werr <- w.Close()
		}()
		var got int64
		for {
			n, err := r.Read(dst)
			got += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := <-werr; err != nil {
			b.Fatal(err)
		}
		if got != benchSize {
			b.Fatalf("read %d bytes, want %d", got, benchSize)
		}
	}
}
