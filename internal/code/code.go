package code

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

const (
	// WordCount is the number of secret words in a code.
	WordCount = 2
	// SecretBits is the entropy of a code's secret part: WordCount words
	// drawn uniformly from a list of ListSize words. The design requires at
	// least 20.
	SecretBits = WordCount * BitsPerWord
	// MaxNameplateDigits bounds the nameplate (the server hands out 1..999999).
	MaxNameplateDigits = 6
	// MaxInput is the longest input Parse and Canonical look at, in bytes;
	// enough for a join URL on a long host name.
	MaxInput = 1024
)

// Code is a pairing code: the server's nameplate and the secret words, all
// canonical (the nameplate decimal digits, the words from one list, lower case
// a-z).
type Code struct {
	Nameplate string
	Words     []string
	Lang      Lang
}

// String returns the canonical form "47-nordsee-tulpe", the CPace password.
// It is a secret: show it to the person, never log it.
func (c Code) String() string {
	n := len(c.Nameplate)
	for _, w := range c.Words {
		n += 1 + len(w)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(c.Nameplate)
	for _, w := range c.Words {
		b.WriteByte('-')
		b.WriteString(w)
	}
	return b.String()
}

// LogValue makes log/slog show only the public part of a code: the
// nameplate (which the server knows) and the language, never the words.
func (c Code) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("nameplate", c.Nameplate),
		slog.String("lang", c.Lang.String()),
	)
}

// Generate draws WordCount words uniformly and independently from list l with
// crypto/rand and returns the code for nameplate. The nameplate must be
// valid (1 to MaxNameplateDigits digits, no leading zero).
func Generate(nameplate string, l Lang) (Code, error) {
	if err := checkNameplate(nameplate); err != nil {
		return Code{}, err
	}
	if !l.Valid() {
		return Code{}, fmt.Errorf("%w: %s", ErrLang, l)
	}
	var b [2 * WordCount]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Code{}, fmt.Errorf("code: reading random bytes: %w", err)
	}
	c := Code{Nameplate: nameplate, Words: make([]string, WordCount), Lang: l}
	for i := range c.Words {
		// ListSize is a power of two, so masking 16 uniform bits is uniform.
		c.Words[i] = lists[l][binary.BigEndian.Uint16(b[2*i:])&(ListSize-1)]
	}
	return c, nil
}

// Parse reads a code as a person types or pastes it. It is tolerant of what
// does not change the code: upper case; umlauts (ä→ae, ö→oe, ü→ue, ß→ss,
// upper case and decomposed forms too); any run of spaces, hyphens (also
// Unicode dashes), underscores, dots or commas between the parts; a missing
// separator between the number and the first word; surrounding whitespace and
// quotes; and a join URL ("https://host/j/47#nordsee-tulpe" as direkt writes
// them, "https://host/j/47-nordsee-tulpe" or "https://host/j#47-nordsee-tulpe"),
// of which it takes the nameplate segment with the fragment, the fragment, or else
// the last path segment.
//
// It checks that the code is a nameplate followed by WordCount words of one
// list. An unknown word or a word of the other list yields a *WordError with
// the nearest words of the code's list as suggestions.
func Parse(s string) (Code, error) {
	nameplate, words, err := split(s)
	if err != nil {
		return Code{}, err
	}
	if l, ok := LangOf(words); ok {
		return Code{Nameplate: nameplate, Words: words, Lang: l}, nil
	}
	return Code{}, wordError(words)
}

// Canonical returns the canonical form of s (the CPace password, see
// docs/protocol.md section 2) with the same tolerance and the same checks of
// the shape as Parse, but without looking the words up in the lists.
// Canonical(Canonical(s)) == Canonical(s).
func Canonical(s string) (string, error) {
	nameplate, words, err := split(s)
	if err != nil {
		return "", err
	}
	return Code{Nameplate: nameplate, Words: words}.String(), nil
}

