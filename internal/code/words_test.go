package code

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// osa is a plain optimal-string-alignment distance (Levenshtein plus adjacent
// transposition), written independently of distBuf so that the list checks do
// not rest on the code they protect.
func osa(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}

var listFiles = map[Lang]string{English: "wordlist_en.txt", German: "wordlist_de.txt"}

// readList reads a list file as it is on disk, one word per line.
func readList(t *testing.T, l Lang) []string {
	t.Helper()
	raw, err := os.ReadFile(listFiles[l])
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	if !strings.HasSuffix(s, "\n") || strings.HasSuffix(s, "\n\n") || strings.Contains(s, "\r") {
		t.Errorf("%s: want LF line ends and exactly one final newline", listFiles[l])
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

func TestWordListShape(t *testing.T) {
	for _, l := range langs {
		t.Run(l.String(), func(t *testing.T) {
			words := readList(t, l)
			if len(words) != ListSize {
				t.Fatalf("%d words, want %d", len(words), ListSize)
			}
			if !slices.IsSorted(words) {
				t.Error("list is not sorted")
			}
			seen := map[string]bool{}
			for i, w := range words {
				if !isWord(w) {
					t.Errorf("line %d: %q is not %d-%d letters a-z", i+1, w, MinWordLen, MaxWordLen)
				}
				if seen[w] {
					t.Errorf("line %d: %q twice", i+1, w)
				}
				seen[w] = true
			}
			if !slices.Equal(words, Words(l)) {
				t.Error("Words differs from the file")
			}
		})
	}
}

// TestWordListDistance: no two words of a list within Damerau-Levenshtein
// distance 1, so that any single typo (a letter wrong, missing, extra, or two
// swapped) yields a word that is not in the list and has exactly one nearest
// listed word.
func TestWordListDistance(t *testing.T) {
	for _, l := range langs {
		words := Words(l)
		for i, a := range words {
			for _, b := range words[i+1:] {
				if abs(len(a)-len(b)) > 1 {
					continue
				}
				if d := osa(a, b); d <= 1 {
					t.Errorf("%s: %q and %q are %d apart", l, a, b, d)
				}
			}
		}
	}
}

func TestWordListsDisjoint(t *testing.T) {
	de := map[string]bool{}
	for _, w := range Words(German) {
		de[w] = true
	}
	for _, w := range Words(English) {
		if de[w] {
			t.Errorf("%q is in both lists", w)
		}
	}
}

// TestWordListHomophones: of each group of words that sound alike, at most
// one may be in a list (a listener cannot tell them apart). The groups are the
// usual suspects; the lists were also screened with espeak-ng transcriptions.
func TestWordListHomophones(t *testing.T) {
	groups := map[Lang][][]string{
		English: {
			{"pair", "pear"}, {"sea", "see"}, {"flour", "flower"}, {"bear", "bare"}, {"hare", "hair"},
			{"knight", "night"}, {"knot", "not"}, {"rose", "rows"}, {"mail", "male"}, {"tail", "tale"},
			{"plane", "plain"}, {"pail", "pale"}, {"sail", "sale"}, {"road", "rode"}, {"peace", "piece"},
			{"steak", "stake"}, {"berry", "bury"}, {"deer", "dear"}, {"meat", "meet"}, {"sun", "son"},
			{"week", "weak"}, {"heel", "heal"}, {"hole", "whole"}, {"toe", "tow"}, {"beach", "beech"},
			{"board", "bored"}, {"dough", "doe"}, {"fir", "fur"}, {"flea", "flee"}, {"horse", "hoarse"},
			{"loan", "lone"}, {"mane", "main"}, {"maze", "maize"}, {"muscle", "mussel"}, {"oar", "ore"},
			{"paws", "pause"}, {"plum", "plumb"}, {"rain", "reign", "rein"}, {"ring", "wring"},
			{"roll", "role"}, {"root", "route"}, {"sole", "soul"}, {"stair", "stare"}, {"sweet", "suite"},
			{"cymbal", "symbol"}, {"tea", "tee"}, {"thyme", "time"}, {"whale", "wail"}, {"yolk", "yoke"},
			{"boulder", "bolder"}, {"cellar", "seller"}, {"chili", "chilly"}, {"cereal", "serial"},
			{"dew", "due"}, {"dye", "die"}, {"ferry", "fairy"}, {"flair", "flare"}, {"hall", "haul"},
			{"heard", "herd"}, {"hour", "our"}, {"inn", "in"}, {"key", "quay"}, {"leek", "leak"},
			{"lynx", "links"}, {"medal", "meddle"}, {"moose", "mousse"}, {"peak", "peek"},
			{"pedal", "peddle"}, {"pole", "poll"}, {"pray", "prey"}, {"read", "reed"}, {"write", "right"},
			{"scent", "cent"}, {"seam", "seem"}, {"sight", "site"}, {"steal", "steel"}, {"tide", "tied"},
			{"vane", "vein", "vain"}, {"waist", "waste"}, {"wait", "weight"}, {"wine", "whine"},
			{"witch", "which"}, {"wood", "would"}, {"desert", "dessert"}, {"sundae", "sunday"},
			{"hangar", "hanger"}, {"sleigh", "slay"}, {"lyre", "liar"}, {"pier", "peer"}, {"creek", "creak"},
		},
		German: {
			{"lied", "lid"}, {"mal", "mahl"}, {"meer", "mehr"}, {"wal", "wahl"}, {"stadt", "statt"},
			{"rad", "rat"}, {"seite", "saite"}, {"leib", "laib"}, {"lerche", "laerche"}, {"mine", "miene"},
			{"sole", "sohle"}, {"moor", "mohr"}, {"war", "wahr"}, {"leere", "lehre"}, {"weise", "waise"},
			{"bote", "boote"}, {"uhr", "ur"}, {"tod", "tot"}, {"bund", "bunt"}, {"wirt", "wird"},
			{"fiel", "viel"}, {"heer", "her"}, {"hohl", "hol"}, {"ende", "ente"},
		},
	}
	for l, gs := range groups {
		for _, g := range gs {
			var in []string
			for _, w := range g {
				if _, ok := index[w]; ok && index[w].lang == l {
					in = append(in, w)
				}
			}
			if len(in) > 1 {
				t.Errorf("%s: %q sound alike", l, in)
			}
		}
	}
}

// TestWordListAvoided: words that must not be read to a client, because they
// are sad, medical, insulting, political, religious, brand names, or have a
// second spelling a listener might pick. Not complete; it pins decisions.
func TestWordListAvoided(t *testing.T) {
	avoided := []string{
		// English
		"coffin", "grave", "tomb", "virus", "pill", "tablet", "stool", "cancer", "weasel", "pansy",
		"gorilla", "satin", "vote", "anthem", "jeep", "frisbee", "popsicle", "jaguar", "puma",
		"gift", // German "Gift" is poison
		"harbor", "theater", "yogurt", "donut", "pajamas", "omelet", "gray", "grey", "racket",
		// German
		"krebs", "sarg", "grab", "tod", "spritze", "pille", "tablette", "pflaster", "schwein", "sau",
		"esel", "affe", "kuh", "gans", "ziege", "pute", "hexe", "fahne", "kanone", "panzer", "kaiser",
		"delfin", "joghurt", "portmonee", "foto", "frisoer", "schlange", "ratte", "geier",
		"braun", "sack", "saturn", "geysir", "puma", "strauss", "edelweiss", // politics, slang, brands, ß
	}
	for _, w := range avoided {
		if e, ok := index[w]; ok {
			t.Errorf("%q is in the %s list", w, e.lang)
		}
	}
}

func TestWordsIsACopy(t *testing.T) {
	w := Words(German)
	w[0] = "xxx"
	if Words(German)[0] == "xxx" {
		t.Fatal("Words returned the package's slice")
	}
	if Words(Lang(7)) != nil {
		t.Fatal("Words of an invalid Lang is not nil")
	}
}

func TestLangOf(t *testing.T) {
	for _, tc := range []struct {
		words []string
		lang  Lang
		ok    bool
	}{
		{[]string{"nordsee", "tulpe"}, German, true},
		{[]string{"anchor", "tulip"}, English, true},
		{[]string{"tulpe"}, German, true},
		{[]string{"nordsee", "tulip"}, English, false},
		{[]string{"nordsee", "xyz"}, English, false},
		{[]string{"Nordsee", "tulpe"}, English, false}, // not canonical
		{nil, English, false},
	} {
		l, ok := LangOf(tc.words)
		if l != tc.lang || ok != tc.ok {
			t.Errorf("LangOf(%q) = %v, %v; want %v, %v", tc.words, l, ok, tc.lang, tc.ok)
		}
	}
}

func TestPhrase(t *testing.T) {
	de, en := Words(German), Words(English)
	if got, want := Phrase(German, [3]int{0, 1, 1023}), de[0]+" "+de[1]+" "+de[1023]; got != want {
		t.Errorf("Phrase = %q, want %q", got, want)
	}
	// Only the low 10 bits count.
	if got, want := Phrase(English, [3]int{1024, -1, 2048 + 5}), en[0]+" "+en[1023]+" "+en[5]; got != want {
		t.Errorf("Phrase = %q, want %q", got, want)
	}
	// An invalid Lang means English (docs/protocol.md, section 7).
	if got, want := Phrase(Lang(-3), [3]int{7, 8, 9}), en[7]+" "+en[8]+" "+en[9]; got != want {
		t.Errorf("Phrase = %q, want %q", got, want)
	}
	if got := strings.Fields(Phrase(German, [3]int{3, 2, 1})); len(got) != 3 {
		t.Errorf("Phrase has %d words", len(got))
	}
}
