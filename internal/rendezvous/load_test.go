package rendezvous_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/mailbox"
	"github.com/direkt/direkt/internal/rendezvous"
	"github.com/direkt/direkt/internal/wire"
)

// The load test runs the real server in a child process (this test binary,
// started with loadServerEnv set), so that the memory it measures is the
// server's alone, and plays thousands of hostile clients against it from
// distinct loopback addresses: they allocate and queue bodies nobody
// claims, pair with themselves and queue all they may, and listen on as
// many channels as they may. It asserts that the server's counts stay
// inside its budgets and its heap inside what the budgets allow, that an
// honest pair made before the attack goes on, and that an honest user who
// comes during it is told the server is busy.
//
// DIREKT_LOAD_CLIENTS sets the number of hostile connections (default
// 2000; 500 under -race, 300 with -short); 5000 takes about 40 s without
// -race on 2 cores.

// loadServerEnv carries the child's Config as JSON.
const loadServerEnv = "DIREKT_RENDEZVOUS_LOAD_SERVER"

// runLoadServer is the child: it serves the rendezvous on loopback, writes
// its URL to stdout, serves /loadstats (memory after a GC and the server's
// counts), and exits when stdin closes.
func runLoadServer() {
	var lcfg loadConfig
	if err := json.Unmarshal([]byte(os.Getenv(loadServerEnv)), &lcfg); err != nil {
		fmt.Fprintln(os.Stderr, "load server config:", err)
		os.Exit(2)
	}
	s := rendezvous.New(rendezvous.Config{
		MaxConns: lcfg.MaxConns, MaxMailboxes: lcfg.MaxMailboxes,
		MaxQueuedBytes: lcfg.MaxQueuedBytes, MaxChannels: lcfg.MaxChannels,
		AllocsPerMinute: lcfg.AllocsPerMinute, ClaimsPerMinute: lcfg.ClaimsPerMinute,
		Logger: quiet,
	})
	mux := http.NewServeMux()
	mux.Handle("/", s.Handler())
	mux.HandleFunc("GET /loadstats", func(w http.ResponseWriter, _ *http.Request) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if path := os.Getenv("DIREKT_LOAD_HEAPPROFILE"); path != "" {
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				_ = f.Close()
			}
		}
		_ = json.NewEncoder(w).Encode(loadStats{
			HeapInuse: ms.HeapInuse, HeapAlloc: ms.HeapAlloc, StackInuse: ms.StackInuse,
			Goroutines: runtime.NumGoroutine(), Stats: s.Stats(),
		})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	hs := rendezvous.NewHTTPServer("", mux)
	go func() { _ = hs.Serve(ln) }()
	fmt.Printf("http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = s.Close()
	_ = hs.Close()
	os.Exit(0)
}

// loadConfig is the part of the Config the child takes.
type loadConfig struct {
	MaxConns, MaxMailboxes, MaxChannels int
	MaxQueuedBytes                      int64
	AllocsPerMinute, ClaimsPerMinute    int
}

type loadStats struct {
	HeapInuse, HeapAlloc, StackInuse uint64
	Goroutines                       int
	Stats                            rendezvous.Stats
}

func getLoadStats(t *testing.T, url string) loadStats {
	t.Helper()
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodGet, url+"/loadstats", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st loadStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// startLoadServer starts the child and returns its URL.
func startLoadServer(t *testing.T, cfg loadConfig) string {
	t.Helper()
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), loadServerEnv+"="+string(js))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("load server: %v", err)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Error("load server did not stop")
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("load server: %v", err)
	}
	return strings.TrimSpace(line)
}

// hostile is one attacking connection: it reads and discards what the
// server sends, noting the error frame that ends it.
type hostile struct {
	ws   *websocket.Conn
	done chan struct{}
	kind string // the error frame's kind; "busy" for the server-wide refusal
}

// loadCounts are the outcomes the hostile clients saw.
type loadCounts struct {
	dialFailed, refusedHTTP                atomic.Int64
	allocated, paired, listening           atomic.Int64
	busy, perAddress, tooMany, otherErrors atomic.Int64
}

func (lc *loadCounts) note(h *hostile) {
	switch h.kind {
	case "":
	case "busy":
		lc.busy.Add(1)
	case "per-address":
		lc.perAddress.Add(1)
	case wire.ErrKindTooMany:
		lc.tooMany.Add(1)
	default:
		lc.otherErrors.Add(1)
	}
}

