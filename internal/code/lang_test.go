package code

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestParseLang(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Lang
	}{
		{"en", English},
		{"de", German},
		{"EN", English},
		{"De", German},
		{"en-US", English},
		{"en_GB", English},
		{"de-DE", German},
		{"de_AT", German},
		{"de_CH.UTF-8", German},
		{"de_DE@euro", German},
		{" de ", German},
		{"deutsch", German},
		{"German", German},
		{"english", English},
		{"fr-CH, de;q=0.9, en;q=0.8", German},
		{"en-US,en;q=0.9", English},
		{"de;q=0.5", German},
	} {
		got, err := ParseLang(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseLang(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "fr", "C", "POSIX", "e", "den", "fr-FR, it"} {
		if _, err := ParseLang(in); !errors.Is(err, ErrLang) {
			t.Errorf("ParseLang(%q): err = %v, want ErrLang", in, err)
		}
	}
}

func TestLangString(t *testing.T) {
	if English.String() != "en" || German.String() != "de" || Lang(9).String() != "Lang(9)" {
		t.Fatal(English.String(), German.String(), Lang(9).String())
	}
	var zero Lang
	if zero != English {
		t.Fatal("zero Lang is not English")
	}
}

func TestLangJSON(t *testing.T) {
	type event struct {
		Lang Lang `json:"lang"`
	}
	b, err := json.Marshal(event{German})
	if err != nil || string(b) != `{"lang":"de"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var e event
	if err := json.Unmarshal([]byte(`{"lang":"en-GB"}`), &e); err != nil || e.Lang != English {
		t.Fatalf("Unmarshal = %v, %v", e.Lang, err)
	}
	if err := json.Unmarshal([]byte(`{"lang":"fr"}`), &e); !errors.Is(err, ErrLang) {
		t.Fatalf("Unmarshal fr: %v", err)
	}
	if _, err := json.Marshal(event{Lang(5)}); !errors.Is(err, ErrLang) {
		t.Fatalf("Marshal Lang(5): %v", err)
	}
}
