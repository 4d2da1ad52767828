package transfer

// Wire format, version 1.
//
// The stream carries frames in both directions:
//
//	frame = type (1 byte) || length (4 bytes, big endian) || payload (length bytes)
//
// Every frame type has a payload limit (below); a frame over its limit, of an
// unknown type or out of order ends the transfer with ErrProtocol.
//
// Sender → receiver:
//
//	0x01 manifest  JSON, ≤ 8 MiB, ≤ 100 000 entries (files + dirs):
//	               {"v":1,"total":T,"files":[{"n":name,"s":size,"x":exec}],"dirs":[name]}
//	               n: slash-separated relative path; s: size in bytes (0 ≤ s,
//	               sum of s = total, no overflow); x: true if executable
//	               (omitted = false); dirs: empty folders. Unknown keys are
//	               ignored, duplicate keys and trailing data are refused.
//	0x10 file      index (4) || offset (8): file `index` (strictly the next in
//	               manifest order) starts; its data continues at `offset`,
//	               which is 0 or exactly the offset the receiver offered.
//	0x11 data      1 … 1 MiB of file content; the running total never exceeds
//	               the file's announced size.
//	0x12 end       SHA-256 (32) of the whole file (resumed prefix included);
//	               the file must be complete.
//	0x13 done      empty: every file has been sent.
//
// Receiver → sender:
//
//	0x02 accept    count (4) || count × (index (4) || offset (8) || SHA-256 (32)),
//	               indices strictly increasing, 0 < offset ≤ size: "I already
//	               hold the first `offset` bytes of file `index`, with this
//	               digest". An offer equal to the size is a complete file
//	               already in place under that name.
//	0x03 reject    UTF-8 reason (≤ 1 KiB): the transfer is declined.
//	0x20 verdict   index (4) || status (1): 0 = stored, 1 = SHA-256 mismatch
//	               (removed). One per file, in order, after its end frame.
//	0x21 ack       empty: every stored file and its folder are synced to disk.
//
// Both directions:
//
//	0x7f abort     code (1) || UTF-8 reason (≤ 1 KiB); codes: 1 cancelled,
//	               2 disk full, 3 protocol violation, 4 local error. The sender
//	               of an abort waits briefly for the peer to close, then closes.
//
// Sequence: manifest → accept | reject; then for each file in order: file,
// data…, end (the sender streams on without waiting for verdicts); then done;
// the receiver answers each end with a verdict and done with ack. The sender
// closes the stream after the ack, the receiver after seeing it close (or 2 s).
//
// Resume (offers): before answering, the receiver looks for
// "<name>.direkt-partial" next to each target and hashes its first
// min(len, size) bytes; if no partial exists but the target exists with exactly
// the announced size, it hashes that file. The sender hashes its own first
// `offset` bytes: on a match it continues at `offset` with the hash state it
// already has, otherwise it starts at 0 (the receiver truncates). The final
// digest always covers the whole file. Offers reveal to the peer whether a file
// of that name and content exists in the download folder; that is inherent to
// resuming and limited to names the peer proposes.

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math"
	"strings"
	"unicode/utf8"
)

// Frame types.
const (
	frameManifest byte = 0x01
	frameAccept   byte = 0x02
	frameReject   byte = 0x03
	frameFile     byte = 0x10
	frameData     byte = 0x11
	frameEnd      byte = 0x12
	frameDone     byte = 0x13
	frameVerdict  byte = 0x20
	frameAck      byte = 0x21
	frameAbort    byte = 0x7f
)

// Limits of the protocol.
const (
	protocolVersion = 1
	headerLen       = 5
	maxData         = 1 << 20
	maxManifest     = 8 << 20
	maxEntries      = 100_000
	maxReason       = 1024
	offerLen        = 4 + 8 + 32
	maxAnswer       = 4 + maxEntries*offerLen
)

// Verdict statuses.
const (
	verdictStored   byte = 0
	verdictMismatch byte = 1
)

// Abort codes.
const (
	abortCancelled byte = 1
	abortDiskFull  byte = 2
	abortProtocol  byte = 3
	abortLocal     byte = 4
)

// payloadLimits reports the smallest and largest payload a frame type may carry
// and whether the type is known at all.
func payloadLimits(t byte) (lo, hi int, ok bool) {
	switch t {
	case frameManifest:
		return 2, maxManifest, true
	case frameAccept:
		return 4, maxAnswer, true
	case frameReject:
		return 0, maxReason, true
	case frameFile:
		return 12, 12, true
	case frameData:
		return 1, maxData, true
	case frameEnd:
		return 32, 32, true
	case frameDone, frameAck:
		return 0, 0, true
	case frameVerdict:
		return 5, 5, true
	case frameAbort:
		return 1, 1 + maxReason, true
	}
	return 0, 0, false
}

// putHeader writes a frame header into h (len ≥ headerLen).
func putHeader(h []byte, t byte, n int) {
	h[0] = t
	binary.BigEndian.PutUint32(h[1:5], uint32(n))
}

