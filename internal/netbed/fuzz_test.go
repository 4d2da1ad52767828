package netbed

import (
	"strings"
	"testing"
)

func FuzzParseKind(f *testing.F) {
	for _, s := range []string{"public", " Open ", "EASY", "hard", "udpblock", "tcp443", "", "tcp", "easy\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := ParseKind(s)
		if err != nil {
			if k != "" {
				t.Fatalf("ParseKind(%q) = %q with error %v", s, k, err)
			}
			return
		}
		if string(k) != strings.ToLower(strings.TrimSpace(s)) {
			t.Fatalf("ParseKind(%q) = %q", s, k)
		}
		if again, err := ParseKind(string(k)); err != nil || again != k {
			t.Fatalf("ParseKind(%q) is not stable: %q, %v", k, again, err)
		}
	})
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds {
		if got, err := ParseKind(strings.ToUpper(string(k))); err != nil || got != k {
			t.Errorf("ParseKind(%q) = %q, %v", k, got, err)
		}
	}
	if _, err := ParseKind("symmetric"); err == nil {
		t.Error("ParseKind accepted symmetric")
	}
}
