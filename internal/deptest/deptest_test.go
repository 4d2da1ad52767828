package deptest

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/direkt/direkt/"

// rule is what one package's non-test files may import.
type rule struct {
	// own lists the direkt packages (relative to the module) it may import.
	own []string
	// anyOwn allows every direkt package but those in notOwn.
	anyOwn bool
	notOwn []string
	// external lists module path prefixes besides the standard library;
	// anyExternal allows every one.
	external    []string
	anyExternal bool
	// noLog forbids log and log/slog (packages that must never log).
	noLog bool
}

var pion = []string{"github.com/pion/"}

// rules: every package of the module must be listed, so a new package needs
// a decision here.
var rules = map[string]rule{
	"internal/wire":        {},
	"internal/cpace":       {external: []string{"github.com/gtank/ristretto255"}, noLog: true},
	"internal/code":        {},
	"internal/identity":    {},
	"internal/transfer":    {},
	"internal/discovery":   {external: []string{"golang.org/x/net/", "golang.org/x/sys/", "golang.org/x/time/"}},
	"internal/mailbox":     {own: []string{"internal/wire"}, external: []string{"github.com/coder/websocket"}},
	"internal/mitm":        {own: []string{"internal/wire"}, external: []string{"github.com/coder/websocket"}},
	"internal/relay":       {own: []string{"internal/wire"}, external: pion},
	"internal/rendezvous":  {own: []string{"internal/wire"}, external: []string{"github.com/coder/websocket", "golang.org/x/time/"}},
	"internal/session":     {own: []string{"internal/wire", "internal/portmap"}, external: append([]string{"golang.org/x/net/"}, pion...)},
	"internal/portmap":     {external: []string{"golang.org/x/net/"}},
	"internal/proxy":       {},
	"internal/pairing":     {own: []string{"internal/wire", "internal/cpace", "internal/code", "internal/mailbox"}},
	"internal/cli":         {anyOwn: true, notOwn: []string{"internal/mitm", "internal/deptest", "internal/browsertest"}, anyExternal: true},
	"internal/consult":     {own: []string{"internal/session", "internal/transfer"}},
	"internal/screen":      {own: []string{"internal/session"}, external: pion},
	"internal/record":      {external: []string{"github.com/go-pdf/fpdf"}},
	"internal/known":       {},
	"internal/console":     {external: []string{"github.com/skip2/go-qrcode"}},
	"internal/app":         {anyOwn: true, notOwn: []string{"internal/cli", "internal/mitm", "internal/deptest", "internal/browsertest"}, anyExternal: true},
	"web":                  {},
	"internal/browsertest": {external: []string{"github.com/chromedp/"}},
	"internal/version":     {},
	"internal/deptest":     {},
	"internal/testwatch":   {},
	"internal/e2e":         {},
	"internal/netbed":      {external: []string{"golang.org/x/net/", "golang.org/x/sys/"}},
	"cmd/direkt":           {own: []string{"internal/cli"}},
	"bench":                {anyOwn: true, anyExternal: true},
}

func TestImportRules(t *testing.T) {
	root := filepath.Join("..", "..")
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		pkg := filepath.ToSlash(rel)
		seen[pkg] = true
		r, ok := rules[pkg]
		if !ok {
			t.Errorf("%s: package %s has no import rule in deptest", path, pkg)
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if msg := r.check(p); msg != "" {
				t.Errorf("%s imports %s: %s", path, p, msg)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pkg := range rules {
		if _, err := os.Stat(filepath.Join(root, pkg)); err != nil {
			t.Errorf("rule for %s, which does not exist", pkg)
		}
	}
	if len(seen) < 10 {
		t.Fatalf("walked only %d packages: wrong root?", len(seen))
	}
}

func (r rule) check(p string) string {
	if r.noLog && (p == "log" || p == "log/slog") {
		return "this package never logs"
	}
	if p == "log" {
		return "use log/slog"
	}
	if own, ok := strings.CutPrefix(p, module); ok {
		if slices.Contains(r.own, own) || (r.anyOwn && !slices.Contains(r.notOwn, own)) {
			return ""
		}
		return "against the layering of DESIGN.md"
	}
	first, _, _ := strings.Cut(p, "/")
	if !strings.Contains(first, ".") || r.anyExternal {
		return "" // standard library
	}
	for _, e := range r.external {
		if strings.HasPrefix(p, e) || p == strings.TrimSuffix(e, "/") {
			return ""
		}
	}
	return "module not allowed for this package"
}
