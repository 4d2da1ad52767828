package transfer

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSanitizeName(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	cases := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"folder/sub/file.txt", "folder/sub/file.txt"},
		{"ümlaut straße.txt", "ümlaut straße.txt"},
		{`a\b`, "a_b"},
		{`..\..\windows`, ".._.._windows"},
		{"C:/x", "C_/x"},
		{`<>:"|?*`, "_______"},
		{"tab\there", "tab_here"},
		{"nul\x00byte", "nul_byte"},
		{"del\x7f", "del_"},
		{"c1\u0085", "c1_"},
		{"rtl\u202egpj.exe", "rtl_gpj.exe"},
		{"bad\xff\xfe", "bad\uFFFD\uFFFD"},
		{"dots...", "dots"},
		{"spaces  ", "spaces"},
		{"mixed. .", "mixed"},
		{"...", "_"},
		{" ", "_"},
		{". .", "_"},
		{".hidden", ".hidden"},
		{"CON", "CON_"},
		{"con", "con_"},
		{"con.txt", "con_.txt"},
		{"Con.tar.gz", "Con_.tar.gz"},
		{"con .txt", "con _.txt"},
		{"aux", "aux_"},
		{"NUL.", "NUL_"},
		{"com0", "com0_"},
		{"COM9.log", "COM9_.log"},
		{"lpt¹", "lpt¹_"},
		{"COM³.txt", "COM³_.txt"},
		{"conin$", "conin$_"},
		{"CONOUT$.x", "CONOUT$_.x"},
		{"console", "console"},
		{"com10", "com10"},
		{"dir/con/file", "dir/con_/file"},
		{"x.direkt-partial", "x.direkt-partial_"},
		{"X.DIREKT-PARTIAL", "X.DIREKT-PARTIAL_"},
		{"x.direkt-partial.txt", "x.direkt-partial.txt"},
		{long + ".txt", strings.Repeat("é", 125) + ".txt"},
		{strings.Repeat("a", 300), strings.Repeat("a", 255)},
		{strings.Repeat("a", 250) + "." + strings.Repeat("b", 40), strings.Repeat("a", 250) + "." + strings.Repeat("b", 4)},
	}
	for _, tc := range cases {
		got, err := SanitizeName(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("SanitizeName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestSanitizeNameRefuses(t *testing.T) {
	for _, in := range []string{
		"", "/etc/passwd", "/", "..", "../x", "a/../b", "a/..", ".", "./a", "a/./b",
		"a//b", "a/", strings.Repeat("d/", maxDepth) + "f",
		strings.Repeat(strings.Repeat("x", 200)+"/", 21) + "f",
	} {
		if got, err := SanitizeName(in); !errors.Is(err, ErrUnsafeName) {
			t.Errorf("SanitizeName(%q) = %q, %v; want ErrUnsafeName", in, got, err)
		}
	}
	if _, err := SanitizeName(strings.Repeat("d/", maxDepth-1) + "f"); err != nil {
		t.Errorf("%d levels refused: %v", maxDepth, err)
	}
}

func TestConflictAndPartialNames(t *testing.T) {
	cases := []struct {
		base string
		k    int
		want string
	}{
		{"report.pdf", 1, "report (1).pdf"},
		{"archive.tar.gz", 2, "archive.tar (2).gz"},
		{".bashrc", 1, ".bashrc (1)"},
		{"noext", 12, "noext (12)"},
		{strings.Repeat("a", 251) + ".pdf", 3, strings.Repeat("a", 247) + " (3).pdf"},
	}
	for _, tc := range cases {
		if got := conflictName(tc.base, tc.k); got != tc.want {
			t.Errorf("conflictName(%q, %d) = %q, want %q", tc.base, tc.k, got, tc.want)
		}
	}
	if got := dirConflictName("photos.2024", 1); got != "photos.2024 (1)" {
		t.Errorf("dirConflictName = %q", got)
	}
	long := strings.Repeat("ü", 127) + "x" // 255 bytes
	for _, n := range []string{conflictName(long, 999), partialName(long), dirConflictName(long, 7)} {
		if len(n) > maxComponent || !utf8.ValidString(n) {
			t.Errorf("%q: %d bytes or invalid UTF-8", n, len(n))
		}
	}
	if p := partialName(long); !strings.HasSuffix(p, partialSuffix) {
		t.Errorf("partial name %q lost its suffix", p)
	}
}

func TestUniqueNames(t *testing.T) {
	files := []File{{Name: "a"}, {Name: "a/b"}, {Name: "x.txt"}, {Name: "x.txt"}, {Name: "x (1).txt"}, {Name: "e"}}
	dirs := []string{"e", "e", "d/empty"}
	files, dirs = uniqueNames(files, dirs)
	var got []string
	for _, f := range files {
		got = append(got, f.Name)
	}
	want := []string{"a (1)", "a/b", "x.txt", "x (1).txt", "x (1) (1).txt", "e (1)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("files %q, want %q", got, want)
	}
	if strings.Join(dirs, "|") != "e|d/empty" {
		t.Errorf("dirs %q", dirs)
	}
}

// FuzzSanitizeName checks that whatever a peer sends, the result is a safe
// relative path, its components are safe on Windows too, and sanitising again
// changes nothing.
func FuzzSanitizeName(f *testing.F) {
	for _, s := range []string{
		"report.pdf", "a/b/c.txt", "../x", "/abs", `a\b`, "con.txt", "LPT¹", "x.direkt-partial",
		"dots...", " . ", "\u202e", "\xff", strings.Repeat("é", 200) + ".txt",
		strings.Repeat("a", 240) + ".direkt-partial" + strings.Repeat("b", 40), "nul ", "a/./b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := SanitizeName(in)
		if err != nil {
			if !errors.Is(err, ErrUnsafeName) {
				t.Fatalf("error %v is not ErrUnsafeName", err)
			}
			return
		}
		if !filepath.IsLocal(out) || !utf8.ValidString(out) || len(out) > maxPathLen {
			t.Fatalf("SanitizeName(%q) = %q: not a local, valid path", in, out)
		}
		comps := strings.Split(out, "/")
		if len(comps) > maxDepth {
			t.Fatalf("%q: too deep", out)
		}
		for _, c := range comps {
			stem, _, _ := strings.Cut(c, ".")
			switch {
			case c == "" || c == "." || c == "..":
				t.Fatalf("%q: bad component %q", out, c)
			case len(c) > maxComponent:
				t.Fatalf("%q: component of %d bytes", out, len(c))
			case isReserved(strings.TrimRight(stem, " ")):
				t.Fatalf("%q: reserved component %q", out, c)
			case strings.HasSuffix(c, ".") || strings.HasSuffix(c, " "):
				t.Fatalf("%q: trailing dot or space in %q", out, c)
			case hasPartialSuffix(c):
				t.Fatalf("%q: poses as a partial file", out)
			case strings.ContainsFunc(c, isIllegalRune):
				t.Fatalf("%q: illegal character in %q", out, c)
			}
		}
		again, err := SanitizeName(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, out, again, err)
		}
	})
}
