package reconcile

import (
	"context"
	"fmt"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

const (
	shrinkApps     = `{"name": "apps", "repositories": ["apps/*"], "access": "pull", "principals": {"ous": ["o-a1b2c3d4e5/r-a1b2/ou-a1b2-00000001/"]}, "placement": "registry", "principalMode": "enumerate"}`
	shrinkRevokeMe = `{"name": "revoke-me", "repositories": ["*"], "access": "push", "principals": {"accounts": ["` + fTeamB + `"]}, "placement": "registry"}`
)

// joinMany adds n accounts to the OU "workloads", from id base on.
func joinMany(w *world, base, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%012d", base+i)
		w.aws.Join(ids[i], "workloads")
	}
	return ids
}

// The reviewer's second scenario: a grant enumerating the OU "workloads"
// and a push grant "revoke-me" for one account; accounts joined since, so
// the enumeration the declaration wants no longer fits the hub registry
// policy. Deleting "revoke-me" from the declaration removes its statement
// from AWS all the same: the policy is written shrunk (revoke-me gone, the
// enumeration as AWS held it, the new accounts left out), recorded applied,
// and what was left out is recorded refused, naming the size and the
// accounts. Before, the whole document was refused and the push grant
// stayed.
func TestRemovedGrantInAnOverLimitDocumentIsRemoved(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, `"grants": [`+shrinkApps+`, `+shrinkRevokeMe+`]`)
	before := joinMany(w, 500000000000, 280)
	if _, err := w.engine.Reconcile(ctx, target(trigger.KindRegistryPolicy, fHub)); err != nil {
		t.Fatal(err)
	}
	doc := w.aws.RegistryPolicy(fHub, fRegion)
	hasAll(t, "hub registry policy before", doc, "RevokeMe", "ecr:PutImage", before[279])

	joined := joinMany(w, 600000000000, 50)
	decl, err := config.Parse([]byte(`{"hub": {"accountId": "` + fHub + `", "regions": ["` + fRegion + `"], "organizationId": "` + fOrgID + `", "managementAccountId": "` + fMgmt + `"},
		"grants": [` + shrinkApps + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	w.engine.Decl = decl
	out, err := w.engine.Reconcile(ctx, target(trigger.KindRegistryPolicy, fHub))
	if err != nil {
		t.Fatal(err)
	}
	doc = w.aws.RegistryPolicy(fHub, fRegion)
	hasNone(t, "hub registry policy", doc, "RevokeMe", "ecr:PutImage", joined[0], joined[49])
	hasAll(t, "hub registry policy", doc, before[0], before[279], "arn:aws:iam::"+fTeamA+":root")
	if len(doc) > 10240 {
		t.Errorf("written policy is %d characters", len(doc))
	}
	if out.Changed != 1 || out.Refused != 1 {
		t.Errorf("report %+v: want the shrunk write and the refusal of what it left out", out.Report)
	}
	reg := registryResource("aws", fHub, fRegion).ARN
	var applied, holds, refused int
	for _, r := range w.records(t) {
		if r.Target.ARN != reg || r.Trigger.EventID != "evt-"+string(trigger.KindRegistryPolicy) {
			continue
		}
		switch r.Decision {
		case audit.DecisionApplied:
			applied++
			if r.After == doc {
				holds++
			}
		case audit.DecisionRefused:
			refused++
			hasAll(t, "refused record", r.Error, "over the 10240-character limit", "50 principal(s) not added", joined[0])
		}
	}
	if applied != 2 || holds != 1 || refused != 1 {
		t.Errorf("records: %d applied (want 2: the first write and the shrunk one), %d of them saying what AWS holds (want 1), %d refused (want 1)", applied, holds, refused)
	}
}
