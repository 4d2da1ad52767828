package code

import (
	"bytes"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestParseTolerant(t *testing.T) {
	de := Code{Nameplate: "47", Words: []string{"nordsee", "tulpe"}, Lang: German}
	en := Code{Nameplate: "8", Words: []string{"anchor", "tulip"}, Lang: English}
	for _, tc := range []struct {
		in   string
		want Code
	}{
		{"47-nordsee-tulpe", de},
		{"47 Nordsee Tulpe", de},
		{"47-NORDSEE-TULPE", de},
		{"47 nordsee-tulpe", de},
		{"  47 nordsee tulpe\n", de},
		{"\t47_nordsee.tulpe.", de},
		{"47,nordsee,tulpe", de},
		{"47, Nordsee, Tulpe", de},
		{"-47 -- nordsee  __ tulpe-", de},
		{"47nordsee tulpe", de},
		{"47 – Nordsee — Tulpe", de},       // en and em dash
		{"47\u2011nordsee\u2212tulpe", de}, // non-breaking hyphen, minus sign
		{"47\u00a0nordsee\u2009tulpe", de}, // no-break space, thin space
		{"47-nord\u00adsee-tul\u200bpe", de},
		{"\ufeff47-nordsee-tulpe", de},
		{"４７－ｎｏｒｄｓｅｅ－ＴＵＬＰＥ", de}, // fullwidth
		{`"47-nordsee-tulpe"`, de},
		{"„47 Nordsee Tulpe“", de},
		{"(47-nordsee-tulpe)", de},
		{"https://direkt.example/j/47-nordsee-tulpe", de},
		{"https://direkt.example/j/47-nordsee-tulpe/", de},
		{"https://direkt.example/j#47-nordsee-tulpe", de},
		{"https://direkt.example/j/#47-nordsee-tulpe", de},
		{"https://direkt.example:8443/j/47-nordsee-tulpe?x=1", de},
		{"http://[::1]:8080/j/47-Nordsee-Tulpe", de},
		{"https://direkt.example/j/47%20Nordsee%20Tulpe", de},
		{"direkt.example/j/47-nordsee-tulpe", de},
		{"/j/47-nordsee-tulpe", de},
		{"8-anchor-tulip", en},
		{"8 Anchor Tulip", en},
	} {
		got, err := Parse(tc.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.in, err)
			continue
		}
		if got.Nameplate != tc.want.Nameplate || !slices.Equal(got.Words, tc.want.Words) || got.Lang != tc.want.Lang {
			t.Errorf("Parse(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
		if c, err := Canonical(tc.in); err != nil || c != tc.want.String() {
			t.Errorf("Canonical(%q) = %q, %v; want %q", tc.in, c, err, tc.want.String())
		}
	}
}

func TestCanonicalUmlauts(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"47 Käse Brötchen", "47-kaese-broetchen"},
		{"47 KÄSE BRÖTCHEN", "47-kaese-broetchen"},
		{"3 Straße Grüße", "3-strasse-gruesse"},
		{"3 STRAẞE GRÜẞE", "3-strasse-gruesse"},              // capital sharp s
		{"3 Ka\u0308se Bro\u0308tchen", "3-kaese-broetchen"}, // NFD
		{"3 KA\u0308SE U\u0308BER", "3-kaese-ueber"},
		{"5-kaese-ueber", "5-kaese-ueber"},
	} {
		if got, err := Canonical(tc.in); err != nil || got != tc.want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
		msg  string // a part of the message a person reads
	}{
		{"", ErrEmpty, "for example"},
		{"   ", ErrEmpty, ""},
		{"- . _ ,", ErrEmpty, ""},
		{"https://direkt.example/j/", ErrEmpty, "link holds no code"},
		{"https://direkt.example/", ErrEmpty, ""},
		{"https://direkt.example/j/#", ErrEmpty, ""},
		{"https://direkt.example/j/nordsee-tulpe", ErrEmpty, ""},
		{strings.Repeat("a", MaxInput+1), ErrTooLong, ""},
		{"nordsee-tulpe", ErrNameplate, "starts with a number"},
		{"nordsee tulpe 47", ErrNameplate, "47-nordsee-tulpe"},
		{"047-nordsee-tulpe", ErrNameplate, "start with 0"},
		{"0-nordsee-tulpe", ErrNameplate, ""},
		{"1234567-nordsee-tulpe", ErrNameplate, "6 digits"},
		{"47", ErrWordCount, "has 0 words"},
		{"47-nordsee", ErrWordCount, "has 1 word"},
		{"47-nordsee-tulpe-anker", ErrWordCount, "has 3 words"},
		{"47-nordsee-5-tulpe", ErrCharacter, "one number"},
		{"47-nordsee-tulpe-5", ErrCharacter, ""},
		{"47-nord$ee-tulpe", ErrCharacter, "'$'"},
		{"47-café-tulpe", ErrCharacter, "'é'"},
		{"47-nordsee-\u0308tulpe", ErrCharacter, ""},
		{"47-nordsee-tulpe\xff", ErrCharacter, "UTF-8"},
		{"47/nordsee/tulpe", ErrCharacter, "'/'"},
		{"https://direkt.example/j/47%zz", ErrCharacter, "garbled"},
	} {
		_, err := Parse(tc.in)
		if !errors.Is(err, tc.want) {
			t.Errorf("Parse(%q): err = %v, want %v", tc.in, err, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Parse(%q): message %q lacks %q", tc.in, err, tc.msg)
		}
		if !isBasic(err) {
			t.Errorf("Parse(%q): %v matches none of the four basic sentinels", tc.in, err)
		}
		if _, cerr := Canonical(tc.in); !errors.Is(cerr, tc.want) {
			t.Errorf("Canonical(%q): err = %v, want %v", tc.in, cerr, tc.want)
		}
	}
}

// isBasic reports whether err matches exactly one of the sentinels the other
// packages were written against.
func isBasic(err error) bool {
	n := 0
	for _, s := range []error{ErrEmpty, ErrNameplate, ErrWordCount, ErrUnknownWord} {
		if errors.Is(err, s) {
			n++
		}
	}
	return n == 1
}

func TestParseUnknownWord(t *testing.T) {
	for _, tc := range []struct {
		in       string
		sentinel error
		pos      int
		lang     Lang
		suggest  []string
		msg      string
	}{
		// One letter wrong, missing, extra, swapped: exactly one suggestion.
		{"47-nordsee-tulpr", ErrUnknownWord, 2, German, []string{"tulpe"}, `"tulpr" is not a code word: did you mean tulpe?`},
		{"47-nordsee-tulp", ErrUnknownWord, 2, German, []string{"tulpe"}, ""},
		{"47-nordseee-tulpe", ErrUnknownWord, 1, German, []string{"nordsee"}, ""},
		{"47-nodrsee-tulpe", ErrUnknownWord, 1, German, []string{"nordsee"}, ""},
		{"47 nordsee tülpe", ErrUnknownWord, 2, German, []string{"tulpe"}, ""},
		{"8-anchor-tulipp", ErrUnknownWord, 2, English, []string{"tulip"}, ""},
		// A word of the other list: suggest the nearest word of the code's list.
		{"47-nordsee-tulip", ErrMixedLists, 2, German, []string{"tulpe"}, "English list, but the code is German"},
		{"47-penguin-tulpe", ErrMixedLists, 1, German, []string{"pinguin"}, "did you mean pinguin?"},
		{"8-anchor-tulpe", ErrMixedLists, 2, English, []string{"tulip", "mule"}, ""},
		// Nothing near.
		{"47-qqqqqq-zzzzzz", ErrUnknownWord, 1, English, nil, `"qqqqqq" is not a code word`},
	} {
		_, err := Parse(tc.in)
		var we *WordError
		if !errors.As(err, &we) || !errors.Is(err, tc.sentinel) || !isBasic(err) {
			t.Errorf("Parse(%q): err = %v, want a *WordError wrapping %v", tc.in, err, tc.sentinel)
			continue
		}
		if we.Position != tc.pos || we.Lang != tc.lang || !slices.Equal(we.Suggestions, tc.suggest) {
			t.Errorf("Parse(%q): WordError{%d %v %q}, want {%d %v %q}", tc.in,
				we.Position, we.Lang, we.Suggestions, tc.pos, tc.lang, tc.suggest)
		}
		if !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("Parse(%q): message %q lacks %q", tc.in, err, tc.msg)
		}
		// Canonical does not look words up.
		if _, cerr := Canonical(tc.in); cerr != nil {
			t.Errorf("Canonical(%q): %v", tc.in, cerr)
		}
	}
}

