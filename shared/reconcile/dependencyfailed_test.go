package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
)

// dependencyFailures are the ways the PTC role's inline policy write fails
// (not refused: a retry may succeed) that TestFailedRolePolicyHoldsBackTheFromHubRule
// meets: a 5xx after the SDK's retries, throttling past them, an SCP's deny.
var dependencyFailures = []struct {
	name string
	err  error
	text string // in the dependent's record
}{
	{"5xx", &smithy.GenericAPIError{Code: "ServiceFailure", Message: "IAM answered 500 after the retries", Fault: smithy.FaultServer}, "ServiceFailure"},
	{"throttled", &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded", Fault: smithy.FaultClient}, "Rate exceeded"},
	{"access-denied", fakeaws.APIError("AccessDenied", "User is not authorized to perform: iam:PutRolePolicy with an explicit deny in a service control policy"), "explicit deny"},
}

// failRolePolicy makes every PutRolePolicy of the PTC role in account fail
// with err until the returned func is called.
func failRolePolicy(w *world, account string, err error) (heal func()) {
	healed := false
	w.aws.Fail(func(c fakeaws.Call) error {
		if !healed && c.Account == account && c.Operation == "PutRolePolicy" {
			return err
		}
		return nil
	})
	return func() { healed = true }
}

// heldBack checks what a member whose PTC role's inline policy write failed
// holds after its unit or account event: the fromHub rule neither created
// nor updated (it still is as before, given by was), its write's intent
// settled failed (not refused) naming the policy it needs and that
// write's error; the policy's own record failed; the other rules created;
// and no record left pending or unknown.
func heldBack(t *testing.T, w *world, was *ecrtypes.PullThroughCacheRule, text string) {
	t.Helper()
	rules := w.aws.Rules(fTeamA, fRegion)
	got, ok := rules["hub"]
	switch {
	case was == nil && ok:
		t.Errorf("fromHub rule created naming a role whose policy write failed: %+v", got)
	case was != nil && aws.ToString(got.CustomRoleArn) != aws.ToString(was.CustomRoleArn):
		t.Errorf("fromHub rule updated to role %q while the role's policy write failed; want it as it was (%q)", aws.ToString(got.CustomRoleArn), aws.ToString(was.CustomRoleArn))
	}
	for _, p := range []string{"quay", "ecr-public"} {
		if _, ok := rules[p]; !ok {
			t.Errorf("rule %s not created: the failed policy write blocked the rest", p)
		}
	}
	policyARN := "arn:aws:iam::" + fTeamA + ":role/ecr-warden-ptc/policy/ecr-warden-ptc"
	hub := ptcRuleResource("aws", fTeamA, fRegion, "hub").ARN
	var rule, pol *audit.Record
	for _, r := range w.records(t) {
		switch {
		case r.Decision == audit.DecisionPending || r.Decision == audit.DecisionUnknown:
			t.Errorf("record left %s: %s %s %s", r.Decision, r.Op, r.Target.ARN, r.Error)
		case r.Target.ARN == hub && r.Op != "validate":
			rule = &r
		case r.Target.ARN == policyARN:
			pol = &r
		}
	}
	if pol == nil || pol.Decision != audit.DecisionFailed || !strings.Contains(pol.Error, text) {
		t.Errorf("role policy's record %+v; want failed with the write's error", pol)
	}
	if rule == nil {
		t.Fatalf("no record of the fromHub rule")
	}
	if rule.Decision != audit.DecisionFailed || rule.Op == "" || rule.After == "" {
		t.Errorf("fromHub rule's record %s op %q after %q; want its write's record (intent, then outcome) settled failed", rule.Decision, rule.Op, rule.After)
	}
	if strings.HasPrefix(rule.Error, "aws-refused") {
		t.Errorf("fromHub rule's record %q reads as an AWS refusal; want it told apart", rule.Error)
	}
	hasAll(t, "fromHub rule's record", rule.Error, "not written: it needs "+policyARN+", which failed", text)
}

// The PTC role's inline policy write fails (a 5xx after the SDK's retries,
// throttling past them, an SCP's AccessDenied): not a refusal, so the unit
// fails and SQS retries it. The fromHub rule that names the role needs
// that policy: before, it was created anyway, naming a role that could not
// yet do its work (and its validation failed); now it is held back, its
// intent settled failed naming the policy and why, while every other
// document converges and no record is left open. The retry, the policy
// write healed, converges both. Fails without the hold in apply.ApplyHeld.
func TestFailedRolePolicyHoldsBackTheFromHubRule(t *testing.T) {
	for _, f := range dependencyFailures {
		t.Run(f.name, func(t *testing.T) {
			w := newWorld(t, piecesDeclaration)
			w.aws.CreateRepository(fTeamA, fRegion, "apps/a", nil)
			heal := failRolePolicy(w, fTeamA, f.err)
			u := Work{RunID: "sweep-1", Sweep: true, Account: fTeamA, Region: fRegion, Accounts: organization(t, w), Role: true}
			rep, err := w.engine.Converge(context.Background(), u.Cause(), u)
			if err == nil {
				t.Fatalf("unit succeeded; want it failed (so SQS retries it) for the role policy's write")
			}
			if rep.Failed != 2 || rep.Refused != 0 {
				t.Errorf("report %+v; want 2 failed (the policy, the fromHub rule), none refused", rep)
			}
			if n := w.aws.Calls("ECR", "CreatePullThroughCacheRule"); n != 2 {
				t.Errorf("%d CreatePullThroughCacheRule calls, want 2 (quay, ecr-public; not hub)", n)
			}
			hasAll(t, "repository policy", w.aws.RepositoryPolicy(fTeamA, fRegion, "apps/a"), "arn:aws:iam::"+fTeamB+":root")
			hasAll(t, "registry policy", w.aws.RegistryPolicy(fTeamA, fRegion), "arn:aws:iam::"+fTeamB+":root")
			if trust, _, ok := w.aws.Role(fTeamA, "ecr-warden-ptc"); !ok || trust == "" {
				t.Errorf("PTC role not created: the failed policy write held back the role itself")
			}
			heldBack(t, w, nil, f.text)

			heal()
			if _, err := w.engine.Converge(context.Background(), u.Cause(), u); err != nil {
				t.Fatalf("the retry: %v", err)
			}
			if r, ok := w.aws.Rules(fTeamA, fRegion)["hub"]; !ok || !strings.HasSuffix(aws.ToString(r.CustomRoleArn), ":role/ecr-warden-ptc") {
				t.Errorf("after the retry the fromHub rule is %+v; want it created naming the PTC role", r)
			}
			if _, inline, _ := w.aws.Role(fTeamA, "ecr-warden-ptc"); inline["ecr-warden-ptc"] == "" {
				t.Errorf("after the retry the role's inline policy is missing")
			}
		})
	}
}

// An account event's member half does the same to a fromHub rule to be
// updated (it names no role yet): not updated, failed, and the event fails
// so Lambda retries it.
func TestFailedRolePolicyHoldsBackTheFromHubRuleOfAnAccountEvent(t *testing.T) {
	// The role's trust changes, so the rules caching through it are
	// validated: not waited for.
	waits := validationWaits
	validationWaits = []time.Duration{0}
	t.Cleanup(func() { validationWaits = waits })
	w := newWorld(t, piecesDeclaration)
	w.ptcRole(fTeamA)
	was := ecrtypes.PullThroughCacheRule{EcrRepositoryPrefix: aws.String("hub"), UpstreamRegistryUrl: aws.String(fHub + ".dkr.ecr." + fRegion + ".amazonaws.com"),
		UpstreamRegistry: ecrtypes.UpstreamRegistryEcr, UpstreamRepositoryPrefix: aws.String("shared"), CustomRoleArn: aws.String("arn:aws:iam::" + fTeamA + ":role/someone-else")}
	w.aws.PutRule(fTeamA, fRegion, was)
	f := dependencyFailures[0]
	failRolePolicy(w, fTeamA, f.err)
	ctx := context.Background()
	acct, err := w.engine.accountInfo(ctx, fTeamA)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.engine.Member(ctx, Cause{Trigger: audit.Trigger{EventID: "evt-join", EventType: "test"}}, acct, nil)
	if err == nil || !errors.Is(err, f.err) && !strings.Contains(err.Error(), f.text) {
		t.Fatalf("account event's member half: %v; want it failed for the role policy's write", err)
	}
	if n := w.aws.Calls("ECR", "UpdatePullThroughCacheRule") + w.aws.Calls("ECR", "DeletePullThroughCacheRule"); n != 0 {
		t.Errorf("%d rule update or delete calls; want none of the fromHub rule", n)
	}
	heldBack(t, w, &was, f.text)
	// The role's trust changed, but the held rule, still naming the other
	// role, is not validated: its failed record says why it is as it is.
	for _, r := range w.records(t) {
		if r.Op == "validate" && r.Target.Name == "hub" {
			t.Errorf("held-back rule validated as AWS still holds it: %s %s", r.Decision, r.Error)
		}
	}
}
