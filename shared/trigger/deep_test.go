package trigger

import (
	"runtime"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
)

// deepEvent is a real event whose detail.requestParameters nests depth
// objects, each under a 17-character key: about 190 KB at depth 9000, under
// EventBridge's 256 KiB and under maxInput.
func deepEvent(t testing.TB, depth int) []byte {
	t.Helper()
	full := string(readEvent(t, "ecr-set-repository-policy.json"))
	const key = `"requestParameters":`
	i := strings.Index(full, key)
	if i < 0 {
		t.Fatal("sample has no requestParameters")
	}
	nested := strings.Repeat(`{"requestParameters":`, depth) + `{}` + strings.Repeat(`}`, depth)
	return []byte(full[:i] + `"deep":` + nested + "," + full[i:])
}

// An event nested thousands of levels deep is refused as malformed, naming
// the depth limit, in memory linear in its size: the duplicate-key walk once
// kept every ancestor's full path string alive (a 225 KB event of 9000 nested
// objects allocated 847 MB; the event functions have 256 MB).
func TestDeeplyNestedEventIsRefusedInLinearMemory(t *testing.T) {
	raw := deepEvent(t, 9000)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Parse(raw)
	runtime.ReadMemStats(&after)
	rej, ok := AsRejection(err)
	if !ok || rej.Reason != ReasonMalformed || !strings.Contains(rej.Detail, "more than 64 levels deep") || !strings.Contains(rej.Detail, "detail.deep.requestParameters") {
		t.Fatalf("got %v, want a malformed rejection naming the depth limit and where", err)
	}
	// Decoding the event into values costs a few hundred bytes per level;
	// 64 bytes of allocation per input byte is far above that and far below
	// the quadratic walk (about 4,500 per byte here).
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64*uint64(len(raw)) {
		t.Errorf("parsing a %d-byte event allocated %d bytes (%.0f per input byte), want linear", len(raw), alloc, float64(alloc)/float64(len(raw)))
	}
	// Real events stay far below the limit and parse as before.
	if _, err := Parse(deepEvent(t, config.MaxDepth-10)); err != nil {
		if rej, _ := AsRejection(err); rej != nil && strings.Contains(rej.Detail, "levels deep") {
			t.Errorf("an event %d levels deep was refused for its depth: %v", config.MaxDepth-10, err)
		}
	}
}

// A backfill payload is held to the same limit, with its field path.
func TestDeeplyNestedBackfillIsRefused(t *testing.T) {
	raw := `{"action":"backfill","targets":{"all":true},"x":` + strings.Repeat(`[`, 5000) + strings.Repeat(`]`, 5000) + `}`
	_, err := Parse([]byte(raw))
	if err == nil || !strings.Contains(err.Error(), "more than 64 levels deep") {
		t.Fatalf("got %v, want the depth limit named", err)
	}
}

func BenchmarkParseDeepEvent(b *testing.B) {
	raw := deepEvent(b, 9000)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		_, _ = Parse(raw)
	}
}
