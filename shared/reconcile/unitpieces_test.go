package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// piecesDeclaration puts, in every member, the PTC role and rules, a
// registry-placement grant (a V2 registry policy, so its scope is read) and a
// repository grant on apps/*.
const piecesDeclaration = ptcDeclaration + `, "grants": [
	{"name": "team-b-pull", "repositories": ["shared/*"], "access": "pull", "placement": "registry",
	 "principals": {"accounts": ["` + fTeamB + `"]}, "registries": {"allMembers": true}},
	{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "placement": "repository",
	 "principals": {"accounts": ["` + fTeamB + `"]}, "registries": {"allMembers": true}}]`

// denyIn makes every call of operation in account fail with AccessDenied.
func denyIn(w *world, account string, operations ...string) {
	w.aws.Fail(func(c fakeaws.Call) error {
		for _, op := range operations {
			if c.Account == account && c.Operation == op {
				return fakeaws.APIError("AccessDeniedException", "User is not authorized to perform: ecr:"+op+" with an explicit deny in a service control policy")
			}
		}
		return nil
	})
}

// readFailures are the failed records of documents that could not be read,
// by target ARN.
func (w *world) readFailures(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionFailed && r.Op == audit.OpRead {
			out[r.Target.ARN] = r.Error
		}
	}
	return out
}

// A registry-level read that fails in a unit (an SCP denying the PTC calls
// and the account setting) fails those documents, each with its own record
// naming it and AWS's error; the repositories, the role and the rest of the
// unit are converged, and the unit fails so SQS delivers it again.
func TestUnreadableRegistryDocumentsDoNotBlockTheUnit(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, piecesDeclaration)
	w.aws.CreateRepository(fTeamA, fRegion, "apps/a", nil)
	denyIn(w, fTeamA, "GetAccountSetting", "DescribePullThroughCacheRules")
	walk, err := w.engine.Org.Walk(ctx, inventory.WalkScope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	u := Work{RunID: "sweep-1", Sweep: true, Account: fTeamA, Region: fRegion, Accounts: toDesiredAll(walk.Accounts), Role: true}
	rep, err := w.engine.Converge(ctx, u.Cause(), u)
	if err == nil || !strings.Contains(err.Error(), "GetAccountSetting") {
		t.Errorf("unit error %v, want it failed (and retried) naming GetAccountSetting", err)
	}
	hasAll(t, "repository policy of apps/a", w.aws.RepositoryPolicy(fTeamA, fRegion, "apps/a"), "arn:aws:iam::"+fTeamB+":root")
	if _, _, ok := w.aws.Role(fTeamA, "ecr-warden-ptc"); !ok {
		t.Errorf("PTC role not created; writes %v", w.aws.Writes())
	}
	failed := w.readFailures(t)
	registry := registryResource("aws", fTeamA, fRegion).ARN
	hasAll(t, "failed record of the registry policy", failed[registry], registry, "reading registry policy scope", "GetAccountSetting", "AccessDenied")
	for _, prefix := range []string{"ecr-public", "quay", "hub"} {
		rule := ptcRuleResource("aws", fTeamA, fRegion, prefix).ARN
		hasAll(t, "failed record of rule "+prefix, failed[rule], "listing pull-through-cache rules", "DescribePullThroughCacheRules", "AccessDenied")
	}
	if len(failed) != 4 || rep.Failed != 4 {
		t.Errorf("failed records %v, report %+v: want the registry policy and the 3 rules failed, nothing else", failed, rep)
	}
}

// The member half of an account event: a rules listing that fails does not
// keep the registry policy and the PTC role from being written.
func TestUnreadableRulesDoNotBlockAJoinedMember(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, piecesDeclaration)
	denyIn(w, fTeamA, "DescribePullThroughCacheRules")
	_, err := w.engine.Account(ctx, target(trigger.KindAccount, fTeamA))
	var denied interface{ ErrorCode() string }
	if err == nil || !errors.As(err, &denied) || denied.ErrorCode() != "AccessDeniedException" {
		t.Errorf("event error %v, want it failed (and retried) with AWS's AccessDeniedException", err)
	}
	hasAll(t, "member registry policy", w.aws.RegistryPolicy(fTeamA, fRegion), "arn:aws:iam::"+fTeamB+":root")
	if _, _, ok := w.aws.Role(fTeamA, "ecr-warden-ptc"); !ok {
		t.Errorf("PTC role not created; writes %v", w.aws.Writes())
	}
	failed := w.readFailures(t)
	for _, prefix := range []string{"ecr-public", "quay", "hub"} {
		rule := ptcRuleResource("aws", fTeamA, fRegion, prefix).ARN
		hasAll(t, "failed record of rule "+prefix, failed[rule], "listing pull-through-cache rules", "AccessDenied")
	}
}

// A repository policy that cannot be read (throttling past the SDK's
// retries, a 5xx, AccessDenied) fails that repository with a record naming
// it and AWS's error, and the unit fails so SQS delivers it again (and
// dead-letters it after the queue's receives); the other repositories are
// converged.
func TestUnreadableRepositoryPolicyFailsTheUnit(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, `"grants": [{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "placement": "repository",
	 "principals": {"accounts": ["`+fTeamB+`"]}, "registries": {"allMembers": true}}]`)
	for _, name := range []string{"apps/a", "apps/b", "apps/c"} {
		w.aws.CreateRepository(fTeamA, fRegion, name, nil)
	}
	w.aws.Fail(func(c fakeaws.Call) error {
		if in, ok := c.Input.(*ecr.GetRepositoryPolicyInput); ok && aws.ToString(in.RepositoryName) == "apps/b" {
			return fakeaws.APIError("ThrottlingException", "Rate exceeded")
		}
		return nil
	})
	u := Work{RunID: "sweep-1", Sweep: true, Account: fTeamA, Region: fRegion,
		Accounts: []desired.Account{{ID: fTeamA, Status: "ACTIVE", OUPath: w.ouPath(t, fTeamA)}}}
	rep, err := w.engine.Converge(ctx, u.Cause(), u)
	if err == nil || !strings.Contains(err.Error(), "apps/b") || !strings.Contains(err.Error(), "ThrottlingException") {
		t.Errorf("unit error %v, want it failed (and retried) naming apps/b and AWS's error", err)
	}
	for _, name := range []string{"apps/a", "apps/c"} {
		hasAll(t, "repository policy of "+name, w.aws.RepositoryPolicy(fTeamA, fRegion, name), "arn:aws:iam::"+fTeamB+":root")
	}
	b := repositoryResource("aws", fTeamA, fRegion, "apps/b").ARN
	failed := w.readFailures(t)
	hasAll(t, "failed record of apps/b", failed[b], "apps/b", "GetRepositoryPolicy", "ThrottlingException")
	if len(failed) != 1 || rep.Failed != 1 {
		t.Errorf("failed records %v, report %+v: want apps/b alone failed", failed, rep)
	}
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionSummary && (r.Counts.Failed != 1 || !strings.Contains(r.Error, "apps/b")) {
			t.Errorf("summary counts %+v, error %q: want 1 failed, named", r.Counts, r.Error)
		}
	}
}

// ouPath is account's OU path as the organization shows it.
func (w *world) ouPath(t *testing.T, account string) string {
	t.Helper()
	a, err := w.engine.Org.Account(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	return a.OUPath
}
