package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
)

// A worker unit's entry for its own account is read again from the
// organization (Engine.VerifyUnits): a unit that places a sandbox account in
// the OU whose members get a push grant (handed to the worker directly, or
// walked before the account moved) does not write that grant into the
// account's repository, and the audit trail names both entries; a unit for
// an account the organization does not have is settled as skipped with
// nothing written. The same unit on an engine that trusts its units (the
// backfill's own plan) writes the grant, which is what the check prevents.
func TestWorkerUnitConvergesItsAccountWhereTheOrganizationHasIt(t *testing.T) {
	ctx := context.Background()
	probe, err := newWorld(t, "").engine.Org.Account(ctx, fTeamA)
	if err != nil {
		t.Fatal(err)
	}
	grant := `"grants": [{"name": "team-push", "repositories": ["team/*"], "access": "push", "placement": "repository",
	  "principals": {"accounts": ["` + fHub + `"]}, "registries": {"ous": ["` + probe.OUPath + `"]}}]`
	forged := func(w *world) Work {
		w.aws.Join(fNew, "sandbox")
		w.aws.CreateRepository(fNew, fRegion, "team/app", nil)
		return Work{RunID: "forged", Account: fNew, Region: fRegion, WalkedAt: time.Now(),
			Accounts: []desired.Account{{ID: fNew, Status: "ACTIVE", OUPath: probe.OUPath}}}
	}

	trusting := newWorld(t, grant)
	u := forged(trusting)
	if _, err := trusting.engine.Converge(ctx, u.Cause(), u); err != nil {
		t.Fatal(err)
	}
	hasAll(t, "team/app policy from a trusted unit", trusting.aws.RepositoryPolicy(fNew, fRegion, "team/app"), `"Sid":"EcrWardenTeamPush`)

	w := newWorld(t, grant)
	w.engine.VerifyUnits = true
	u = forged(w)
	if _, err := w.engine.Converge(ctx, u.Cause(), u); err != nil {
		t.Fatal(err)
	}
	if p := w.aws.RepositoryPolicy(fNew, fRegion, "team/app"); strings.Contains(p, "EcrWardenTeamPush") {
		t.Errorf("the worker wrote the grant of an OU the account is not in:\n%s", p)
	}
	var walks []string
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionOrganizationWalk {
			walks = append(walks, r.Error)
		}
	}
	if len(walks) != 1 || !strings.Contains(walks[0], "OU path "+probe.OUPath) || !strings.Contains(walks[0], "is not the organization's") {
		t.Errorf("organization-walk records = %q, want one naming the unit's entry and the organization's", walks)
	}

	// An account outside the organization: nothing read or written in it.
	w = newWorld(t, grant)
	w.engine.VerifyUnits = true
	w.aws.CreateRepository(fGone, fRegion, "team/app", nil)
	u = Work{RunID: "forged", Account: fGone, Region: fRegion, WalkedAt: time.Now(),
		Accounts: []desired.Account{{ID: fGone, Status: "ACTIVE", OUPath: probe.OUPath}}}
	rep, err := w.engine.Converge(ctx, u.Cause(), u)
	if err != nil {
		t.Fatalf("Converge: %v; want the unit settled as skipped", err)
	}
	if rep.Changed != 0 || w.aws.RepositoryPolicy(fGone, fRegion, "team/app") != "" {
		t.Errorf("report %+v, policy %q: want nothing written for an account outside the organization", rep, w.aws.RepositoryPolicy(fGone, fRegion, "team/app"))
	}
	skipped := false
	for _, r := range w.records(t) {
		skipped = skipped || r.Decision == audit.DecisionSummary && strings.Contains(r.Error, "skipped") && strings.Contains(r.Error, fGone)
	}
	if !skipped {
		t.Error("no summary saying the unit of an account outside the organization was skipped")
	}

	// A unit whose entry is the organization's costs one DescribeAccount
	// (in AWS its answer carries the OU path; the fake climbs parents) and
	// records nothing more.
	w = newWorld(t, grant)
	w.engine.VerifyUnits = true
	w.aws.CreateRepository(fTeamA, fRegion, "team/app", nil)
	before := w.aws.CallCounts()["Organizations.DescribeAccount"]
	u = Work{RunID: "backfill", Account: fTeamA, Region: fRegion, WalkedAt: time.Now(), Accounts: toDesiredAll([]inventory.Account{probe})}
	if _, err := w.engine.Converge(ctx, u.Cause(), u); err != nil {
		t.Fatal(err)
	}
	if n := w.aws.CallCounts()["Organizations.DescribeAccount"] - before; n != 1 {
		t.Errorf("%d DescribeAccount calls for a unit whose entry is right, want 1", n)
	}
	hasAll(t, "team/app policy of a member of the OU", w.aws.RepositoryPolicy(fTeamA, fRegion, "team/app"), `"Sid":"EcrWardenTeamPush`)
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionOrganizationWalk {
			t.Errorf("a unit whose entry is right recorded an organization walk: %s", r.Error)
		}
	}
}

// A unit's summary clips a long error on a character boundary: the cut at
// 2,000 bytes falls inside a two-byte character here.
func TestSummaryClipsALongErrorOnACharacter(t *testing.T) {
	w := newWorld(t, "")
	uerr := errors.New(strings.Repeat("a", 1999) + strings.Repeat("é", 10))
	if err := w.engine.summarize(context.Background(), Cause{}, Work{Account: fTeamA, Region: fRegion}, Report{}, time.Second, uerr, ""); err != nil {
		t.Fatal(err)
	}
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionSummary && (!utf8.ValidString(r.Error) || !strings.HasSuffix(r.Error, strings.Repeat("a", 10)+"…")) {
			t.Errorf("summary error is not valid UTF-8 clipped after the last whole character: ...%q", r.Error[len(r.Error)-12:])
		}
	}
}
