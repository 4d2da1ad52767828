package record

import (
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"
)

// MaxPayload bounds a record's JSON, the payload Sign signs: its base64 in
// the signed envelope then stays within MaxSigned.
const MaxPayload = (MaxSigned - 1024) / 4 * 3

// limits are the sizes Store.Save keeps a record within.
type limits struct {
	payload int // the JSON payload's bytes
	pdf     int // the PDF's bytes
}

var saveLimits = limits{payload: MaxPayload, pdf: MaxPDF}

// cutMargin is what the Cut entries that shrinking adds may take, so that
// one pass usually suffices.
const cutMargin = 1 << 10

// within returns r, normalized and valid, with its payload and PDF, both
// within lim: while either is over, shrink leaves out content and notes it
// in r.Cut, so that a record that was consented to is always written.
// Errors are those of prepare, of rendering, and ErrTooLarge when nothing
// more can be left out (the fixed fields alone are over the limit).
func within(r Record, lim limits) (Record, []byte, []byte, error) {
	r, p, err := prepare(r)
	if err != nil {
		return Record{}, nil, nil, err
	}
	for {
		var target int
		if len(p) > lim.payload {
			target = lim.payload - cutMargin
		} else {
			doc, err := render(r, p)
			if err != nil {
				return Record{}, nil, nil, err
			}
			if len(doc) <= lim.pdf {
				return r, p, doc, nil
			}
			// The PDF is over: aim the JSON lower in proportion, with a
			// margin; the next pass checks again.
			target = int(float64(len(p)) * float64(lim.pdf) / float64(len(doc)) * 0.9)
		}
		var ok bool
		if r, ok = shrink(r, len(p)-target); !ok {
			return Record{}, nil, nil, fmt.Errorf("%w: %d bytes even with nothing left to leave out", ErrTooLarge, len(p))
		}
		if r, p, err = prepare(r); err != nil {
			return Record{}, nil, nil, err
		}
	}
}

// shrink leaves out at least excess bytes of r's payload and notes each cut
// in r.Cut: the latest chat messages first, taken from whichever side has
// more chat in the record, then the end of the notes, then the latest files
// and consent entries. It reports false if there was nothing to leave out.
// r is normalized; its slices are not modified.
func shrink(r Record, excess int) (Record, bool) {
	excess = max(excess, 1)
	gone := 0

	// Chat: per side, the sizes of the messages still kept.
	size := make([]int, len(r.Chat))
	left := map[string]int{}
	for i, c := range r.Chat {
		size[i] = entrySize(c)
		left[c.From] += size[i]
	}
	keep := make([]bool, len(r.Chat))
	for i := range keep {
		keep[i] = true
	}
	last := map[string]int{"host": len(r.Chat) - 1, "client": len(r.Chat) - 1}
	for gone < excess && left["host"]+left["client"] > 0 {
		from := "client"
		if left["host"] > left["client"] {
			from = "host"
		}
		i := last[from]
		for r.Chat[i].From != from || !keep[i] {
			i--
		}
		last[from] = i - 1
		keep[i] = false
		gone += size[i]
		left[from] -= size[i]
		c := r.Chat[i]
		r.Cut = addCut(r.Cut, Cut{From: from, What: "chat", Count: 1, Bytes: int64(len(c.Text)), Since: c.At})
	}
	if slices.Contains(keep, false) {
		var kept []Chat
		for i, c := range r.Chat {
			if keep[i] {
				kept = append(kept, c)
			}
		}
		r.Chat = kept
	}

	// Notes: the longest start that leaves out enough.
	if gone < excess && r.Notes != "" {
		content := jsonLen(r.Notes) - 2
		allow := content - (excess - gone)
		cut, n := 0, 0
		for cut < len(r.Notes) {
			ch, size := utf8.DecodeRuneInString(r.Notes[cut:])
			w := runeJSONLen(ch, size)
			if n+w > allow {
				break
			}
			n += w
			cut += size
		}
		gone += content - n
		if cut == 0 {
			gone += len(`,"notes":""`)
		}
		r.Cut = addCut(r.Cut, Cut{From: "host", What: "notes", Count: 1, Bytes: int64(len(r.Notes) - cut)})
		r.Notes = r.Notes[:cut]
	}

	// Files and consent entries, latest first.
	for gone < excess && len(r.Files) > 0 {
		f := r.Files[len(r.Files)-1]
		r.Files = r.Files[:len(r.Files)-1]
		gone += entrySize(f)
		r.Cut = addCut(r.Cut, Cut{From: f.From, What: "files", Count: 1, Bytes: int64(len(f.Name))})
	}
	for gone < excess && len(r.Consents) > 0 {
		c := r.Consents[len(r.Consents)-1]
		r.Consents = r.Consents[:len(r.Consents)-1]
		gone += entrySize(c)
		r.Cut = addCut(r.Cut, Cut{From: "host", What: "consents", Count: 1, Bytes: int64(len(c.Detail))})
	}
	return r, gone > 0
}

// addCut adds c to the cut of its side and kind, keeping the earliest
// Since.
func addCut(cuts []Cut, c Cut) []Cut {
	for i := range cuts {
		x := &cuts[i]
		if x.From == c.From && x.What == c.What {
			x.Count += c.Count
			x.Bytes += c.Bytes
			if x.Since.IsZero() || (!c.Since.IsZero() && c.Since.Before(x.Since)) {
				x.Since = c.Since
			}
			return cuts
		}
	}
	return append(slices.Clip(cuts), c)
}

// entrySize is what one list entry takes in the payload, its comma
// included.
func entrySize(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		return 1
	}
	return len(b) + 1
}

// jsonLen is the length of s as encoding/json writes it, quotes included:
// '"' and '\\' and the short escapes take 2 bytes; other control
// characters, '<', '>', '&', U+2028, U+2029 and invalid UTF-8 (as \ufffd)
// take 6.
func jsonLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		n += runeJSONLen(r, size)
		i += size
	}
	return n
}

// runeJSONLen is jsonLen's count for rune r, size bytes of UTF-8 (a
// RuneError of size 1 is an invalid byte).
func runeJSONLen(r rune, size int) int {
	switch {
	case r == '"' || r == '\\' || r == '\b' || r == '\f' || r == '\n' || r == '\r' || r == '\t':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029':
		return 6
	case r == utf8.RuneError && size == 1:
		return 6
	}
	return size
}
