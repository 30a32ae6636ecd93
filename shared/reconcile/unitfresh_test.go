package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
)

// fGone is an account the backfill walked that has left the organization
// by the time its unit runs.
const fGone = "555555555555"

// staleWorld is an organization whose hub registry grants enumerate the
// workloads OU, and the hub unit a backfill would have sent for it when
// fGone was still in that OU, walked at walkedAt.
func staleWorld(t *testing.T, walkedAt time.Time) (*world, Work) {
	t.Helper()
	w := newWorld(t, `"grants": [{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "principals": {"ous": ["o-a1b2c3d4e5/r-a1b2/ou-a1b2-00000001/"]},
	    "placement": "registry", "principalMode": "enumerate"}]`)
	walk, err := w.engine.Org.Walk(context.Background(), inventory.WalkScope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	accounts := toDesiredAll(walk.Accounts)
	for _, a := range accounts {
		if a.ID == fTeamA {
			accounts = append(accounts, desired.Account{ID: fGone, Status: "ACTIVE", OUPath: a.OUPath})
		}
	}
	return w, Work{RunID: "backfill-test", Account: fHub, Region: fRegion, Accounts: accounts, WalkedAt: walkedAt}
}

func (w *world) hubPolicy(t *testing.T) string {
	t.Helper()
	out, err := w.aws.ECR(fHub, fRegion).GetRegistryPolicy(context.Background(), &ecr.GetRegistryPolicyInput{})
	if err != nil {
		return ""
	}
	return aws.ToString(out.PolicyText)
}

// A unit whose accounts were walked minutes ago is converged from them (the
// backfill's one walk serves every unit); one run hours later (an SQS retry
// an hour after the first try, a dead-letter queue redriven) reads the
// organization again, so an account that left in between is not granted
// again, and the audit trail says why the unit walked.
func TestStaleUnitReadsTheOrganizationAgain(t *testing.T) {
	ctx := context.Background()
	gone := "arn:aws:iam::" + fGone + ":root"

	w, unit := staleWorld(t, time.Now().Add(-time.Minute))
	if _, err := w.engine.Converge(ctx, Cause{}, unit); err != nil {
		t.Fatal(err)
	}
	hasAll(t, "hub registry policy from a fresh unit", w.hubPolicy(t), gone, "arn:aws:iam::"+fTeamA+":root")

	w, unit = staleWorld(t, time.Now().Add(-2*time.Hour))
	if _, err := w.engine.Converge(ctx, Cause{}, unit); err != nil {
		t.Fatal(err)
	}
	policy := w.hubPolicy(t)
	hasAll(t, "hub registry policy from a stale unit", policy, "arn:aws:iam::"+fTeamA+":root", "arn:aws:iam::"+fTeamB+":root")
	hasNone(t, "hub registry policy from a stale unit", policy, gone)
	var walks []string
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionOrganizationWalk {
			walks = append(walks, r.Error)
		}
	}
	if len(walks) != 1 || !strings.Contains(walks[0], "2h0m0s before it ran") || !strings.Contains(walks[0], fHub+"/"+fRegion) {
		t.Errorf("organization-walk records = %q, want one saying the unit's accounts were 2h old", walks)
	}
}

// Without a way to read the organization, a stale unit fails (SQS delivers
// it again, then dead-letters it) before anything is read or written.
func TestStaleUnitWithoutOrganizationFails(t *testing.T) {
	w, unit := staleWorld(t, time.Now().Add(-2*time.Hour))
	w.engine.Org = nil
	_, err := w.engine.Converge(context.Background(), Cause{}, unit)
	if err == nil || !strings.Contains(err.Error(), "WARDEN_ORG_ROLE_ARN") {
		t.Fatalf("err = %v, want one naming WARDEN_ORG_ROLE_ARN", err)
	}
	if p := w.hubPolicy(t); p != "" {
		t.Errorf("a stale unit that could not read the organization wrote the hub registry policy:\n%s", p)
	}
}
