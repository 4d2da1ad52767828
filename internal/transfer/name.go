package transfer

import (
	"fmt"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Name limits. NAME_MAX is 255 bytes on the common file systems; PATH_MAX is
// 4096 on Linux, so a path is kept below it with room for the partial suffix
// and a conflict number.
const (
	maxComponent  = 255
	maxDepth      = 64
	maxPathLen    = 4000
	maxExtLen     = 32 // longer "extensions" are not kept when truncating
	partialSuffix = ".direkt-partial"
)

// SanitizeName turns a slash-separated relative path from a peer into one that
// is safe to create on Linux, macOS and Windows, or refuses it with
// ErrUnsafeName.
//
// Refused: an empty name, an absolute path, empty, "." or ".." components,
// more than 64 components, more than 4000 bytes in all. Repaired, per
// component: invalid UTF-8 becomes U+FFFD; C0 and C1 control characters, DEL,
// Unicode bidirectional controls (which can disguise "exe" as "pdf"), and
// \ : < > " | ? * become "_" (so "\" is never a separator); trailing dots and
// spaces are stripped (Windows drops them) and a component left empty becomes
// "_"; a Windows device name (CON, PRN, AUX, NUL, COM0–9, LPT0–9, also with
// superscript digits, CONIN$, CONOUT$, with or without an extension) gets "_"
// after its stem ("con.txt" → "con_.txt"); a name ending in ".direkt-partial"
// gets "_" appended, so a received file can never pose as a partial one; a
// component over 255 bytes is cut on a UTF-8 boundary, keeping a short
// extension. The result is idempotent: SanitizeName of a result returns it
// unchanged.
func SanitizeName(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("%w: empty name", ErrUnsafeName)
	}
	if name[0] == '/' {
		return "", fmt.Errorf("%w: absolute path", ErrUnsafeName)
	}
	if strings.Count(name, "/") >= maxDepth {
		return "", fmt.Errorf("%w: more than %d levels", ErrUnsafeName, maxDepth)
	}
	var b strings.Builder
	b.Grow(len(name))
	for i, c := range strings.Split(name, "/") {
		switch c {
		case "":
			return "", fmt.Errorf("%w: empty path component", ErrUnsafeName)
		case ".", "..":
			return "", fmt.Errorf("%w: %q component", ErrUnsafeName, c)
		}
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(sanitizeComponent(c))
	}
	if b.Len() > maxPathLen {
		return "", fmt.Errorf("%w: path longer than %d bytes", ErrUnsafeName, maxPathLen)
	}
	return b.String(), nil
}

// sanitizeComponent applies the repairs until nothing changes: each repair can
// only make the name shorter or append one "_", so this ends within a few
// rounds (the fuzz target checks the result is a fixed point).
func sanitizeComponent(c string) string {
	for range 8 {
		d := sanitizeOnce(c)
		if d == c {
			break
		}
		c = d
	}
	return c
}

func sanitizeOnce(c string) string {
	if needsCharRepair(c) {
		var sb strings.Builder
		sb.Grow(len(c))
		for i := 0; i < len(c); {
			r, w := utf8.DecodeRuneInString(c[i:])
			i += w
			switch {
			case r == utf8.RuneError && w == 1:
				sb.WriteRune(utf8.RuneError)
			case isIllegalRune(r):
				sb.WriteByte('_')
			default:
				sb.WriteRune(r)
			}
		}
		c = sb.String()
	}
	c = strings.TrimRight(c, ". ")
	if c == "" {
		return "_"
	}
	if stem, _, _ := strings.Cut(c, "."); isReserved(strings.TrimRight(stem, " ")) {
		c = stem + "_" + c[len(stem):]
	}
	if hasPartialSuffix(c) {
		c += "_"
	}
	if len(c) > maxComponent {
		c = fitComponent(c, "")
	}
	return c
}

// needsCharRepair reports whether c has any byte sanitizeOnce would change, so
// that the common clean name is not copied.
func needsCharRepair(c string) bool {
	for i := 0; i < len(c); i++ {
		b := c[i]
		if b < 0x20 || b >= 0x7f || strings.IndexByte(`\:<>"|?*`, b) >= 0 {
			if b < 0x80 {
				return true
			}
			// Non-ASCII: check the runes properly.
			for _, r := range c[i:] {
				if r == utf8.RuneError || isIllegalRune(r) {
					return true
				}
			}
			return false
		}
	}
	return false
}

// isIllegalRune reports the runes replaced by "_".
func isIllegalRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case strings.ContainsRune(`\:<>"|?*/`, r):
		return true
	}
	return isBidiControl(r)
}