// readHeader reads one frame header into hdr and checks the type is known and
// the length within that type's limits. A clean end of stream before the first
// header byte is io.EOF; any other short read is io.ErrUnexpectedEOF.
func readHeader(r io.Reader, hdr []byte) (t byte, n int, err error) {
	if _, err := io.ReadFull(r, hdr[:headerLen]); err != nil {
		return 0, 0, err
	}
	t = hdr[0]
	lo, hi, ok := payloadLimits(t)
	if !ok {
		return 0, 0, fmt.Errorf("%w: unknown frame type %#x", ErrProtocol, t)
	}
	l := binary.BigEndian.Uint32(hdr[1:5])
	if uint64(l) < uint64(lo) || uint64(l) > uint64(hi) {
		return 0, 0, fmt.Errorf("%w: frame %#x with %d bytes (allowed %d…%d)", ErrProtocol, t, l, lo, hi)
	}
	return t, int(l), nil
}

// readFrameAlloc reads a whole frame of at most limit bytes, allocating as the
// payload arrives rather than trusting the announced length up front.
func readFrameAlloc(r io.Reader, hdr []byte) (byte, []byte, error) {
	t, n, err := readHeader(r, hdr)
	if err != nil {
		return 0, nil, err
	}
	p, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err != nil {
		return 0, nil, err
	}
	if len(p) != n {
		return 0, nil, io.ErrUnexpectedEOF
	}
	return t, p, nil
}

// appendFrame appends a whole frame to b.
func appendFrame(b []byte, t byte, payload []byte) []byte {
	var h [headerLen]byte
	putHeader(h[:], t, len(payload))
	b = append(b, h[:]...)
	return append(b, payload...)
}

// wireManifest is the JSON form of a manifest.
type wireManifest struct {
	V     int        `json:"v"`
	Total int64      `json:"total"`
	Files []wireFile `json:"files"`
	Dirs  []string   `json:"dirs"`
}

type wireFile struct {
	N string `json:"n"`
	S *int64 `json:"s"`
	X bool   `json:"x,omitempty"`
}

// marshalManifest encodes m as the manifest payload.
func marshalManifest(m Manifest) ([]byte, error) {
	if len(m.Files)+len(m.Dirs) > maxEntries {
		return nil, fmt.Errorf("%w: %d entries (limit %d)", ErrTooLarge, len(m.Files)+len(m.Dirs), maxEntries)
	}
	w := wireManifest{V: protocolVersion, Total: m.Total, Files: make([]wireFile, len(m.Files)), Dirs: m.Dirs}
	if w.Dirs == nil {
		w.Dirs = []string{}
	}
	for i, f := range m.Files {
		s := f.Size
		w.Files[i] = wireFile{N: f.Name, S: &s, X: f.Mode&0o111 != 0}
	}
	b, err := json.Marshal(w)
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifest {
		return nil, fmt.Errorf("%w: manifest of %d bytes (limit %d)", ErrTooLarge, len(b), maxManifest)
	}
	return b, nil
}

// parseManifest decodes and validates a manifest payload from the peer. Names
// come back sanitised and unique (see uniqueNames). It streams through the
// JSON so that a hostile manifest cannot make it allocate more than maxEntries
// entries.
func parseManifest(b []byte) (Manifest, error) {
	if len(b) > maxManifest {
		return Manifest{}, fmt.Errorf("%w: manifest of %d bytes", ErrProtocol, len(b))
	}
	bad := func(format string, a ...any) (Manifest, error) {
		return Manifest{}, fmt.Errorf("%w: manifest: %s", ErrProtocol, fmt.Sprintf(format, a...))
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := expectDelim(dec, '{'); err != nil {
		return bad("%v", err)
	}
	var (
		m        Manifest
		version  int
		total    *int64
		seen     = map[string]bool{}
		entries  int
		sum      int64
		hasFiles bool
	)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return bad("%v", err)
		}
		key, _ := tok.(string)
		if seen[key] {
			return bad("duplicate key %q", key)
		}
		seen[key] = true
		switch key {
		case "v":
			if err := dec.Decode(&version); err != nil {
				return bad("version: %v", err)
			}
		case "total":
			var t int64
			if err := dec.Decode(&t); err != nil {
				return bad("total: %v", err)
			}
			total = &t
		case "files":
			hasFiles = true
			if err := expectDelim(dec, '['); err != nil {
				return bad("files: %v", err)
			}
			for dec.More() {
				if entries >= maxEntries {
					return bad("more than %d entries", maxEntries)
				}
				entries++
				var wf wireFile
				if err := dec.Decode(&wf); err != nil {
					return bad("file %d: %v", len(m.Files), err)
				}
				if wf.S == nil || *wf.S < 0 {
					return bad("file %d: missing or negative size", len(m.Files))
				}
				if sum > math.MaxInt64-*wf.S {
					return bad("sizes overflow")
				}
				sum += *wf.S
				name, err := SanitizeName(wf.N)
				if err != nil {
					return Manifest{}, fmt.Errorf("%w: manifest: file %d: %w", ErrProtocol, len(m.Files), err)
				}
				mode := fileMode(wf.X)
				m.Files = append(m.Files, File{Name: name, Size: *wf.S, Mode: mode})
			}
			if err := expectDelim(dec, ']'); err != nil {
				return bad("files: %v", err)
			}
		case "dirs":
			if err := expectDelim(dec, '['); err != nil {
				return bad("dirs: %v", err)
			}
			for dec.More() {
				if entries >= maxEntries {
					return bad("more than %d entries", maxEntries)
				}
				entries++
				var d string
				if err := dec.Decode(&d); err != nil {
					return bad("dir %d: %v", len(m.Dirs), err)
				}
				name, err := SanitizeName(d)
				if err != nil {
					return Manifest{}, fmt.Errorf("%w: manifest: dir %d: %w", ErrProtocol, len(m.Dirs), err)
				}
				m.Dirs = append(m.Dirs, name)
			}
			if err := expectDelim(dec, ']'); err != nil {
				return bad("dirs: %v", err)
			}
		default:
			// Unknown keys are skipped so that later versions can add some.
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return bad("%v", err)
			}
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return bad("%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return bad("trailing data")
	}
	if version != protocolVersion {
		return bad("unsupported version %d", version)
	}
	if !hasFiles || total == nil {
		return bad("missing files or total")
	}
	if *total != sum {
		return bad("total %d is not the sum of the sizes %d", *total, sum)
	}
	m.Total = sum
	m.Files, m.Dirs = uniqueNames(m.Files, m.Dirs)
	return m, nil
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if got, ok := tok.(json.Delim); !ok || got != d {
		return fmt.Errorf("expected %q", d)
	}
	return nil
}

