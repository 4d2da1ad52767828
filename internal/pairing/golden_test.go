package pairing

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/direkt/direkt/internal/code"
)

var update = flag.Bool("update", false, "rewrite testdata/pairing-v1-phrases.json")

// TestGoldenInputs pins the constants this package feeds into CPace to the
// golden transcript (testdata/pairing-v1.json) that internal/cpace checks and
// the browser client will be pinned to.
func TestGoldenInputs(t *testing.T) {
	var g struct {
		Inputs struct {
			Code, Nameplate string
		}
		CPace struct {
			PRS, CI, ADa, ADb string
		} `json:"cpace"`
		SASIndices [3]int `json:"sas_indices"`
	}
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "pairing-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &g); err != nil {
		t.Fatal(err)
	}
	c, err := code.Parse(g.Inputs.Code)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		name string
		got  []byte
		want string
	}{
		{"PRS", []byte(c.String()), g.CPace.PRS},
		{"CI", channelID(g.Inputs.Nameplate), g.CPace.CI},
		{"ADa", adA, g.CPace.ADa},
		{"ADb", adB, g.CPace.ADb},
	} {
		want, _ := hex.DecodeString(x.want)
		if !bytes.Equal(x.got, want) {
			t.Errorf("%s = %x, golden %s", x.name, x.got, x.want)
		}
	}

	// The check phrase of the golden key, in both languages.
	type phrases struct {
		SASIndices [3]int `json:"sas_indices"`
		English    string `json:"phrase_en"`
		German     string `json:"phrase_de"`
	}
	got := phrases{g.SASIndices, code.Phrase(code.English, g.SASIndices), code.Phrase(code.German, g.SASIndices)}
	path := filepath.Join("..", "..", "testdata", "pairing-v1-phrases.json")
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var want phrases
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("phrases %+v, golden %+v", got, want)
	}
}
