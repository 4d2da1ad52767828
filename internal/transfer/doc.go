// Package transfer moves files and folders from one peer to the other over one
// reliable, ordered byte stream: a JSON manifest from the sender, the
// receiver's answer with resume offsets, length-prefixed data frames, a SHA-256
// per file computed on both sides while streaming, a verdict per file and a
// final acknowledgement. The wire format is specified in protocol.go.
//
// The receiver treats every byte from the peer as hostile: frames have size
// limits, data never exceeds the announced size, names are sanitised
// (SanitizeName) and every file system access goes through an os.Root opened on
// the download folder. Files arrive as "<name>.direkt-partial" and are linked
// into place under a free name only after their digest matched, so nothing is
// ever overwritten and a half-received file never carries the final name.
// Interrupted transfers resume from the partial files.
//
// transfer sits on a byte stream (in production a session channel wrapped as a
// stream); it must never import pion, session or any other direkt package.
package transfer