// wordError explains why words are not all from one list. It measures the
// code against each list (how many words it holds, then how far the others
// are from it) and reports the first word that does not fit the closer one.
func wordError(words []string) error {
	type near struct {
		dist  int
		words []string
	}
	// nears[l][i] is word i's distance to list l and the suggestions there;
	// each list is scanned at most once per word.
	var nears [len(langs)][]near
	known := [len(langs)]int{}
	cost := [len(langs)]int{}
	firstKnown, haveFirst := English, false
	for _, l := range langs {
		nears[l] = make([]near, len(words))
		for i, w := range words {
			e, ok := index[w]
			if ok && !haveFirst {
				firstKnown, haveFirst = e.lang, true
			}
			if ok && e.lang == l {
				known[l]++
				continue
			}
			d, sugg := nearest(w, l)
			nears[l][i] = near{d, sugg}
			cost[l] += d
		}
	}
	best := langs[0]
	for _, l := range langs[1:] {
		switch {
		case known[l] > known[best],
			known[l] == known[best] && cost[l] < cost[best],
			known[l] == known[best] && cost[l] == cost[best] && haveFirst && l == firstKnown:
			best = l
		}
	}
	for i, w := range words {
		e, ok := index[w]
		if ok && e.lang == best {
			continue
		}
		return &WordError{Word: w, Position: i + 1, Lang: best, Suggestions: nears[best][i].words, mixed: ok}
	}
	// Unreachable: LangOf found no single list, so some word misfits.
	return fmt.Errorf("%w: %q", ErrUnknownWord, words)
}

// split normalises s and returns its nameplate and words, checked for shape:
// the nameplate valid, WordCount words of letters a-z.
func split(s string) (nameplate string, words []string, err error) {
	if len(s) > MaxInput {
		return "", nil, fmt.Errorf("%w: %d bytes, at most %d", ErrTooLong, len(s), MaxInput)
	}
	s, err = extract(s)
	if err != nil {
		return "", nil, err
	}
	folded, err := fold(s)
	if err != nil {
		return "", nil, err
	}
	if folded == "" {
		return "", nil, fmt.Errorf("%w: type the code, for example 47-nordsee-tulpe", ErrEmpty)
	}
	parts := strings.Split(folded, "-")
	if !isDigits(parts[0]) {
		if isDigits(parts[len(parts)-1]) {
			return "", nil, fmt.Errorf("%w: the number comes first, as in %s-%s", ErrNameplate,
				parts[len(parts)-1], strings.Join(parts[:len(parts)-1], "-"))
		}
		return "", nil, fmt.Errorf("%w: a code starts with a number, as in 47-nordsee-tulpe", ErrNameplate)
	}
	if err := checkNameplate(parts[0]); err != nil {
		return "", nil, err
	}
	words = parts[1:]
	for _, w := range words {
		if isDigits(w) {
			return "", nil, fmt.Errorf("%w: a code has one number, at its start", ErrCharacter)
		}
	}
	if len(words) != WordCount {
		return "", nil, fmt.Errorf("%w: a code is a number and %d words, as in 47-nordsee-tulpe, but this has %d %s",
			ErrWordCount, WordCount, len(words), plural(len(words), "word", "words"))
	}
	return parts[0], words, nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func checkNameplate(n string) error {
	switch {
	case n == "" || !isDigits(n):
		return fmt.Errorf("%w: %q is not a number", ErrNameplate, n)
	case len(n) > MaxNameplateDigits:
		return fmt.Errorf("%w: the number has more than %d digits", ErrNameplate, MaxNameplateDigits)
	case n[0] == '0':
		return fmt.Errorf("%w: the number does not start with 0", ErrNameplate)
	}
	return nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// quotes are trimmed from both ends of the input, as left by copying a code
// out of a sentence or a chat message.
const quotes = "\"'`„“”‚‘’«»‹›<>()[]{}"

// extract trims s and, if s is a join URL, returns the code part of it: the
// fragment if there is one, else the last non-empty path segment, with
// percent-escapes decoded.
func extract(s string) (string, error) {
	s = strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(quotes, r) })
	if !looksLikeURL(s) {
		return s, nil
	}
	rest, frag, _ := strings.Cut(s, "#")
	rest, _, _ = strings.Cut(rest, "?")
	if _, after, ok := strings.Cut(rest, "://"); ok {
		rest = after
	}
	last := ""
	segs := strings.Split(rest, "/")
	// segs[0] is the host (or empty for a path "/j/..."): never the code.
	for i := len(segs) - 1; i > 0 && last == ""; i-- {
		if strings.TrimSpace(segs[i]) != "" {
			last = segs[i]
		}
	}
	part := last
	if frag = strings.TrimSpace(frag); frag != "" {
		part = frag
		// direkt's links keep the nameplate in the path and the secret
		// words in the fragment: https://host/j/47#nordsee-tulpe.
		if last != "" && strings.Trim(last, "0123456789") == "" {
			part = last + "-" + frag
		}
	}
	part, err := unescape(part)
	if err != nil {
		return "", err
	}
	// A code starts with its number; a segment without a digit is the
	// page's path ("/j/"), not a code.
	if !strings.ContainsAny(part, "0123456789０１２３４５６７８９") {
		return "", fmt.Errorf("%w: the link holds no code", ErrEmpty)
	}
	return part, nil
}

