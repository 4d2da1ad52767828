// Package code defines direkt's pairing codes: the format
// <nameplate>-<word>-<word> (for example 47-nordsee-tulpe), the two word
// lists (German and English, 1024 words each) the secret words are drawn
// from, the tolerant parsing of what a person typed or pasted, the canonical
// form that is the CPace password (docs/protocol.md, section 2), and the
// 3-word check phrase drawn from the same lists (section 7).
//
// People read codes aloud over the phone, so the lists are built for that:
// common concrete nouns of 3 to 9 letters a-z, no homophones, no two words of
// a list within Damerau-Levenshtein distance 1 (a one-letter typo is never
// another word, so it is detected, and the intended word is among the
// suggestions of the error), and no word in both lists (a code's language is
// never ambiguous). words_test.go enforces these rules. The German list has
// no word with an umlaut or ß, so nobody has to know how to type them; Parse
// still folds them (ä→ae, ß→ss) for whoever does.
//
// code is a protocol leaf: it imports only the standard library, never another
// direkt package (imports_test.go checks this).
//
// A Code is a secret. Its String method prints it for the person who must
// read it; its LogValue method (log/slog) shows only the nameplate, so a
// Code passed to a logger does not leak the words.
package code
