package record

import "errors"

// Sentinel errors. Functions wrap them with context; test with errors.Is.
var (
	// ErrMalformed means signed data is not a well-formed envelope or its
	// payload is not a record in canonical form (unknown or duplicate fields,
	// a field name in the wrong case, bad base64, trailing data, times not
	// in UTC).
	ErrMalformed = errors.New("record: malformed signed record")

	// ErrUnsupported means the envelope names a version or algorithm this
	// implementation does not know.
	ErrUnsupported = errors.New("record: unsupported record version or algorithm")

	// ErrBadSignature means the signature does not verify: the payload, the
	// signature or the key was changed after signing.
	ErrBadSignature = errors.New("record: signature does not verify")

	// ErrWrongKey means the key that signs (or is to sign) a record is not
	// the host key the record names.
	ErrWrongKey = errors.New("record: signing key is not the host's key")

	// ErrInvalid means a record's content breaks its rules (version, id,
	// roles, keys and fingerprints, enumerations, times); the error says which.
	ErrInvalid = errors.New("record: invalid record")

	// ErrTooLarge means signed data exceeds MaxSigned bytes.
	ErrTooLarge = errors.New("record: record too large")

	// ErrBadID means a record id is not of the form NewID produces; such an
	// id never reaches the file system.
	ErrBadID = errors.New("record: invalid record id")

	// ErrUnknownFormat means Store.Open was asked for a format other than
	// "pdf" or "json".
	ErrUnknownFormat = errors.New("record: unknown record format")

	// ErrExists means a record with this id is already stored; nothing was
	// written and the stored record is unchanged.
	ErrExists = errors.New("record: a record with this id already exists")

	// ErrNotFound means no record with this id (or not in this format) is
	// stored.
	ErrNotFound = errors.New("record: no such record")

	// ErrPDFMismatch means a PDF is not the rendering of its record (see
	// CheckPDF): it was changed, or made by another version.
	ErrPDFMismatch = errors.New("record: the PDF is not this record's rendering")

	// ErrNotPDF means data given to Store.Add as the PDF form is not a PDF.
	ErrNotPDF = errors.New("record: not a PDF document")
)
