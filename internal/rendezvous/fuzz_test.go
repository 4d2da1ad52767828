package rendezvous

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/direkt/direkt/internal/wire"
)

// FuzzFrames drives the server's frame handling — the same handleFrame the
// WebSocket read loop calls — with a script of frames from three clients
// and checks what comes out: only valid server frames, nothing after a
// final one, and no nameplate left in use once everybody is gone.
//
// The script is split at 0x00 bytes. A chunk's first byte picks the client
// (low two bits, so client 0 is 0x04; 3 disconnects client 0) and whether the frame is binary
// (0x80); the rest is the frame, with "$NP" replaced by the last nameplate
// allocated, "$RING" by the last ring id a listener got, "$MB" by the last
// mailbox id and "$TOK" by the last reopen token any client got, so that
// claims, answers and reopens can hit. Afterwards no channel, ring or nameplate may be left.
// fuzzCh is a valid rejoin channel for the seeds.
const fuzzCh = "00112233445566778899aabbccddeeff"

var (
	bigBody      = base64.StdEncoding.EncodeToString(make([]byte, wire.MaxBody))
	manyChannels = `"` + fuzzCh[:30] + `00","` + fuzzCh[:30] + `01","` + fuzzCh[:30] + `02","` + fuzzCh[:30] + `03","` + fuzzCh[:30] + `04","` + fuzzCh[:30] + `05"`
)

