package reconcile

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
)

// resumeDeclaration has a registry-placement grant in every member (a
// registry policy the first try plans) and a repository grant on apps/*
// (every repository of the test's registry is written once).
const resumeDeclaration = `"grants": [
	{"name": "team-b-pull", "repositories": ["shared/*"], "access": "pull", "placement": "registry",
	 "principals": {"accounts": ["` + fTeamB + `"]}, "registries": {"allMembers": true}},
	{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "placement": "repository",
	 "principals": {"accounts": ["` + fTeamB + `"]}, "registries": {"allMembers": true}}]`

// A registry too large for one try converges over several: each try stops
// before its deadline after the chunk it finished and hands back the same
// unit with its cursor, the next converges the repositories after it. Every
// repository is read and written exactly once over the tries, and only the
// first try plans the registry policy. Here a chunk is 3 repositories and
// the clock moves a minute at each chunk's start and end, so with 6.5
// minutes per try each try converges 2 chunks.
func TestALargeRegistryResumesWhereItsLastTryStopped(t *testing.T) {
	w := newWorld(t, resumeDeclaration)
	var names []string
	for i := 13; i >= 0; i-- { // created out of order: a unit goes in name order
		name := fmt.Sprintf("apps/r%02d", i)
		w.aws.CreateRepository(fTeamA, fRegion, name, nil)
		names = append(names, name)
	}
	w.engine.chunk = 3
	w.engine.UnitReserve = DefaultUnitReserve
	walked := time.Now().Add(-time.Minute).UTC()
	u := Work{RunID: "sweep-1", Sweep: true, Account: fTeamA, Region: fRegion, WalkedAt: walked,
		Accounts: []desired.Account{{ID: fTeamA, Status: "ACTIVE", OUPath: w.ouPath(t, fTeamA)}}}
	var afters []string
	registryReads := 0
	for try := 1; ; try++ {
		if try > 5 {
			t.Fatalf("unit not finished after %d tries (cursors %v)", try-1, afters)
		}
		t0, ticks := time.Now(), 0
		w.engine.clock = func() time.Time { ticks++; return t0.Add(time.Duration(ticks) * time.Minute) }
		ctx, cancel := context.WithDeadline(context.Background(), t0.Add(6*time.Minute+30*time.Second))
		before := w.aws.Calls("ECR", "GetRegistryPolicy")
		rep, err := w.engine.Converge(ctx, u.Cause(), u)
		cancel()
		if err != nil {
			t.Fatalf("try %d: %v", try, err)
		}
		if reads := w.aws.Calls("ECR", "GetRegistryPolicy") - before; try == 1 {
			registryReads = reads
		} else if reads != 0 {
			t.Errorf("try %d read the registry policy %d times; only the first try plans it", try, reads)
		}
		if rep.Continue == nil {
			break
		}
		next := *rep.Continue
		if next.RunID != u.RunID || !next.Sweep || next.Account != fTeamA || next.Region != fRegion || !next.WalkedAt.Equal(walked) || len(next.Accounts) != 1 {
			t.Errorf("try %d: continuation %+v is not the same unit as %+v", try, next, u)
		}
		afters = append(afters, next.After)
		u = next
	}
	if want := []string{"apps/r05", "apps/r11"}; !slices.Equal(afters, want) {
		t.Errorf("cursors %v, want %v (2 chunks of 3 per try, in name order)", afters, want)
	}
	if registryReads == 0 {
		t.Error("the first try did not plan the registry policy")
	}
	if n := w.aws.Calls("ECR", "GetRepositoryPolicy"); n != len(names) {
		t.Errorf("%d repository policy reads over the tries, want %d: each repository read once", n, len(names))
	}
	applied := map[string]int{}
	var summaries []audit.Record
	for _, r := range w.records(t) {
		switch r.Decision {
		case audit.DecisionApplied:
			applied[r.Target.ARN]++
		case audit.DecisionSummary:
			summaries = append(summaries, r)
		}
	}
	for _, name := range names {
		hasAll(t, "repository policy of "+name, w.aws.RepositoryPolicy(fTeamA, fRegion, name), "arn:aws:iam::"+fTeamB+":root")
		if arn := repositoryResource("aws", fTeamA, fRegion, name).ARN; applied[arn] != 1 {
			t.Errorf("%s written %d times, want once", name, applied[arn])
		}
	}
	if arn := registryResource("aws", fTeamA, fRegion).ARN; applied[arn] != 1 {
		t.Errorf("registry policy written %d times, want once", applied[arn])
	}
	var cursors [][2]string
	for _, s := range summaries {
		cursors = append(cursors, [2]string{s.Counts.ResumedAfter, s.Counts.ContinuesAfter})
	}
	if want := [][2]string{{"", "apps/r05"}, {"apps/r05", "apps/r11"}, {"apps/r11", ""}}; !slices.Equal(cursors, want) {
		t.Errorf("summaries' (resumed after, continues after) %v, want %v", cursors, want)
	}

	// Without a deadline (tests, tools) a unit never stops early.
	w.engine.clock = nil
	whole := u
	whole.After = ""
	rep, err := w.engine.Converge(context.Background(), whole.Cause(), whole)
	if err != nil || rep.Continue != nil || rep.Unchanged != len(names)+1 {
		t.Errorf("whole unit without a deadline: %+v, %v; want all %d repositories and the registry policy, unchanged, in one try", rep, err, len(names))
	}
}

