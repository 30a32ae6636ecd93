package policy

import "testing"

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(foreignDoc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEquivalent(b *testing.B) {
	d := mustParseB(b, foreignDoc)
	d2 := mustParseB(b, foreignDoc)
	b.ReportAllocs()
	for b.Loop() {
		if eq, err := DocumentsEquivalent(d, d2); err != nil || !eq {
			b.Fatal(err)
		}
	}
}

func mustParseB(b *testing.B, s string) *Document {
	d, err := Parse(s)
	if err != nil {
		b.Fatal(err)
	}
	return d
}
