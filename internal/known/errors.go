package known

import "errors"

var (
	// ErrCorrupt means the file exists but is not a valid list: bad JSON,
	// another version, a malformed or repeated entry. Open refuses it and
	// never overwrites it; the user has to move it away.
	ErrCorrupt = errors.New("known peers file is corrupt")

	// ErrUnknown means no entry has the given key.
	ErrUnknown = errors.New("no such known peer")

	// ErrInvalid means Add got an entry that cannot be stored: a key or
	// token of the wrong size, a name or server that is not printable, or
	// a token another entry already uses.
	ErrInvalid = errors.New("invalid known peer")

	// ErrFull means the list holds MaxEntries entries already.
	ErrFull = errors.New("too many known peers")
)
