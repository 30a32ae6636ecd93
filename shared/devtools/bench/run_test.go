package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// TestBenchRunsEndToEnd runs make bench's every phase on a small
// organization (3 accounts, 24 repositories, 2 joins, one round), so a change
// to the product or to the local AWS that breaks the bench fails make test
// instead of the next make bench: since 8cf8f91 the local AWS refuses
// sts:AssumeRole into a role that does not exist, and the joins' new accounts
// held none, so every join failed and no test noticed.
func TestBenchRunsEndToEnd(t *testing.T) {
	localaws.Need(t) // the fast lane only; make test starts the local AWS and builds the binaries
	defer func(r int, o bool) { rounds, onlyJoins = r, o }(rounds, onlyJoins)
	rounds, onlyJoins = 1, false
	var out bytes.Buffer
	if err := run(context.Background(), &out, 3, 24, 1, 2, false); err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)hub grants lost\s+0\s+0\s*$`),
		regexp.MustCompile(`20 at once|at once / `),
		regexp.MustCompile(`product converged / floor converged`),
	} {
		if !want.MatchString(out.String()) {
			t.Errorf("bench output lacks %s:\n%s", want, out.String())
		}
	}
}
