package reconcile

import (
	"context"
	"strings"
	"testing"

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
		return Work{RunID: "run-" + account, Account: account, Region: fRegion, Accounts: []desired.Account{member(account)}, Moved: moved}
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

	for name, w2 := range map[string]Work{"sweep unit": unit(fTeamB, false), "moved but still configured": unit(fTeamA, true)} {
		if _, err := w.engine.Converge(ctx, w2.Cause(), w2); err == nil || !strings.Contains(err.Error(), "AssumeRole") {
			t.Errorf("%s without a role: err %v, want the AssumeRole failure (retried, then dead-lettered)", name, err)
		}
	}
}
