package consult

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/direkt/direkt/internal/transfer"
)

// Message types (docs/consult.md, "Messages").
const (
	tHello    = "hello"
	tChat     = "chat"
	tAsk      = "ask"
	tAnswer   = "answer"
	tFile     = "file"
	tFileOK   = "file-ok"
	tWithdraw = "withdraw"
	tRejoin   = "rejoin"
	tEnd      = "end"
	// tResume is the first line each way on a consult channel that
	// replaces a lost one (docs/consult.md, "Resuming").
	tResume = "resume"
	// Screen sharing (docs/screen.md, "Control messages"; screen.go).
	tShare   = "share"
	tPointer = "pointer"
	tView    = "view"
)

// Consent requests ("what" of an ask).
const (
	WhatRecord = "record"
	WhatFile   = "file"
	WhatScreen = "screen"
)

// File kinds.
const (
	KindDoc    = "doc"
	KindRecord = "record"
)

// Limits of docs/consult.md. Character limits count Unicode code points.
const (
	// MaxLine is the longest line on the consult channel, without its "\n".
	MaxLine = 64 << 10
	// MaxChat is the longest chat message in characters.
	MaxChat = 4000
	// MaxName is the longest name in a hello, in characters.
	MaxName = 100
	// MaxAgent is the longest agent in a hello, in characters.
	MaxAgent = 200
	// MaxReason is the longest reason of an end, in characters.
	MaxReason = 200
	// MaxFileName is the longest file name, in bytes.
	MaxFileName = 255
	// MaxFileSize is the largest file, in bytes (4 GiB).
	MaxFileSize = 4 << 30
	// maxID is the longest id, prefix included.
	maxID = 32
	// tokenLen is the length of a rejoin token.
	tokenLen = 32
	// maxServerURL bounds the rejoin server URL (the doc sets no limit;
	// a line would allow 64 KiB, which no rendezvous URL needs).
	maxServerURL = 2048
)

