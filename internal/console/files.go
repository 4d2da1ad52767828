package console

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Upload limits: the largest file a consultation moves (docs/consult.md) and
// the multipart framing around it.
const (
	maxFileSize     = 4 << 30
	maxUploadBody   = maxFileSize + 1<<20
	maxFileNameByte = 255
)

var (
	errTooLong  = errors.New("console: upload longer than its size field")
	errTooShort = errors.New("console: upload shorter than its size field")
)

// postFile streams a multipart upload to Backend.SendFile: a "size" field
// (decimal bytes) first, then the "file" part. Nothing is buffered beyond the
// multipart reader's small buffer; the part is handed to the Backend as it
// arrives and must hold exactly size bytes.
func (s *Server) postFile(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxUploadBody)
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, http.StatusUnsupportedMediaType, "Send multipart/form-data with the fields size and file.")
		return
	}
	dl := newStreamDeadline(w)
	// The answer comes only after the whole upload: no write deadline
	// until then (the read side has its rolling one).
	dl.rc.SetWriteDeadline(time.Time{})
	defer dl.rc.SetWriteDeadline(time.Now().Add(writeTimeout))
	size := int64(-1)
	for {
		part, err := mr.NextPart()
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				writeError(w, http.StatusRequestEntityTooLarge, "File too large.")
				return
			}
			writeError(w, http.StatusBadRequest, "The upload has no file part.")
			return
		}
		switch part.FormName() {
		case "size":
			b, err := io.ReadAll(io.LimitReader(part, 21))
			n, perr := strconv.ParseInt(string(b), 10, 64)
			if err != nil || perr != nil || n < 0 {
				writeError(w, http.StatusBadRequest, "Bad size field.")
				return
			}
			if n > maxFileSize {
				writeError(w, http.StatusRequestEntityTooLarge, "Files are at most 4 GiB.")
				return
			}
			size = n
		case "file":
			if size < 0 {
				writeError(w, http.StatusBadRequest, "The size field must come before the file.")
				return
			}
			name := safeFilename(part.FileName())
			if part.FileName() == "" {
				writeError(w, http.StatusBadRequest, "The file part has no file name.")
				return
			}
			body := &exactReader{r: dl.reader(part), left: size}
			err := s.backend.SendFile(name, size, body)
			switch {
			case body.err != nil && errors.Is(body.err, errTooLong):
				writeError(w, http.StatusBadRequest, "The file is longer than its size field.")
			case body.err != nil && isMaxBytes(body.err):
				writeError(w, http.StatusRequestEntityTooLarge, "File too large.")
			case body.err != nil && body.err != io.EOF:
				writeError(w, http.StatusBadRequest, "The upload broke off.")
			case err != nil:
				s.backendError(w, r, err)
			default:
				w.WriteHeader(http.StatusNoContent)
			}
			return
		}
		// Other parts are ignored (and drained by NextPart).
	}
}

func isMaxBytes(err error) bool {
	_, ok := errors.AsType[*http.MaxBytesError](err)
	return ok
}

// exactReader passes on exactly left bytes of r: fewer is
// io.ErrUnexpectedEOF (wrapping errTooShort), more is errTooLong. It keeps
// the first error for the handler.
type exactReader struct {
	r    io.Reader
	left int64
	err  error
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	if e.left == 0 {
		// At the end: the source must end too.
		var b [1]byte
		for {
			n, err := e.r.Read(b[:])
			if n > 0 {
				e.err = errTooLong
				return 0, e.err
			}
			if err != nil {
				e.err = err
				return 0, err
			}
		}
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		err = errors.Join(io.ErrUnexpectedEOF, errTooShort)
	}
	if err == io.EOF {
		err = nil // checked on the next Read, at left == 0
	}
	if err != nil {
		e.err = err
	}
	return n, err
}

// getFile serves a file of the consultation as a download.
func (s *Server) getFile(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		writeError(w, http.StatusNotFound, "No such file.")
		return
	}
	name, f, err := s.backend.OpenFile(id)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	defer f.Close()
	s.download(w, r, name, "application/octet-stream", f)
}

