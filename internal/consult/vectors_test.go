package consult

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the costs in testdata/record-cost-v1.json from RecordCost")

// recordCostFile is the table of chat messages and what they cost in a
// share (RecordCost) that the Go peers and the browser client
// (web/src/consult.js, recordCost) must agree on: the browser refuses its
// own message where the host would cut it. web/test/consult.test.mjs checks
// the JavaScript side against the same file.
var recordCostFile = filepath.Join("..", "..", "testdata", "record-cost-v1.json")

// costCase is one message. Name and Text are kept as written in the file,
// JSON string escapes included (a lone surrogate such as "\udc00" cannot be
// a Go string): they are read as the host reads a client's hello and chat.
type costCase struct {
	Why    string          `json:"why"`
	Name   json.RawMessage `json:"name"`
	Text   json.RawMessage `json:"text"`
	Repeat int             `json:"repeat,omitempty"`
	Cost   int             `json:"cost"`
}

type costTable struct {
	Description   string     `json:"description"`
	MaxShare      int        `json:"max_share"`
	WarnShare     int        `json:"warn_share"`
	EntryCost     int        `json:"entry_cost"`
	LineBreakCost int        `json:"line_break_cost"`
	Cases         []costCase `json:"cases"`
}

const costDescription = "Chat messages of a client and what each costs in its share of the record " +
	"(internal/consult.RecordCost; docs/consult.md, \"Limits of the transcript and the record\"). " +
	"name and text are JSON strings as a client sends them, lone surrogates included (the host reads them as U+FFFD); " +
	"the text is repeated repeat times if given. web/src/consult.js (recordCost) must agree: " +
	"internal/consult/vectors_test.go checks Go, web/test/consult.test.mjs checks JavaScript; " +
	"go test ./internal/consult -run TestRecordCostVectors -args -update rewrites the costs and constants from Go."

// hostReads returns the name and text as the host has them once it parsed
// the client's hello and chat lines (parseLine, as on the consult channel).
func hostReads(c costCase) (name, text string, err error) {
	inner := func(raw json.RawMessage) (string, error) {
		s := string(bytes.TrimSpace(raw))
		if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
			return "", fmt.Errorf("%s is not a JSON string", raw)
		}
		return s[1 : len(s)-1], nil
	}
	rawName, err := inner(c.Name)
	if err != nil {
		return "", "", err
	}
	rawText, err := inner(c.Text)
	if err != nil {
		return "", "", err
	}
	hello, err := parseLine([]byte(`{"t":"hello","v":1,"role":"client","lang":"de","name":"` + rawName + `"}`))
	if err != nil {
		return "", "", fmt.Errorf("hello: %w", err)
	}
	chat, err := parseLine([]byte(`{"t":"chat","id":"c1","ts":1,"text":"` + strings.Repeat(rawText, max(1, c.Repeat)) + `"}`))
	if err != nil {
		return "", "", fmt.Errorf("chat: %w", err)
	}
	return hello.Name, chat.Text, nil
}

// TestRecordCostVectors pins RecordCost to the shared table, reading each
// message the way the host reads it from a client, and checks that every
// cost bounds what the record's entry really takes (checkCost).
func TestRecordCostVectors(t *testing.T) {
	data, err := os.ReadFile(recordCostFile)
	if err != nil {
		t.Fatal(err)
	}
	var tab costTable
	if err := json.Unmarshal(data, &tab); err != nil {
		t.Fatal(err)
	}
	if len(tab.Cases) < 20 {
		t.Fatalf("only %d cases", len(tab.Cases))
	}
	if *update {
		tab.Description = costDescription
		tab.MaxShare, tab.WarnShare, tab.EntryCost, tab.LineBreakCost = MaxShare, WarnShare, chatEntryCost, lineBreakCost
		for i, c := range tab.Cases {
			name, text, err := hostReads(c)
			if err != nil {
				t.Fatalf("%s: %v", c.Why, err)
			}
			tab.Cases[i].Cost = RecordCost(name, text)
		}
		if err := os.WriteFile(recordCostFile, marshalCostTable(t, tab), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if tab.MaxShare != MaxShare || tab.WarnShare != WarnShare || tab.EntryCost != chatEntryCost || tab.LineBreakCost != lineBreakCost {
		t.Errorf("the table's constants %d/%d/%d/%d differ from Go's %d/%d/%d/%d", tab.MaxShare, tab.WarnShare, tab.EntryCost, tab.LineBreakCost,
			MaxShare, WarnShare, chatEntryCost, lineBreakCost)
	}
	for _, c := range tab.Cases {
		name, text, err := hostReads(c)
		if err != nil {
			t.Fatalf("%s: %v", c.Why, err)
		}
		if got := RecordCost(name, text); got != c.Cost {
			t.Errorf("%s: RecordCost(%q, %.40q) = %d, the table says %d", c.Why, name, text, got, c.Cost)
		}
		checkCost(t, name, text)
	}
	// The file is as -update writes it, so that a diff shows only changes.
	if got := marshalCostTable(t, tab); !bytes.Equal(got, data) {
		t.Errorf("%s is not in its canonical form: run with -args -update", recordCostFile)
	}
}

// marshalCostTable writes the table with one case per line, texts as they
// were written (escapes kept).
func marshalCostTable(t *testing.T, tab costTable) []byte {
	t.Helper()
	enc := func(v any) string {
		var b bytes.Buffer
		e := json.NewEncoder(&b)
		e.SetEscapeHTML(false)
		if err := e.Encode(v); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSuffix(b.String(), "\n")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "{\n  \"description\": %s,\n", enc(tab.Description))
	fmt.Fprintf(&b, "  \"max_share\": %d,\n  \"warn_share\": %d,\n  \"entry_cost\": %d,\n  \"line_break_cost\": %d,\n", tab.MaxShare, tab.WarnShare, tab.EntryCost, tab.LineBreakCost)
	b.WriteString("  \"cases\": [\n")
	for i, c := range tab.Cases {
		sep := ","
		if i == len(tab.Cases)-1 {
			sep = ""
		}
		fmt.Fprintf(&b, "    %s%s\n", enc(c), sep)
	}
	b.WriteString("  ]\n}\n")
	return []byte(b.String())
}
