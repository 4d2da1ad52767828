package consult

import (
	"time"
	"unicode/utf8"
)

// The transcript's bounds (docs/consult.md, "Limits of the transcript and
// the record"). Each side's chat messages may add at most MaxShare bytes to
// the record, counted by RecordCost, so that a record that was consented to
// always fits its limits (internal/record: MaxPayload, MaxPDF), and neither
// side can crowd out the other. Our own message that does not fit is
// refused (ErrFull); the peer's messages, once its share is full, are cut:
// neither kept nor shown, only counted, and the consultation goes on.
const (
	// MaxShare is the size of each side's share, in bytes of the record.
	MaxShare = 6 << 20
	// WarnShare is where a share counts as nearly full (80 %).
	WarnShare = MaxShare / 5 * 4

	// chatEntryCost bounds what a record's chat entry takes besides its
	// name and text: {"from":"client","name":,"text":,"at":"<RFC 3339
	// with nanoseconds>"}, and its comma; in the PDF a row costs less.
	chatEntryCost = 80
	// lineBreakCost is what a line break costs beyond its JSON: in the PDF
	// each line is a text operation and about one page in fifty, some 18
	// bytes (measured with internal/record's PDF).
	lineBreakCost = 20
)

// Share is one side's share of the transcript.
type Share struct {
	// Used is what the side's kept messages add to the record (RecordCost);
	// Max is MaxShare.
	Used, Max int
	// Cut is how many of the peer's messages were cut because its share
	// was full, CutBytes their text's UTF-8 bytes, CutSince when the first
	// arrived (this side's clock). Our own side is never cut: Chat refuses.
	Cut      int
	CutBytes int64
	CutSince time.Time
}

// Warn reports whether the share is nearly full or cutting has begun.
func (s Share) Warn() bool { return s.Used >= WarnShare || s.Cut > 0 }

// shareLocked returns role's share. mu must be held.
func (c *Consultation) shareLocked(role Role) *Share {
	return &c.shares[role-1]
}

// keepLocked accounts a peer's chat message of text in its share and
// reports whether to keep it; once the share is full, every later message
// of the peer is cut, so the record says from when on. mu must be held.
func (c *Consultation) keepLocked(from Role, text string) bool {
	sh := c.shareLocked(from)
	cost := RecordCost(c.peer.Name, text)
	if sh.Cut == 0 && sh.Used+cost <= sh.Max {
		if sh.Used < WarnShare && sh.Used+cost >= WarnShare {
			c.log.Warn("the peer's share of the transcript is nearly full", "used", sh.Used+cost, "max", sh.Max)
		}
		sh.Used += cost
		return true
	}
	if sh.Cut == 0 {
		sh.CutSince = c.now()
		c.log.Warn("the peer's share of the transcript is full: cutting its messages", "max", sh.Max)
	}
	sh.Cut++
	sh.CutBytes += int64(len(text))
	return false
}

// RecordCost is what a chat message of text by a participant named name
// adds to the record: the text and the name as JSON escapes them (up to six
// bytes for one, "<" becomes \u003c), lineBreakCost per line break for the
// PDF, and chatEntryCost for the entry's other fields.
func RecordCost(name, text string) int {
	n := chatEntryCost + jsonLen(name) + jsonLen(text)
	for _, r := range text {
		switch r {
		case '\n', '\r', '\u2028', '\u2029', '\u0085':
			n += lineBreakCost
		}
	}
	return n
}

// jsonLen is the length of s as encoding/json writes it, quotes included:
// '"', '\\' and the short escapes take 2 bytes; other control characters,
// '<', '>', '&', U+2028, U+2029 and invalid UTF-8 (as \ufffd) take 6.
func jsonLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '"' || r == '\\' || r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t':
			n += 2
		case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
			n += 6
		case r == utf8.RuneError && size == 1:
			n += 6
		default:
			n += size
		}
	}
	return n
}

// Shares returns both sides' shares of the transcript, as the Snapshot
// would, without copying the transcript.
func (c *Consultation) Shares() (host, client Share) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.shares[Host-1], c.shares[Client-1]
}
