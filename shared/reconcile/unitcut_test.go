package reconcile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
)

// One chunk that cannot finish within a try (ECR throttling hard: here 40
// reads of 300 ms, two at a time, 6 s, in tries of 3.5 s with a 2 s
// reserve). Before, the chunk read on into the try's deadline: the reads
// it had not made failed, nothing it had read was worth a continuation,
// and the unit failed; in Lambda the timeout killed it on every delivery
// until the dead-letter queue. Now a unit reads no more repositories once
// its deadline is within the reserve, writes what it read, and goes on
// after the last repository it converged in another try: every repository
// is written exactly once over the tries, no record says failed or stays
// pending, and the cursors only move forward.
func TestAChunkTooSlowForOneTryGoesOnInTheNext(t *testing.T) {
	w := newWorld(t, resumeDeclaration)
	const repos = 40
	var names []string
	for i := range repos {
		name := fmt.Sprintf("apps/r%02d", i)
		w.aws.CreateRepository(fTeamA, fRegion, name, nil)
		names = append(names, name)
	}
	w.engine.Concurrency = 2
	w.engine.UnitReserve = 2 * time.Second
	w.aws.Latency(func(c fakeaws.Call) time.Duration {
		if c.Operation == "GetRepositoryPolicy" {
			return 300 * time.Millisecond
		}
		return 0
	})
	u := Work{RunID: "sweep-1", Sweep: true, Account: fTeamA, Region: fRegion, WalkedAt: time.Now().Add(-time.Minute),
		Accounts: []desired.Account{{ID: fTeamA, Status: "ACTIVE", OUPath: w.ouPath(t, fTeamA)}}}
	var afters []string
	for try := 1; ; try++ {
		if try > 8 {
			t.Fatalf("unit not finished after %d tries (cursors %v)", try-1, afters)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
		rep, err := w.engine.Converge(ctx, u.Cause(), u)
		cancel()
		if err != nil {
			t.Fatalf("try %d (after %q): %v", try, u.After, err)
		}
		if rep.Continue == nil {
			break
		}
		if rep.Continue.After <= u.After {
			t.Fatalf("try %d: cursor %q does not move past %q", try, rep.Continue.After, u.After)
		}
		afters = append(afters, rep.Continue.After)
		u = *rep.Continue
	}
	if len(afters) == 0 {
		t.Fatal("the unit finished in one try: the test's chunk is not too slow for one")
	}
	applied := map[string]int{}
	for _, r := range w.records(t) {
		switch r.Decision {
		case audit.DecisionApplied:
			applied[r.Target.ARN]++
		case audit.DecisionFailed, audit.DecisionPending, audit.DecisionUnknown:
			t.Errorf("record %s %s: %s", r.Decision, r.Target.ARN, r.Error)
		}
	}
	for _, name := range names {
		hasAll(t, "repository policy of "+name, w.aws.RepositoryPolicy(fTeamA, fRegion, name), "arn:aws:iam::"+fTeamB+":root")
		if arn := repositoryResource("aws", fTeamA, fRegion, name).ARN; applied[arn] != 1 {
			t.Errorf("%s written %d times, want once", name, applied[arn])
		}
	}
	t.Logf("cursors over the tries: %v", afters)
}
