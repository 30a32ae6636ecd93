package reconcile

import (
	"context"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// A repository event in a member the declaration configures nothing in (no
// grant, public grant or pull-through-cache selector names it, so the member
// StackSet gave it no execution role) is recorded as ignored, naming why,
// with no call into the member: assuming its role would be refused
// (AccessDenied), and the event would fail into the failed-events queue
// (drift) or be recorded refused (the repository function). A configured
// member's event is converged as before.
func TestRepositoryEventInAnUnconfiguredMemberIsIgnored(t *testing.T) {
	w := newWorld(t, `"grants": [{"name": "team-pull", "repositories": ["apps/*"], "access": "pull", "placement": "repository",
		"principals": {"accounts": ["`+fHub+`"]}, "registries": {"accounts": ["`+fTeamA+`"]}}]`)
	w.aws.CreateRepository(fTeamA, fRegion, "apps/web", nil)
	w.aws.CreateRepository(fTeamB, fRegion, "apps/web", nil)
	w.aws.Unassumable(fTeamB, "arn:aws:iam::"+fTeamB+":role/ecr-warden-execution")
	for _, kind := range []trigger.Kind{trigger.KindRepository, trigger.KindPublicRepository} {
		tg := target(kind, fTeamB)
		tg.Repository = "apps/web"
		out, err := w.engine.Reconcile(context.Background(), tg)
		if err != nil {
			t.Fatalf("%s: error %v, want the event ignored", kind, err)
		}
		hasAll(t, "ignored", out.Ignored, "account "+fTeamB+" is not a managed member", "configures nothing in it")
		res, _ := Resource("aws", tg)
		if got := w.decisions(t, res.ARN); len(got) != 1 || got[0] != string(audit.DecisionNoop) {
			t.Errorf("%s: decisions on %s: %v, want one noop", kind, res.ARN, got)
		}
	}
	for call := range w.aws.CallCounts() {
		if !strings.HasPrefix(call, "Organizations.") {
			t.Errorf("call %s made; want only the organization read (%s)", call, w.aws)
		}
	}

	tg := target(trigger.KindRepository, fTeamA)
	tg.Repository = "apps/web"
	if out, err := w.engine.Reconcile(context.Background(), tg); err != nil || out.Changed != 1 {
		t.Fatalf("configured member: report %+v, error %v; want the policy written", out.Report, err)
	}
}