// dialHostile opens a raw WebSocket from ip and reads the welcome. frames
// gets every frame after it until the connection ends.
func dialHostile(ctx context.Context, url string, ip net.IP, lc *loadCounts) (*hostile, <-chan wire.Frame) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: ip}}
	tr := &http.Transport{DialContext: d.DialContext}
	ws, resp, err := websocket.Dial(ctx, url+wire.MailboxPath, &websocket.DialOptions{
		HTTPClient: &http.Client{Transport: tr}, Subprotocols: []string{wire.Subprotocol},
	})
	if err != nil {
		if resp != nil {
			lc.refusedHTTP.Add(1)
		} else {
			lc.dialFailed.Add(1)
		}
		return nil, nil
	}
	ws.SetReadLimit(wire.MaxFrame)
	h := &hostile{ws: ws, done: make(chan struct{})}
	frames := make(chan wire.Frame, 4)
	go func() {
		defer close(h.done)
		defer close(frames)
		for {
			_, data, err := ws.Read(context.Background())
			if err != nil {
				return
			}
			f, err := wire.ParseFrame(data)
			if err != nil {
				h.kind = "invalid frame"
				return
			}
			if f.Type == wire.TypeError {
				h.kind = f.Kind
				switch {
				case strings.Contains(f.Message, "server is busy"):
					h.kind = "busy"
				case strings.Contains(f.Message, "this address"):
					h.kind = "per-address"
				}
			}
			select {
			case frames <- f:
			default: // messages from a self-paired peer: not needed
			}
		}
	}()
	select {
	case f, ok := <-frames:
		if !ok || f.Type != wire.TypeWelcome {
			return h, nil
		}
	case <-ctx.Done():
		return h, nil
	}
	return h, frames
}

// ended reports whether the server has ended the connection.
func (h *hostile) ended() bool {
	select {
	case <-h.done:
		return true
	default:
		return false
	}
}

func (h *hostile) send(ctx context.Context, frame string) bool {
	return h.ws.Write(ctx, websocket.MessageText, []byte(frame)) == nil
}

// reply waits for the answer to a request.
func reply(ctx context.Context, frames <-chan wire.Frame) (wire.Frame, bool) {
	select {
	case f, ok := <-frames:
		return f, ok
	case <-ctx.Done():
		return wire.Frame{}, false
	}
}