// fileMode is the mode a File carries: only the executable bit is meaningful.
func fileMode(exec bool) fs.FileMode {
	if exec {
		return 0o755
	}
	return 0o644
}

// offer is one entry of the accept frame.
type offer struct {
	index  int
	offset int64
	sum    [32]byte
}

// appendAccept encodes the accept payload.
func appendAccept(b []byte, offers []offer) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(offers)))
	for _, o := range offers {
		b = binary.BigEndian.AppendUint32(b, uint32(o.index))
		b = binary.BigEndian.AppendUint64(b, uint64(o.offset))
		b = append(b, o.sum[:]...)
	}
	return b
}

// parseAccept decodes an accept payload against the manifest that was sent.
func parseAccept(p []byte, files []File) ([]offer, error) {
	if len(p) < 4 {
		return nil, fmt.Errorf("%w: short accept", ErrProtocol)
	}
	n := binary.BigEndian.Uint32(p)
	if uint64(n) > uint64(len(files)) || uint64(len(p)) != 4+uint64(n)*offerLen {
		return nil, fmt.Errorf("%w: accept with %d offers in %d bytes for %d files", ErrProtocol, n, len(p), len(files))
	}
	offers := make([]offer, n)
	prev := -1
	for i := range offers {
		e := p[4+i*offerLen:]
		idx := binary.BigEndian.Uint32(e)
		off := binary.BigEndian.Uint64(e[4:])
		if int64(idx) <= int64(prev) || uint64(idx) >= uint64(len(files)) {
			return nil, fmt.Errorf("%w: offer for file %d out of order", ErrProtocol, idx)
		}
		if off == 0 || off > uint64(files[idx].Size) {
			return nil, fmt.Errorf("%w: offer of %d bytes for a file of %d", ErrProtocol, off, files[idx].Size)
		}
		prev = int(idx)
		offers[i] = offer{index: int(idx), offset: int64(off)}
		copy(offers[i].sum[:], e[12:44])
	}
	return offers, nil
}

// appendAbort encodes an abort payload.
func appendAbort(b []byte, code byte, reason string) []byte {
	if len(reason) > maxReason {
		reason = truncateUTF8(reason, maxReason)
	}
	b = append(b, code)
	return append(b, reason...)
}

// abortError turns a received abort payload into an error.
func abortError(p []byte) error {
	code, reason := p[0], cleanReason(p[1:])
	if code == abortDiskFull {
		return fmt.Errorf("%w: %s: %w", ErrPeerAborted, reason, ErrDiskFull)
	}
	return fmt.Errorf("%w: %s", ErrPeerAborted, reason)
}

// cleanReason makes a peer's free text safe to show on a terminal: invalid
// UTF-8 and control characters (which could carry escape sequences) become
// U+FFFD, and it is cut to 256 bytes.
func cleanReason(p []byte) string {
	var sb strings.Builder
	for _, r := range strings.ToValidUTF8(string(p), "\uFFFD") {
		if r < 0x20 || (r >= 0x7f && r <= 0x9f) || isBidiControl(r) {
			r = utf8.RuneError
		}
		if sb.Len()+utf8.RuneLen(r) > 256 {
			break
		}
		sb.WriteRune(r)
	}
	if sb.Len() == 0 {
		return "no reason given"
	}
	return sb.String()
}

// errProtocolf is a shorthand for a wrapped ErrProtocol.
func errProtocolf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, a...))
}
