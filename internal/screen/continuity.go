package screen

import (
	"sync"
	"time"

	"github.com/pion/rtp"
)

// source names where the packets of one leg come from: a bridge or an
// attached session (gen, counted up by the Service) and the SSRC.
type source struct {
	gen  uint64
	ssrc uint32
}

// continuity maps the sequence numbers and timestamps of successive sources
// onto one stream that never jumps back (docs/screen.md, "The path of a
// picture"): a receiver that sees them jump back drops the picture. Within a
// source the offsets stay; a new source, or the first packet after a gap
// (packets dropped by a gate), continues at the last sequence number + 1 and
// the last timestamp + the wall time since the last packet at 90 kHz (at
// least 1). Its methods are safe for concurrent use.
type continuity struct {
	mu      sync.Mutex
	started bool
	gap     bool
	src     source
	seqOff  uint16
	tsOff   uint32
	lastSeq uint16    // highest sequence number sent (RFC 3550 serial order)
	lastTS  uint32    // timestamp of the packet with lastSeq
	lastAt  time.Time // when the packet with lastSeq went out
}

// vp8Clock is the RTP clock rate of VP8 (RFC 7741, section 6.1).
const vp8Clock = 90000

// markGap notes that packets were dropped: the next one starts afresh.
func (c *continuity) markGap() {
	c.mu.Lock()
	c.gap = true
	c.mu.Unlock()
}

// rewrite sets p's sequence number and timestamp for the output stream.
func (c *continuity) rewrite(p *rtp.Packet, src source, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.started:
		c.started = true
		c.seqOff, c.tsOff = 0, 0
		c.lastSeq, c.lastTS = p.SequenceNumber-1, p.Timestamp
	case c.gap || src != c.src:
		step := uint32(max(1, now.Sub(c.lastAt).Milliseconds()*vp8Clock/1000))
		c.seqOff = c.lastSeq + 1 - p.SequenceNumber
		c.tsOff = c.lastTS + step - p.Timestamp
	}
	c.gap = false
	c.src = src
	p.SequenceNumber += c.seqOff
	p.Timestamp += c.tsOff
	if int16(p.SequenceNumber-c.lastSeq) > 0 {
		c.lastSeq, c.lastTS, c.lastAt = p.SequenceNumber, p.Timestamp, now
	}
}

// strip removes the header extensions of the leg a packet came in on:
// their IDs are negotiated per leg, and each leg's interceptors add their
// own.
func strip(p *rtp.Packet) {
	p.Extension = false
	p.ExtensionProfile = 0
	p.Extensions = nil
}
