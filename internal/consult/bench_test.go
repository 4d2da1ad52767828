package consult

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"
)

// waitChat waits until c's transcript holds n messages, reading the count
// rather than copying a Snapshot, so that long runs stay linear.
func waitChat(b *testing.B, c *Consultation, changed <-chan struct{}, n int) {
	for {
		c.mu.Lock()
		got := len(c.chat)
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-changed:
		case <-c.Done():
			b.Fatal("consultation ended")
		}
	}
}

// BenchmarkChatRoundTrip: the host says something, the client sees it and
// answers, the host sees the answer.
func BenchmarkChatRoundTrip(b *testing.B) {
	host, client := startPair(b, hostConfig(b), clientConfig(b))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hostChanged, clientChanged := host.Changed(ctx), client.Changed(ctx)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if err := host.Chat("Wie hoch ist der Arbeitgeberzuschuss?"); err != nil {
			b.Fatal(err)
		}
		n++
		waitChat(b, client, clientChanged, n)
		if err := client.Chat("15 Prozent."); err != nil {
			b.Fatal(err)
		}
		n++
		waitChat(b, host, hostChanged, n)
	}
}

// BenchmarkFile64MiB moves a 64 MiB host file through the whole consult
// path: spool and hash, ask, answer, "file", the bytes, the client's
// hashing and atomic store, the verdict.
func BenchmarkFile64MiB(b *testing.B) {
	const size = 64 << 20
	cc := clientConfig(b)
	host, client := startPair(b, hostConfig(b), cc)
	data := pseudo(size, 6)
	b.SetBytes(size)
	b.ReportAllocs()
	// On a shared machine wall-clock throughput swings with the
	// neighbours' load; CPU time per MiB is the steadier measure.
	cpu0, n := cpuTime(), 0
	defer func() {
		if cpu := cpuTime() - cpu0; cpu > 0 && n > 0 {
			b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(n*size>>20), "cpu-ms/MiB")
		}
	}()
	for b.Loop() {
		n++
		id, err := host.SendFile("big.bin", size, bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		waitSnap(b, client, "the ask", func(s Snapshot) bool { _, ok := askByID(s, id); return ok })
		if err := client.Answer(id, true); err != nil {
			b.Fatal(err)
		}
		s := waitSnap(b, host, "the verdict", func(s Snapshot) bool { f, _ := fileByID(s, id); return f.State == FileDone || f.State == FileFailed })
		if f, _ := fileByID(s, id); f.State != FileDone {
			b.Fatalf("file %+v", f)
		}
		// Keep the disk bounded: drop the received file and the host's
		// spooled copy (kept for OpenFile until the end).
		f, _ := fileByID(client.Snapshot(), id)
		if err := os.Remove(f.Path); err != nil {
			b.Fatal(err)
		}
		host.mu.Lock()
		host.st.remove(host.fileByID[id].spool)
		host.mu.Unlock()
	}
}
