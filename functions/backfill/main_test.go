package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/functest"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localrun"
	"github.com/ecr-warden/ecr-warden/shared/policy"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// One local AWS, one counting proxy and one host build of each function
// (backfill, worker, drift) serve the whole test binary; each test resets
// the state and seeds its own organization.
var (
	lab   *functest.Harness
	srv   *localaws.Server
	proxy *localaws.Proxy
)

const (
	hub        = "123456789012" // the local AWS's default account: the functions' own
	region     = "us-east-1"
	region2    = "eu-west-1"
	memberRole = "ecr-warden-execution"
	ptcRole    = "ecr-warden-ptc"
)

func TestMain(m *testing.M) {
	functest.Main(m, []string{"backfill", "worker", "drift"}, func(h *functest.Harness) {
		lab, srv, proxy = h, h.Server, h.Proxy
	})
}

// world is one test's AWS: an organization with two OUs of two members
// each, repositories in the hub and every member, the tables and queues,
// and a declaration written for that organization.
type world struct {
	t           *testing.T
	ctx         context.Context
	org         localrun.Org
	env         localrun.Env
	trail       *audit.Trail
	declaration string
	endpoint    string // what the functions call (the proxy, or a front of it)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	localaws.Need(t)
	ctx := t.Context()
	if err := lab.Reset(ctx, region); err != nil {
		t.Fatal(err)
	}
	cfg := srv.Config(region)
	env, err := localrun.Prepare(ctx, cfg, 2)
	if err != nil {
		t.Fatal(err)
	}
	org, err := localrun.SeedOrg(ctx, cfg, []string{"workloads", "sandbox"}, 4, memberRole)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, ctx: ctx, org: org, env: env, endpoint: proxy.URL}
	w.trail, err = audit.New(dynamodb.NewFromConfig(cfg), localrun.AuditTable, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{region, region2} {
		w.repos(hub, r, "shared/base", "apps/web", "private/hub")
		for _, a := range org.Accounts {
			w.repos(a.ID, r, "team/app", "other/thing")
		}
	}
	w.declaration = filepath.Join(t.TempDir(), "declaration.json")
	if err := os.WriteFile(w.declaration, []byte(declarationFor(org)), 0o644); err != nil {
		t.Fatal(err)
	}
	return w
}

// declarationFor is the test declaration: an organization-wide repository
// grant (condition mode) in the hub and every member, a registry grant in
// the hub that enumerates the workloads OU's accounts, and pull-through cache
// for every member, one rule of which caches from the hub (so members get
// the PTC role and the hub's upstream grant names them).
func declarationFor(org localrun.Org) string {
	return fmt.Sprintf(`{
  "hub": {"accountId": %q, "regions": [%q, %q], "partition": "aws", "organizationId": %q, "managementAccountId": "999999999999"},
  "memberRoleName": %q,
  "sidPrefix": "EcrWarden",
  "registryPolicyScope": {"allowSwitchToV2": false},
  "grants": [
    {"name": "org-pull", "repositories": ["shared/*", "team/*"], "access": "pull", "principals": {"organization": true},
     "placement": "repository", "principalMode": "condition", "registries": {"hub": true, "allMembers": true}},
    {"name": "workloads-apps", "repositories": ["apps/*"], "access": "pull", "principals": {"ous": [%q]},
     "placement": "registry", "principalMode": "enumerate", "registries": {"hub": true}}
  ],
  "pullThroughCache": {
    "members": {"all": true},
    "role": {"name": %q, "sourceAccountCondition": true, "sourceArnCondition": false},
    "rules": [
      {"prefix": "ecr-public", "upstreamRegistryUrl": "public.ecr.aws", "upstreamRegistry": "ecr-public"},
      {"prefix": "hub", "fromHub": true, "upstreamRepositoryPrefix": "shared"}
    ],
    "statementPrincipals": {"accountRoot": true, "roleNames": []},
    "upstreamGrantMode": "enumerate"
  },
  "sweep": {"schedule": "rate(6 hours)"}
}`, hub, region, region2, org.ID, memberRole, org.OU("workloads").Path, ptcRole)
}