// TestEveryTypoIsCaught: for every listed word and a single-letter typo of
// it of each kind (substitution, deletion, insertion, adjacent swap), the typo
// is not a word of the same list (the lists keep words 2 apart), and the word
// is among the suggestions unless more than maxSuggestions words are equally
// near.
func TestEveryTypoIsCaught(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ambiguous, total := 0, 0
	var buf distBuf
	for _, l := range langs {
		words := Words(l)
		for _, w := range words {
			i := r.IntN(len(w))
			c := byte('a' + r.IntN(26))
			typos := []string{
				w[:i] + string(c) + w[i+1:],
				w[:i] + w[i+1:],
				w[:i] + string(c) + w[i:],
			}
			if i+1 < len(w) {
				typos = append(typos, w[:i]+string(w[i+1])+string(w[i])+w[i+2:])
			}
			for _, typo := range typos {
				if typo == w {
					continue
				}
				total++
				if e, ok := index[typo]; ok && e.lang == l {
					t.Errorf("%s: typo %q of %q is itself a word", l, typo, w)
					continue
				}
				got := Suggest(typo, l)
				if len(got) > 1 && buf.distance(typo, got[1], 2) == 1 {
					ambiguous++
				}
				if !slices.Contains(got, w) {
					// Allowed only if more words are as near than shown.
					near := 0
					for _, v := range words {
						if buf.distance(typo, v, 2) == 1 { // distBuf is pinned by TestDistance
							near++
						}
					}
					if near <= maxSuggestions {
						t.Errorf("%s: Suggest(%q) = %q, lacks %q", l, typo, got, w)
					}
				}
				if len(got) > 0 && buf.distance(typo, got[0], 2) != 1 {
					t.Errorf("%s: Suggest(%q) = %q, first is not 1 away", l, typo, got)
				}
			}
		}
	}
	t.Logf("%d of %d typos are 1 away from more than one word", ambiguous, total)
}

