package reconcile

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/plan"
)

// SettleStale settles each crash-left record from what AWS holds of its
// document: a rule (compared as plan compares rules, not as text), a role
// policy, a registry policy; a record whose document cannot be read is left
// for the next sweep.
func TestSettleStaleFromWhatAWSHolds(t *testing.T) {
	w := newWorld(t, ptcDeclaration)
	ctx := context.Background()
	w.ptcRole(fTeamA)
	// AWS fills the registry type and spells the URL its own way: still the rule written.
	w.aws.PutRule(fTeamA, fRegion, ecrtypes.PullThroughCacheRule{EcrRepositoryPrefix: aws.String("quay"), UpstreamRegistryUrl: aws.String("Quay.io/"),
		UpstreamRegistry: ecrtypes.UpstreamRegistryQuay})
	begin := func(target audit.Target, before, after string) audit.Record {
		t.Helper()
		p, err := w.trail.Begin(ctx, audit.Record{Op: "create", Before: before, After: after, Target: target,
			Trigger: audit.Trigger{EventID: "crashed", EventType: "test"}})
		if err != nil {
			t.Fatal(err)
		}
		return p.Record()
	}
	quay := (&plan.Rule{Prefix: "quay", UpstreamRegistryURL: "quay.io"}).String()
	ecrPublic := (&plan.Rule{Prefix: "ecr-public", UpstreamRegistryURL: "public.ecr.aws"}).String()
	recs := []audit.Record{
		begin(ptcRuleResource("aws", fTeamA, fRegion, "quay"), "", quay),
		begin(ptcRuleResource("aws", fTeamA, fRegion, "ecr-public"), "", ecrPublic),
		begin(registryResource("aws", fTeamA, fRegion), "", `{"Version":"2012-10-17","Statement":[]}`),
		begin(audit.Target{ARN: "arn:aws:ecr:us-east-1:" + fTeamA + ":thing/x", AccountID: fTeamA, Region: fRegion, Kind: "Thing"}, "", "x"),
	}
	left, err := w.engine.SettleStale(ctx, recs)
	if len(left) != 1 || left[0].ID != recs[3].ID || err == nil {
		t.Fatalf("left %+v, error %v; want only the unreadable kind left, with its reason", left, err)
	}
	for i, want := range []audit.Decision{audit.DecisionApplied, audit.DecisionFailed, audit.DecisionFailed} {
		if got := w.decisions(t, recs[i].Target.ARN); len(got) != 1 || got[0] != string(want) {
			t.Errorf("%s: decisions %v, want [%s]", recs[i].Target.ARN, got, want)
		}
	}
	// Settled meanwhile by another writer: not an error.
	if left, err := w.engine.SettleStale(ctx, recs[:1]); len(left) != 0 || err != nil {
		t.Errorf("settling an already settled record: left %+v, error %v; want nothing left", left, err)
	}
}
