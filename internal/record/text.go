package record

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
)

// line makes participant text a single line: every control or line
// separator becomes a space, invisible formatting characters (bidi
// overrides, zero-width characters) go, surrounding space is trimmed.
func line(s string) string {
	return strings.TrimSpace(clean(s, false))
}

// text is line for multi-line text: line breaks stay ("\r\n" and "\r"
// become "\n"), tabs become spaces.
func text(s string) string {
	return strings.TrimRight(clean(strings.ReplaceAll(s, "\r\n", "\n"), true), " \n")
}

func clean(s string, multi bool) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\u2028' || r == '\u2029' || r == '\u0085':
			if multi {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		case r == '\t':
			b.WriteString("    ")
		case unicode.IsControl(r):
			// other C0/C1 controls: dropped
		case unicode.Is(unicode.Cf, r) && r != '\u00ad':
			// format characters (bidi overrides, zero-width joiners, BOM):
			// dropped, so text shows in the order it was typed
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// pdfLine and pdfText encode cleaned text for fpdf's core fonts.
func pdfLine(s string) string { return cp1252(line(s)) }
func pdfText(s string) string { return cp1252(text(s)) }

// cp1252 encodes s in Windows-1252, the encoding of fpdf's core fonts.
// Characters it lacks become "?" (visibly, not silently dropped); a few
// common ones get a look-alike.
func cp1252(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < 0x80:
			b = append(b, byte(r))
		case r >= 0xa0 && r <= 0xff:
			b = append(b, byte(r))
		case r == 'ẞ':
			b = append(b, "SS"...)
		default:
			if c, ok := win1252[r]; ok {
				b = append(b, c)
			} else {
				b = append(b, '?')
			}
		}
	}
	return string(b)
}

// win1252 maps the characters Windows-1252 has in 0x80–0x9f, and some
// look-alikes.
var win1252 = map[rune]byte{
	'€': 0x80, '‚': 0x82, 'ƒ': 0x83, '„': 0x84, '…': 0x85, '†': 0x86, '‡': 0x87,
	'ˆ': 0x88, '‰': 0x89, 'Š': 0x8a, '‹': 0x8b, 'Œ': 0x8c, 'Ž': 0x8e,
	'‘': 0x91, '’': 0x92, '“': 0x93, '”': 0x94, '•': 0x95, '–': 0x96, '—': 0x97,
	'˜': 0x98, '™': 0x99, 'š': 0x9a, '›': 0x9b, 'œ': 0x9c, 'ž': 0x9e, 'Ÿ': 0x9f,
	// look-alikes
	'\u2010': '-', '\u2011': '-', '\u2212': '-', '\u2002': ' ', '\u2003': ' ',
	'\u2007': ' ', '\u2009': ' ', '\u202f': ' ',
}

func hexSum(p []byte) string {
	sum := sha256.Sum256(p)
	return hex.EncodeToString(sum[:])
}