func (w *world) cfg(account, r string) aws.Config {
	w.t.Helper()
	cfg, err := localrun.Config(w.ctx, srv.Config(r), hub, account, memberRole)
	if err != nil {
		w.t.Fatal(err)
	}
	return cfg
}

func (w *world) repos(account, r string, names ...string) {
	w.t.Helper()
	if err := localrun.CreateRepositories(w.ctx, w.cfg(account, r), names, 4); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) ecr(account, r string) *ecr.Client { return ecr.NewFromConfig(w.cfg(account, r)) }

// policy returns a repository's policy text ("" when none), read directly.
func (w *world) policy(account, r, name string) string {
	w.t.Helper()
	out, err := w.ecr(account, r).GetRepositoryPolicy(w.ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	var nf *ecrtypes.RepositoryPolicyNotFoundException
	if errors.As(err, &nf) {
		return ""
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.PolicyText)
}

func (w *world) registryPolicy(account, r string) string {
	w.t.Helper()
	out, err := w.ecr(account, r).GetRegistryPolicy(w.ctx, &ecr.GetRegistryPolicyInput{})
	var nf *ecrtypes.RegistryPolicyNotFoundException
	if errors.As(err, &nf) {
		return ""
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.PolicyText)
}

// start runs one function's real bootstrap, pointed at w.endpoint.
func (w *world) start(fn string, extra map[string]string) *lambdalocal.Instance {
	w.t.Helper()
	return w.startIn(fn, region, extra)
}

// startIn runs one function's real bootstrap as deployed in hub region r.
func (w *world) startIn(fn, r string, extra map[string]string) *lambdalocal.Instance {
	w.t.Helper()
	env := lab.Env(w.declaration)
	maps.Copy(env, w.env.Vars())
	env["AWS_ENDPOINT_URL"] = w.endpoint
	env["AWS_MAX_ATTEMPTS"] = "2"
	maps.Copy(env, extra)
	inst, err := lambdalocal.Start(w.ctx, lambdalocal.Function{Name: "ecr-warden-" + fn, Binary: lab.Binary(fn), Env: env, Region: r, Timeout: 3 * time.Minute, InitTimeout: 15 * time.Minute})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { inst.Close() })
	return inst
}

// backfill invokes the backfill function with payload and decodes its answer.
func (w *world) backfill(inst *lambdalocal.Instance, payload string) response {
	w.t.Helper()
	res, err := inst.Invoke(w.ctx, []byte(payload))
	if err != nil {
		w.t.Fatal(err)
	}
	if res.Err != nil {
		w.t.Fatalf("backfill failed: %v\nlogs:\n%s", res.Err, strings.Join(res.Logs, "\n"))
	}
	var r response
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		w.t.Fatalf("decoding %s: %v", res.Payload, err)
	}
	return r
}

// drain is the local fan-out: the queued units go to the worker binary in
// SQS events, as Lambda's event source mapping would deliver them.
func (w *world) drain(worker *lambdalocal.Instance) localrun.DrainResult {
	w.t.Helper()
	res, err := localrun.Drain(w.ctx, sqs.NewFromConfig(srv.Config(region)), w.env, region, worker, 10, 1, 20)
	if err != nil {
		w.t.Fatal(err)
	}
	return res
}

// runRecords are the audit records of one run, oldest first.
func (w *world) runRecords(runID string) []audit.Record {
	w.t.Helper()
	recs, err := w.trail.Window(w.ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		w.t.Fatal(err)
	}
	var out []audit.Record
	for _, r := range recs {
		if r.Trigger.EventID == runID {
			out = append(out, r)
		}
	}
	return out
}

// policyWrites counts ECR and IAM writes the functions made through the proxy.
func policyWrites() map[string]int {
	out := map[string]int{}
	for _, c := range proxy.Calls() {
		if (c.Service == "ecr" || c.Service == "iam" || c.Service == "ecr-public") && isWrite(c.Op) {
			out[c.Service+":"+c.Op]++
		}
	}
	return out
}