func TestSuggest(t *testing.T) {
	if got := Suggest("tulpe", German); got != nil {
		t.Errorf("Suggest of a listed word = %q", got)
	}
	if got := Suggest("TULPR", German); len(got) == 0 || got[0] != "tulpe" {
		t.Errorf("Suggest(TULPR) = %q", got)
	}
	if got := Suggest("tulpe", Lang(4)); got != nil {
		t.Errorf("Suggest with invalid Lang = %q", got)
	}
	if got := Suggest(strings.Repeat("x", 100), English); got != nil {
		t.Errorf("Suggest(long) = %q", got)
	}
	// At distance 2 there may be several; all are 2 away, at most 3.
	for _, typo := range []string{"bxrxe", "haxs", "sxnne"} {
		got := Suggest(typo, German)
		if len(got) > maxSuggestions {
			t.Errorf("Suggest(%q) = %q: too many", typo, got)
		}
		for _, w := range got {
			if osa(typo, w) > maxSuggestDistance {
				t.Errorf("Suggest(%q) offers %q at distance %d", typo, w, osa(typo, w))
			}
		}
	}
}

// TestDistance pins distBuf against the plain implementation on random short
// strings over a small alphabet (so that transpositions and repeats occur).
func TestDistance(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	word := func() string {
		b := make([]byte, r.IntN(MaxWordLen+1))
		for i := range b {
			b[i] = "abcd"[r.IntN(4)]
		}
		return string(b)
	}
	var buf distBuf
	for range 20000 {
		a, b := word(), word()
		for limit := 1; limit <= maxSuggestDistance+1; limit++ {
			want := min(osa(a, b), limit)
			if got := buf.distance(a, b, limit); got != want {
				t.Fatalf("distance(%q, %q, %d) = %d, want %d", a, b, limit, got, want)
			}
		}
	}
	for _, tc := range []struct {
		a, b string
		d    int
	}{
		{"tulpe", "tulpe", 0}, {"tulpe", "tuple", 1}, {"tulpe", "tulp", 1}, {"tulpe", "tulpen", 1},
		{"tulpe", "tulip", 2}, {"pinguin", "penguin", 1}, {"ca", "abc", 3}, {"", "abc", 3},
	} {
		if got := buf.distance(tc.a, tc.b, 9); got != tc.d {
			t.Errorf("distance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.d)
		}
	}
}

func TestGenerate(t *testing.T) {
	const n = 4096
	for _, l := range langs {
		seen := map[string]int{}
		same := 0
		for range n {
			c, err := Generate("47", l)
			if err != nil {
				t.Fatal(err)
			}
			if c.Nameplate != "47" || c.Lang != l || len(c.Words) != WordCount {
				t.Fatalf("Generate = %#v", c)
			}
			p, err := Parse(c.String())
			if err != nil || p.String() != c.String() || p.Lang != l {
				t.Fatalf("Parse(%q) = %v, %v", c, p, err)
			}
			for _, w := range c.Words {
				seen[w]++
			}
			if c.Words[0] == c.Words[1] {
				same++
			}
		}
		// 8192 uniform draws from 1024 words miss about 0.3 words on
		// average; a broken generator (a stuck byte, a narrow mask) misses
		// hundreds.
		if len(seen) < ListSize-16 {
			t.Errorf("%s: %d distinct words in %d draws", l, len(seen), 2*n)
		}
		// Equal words are expected n/1024 = 4 times.
		if same > 30 {
			t.Errorf("%s: both words equal in %d of %d codes", l, same, n)
		}
	}
	if SecretBits < 20 {
		t.Fatalf("SecretBits = %d, the design requires at least 20", SecretBits)
	}
}

func TestGenerateErrors(t *testing.T) {
	for _, np := range []string{"", "0", "047", "1234567", "4a", "-4", " 4"} {
		if _, err := Generate(np, German); !errors.Is(err, ErrNameplate) {
			t.Errorf("Generate(%q): err = %v, want ErrNameplate", np, err)
		}
	}
	if _, err := Generate("1", Lang(2)); !errors.Is(err, ErrLang) {
		t.Errorf("Generate with Lang(2): err = %v", err)
	}
	if _, err := Generate("999999", English); err != nil {
		t.Errorf("Generate(999999): %v", err)
	}
}

func TestString(t *testing.T) {
	c := Code{Nameplate: "47", Words: []string{"nordsee", "tulpe"}, Lang: German}
	if c.String() != "47-nordsee-tulpe" {
		t.Fatal(c.String())
	}
	if (Code{Nameplate: "5"}).String() != "5" || (Code{}).String() != "" {
		t.Fatal("String of a partial Code")
	}
}

// TestLogsHideWords: a Code or a *WordError handed to log/slog shows no
// secret word.
func TestLogsHideWords(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	c, err := Generate("47", German)
	if err != nil {
		t.Fatal(err)
	}
	_, perr := Parse("47-nordsee-tulpr")
	var we *WordError
	if !errors.As(perr, &we) {
		t.Fatal(perr)
	}
	log.Info("pairing", "code", c, "err", we)
	for _, secret := range append(c.Words, "tulpr", "tulpe", "nordsee") {
		if strings.Contains(buf.String(), secret) {
			t.Errorf("log shows %q: %s", secret, buf.String())
		}
	}
	if !strings.Contains(buf.String(), "nameplate=47") || !strings.Contains(buf.String(), "position=2") {
		t.Errorf("log lacks the public parts: %s", buf.String())
	}
}

func TestParseFragmentLink(t *testing.T) {
	for _, in := range []string{
		"https://direkt.example/j/47#nordsee-tulpe",
		"http://192.168.1.5:8080/j/47#Nordsee-Tulpe",
		"/j/47#nordsee tulpe",
		"direkt.example/j/47/#nordsee-tulpe",
	} {
		c, err := Parse(in)
		if err != nil || c.String() != "47-nordsee-tulpe" {
			t.Errorf("Parse(%q) = %v, %v; want 47-nordsee-tulpe", in, c, err)
		}
	}
}
