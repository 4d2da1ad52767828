package code

import (
	"errors"
	"strings"
	"testing"
)

var fuzzSeeds = []string{
	"47-nordsee-tulpe",
	"47 Nordsee Tulpe",
	"８-ANCHOR–Tulip",
	"47nordsee tulpe",
	"https://direkt.example/j/47-nordsee-tulpe?x=1",
	"https://direkt.example/j#47%20nordsee%20tulpe",
	"direkt.example/j/47-nordsee-tulpe",
	"3 STRAẞE Ka\u0308se",
	"47-nord\u00adsee-tul\u200bpe",
	"047-nordsee-tulpe",
	"47-nordsee",
	"47-nordsee-tulip",
	"47-\u0308-x",
	"\xff\xfe",
	"",
	"- - -",
	"„(47-nordsee-tulpe)“",
	"999999-zypresse-abendrot",
}

// FuzzParse: Parse never panics; what it accepts is canonical, one list's,
// round-trips through String, and agrees with Canonical.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		canon, cerr := Canonical(s)
		if err != nil {
			if c.Nameplate != "" || c.Words != nil {
				t.Fatalf("Parse(%q) returned %#v with error %v", s, c, err)
			}
			if !isBasic(err) {
				t.Fatalf("Parse(%q): %v matches none of the four basic sentinels", s, err)
			}
			if cerr == nil && !errors.Is(err, ErrUnknownWord) && !errors.Is(err, ErrMixedLists) {
				t.Fatalf("Canonical(%q) ok but Parse failed on the shape: %v", s, err)
			}
			return
		}
		if cerr != nil || canon != c.String() {
			t.Fatalf("Parse(%q) = %q but Canonical = %q, %v", s, c, canon, cerr)
		}
		l, ok := LangOf(c.Words)
		if !ok || l != c.Lang || len(c.Words) != WordCount {
			t.Fatalf("Parse(%q) = %#v: not %d words of its list", s, c, WordCount)
		}
		again, err := Parse(c.String())
		if err != nil || again.String() != c.String() || again.Lang != c.Lang {
			t.Fatalf("Parse(%q) = %v, %v; does not round-trip", c, again, err)
		}
	})
}

// FuzzCanonical: Canonical never panics, is idempotent, and its output is
// digits, a hyphen, and WordCount hyphen-separated runs of a-z.
func FuzzCanonical(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Canonical(s)
		if err != nil {
			if c != "" {
				t.Fatalf("Canonical(%q) = %q with error %v", s, c, err)
			}
			return
		}
		again, err := Canonical(c)
		if err != nil || again != c {
			t.Fatalf("Canonical(%q) = %q, but Canonical(%q) = %q, %v", s, c, c, again, err)
		}
		parts := strings.Split(c, "-")
		if len(parts) != 1+WordCount || checkNameplate(parts[0]) != nil {
			t.Fatalf("Canonical(%q) = %q: bad shape", s, c)
		}
		for _, w := range parts[1:] {
			if w == "" || strings.Trim(w, "abcdefghijklmnopqrstuvwxyz") != "" {
				t.Fatalf("Canonical(%q) = %q: word %q is not a-z", s, c, w)
			}
		}
	})
}
