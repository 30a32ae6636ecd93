package reconcile

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
)

// crowdedRole makes, in account, a role of the PTC role's name by hand
// whose inline policy "legacy" leaves ecr-warden's policy no room under
// IAM's aggregate of a role's inline policies, and returns that policy.
func crowdedRole(t *testing.T, w *world, account string) string {
	t.Helper()
	w.aws.CreateRole(account, "ecr-warden-ptc", handMadeTrust)
	resources := strings.Repeat(`"arn:aws:s3:::legacy-bucket-with-a-long-name/*",`, 206)
	legacy := `{"Version":"2012-10-17","Statement":[{"Sid":"Legacy","Effect":"Allow","Action":"s3:GetObject","Resource":[` + strings.TrimSuffix(resources, ",") + `]}]}`
	if len(legacy) < fakeaws.RoleInlinePolicyLimit-400 || len(legacy) > fakeaws.RoleInlinePolicyLimit {
		t.Fatalf("legacy policy is %d characters; want it just under IAM's %d", len(legacy), fakeaws.RoleInlinePolicyLimit)
	}
	if _, err := w.aws.IAM(account).PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: aws.String("ecr-warden-ptc"),
		PolicyName: aws.String("legacy"), PolicyDocument: aws.String(legacy)}); err != nil {
		t.Fatal(err)
	}
	return legacy
}

// refusedByAWS checks what a member whose PTC role's inline policy IAM
// refuses holds after its unit or account event: the role's own inline
// policy is not there and the hand-made one is kept, the write's record
// settled refused with IAM's answer and what AWS holds, the fromHub rule
// not created and refused naming the policy it needs, and the other rules
// created.
func refusedByAWS(t *testing.T, w *world, legacy string) {
	t.Helper()
	_, inline, _ := w.aws.Role(fTeamA, "ecr-warden-ptc")
	if _, ok := inline["ecr-warden-ptc"]; ok || inline["legacy"] != legacy {
		t.Errorf("role's inline policies %v; want legacy as made and no ecr-warden-ptc", inline)
	}
	rules := w.aws.Rules(fTeamA, fRegion)
	if _, ok := rules["hub"]; ok {
		t.Errorf("fromHub rule created naming a role whose policy IAM refused: %+v", rules["hub"])
	}
	for _, p := range []string{"quay", "ecr-public"} {
		if _, ok := rules[p]; !ok {
			t.Errorf("rule %s not created: the refused policy blocked the rest", p)
		}
	}
	policyARN := "arn:aws:iam::" + fTeamA + ":role/ecr-warden-ptc/policy/ecr-warden-ptc"
	var pol *audit.Record
	for _, r := range w.records(t) {
		if r.Target.ARN == policyARN {
			pol = &r
		}
	}
	switch {
	case pol == nil:
		t.Fatalf("no record of the role's inline policy")
	case pol.Decision != audit.DecisionRefused || pol.Op == "" || pol.After == "":
		t.Errorf("role policy record %s op %q after %q; want its write's record (intent, then outcome) settled refused", pol.Decision, pol.Op, pol.After)
	}
	hasAll(t, "role policy refusal", pol.Error, "aws-refused:", "LimitExceeded", "Maximum policy size of 10240 bytes exceeded for role ecr-warden-ptc",
		"still holds the document the change was planned from", "aws iam list-role-policies --role-name ecr-warden-ptc")
	if pol.Reason() != "aws-refused" {
		t.Errorf("refusal's reason (the Stopped metric's dimension) %q, want aws-refused", pol.Reason())
	}
	hub := ptcRuleResource("aws", fTeamA, fRegion, "hub").ARN
	msg, ok := w.refusals(t)[hub]
	if !ok {
		t.Fatalf("no refused record on %s; records: %v", hub, w.refusals(t))
	}
	hasAll(t, "fromHub rule refusal", msg, "not written", "needs "+policyARN, "LimitExceeded")
}

// A role of the PTC role's name made by hand, whose other inline policies
// leave no room under IAM's 10,240-character aggregate: IAM refuses
// ecr-warden's inline policy with LimitExceeded on every try. The unit used
// to fail on it (and so into the dead-letter queue at every sweep) and
// created the fromHub rule naming the role anyway. Now that write's record
// is settled refused with IAM's answer, the fromHub rule that needs the
// policy is left out too, every other document converges, and the unit
// succeeds, its summary counting both refusals. An account event's member
// half does the same.
func TestRolePolicyIAMRefusesIsLeftOut(t *testing.T) {
	w := newWorld(t, piecesDeclaration)
	legacy := crowdedRole(t, w, fTeamA)
	w.aws.CreateRepository(fTeamA, fRegion, "apps/a", nil)
	u := Work{RunID: "sweep-1", Sweep: true, Account: fTeamA, Region: fRegion, Accounts: organization(t, w), Role: true}
	rep, err := w.engine.Converge(context.Background(), u.Cause(), u)
	if err != nil {
		t.Fatalf("unit: %v, want it converged but the role's policy and the rule that needs it", err)
	}
	if rep.Refused != 2 || rep.Failed != 0 {
		t.Errorf("report %+v; want 2 refused (the policy, the fromHub rule), none failed", rep)
	}
	if n := w.aws.Calls("IAM", "PutRolePolicy"); n != 2 {
		t.Errorf("%d PutRolePolicy calls, want 2 (the hand-made one and ecr-warden's, refused and not retried)", n)
	}
	hasAll(t, "repository policy", w.aws.RepositoryPolicy(fTeamA, fRegion, "apps/a"), "arn:aws:iam::"+fTeamB+":root")
	hasAll(t, "registry policy", w.aws.RegistryPolicy(fTeamA, fRegion), "arn:aws:iam::"+fTeamB+":root")
	refusedByAWS(t, w, legacy)
	var summary *audit.Record
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionSummary {
			summary = &r
		}
	}
	if summary == nil || summary.Counts.Refused != 2 || summary.Counts.Failed != 0 || summary.Error != "" {
		t.Errorf("unit summary %+v; want 2 refused, none failed, no error", summary)
	}
}

// An account event's member half (Engine.Member) leaves the same pieces out
// and succeeds.
func TestRolePolicyIAMRefusesIsLeftOutByAnAccountEvent(t *testing.T) {
	w := newWorld(t, piecesDeclaration)
	legacy := crowdedRole(t, w, fTeamA)
	joinMemberHalf(t, w, fTeamA)
	refusedByAWS(t, w, legacy)
}
