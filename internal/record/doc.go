// Package record is the consultation record the host keeps (§§ 61, 62 VVG,
// text form § 126b BGB): its content (Record), its signed JSON form (Sign,
// Verify, as docs/consult.md specifies), its PDF form (PDF), and the folder
// of stored records with listing and search (Store).
//
// The signed JSON is the authoritative form; the PDF is the readable copy
// and prints the SHA-256 of the signed payload (Digest) in its footer, so
// a reader can match the two and check the JSON with `direkt verify`. The
// signature does not cover the PDF; CheckPDF tells whether a PDF is the
// record's own (deterministic) rendering.
//
// record is a leaf: it imports the standard library and
// github.com/go-pdf/fpdf, never another direkt package. It never logs the
// content of a record (names, chat, notes, file names), only ids.
package record