// isBidiControl reports Unicode bidirectional formatting characters (Unicode
// UAX #9 explicit formatting plus the marks).
func isBidiControl(r rune) bool {
	switch {
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e:
		return true
	case r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// isReserved reports the Windows device names, compared without case. See
// "Naming Files, Paths, and Namespaces" in the Win32 documentation; Windows 11
// also treats the superscript digits ¹ ² ³ as digits here.
func isReserved(stem string) bool {
	switch len(stem) {
	case 3:
		switch strings.ToUpper(stem) {
		case "CON", "PRN", "AUX", "NUL":
			return true
		}
	case 4, 5:
		u := strings.ToUpper(stem[:3])
		if u != "COM" && u != "LPT" {
			return false
		}
		switch stem[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return true
		}
	case 6, 7:
		switch strings.ToUpper(stem) {
		case "CONIN$", "CONOUT$":
			return true
		}
	}
	return false
}

func hasPartialSuffix(c string) bool {
	return len(c) >= len(partialSuffix) && strings.EqualFold(c[len(c)-len(partialSuffix):], partialSuffix)
}

// splitExt splits a base name into stem and extension for renaming and
// truncation: "a.tar.gz" → "a.tar", ".gz"; ".bashrc" → ".bashrc", "";
// extensions longer than maxExtLen are treated as part of the stem.
func splitExt(base string) (stem, ext string) {
	ext = path.Ext(base)
	if len(ext) == len(base) || len(ext) > maxExtLen {
		return base, ""
	}
	return base[:len(base)-len(ext)], ext
}

// fitComponent returns stem(c) + suffix + ext(c), cutting the stem on a UTF-8
// boundary so the whole fits in maxComponent bytes.
func fitComponent(c, suffix string) string {
	stem, ext := splitExt(c)
	room := maxComponent - len(suffix) - len(ext)
	if room < 0 {
		// Only with a suffix and a long extension; drop the extension.
		stem, ext = c, ""
		room = maxComponent - len(suffix)
	}
	return truncateUTF8(stem, room) + suffix + ext
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// conflictName is the k-th alternative for a file's base name:
// "report.pdf" → "report (k).pdf".
func conflictName(base string, k int) string {
	return fitComponent(base, " ("+strconv.Itoa(k)+")")
}

// dirConflictName is the k-th alternative for a folder name: "photos.2024" →
// "photos.2024 (k)" (folders have no extension).
func dirConflictName(base string, k int) string {
	suffix := " (" + strconv.Itoa(k) + ")"
	return truncateUTF8(base, maxComponent-len(suffix)) + suffix
}

// partialName is the name of the partial file for base, cut so that it stays
// within maxComponent bytes. Two long names sharing their first 240 bytes
// share a partial name; that only costs a resume, as the sender checks the
// prefix digest.
func partialName(base string) string {
	return truncateUTF8(base, maxComponent-len(partialSuffix)) + partialSuffix
}

// joinPath joins a relative directory ("" = the root) and a name.
func joinPath(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// uniqueNames makes the names of a manifest unambiguous after sanitising: no
// two files share a name and no file has the name of a folder the manifest
// implies (a listed empty folder or a parent of another file). A colliding file
// is renamed "name (k).ext" with the smallest free k. Duplicate folders are
// merged. The slices are modified in place.
func uniqueNames(files []File, dirs []string) ([]File, []string) {
	dirSet := make(map[string]struct{})
	addParents := func(p string) {
		for {
			i := strings.LastIndexByte(p, '/')
			if i < 0 {
				return
			}
			p = p[:i]
			if _, ok := dirSet[p]; ok {
				return
			}
			dirSet[p] = struct{}{}
		}
	}
	for _, f := range files {
		addParents(f.Name)
	}
	outDirs := dirs[:0]
	seenDir := make(map[string]struct{}, len(dirs))
	for _, d := range dirs {
		if _, ok := seenDir[d]; ok {
			continue
		}
		seenDir[d] = struct{}{}
		outDirs = append(outDirs, d)
		dirSet[d] = struct{}{}
		addParents(d)
	}
	taken := make(map[string]struct{}, len(files))
	for i := range files {
		name := files[i].Name
		dir, base := path.Split(name)
		for k := 1; ; k++ {
			_, isFile := taken[name]
			_, isDir := dirSet[name]
			if !isFile && !isDir {
				break
			}
			name = dir + conflictName(base, k)
		}
		taken[name] = struct{}{}
		files[i].Name = name
	}
	return files, outDirs
}
