package web_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/direkt/direkt/internal/code"
)

var update = flag.Bool("update", false, "rewrite the golden files of web (testdata/code-parse-v1.json, fingerprint-v1.json) from Go")

// codeParseFile is the table of code inputs and their results that Go
// (internal/code) and the browser client (web/src/code.js) must agree on;
// web/test/code.test.mjs checks the JavaScript side against the same file.
var codeParseFile = filepath.Join("..", "testdata", "code-parse-v1.json")

type parseCase struct {
	In string `json:"in"`
	// Canonical is code.Canonical's result, "" when it fails.
	Canonical string `json:"canonical,omitempty"`
	// Code, Lang: code.Parse's result when it succeeds.
	Code string `json:"code,omitempty"`
	Lang string `json:"lang,omitempty"`
	// Error is the kind of code.Parse's error (see errorKind).
	Error string `json:"error,omitempty"`
	// Word, Position, WordLang, Suggestions: a *code.WordError's fields.
	Word        string   `json:"word,omitempty"`
	Position    int      `json:"position,omitempty"`
	WordLang    string   `json:"word_lang,omitempty"`
	Suggestions []string `json:"suggestions,omitempty"`
}

type parseTable struct {
	Description string      `json:"description"`
	Cases       []parseCase `json:"cases"`
}

// errorKind names a code error as web/src/code.js's CodeError.kind does.
// The finer sentinels wrap ErrUnknownWord, so they are checked first.
func errorKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, code.ErrTooLong):
		return "too-long"
	case errors.Is(err, code.ErrCharacter):
		return "character"
	case errors.Is(err, code.ErrMixedLists):
		return "mixed-lists"
	case errors.Is(err, code.ErrUnknownWord):
		return "unknown-word"
	case errors.Is(err, code.ErrEmpty):
		return "empty"
	case errors.Is(err, code.ErrNameplate):
		return "nameplate"
	case errors.Is(err, code.ErrWordCount):
		return "word-count"
	}
	return "other: " + err.Error()
}

// goResult is what internal/code says about in.
func goResult(in string) parseCase {
	pc := parseCase{In: in}
	if c, err := code.Canonical(in); err == nil {
		pc.Canonical = c
	}
	c, err := code.Parse(in)
	if err == nil {
		pc.Code, pc.Lang = c.String(), c.Lang.String()
		return pc
	}
	pc.Error = errorKind(err)
	var we *code.WordError
	if errors.As(err, &we) {
		pc.Word, pc.Position, pc.WordLang, pc.Suggestions = we.Word, we.Position, we.Lang.String(), we.Suggestions
	}
	return pc
}

func TestCodeParseTableMatchesGo(t *testing.T) {
	data, err := os.ReadFile(codeParseFile)
	if err != nil {
		t.Fatal(err)
	}
	var tab parseTable
	if err := json.Unmarshal(data, &tab); err != nil {
		t.Fatal(err)
	}
	if len(tab.Cases) < 50 {
		t.Fatalf("only %d cases", len(tab.Cases))
	}
	if *update {
		for i := range tab.Cases {
			tab.Cases[i] = goResult(tab.Cases[i].In)
		}
		out, err := json.MarshalIndent(tab, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(codeParseFile, append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	kinds := map[string]int{}
	for _, want := range tab.Cases {
		got := goResult(want.In)
		kinds[got.Error]++
		if got.Canonical != want.Canonical || got.Code != want.Code || got.Lang != want.Lang ||
			got.Error != want.Error || got.Word != want.Word || got.Position != want.Position ||
			got.WordLang != want.WordLang || !slices.Equal(got.Suggestions, want.Suggestions) {
			t.Errorf("%q: Go gives %+v, the table says %+v", want.In, got, want)
		}
	}
	// The table must exercise every outcome, or it pins less than it seems.
	for _, k := range []string{"", "too-long", "character", "mixed-lists", "unknown-word", "empty", "nameplate", "word-count"} {
		if kinds[k] == 0 {
			t.Errorf("no case with outcome %q", k)
		}
	}
}
