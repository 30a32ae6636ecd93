package reconcile

import (
	"context"
	"github.com/aws/smithy-go"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// The engine's decisions on the in-memory AWS (shared/devtools/fakeaws),
// which answers with the SDK's own error types: these run in the fast lane
// (go test -short) in milliseconds. The same situations run end to end
// against the local AWS and the real binaries in functions/* (make test).

const (
	fHub    = "111111111111"
	fMgmt   = "999999999999"
	fTeamA  = "222222222222"
	fTeamB  = "333333333333"
	fRegion = "us-east-1"
	fOrgID  = "o-a1b2c3d4e5"
)

// fakeClients hands out the fake's clients as the engine's interfaces.
type fakeClients struct{ f *fakeaws.AWS }

func (c fakeClients) ECR(account, region string) ecrAPI { return c.f.ECR(account, region) }
func (c fakeClients) IAM(account string) iamAPI         { return c.f.IAM(account) }
func (c fakeClients) Public(account string) publicAPI   { return c.f.Public(account) }
func (c fakeClients) Tagging(account, region string) taggingAPI {
	return c.f.Tagging(account, region)
}
func (c fakeClients) SecretsManager(account, region string) secretDescriber {
	return c.f.SecretsManager(account, region)
}

// world is the fake organization: management, hub and two members in OU
// "workloads", each with its region's registry.
type world struct {
	aws    *fakeaws.AWS
	trail  *audit.Trail
	engine *Engine
	start  time.Time
}

// newWorld builds the organization and an engine over it for the
// declaration whose hub, sidPrefix and roles are fixed and whose grants and
// pullThroughCache are the given JSON (either may be empty).
func newWorld(t *testing.T, rest string) *world {
	t.Helper()
	return newWorldIn(t, []string{fRegion}, rest)
}

// newWorldIn is newWorld with the hub in regions instead, its engine in the
// first.
func newWorldIn(t *testing.T, regions []string, rest string) *world {
	t.Helper()
	region := regions[0]
	f := fakeaws.New()
	f.Organization(fOrgID, fMgmt)
	f.Join(fHub)
	f.Join(fTeamA, "workloads")
	f.Join(fTeamB, "workloads")
	src := `{"hub": {"accountId": "` + fHub + `", "regions": ["` + strings.Join(regions, `", "`) + `"], "organizationId": "` + fOrgID + `", "managementAccountId": "` + fMgmt + `"}`
	if rest != "" {
		src += ", " + rest
	}
	decl, err := config.Parse([]byte(src + "}"))
	if err != nil {
		t.Fatalf("declaration: %v\n%s}", err, src)
	}
	trail, _, err := fakeaws.NewTrail()
	if err != nil {
		t.Fatal(err)
	}
	e := &Engine{Decl: decl, Clients: fakeClients{f}, Exec: &apply.Executor{Trail: trail, Leases: fakeaws.NewLeases()},
		Org: inventory.NewOrg(f.Organizations(), inventory.OrgOptions{}), Log: slog.New(slog.DiscardHandler),
		// No waiting: a refusal is refused again at once here.
		PrincipalWait: time.Nanosecond, RepositoryWait: time.Nanosecond, Region: region}
	return &world{aws: f, trail: trail, engine: e, start: time.Now().Add(-time.Minute)}
}

// target is an event's target in the hub region with the trigger the audit
// trail records.
func target(kind trigger.Kind, account string) trigger.Target {
	return trigger.Target{Kind: kind, AccountID: account, Region: fRegion,
		Trigger: trigger.Trigger{EventID: "evt-" + string(kind), DetailType: "test", Source: "test"}}
}

// records are the audit records stored so far, oldest first.
func (w *world) records(t *testing.T) []audit.Record {
	t.Helper()
	recs, err := w.trail.Window(context.Background(), w.start, time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// decisions lists "decision kind" of every record naming resource.
func (w *world) decisions(t *testing.T, resource string) []string {
	t.Helper()
	var out []string
	for _, r := range w.records(t) {
		if r.Target.ARN == resource {
			out = append(out, string(r.Decision))
		}
	}
	return out
}

// hasAll fails unless doc contains every fragment.
func hasAll(t *testing.T, what, doc string, fragments ...string) {
	t.Helper()
	for _, fr := range fragments {
		if !strings.Contains(doc, fr) {
			t.Errorf("%s does not contain %s:\n%s", what, fr, doc)
		}
	}
}

func hasNone(t *testing.T, what, doc string, fragments ...string) {
	t.Helper()
	for _, fr := range fragments {
		if strings.Contains(doc, fr) {
			t.Errorf("%s contains %s:\n%s", what, fr, doc)
		}
	}
}

// AWS refuses a registry policy naming a role that does not exist in an
// account whose IAM ecr-warden cannot read (so it could not leave the role
// out beforehand). The engine writes the document again without the
// principals it could not confirm: the rest of the grant is in AWS, the
// refusal and the omission are audited, and it never loops.
func TestRefusedDocumentIsNarrowedAndAudited(t *testing.T) {
	w := newWorld(t, `"grants": [{"name": "ci-pull", "repositories": ["apps/*"], "access": "pull", "placement": "registry",
		"principals": {"roles": ["arn:aws:iam::`+fTeamA+`:role/ci", "arn:aws:iam::`+fTeamB+`:role/deployer"]}}]`)
	w.aws.CreateRole(fTeamA, "ci", "{}")
	w.aws.Deny(fTeamB, "IAM", "GetRole") // team-b's role cannot be confirmed, and does not exist
	ctx := context.Background()
	reg := registryResource("aws", fHub, fRegion).ARN

	for run := 1; run <= 2; run++ {
		before := w.aws.Calls("ECR", "PutRegistryPolicy")
		out, err := w.engine.Reconcile(ctx, target(trigger.KindRegistryPolicy, fHub))
		if err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if out.Failed != 0 || out.Refused != 0 {
			t.Errorf("run %d: report %+v, want the narrowed document written or already in place", run, out.Report)
		}
		// One refused write and one narrowed write at most: never a loop.
		if n := w.aws.Calls("ECR", "PutRegistryPolicy") - before; n < 1 || n > 2 {
			t.Errorf("run %d: %d PutRegistryPolicy calls, want 1 or 2 (%s)", run, n, w.aws)
		}
	}
	doc := w.aws.RegistryPolicy(fHub, fRegion)
	hasAll(t, "hub registry policy", doc, "EcrWardenCiPullRoles", "arn:aws:iam::"+fTeamA+":role/ci", "ecr:BatchGetImage")
	hasNone(t, "hub registry policy", doc, "role/deployer")
	var missing, failed, applied int
	for _, r := range w.records(t) {
		if r.Target.ARN != reg {
			continue
		}
		switch r.Decision {
		case audit.DecisionPrincipalMissing:
			missing++
			hasAll(t, "principal-missing record", r.Error, "role/deployer", "AWS refuse")
		case audit.DecisionFailed:
			failed++
			hasAll(t, "failed record", r.Error, "InvalidParameterException", "Invalid registry policy provided")
		case audit.DecisionApplied:
			applied++
		}
	}
	if missing == 0 || failed == 0 || applied != 1 {
		t.Errorf("records of %s: %d principal-missing, %d failed, %d applied; want the refusal and the omission recorded and one applied write", reg, missing, failed, applied)
	}
}

// A registry whose policy scope is V1 (which enforces only three actions,
// and where AWS refuses a document with others) gets no write the
// declaration needs V2 for: refused with the remedy, unless the declaration
// allows the switch; then the scope is switched first, then the policy
// written.
func TestRegistryScopeV1(t *testing.T) {
	grants := `"grants": [{"name": "org-pull", "repositories": ["shared/*"], "access": "pull", "placement": "registry",
		"principals": {"accounts": ["` + fTeamA + `"]}}]`
	for _, allow := range []bool{false, true} {
		t.Run(map[bool]string{false: "refused", true: "switched"}[allow], func(t *testing.T) {
			scope := `"registryPolicyScope": {"allowSwitchToV2": ` + map[bool]string{false: "false", true: "true"}[allow] + `}, `
			w := newWorld(t, scope+grants)
			w.aws.SetScope(fHub, fRegion, "V1")
			out, err := w.engine.Reconcile(context.Background(), target(trigger.KindRegistryPolicy, fHub))
			if err != nil {
				t.Fatal(err)
			}
			reg := registryResource("aws", fHub, fRegion).ARN
			if !allow {
				if out.Refused != 1 || w.aws.Calls("ECR", "PutRegistryPolicy") != 0 || w.aws.Calls("ECR", "PutAccountSetting") != 0 {
					t.Errorf("report %+v, calls %s: want one refusal and no write", out.Report, w.aws)
				}
				if w.aws.Scope(fHub, fRegion) != "V1" || w.aws.RegistryPolicy(fHub, fRegion) != "" {
					t.Errorf("scope %s, policy %q: want V1 and no policy", w.aws.Scope(fHub, fRegion), w.aws.RegistryPolicy(fHub, fRegion))
				}
				if got := w.decisions(t, reg); len(got) != 1 || got[0] != string(audit.DecisionRefused) {
					t.Fatalf("decisions %v, want [refused]", got)
				}
				hasAll(t, "refusal", w.records(t)[0].Error, "V1", "allowSwitchToV2", "put-account-setting")
				return
			}
			if out.Changed != 1 || w.aws.Scope(fHub, fRegion) != "V2" {
				t.Fatalf("report %+v, scope %s: want the switch and the write", out.Report, w.aws.Scope(fHub, fRegion))
			}
			writes := w.aws.Writes()
			if len(writes) != 2 || !strings.HasPrefix(writes[0], "ECR.PutAccountSetting") || !strings.HasPrefix(writes[1], "ECR.PutRegistryPolicy") {
				t.Errorf("writes %v, want the scope switch, then the policy", writes)
			}
			hasAll(t, "registry policy", w.aws.RegistryPolicy(fHub, fRegion), "EcrWardenOrgPull", "arn:aws:iam::"+fTeamA+":root")
		})
	}
}

// ptcRole creates account's PTC role as an earlier run would have, trusting
// the pull-through-cache service, so the rules that cache through it validate.
// A declared prefix already taken by a rule with another upstream is
// reported, never overwritten; a rule the declaration does not name is left
// alone; the other declared rules are created.
// A rule created by someone else between the read and the write: AWS
// answers PullThroughCacheRuleAlreadyExistsException. That rule's write is
// recorded failed with AWS's answer and not retried; the other rules are
// created.
// A member's PTC role that does not exist is created with its trust policy
// (ECR's pull-through cache may assume it), then given its permission
// policy; a second run writes nothing.
// A member whose execution role cannot be assumed fails its own unit, naming
// the account and AWS's answer; the other member and the hub converge.
// A new repository without a policy (GetRepositoryPolicy answers
// RepositoryPolicyNotFoundException) gets its grant; a foreign statement
// someone adds later is kept byte for byte when the grant is re-converged,
// and an unchanged repository is not written again.
func TestRepositoryPolicyKeepsForeignStatements(t *testing.T) {
	w := newWorld(t, `"grants": [{"name": "team-pull", "repositories": ["apps/*"], "access": "pull", "placement": "repository",
		"principals": {"accounts": ["`+fTeamA+`"]}}]`)
	w.aws.CreateRepository(fHub, fRegion, "apps/web", nil)
	ctx := context.Background()
	tg := target(trigger.KindRepository, fHub)
	tg.Repository = "apps/web"
	if out, err := w.engine.Reconcile(ctx, tg); err != nil || out.Changed != 1 {
		t.Fatalf("first run: report %+v, error %v; want the policy created", out.Report, err)
	}
	doc := w.aws.RepositoryPolicy(fHub, fRegion, "apps/web")
	hasAll(t, "repository policy", doc, "EcrWardenTeamPull", "arn:aws:iam::"+fTeamA+":root")

	foreign := `{"Sid":"Scanner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + fTeamB + `:root"},"Action":"ecr:DescribeImages"}`
	edited := strings.Replace(doc, `"Statement":[`, `"Statement":[`+foreign+",", 1)
	if _, err := w.aws.ECR(fHub, fRegion).SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("apps/web"), PolicyText: aws.String(edited)}); err != nil {
		t.Fatal(err)
	}
	writes := len(w.aws.Writes())
	if out, err := w.engine.Reconcile(ctx, tg); err != nil || out.Changed != 0 {
		t.Fatalf("second run: report %+v, error %v; want nothing to change", out.Report, err)
	}
	if got := w.aws.RepositoryPolicy(fHub, fRegion, "apps/web"); got != edited || len(w.aws.Writes()) != writes {
		t.Errorf("the foreign statement was rewritten or the policy written again:\n%s\nwrites %v", got, w.aws.Writes())
	}
}

// A rule whose credential secret does not exist in the member is refused
// alone, naming the secret and how to create it; the other rules are
// created, and the rule with its secret once the secret exists (with the
// full ARN Secrets Manager gives it).

// A scope switch that lands before AWS refuses the policy is an AWS write
// too: the refused record says the registry is V2 now, not only that AWS
// refused the policy. The event succeeds: the same policy would be refused
// again on every retry.
func TestScopeSwitchedBeforeARefusedPolicyIsRecorded(t *testing.T) {
	w := newWorld(t, `"registryPolicyScope": {"allowSwitchToV2": true}, "grants": [{"name": "org-pull", "repositories": ["shared/*"],
		"access": "pull", "placement": "registry", "principals": {"accounts": ["`+fTeamA+`"]}}]`)
	w.aws.SetScope(fHub, fRegion, "V1")
	w.aws.Fail(func(c fakeaws.Call) error {
		if c.Operation == "PutRegistryPolicy" {
			return &ecrtypes.LimitExceededException{Message: aws.String("The operation did not succeed because it would have exceeded a service limit")}
		}
		return nil
	})
	out, err := w.engine.Reconcile(context.Background(), target(trigger.KindRegistryPolicy, fHub))
	if err != nil || out.Refused != 1 || out.Failed != 0 || w.aws.Scope(fHub, fRegion) != "V2" || w.aws.RegistryPolicy(fHub, fRegion) != "" {
		t.Fatalf("report %+v, error %v, scope %s, policy %q: want one refusal and no error, the scope switched, no policy", out.Report, err, w.aws.Scope(fHub, fRegion), w.aws.RegistryPolicy(fHub, fRegion))
	}
	reg := registryResource("aws", fHub, fRegion).ARN
	if got := w.decisions(t, reg); len(got) != 1 || got[0] != string(audit.DecisionRefused) {
		t.Fatalf("decisions %v, want [refused]", got)
	}
	hasAll(t, "refused record", w.records(t)[0].Error, "aws-refused:", "scope switched to V2 (done)", "putting registry policy", "LimitExceededException")
}

// A scope switch whose answer is lost after ECR made it (a dropped
// connection, the SDK's retries spent) leaves the registry V2: the writer
// reads the scope again, and the policy is written under the same lease, so
// the record says what AWS holds rather than a failed switch.
func TestScopeSwitchWhoseAnswerWasLostIsReadAgain(t *testing.T) {
	w := newWorld(t, `"registryPolicyScope": {"allowSwitchToV2": true}, "grants": [{"name": "org-pull", "repositories": ["shared/*"],
		"access": "pull", "placement": "registry", "principals": {"accounts": ["`+fTeamA+`"]}}]`)
	w.aws.SetScope(fHub, fRegion, "V1")
	w.aws.Lose(func(c fakeaws.Call) error {
		if c.Operation == "PutAccountSetting" {
			return &smithy.GenericAPIError{Code: "ServiceUnavailableException", Message: "the connection dropped after the call"}
		}
		return nil
	})
	out, err := w.engine.Reconcile(context.Background(), target(trigger.KindRegistryPolicy, fHub))
	if err != nil || out.Changed != 1 || out.Failed != 0 || w.aws.Scope(fHub, fRegion) != "V2" || w.aws.RegistryPolicy(fHub, fRegion) == "" {
		t.Fatalf("report %+v, error %v, scope %s, policy %q: want the policy written after the switch AWS made", out.Report, err, w.aws.Scope(fHub, fRegion), w.aws.RegistryPolicy(fHub, fRegion))
	}
	reg := registryResource("aws", fHub, fRegion).ARN
	if got := w.decisions(t, reg); len(got) != 1 || got[0] != string(audit.DecisionApplied) {
		t.Fatalf("decisions %v, want [applied]", got)
	}
}