func isWrite(op string) bool {
	for _, p := range []string{"Set", "Put", "Delete", "Create", "Update", "Tag", "Untag"} {
		if strings.HasPrefix(op, p) {
			return true
		}
	}
	return false
}

type change struct{ Target, Op, Diff string }

func changesOf(plan []planned) []change {
	var out []change
	for _, p := range plan {
		out = append(out, change{p.Target, p.Op, p.Diff})
	}
	sortChanges(out)
	return out
}

func sortChanges(c []change) {
	sort.Slice(c, func(i, j int) bool {
		if c[i].Target != c[j].Target {
			return c[i].Target < c[j].Target
		}
		return c[i].Diff < c[j].Diff
	})
}

// TestDryRunThenRunThenConverged: the dry run writes nothing and returns
// the plan; the real run (fanned out through SQS to the worker) applies
// exactly that plan, visible in the audit trail; a second run is all no-ops
// with zero writes and at most one policy read per repository.
func TestDryRunThenRunThenConverged(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	bf := w.start("backfill", nil)
	worker := w.start("worker", nil)

	proxy.Reset()
	dry := w.backfill(bf, `{"action":"backfill","targets":{"all":true},"dryRun":true}`)
	if dry.Error != "" || dry.Units != 10 || dry.Accounts != 5 {
		t.Fatalf("dry run: want 10 units over 5 accounts (hub + 4 members x 2 regions), got %+v", dry)
	}
	if n := policyWrites(); len(n) != 0 {
		t.Fatalf("dry run wrote to AWS: %v", n)
	}
	if len(dry.Failures) != 0 || dry.Summary == nil || dry.Summary.Changed != 0 || dry.Summary.Planned != len(dry.Plan) {
		t.Fatalf("dry run summary: %+v failures %v", dry.Summary, dry.Failures)
	}
	if p := w.policy(w.org.Accounts[0].ID, region, "team/app"); p != "" {
		t.Fatalf("dry run left a policy behind: %s", p)
	}
	// The plan is readable: each entry says which statements are added.
	var sawRepo, sawHubRegistry bool
	for _, p := range dry.Plan {
		if strings.HasSuffix(p.Target, ":repository/team/app") && strings.Contains(p.Diff, `+ "EcrWardenOrgPull`) {
			sawRepo = true
		}
		if p.Target == policy.RegistryARN("aws", region, hub) && strings.Contains(p.Diff, "EcrWardenWorkloadsApps") {
			sawHubRegistry = true
		}
	}
	if !sawRepo || !sawHubRegistry {
		t.Fatalf("plan lacks the team/app repository grant or the hub's workloads grant:\n%s", planText(dry.Plan))
	}
	planned := w.runRecords(dry.RunID)
	if len(planned) == 0 {
		t.Fatal("dry run recorded nothing in the audit trail")
	}
	nPlanned := 0
	for _, r := range planned {
		switch r.Decision {
		case audit.DecisionPlanned:
			nPlanned++
			if !r.DryRun {
				t.Errorf("planned record %s not marked dryRun", r.Target.ARN)
			}
		case audit.DecisionSummary:
		default:
			t.Errorf("dry run recorded %s for %s", r.Decision, r.Target.ARN)
		}
	}
	if nPlanned != len(dry.Plan) {
		t.Fatalf("dry run: %d planned records, %d plan entries", nPlanned, len(dry.Plan))
	}

	// The real run fans out: one message per unit, the worker converges them.
	run := w.backfill(bf, `{"action":"backfill","targets":{"all":true}}`)
	if run.Queued != 10 || run.Summary != nil {
		t.Fatalf("real run: want 10 units queued and no inline summary, got %+v", run)
	}
	dr := w.drain(worker)
	if dr.Done != 10 || dr.Failures != 0 || dr.DeadLettered != 0 {
		t.Fatalf("drain: %+v", dr)
	}
	var applied []change
	validated := map[string]bool{}
	for _, r := range w.runRecords(run.RunID) {
		switch r.Decision {
		case audit.DecisionApplied:
			applied = append(applied, change{r.Target.ARN, r.Op, r.Diff})
		case audit.DecisionPTCValidated:
			// Every rule the unit wrote is validated right after (reconcile.validateWrittenRules).
			validated[r.Target.ARN] = true
		case audit.DecisionSummary:
		default:
			t.Errorf("real run recorded %s for %s: %s", r.Decision, r.Target.ARN, r.Error)
		}
	}
	sortChanges(applied)
	for _, a := range applied {
		if strings.Contains(a.Target, "/pull-through-cache-rule/") != validated[a.Target] {
			t.Errorf("%s: written, validated = %v; every written rule (and nothing else) is validated", a.Target, validated[a.Target])
		}
	}
	want := changesOf(dry.Plan)
	if !slices.Equal(applied, want) {
		t.Fatalf("the real run did not apply the dry run's plan\napplied %d:\n%v\nplanned %d:\n%v", len(applied), applied, len(want), want)
	}
	for _, a := range w.org.Accounts {
		for _, r := range []string{region, region2} {
			if p := w.policy(a.ID, r, "team/app"); !strings.Contains(p, "EcrWardenOrgPull") {
				t.Errorf("%s/%s team/app: %q", a.ID, r, p)
			}
			if p := w.policy(a.ID, r, "other/thing"); p != "" {
				t.Errorf("%s/%s other/thing got a policy no grant asks for: %s", a.ID, r, p)
			}
			if p := w.registryPolicy(a.ID, r); !strings.Contains(p, "ecr:BatchImportUpstreamImage") {
				t.Errorf("%s/%s registry policy lacks the PTC statement: %q", a.ID, r, p)
			}
		}
	}
	hubPolicy := w.registryPolicy(hub, region)
	for _, a := range w.org.Accounts {
		named := strings.Contains(hubPolicy, "arn:aws:iam::"+a.ID+":root")
		if !named {
			t.Errorf("hub registry policy does not name member %s (%s): %s", a.ID, a.OU, hubPolicy)
		}
	}

	// Converged: a second run reads and writes nothing it need not.
	proxy.Reset()
	again := w.backfill(bf, `{"action":"backfill","targets":{"all":true}}`)
	dr = w.drain(worker)
	if again.Queued != 10 || dr.Done != 10 || dr.Failures != 0 {
		t.Fatalf("second run: %+v drain %+v", again, dr)
	}
	if n := policyWrites(); len(n) != 0 {
		t.Fatalf("converged re-run wrote: %v", n)
	}
	repos := 2 * (3 + 4*2)
	if got := proxy.Count("ecr", "GetRepositoryPolicy"); got > repos {
		t.Fatalf("converged re-run read %d repository policies for %d repositories", got, repos)
	}
	// No record per unchanged document: one summary per unit counts them.
	summaries := 0
	for _, r := range w.runRecords(again.RunID) {
		if r.Decision != audit.DecisionSummary || r.Counts == nil || r.Counts.Examined == 0 || r.Counts.Unchanged != r.Counts.Examined {
			t.Errorf("second run: %s %s (%s) counts %+v", r.Decision, r.Target.ARN, r.Diff, r.Counts)
			continue
		}
		summaries++
	}
	if summaries != 10 {
		t.Errorf("second run: %d unit summaries, want 10", summaries)
	}
}