// The worker keeps a unit's counts, not a ReportedChange per write
// (Engine.CountsOnly): it logs and records counts only, and at 50,000
// repositories the changes' diffs were about 60 MB held until the try ended.
// The counts stay exact, the first errors are kept for the log line with
// one more that says how many were cut, and every document still has its
// own audit record.
func TestAWorkerUnitKeepsCountsNotChanges(t *testing.T) {
	for _, countsOnly := range []bool{false, true} {
		w := newWorld(t, resumeDeclaration)
		for i := range 60 {
			w.aws.CreateRepository(fTeamA, fRegion, fmt.Sprintf("apps/r%02d", i), nil)
		}
		for i := range 30 {
			w.aws.CreateRepository(fTeamA, fRegion, fmt.Sprintf("apps/s%02d", i), nil)
		}
		w.aws.Fail(func(c fakeaws.Call) error {
			if in, ok := c.Input.(*ecr.SetRepositoryPolicyInput); ok && strings.HasPrefix(aws.ToString(in.RepositoryName), "apps/s") {
				return fakeaws.APIError("ThrottlingException", "Rate exceeded")
			}
			return nil
		})
		w.engine.chunk = 20
		w.engine.CountsOnly = countsOnly
		u := Work{RunID: "sweep-1", Sweep: true, Account: fTeamA, Region: fRegion, WalkedAt: time.Now().Add(-time.Minute),
			Accounts: []desired.Account{{ID: fTeamA, Status: "ACTIVE", OUPath: w.ouPath(t, fTeamA)}}}
		rep, err := w.engine.Converge(context.Background(), u.Cause(), u)
		if err == nil || rep.Changed != 61 || rep.Failed != 30 {
			t.Fatalf("counts only %v: %+v changed, %d failed, %v; want the registry policy and 60 repositories written, 30 failed and the unit failed", countsOnly, rep.Changed, rep.Failed, err)
		}
		wantChanges, wantErrors := 91, 30
		if countsOnly {
			wantChanges, wantErrors = 0, keptErrors+1
		}
		if len(rep.Changes) != wantChanges || len(rep.Errors) != wantErrors {
			t.Errorf("counts only %v: %d changes and %d errors in the report, want %d and %d", countsOnly, len(rep.Changes), len(rep.Errors), wantChanges, wantErrors)
		}
		if countsOnly && len(rep.Errors) > 0 && rep.Errors[len(rep.Errors)-1] != moreErrors(30-keptErrors, u.RunID) {
			t.Errorf("the report's last error is %q, want it to say %d more were cut: %q", rep.Errors[len(rep.Errors)-1], 30-keptErrors, moreErrors(30-keptErrors, u.RunID))
		}
		applied, failed := 0, 0
		for _, r := range w.records(t) {
			switch r.Decision {
			case audit.DecisionApplied:
				applied++
			case audit.DecisionFailed:
				failed++
			}
		}
		if applied != 61 || failed != 30 {
			t.Errorf("counts only %v: %d applied and %d failed records, want 61 and 30", countsOnly, applied, failed)
		}
	}
}