func FuzzFrames(f *testing.F) {
	for _, seed := range []string{
		"\x00\x04{\"type\":\"allocate\"}\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\"}\x00\x00\x04{\"type\":\"add\",\"body\":\"aGk=\"}\x00\x01{\"type\":\"close\",\"mood\":\"happy\"}",
		"\x00\x04{\"type\":\"allocate\"}\x00\x00\x04{\"type\":\"add\",\"body\":\"aGk=\"}\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\"}\x00\x02{\"type\":\"claim\",\"nameplate\":\"$NP\"}",
		"\x00\x04{\"type\":\"allocate\"}\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\"}\x00\x01{\"type\":\"close\",\"mood\":\"scary\"}\x00\x02{\"type\":\"claim\",\"nameplate\":\"$NP\"}",
		"\x00\x04{\"type\":\"allocate\"}\x00\x03\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\"}",
		"\x00\x04{\"type\":\"claim\",\"nameplate\":\"1\"}\x00\x01{nope\x00\x82{\"type\":\"allocate\"}",
		"\x00\x04{\"type\":\"add\",\"body\":\"aGk=\"}\x00\x01{\"type\":\"welcome\",\"version\":1}\x00\x02{\"type\":\"close\",\"mood\":\"lonely\"}",
		"\x00\x04{\"type\":\"allocate\",\"x\":[{}]}\x00\x00\x04{\"type\":\"allocate\"}",
		// Known peers: listen, dial, answer, talk, leave.
		"\x00\x04{\"type\":\"listen\",\"channels\":[\"" + fuzzCh + "\"]}\x00\x01{\"type\":\"dial\",\"channel\":\"" + fuzzCh + "\"}\x00\x02{\"type\":\"answer\",\"ring\":\"$RING\"}\x00\x02{\"type\":\"add\",\"body\":\"aGk=\"}\x00\x01{\"type\":\"add\",\"body\":\"aGk=\"}\x00\x01{\"type\":\"close\",\"mood\":\"happy\"}",
		// The listener drops the channel while it rings, then leaves.
		"\x00\x04{\"type\":\"listen\",\"channels\":[\"" + fuzzCh + "\"]}\x00\x01{\"type\":\"dial\",\"channel\":\"" + fuzzCh + "\"}\x00\x00\x04{\"type\":\"listen\"}\x00\x03\x00\x02{\"type\":\"answer\",\"ring\":\"$RING\"}",
		// A second dial and a second answer; the dialer leaves while pairing.
		"\x00\x04{\"type\":\"listen\",\"channels\":[\"" + fuzzCh + "\"]}\x00\x01{\"type\":\"dial\",\"channel\":\"" + fuzzCh + "\"}\x00\x02{\"type\":\"dial\",\"channel\":\"" + fuzzCh + "\"}\x00\x00\x04{\"type\":\"answer\",\"ring\":\"$RING\"}",
		"\x01{\"type\":\"listen\",\"channels\":[\"" + fuzzCh + "\"]}\x00\x00\x04{\"type\":\"dial\",\"channel\":\"" + fuzzCh + "\"}\x00\x01{\"type\":\"close\",\"mood\":\"happy\"}\x00\x02{\"type\":\"answer\",\"ring\":\"$RING\"}",
		"\x00\x04{\"type\":\"dial\",\"channel\":\"" + fuzzCh + "\"}\x00\x01{\"type\":\"listen\",\"channels\":[\"" + fuzzCh + "\",\"" + fuzzCh + "\"]}",
		// Re-opened mailboxes: a paired side drops and comes back on a
		// fresh connection; a wrong token; a reopen that takes over.
		"\x00\x04{\"type\":\"allocate\",\"reopen\":true}\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\",\"reopen\":true}\x00\x04{\"type\":\"add\",\"body\":\"aGk=\"}\x00\x03\x00\x01{\"type\":\"add\",\"body\":\"aGk=\"}\x00\x02{\"type\":\"reopen\",\"mailbox\":\"$MB\",\"token\":\"$TOK\",\"received\":0}\x00\x02{\"type\":\"add\",\"body\":\"aGk=\"}",
		"\x00\x04{\"type\":\"allocate\",\"reopen\":true}\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\",\"reopen\":true}\x00\x02{\"type\":\"reopen\",\"mailbox\":\"$MB\",\"token\":\"$TOK\",\"received\":1}\x00\x01{\"type\":\"close\",\"mood\":\"happy\"}",
		"\x00\x04{\"type\":\"allocate\",\"reopen\":true}\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\"}\x00\x02{\"type\":\"reopen\",\"mailbox\":\"$MB\",\"token\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}",
		// Budgets: large bodies before and after pairing, and more
		// channels than the server takes.
		"\x00\x04{\"type\":\"allocate\"}\x00\x00\x04{\"type\":\"add\",\"body\":\"" + bigBody + "\"}\x00\x00\x04{\"type\":\"add\",\"body\":\"" + bigBody + "\"}\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\"}",
		"\x00\x04{\"type\":\"allocate\"}\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\"}\x00\x00\x04{\"type\":\"add\",\"body\":\"" + bigBody + "\"}\x00\x01{\"type\":\"add\",\"body\":\"" + bigBody + "\"}\x00\x00\x04{\"type\":\"add\",\"body\":\"" + bigBody + "\"}\x00\x02{\"type\":\"allocate\"}",
		"\x02{\"type\":\"listen\",\"channels\":[" + manyChannels + "]}\x00\x01{\"type\":\"listen\",\"channels\":[\"" + fuzzCh + "\"]}\x00\x02{\"type\":\"listen\",\"channels\":[\"" + fuzzCh + "\"]}",
	} {
		f.Add([]byte(seed))
	}
	quiet := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, script []byte) {
		s := New(Config{
			Logger: quiet,
			// Small budgets, so that scripts run into them too.
			MaxMailboxes:        2,
			MaxQueuedBytes:      2*MailboxReserve + 40_000,
			MaxQueuedBytesPerIP: 150_000,
			MaxChannels:         6,
			ICEServers: func(r *http.Request, now time.Time) []wire.ICEServer {
				return []wire.ICEServer{{URLs: []string{"stun:" + r.Host}}}
			},
		})
		defer s.Close()
		var conns [3]*conn
		final := make([]bool, len(conns))
		for i := range conns {
			if _, _, ok := s.admit("fuzz"); !ok {
				t.Fatal("admit refused")
			}
			defer s.release("fuzz", false)
			conns[i] = newConn(s, nil, httptest.NewRequest("GET", wire.MailboxPath, nil), "fuzz", func() {})
		}
		lastNP, lastRing := "1", "AAAAAAAAAAAAAAAAAAAAAA=="
		lastMB, lastTok := lastRing, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
		drain := func() {
			for i, c := range conns {
				for {
					var of outFrame
					select {
					case of = <-c.out:
					default:
					}
					if of.data == nil && !of.final {
						break
					}
					if final[i] {
						t.Fatalf("client %d got a frame after its final one", i)
					}
					final[i] = of.final
					if of.data == nil {
						continue
					}
					fr, err := wire.ParseFrame(of.data)
					if err != nil {
						t.Fatalf("server sent an invalid frame %q: %v", of.data, err)
					}
					switch fr.Type {
					case wire.TypeAllocated:
						lastNP = fr.Nameplate
						lastMB = base64.StdEncoding.EncodeToString(fr.Mailbox)
					case wire.TypeRing:
						lastRing = base64.StdEncoding.EncodeToString(fr.Ring)
					case wire.TypePaired:
						if fr.Token != nil {
							lastTok = base64.StdEncoding.EncodeToString(fr.Token)
						}
					case wire.TypeClaimed, wire.TypeMessage, wire.TypeClosed, wire.TypeError,
						wire.TypeListening, wire.TypeHangup, wire.TypeAnswered, wire.TypeDialed, wire.TypeReopened:
					default:
						t.Fatalf("server sent a %s frame", fr.Type)
					}
					if (fr.Type == wire.TypeClosed || fr.Type == wire.TypeError) && !of.final {
						t.Fatalf("%s frame not final", fr.Type)
					}
				}
			}
		}
		for _, chunk := range bytes.Split(script, []byte{0}) {
			if len(chunk) == 0 {
				continue
			}
			who := int(chunk[0] & 3)
			if who == 3 {
				s.disconnect(conns[0])
				drain()
				continue
			}
			typ := websocket.MessageText
			if chunk[0]&0x80 != 0 {
				typ = websocket.MessageBinary
			}
			data := bytes.ReplaceAll(chunk[1:], []byte("$NP"), []byte(lastNP))
			data = bytes.ReplaceAll(data, []byte("$RING"), []byte(lastRing))
			data = bytes.ReplaceAll(data, []byte("$MB"), []byte(lastMB))
			data = bytes.ReplaceAll(data, []byte("$TOK"), []byte(lastTok))
			s.handleFrame(conns[who], typ, data)
			drain()
		}
		for _, c := range conns {
			s.disconnect(c)
		}
		drain()
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.channels) != 0 || len(s.ringing) != 0 || len(s.rings) != 0 {
			t.Fatalf("%d channels, %d ringing, %d rings left after every client left", len(s.channels), len(s.ringing), len(s.rings))
		}
		for _, c := range conns {
			if c.ringCount != 0 || c.ring != nil || len(c.listens) != 0 {
				t.Fatalf("connection left with %d open rings, ring %v, %d channels", c.ringCount, c.ring != nil, len(c.listens))
			}
		}
		if len(s.mailboxes) != 0 {
			t.Fatalf("%d reopenable mailboxes left after every client left", len(s.mailboxes))
		}
		if len(s.nameplates) != 0 {
			t.Fatalf("%d nameplates in use after every client left", len(s.nameplates))
		}
		if s.mailboxCount != 0 || s.queued != 0 || s.channelsHeld != 0 {
			t.Fatalf("budgets not given back: %d mailboxes, %d bytes, %d channels", s.mailboxCount, s.queued, s.channelsHeld)
		}
		if st := s.ips["fuzz"]; st.queued != 0 || st.channels != 0 {
			t.Fatalf("address charges not given back: %d bytes, %d channels", st.queued, st.channels)
		}
		for d, n := range s.rangeUsed {
			if n != 0 {
				t.Fatalf("range of %d digits counts %d in use", d, n)
			}
		}
	})
}

// BenchmarkListenFull measures the server's side of the largest listen
// frame: parsing it and replacing a full set of channels.
func BenchmarkListenFull(b *testing.B) {
	s := New(Config{Logger: slog.New(slog.DiscardHandler), AllocsPerMinute: 1 << 30})
	defer s.Close()
	if _, _, ok := s.admit("bench"); !ok {
		b.Fatal("admit refused")
	}
	defer s.release("bench", false)
	c := newConn(s, nil, httptest.NewRequest("GET", wire.MailboxPath, nil), "bench", func() {})
	frames := make([][]byte, 2)
	for k := range frames {
		chans := make([]string, wire.MaxListenChannels)
		for i := range chans {
			chans[i] = fmt.Sprintf("%016x%016x", k, i)
		}
		frames[k], _ = wire.Frame{Type: wire.TypeListen, Channels: chans}.Marshal()
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(frames[0])))
	i := 0
	for b.Loop() {
		s.handleFrame(c, websocket.MessageText, frames[i%2])
		<-c.out // the listening reply
		i++
	}
	if c.finishing {
		b.Fatal("the listener was dropped")
	}
}