// looksLikeURL reports whether s is a URL or a URL without its scheme
// ("host/j/47-..."), as opposed to a code typed with stray slashes.
func looksLikeURL(s string) bool {
	if strings.Contains(s, "://") || strings.HasPrefix(s, "/") {
		return true
	}
	host, _, ok := strings.Cut(s, "/")
	return ok && strings.ContainsAny(host, ".:")
}

func unescape(s string) (string, error) {
	u, err := url.PathUnescape(s)
	if err != nil {
		return "", fmt.Errorf("%w: the link is garbled (%v)", ErrCharacter, err)
	}
	return u, nil
}

// fold lower-cases s, spells umlauts and ß out in ASCII, turns every run of
// separators into one '-' (dropping leading and trailing ones), puts a '-'
// between the number and a word written together, and rejects anything else.
func fold(s string) (string, error) {
	out := make([]byte, 0, len(s)+8)
	sep := false // a separator is pending
	put := func(b ...byte) {
		if len(out) > 0 {
			last := out[len(out)-1]
			if sep || isDigit(last) != isDigit(b[0]) {
				out = append(out, '-')
			}
		}
		sep = false
		out = append(out, b...)
	}
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return "", fmt.Errorf("%w: the text is not valid UTF-8", ErrCharacter)
			}
		}
		if r >= 0xFF01 && r <= 0xFF5E { // fullwidth ASCII, as typed with some input methods
			r -= 0xFEE0
		}
		r = unicode.ToLower(r)
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			put(byte(r))
		case r == 'ä':
			put('a', 'e')
		case r == 'ö':
			put('o', 'e')
		case r == 'ü':
			put('u', 'e')
		case r == 'ß':
			put('s', 's')
		case r == '\u0308': // combining diaeresis: a + U+0308 is ä (NFD)
			if sep || len(out) == 0 || !strings.ContainsRune("aou", rune(out[len(out)-1])) {
				return "", fmt.Errorf("%w: %U", ErrCharacter, r)
			}
			out = append(out, 'e')
		case isSeparator(r):
			sep = true
		case isIgnorable(r):
		default:
			return "", fmt.Errorf("%w: %q", ErrCharacter, r)
		}
	}
	return string(out), nil
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// isSeparator: the separators of docs/protocol.md section 2, plus any Unicode
// space and dash (word processors and phones turn "-" into "–").
func isSeparator(r rune) bool {
	switch r {
	case '-', '_', '.', ',':
		return true
	}
	return unicode.IsSpace(r) || unicode.Is(unicode.Pd, r) || r == '\u2212' // minus sign
}

// isIgnorable: invisible characters that copying text drags along.
func isIgnorable(r rune) bool {
	switch r {
	case '\u00AD', // soft hyphen
		'\u200B', '\u200C', '\u200D', '\u2060', // zero-width space, (non-)joiner, word joiner
		'\uFEFF': // byte order mark
		return true
	}
	return false
}
