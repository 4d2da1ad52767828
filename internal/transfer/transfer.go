package transfer

import (
	"io/fs"
	"log/slog"
)

// Progress reports bytes done (resumed bytes included) out of total. It is
// called from the transferring goroutine at most about ten times a second, with
// done never decreasing, and once more at the end of a successful transfer. It
// must return quickly.
type Progress func(done, total int64)

// SendOptions configures Send. The zero value is usable.
type SendOptions struct {
	// Progress, if not nil, is told how far the transfer is.
	Progress Progress
	// Logger receives a record when the transfer starts and ends (info),
	// oddities (warn, with the OS error, which may name a file) and details
	// (debug); nil means no logging. Records never carry file contents.
	Logger *slog.Logger
}

// ReceiveOptions configures Receive. The zero value accepts everything.
type ReceiveOptions struct {
	// Progress, if not nil, is told how far the transfer is.
	Progress Progress
	// Logger is as in SendOptions.
	Logger *slog.Logger
	// Accept is shown the sanitised manifest before anything is written; an
	// error declines the transfer (Receive then returns it wrapped with
	// ErrRejected, and the sender gets ErrRejected). Nil accepts everything.
	// This is where the CLI asks the user or checks free space.
	Accept func(m Manifest) error
}

// File is one regular file of a transfer.
type File struct {
	// Name is a slash-separated relative path that passed SanitizeName. On the
	// receiver's Result it is the path actually written, relative to outDir,
	// after conflict renaming.
	Name string
	// Size in bytes.
	Size int64
	// Mode: only the executable bit is carried (0o755 or 0o644).
	Mode fs.FileMode
	// SHA256 is the file's digest; set in Results, nil in manifests.
	SHA256 []byte
}

// Manifest is what a sender offers.
type Manifest struct {
	// Files in the order they are sent.
	Files []File
	// Dirs are folders without any file below them, created as well.
	Dirs []string
	// Total is the sum of the files' sizes.
	Total int64
	// Skipped lists, on the sender only, the paths Scan left out because
	// they are symbolic links, sockets, devices or pipes found inside a
	// folder. It is never sent.
	Skipped []string
}

// Result is what a transfer achieved.
type Result struct {
	// Files that the receiver stored and verified, with their digests. On
	// the receiver the names are those actually written (after conflict
	// renaming); on the sender they are the manifest's. Files that failed
	// (SHA-256 mismatch) are missing here and reported in the error.
	Files []File
	// Resumed counts the bytes that did not have to be sent again because the
	// receiver already held them.
	Resumed int64
}