func planText(plan []planned) string {
	var b strings.Builder
	for _, p := range plan {
		fmt.Fprintf(&b, "%s %s\n%s\n", p.Op, p.Target, p.Diff)
	}
	return b.String()
}

// TestOneOU: a backfill of one OU queues and converges only its accounts.
func TestOneOU(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	bf := w.start("backfill", nil)
	worker := w.start("worker", nil)
	sandbox := w.org.OU("sandbox")
	proxy.Reset()
	run := w.backfill(bf, fmt.Sprintf(`{"action":"backfill","targets":{"ous":[%q]}}`, sandbox.ID))
	if run.Queued != 4 || run.Accounts != 2 {
		t.Fatalf("want 2 sandbox accounts x 2 regions queued, got %+v", run)
	}
	dr := w.drain(worker)
	if dr.Done != 4 || dr.Failures != 0 {
		t.Fatalf("drain: %+v", dr)
	}
	writers := map[string]bool{}
	for acct, ops := range proxy.CountsByAccount() {
		for op := range ops {
			if isWrite(op) && !strings.HasPrefix(op, "PutItem") && !strings.HasPrefix(op, "UpdateItem") && !strings.HasPrefix(op, "DeleteItem") && op != "SendMessageBatch" {
				writers[acct] = true
			}
		}
	}
	for _, a := range w.org.Accounts {
		has := w.policy(a.ID, region, "team/app") != ""
		if (a.OU == "sandbox") != has {
			t.Errorf("account %s (%s): policy present = %v", a.ID, a.OU, has)
		}
		if (a.OU == "sandbox") != writers[a.ID] {
			t.Errorf("account %s (%s): written = %v", a.ID, a.OU, writers[a.ID])
		}
	}
	if writers[hub] || w.policy(hub, region, "shared/base") != "" {
		t.Errorf("the hub is outside the OU but was written")
	}
}

