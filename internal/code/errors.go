package code

import "errors"

// Sentinel errors. Parse, Canonical, Generate and ParseLang wrap them with a
// sentence a person understands; test with errors.Is.
//
// Every error of Parse and Canonical matches one of the four basic sentinels
// ErrEmpty, ErrNameplate, ErrWordCount and ErrUnknownWord: the finer ones
// (ErrTooLong, ErrCharacter, ErrMixedLists) are kinds of ErrUnknownWord, so a
// caller that tells only the four apart still sees a bad code.
var (
	// ErrEmpty means the input holds no code at all (empty, only spaces or
	// separators, or a URL without a code in it).
	ErrEmpty = errors.New("no code given")

	// ErrTooLong means the input is longer than MaxInput bytes. It matches
	// ErrUnknownWord too.
	ErrTooLong error = &subError{"code is too long", ErrUnknownWord}

	// ErrCharacter means the input holds a character that cannot be part
	// of a code (after folding case and umlauts): neither a letter a-z, a
	// digit, nor a separator; or a number where a word belongs. It matches
	// ErrUnknownWord too.
	ErrCharacter error = &subError{"code holds a character that cannot be in a code", ErrUnknownWord}

	// ErrNameplate means the code does not start with a valid nameplate:
	// 1 to MaxNameplateDigits decimal digits without a leading zero.
	ErrNameplate = errors.New("code does not start with a valid number")

	// ErrWordCount means the code does not have exactly WordCount words.
	ErrWordCount = errors.New("code has the wrong number of words")

	// ErrUnknownWord means a word of the code is not in the code's word
	// list. From Parse the error is a *WordError that carries suggestions
	// (unless it is ErrTooLong or ErrCharacter).
	ErrUnknownWord = errors.New("word is not in the word list")

	// ErrMixedLists means the words of the code come from different lists
	// (one German, one English). The error is a *WordError. It matches
	// ErrUnknownWord too: the word is not in the code's list.
	ErrMixedLists error = &subError{"words come from different word lists", ErrUnknownWord}

	// ErrLang means ParseLang did not recognise a language.
	ErrLang = errors.New("unknown language")
)

// subError is a sentinel that is also a kind of a broader sentinel.
type subError struct {
	msg    string
	parent error
}

func (e *subError) Error() string { return e.msg }
func (e *subError) Unwrap() error { return e.parent }