func TestLoadHostileClients(t *testing.T) {
	n := 2000
	switch {
	case testing.Short():
		n = 300
	case raceEnabled:
		n = 500
	}
	if v := os.Getenv("DIREKT_LOAD_CLIENTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 100 || n > 9000 {
			t.Fatalf("DIREKT_LOAD_CLIENTS=%q: want 100..9000", v)
		}
	}
	cfg := loadConfig{
		MaxConns:       n * 2 / 5,
		MaxMailboxes:   n / 8,
		MaxQueuedBytes: 16 << 20,
		MaxChannels:    n * 50,
		// Attackers set up at the speed of loopback; the per-address
		// rates are not what this test is about.
		AllocsPerMinute: 1000, ClaimsPerMinute: 1000,
	}
	url := startLoadServer(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// An honest pair meets before the attack.
	honest := net.IPv4(127, 2, 0, 1)
	ha, hb := pairFrom(t, url, honest)
	base := getLoadStats(t, url)

	// The attack: units of one connection (an unclaimed mailbox with
	// queued bodies, or a listener on 1024 channels) or two (a mailbox
	// paired with itself, both sides queueing), 12 units per source
	// address, at most 64 setting up at once.
	var lc loadCounts
	var mu sync.Mutex
	var held []*hostile
	keep := func(h *hostile) {
		if h != nil {
			mu.Lock()
			held = append(held, h)
			mu.Unlock()
		}
	}
	body := `{"type":"add","body":"` + base64.StdEncoding.EncodeToString(make([]byte, wire.MaxBody)) + `"}`
	sem := make(chan struct{}, 64)
	started := time.Now()
	var wg sync.WaitGroup
	conns, u := 0, 0
	for ; conns < n; u++ {
		u := u
		ip := srcAddr(u / 12)
		role := u % 7 // 0: unclaimed; 2, 3: paired; 4: listener; 1, 5, 6: idle
		conns++
		if role == 2 || role == 3 {
			conns++
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			a, fa := dialHostile(ctx, url, ip, &lc)
			keep(a)
			if fa == nil {
				return
			}
			switch role {
			case 1, 5, 6:
				// Holds a connection and does nothing.
			case 0:
				if !a.send(ctx, `{"type":"allocate"}`) {
					return
				}
				if f, ok := reply(ctx, fa); !ok || f.Type != wire.TypeAllocated {
					return
				}
				lc.allocated.Add(1)
				for range 2 {
					if !a.send(ctx, body) {
						return
					}
				}
			case 4:
				chans := make([]string, wire.MaxListenChannels)
				for i := range chans {
					chans[i] = fmt.Sprintf("%08x%024x", u, i)
				}
				js, _ := json.Marshal(wire.Frame{Type: wire.TypeListen, Channels: chans})
				if a.send(ctx, string(js)) {
					if f, ok := reply(ctx, fa); ok && f.Type == wire.TypeListening {
						lc.listening.Add(1)
					}
				}
			default:
				if !a.send(ctx, `{"type":"allocate","reopen":true}`) {
					return
				}
				f, ok := reply(ctx, fa)
				if !ok || f.Type != wire.TypeAllocated {
					return
				}
				b, fb := dialHostile(ctx, url, ip, &lc)
				keep(b)
				if fb == nil || !b.send(ctx, `{"type":"claim","reopen":true,"nameplate":"`+f.Nameplate+`"}`) {
					return
				}
				if f, ok := reply(ctx, fb); !ok || f.Type != wire.TypeClaimed {
					return
				}
				lc.paired.Add(1)
				for i := range wire.MaxBodiesPerSide {
					if !a.send(ctx, body) || !b.send(ctx, body) {
						return
					}
					if i%4 == 3 && (a.ended() || b.ended()) {
						return // refused: the server ended the mailbox
					}
				}
			}
		})
	}
	wg.Wait()
	t.Logf("attack set up in %v", time.Since(started).Round(time.Millisecond))
	// Let the server finish what is in flight: every refused connection
	// gets its error and is closed.
	time.Sleep(500 * time.Millisecond)
	under := getLoadStats(t, url)

	// An honest pair made before the attack carries on.
	hctx := testCtx(t)
	for i := range 5 {
		msg := fmt.Sprintf("honest %d", i)
		if err := ha.Add(hctx, []byte(msg)); err != nil {
			t.Fatalf("honest pair during the attack: %v", err)
		}
		expect(t, hb, wire.TypeMessage, msg)
		if err := hb.Add(hctx, []byte(msg)); err != nil {
			t.Fatalf("honest pair during the attack: %v", err)
		}
		expect(t, ha, wire.TypeMessage, msg)
	}
	// An honest user who comes now is told the server is busy (or, if
	// the attack left room, served).
	hc, err := mailbox.Dial(hctx, url, fromOpts(net.IPv4(127, 2, 0, 2)))
	if err != nil {
		t.Fatalf("honest dial during the attack: %v", err)
	}
	if _, _, err := hc.Allocate(hctx); err != nil {
		expectBusy(t, err, "honest allocation during the attack")
		t.Logf("honest allocation during the attack: %v", err)
	}
	_ = hc.Close(wire.MoodHappy)

	for _, h := range held {
		select {
		case <-h.done:
			lc.note(h)
		default:
		}
	}
	st := under.Stats
	t.Logf("budgets: %d conns, %d mailboxes, %d MiB queued, %d channels", cfg.MaxConns, cfg.MaxMailboxes, cfg.MaxQueuedBytes>>20, cfg.MaxChannels)
	t.Logf("attack: %d connections tried from %d addresses; %d allocated, %d paired, %d listening; refused: %d busy, %d per-address, %d too-many before pairing, %d other, %d HTTP, %d dial errors",
		conns, (u+11)/12, lc.allocated.Load(), lc.paired.Load(), lc.listening.Load(),
		lc.busy.Load(), lc.perAddress.Load(), lc.tooMany.Load(), lc.otherErrors.Load(), lc.refusedHTTP.Load(), lc.dialFailed.Load())
	t.Logf("server before: heap %.1f MiB, stacks %.1f MiB, %d goroutines, %+v", mib(base.HeapInuse), mib(base.StackInuse), base.Goroutines, base.Stats)
	t.Logf("server under attack: heap %.1f MiB, stacks %.1f MiB, %d goroutines, %+v", mib(under.HeapInuse), mib(under.StackInuse), under.Goroutines, st)

	if st.Conns > cfg.MaxConns || st.Mailboxes > cfg.MaxMailboxes || st.QueuedBytes > cfg.MaxQueuedBytes || st.Channels > cfg.MaxChannels {
		t.Fatalf("over budget: %+v", st)
	}
	if lc.busy.Load() == 0 || st.Refused == 0 {
		t.Fatal("the attack never ran into a server-wide budget")
	}
	// What the server holds beyond the queued bytes and channels, per
	// connection: goroutines, buffers, send queues (a rough figure: the
	// 400 bytes per channel are an estimate). The bound allows 64 KiB per
	// connection and 512 bytes per channel over the queued bytes.
	grown := float64(under.HeapInuse+under.StackInuse) - float64(base.HeapInuse+base.StackInuse)
	perConn := (grown - float64(st.QueuedBytes) - 400*float64(st.Channels)) / float64(max(st.Conns, 1))
	t.Logf("growth %.1f MiB: %.1f MiB accounted queue, %d channels, about %.1f KiB per connection besides", grown/(1<<20), mib(uint64(st.QueuedBytes)), st.Channels, perConn/1024)
	limit := float64(cfg.MaxQueuedBytes) + float64(cfg.MaxConns)*64*1024 + float64(cfg.MaxChannels)*512
	if grown > limit {
		t.Fatalf("server memory grew %.1f MiB, more than the budgets allow (%.1f MiB)", grown/(1<<20), limit/(1<<20))
	}
	for _, h := range held {
		_ = h.ws.CloseNow()
		<-h.done
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
