package rendezvous

import (
	"bytes"
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
// (low two bits; 3 disconnects client 0) and whether the frame is binary
// (0x80); the rest is the frame, with "$NP" replaced by the last nameplate
// allocated, so that claims can hit.
func FuzzFrames(f *testing.F) {
	for _, seed := range []string{
		"\x00{\"type\":\"allocate\"}\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\"}\x00\x00{\"type\":\"add\",\"body\":\"aGk=\"}\x00\x01{\"type\":\"close\",\"mood\":\"happy\"}",
		"\x00{\"type\":\"allocate\"}\x00\x00{\"type\":\"add\",\"body\":\"aGk=\"}\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\"}\x00\x02{\"type\":\"claim\",\"nameplate\":\"$NP\"}",
		"\x00{\"type\":\"allocate\"}\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\"}\x00\x01{\"type\":\"close\",\"mood\":\"scary\"}\x00\x02{\"type\":\"claim\",\"nameplate\":\"$NP\"}",
		"\x00{\"type\":\"allocate\"}\x00\x03\x00\x01{\"type\":\"claim\",\"nameplate\":\"$NP\"}",
		"\x00{\"type\":\"claim\",\"nameplate\":\"1\"}\x00\x01{nope\x00\x82{\"type\":\"allocate\"}",
		"\x00{\"type\":\"add\",\"body\":\"aGk=\"}\x00\x01{\"type\":\"welcome\",\"version\":1}\x00\x02{\"type\":\"close\",\"mood\":\"lonely\"}",
		"\x00{\"type\":\"allocate\",\"x\":[{}]}\x00\x00{\"type\":\"allocate\"}",
	} {
		f.Add([]byte(seed))
	}
	quiet := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, script []byte) {
		s := New(Config{
			Logger: quiet,
			ICEServers: func(r *http.Request, now time.Time) []wire.ICEServer {
				return []wire.ICEServer{{URLs: []string{"stun:" + r.Host}}}
			},
		})
		defer s.Close()
		var conns [3]*conn
		final := make([]bool, len(conns))
		for i := range conns {
			if _, ok := s.admit("fuzz"); !ok {
				t.Fatal("admit refused")
			}
			defer s.release("fuzz")
			conns[i] = newConn(s, nil, httptest.NewRequest("GET", wire.MailboxPath, nil), "fuzz", func() {})
		}
		lastNP := "1"
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
					case wire.TypeClaimed, wire.TypePaired, wire.TypeMessage, wire.TypeClosed, wire.TypeError:
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
			s.handleFrame(conns[who], typ, data)
			drain()
		}
		for _, c := range conns {
			s.disconnect(c)
		}
		drain()
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.nameplates) != 0 {
			t.Fatalf("%d nameplates in use after every client left", len(s.nameplates))
		}
		for d, n := range s.rangeUsed {
			if n != 0 {
				t.Fatalf("range of %d digits counts %d in use", d, n)
			}
		}
	})
}
