package code

import "testing"

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("47 Nordsee Tulpe"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseURL(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("https://direkt.example/j#47-nordsee-tulpe"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseTypo measures the error path: a scan of both lists for
// suggestions.
func BenchmarkParseTypo(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("47 Nordsee Tulpr"); err == nil {
			b.Fatal("no error")
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Generate("47", German); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPhrase(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = Phrase(German, [3]int{72, 837, 414})
	}
}
