package code

import (
	_ "embed"
	"fmt"
	"strings"
)

const (
	// ListSize is the number of words in each list.
	ListSize = 1 << BitsPerWord
	// BitsPerWord is the entropy of one word drawn uniformly from a list.
	BitsPerWord = 10
	// MinWordLen and MaxWordLen bound the length of every listed word.
	MinWordLen = 3
	MaxWordLen = 9
)

var (
	//go:embed wordlist_en.txt
	rawEnglish string
	//go:embed wordlist_de.txt
	rawGerman string
)

// entry locates a word: its list and its index there. The lists share no
// word, so one map serves both.
type entry struct {
	lang  Lang
	index int
}

var (
	lists [len(langs)][]string
	index map[string]entry
)

func init() {
	index = make(map[string]entry, len(langs)*ListSize)
	for _, l := range langs {
		raw := rawEnglish
		if l == German {
			raw = rawGerman
		}
		words := strings.Fields(raw)
		if len(words) != ListSize {
			panic(fmt.Sprintf("code: %s word list has %d words, want %d", l, len(words), ListSize))
		}
		for i, w := range words {
			if !isWord(w) {
				panic(fmt.Sprintf("code: %s word list: %q is not %d-%d letters a-z", l, w, MinWordLen, MaxWordLen))
			}
			if prev, dup := index[w]; dup {
				panic(fmt.Sprintf("code: %q is in the %s list and the %s list", w, prev.lang, l))
			}
			index[w] = entry{lang: l, index: i}
		}
		lists[l] = words
	}
}

// isWord reports whether w has the shape of a listed word.
func isWord(w string) bool {
	if len(w) < MinWordLen || len(w) > MaxWordLen {
		return false
	}
	for i := 0; i < len(w); i++ {
		if w[i] < 'a' || w[i] > 'z' {
			return false
		}
	}
	return true
}

// Words returns a copy of the ListSize canonical words of list l, sorted,
// or nil if l is not a valid Lang.
func Words(l Lang) []string {
	if !l.Valid() {
		return nil
	}
	return append([]string(nil), lists[l]...)
}

// LangOf returns the list that contains all of words. ok is false if no
// single list does, or if words is empty. Words must be canonical (lower
// case a-z), as in a Code from Parse.
func LangOf(words []string) (l Lang, ok bool) {
	if len(words) == 0 {
		return English, false
	}
	first, found := index[words[0]]
	if !found {
		return English, false
	}
	for _, w := range words[1:] {
		if e, found := index[w]; !found || e.lang != first.lang {
			return English, false
		}
	}
	return first.lang, true
}

// Phrase returns the check phrase of docs/protocol.md section 7: the words at
// idx in list l joined by single spaces (wire.SASIndices turns the key
// schedule's "sas" bytes into idx). Only the low BitsPerWord bits of each
// index are used, so every input yields three words; an invalid l means
// English (as the protocol says for a code whose language is unknown).
func Phrase(l Lang, idx [3]int) string {
	if !l.Valid() {
		l = English
	}
	list := lists[l]
	const mask = ListSize - 1
	return list[idx[0]&mask] + " " + list[idx[1]&mask] + " " + list[idx[2]&mask]
}
