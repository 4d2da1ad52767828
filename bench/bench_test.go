package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// BenchmarkDirekt is the benchmark, in one run on loopback:
//
//	go test -run '^$' -bench . -benchtime 1x ./bench
//
// Sub-benchmarks, in this order: "direkt send"/"direkt receive" through a
// real in-process "direkt server", direct and with --path relay; a bare pion
// data channel; a bare quic-go stream. Each moves DIREKT_BENCH_BYTES (default
// 1 GiB) per operation and reports MiB/s over the transfer, the process CPU
// time per MiB (both ends and the relay share this process) and, for direkt,
// the milliseconds from starting receive with the code to its connected
// event. A Markdown table of all of them, with the ratio of direct transfer
// to quic-go, goes to stdout at the end.
func BenchmarkDirekt(b *testing.B) {
	size := benchBytes(b)
	ctx := context.Background()
	var rows []result

	// The test bed (1 GiB file, server) is made by the first sub-benchmark
	// that needs it, so that filtering to the references skips it.
	var bed *testbed
	// The parent's folder: a sub-benchmark's TempDir is removed when that
	// sub-benchmark ends, but the test bed serves several.
	dir := b.TempDir()
	b.Cleanup(func() {
		if bed != nil {
			if err := bed.Close(); err != nil {
				b.Error(err)
			}
		}
	})
	needBed := func(b *testing.B) {
		b.Helper()
		if bed == nil {
			var err error
			if bed, err = newTestbed(ctx, dir, size); err != nil {
				b.Fatal(err)
			}
		}
	}
	// measure runs f once per b.Loop iteration after setup (nil: none),
	// which stays out of the timed loop.
	measure := func(name string, setup func(*testing.B), f func() (result, error)) {
		b.Run(name, func(b *testing.B) {
			if setup != nil {
				setup(b)
			}
			var sum result
			n := 0
			b.ReportAllocs()
			for b.Loop() {
				r, err := f()
				if err != nil {
					b.Fatal(err)
				}
				sum.name, sum.path = r.name, r.path
				sum.bytes += r.bytes
				sum.wall += r.wall
				sum.cpu += r.cpu
				sum.connect += r.connect
				n++
			}
			// Means over the b.N operations (one with -benchtime 1x).
			sum.connect /= time.Duration(n)
			b.ReportMetric(sum.mibps(), "MiB/s")
			if c := sum.cpuPerMiB(); c > 0 {
				b.ReportMetric(c, "cpu-ms/MiB")
			}
			if sum.connect > 0 {
				b.ReportMetric(float64(sum.connect)/float64(time.Millisecond), "connect-ms")
			}
			sum.bytes /= int64(n)
			sum.wall /= time.Duration(n)
			sum.cpu /= time.Duration(n)
			rows = append(rows, sum)
		})
	}
	measure("direct", needBed, func() (result, error) {
		return bed.sendReceive(ctx, "direct")
	})
	measure("relay", needBed, func() (result, error) {
		return bed.sendReceive(ctx, "relay")
	})
	measure("pion-datachannel", nil, func() (result, error) {
		return pionTransfer(ctx, size)
	})
	measure("quic-go", nil, func() (result, error) {
		return quicTransfer(ctx, size)
	})
	if len(rows) > 0 {
		printTable(os.Stdout, size, rows)
	}
}

// printTable writes the results as a Markdown table, and how direct transfer
// stands against quic-go when both ran.
func printTable(w io.Writer, size int64, rows []result) {
	var quic, direct float64
	for _, r := range rows {
		switch {
		case r.name == "bare quic-go stream":
			quic = r.mibps()
		case r.name == "direkt send/receive" && strings.HasPrefix(r.path, "direct"):
			direct = r.mibps()
		}
	}
	fmt.Fprintf(w, "\n%s each, loopback, %d CPUs, %s\n\n", formatSize(size), numCPU(), time.Now().Format(time.DateOnly))
	fmt.Fprintln(w, "| transfer | path | MiB/s | CPU ms/MiB | connect ms | vs quic-go |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|")
	for _, r := range rows {
		cpu, conn, ratio := "–", "–", "–"
		if c := r.cpuPerMiB(); c > 0 {
			cpu = fmt.Sprintf("%.2f", c)
		}
		if r.connect > 0 {
			conn = fmt.Sprintf("%d", r.connect.Milliseconds())
		}
		if quic > 0 {
			ratio = fmt.Sprintf("%.0f %%", 100*r.mibps()/quic)
		}
		fmt.Fprintf(w, "| %s | %s | %.1f | %s | %s | %s |\n", r.name, r.path, r.mibps(), cpu, conn, ratio)
	}
	if quic > 0 && direct > 0 {
		fmt.Fprintf(w, "\ndirect / quic-go = %.2f (goal: at least 0.90)\n", direct/quic)
	}
	fmt.Fprintln(w)
}

// formatSize prints a byte count in the largest binary unit that divides it.
func formatSize(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