// message is one line of the consult channel. Pointer fields are required
// where the message type has them, so their absence is told apart from a
// zero value.
type message struct {
	T      string `json:"t"`
	V      *int   `json:"v,omitempty"`
	Role   string `json:"role,omitempty"`
	Name   string `json:"name,omitempty"`
	Lang   string `json:"lang,omitempty"`
	Agent  string `json:"agent,omitempty"`
	ID     string `json:"id,omitempty"`
	Text   string `json:"text,omitempty"`
	TS     *int64 `json:"ts,omitempty"`
	What   string `json:"what,omitempty"`
	Size   *int64 `json:"size,omitempty"`
	SHA256 string `json:"sha256,omitempty"`
	Kind   string `json:"kind,omitempty"`
	OK     *bool  `json:"ok,omitempty"`
	Token  string `json:"token,omitempty"`
	Server string `json:"server,omitempty"`
	Reason string `json:"reason,omitempty"`
	Got    *int64 `json:"got,omitempty"`
	Sent   *int64 `json:"sent,omitempty"`
	// share, pointer, view (docs/screen.md)
	State string   `json:"state,omitempty"`
	W     *int     `json:"w,omitempty"`
	H     *int     `json:"h,omitempty"`
	X     *float64 `json:"x,omitempty"`
	Y     *float64 `json:"y,omitempty"`
	On    *bool    `json:"on,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// perr is a protocol error with a reason that never quotes the peer's text.
func perr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, a...)...)
}

// parseLine decodes and validates one line (without its "\n") on its own,
// without the state of the consultation: field presence, types, limits and
// formats. Hex digests come back in lower case.
func parseLine(line []byte) (message, error) {
	var m message
	if len(line) > MaxLine {
		return m, perr("line longer than %d bytes", MaxLine)
	}
	if !utf8.Valid(line) {
		return m, perr("line is not UTF-8")
	}
	if err := json.Unmarshal(line, &m); err != nil {
		return message{}, perr("not a JSON object")
	}
	if err := m.validate(); err != nil {
		return message{}, err
	}
	return m, nil
}

func (m *message) validate() error {
	switch m.T {
	case tHello:
		if m.V == nil || *m.V != 1 {
			return perr("hello: unsupported version")
		}
		if m.Role != Host.String() && m.Role != Client.String() {
			return perr("hello: bad role")
		}
		if m.Lang != "de" && m.Lang != "en" {
			return perr("hello: bad lang")
		}
		if runes(m.Name) > MaxName {
			return perr("hello: name over %d characters", MaxName)
		}
		if runes(m.Agent) > MaxAgent {
			return perr("hello: agent over %d characters", MaxAgent)
		}
	case tChat:
		if err := checkID(m.ID); err != nil {
			return err
		}
		if n := runes(m.Text); n < 1 || n > MaxChat {
			return perr("chat: text of %d characters", n)
		}
		if m.TS == nil || *m.TS < 0 {
			return perr("chat: bad ts")
		}
	case tAsk:
		if err := checkID(m.ID); err != nil {
			return err
		}
		switch m.What {
		case WhatRecord, WhatScreen:
		case WhatFile:
			if err := m.checkFile(); err != nil {
				return err
			}
		default:
			return perr("ask: unknown what")
		}
	case tAnswer, tWithdraw:
		if err := checkID(m.ID); err != nil {
			return err
		}
		if m.T == tAnswer && m.OK == nil {
			return perr("answer without ok")
		}
	case tFile:
		if err := checkID(m.ID); err != nil {
			return err
		}
		if err := m.checkFile(); err != nil {
			return err
		}
		if m.Kind != KindDoc && m.Kind != KindRecord {
			return perr("file: bad kind")
		}
	case tFileOK:
		if err := checkID(m.ID); err != nil {
			return err
		}
		if m.OK == nil {
			return perr("file-ok without ok")
		}
		// A refusal may carry no digest: nothing arrived.
		if *m.OK || m.SHA256 != "" {
			var err error
			if m.SHA256, err = checkSHA(m.SHA256); err != nil {
				return err
			}
		}
	case tRejoin:
		if t, err := base64.StdEncoding.DecodeString(m.Token); err != nil || len(t) != tokenLen {
			return perr("rejoin: token is not %d bytes of base64", tokenLen)
		}
		if err := checkServer(m.Server); err != nil {
			return perr("rejoin: %v", err)
		}
	case tEnd:
		if runes(m.Reason) > MaxReason {
			return perr("end: reason over %d characters", MaxReason)
		}
	case tShare:
		if err := checkID(m.ID); err != nil {
			return err
		}
		switch m.State {
		case ShareOn, SharePaused, ShareOff:
		default:
			return perr("share: bad state")
		}
		if !validWhat(m.What) {
			return perr("share: bad what")
		}
		if m.W == nil || m.H == nil || !validPixels(*m.W) || !validPixels(*m.H) {
			return perr("share: w and h must be 0–%d", MaxSharePixels)
		}
	case tPointer:
		if err := checkID(m.ID); err != nil {
			return err
		}
		if (m.X == nil) != (m.Y == nil) {
			return perr("pointer: x without y or y without x")
		}
		if m.X != nil && (!validFraction(*m.X) || !validFraction(*m.Y)) {
			return perr("pointer: x and y must be 0–1")
		}
	case tView:
		if err := checkID(m.ID); err != nil {
			return err
		}
		if m.On == nil {
			return perr("view without on")
		}
	case tResume:
		if m.Got == nil || *m.Got < 0 || m.Sent == nil || *m.Sent < 0 {
			return perr("resume: got and sent must be counts")
		}
	case "":
		return perr("message without t")
	default:
		return perr("unknown message type")
	}
	return nil
}

// checkFile validates name, size and sha256 of a file or a file ask.
func (m *message) checkFile() error {
	if err := checkFileName(m.Name); err != nil {
		return perr("%s: %v", m.T, err)
	}
	if m.Size == nil || *m.Size < 0 || *m.Size > MaxFileSize {
		return perr("%s: size missing or outside 0–4 GiB", m.T)
	}
	var err error
	m.SHA256, err = checkSHA(m.SHA256)
	return err
}

// checkFileName accepts the names a receiver can store: 1–255 bytes that
// flatName can make safe.
func checkFileName(name string) error {
	if len(name) == 0 || len(name) > MaxFileName {
		return fmt.Errorf("name of %d bytes", len(name))
	}
	if _, err := flatName(name); err != nil {
		return err
	}
	return nil
}

// flatName is the name a received file is stored under, before a conflict
// number: the peer's name with "/" made "_" (files are stored flat) and then
// made safe by transfer.SanitizeName.
func flatName(name string) (string, error) {
	return transfer.SanitizeName(strings.ReplaceAll(name, "/", "_"))
}

// checkID accepts 1–32 characters of [A-Za-z0-9_-], the first "h" or "c".
// Which prefix is right depends on the sender; the caller checks that.
func checkID(id string) error {
	if len(id) == 0 || len(id) > maxID || (id[0] != 'h' && id[0] != 'c') {
		return perr("bad id")
	}
	for i := 1; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return perr("bad id")
		}
	}
	return nil
}

// checkSHA accepts 64 hex digits and returns them in lower case.
func checkSHA(s string) (string, error) {
	if len(s) != 64 {
		return "", perr("sha256 is not 64 hex digits")
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", perr("sha256 is not 64 hex digits")
	}
	return strings.ToLower(s), nil
}

// checkServer accepts an absolute http(s) or ws(s) URL with a host.
func checkServer(s string) error {
	if len(s) == 0 || len(s) > maxServerURL {
		return errors.New("server URL missing or too long")
	}
	u, err := url.Parse(s)
	if err != nil {
		return errors.New("server is not a URL")
	}
	switch u.Scheme {
	case "http", "https", "ws", "wss":
	default:
		return errors.New("server URL scheme is not http, https, ws or wss")
	}
	if u.Host == "" || u.User != nil {
		return errors.New("server URL without host or with user info")
	}
	return nil
}

func runes(s string) int { return utf8.RuneCountInString(s) }

// marshalLine encodes m as one line with its "\n".
func marshalLine(m message) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("consult: encode %s: %w", m.T, err)
	}
	if len(b) > MaxLine {
		return nil, fmt.Errorf("%w: %s message of %d bytes", ErrInvalid, m.T, len(b))
	}
	return append(b, '\n'), nil
}

// lineReader splits the consult channel's byte stream into lines of at most
// MaxLine bytes.
type lineReader struct {
	br  *bufio.Reader
	max int
}

func newLineReader(r io.Reader) *lineReader { return newLineReaderSize(r, MaxLine) }

// newLineReaderSize reads lines of at most max bytes (tests use small ones;
// bufio's minimum buffer makes max at least 15).
func newLineReaderSize(r io.Reader, max int) *lineReader {
	br := bufio.NewReaderSize(r, max+1)
	return &lineReader{br: br, max: br.Size() - 1}
}

// next returns the next line without its "\n"; it is valid until the next
// call. A line over the maximum is ErrProtocol; so is a partial line at EOF.
func (l *lineReader) next() ([]byte, error) {
	line, err := l.br.ReadSlice('\n')
	switch {
	case err == nil:
		return line[:len(line)-1], nil
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, perr("line longer than %d bytes", l.max)
	case errors.Is(err, io.EOF) && len(line) > 0:
		return nil, perr("unterminated line at the end of the stream")
	default:
		return nil, err
	}
}
