package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
)

// A moved-out member whose execution role is already gone: a unit the move
// queued ends with its summary saying what was left in place and why, and
// no error (retrying cannot bring the role back); the same failure in a
// sweep's unit, or in a move unit of a member still configured, is an error
// the worker retries and dead-letters.
func TestMovedOutWithoutTheRoleIsLeftInPlace(t *testing.T) {
	w := newWorld(t, `"grants": [{"name": "a-pull", "repositories": ["*"], "access": "pull", "placement": "registry",
	  "principals": {"accounts": ["`+fHub+`"]}, "registries": {"accounts": ["`+fTeamA+`"]}}]`)
	w.aws.Unassumable(fTeamB, "arn:aws:iam::"+fTeamB+":role/ecr-warden-execution")
	w.aws.Unassumable(fTeamA, "arn:aws:iam::"+fTeamA+":role/ecr-warden-execution")
	member := func(id string) desired.Account {
		return desired.Account{ID: id, Status: "ACTIVE", OUPath: fOrgID + "/r-root/ou-workloads/"}
	}
	ctx := context.Background()
	unit := func(account string, moved bool) Work {
		w := Work{RunID: "run-" + account, Account: account, Region: fRegion, Accounts: []desired.Account{member(account)}, Moved: moved}
		if moved {
			w.Trigger = &audit.Trigger{EventID: w.RunID, EventType: "AWS API Call via CloudTrail/MoveAccount", Source: "aws.organizations"}
		}
		return w
	}

	out := unit(fTeamB, true)
	if _, err := w.engine.Converge(ctx, out.Cause(), out); err != nil {
		t.Fatalf("moved-out unit without a role: %v, want it settled", err)
	}
	var sum audit.Record
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionSummary && r.Target.ARN == audit.UnitARN(fTeamB, fRegion) {
			sum = r
		}
	}
	hasAll(t, "summary", sum.Error, "left in place", fTeamB, "ecr-warden-execution", `"EcrWarden"`, "AccessDenied")
	if !strings.HasSuffix(sum.Trigger.EventType, "/MoveAccount") || sum.Trigger.EventID != "run-"+fTeamB {
		t.Errorf("summary trigger %+v, want the move event", sum.Trigger)
	}

	// A retired member's unit (the backfill's last full run configured it)
	// is left in place the same way, saying why without speaking of a move.
	retired := unit(fTeamB, false)
	retired.RunID, retired.Retired = "backfill-retire", true
	if _, err := w.engine.Converge(ctx, retired.Cause(), retired); err != nil {
		t.Fatalf("retired unit without a role: %v, want it settled", err)
	}
	found := false
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionSummary && r.Trigger.EventID == "backfill-retire" {
			found = true
			hasAll(t, "retired summary", r.Error, "left in place", "is no longer configured by the declaration", "ecr-warden-execution", "AccessDenied")
			hasNone(t, "retired summary", r.Error, "moved out")
			if r.Counts == nil || !strings.Contains(r.Counts.Why, "retired: account "+fTeamB+" is no longer configured by the declaration") {
				t.Errorf("retired summary counts %+v, want why it ran", r.Counts)
			}
		}
	}
	if !found {
		t.Error("no summary record of the retired unit")
	}

	// Statements left in place still grant what the declaration no longer
	// does: each such unit records a refused record of the registry
	// (reason left-in-place), which the refused alarm counts, and its
	// summary counts it refused.
	for _, run := range []string{"run-" + fTeamB, "backfill-retire"} {
		var refused []audit.Record
		for _, r := range w.records(t) {
			if r.Decision == audit.DecisionRefused && r.Trigger.EventID == run {
				refused = append(refused, r)
			}
			if r.Decision == audit.DecisionSummary && r.Trigger.EventID == run && (r.Counts == nil || r.Counts.Refused != 1) {
				t.Errorf("%s: summary counts %+v, want 1 refused (the statements left in place)", run, r.Counts)
			}
		}
		if len(refused) != 1 {
			t.Fatalf("%s: %d refused records, want 1 saying the statements were left in place", run, len(refused))
		}
		r := refused[0]
		if r.Target.Kind != KindRegistryPolicy || r.Target.AccountID != fTeamB || r.Target.Region != fRegion || r.Reason() != "left-in-place" {
			t.Errorf("%s: refused record target %+v reason %q, want %s's registry policy in %s, reason left-in-place", run, r.Target, r.Reason(), fTeamB, fRegion)
		}
		hasAll(t, run+" refused record", r.Error, fTeamB, "ecr-warden-execution", `"EcrWarden"`, "AccessDenied")
	}

	// A dry run (the deploy's plan under requireCleanPlan) plans the same
	// unit without counting it refused: the plan of one member whose role
	// is gone must not hold back the rest of a deploy (revocations only).
	dry := unit(fTeamB, false)
	dry.RunID, dry.Retired, dry.DryRun = "backfill-plan", true, true
	rep, err := w.engine.Converge(ctx, dry.Cause(), dry)
	if err != nil || rep.Refused != 0 {
		t.Errorf("dry retired unit without a role: refused %d, %v; want it planned, not refused", rep.Refused, err)
	}
	for _, r := range w.records(t) {
		if r.Trigger.EventID == "backfill-plan" && r.Decision == audit.DecisionRefused {
			t.Errorf("a dry run recorded %s refused: %s", r.Target.ARN, r.Error)
		}
		if r.Trigger.EventID == "backfill-plan" && r.Decision == audit.DecisionSummary && !strings.Contains(r.Error, "left in place") {
			t.Errorf("dry run summary %q, want it to say what a run would leave in place", r.Error)
		}
	}

	for name, w2 := range map[string]Work{"sweep unit": unit(fTeamB, false), "moved but still configured": unit(fTeamA, true)} {
		if _, err := w.engine.Converge(ctx, w2.Cause(), w2); err == nil || !strings.Contains(err.Error(), "AssumeRole") {
			t.Errorf("%s without a role: err %v, want the AssumeRole failure (retried, then dead-lettered)", name, err)
		}
	}
}

