package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// TestRequireCleanPlanRefusesAHalfApplicableDeclaration: with the hub registry on policy scope V1
// and allowSwitchToV2 false, the hub's registry grant is refused. A real run with requireCleanPlan
// (what the deploy-time backfill sends) fails the invocation naming the refusal and applies nothing
// that adds access; but a revocation never waits behind growth: it queues every unit to converge
// revocations only, so a grant deleted from the declaration (here a push statement ecr-warden wrote
// in a member repository's policy) is removed from AWS, the foreign statement beside it kept byte for
// byte, and nothing is added (the repository's declared org-pull statement, the member's PTC role
// and rules, the hub's grants wait), each left-out piece recorded refused. The same run without
// requireCleanPlan applies everything else.
func TestRequireCleanPlanRefusesAHalfApplicableDeclaration(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	if _, err := w.ecr(hub, region).PutAccountSetting(w.ctx, &ecr.PutAccountSettingInput{
		Name: aws.String("REGISTRY_POLICY_SCOPE"), Value: aws.String("V1")}); err != nil {
		t.Fatal(err)
	}
	member := w.org.Accounts[0].ID
	foreign := `{"Sid":"TeamRead","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + member + `:root"},"Action":"ecr:DescribeImages"}`
	revoked := `{"Sid":"EcrWardenRevokeMe","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + w.org.Accounts[1].ID + `:root"},"Action":["ecr:PutImage","ecr:InitiateLayerUpload"]}`
	if _, err := w.ecr(member, region).SetRepositoryPolicy(w.ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("team/app"),
		PolicyText: aws.String(`{"Version":"2012-10-17","Statement":[` + foreign + `,` + revoked + `]}`)}); err != nil {
		t.Fatal(err)
	}
	bf := w.start("backfill", nil)
	proxy.Reset()
	res, err := bf.Invoke(w.ctx, []byte(`{"action":"backfill","targets":{"all":true},"requireCleanPlan":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil {
		t.Fatalf("a plan with a refusal was applied: %s", res.Payload)
	}
	msg := res.Err.Error()
	for _, want := range []string{"the plan refuses 1 document(s), so nothing that adds access was applied", "allowRefusals=true", "allowSwitchToV2",
		"revocations only were queued (10 unit(s)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal does not say %q: %s", want, msg)
		}
	}
	if n := policyWrites(); len(n) != 0 {
		t.Errorf("the refused run itself wrote to AWS: %v", n)
	}
	worker := w.start("worker", nil)
	if d := w.drain(worker); d.Done != 10 || d.Failures != 0 {
		t.Fatalf("revocation units: %+v", d)
	}
	got := w.policy(member, region, "team/app")
	if strings.Contains(got, "RevokeMe") || strings.Contains(got, "PutImage") || strings.Contains(got, "EcrWardenOrgPull") || !strings.Contains(got, foreign) {
		t.Errorf("member repository policy after the revocations: %s\nwant the revoked statement gone, the foreign one kept byte for byte, nothing added", got)
	}
	writes := policyWrites()
	if len(writes) != 1 || writes["ecr:SetRepositoryPolicy"] != 1 {
		t.Errorf("revocations-only units wrote %v, want the one shrunk repository policy", writes)
	}
	if w.registryPolicy(hub, region) != "" || w.policy(member, region, "other/thing") != "" || w.policy(hub, region, "shared/base") != "" {
		t.Errorf("revocations-only units added documents")
	}
	var withheld int
	recs, err := w.trail.Window(w.ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Decision == audit.DecisionRefused && !r.DryRun && strings.Contains(r.Error, "this run applies revocations only") {
			withheld++
		}
	}
	if withheld == 0 {
		t.Errorf("no refused record says what the revocations-only run left out")
	}

	run := w.backfill(bf, `{"action":"backfill","targets":{"all":true}}`)
	if run.Error != "" || run.Queued != 10 {
		t.Fatalf("without requireCleanPlan the run should queue every unit: %+v", run)
	}
}
