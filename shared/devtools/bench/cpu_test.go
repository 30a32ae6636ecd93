package main

import (
	"testing"
	"time"

	// Every test package takes -update (go test ./... -update).
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// TestProcSinceCountsThisProcess: CPU burnt by this process shows under the
// bench's own label, and only processes alive at both reads are counted.
func TestProcSinceCountsThisProcess(t *testing.T) {
	from := procTicks()
	if len(from) == 0 {
		t.Fatal("procTicks read no process from /proc")
	}
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
		if got := procSince(from)["bench (proxy, Lambda runtime)"]; got > 0 {
			for label, s := range procSince(from) {
				if s < 0 {
					t.Errorf("%s used %f CPU seconds, want >= 0", label, s)
				}
			}
			return
		}
	}
	t.Fatalf("no CPU counted for this process after 5 s of work (x=%d)", x)
}
