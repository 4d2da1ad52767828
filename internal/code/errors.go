package code

import "errors"

// Sentinel errors. Parse, Canonical, Generate and ParseLang wrap them with a
// sentence a person understands; test with errors.Is.
var (
	// ErrEmpty means the input holds no code at all (empty, only spaces or
	// separators, or a URL without a code in it).
	ErrEmpty = errors.New("no code given")

	// ErrTooLong means the input is longer than MaxInput bytes.
	ErrTooLong = errors.New("code is too long")

	// ErrCharacter means the input holds a character that cannot be part
	// of a code (after folding case and umlauts): neither a letter a-z, a
	// digit, nor a separator.
	ErrCharacter = errors.New("code holds a character that cannot be in a code")

	// ErrNameplate means the code does not start with a valid nameplate:
	// 1 to MaxNameplateDigits decimal digits without a leading zero.
	ErrNameplate = errors.New("code does not start with a valid number")

	// ErrWordCount means the code does not have exactly WordCount words.
	ErrWordCount = errors.New("code has the wrong number of words")

	// ErrUnknownWord means a word of the code is in neither word list. The
	// error is a *WordError that carries suggestions.
	ErrUnknownWord = errors.New("word is not in the word list")

	// ErrMixedLists means the words of the code come from different lists
	// (one German, one English). The error is a *WordError.
	ErrMixedLists = errors.New("words come from different word lists")

	// ErrLang means ParseLang did not recognise a language.
	ErrLang = errors.New("unknown language")
)