// Units of two moves of one account can run in either order, so a moved
// unit converges where the account is when it runs: one that says the
// account was outside every selected OU, run after the account came back
// into one, gives its repositories the OU's grant (and records that it read
// the organization again).
func TestMovedUnitConvergesWhereTheAccountIsNow(t *testing.T) {
	ctx := context.Background()
	probe, err := newWorld(t, "").engine.Org.Account(ctx, fTeamA)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, `"grants": [{"name": "team-push", "repositories": ["team/*"], "access": "push", "placement": "repository",
	  "principals": {"accounts": ["`+fHub+`"]}, "registries": {"ous": ["`+probe.OUPath+`"]}}]`)
	w.aws.CreateRepository(fTeamA, fRegion, "team/app", nil)
	outside := desired.Account{ID: fTeamA, Status: "ACTIVE", OUPath: fOrgID + "/r-elsewhere/"}
	u := Work{RunID: "evt-move-out", Account: fTeamA, Region: fRegion, Accounts: []desired.Account{outside}, Moved: true, WalkedAt: time.Now(),
		Trigger: &audit.Trigger{EventID: "evt-move-out", EventType: "AWS API Call via CloudTrail/MoveAccount", Source: "aws.organizations"}}
	if _, err := w.engine.Converge(ctx, u.Cause(), u); err != nil {
		t.Fatal(err)
	}
	hasAll(t, "team/app policy (the stale move-out unit ran with the account back in its OU)", w.aws.RepositoryPolicy(fTeamA, fRegion, "team/app"), `"Sid":"EcrWardenTeamPush`, fHub)
	found := false
	for _, r := range w.records(t) {
		found = found || r.Decision == audit.DecisionOrganizationWalk && strings.Contains(r.Error, "an account event's unit reads the organization when it runs")
	}
	if !found {
		t.Error("no organization-walk record saying the moved unit read the account's place again")
	}
}

// An enumeration unit an account event queued converges the organization as
// it is when the unit runs: a unit built before another account left (and
// run after that departure's own unit) does not name the departed account
// again.
func TestEnumerationUnitDoesNotBringBackADepartedAccount(t *testing.T) {
	ctx := context.Background()
	probe, err := newWorld(t, "").engine.Org.Account(ctx, fTeamA)
	if err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, `"grants": [{"name": "peers", "repositories": ["peer/*"], "access": "pull", "placement": "registry", "principalMode": "enumerate",
	  "principals": {"ous": ["`+probe.OUPath+`"]}, "registries": {"allMembers": true}}]`)
	const gone = "555555555555"
	stale := []desired.Account{{ID: fTeamA, Status: "ACTIVE", OUPath: probe.OUPath}, {ID: fTeamB, Status: "ACTIVE", OUPath: probe.OUPath}, {ID: gone, Status: "ACTIVE", OUPath: probe.OUPath}}
	u := Work{RunID: "evt-join", Account: fTeamA, Region: fRegion, Accounts: stale, Enumerations: true, WalkedAt: time.Now(),
		Trigger: &audit.Trigger{EventID: "evt-join", EventType: "AWS Service Event via CloudTrail/AccountJoinedOrganization", Source: "aws.organizations"}}
	if _, err := w.engine.Converge(ctx, u.Cause(), u); err != nil {
		t.Fatal(err)
	}
	doc := w.aws.RegistryPolicy(fTeamA, fRegion)
	hasAll(t, "registry policy", doc, fTeamA, fTeamB)
	hasNone(t, "registry policy", doc, gone)
}
