package record

import (
	"strings"
	"unicode"
)

// fold prepares text for search: lower case, German umlauts and ß spelled
// out the way Germans write them without umlauts ("Müller" and "Mueller"
// both become "mueller"), other Latin accents removed ("José" → "jose").
func fold(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	prev := rune(0)
	for _, r := range strings.ToLower(s) {
		switch {
		case r == 'ä':
			b.WriteString("ae")
		case r == 'ö':
			b.WriteString("oe")
		case r == 'ü':
			b.WriteString("ue")
		case r == 'ß':
			b.WriteString("ss")
		case r == 'æ':
			b.WriteString("ae")
		case r == 'œ':
			b.WriteString("oe")
		case r == '\u0308' && (prev == 'a' || prev == 'o' || prev == 'u'):
			// a decomposed umlaut: "u" + combining diaeresis
			b.WriteByte('e')
		case unicode.Is(unicode.Mn, r):
			// other combining marks: dropped
		default:
			if base, ok := accents[r]; ok {
				r = base
			}
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// accents maps accented Latin letters (lower case) to their base letter.
var accents = func() map[rune]rune {
	m := make(map[rune]rune)
	for base, list := range map[rune]string{
		'a': "àáâãåāăą", 'c': "çćĉċč", 'd': "ďđ", 'e': "èéêëēĕėęě",
		'g': "ĝğġģ", 'i': "ìíîïĩīĭįı", 'l': "ĺļľŀł", 'n': "ñńņňŉ",
		'o': "òóôõøōŏő", 'r': "ŕŗř", 's': "śŝşš", 't': "ţťŧ",
		'u': "ùúûũūŭůűų", 'y': "ýÿŷ", 'z': "źżž",
	} {
		for _, r := range list {
			m[r] = base
		}
	}
	return m
}()

// matches reports whether every word of the folded query occurs in the
// folded text.
func matches(folded string, words []string) bool {
	for _, w := range words {
		if !strings.Contains(folded, w) {
			return false
		}
	}
	return true
}