// getRecord serves /api/records/ID.pdf or ID.json as a download.
func (s *Server) getRecord(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	i := strings.LastIndexByte(file, '.')
	if i < 0 || !validID(file[:i]) {
		writeError(w, http.StatusNotFound, "No such record.")
		return
	}
	id, format := file[:i], file[i+1:]
	var ctype string
	switch format {
	case "pdf":
		ctype = "application/pdf"
	case "json":
		ctype = "application/json"
	default:
		writeError(w, http.StatusNotFound, "Records are .pdf or .json.")
		return
	}
	name, f, err := s.backend.OpenRecord(id, format)
	if err != nil {
		s.backendError(w, r, err)
		return
	}
	defer f.Close()
	s.download(w, r, name, ctype, f)
}

// download sends f as an attachment: the browser saves it and never renders
// it in the console's origin (CSP sandbox on top of nosniff). Ranges work.
func (s *Server) download(w http.ResponseWriter, r *http.Request, name, ctype string, f io.ReadSeeker) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", contentDisposition(name))
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	dl := newStreamDeadline(w)
	dl.rc.SetReadDeadline(time.Time{}) // see events
	http.ServeContent(dl.writer(w), r, "", time.Time{}, f)
}

// contentDisposition is the Content-Disposition header of a download named
// name: "attachment", an ASCII fallback filename and the UTF-8 name (RFC 6266,
// RFC 8187), both of safeFilename(name).
func contentDisposition(name string) string {
	name = safeFilename(name)
	var ascii strings.Builder
	for _, c := range name {
		switch {
		case c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '%':
			ascii.WriteByte('_')
		default:
			ascii.WriteRune(c)
		}
	}
	v := `attachment; filename="` + ascii.String() + `"`
	if ascii.String() != name {
		v += "; filename*=UTF-8''" + rfc8187(name)
	}
	return v
}

// rfc8187 percent-encodes s as an RFC 8187 value-chars: every byte but
// attr-char.
func rfc8187(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// safeFilename makes a file name from the network safe to offer as a
// download or a send: only its last path element, no control or format
// characters, no quotes or backslashes, no leading dots or spaces, at most
// 255 bytes of valid UTF-8 (the extension kept where it fits); "download"
// when nothing is left.
func safeFilename(name string) string {
	name = strings.ToValidUTF8(name, "_")
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for _, c := range name {
		switch {
		case unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == utf8.RuneError:
			b.WriteByte('_')
		case c == '"' || c == ':' || c == '*' || c == '?' || c == '<' || c == '>' || c == '|':
			b.WriteByte('_') // not allowed on Windows
		case unicode.IsSpace(c):
			b.WriteByte(' ')
		default:
			b.WriteRune(c)
		}
	}
	name = strings.TrimLeft(strings.TrimSpace(b.String()), ". ")
	name = strings.TrimRight(name, ". ") // Windows drops trailing dots and spaces
	if len(name) > maxFileNameByte {
		ext := ""
		if i := strings.LastIndexByte(name, '.'); i > 0 && len(name)-i <= 16 {
			ext = name[i:]
		}
		name = truncUTF8(name[:len(name)-len(ext)], maxFileNameByte-len(ext)) + ext
	}
	if name == "" {
		return "download"
	}
	return name
}

// truncUTF8 cuts s to at most n bytes without splitting a character.
func truncUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// streamDeadline replaces the server's whole-request read and write
// timeouts by rolling ones for a stream: each read or write that makes
// progress moves the deadline streamIdle ahead (at most once a second), so a
// long transfer lives while a stalled one dies.
type streamDeadline struct {
	rc    *http.ResponseController
	read  time.Time // last time the read deadline moved
	write time.Time
}

func newStreamDeadline(w http.ResponseWriter) *streamDeadline {
	return &streamDeadline{rc: http.NewResponseController(w)}
}

func (d *streamDeadline) reader(r io.Reader) io.Reader {
	return readerFunc(func(p []byte) (int, error) {
		if now := time.Now(); now.Sub(d.read) > time.Second {
			d.read = now
			d.rc.SetReadDeadline(now.Add(streamIdle))
		}
		return r.Read(p)
	})
}

func (d *streamDeadline) writer(w http.ResponseWriter) http.ResponseWriter {
	return &deadlineWriter{ResponseWriter: w, d: d}
}

// deadlineWriter is a ResponseWriter whose writes move the write deadline.
type deadlineWriter struct {
	http.ResponseWriter
	d *streamDeadline
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	if now := time.Now(); now.Sub(w.d.write) > time.Second {
		w.d.write = now
		w.d.rc.SetWriteDeadline(now.Add(streamIdle))
	}
	return w.ResponseWriter.Write(p)
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }
