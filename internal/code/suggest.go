package code

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strings"
)

const (
	// maxSuggestDistance is the largest edit distance at which a listed word
	// is still offered as a correction. Listed words are at least 2 apart,
	// so a one-letter typo is never another listed word; it may be 1 away
	// from two words ("zerg": berg, zwerg), so a person gets a short choice.
	// Distance 2 also catches a German word spelled the English way ("tulip"
	// for "tulpe").
	maxSuggestDistance = 2
	// maxSuggestions bounds how many corrections an error offers.
	maxSuggestions = 3
)

// WordError reports a word of a code that is not in the code's word list. It
// wraps ErrUnknownWord, or ErrMixedLists when the word is in the other list.
//
// Its message names the typed word and the suggestions, which are secret
// material: show it to the person who typed the code, never log it. Its
// LogValue method (log/slog) omits them.
type WordError struct {
	Word        string   // the word as typed, canonicalised
	Position    int      // 1-based position among the code's words
	Lang        Lang     // the list the code's other words belong to
	Suggestions []string // nearest words of that list, closest first; may be empty
	mixed       bool
}

func (e *WordError) Error() string {
	var b strings.Builder
	if e.mixed {
		fmt.Fprintf(&b, "%q is a word of the %s list, but the code is %s", e.Word, e.Lang.other().name(), e.Lang.name())
	} else {
		fmt.Fprintf(&b, "%q is not a code word", e.Word)
	}
	if len(e.Suggestions) > 0 {
		b.WriteString(": did you mean ")
		for i, s := range e.Suggestions {
			switch {
			case i == 0:
			case i == len(e.Suggestions)-1:
				b.WriteString(" or ")
			default:
				b.WriteString(", ")
			}
			b.WriteString(s)
		}
		b.WriteString("?")
	}
	return b.String()
}

// Unwrap returns ErrUnknownWord or ErrMixedLists.
func (e *WordError) Unwrap() error {
	if e.mixed {
		return ErrMixedLists
	}
	return ErrUnknownWord
}

// LogValue keeps the typed word and the suggestions out of logs.
func (e *WordError) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("error", e.Unwrap().Error()),
		slog.Int("position", e.Position),
		slog.String("lang", e.Lang.String()),
	)
}

func (l Lang) other() Lang {
	if l == German {
		return English
	}
	return German
}

// Suggest returns up to three words of list l nearest to word (by
// Damerau-Levenshtein distance, at most 2; those with word's first letter
// first, then in list order). It returns nil if word is in the list or nothing
// is near.
func Suggest(word string, l Lang) []string {
	if !l.Valid() {
		return nil
	}
	word = strings.ToLower(word)
	best, found := nearest(word, l)
	if best == 0 {
		return nil
	}
	return found
}

// nearest returns the smallest distance d <= maxSuggestDistance from word to a
// word of list l and up to maxSuggestions words at that distance, those that
// start with word's first letter first (people rarely get the first letter
// wrong), then in list order. It returns maxSuggestDistance+1 and nil if no
// word is that near.
func nearest(word string, l Lang) (int, []string) {
	best := maxSuggestDistance + 1
	var found []string
	var buf distBuf
	for _, w := range lists[l] {
		// With limit best+1, a result <= best is exact.
		d := buf.distance(word, w, best+1)
		switch {
		case d < best:
			best = d
			found = append(found[:0], w)
		case d == best:
			found = append(found, w)
		}
	}
	if best > maxSuggestDistance {
		return best, nil
	}
	if word != "" {
		slices.SortStableFunc(found, func(a, b string) int {
			return cmp.Compare(boolInt(a[0] != word[0]), boolInt(b[0] != word[0]))
		})
	}
	return best, found[:min(len(found), maxSuggestions)]
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// distBuf holds the three rows the distance computation needs, so that a
// scan over a list allocates nothing per word.
type distBuf struct {
	rows [3][MaxWordLen + maxSuggestDistance + 2]int
}

// distance returns the optimal-string-alignment distance between a and b
// (Levenshtein plus transposition of adjacent letters, the typo model of
// Damerau 1964), or limit if it is limit or more. b must be at most
// MaxWordLen+maxSuggestDistance+1 bytes long (a listed word); a may be longer.
func (buf *distBuf) distance(a, b string, limit int) int {
	if abs(len(a)-len(b)) >= limit {
		return limit
	}
	if len(b)+1 > len(buf.rows[0]) {
		return limit
	}
	prev2, prev, cur := buf.rows[0][:len(b)+1], buf.rows[1][:len(b)+1], buf.rows[2][:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin >= limit {
			return limit
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return min(prev[len(b)], limit)
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
