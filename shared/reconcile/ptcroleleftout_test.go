package reconcile

import (
	"context"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// handMadeTrust is the trust policy of a role someone made by hand.
const handMadeTrust = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},"Action":"sts:AssumeRole"}]}`

// refusals are the refused records' messages by target ARN.
func (w *world) refusals(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionRefused {
			out[r.Target.ARN] = r.Error
		}
	}
	return out
}

// leftOutRole checks what a member whose PTC role is left out holds after
// its unit or account event: nothing written to the hand-made role, the fromHub rule
// refused, the other rules converged, and each
// refusal naming why and what to do.
func leftOutRole(t *testing.T, w *world, want ...string) {
	t.Helper()
	for _, wr := range w.aws.Writes() {
		if strings.Contains(wr, "ecr-warden-ptc") {
			t.Errorf("wrote to the hand-made role: %s", wr)
		}
	}
	if trust, inline, _ := w.aws.Role(fTeamA, "ecr-warden-ptc"); trust != handMadeTrust || len(inline) != 0 {
		t.Errorf("hand-made role now trust %s, inline %v; want it as made", trust, inline)
	}
	refusedWithItsRule(t, w, append([]string{"left out", "delete or rename", "pullThroughCache.role.name"}, want...)...)
}

// refusedWithItsRule checks that fTeamA's PTC role, its policy and the
// fromHub rule naming it were each refused with every string of want, and
// that the rule needing no such role (quay) was still created. It returns
// the refused records' messages by ARN.
func refusedWithItsRule(t *testing.T, w *world, want ...string) map[string]string {
	t.Helper()
	rules := w.aws.Rules(fTeamA, fRegion)
	if _, ok := rules["hub"]; ok {
		t.Errorf("fromHub rule created naming a role that is not the one IAM holds: %+v", rules["hub"])
	}
	if _, ok := rules["quay"]; !ok {
		t.Error("rule quay not created: the role blocked the rest of the unit")
	}
	refused := w.refusals(t)
	role := "arn:aws:iam::" + fTeamA + ":role/ecr-warden-ptc"
	for _, arn := range []string{role, role + "/policy/ecr-warden-ptc", ptcRuleResource("aws", fTeamA, fRegion, "hub").ARN} {
		msg, ok := refused[arn]
		if !ok {
			t.Errorf("no refused record on %s; records: %v", arn, refused)
			continue
		}
		hasAll(t, "refusal of "+arn, msg, want...)
	}
	return refused
}

// A role named like the PTC role made by hand under an IAM path: IAM role
// names are unique per account whatever the path, so GetRole of the
// declared name answers it, at another ARN. Where IAM does not enforce the
// execution role's policy (the local AWS) the engine used to take it over
// (its trust rewritten, its policy written) while the fromHub rule was
// created naming role/ecr-warden-ptc, which does not exist. Now the role
// and that rule are refused, the rest of the unit converges and it
// succeeds; the hub's upstream grant names the declared role name only
// (aws:PrincipalArn role/<name>, which the pathed role does not match) and
// its unit converges. A rule's own event refuses the rule too.
func TestPTCRoleUnderAPathIsLeftOut(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, piecesDeclaration)
	pathed := w.aws.CreateRole(fTeamA, "team/ecr-warden-ptc", handMadeTrust)
	accounts := convergedButTheRole(t, w)
	leftOutRole(t, w, pathed, "another path")
	hub := Work{RunID: "sweep-1", Sweep: true, Account: fHub, Region: fRegion, Accounts: accounts}
	if _, err := w.engine.Converge(ctx, hub.Cause(), hub); err != nil {
		t.Fatalf("hub unit: %v", err)
	}
	doc := w.aws.RegistryPolicy(fHub, fRegion)
	hasAll(t, "hub registry policy", doc, "PtcUpstream", `"arn:aws:iam::*:role/ecr-warden-ptc"`)
	hasNone(t, "hub registry policy", doc, "team/")
	// A rule's own event reads the role (one GetRole, as no unit did in this
	// invocation) before writing a rule that names it.
	before := w.aws.Calls("IAM", "GetRole")
	if _, err := w.engine.Reconcile(ctx, target(trigger.KindPTCRule, fTeamA)); err != nil {
		t.Fatalf("rule event: %v", err)
	}
	if _, ok := w.aws.Rules(fTeamA, fRegion)["hub"]; ok || w.aws.Calls("IAM", "GetRole")-before != 1 {
		t.Errorf("rule event: rule hub created %v after %d GetRole; want it refused after one", ok, w.aws.Calls("IAM", "GetRole")-before)
	}
}

// The same role in AWS, where the execution role may act on role/<name>
// only: GetRole is AccessDenied. The unit used to fail (into the
// dead-letter queue at every sweep) with AWS's message alone; now the role
// and its rule are refused saying what to look at, and the rest converges.
func TestPTCRoleDeniedIsLeftOut(t *testing.T) {
	w := newWorld(t, piecesDeclaration)
	w.aws.CreateRole(fTeamA, "team/ecr-warden-ptc", handMadeTrust)
	w.aws.Deny(fTeamA, "IAM", "GetRole")
	convergedButTheRole(t, w)
	leftOutRole(t, w, "AccessDenied", "aws iam get-role --role-name ecr-warden-ptc")
}

// convergedButTheRole converges fTeamA's unit (its PTC role included) with
// one repository, checks the unit succeeded and the repository's grant was
// written beside the role left out, and returns the organization it used.
func convergedButTheRole(t *testing.T, w *world) []desired.Account {
	t.Helper()
	w.aws.CreateRepository(fTeamA, fRegion, "apps/a", nil)
	accounts := organization(t, w)
	u := Work{RunID: "sweep-1", Sweep: true, Account: fTeamA, Region: fRegion, Accounts: accounts, Role: true}
	if _, err := w.engine.Converge(context.Background(), u.Cause(), u); err != nil {
		t.Fatalf("unit: %v, want it converged but the role and its rule", err)
	}
	hasAll(t, "repository policy", w.aws.RepositoryPolicy(fTeamA, fRegion, "apps/a"), "arn:aws:iam::"+fTeamB+":root")
	return accounts
}

// An account event's member half (Engine.Member) converges it the same way: the role is read
// before the rules are planned, so the fromHub rule is refused with it.
func TestPTCRoleUnderAPathIsLeftOutByAnAccountEvent(t *testing.T) {
	w := newWorld(t, piecesDeclaration)
	w.aws.CreateRole(fTeamA, "team/ecr-warden-ptc", handMadeTrust)
	joinMemberHalf(t, w, fTeamA)
	leftOutRole(t, w, "another path")
}

// organization is the fake organization as a backfill's unit carries it.
func organization(t *testing.T, w *world) []desired.Account {
	t.Helper()
	walk, err := w.engine.Org.Walk(context.Background(), inventory.WalkScope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	return toDesiredAll(walk.Accounts)
}

// joinMemberHalf runs an account event's member half (Engine.Member) for
// account, as a join's event does, and fails the test on its error.
func joinMemberHalf(t *testing.T, w *world, account string) {
	t.Helper()
	ctx := context.Background()
	acct, err := w.engine.accountInfo(ctx, account)
	if err != nil {
		t.Fatal(err)
	}
	cause := Cause{Trigger: audit.Trigger{EventID: "evt-join", EventType: "test"}}
	if _, err := w.engine.Member(ctx, cause, acct, nil); err != nil {
		t.Fatalf("account event's member half: %v", err)
	}
}

// A role named like the PTC role in another case, made by hand: IAM role
// names are unique per account whatever their case, so CreateRole of the
// declared name answers EntityAlreadyExists while GetRole of it (which
// planned the create) finds none. The unit used to fail at every sweep
// with that answer, the role's policy sent to a role that is not there;
// now the role, its policy and the fromHub rule are refused saying what to
// look for, the hand-made role is untouched, and the rest converges.
func TestPTCRoleNameTakenInAnotherCaseIsLeftOut(t *testing.T) {
	w := newWorld(t, piecesDeclaration)
	other := w.aws.CreateRole(fTeamA, "ECR-Warden-PTC", handMadeTrust)
	convergedButTheRole(t, w)
	if trust, inline, ok := w.aws.Role(fTeamA, "ECR-Warden-PTC"); !ok || trust != handMadeTrust || len(inline) != 0 {
		t.Errorf("hand-made role %s now trust %s, inline %v; want it as made", other, trust, inline)
	}
	if _, _, ok := w.aws.Role(fTeamA, "ecr-warden-ptc"); ok {
		t.Error("a second role of the declared name was created beside the hand-made one")
	}
	for _, wr := range w.aws.Writes() {
		if strings.Contains(strings.ToLower(wr), "ecr-warden-ptc") {
			t.Errorf("wrote to a PTC role: %s", wr)
		}
	}
	refused := refusedWithItsRule(t, w, "EntityAlreadyExists")
	hasAll(t, "refusal of the role", refused["arn:aws:iam::"+fTeamA+":role/ecr-warden-ptc"], "left out", "only in case", "delete or rename", "pullThroughCache.role.name", "aws iam list-roles")
}
