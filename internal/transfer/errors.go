package transfer

import "errors"

// Sentinel errors. Send and Receive wrap them with context (the file concerned,
// the peer's reason); test with errors.Is.
var (
	// ErrDiskFull means the receiver's disk or quota is full (ENOSPC, EDQUOT).
	// The partial file is kept, so a later transfer resumes where this one
	// stopped. The sender sees it wrapped together with ErrPeerAborted.
	ErrDiskFull = errors.New("transfer: disk full")

	// ErrHashMismatch means a received file's SHA-256 differed from the
	// sender's. The corrupt partial file has been removed.
	ErrHashMismatch = errors.New("transfer: file damaged in transit (SHA-256 mismatch)")

	// ErrPeerGone means the stream closed or broke before the transfer was
	// complete. Partial files are kept for a later resume.
	ErrPeerGone = errors.New("transfer: connection to the peer lost")

	// ErrProtocol means the peer sent a malformed, out-of-order or hostile
	// frame (an unsafe name, more data than announced, an oversized frame).
	ErrProtocol = errors.New("transfer: protocol violation by the peer")

	// ErrRejected means the receiver declined the transfer (its Accept
	// function returned an error).
	ErrRejected = errors.New("transfer: declined by the receiver")

	// ErrPeerAborted means the peer stopped the transfer and said why (its
	// disk is full, it cannot read a file, it was cancelled).
	ErrPeerAborted = errors.New("transfer: aborted by the peer")

	// ErrUnsafeName means a file name cannot be made safe: it is absolute, has
	// empty, "." or ".." components, or is too deep or too long.
	ErrUnsafeName = errors.New("transfer: unsafe file name")

	// ErrUnsupportedFile means a path given to Scan or Send is a symbolic link,
	// socket, device or pipe; only regular files and folders are sent.
	ErrUnsupportedFile = errors.New("transfer: not a regular file or folder")

	// ErrSourceChanged means a file changed size while it was being sent.
	ErrSourceChanged = errors.New("transfer: file changed while being sent")

	// ErrTooLarge means a manifest exceeds the protocol's limits (entries or
	// encoded size).
	ErrTooLarge = errors.New("transfer: too many files for one transfer")
)
