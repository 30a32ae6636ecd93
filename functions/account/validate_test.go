package main

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// The PTC role's trust requires aws:SourceAccount by default, and AWS does not
// document that the pull-through-cache service sends it. These tests play both
// services on the local AWS, whose ValidatePullThroughCacheRule evaluates the
// role's trust against the keys its emulated service sends.

// ptcRuleARN is the audit target of a member's pull-through-cache rule.
func ptcRuleARN(account, prefix string) string {
	return "arn:aws:ecr:us-east-1:" + account + ":repository/*/pull-through-cache-rule/" + prefix
}

// TestWrittenRulesAreValidated: a join creates the member's rules and each is
// validated right after, the answer audited (ptc-validated); the role's trust
// carries aws:SourceAccount = the member by default.
func TestWrittenRulesAreValidated(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, func(s string) string { return strings.Replace(s, `"sourceAccountCondition": true, `, "", 1) })
	a := w.createAccount("newcomer", w.ouA)
	r := w.invoke(w.start(), w.event("org-account-joined.json", a))
	if r.Rejected != "" || r.Failed != 0 || r.Refused != 0 {
		t.Fatalf("response %+v: want a converged account", r)
	}
	if trust := w.trust(a); !strings.Contains(trust, `"aws:SourceAccount":"`+a+`"`) {
		t.Errorf("the default PTC role trust lacks aws:SourceAccount = %s:\n%s", a, trust)
	}
	for _, prefix := range []string{"hub", "ecr-public", "docker-hub"} {
		w.assertAudited(ptcRuleARN(a, prefix), audit.DecisionPTCValidated, "")
	}
}

// TestFailedValidationNamesTheSwitch: when the service does not send
// aws:SourceAccount, the rule that caches through the PTC role fails its
// validation: the join reports a failure (not converged), the audit record
// carries AWS's failure text, the rule, the account, the region and the
// declaration switch. Turning the switch off rewrites the trust, which
// validates the existing rule again, and now it passes.
func TestFailedValidationNamesTheSwitch(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	if err := srv.SetPTCServiceContext("aws:SourceArn"); err != nil {
		t.Fatal(err)
	}
	a := w.createAccount("newcomer", w.ouA)
	r := w.invoke(w.start(), w.event("org-account-joined.json", a))
	if r.Failed != 1 {
		t.Fatalf("response %+v: want exactly one failure, the hub rule's validation", r)
	}
	hubRule := ptcRuleARN(a, "hub")
	for _, want := range []string{"Unable to assume role", "account " + a, "region us-east-1", "pull-through-cache rule hub",
		config.SourceAccountSwitch + " to false"} {
		w.assertAudited(hubRule, audit.DecisionPTCValidationFailed, want)
	}
	w.assertAudited(ptcRuleARN(a, "ecr-public"), audit.DecisionPTCValidated, "")

	w.rewriteDeclaration(func(s string) string {
		return strings.Replace(s, `"sourceAccountCondition": true`, `"sourceAccountCondition": false`, 1)
	})
	r = w.invoke(w.start(), w.event("org-account-joined.json", a))
	if r.Failed != 0 || r.Changed == 0 {
		t.Fatalf("after turning the condition off: response %+v, want the trust rewritten and nothing failed", r)
	}
	if trust := w.trust(a); strings.Contains(trust, "aws:SourceAccount") {
		t.Errorf("the trust still requires aws:SourceAccount:\n%s", trust)
	}
	w.assertAudited(hubRule, audit.DecisionPTCValidated, "")
}

// trust is the member's PTC role trust policy, compacted.
func (w *world) trust(account string) string {
	_, trust, _ := w.role(w.member(account))
	return strings.Join(strings.Fields(trust), "")
}

