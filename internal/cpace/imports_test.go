package cpace_test

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// cpace is a protocol leaf (see the package doc): besides the standard
// library it may import only the ristretto255 group.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			if strings.Contains(first, ".") && path != "github.com/gtank/ristretto255" {
				t.Errorf("%s imports %s", name, path)
			}
			if path == "log" || path == "log/slog" {
				t.Errorf("%s imports %s: cpace never logs", name, path)
			}
		}
	}
}
