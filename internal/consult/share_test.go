package consult

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// recordChat is the shape of a chat entry in internal/record's JSON, which
// RecordCost must bound.
type recordChat struct {
	From string    `json:"from"`
	Name string    `json:"name"`
	Text string    `json:"text"`
	At   time.Time `json:"at"`
}

func checkCost(t *testing.T, name, text string) {
	t.Helper()
	for _, s := range []string{name, text} {
		b, _ := json.Marshal(s)
		if got := jsonLen(s); got != len(b) {
			t.Fatalf("jsonLen(%q) = %d, encoding/json writes %d bytes", s, got, len(b))
		}
	}
	// The longest time RFC 3339 with nanoseconds writes.
	at := time.Date(2026, 12, 31, 23, 59, 59, 123456789, time.UTC)
	b, _ := json.Marshal(recordChat{From: "client", Name: name, Text: text, At: at})
	if cost := RecordCost(name, text); cost < len(b)+1 {
		t.Fatalf("RecordCost(%q, %q) = %d, the record's entry takes %d", name, text, cost, len(b)+1)
	}
}

func TestRecordCost(t *testing.T) {
	for _, s := range []string{"", "a", "<>&", "\"\\", "\b\f\n\r\t", "\x00\x01\x1f\x7f", "\u2028\u2029\u0085", "ä€😀", "\xff", "\ufffd"} {
		checkCost(t, s, s)
	}
	if got, want := RecordCost("", "a\nb"), RecordCost("", "a\tb")+lineBreakCost; got != want {
		t.Errorf("a line break costs %d more, want %d", got-want+lineBreakCost, lineBreakCost)
	}
}

func FuzzRecordCost(f *testing.F) {
	f.Add("Mallory <m>", "<script>\u2028\x01\xff")
	f.Fuzz(func(t *testing.T, name, text string) { checkCost(t, name, text) })
}

// TestHostileClientFillsShare: a client floods the chat with text that
// JSON escaping blows up six times (and control characters, and line
// breaks). The host keeps the client's messages up to the client's share,
// then cuts and counts the rest, and the consultation goes on: the adviser
// still chats, and the adviser's own share is untouched.
func TestHostileClientFillsShare(t *testing.T) {
	for _, tc := range []struct{ name, piece string }{
		{"angle brackets", "<"},
		{"control characters", `\u0001`},
		{"line breaks", `a\n`},
		{"lone surrogates", `\udc00`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leakCheck(t)
			raw, host := rawClientAndHost(t, hostConfig(t))
			text := strings.Repeat(tc.piece, 4000/max(1, pieceRunes(tc.piece)))
			var sent int
			for host.Snapshot().ClientShare.Cut == 0 && sent < 100000 {
				for range 50 {
					sent++
					raw.send(fmt.Sprintf(`{"t":"chat","id":"c%d","ts":1,"text":"%s"}`, sent, text))
				}
				// Let the host catch up before the next batch.
				waitSnap(t, host, "the batch", func(s Snapshot) bool {
					return len(s.Chat)+s.ClientShare.Cut == sent
				})
			}
			for range 10 {
				sent++
				raw.send(fmt.Sprintf(`{"t":"chat","id":"c%d","ts":1,"text":"x"}`, sent))
			}
			s := waitSnap(t, host, "the cut", func(s Snapshot) bool { return len(s.Chat)+s.ClientShare.Cut == sent })
			sh := s.ClientShare
			if sh.Cut < 10 || sh.Used > MaxShare || sh.Used < MaxShare-RecordCost("Raw", strings.Repeat("<", 4000)) || !sh.Warn() || sh.CutSince.IsZero() {
				t.Fatalf("client share %+v after %d messages", sh, sent)
			}
			kept := 0
			for _, m := range s.Chat {
				kept++
				if m.From != Client {
					t.Fatalf("message from %v", m.From)
				}
			}
			if kept+sh.Cut != sent {
				t.Fatalf("%d kept + %d cut != %d sent", kept, sh.Cut, sent)
			}
			if s.Ended || host.Err() != nil {
				t.Fatalf("the consultation ended: %v", host.Err())
			}
			if s.HostShare.Used != 0 || s.HostShare.Cut != 0 {
				t.Fatalf("host share %+v", s.HostShare)
			}
			if err := host.Chat("Bitte keine Zeichenketten mehr."); err != nil {
				t.Fatalf("the adviser cannot chat: %v", err)
			}
			if m := raw.next(tChat); m.Text != "Bitte keine Zeichenketten mehr." {
				t.Fatalf("client got %q", m.Text)
			}
		})
	}
}

func pieceRunes(piece string) int {
	var s string
	if err := json.Unmarshal([]byte(`"`+piece+`"`), &s); err != nil {
		panic(err)
	}
	return len([]rune(s))
}

// TestOwnShareRefused: our own messages that would pass our share are
// refused with ErrFull, visibly to the sender, and the other side, counting
// the same way, cuts none of them.
func TestOwnShareRefused(t *testing.T) {
	leakCheck(t)
	host, client := startPair(t, hostConfig(t), clientConfig(t))
	text := strings.Repeat("<&>", 1333)
	sent := 0
	var err error
	for sent < 1000 {
		if err = host.Chat(text); err != nil {
			break
		}
		sent++
	}
	if !errors.Is(err, ErrFull) || sent == 0 {
		t.Fatalf("after %d messages: %v, want ErrFull", sent, err)
	}
	if sh := host.Snapshot().HostShare; sh.Used > MaxShare || sh.Used+RecordCost(host.self.Name, text) <= MaxShare || sh.Cut != 0 {
		t.Fatalf("host's own share %+v", sh)
	}
	s := waitSnap(t, client, "the host's messages", func(s Snapshot) bool { return len(s.Chat) == sent })
	if s.HostShare.Cut != 0 || s.HostShare.Used != host.Snapshot().HostShare.Used {
		t.Fatalf("the client counts the host's share as %+v, the host as %+v", s.HostShare, host.Snapshot().HostShare)
	}
	// A short message still fits where a long one did not.
	if err := host.Chat("Ende."); err != nil && !errors.Is(err, ErrFull) {
		t.Fatal(err)
	}
	if err := client.Chat("Danke."); err != nil {
		t.Fatalf("the client's own share is not the host's: %v", err)
	}
}
