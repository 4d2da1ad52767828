package screen

import (
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestContinuity(t *testing.T) {
	var c continuity
	t0 := time.Unix(1000, 0)
	p := func(seq uint16, ts uint32) *rtp.Packet {
		pkt := &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: ts}}
		if err := pkt.SetExtension(3, []byte{1, 2}); err != nil {
			t.Fatal(err)
		}
		return pkt
	}
	src1, src2 := source{gen: 1, ssrc: 111}, source{gen: 2, ssrc: 222}
	steps := []struct {
		pkt     *rtp.Packet
		src     source
		at      time.Duration
		gap     bool
		seq     uint16
		ts      uint32
		comment string
	}{
		{p(65534, 1000), src1, 0, false, 65534, 1000, "the first source keeps its numbers"},
		{p(65535, 4000), src1, 200 * time.Millisecond, false, 65535, 4000, ""},
		{p(0, 7000), src1, 400 * time.Millisecond, false, 0, 7000, "wraps"},
		{p(65535, 4000), src1, 410 * time.Millisecond, false, 65535, 4000, "a late packet keeps its place"},
		{p(500, 90), src2, time.Second, false, 1, 7000 + 600*90, "a new source continues after 600 ms"},
		{p(501, 3090), src2, 1100 * time.Millisecond, false, 2, 7000 + 600*90 + 3000, ""},
		{p(600, 9000), src2, 3100 * time.Millisecond, true, 3, 7000 + 600*90 + 3000 + 2000*90, "after a gap of 2 s"},
		{p(601, 9000), src2, 3100 * time.Millisecond, false, 4, 7000 + 600*90 + 3000 + 2000*90, "same frame"},
		{p(7, 5), src1, 3100 * time.Millisecond, false, 5, 7000 + 600*90 + 3000 + 2000*90 + 1, "at once: at least 1 tick"},
	}
	for i, s := range steps {
		if s.gap {
			c.markGap()
		}
		strip(s.pkt)
		c.rewrite(s.pkt, s.src, t0.Add(s.at))
		if s.pkt.SequenceNumber != s.seq || s.pkt.Timestamp != s.ts {
			t.Errorf("step %d (%s): seq %d ts %d, want %d %d", i, s.comment, s.pkt.SequenceNumber, s.pkt.Timestamp, s.seq, s.ts)
		}
		if s.pkt.Extension || s.pkt.Extensions != nil {
			t.Errorf("step %d: header extensions left", i)
		}
		if b, err := s.pkt.Marshal(); err != nil || len(b) != 12 {
			t.Errorf("step %d: marshalled %d bytes, %v; want a bare 12-byte header", i, len(b), err)
		}
	}
}

// FuzzContinuity feeds packets from switching sources with gaps and checks
// that each source's packets keep their spacing and that each new source
// or gap continues right after the highest sequence number sent.
func FuzzContinuity(f *testing.F) {
	f.Add([]byte{0, 1, 10, 0, 1, 10, 1, 5, 200, 2, 1, 3})
	f.Add([]byte{0, 255, 255, 0, 0, 0, 1, 128, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		var c continuity
		now := time.Unix(0, 0)
		var gen uint64
		seq, ts := uint16(1000), uint32(5000)
		var lastIn, lastOut rtp.Header
		var highest uint16
		started, fresh := false, true
		for len(ops) >= 3 {
			op, ds, dt := ops[0], ops[1], ops[2]
			ops = ops[3:]
			now = now.Add(time.Duration(dt) * time.Millisecond)
			switch op % 4 {
			case 1:
				gen++
				seq, ts = uint16(ds)*257, uint32(dt)*99991
				fresh = true
			case 2:
				c.markGap()
				fresh = true
			}
			seq += uint16(int8(ds))
			ts += uint32(dt) * 90
			p := &rtp.Packet{Header: rtp.Header{SequenceNumber: seq, Timestamp: ts}}
			c.rewrite(p, source{gen: gen, ssrc: 1}, now)
			switch {
			case !started:
				highest = p.SequenceNumber
			case fresh:
				if p.SequenceNumber != highest+1 {
					t.Fatalf("after a new source or gap: seq %d, want %d", p.SequenceNumber, highest+1)
				}
			default:
				if p.SequenceNumber-lastOut.SequenceNumber != seq-lastIn.SequenceNumber ||
					p.Timestamp-lastOut.Timestamp != ts-lastIn.Timestamp {
					t.Fatalf("spacing changed within a source")
				}
			}
			if !started || int16(p.SequenceNumber-highest) > 0 {
				highest = p.SequenceNumber
			}
			started, fresh = true, false
			lastIn, lastOut = rtp.Header{SequenceNumber: seq, Timestamp: ts}, p.Header
		}
	})
}