// TestPTCRoleCarriesTheBoundary: the PTC role is created with the permissions boundary the member
// StackSet provides (the execution role may create and change the role only with it), and a role
// that lost it (or predates it) gets it back on the next convergence, even when its documents are
// as declared.
func TestPTCRoleCarriesTheBoundary(t *testing.T) {
	w := newWorld(t, nil)
	a := w.createAccount("newcomer", w.ouA)
	fn := w.start()
	if r := w.invoke(fn, w.event("org-account-joined.json", a)); r.Failed != 0 || r.Refused != 0 {
		t.Fatalf("join: %+v", r)
	}
	want := "arn:aws:iam::" + a + ":policy/" + ptcRoleName + "-boundary"
	c := iam.NewFromConfig(w.member(a))
	boundary := func() string {
		t.Helper()
		out, err := c.GetRole(w.ctx, &iam.GetRoleInput{RoleName: aws.String(ptcRoleName)})
		if err != nil {
			t.Fatal(err)
		}
		if out.Role.PermissionsBoundary == nil {
			return ""
		}
		return aws.ToString(out.Role.PermissionsBoundary.PermissionsBoundaryArn)
	}
	if got := boundary(); got != want {
		t.Fatalf("PTC role boundary %q, want %q", got, want)
	}
	if _, err := c.DeleteRolePermissionsBoundary(w.ctx, &iam.DeleteRolePermissionsBoundaryInput{RoleName: aws.String(ptcRoleName)}); err != nil {
		t.Fatal(err)
	}
	r := w.invoke(fn, w.event("org-account-joined.json", a))
	if r.Failed != 0 || r.Changed != 1 {
		t.Fatalf("after the boundary was removed: %+v, want exactly one change (the boundary)", r)
	}
	if got := boundary(); got != want {
		t.Fatalf("PTC role boundary %q after re-convergence, want %q", got, want)
	}
	w.assertAudited("arn:aws:iam::"+a+":role/"+ptcRoleName, audit.DecisionApplied, "")
	w.assertRedeliveryWritesNothing(fn, w.event("org-account-joined.json", a))
}

// TestLostCreateAnswersAreSettledFromAWS: AWS creates the member's PTC role and
// a rule but the answers are lost (HTTP 500 after the work is done); the SDK
// retries and AWS answers EntityAlreadyExists and
// PullThroughCacheRuleAlreadyExistsException. The join reads the role and the
// rules again and records what AWS holds: both applied, the rule validated,
// the invocation converged (no failure, so no retry that would find a noop and
// leave the rule unvalidated for good).
func TestLostCreateAnswersAreSettledFromAWS(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a := w.createAccount("newcomer", w.ouA)
	proxy.Inject("iam:CreateRole", localaws.LostAnswer(500, 1))
	proxy.Inject("ecr:CreatePullThroughCacheRule", localaws.LostAnswer(500, 1).For(`"ecrRepositoryPrefix":"docker-hub"`))
	r := w.invoke(w.start(), w.event("org-account-joined.json", a))
	if r.Failed != 0 || r.Refused != 0 {
		t.Fatalf("response %+v: want a converged account", r)
	}
	if n := proxy.Count("ecr", "CreatePullThroughCacheRule"); n != 4 {
		t.Errorf("CreatePullThroughCacheRule calls = %d, want 4 (three rules, one retried by the SDK)", n)
	}
	rule := ptcRuleARN(a, "docker-hub")
	if _, ok := w.rules(w.member(a))["docker-hub"]; !ok {
		t.Fatalf("rule docker-hub not in AWS")
	}
	w.assertAudited(rule, audit.DecisionApplied, "PullThroughCacheRuleAlreadyExistsException")
	w.assertAudited(rule, audit.DecisionPTCValidated, "")
	w.assertAudited("arn:aws:iam::"+a+":role/"+ptcRoleName, audit.DecisionApplied, "EntityAlreadyExists")
	for _, target := range []string{rule, "arn:aws:iam::" + a + ":role/" + ptcRoleName} {
		for _, rec := range w.history(target) {
			if rec.Decision == audit.DecisionFailed || rec.Decision == audit.DecisionPending {
				t.Errorf("%s: %s record (%s) although AWS holds what it writes", target, rec.Decision, rec.Error)
			}
		}
	}
}
