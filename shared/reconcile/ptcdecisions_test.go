package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// The engine's pull-through-cache decisions on the in-memory AWS
// (decisions_test.go has the harness).

func (w *world) ptcRole(account string) {
	w.aws.CreateRole(account, "ecr-warden-ptc", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow",`+
		`"Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)
}

const ptcDeclaration = `"pullThroughCache": {"members": {"all": true}, "role": {"name": "ecr-warden-ptc"},
	"rules": [{"prefix": "ecr-public", "upstreamRegistryUrl": "public.ecr.aws"}, {"prefix": "quay", "upstreamRegistryUrl": "quay.io"},
		{"prefix": "hub", "fromHub": true, "upstreamRepositoryPrefix": "shared"}]}`

func TestPTCRuleConflict(t *testing.T) {
	w := newWorld(t, ptcDeclaration)
	w.ptcRole(fTeamA)
	w.aws.PutRule(fTeamA, fRegion, ecrtypes.PullThroughCacheRule{EcrRepositoryPrefix: aws.String("ecr-public"), UpstreamRegistryUrl: aws.String("registry.k8s.io")})
	w.aws.PutRule(fTeamA, fRegion, ecrtypes.PullThroughCacheRule{EcrRepositoryPrefix: aws.String("mine"), UpstreamRegistryUrl: aws.String("ghcr.io")})
	out, err := w.engine.Reconcile(context.Background(), target(trigger.KindPTCRule, fTeamA))
	if err != nil {
		t.Fatal(err)
	}
	rules := w.aws.Rules(fTeamA, fRegion)
	if got := aws.ToString(rules["ecr-public"].UpstreamRegistryUrl); got != "registry.k8s.io" {
		t.Errorf("rule ecr-public now caches %s; another upstream's rule must not be overwritten", got)
	}
	if got := aws.ToString(rules["mine"].UpstreamRegistryUrl); got != "ghcr.io" {
		t.Errorf("foreign rule mine now caches %q", got)
	}
	if aws.ToString(rules["quay"].UpstreamRegistryUrl) != "quay.io" || rules["hub"].EcrRepositoryPrefix == nil {
		t.Errorf("declared rules quay and hub not created: %v", w.aws.Writes())
	}
	for _, op := range []string{"UpdatePullThroughCacheRule", "DeletePullThroughCacheRule"} {
		if n := w.aws.Calls("ECR", op); n != 0 {
			t.Errorf("%d %s calls, want none", n, op)
		}
	}
	if out.Refused != 1 || out.Changed != 2 {
		t.Errorf("report %+v, want the conflict refused and two rules created", out.Report)
	}
	conflict := ptcRuleResource("aws", fTeamA, fRegion, "ecr-public").ARN
	if got := w.decisions(t, conflict); len(got) != 1 || got[0] != string(audit.DecisionRefused) {
		t.Errorf("decisions on %s: %v, want [refused]", conflict, got)
	}
	for _, r := range w.records(t) {
		if r.Target.ARN == conflict {
			hasAll(t, "conflict record", r.Error, "registry.k8s.io", "public.ecr.aws", "not overwritten")
		}
	}
	// Every rule written is validated by AWS, and the answer audited.
	for _, prefix := range []string{"quay", "hub"} {
		rule := ptcRuleResource("aws", fTeamA, fRegion, prefix).ARN
		if got := w.decisions(t, rule); !slices.Contains(got, string(audit.DecisionPTCValidated)) {
			t.Errorf("decisions on %s: %v, want it validated", rule, got)
		}
	}
}

func TestPTCRuleCreatedMeanwhile(t *testing.T) {
	w := newWorld(t, ptcDeclaration)
	w.ptcRole(fTeamA)
	w.aws.Fail(func(c fakeaws.Call) error {
		if in, ok := c.Input.(*ecr.CreatePullThroughCacheRuleInput); ok && aws.ToString(in.EcrRepositoryPrefix) == "quay" {
			return &ecrtypes.PullThroughCacheRuleAlreadyExistsException{Message: aws.String("A pull through cache rule with prefix 'quay' already exists")}
		}
		return nil
	})
	out, err := w.engine.Reconcile(context.Background(), target(trigger.KindPTCRule, fTeamA))
	if err == nil || out.Failed != 1 || out.Changed != 2 {
		t.Errorf("report %+v, error %v; want the failed rule returned (the invocation retries) and the two others created", out.Report, err)
	}
	quay := ptcRuleResource("aws", fTeamA, fRegion, "quay").ARN
	if got := w.decisions(t, quay); len(got) != 1 || got[0] != string(audit.DecisionFailed) {
		t.Errorf("decisions on %s: %v, want [failed] (the intent, settled failed)", quay, got)
	}
	for _, r := range w.records(t) {
		if r.Target.ARN == quay && r.Decision == audit.DecisionFailed {
			hasAll(t, "failed record", r.Error, "PullThroughCacheRuleAlreadyExistsException")
		}
	}
	if n := w.aws.Calls("ECR", "CreatePullThroughCacheRule"); n != 3 {
		t.Errorf("%d CreatePullThroughCacheRule calls, want 3 (each declared rule once, no retry)", n)
	}
	if rules := w.aws.Rules(fTeamA, fRegion); rules["ecr-public"].EcrRepositoryPrefix == nil || rules["hub"].EcrRepositoryPrefix == nil {
		t.Errorf("the other rules were not created: %v", w.aws.Writes())
	}
}

func TestPTCRoleCreated(t *testing.T) {
	w := newWorld(t, ptcDeclaration)
	tg := target(trigger.KindRole, fTeamA)
	tg.RoleName = "ecr-warden-ptc"
	out, err := w.engine.Reconcile(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	trust, inline, ok := w.aws.Role(fTeamA, "ecr-warden-ptc")
	if !ok {
		t.Fatalf("role not created; writes %v", w.aws.Writes())
	}
	hasAll(t, "trust policy", trust, `"Service":"pullthroughcache.ecr.amazonaws.com"`, "sts:AssumeRole", "EcrWarden")
	if len(inline) != 1 {
		t.Fatalf("inline policies %v, want one", inline)
	}
	for _, doc := range inline {
		hasAll(t, "permission policy", doc, "ecr:BatchImportUpstreamImage", "ecr:BatchGetImage", "EcrWarden")
	}
	writes := w.aws.Writes()
	if len(writes) != 2 || !strings.HasPrefix(writes[0], "IAM.CreateRole") || !strings.HasPrefix(writes[1], "IAM.PutRolePolicy") {
		t.Errorf("writes %v, want CreateRole, then PutRolePolicy", writes)
	}
	if out.Changed != 2 {
		t.Errorf("report %+v, want two documents changed", out.Report)
	}
	role := roleResource("aws", fTeamA, "ecr-warden-ptc").ARN
	if got := w.decisions(t, role); len(got) != 1 || got[0] != string(audit.DecisionApplied) {
		t.Errorf("decisions on %s: %v, want [applied] (the intent, settled applied)", role, got)
	}
	again, err := w.engine.Reconcile(context.Background(), tg)
	if err != nil || again.Changed != 0 || len(w.aws.Writes()) != 2 {
		t.Errorf("second run: report %+v, error %v, writes %v; want nothing written", again.Report, err, w.aws.Writes())
	}
}

func TestUnassumableMemberFailsAlone(t *testing.T) {
	w := newWorld(t, ptcDeclaration+`, "grants": [{"name": "org-pull", "repositories": ["shared/*"], "access": "pull", "placement": "registry",
		"principals": {"organization": true}}]`)
	w.aws.Unassumable(fTeamB, "arn:aws:iam::"+fTeamB+":role/ecr-warden-execution")
	ctx := context.Background()
	walk, err := w.engine.Org.Walk(ctx, inventory.WalkScope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	accounts := toDesiredAll(walk.Accounts)
	errs := map[string]error{}
	for _, acct := range []string{fTeamB, fTeamA, fHub} {
		wk := Work{RunID: "run-1", Account: acct, Region: fRegion, Accounts: accounts, Role: acct != fHub}
		_, errs[acct] = w.engine.Converge(ctx, wk.Cause(), wk)
	}
	if errs[fTeamA] != nil || errs[fHub] != nil {
		t.Fatalf("team-a: %v; hub: %v; want both converged", errs[fTeamA], errs[fHub])
	}
	if errs[fTeamB] == nil {
		t.Fatal("team-b converged although its execution role cannot be assumed")
	}
	// What to do is said once, after AWS's refusal: where the role comes from and how to find every member without it.
	fix := []string{"execution role ecr-warden-execution cannot be assumed in account " + fTeamB, "EcrWarden-Members", "stack instance", "make doctor", "MEMBER_ROLE"}
	hasAll(t, "team-b's error", errs[fTeamB].Error(), append([]string{fTeamB, "AccessDenied", "sts:AssumeRole"}, fix...)...)
	if n := strings.Count(errs[fTeamB].Error(), "EcrWarden-Members"); n != 1 {
		t.Errorf("the fix is said %d times in team-b's error, want once: %v", n, errs[fTeamB])
	}
	if _, _, ok := w.aws.Role(fTeamA, "ecr-warden-ptc"); !ok || len(w.aws.Rules(fTeamA, fRegion)) != 3 {
		t.Errorf("team-a not converged: writes %v", w.aws.Writes())
	}
	hasAll(t, "team-a registry policy", w.aws.RegistryPolicy(fTeamA, fRegion), "EcrWarden")
	hasAll(t, "hub registry policy", w.aws.RegistryPolicy(fHub, fRegion), "EcrWardenOrgPull", fOrgID, "EcrWardenPtcUpstreamHub", "arn:aws:iam::"+fTeamA+":root")
	for _, wr := range w.aws.Writes() {
		if strings.Contains(wr, fTeamB+"/") {
			t.Errorf("a write reached team-b: %s", wr)
		}
	}
	var summaries int
	for _, r := range w.records(t) {
		if r.Target.ARN == audit.UnitARN(fTeamB, fRegion) {
			summaries++
			hasAll(t, "team-b's unit summary", r.Error, append([]string{"AccessDenied"}, fix...)...)
		}
	}
	if summaries != 1 {
		t.Errorf("%d unit summaries for team-b, want 1", summaries)
	}
}

// An account event's member half (Engine.Member, what the account function
// converges for a join or a move) says what to do about an execution role
// STS refuses, with the same words as a unit (one builder, unassumable):
// it used to answer with AWS's refusal alone, while the unit said where
// the role comes from and how to find every member without it.
func TestUnassumableMemberSaysWhatToDoOnAnAccountEvent(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, ptcDeclaration)
	w.aws.Unassumable(fTeamB, "arn:aws:iam::"+fTeamB+":role/ecr-warden-execution")
	acct, err := w.engine.accountInfo(ctx, fTeamB)
	if err != nil {
		t.Fatal(err)
	}
	_, err = w.engine.Member(ctx, Cause{Trigger: audit.Trigger{EventID: "evt-join", EventType: "test"}}, acct, nil)
	if err == nil {
		t.Fatal("team-b converged although its execution role cannot be assumed")
	}
	fix := []string{"execution role ecr-warden-execution cannot be assumed in account " + fTeamB, "EcrWarden-Members", "stack instance", "make doctor", "MEMBER_ROLE"}
	hasAll(t, "team-b's error", err.Error(), append([]string{"AccessDenied", "sts:AssumeRole"}, fix...)...)
	if n := strings.Count(err.Error(), "EcrWarden-Members"); n != 1 {
		t.Errorf("the fix is said %d times, want once: %v", n, err)
	}
}

func TestPTCRuleWithMissingSecret(t *testing.T) {
	w := newWorld(t, `"pullThroughCache": {"members": {"all": true}, "rules": [
		{"prefix": "docker-hub", "upstreamRegistryUrl": "registry-1.docker.io", "credentialSecret": "ecr-pullthroughcache/docker-hub"},
		{"prefix": "quay", "upstreamRegistryUrl": "quay.io"}]}`)
	ctx := context.Background()
	out, err := w.engine.Reconcile(ctx, target(trigger.KindPTCRule, fTeamA))
	if err != nil || out.Refused != 1 || out.Changed != 1 {
		t.Fatalf("report %+v, error %v; want docker-hub refused and quay created", out.Report, err)
	}
	rule := ptcRuleResource("aws", fTeamA, fRegion, "docker-hub").ARN
	for _, r := range w.records(t) {
		if r.Target.ARN == rule {
			hasAll(t, "refusal", r.Error, "ecr-pullthroughcache/docker-hub", fTeamA, "create-secret")
		}
	}
	arn := w.aws.CreateSecret(fTeamA, fRegion, "ecr-pullthroughcache/docker-hub")
	if out, err = w.engine.Reconcile(ctx, target(trigger.KindPTCRule, fTeamA)); err != nil || out.Changed != 1 {
		t.Fatalf("after the secret: report %+v, error %v; want docker-hub created", out.Report, err)
	}
	if got := aws.ToString(w.aws.Rules(fTeamA, fRegion)["docker-hub"].CredentialArn); got != arn {
		t.Errorf("docker-hub credential %q, want the secret's full ARN %s", got, arn)
	}
}

// holdAfter is a lease table whose first hold runs first, as if another
// writer had held the registry's lease just before this one (and written).
type holdAfter struct {
	leases interface {
		Hold(ctx context.Context, key string, ttl time.Duration, fn func(ctx context.Context, h lease.Held) error) error
	}
	once  sync.Once
	first func()
}

func (l *holdAfter) Hold(ctx context.Context, key string, ttl time.Duration, fn func(ctx context.Context, h lease.Held) error) error {
	l.once.Do(l.first)
	return l.leases.Hold(ctx, key, ttl, fn)
}

// A PTC rule drift event plans its rules from a listing made before it
// holds the registry's lease; a writer holding the lease before it (a unit,
// an account event) creates one of the rules meanwhile. The plan under the
// lease lists the rules again, so the rule is found as declared: no create
// that AWS refuses as AlreadyExists, no failed record with a stale before.
func TestPTCRulePlannedUnderTheLease(t *testing.T) {
	w := newWorld(t, ptcDeclaration)
	w.ptcRole(fTeamA)
	w.engine.Exec.Leases = &holdAfter{leases: w.engine.Exec.Leases, first: func() {
		w.aws.PutRule(fTeamA, fRegion, ecrtypes.PullThroughCacheRule{EcrRepositoryPrefix: aws.String("quay"), UpstreamRegistryUrl: aws.String("quay.io")})
	}}
	out, err := w.engine.Reconcile(context.Background(), target(trigger.KindPTCRule, fTeamA))
	if err != nil || out.Failed != 0 || out.Changed != 2 || out.Unchanged != 1 {
		t.Errorf("report %+v, error %v; want quay found as declared and the two others created", out.Report, err)
	}
	if n := w.aws.Calls("ECR", "CreatePullThroughCacheRule"); n != 2 {
		t.Errorf("%d CreatePullThroughCacheRule calls, want 2 (quay exists by the time the lease is held)", n)
	}
	quay := ptcRuleResource("aws", fTeamA, fRegion, "quay").ARN
	if got := w.decisions(t, quay); len(got) != 1 || got[0] != string(audit.DecisionNoop) {
		t.Errorf("decisions on %s: %v, want [noop]", quay, got)
	}
}

// Removing the PTC role's permissions boundary, or replacing it with a wider
// one, is drift like an edit of its policies: both IAM events (the samples in
// events/) are routed to the drift function, and converging the role sets the
// declared boundary again, audited with who changed it.
func TestPTCRoleBoundaryDriftIsReverted(t *testing.T) {
	for _, c := range []struct{ sample, boundary string }{
		{"iam-delete-role-permissions-boundary.json", ""},
		{"iam-put-role-permissions-boundary.json", "arn:aws:iam::" + fTeamA + ":policy/AdministratorAccessBoundary"},
	} {
		t.Run(c.sample, func(t *testing.T) {
			w := newWorld(t, ptcDeclaration)
			tg := target(trigger.KindRole, fTeamA)
			tg.RoleName = "ecr-warden-ptc"
			if _, err := w.engine.Reconcile(context.Background(), tg); err != nil {
				t.Fatal(err)
			}
			declared := w.aws.Boundary(fTeamA, "ecr-warden-ptc")
			if declared == "" {
				t.Fatal("the role was created without its boundary")
			}
			w.aws.SetBoundary(fTeamA, "ecr-warden-ptc", c.boundary)

			ev, err := os.ReadFile("../../events/" + c.sample)
			if err != nil {
				t.Fatal(err)
			}
			got, err := trigger.Parse(ev)
			if err != nil {
				t.Fatalf("the sample does not parse: %v", err)
			}
			if route, _, ok := trigger.RouteOf(got.Trigger); !ok || route.Function != trigger.FnDrift || got.Kind != trigger.KindRole {
				t.Fatalf("%s is not routed to drift as a role event: %+v", got.Trigger.EventName, route)
			}
			out, err := w.engine.Reconcile(context.Background(), got)
			if err != nil || out.Changed == 0 || out.Ignored != "" {
				t.Fatalf("report %+v, ignored %q, error %v: want the role converged", out.Report, out.Ignored, err)
			}
			if b := w.aws.Boundary(fTeamA, "ecr-warden-ptc"); b != declared {
				t.Errorf("boundary %q, want %q restored", b, declared)
			}
			var found bool
			for _, r := range w.records(t) {
				found = found || (r.Decision == audit.DecisionApplied && strings.Contains(r.Diff, "permissions boundary") && strings.Contains(r.Actor.ARN, "ops-cleanup"))
			}
			if !found {
				t.Errorf("no applied record of the boundary naming who changed it: %+v", w.records(t))
			}
		})
	}
}

// lostDeletes hands out the fake's clients, except that deleting a
// pull-through-cache rule does the work and then answers what the SDK's retry
// of a call whose first answer was lost gets: the rule is not found.
type lostDeletes struct{ fakeClients }

func (c lostDeletes) ECR(account, region string) ecrAPI {
	return lostRuleDelete{c.f.ECR(account, region)}
}

type lostRuleDelete struct{ ecrAPI }

func (l lostRuleDelete) DeletePullThroughCacheRule(ctx context.Context, in *ecr.DeletePullThroughCacheRuleInput, opts ...func(*ecr.Options)) (*ecr.DeletePullThroughCacheRuleOutput, error) {
	if _, err := l.ecrAPI.DeletePullThroughCacheRule(ctx, in, opts...); err != nil {
		return nil, err
	}
	return nil, &ecrtypes.PullThroughCacheRuleNotFoundException{Message: aws.String("The specified pull through cache rule does not exist")}
}

// TestRetiredRuleDeleteWithLostAnswerIsApplied: a retired rule's delete lands
// but its call answers PullThroughCacheRuleNotFoundException (a retry after a
// lost answer); the rules are read again, the rule is gone as the change
// meant, so the record is applied and nothing fails.
func TestRetiredRuleDeleteWithLostAnswerIsApplied(t *testing.T) {
	w := newWorld(t, strings.Replace(ptcDeclaration, `"role":`, `"retiredPrefixes": ["old"], "role":`, 1))
	w.engine.Clients = lostDeletes{fakeClients{w.aws}}
	w.ptcRole(fTeamA)
	w.aws.PutRule(fTeamA, fRegion, ecrtypes.PullThroughCacheRule{EcrRepositoryPrefix: aws.String("old"), UpstreamRegistryUrl: aws.String("quay.io")})
	out, err := w.engine.Reconcile(context.Background(), target(trigger.KindPTCRule, fTeamA))
	if err != nil || out.Failed != 0 {
		t.Fatalf("report %+v, error %v; want every rule converged", out.Report, err)
	}
	if _, ok := w.aws.Rules(fTeamA, fRegion)["old"]; ok {
		t.Fatal("retired rule old still in AWS")
	}
	old := ptcRuleResource("aws", fTeamA, fRegion, "old").ARN
	if got := w.decisions(t, old); len(got) != 1 || got[0] != string(audit.DecisionApplied) {
		t.Errorf("decisions on %s: %v, want [applied]", old, got)
	}
	for _, r := range w.records(t) {
		if r.Target.ARN == old {
			hasAll(t, "applied record", r.Error, "PullThroughCacheRuleNotFoundException", "read again")
		}
	}
}

// handAddedTrust is a statement someone added by hand to the PTC role's
// trust policy: another account may assume the role.
const handAddedTrust = `{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole"}`

// trustEditedBy converges fTeamA's PTC role, then edits its trust policy by
// hand to the declared statement followed by added, and returns the world,
// the role's target for the next convergence and the declared statement
// (JSON) that convergence must keep.
func trustEditedBy(t *testing.T, added ...string) (*world, trigger.Target, string) {
	t.Helper()
	ctx := context.Background()
	w := newWorld(t, ptcDeclaration)
	tg := target(trigger.KindRole, fTeamA)
	tg.RoleName = "ecr-warden-ptc"
	if _, err := w.engine.Reconcile(ctx, tg); err != nil {
		t.Fatal(err)
	}
	trust, _, _ := w.aws.Role(fTeamA, "ecr-warden-ptc")
	doc, err := policy.Parse(trust)
	if err != nil {
		t.Fatal(err)
	}
	declared, _ := json.Marshal(doc.Statements[0])
	edited := `{"Version":"2012-10-17","Statement":[` + strings.Join(append([]string{string(declared)}, added...), ",") + `]}`
	if _, err := w.aws.IAM(fTeamA).UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("ecr-warden-ptc"), PolicyDocument: aws.String(edited)}); err != nil {
		t.Fatal(err)
	}
	return w, tg, string(declared)
}

// A statement added by hand to the PTC role's trust policy (any account
// may assume the role, which carries ECR push actions and which the hub's
// upstream grant admits) is removed at the next convergence, not kept as a
// foreign statement: the role is ecr-warden's own and its trust policy is
// wholly owned. The removal is audited (foreign-unsafe, naming the
// statement, and the applied write), the declared statement stays.
func TestHandAddedTrustStatementIsRemoved(t *testing.T) {
	ctx := context.Background()
	w, tg, declared := trustEditedBy(t, handAddedTrust)
	out, err := w.engine.Reconcile(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	trust, _, _ := w.aws.Role(fTeamA, "ecr-warden-ptc")
	hasNone(t, "trust policy", trust, "444455556666")
	hasAll(t, "trust policy", trust, declared)
	if out.Changed != 1 {
		t.Errorf("report %+v, want the trust policy changed", out)
	}
	role := roleResource("aws", fTeamA, "ecr-warden-ptc").ARN
	var removed bool
	for _, r := range w.records(t) {
		if r.Target.ARN == role && r.Decision == audit.DecisionForeignUnsafe {
			removed = true
			hasAll(t, "foreign-unsafe record", r.Error, "removed", "statement 1", "444455556666")
		}
	}
	if got := w.decisions(t, role); !removed || !slices.Contains(got, string(audit.DecisionApplied)) {
		t.Errorf("decisions on %s: %v; want the removal recorded foreign-unsafe and the write applied", role, got)
	}
}

// A hand edit that adds, beside a statement letting another account assume
// the PTC role, a Deny carrying the Sid prefix must not keep that statement
// alive: the Deny used to refuse the whole trust policy, so the added
// statement (the access the wholly owned trust exists to remove) stayed.
// Now the statement is removed and audited as before; the Deny, which only
// narrows, is kept as written (ecr-warden never deletes a Deny) and
// reported with its Sid.
func TestPrefixedDenyDoesNotKeepAHandAddedTrustStatement(t *testing.T) {
	ctx := context.Background()
	const deny = `{"Sid":"EcrWardenHold","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::777788889999:root"},"Action":"sts:AssumeRole"}`
	w, tg, declared := trustEditedBy(t, handAddedTrust, deny)
	if _, err := w.engine.Reconcile(ctx, tg); err != nil {
		t.Fatal(err)
	}
	trust, _, _ := w.aws.Role(fTeamA, "ecr-warden-ptc")
	hasNone(t, "trust policy", trust, "444455556666")
	hasAll(t, "trust policy", trust, declared, deny)
	role := roleResource("aws", fTeamA, "ecr-warden-ptc").ARN
	var removed, named bool
	for _, r := range w.records(t) {
		if r.Target.ARN != role || r.Decision != audit.DecisionForeignUnsafe {
			continue
		}
		removed = removed || strings.Contains(r.Error, "444455556666")
		named = named || strings.Contains(r.Error, `"EcrWardenHold"`)
	}
	if got := w.decisions(t, role); !removed || !named || !slices.Contains(got, string(audit.DecisionApplied)) {
		t.Errorf("decisions on %s: %v (removal recorded %v, Deny named %v); want the removal and the kept Deny recorded and the write applied", role, got, removed, named)
	}
}

// A member registry whose hand-made rules leave room for fewer rules than
// the declaration adds (ECR keeps 50 per registry): the rules that fit are
// created, the one past the limit is refused in the plan, naming the limit
// and the fix, so the dry run says what the run then does and the run never
// meets ECR's LimitExceededException. A retired rule makes room in the
// same run: it is deleted before the creates it makes room for.
func TestPTCRulesPastTheRegistryLimitAreRefusedInThePlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		retired string
		created []string
		refused []string
	}{
		{"no room for the last", "", []string{"ecr-public", "quay"}, []string{"hub"}},
		{"a retired rule makes room", "hand00", []string{"ecr-public", "quay", "hub"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			decl := ptcDeclaration
			if tc.retired != "" {
				decl = strings.Replace(decl, `"rules": [`, `"retiredPrefixes": ["`+tc.retired+`"], "rules": [`, 1)
			}
			w := newWorld(t, decl)
			w.ptcRole(fTeamA)
			for i := range policy.PTCRulesMax - 2 {
				w.aws.PutRule(fTeamA, fRegion, ecrtypes.PullThroughCacheRule{EcrRepositoryPrefix: aws.String(fmt.Sprintf("hand%02d", i)), UpstreamRegistryUrl: aws.String("ghcr.io")})
			}
			// A slow delete: the creates it makes room for must wait for it.
			w.aws.Latency(func(c fakeaws.Call) time.Duration {
				if c.Operation == "DeletePullThroughCacheRule" {
					return 50 * time.Millisecond
				}
				return 0
			})
			ctx := context.Background()
			walk, err := w.engine.Org.Walk(ctx, inventory.WalkScope{All: true})
			if err != nil {
				t.Fatal(err)
			}
			unit := Work{RunID: "run-1", Account: fTeamA, Region: fRegion, Accounts: toDesiredAll(walk.Accounts), Role: true}
			dry := unit
			dry.DryRun = true
			planned, err := w.engine.Converge(ctx, dry.Cause(), dry)
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			applied, err := w.engine.Converge(ctx, unit.Cause(), unit)
			if err != nil {
				t.Fatalf("run: %v (report %+v)", err, applied)
			}
			if n := w.aws.Calls("ECR", "CreatePullThroughCacheRule"); n != len(tc.created) {
				t.Errorf("%d CreatePullThroughCacheRule calls, want %d: a create past the limit must not be tried", n, len(tc.created))
			}
			rules := w.aws.Rules(fTeamA, fRegion)
			for _, p := range tc.created {
				if _, ok := rules[p]; !ok {
					t.Errorf("rule %s not created", p)
				}
			}
			if len(rules) > policy.PTCRulesMax {
				t.Errorf("%d rules, ECR keeps %d", len(rules), policy.PTCRulesMax)
			}
			if _, ok := rules[tc.retired]; tc.retired != "" && ok {
				t.Errorf("retired rule %s still there", tc.retired)
			}
			if applied.Refused != len(tc.refused) || planned.Refused != len(tc.refused) || applied.Failed != 0 {
				t.Errorf("dry run %+v, run %+v; want %d refused in both and nothing failed", planned, applied, len(tc.refused))
			}
			for _, p := range tc.refused {
				arn := ptcRuleResource("aws", fTeamA, fRegion, p).ARN
				if _, ok := rules[p]; ok {
					t.Errorf("rule %s created past the limit", p)
				}
				var refusals int
				for _, r := range w.records(t) {
					if r.Target.ARN == arn && r.Decision == audit.DecisionRefused {
						refusals++
						hasAll(t, "refusal of "+p, r.Error, "50", "48 rules", "retiredPrefixes")
					}
				}
				if refusals != 2 {
					t.Errorf("%d refused records for rule %s, want 2 (the dry run's and the run's)", refusals, p)
				}
			}
		})
	}
}
