package code

import (
	"fmt"
	"strconv"
	"strings"
)

// Lang names a word list. The zero value is English.
type Lang int

// The word lists.
const (
	English Lang = iota
	German
)

// langs lists every valid Lang, in order.
var langs = [...]Lang{English, German}

// Valid reports whether l names a word list.
func (l Lang) Valid() bool { return l == English || l == German }

// String returns the ISO 639-1 code ("en", "de"), or "Lang(n)" for an
// invalid value.
func (l Lang) String() string {
	switch l {
	case English:
		return "en"
	case German:
		return "de"
	}
	return "Lang(" + strconv.Itoa(int(l)) + ")"
}

// name is the language's name in English, for error messages.
func (l Lang) name() string {
	if l == German {
		return "German"
	}
	return "English"
}

// MarshalText encodes l as "en" or "de" (so it reads well in JSON).
func (l Lang) MarshalText() ([]byte, error) {
	if !l.Valid() {
		return nil, fmt.Errorf("%w: %s", ErrLang, l)
	}
	return []byte(l.String()), nil
}

// UnmarshalText accepts what ParseLang accepts.
func (l *Lang) UnmarshalText(b []byte) error {
	v, err := ParseLang(string(b))
	if err != nil {
		return err
	}
	*l = v
	return nil
}

// ParseLang recognises a language tag or locale: "en", "de", "en-US",
// "de-DE", "de_AT", "de_DE.UTF-8" (as in $LANG), "EN", the names "english",
// "german" and "deutsch", and a comma-separated list such as an HTTP
// Accept-Language header ("fr-CH, de;q=0.9, en;q=0.8"), of which the first
// recognised entry wins (quality values are ignored).
func ParseLang(s string) (Lang, error) {
	for entry := range strings.SplitSeq(s, ",") {
		if l, ok := parseLangTag(entry); ok {
			return l, nil
		}
	}
	return English, fmt.Errorf("%w %q: use en or de", ErrLang, s)
}

func parseLangTag(s string) (Lang, bool) {
	s = strings.TrimSpace(s)
	// Cut the region, script, encoding and modifier ("de_DE.UTF-8@euro")
	// and an Accept-Language quality value ("de;q=0.9").
	if i := strings.IndexAny(s, "-_.@;"); i >= 0 {
		s = s[:i]
	}
	switch strings.ToLower(s) {
	case "en", "eng", "english":
		return English, true
	case "de", "deu", "ger", "german", "deutsch":
		return German, true
	}
	return English, false
}