// TestBadPayload: a bad payload is answered with the field at fault and no
// AWS call but its rejected audit record (an asynchronous invoke's bad
// payload leaves a trace).
func TestBadPayload(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	bf := w.start("backfill", nil)
	w.backfill(bf, `{"action":"backfill","targets":{"accounts":["x"]}}`) // finishes the cold start
	cases := map[string]string{
		`{"action":"backfill","targets":{"accounts":["222222222222","12"]}}`: "targets.accounts[1]",
		`{"action":"backfill","targets":{"all":true},"dryrun":true}`:         `unknown field "dryrun"`,
		`{"action":"backfill","targets":{"regions":["ap-south-1"]}}`:         "ap-south-1",
		`{"action":"sync","targets":{"all":true}}`:                           "action",
		`{"targets":{"all":true},"dryRun":true}`:                             "action: missing",
		`[1,2]`:                                                              "want an object",
		// Three mistakes, one answer naming all three paths.
		`{"action":"backfil","targets":{"al":true},"dryRun":"yes"}`: `action: "backfil" is not an action (did you mean "backfill"?); dryRun: is a string, want true or false; targets.al: unknown field "al" (did you mean "all"?)`,
	}
	for payload, want := range cases {
		proxy.Reset()
		r := w.backfill(bf, payload)
		if !strings.Contains(r.Error, want) {
			t.Errorf("%s: error %q does not name %q", payload, r.Error, want)
		}
		if calls := proxy.Calls(); len(calls) != 1 || calls[0].Service+":"+calls[0].Op != "dynamodb:PutItem" {
			t.Errorf("%s: made %d AWS calls (%v), want only the rejection's record", payload, len(calls), calls)
		}
	}
	// Problems of the payload and undeclared regions: one answer names
	// every one, with its path; nothing is written but the rejection.
	proxy.Reset()
	both := `{"action":"backfill","targets":{"regions":["ap-south-1","sa-east-1"],"acounts":["222222222222"]},"dryrun":true}`
	r := w.backfill(bf, both)
	wantAll := []string{`dryrun: unknown field "dryrun"`, `targets.acounts: unknown field "acounts" (did you mean "accounts"?)`,
		`targets.regions[0]: region "ap-south-1" is not in the declaration's hub.regions`, `targets.regions[1]: region "sa-east-1" is not in the declaration's hub.regions`}
	for _, want := range wantAll {
		if !strings.Contains(r.Error, want) {
			t.Errorf("%s: error %q does not name %q", both, r.Error, want)
		}
	}
	if calls := proxy.Calls(); len(calls) != 1 || calls[0].Service+":"+calls[0].Op != "dynamodb:PutItem" {
		t.Errorf("%s: made %d AWS calls (%v), want only the rejection's record", both, len(calls), calls)
	}
	recs, err := w.trail.Window(w.ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(recs, func(r audit.Record) bool {
		return r.Decision == audit.DecisionRejected && strings.HasPrefix(r.Error, "invalid-payload: ") && !slices.ContainsFunc(wantAll, func(w string) bool { return !strings.Contains(r.Error, w) })
	}) {
		t.Errorf("no rejected record (invalid-payload) naming every problem of %s", both)
	}
	for _, want := range cases {
		if !slices.ContainsFunc(recs, func(r audit.Record) bool {
			return r.Decision == audit.DecisionRejected && strings.Contains(r.Error, want)
		}) {
			t.Errorf("no rejected record naming %q", want)
		}
	}
}

// deleteRole deletes the member execution role in account, as a failed or
// removed StackSet instance leaves it: the local AWS, like AWS, then refuses
// ecr-warden's sts:AssumeRole into it with AccessDenied.
func (w *world) deleteRole(account string) {
	w.t.Helper()
	if _, err := iam.NewFromConfig(w.cfg(account, region)).DeleteRole(w.ctx, &iam.DeleteRoleInput{RoleName: aws.String(memberRole)}); err != nil {
		w.t.Fatalf("deleting %s in %s: %v", memberRole, account, err)
	}
}

// TestMemberRoleDenied: one member whose execution role was deleted (STS
// refuses it, AccessDenied) fails alone: the dry run reports it with the
// unassumable-member message (the role, the account, the member StackSet),
// the worker returns its units as batch item failures until SQS
// dead-letters them, and every other account converges.
func TestMemberRoleDenied(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	bad := w.org.Accounts[1].ID
	w.deleteRole(bad)
	bf := w.start("backfill", nil)
	worker := w.start("worker", nil)

	dry := w.backfill(bf, `{"action":"backfill","targets":{"all":true},"dryRun":true}`)
	if len(dry.Failures) != 2 {
		t.Fatalf("dry run: want the bad account's 2 units reported, got %+v", dry.Failures)
	}
	unassumable := "the execution role " + memberRole + " cannot be assumed in account " + bad
	for _, f := range dry.Failures {
		if f.Account != bad || !strings.Contains(f.Error, "AccessDenied") || !strings.Contains(f.Error, unassumable) ||
			!strings.Contains(f.Error, "member StackSet") {
			t.Errorf("dry-run failure %+v, want AccessDenied and %q naming the member StackSet", f, unassumable)
		}
	}
	if dry.Summary.Planned == 0 {
		t.Fatal("dry run planned nothing for the healthy accounts")
	}

	run := w.backfill(bf, `{"action":"backfill","targets":{"all":true}}`)
	dr := w.drain(worker)
	if run.Queued != 10 || dr.Done != 8 || dr.DeadLettered != 2 {
		t.Fatalf("want 8 units converged and the bad account's 2 dead-lettered, got queued %d, %+v", run.Queued, dr)
	}
	for _, body := range dr.DeadLetters {
		if !strings.Contains(body, `"account":"`+bad+`"`) {
			t.Errorf("dead letter of another account: %.200s", body)
		}
	}
	var logged bool
	for _, d := range dr.Deliveries {
		for _, l := range d.Result.Logs {
			if strings.Contains(l, "unit failed") && strings.Contains(l, bad) && strings.Contains(l, "AccessDenied") {
				logged = true
			}
		}
	}
	if !logged {
		t.Error("the worker's summary line for the failed unit is missing")
	}
	for _, a := range w.org.Accounts {
		has := w.policy(a.ID, region, "team/app") != ""
		if has == (a.ID == bad) {
			t.Errorf("account %s: policy present = %v", a.ID, has)
		}
	}
	if p := w.policy(hub, region, "shared/base"); p == "" {
		t.Error("the hub did not converge")
	}
}

// A real run without a work queue (make invoke on a local AWS) says how to
// run one locally instead.
func TestRealRunWithoutAQueueSaysHowToRunLocally(t *testing.T) {
	var h handler
	_, err := h.send(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "WARDEN_WORK_QUEUE_URL is not set") || !strings.Contains(err.Error(), "make backfill LOCAL=1 PAYLOAD=<file>") {
		t.Fatalf("send without a queue: %v", err)
	}
}
