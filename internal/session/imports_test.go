package session

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// session sits on wire and pion only (see the package doc): of direkt's own
// packages it may import wire, nothing above or beside it.
func TestImports(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	const own = "github.com/direkt/direkt/"
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
			if strings.HasPrefix(path, own) && path != own+"internal/wire" {
				t.Errorf("%s imports %s", name, path)
			}
			if path == "log" {
				t.Errorf("%s imports log; use log/slog", name)
			}
		}
	}
}
