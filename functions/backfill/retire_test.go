package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localrun"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// memberNarrowed is the example declaration configuring only the members of
// ouWork: 444444444444 (at the root) is configured by nothing any more.
func memberNarrowed(t *testing.T) *config.Declaration {
	return conditionDecl(t, func(raw map[string]any) {
		for _, g := range raw["grants"].([]any) {
			if r, ok := g.(map[string]any)["registries"].(map[string]any); ok && r["allMembers"] == true {
				delete(r, "allMembers")
				r["ous"] = []string{orgPath + ouWork + "/"}
			}
		}
		raw["pullThroughCache"].(map[string]any)["members"] = map[string]any{"ous": []string{orgPath + ouWork + "/"}}
	})
}

type fakeWalker struct{ walk inventory.WalkResult }

func (f fakeWalker) Walk(context.Context, inventory.WalkScope) (inventory.WalkResult, error) {
	return f.walk, nil
}

// fakeConverger plans every unit inline; refuse makes each dry unit refuse
// one document (what requireCleanPlan stops on).
type fakeConverger struct {
	mu     sync.Mutex
	units  []reconcile.Work
	refuse bool
}

func (f *fakeConverger) Converge(_ context.Context, _ reconcile.Cause, w reconcile.Work) (reconcile.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.units = append(f.units, w)
	if f.refuse && w.DryRun {
		return reconcile.Report{Examined: 1, Refused: 1, Errors: []string{"refused for the test"}}, nil
	}
	return reconcile.Report{Examined: 1, Unchanged: 1}, nil
}

type fakeQueue struct {
	sent []reconcile.Work
	fail error
}

func (f *fakeQueue) Send(_ context.Context, units []reconcile.Work) (int, error) {
	if f.fail != nil {
		return 0, f.fail
	}
	f.sent = append(f.sent, units...)
	return len(units), nil
}

// fakeMembers is the lease table's remembered members, per region.
type fakeMembers struct {
	sets    map[string][]string
	readErr map[string]error
	reads   int
	writes  map[string][]string
}

func (f *fakeMembers) Remembered(_ context.Context, region string) (lease.Remembered, error) {
	f.reads++
	if err := f.readErr[region]; err != nil {
		return lease.Remembered{}, err
	}
	ids, ok := f.sets[region]
	return lease.Remembered{Found: ok, Accounts: ids}, nil
}

func (f *fakeMembers) Remember(_ context.Context, region string, _ lease.Remembered, accounts []string) error {
	if f.writes == nil {
		f.writes = map[string][]string{}
	}
	f.writes[region] = slices.Clone(accounts)
	return nil
}

// retireHandler is a backfill of d over the example organization, whose
// last full run remembered every member of declaration A in both regions
// (plus the hub, the management account, a suspended member and one that
// left, none of which is ever retired).
func retireHandler(d *config.Declaration, remembered bool) (*handler, *fakeConverger, *fakeQueue, *fakeMembers) {
	c, q := &fakeConverger{}, &fakeQueue{}
	m := &fakeMembers{sets: map[string][]string{}}
	if remembered {
		last := []string{exampleHb, "222222222222", "333333333333", "444444444444", "555555555555", "666666666666", "999999999999"}
		m.sets = map[string][]string{"us-east-1": last, "eu-west-1": last}
	}
	h := &handler{decl: d, engine: c, org: fakeWalker{exampleWalk()}, queue: q, members: m,
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now}
	return h, c, q, m
}

func (h *handler) run(t *testing.T, payload string) (response, error) {
	t.Helper()
	return h.handle(context.Background(), json.RawMessage(payload))
}

// retired lists the retire units as account/region, checking that each
// converges its member to nothing configured: marked, its own account
// alone, no role.
func retired(t *testing.T, units []reconcile.Work) []string {
	t.Helper()
	var out []string
	for _, u := range units {
		if !u.Retired {
			continue
		}
		if u.Role || u.Moved || len(u.Accounts) != 1 || u.Accounts[0].ID != u.Account {
			t.Errorf("retire unit %s/%s: %+v, want its own account alone and no role", u.Account, u.Region, u)
		}
		out = append(out, u.Account+"/"+u.Region)
	}
	return out
}

// A full run retires the members its last full run configured and the
// declaration configures nothing in now, in every region, and only them:
// not a member that left the organization, a suspended one, the hub or the
// management account. The set is replaced after the units are sent. The
// first run retires nothing and writes the set; a run scoped to accounts
// neither reads nor writes it.
func TestFullRunRetiresMembersTheDeclarationNoLongerConfigures(t *testing.T) {
	all := []string{"222222222222", "333333333333", "444444444444"}
	h, _, q, m := retireHandler(exampleDecl(t), false)
	resp, err := h.run(t, `{"action":"backfill","targets":{"all":true}}`)
	if err != nil || len(resp.Retired) != 0 || len(retired(t, q.sent)) != 0 {
		t.Fatalf("first run: %+v, %v; want nothing retired", resp, err)
	}
	if !slices.Equal(m.writes["us-east-1"], all) || !slices.Equal(m.writes["eu-west-1"], all) {
		t.Errorf("first run remembered %v, want %v in both regions", m.writes, all)
	}

	h, _, q, m = retireHandler(memberNarrowed(t), true)
	resp, err = h.run(t, `{"action":"backfill","targets":{"all":true}}`)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := retired(t, q.sent), []string{"444444444444/us-east-1", "444444444444/eu-west-1"}; !slices.Equal(got, want) {
		t.Errorf("retire units %v, want %v", got, want)
	}
	if !slices.Equal(resp.Retired, []string{"444444444444"}) || resp.Units != len(q.sent) || resp.Queued != len(q.sent) {
		t.Errorf("answer %+v; want 444444444444 retired and every unit counted", resp)
	}
	if slices.ContainsFunc(resp.Skipped, func(s skipped) bool { return s.Account == "444444444444" }) {
		t.Errorf("the retired member is also reported skipped: %v", resp.Skipped)
	}
	// The suspended member (555555555555) is not retired, and it is kept:
	// reopened (an account can be, within 90 days of its closure) after an
	// edit that leaves it configured by nothing, it is retired then. The
	// one that left (666666666666) and the hub and management account are
	// not.
	if want := []string{"222222222222", "333333333333", "555555555555"}; !slices.Equal(m.writes["us-east-1"], want) || !slices.Equal(m.writes["eu-west-1"], want) {
		t.Errorf("remembered %v, want %v in both regions", m.writes, want)
	}

	h, _, q, m = retireHandler(memberNarrowed(t), true)
	if r, err := h.run(t, `{"action":"backfill","targets":{"accounts":["333333333333"]}}`); err != nil || r.Error != "" {
		t.Fatal(r.Error, err)
	}
	if m.reads != 0 || len(m.writes) != 0 || len(retired(t, q.sent)) != 0 {
		t.Errorf("a scoped run read the set %d times, wrote %v, retired %v; want none", m.reads, m.writes, retired(t, q.sent))
	}
	// A run naming a member the declaration configures nothing in retires
	// it, without the set: the runbook's way back for a retire unit that
	// was dead-lettered (the work queue takes no redrive, and the next full
	// run no longer remembers the member). A member named only through its
	// OU is skipped as before.
	h, _, q, m = retireHandler(memberNarrowed(t), true)
	r, err := h.run(t, `{"action":"backfill","targets":{"accounts":["444444444444"]}}`)
	if err != nil || r.Error != "" {
		t.Fatal(r.Error, err)
	}
	if got, want := retired(t, q.sent), []string{"444444444444/us-east-1", "444444444444/eu-west-1"}; !slices.Equal(got, want) || !slices.Equal(r.Retired, []string{"444444444444"}) {
		t.Errorf("a run naming an unconfigured member retired %v (answer %v), want %v", got, r.Retired, want)
	}
	if slices.ContainsFunc(r.Skipped, func(s skipped) bool { return s.Account == "444444444444" }) || m.reads != 0 || len(m.writes) != 0 {
		t.Errorf("a run naming an unconfigured member skipped it (%v), or read (%d) or wrote (%v) the set", r.Skipped, m.reads, m.writes)
	}
	h, _, q, m = retireHandler(memberNarrowed(t), true)
	if r, err := h.run(t, `{"action":"backfill","targets":{"repositories":["team-a/*"]}}`); err != nil || r.Error != "" {
		t.Fatal(r.Error, err)
	}
	if m.reads != 0 || len(m.writes) != 0 || len(retired(t, q.sent)) != 0 {
		t.Errorf("a run scoped to repositories read the set %d times, wrote %v, retired %v; want none", m.reads, m.writes, retired(t, q.sent))
	}
	h, _, q, m = retireHandler(memberNarrowed(t), true)
	if r, err := h.run(t, `{"action":"backfill","targets":{"regions":["eu-west-1"]}}`); err != nil || r.Error != "" {
		t.Fatal(r.Error, err)
	}
	if got := retired(t, q.sent); !slices.Equal(got, []string{"444444444444/eu-west-1"}) || len(m.writes) != 1 || m.writes["eu-west-1"] == nil {
		t.Errorf("a run of one region retired %v and wrote %v; want that region's only", got, m.writes)
	}
}

// A dry run plans the retirements (the plan and the answer show them) and
// writes nothing; a run that fails to send keeps the old set, so the next
// run retires again.
func TestRetirementIsPlannedByADryRunAndRetriedAfterAFailedSend(t *testing.T) {
	h, c, q, m := retireHandler(memberNarrowed(t), true)
	resp, err := h.run(t, `{"action":"backfill","targets":{"all":true},"dryRun":true}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := retired(t, c.units); !slices.Equal(got, []string{"444444444444/us-east-1", "444444444444/eu-west-1"}) || !slices.Equal(resp.Retired, []string{"444444444444"}) {
		t.Errorf("dry run planned retire units %v, answered retired %v; want 444444444444 in both regions", got, resp.Retired)
	}
	for _, u := range c.units {
		if !u.DryRun {
			t.Errorf("dry run converged %s/%s for real", u.Account, u.Region)
		}
	}
	if len(m.writes) != 0 || len(q.sent) != 0 {
		t.Errorf("dry run wrote %v and sent %d units", m.writes, len(q.sent))
	}

	h, _, q, m = retireHandler(memberNarrowed(t), true)
	q.fail = errors.New("sqs down")
	if _, err := h.run(t, `{"action":"backfill","targets":{"all":true}}`); err == nil || !strings.Contains(err.Error(), "sqs down") {
		t.Fatalf("a failed send: %v, want the invocation failed", err)
	}
	if len(m.writes) != 0 {
		t.Errorf("a run that failed to send replaced the set: %v", m.writes)
	}
}

// A region whose set cannot be read retires nothing there and keeps its
// set; every other unit goes out, and the invocation fails saying so.
// requireCleanPlan's refusal still sends the retire units (they only
// revoke) and replaces the set.
func TestRetirementWhenTheSetCannotBeReadOrThePlanIsRefused(t *testing.T) {
	h, _, q, m := retireHandler(memberNarrowed(t), true)
	m.readErr = map[string]error{"eu-west-1": errors.New("dynamodb throttled")}
	_, err := h.run(t, `{"action":"backfill","targets":{"all":true}}`)
	if err == nil || !strings.Contains(err.Error(), "dynamodb throttled") || !strings.Contains(err.Error(), "not retired") {
		t.Errorf("unreadable set: %v, want the invocation failed naming it", err)
	}
	if got := retired(t, q.sent); !slices.Equal(got, []string{"444444444444/us-east-1"}) {
		t.Errorf("retire units %v, want only the readable region's", got)
	}
	if len(q.sent) != 7 || len(m.writes) != 1 || m.writes["us-east-1"] == nil {
		t.Errorf("sent %d units (want 6 and one retirement), remembered %v (want us-east-1 only)", len(q.sent), m.writes)
	}

	h, c, q, m := retireHandler(memberNarrowed(t), true)
	c.refuse = true
	_, err = h.run(t, `{"action":"backfill","targets":{"all":true},"requireCleanPlan":true}`)
	if err == nil || !strings.Contains(err.Error(), "revocations only were queued") {
		t.Fatalf("refused plan: %v", err)
	}
	if got := retired(t, q.sent); !slices.Equal(got, []string{"444444444444/us-east-1", "444444444444/eu-west-1"}) {
		t.Errorf("a refused plan sent retire units %v, want both", got)
	}
	for _, u := range q.sent {
		if !u.RevokeOnly {
			t.Errorf("unit %s/%s sent without revokeOnly", u.Account, u.Region)
		}
	}
	if len(m.writes) != 2 {
		t.Errorf("a refused plan's revocations went out, but the set was not replaced: %v", m.writes)
	}
}

// retireWorld is the test organization after a full run of the test
// declaration (an organization-wide pull grant in every member's team/*
// repositories, pull-through cache in every member), with a foreign
// statement beside ecr-warden's in one sandbox member's team/app policy and
// registry policy. narrowed is the declaration edited to configure only the
// workloads OU's members: the sandbox members are configured by nothing.
func retireWorld(t *testing.T) (w *world, sandbox []string, foreignRepo, foreignRegistry, narrowed string) {
	t.Helper()
	w = newWorld(t)
	for _, a := range w.org.Accounts {
		if a.OU == "sandbox" {
			sandbox = append(sandbox, a.ID)
		}
	}
	slices.Sort(sandbox)
	m := sandbox[0]
	foreignRepo = `{"Sid":"KeepMe","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"ecr:BatchGetImage"}`
	foreignRegistry = `{"Sid":"Replication","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:` + m + `:repository/*"}`
	if _, err := w.ecr(m, region).SetRepositoryPolicy(w.ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("team/app"),
		PolicyText: aws.String(`{"Version":"2012-10-17","Statement":[` + foreignRepo + `]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.ecr(m, region).PutRegistryPolicy(w.ctx, &ecr.PutRegistryPolicyInput{
		PolicyText: aws.String(`{"Version":"2012-10-17","Statement":[` + foreignRegistry + `]}`)}); err != nil {
		t.Fatal(err)
	}
	run := w.backfill(w.start("backfill", nil), `{"action":"backfill","targets":{"all":true}}`)
	if d := w.drain(w.start("worker", nil)); run.Queued != 10 || d.Done != 10 || d.Failures != 0 {
		t.Fatalf("declaration A: queued %d, drain %+v", run.Queued, d)
	}
	if p := w.policy(m, region, "team/app"); !strings.Contains(p, "EcrWardenOrgPull") || !strings.Contains(p, foreignRepo) {
		t.Fatalf("setup: %s team/app after declaration A: %s", m, p)
	}
	if p := w.registryPolicy(m, region); !strings.Contains(p, "ecr:BatchImportUpstreamImage") || !strings.Contains(p, foreignRegistry) {
		t.Fatalf("setup: %s registry policy after declaration A: %s", m, p)
	}
	workloads := w.org.OU("workloads").Path
	decl := declarationFor(w.org)
	for old, repl := range map[string]string{
		`"registries": {"hub": true, "allMembers": true}`: `"registries": {"hub": true, "ous": ["` + workloads + `"]}`,
		`"members": {"all": true}`:                        `"members": {"ous": ["` + workloads + `"]}`,
	} {
		if !strings.Contains(decl, old) {
			t.Fatalf("the test declaration has no %s", old)
		}
		decl = strings.Replace(decl, old, repl, 1)
	}
	narrowed = filepath.Join(t.TempDir(), "narrowed.json")
	if err := os.WriteFile(narrowed, []byte(decl), 0o644); err != nil {
		t.Fatal(err)
	}
	return w, sandbox, foreignRepo, foreignRegistry, narrowed
}

// remembered is what the lease table holds of r's configured members.
func (w *world) remembered(r string) lease.Remembered {
	w.t.Helper()
	l, err := lease.New(dynamodb.NewFromConfig(srv.Config(region)), localrun.LeaseTable, lease.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	got, err := l.Remembered(w.ctx, r)
	if err != nil {
		w.t.Fatal(err)
	}
	return got
}

// statementsIn counts a policy's statements.
func statementsIn(t *testing.T, text string) int {
	t.Helper()
	var doc struct{ Statement []json.RawMessage }
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("%v: %s", err, text)
	}
	return len(doc.Statement)
}

// TestADeclarationEditRetiresMembersItNoLongerConfigures: declaration A
// grants organization-wide pull in every member's team/* repositories; the
// edit to B configures nothing in the sandbox OU's members. B's dry run
// lists their retirement and writes nothing; B's full run removes every
// statement ecr-warden owns in their repository and registry policies,
// foreign statements kept byte for byte and a policy whose only statements
// were ecr-warden's deleted, records each removal and a unit summary
// saying why, and leaves their pull-through-cache rules. The next run
// retires nothing more.
func TestADeclarationEditRetiresMembersItNoLongerConfigures(t *testing.T) {
	localaws.Need(t)
	w, sandbox, foreignRepo, foreignRegistry, narrowed := retireWorld(t)
	m := sandbox[0]
	var workloads []string
	for _, a := range w.org.Accounts {
		if a.OU == "workloads" {
			workloads = append(workloads, a.ID)
		}
	}
	slices.Sort(workloads)
	if got := w.remembered(region).Accounts; !slices.Equal(got, slices.Sorted(slices.Values(append(slices.Clone(workloads), sandbox...)))) {
		t.Fatalf("declaration A's run remembered %v, want every member", got)
	}
	w.declaration = narrowed
	bf, worker := w.start("backfill", nil), w.start("worker", nil)

	proxy.Reset()
	dry := w.backfill(bf, `{"action":"backfill","targets":{"all":true},"dryRun":true}`)
	if !slices.Equal(dry.Retired, sandbox) || dry.Units != 10 {
		t.Fatalf("dry run: retired %v over %d units, want %v (2 regions each) among 10 units", dry.Retired, dry.Units, sandbox)
	}
	if n := policyWrites(); len(n) != 0 {
		t.Fatalf("dry run wrote: %v", n)
	}
	if got := w.remembered(region).Accounts; len(got) != 4 {
		t.Fatalf("dry run replaced the remembered members: %v", got)
	}
	if !slices.ContainsFunc(dry.Plan, func(p planned) bool {
		return strings.HasSuffix(p.Target, m+":repository/team/app") && strings.Contains(p.Diff, `- "EcrWardenOrgPull`)
	}) {
		t.Errorf("dry run plan lacks the removal from %s team/app:\n%s", m, planText(dry.Plan))
	}

	run := w.backfill(bf, `{"action":"backfill","targets":{"all":true}}`)
	if !slices.Equal(run.Retired, sandbox) || run.Queued != 10 {
		t.Fatalf("real run: %+v, want %v retired and 10 units queued (hub, workloads, retirements: 2 regions each)", run, sandbox)
	}
	if d := w.drain(worker); d.Done != 10 || d.Failures != 0 || d.DeadLettered != 0 {
		t.Fatalf("drain: %+v", d)
	}
	if p := w.policy(m, region, "team/app"); statementsIn(t, p) != 1 || !strings.Contains(p, foreignRepo) {
		t.Errorf("%s team/app after the retirement: want only the foreign statement, byte for byte, got:\n%s", m, p)
	}
	if p := w.registryPolicy(m, region); statementsIn(t, p) != 1 || !strings.Contains(p, foreignRegistry) {
		t.Errorf("%s registry policy after the retirement: want only the foreign statement, got:\n%s", m, p)
	}
	for _, a := range sandbox {
		for _, r := range []string{region, region2} {
			if a == m && r == region {
				continue
			}
			if p := w.policy(a, r, "team/app"); p != "" {
				t.Errorf("%s/%s team/app: its only statement was ecr-warden's, so the policy goes; got:\n%s", a, r, p)
			}
			if p := w.registryPolicy(a, r); p != "" {
				t.Errorf("%s/%s registry policy: want none, got:\n%s", a, r, p)
			}
		}
	}
	for _, a := range workloads {
		if p := w.policy(a, region, "team/app"); !strings.Contains(p, "EcrWardenOrgPull") {
			t.Errorf("%s (still configured) lost its grant: %s", a, p)
		}
	}
	if rules, err := w.ecr(m, region).DescribePullThroughCacheRules(w.ctx, &ecr.DescribePullThroughCacheRulesInput{}); err != nil || len(rules.PullThroughCacheRules) == 0 {
		t.Errorf("the retirement deleted %s's pull-through-cache rules (%v); only retiredPrefixes deletes rules", m, err)
	}
	var removed bool
	var why string
	for _, r := range w.runRecords(run.RunID) {
		if r.Decision == audit.DecisionApplied && r.Target.ARN == "arn:aws:ecr:"+region+":"+m+":repository/team/app" && strings.Contains(r.Diff, "EcrWardenOrgPull") {
			removed = true
		}
		if r.Decision == audit.DecisionSummary && r.Target.ARN == audit.UnitARN(m, region) && r.Counts != nil {
			why = r.Counts.Why
			if r.Error != "" || r.Counts.Changed != 2 {
				t.Errorf("retire unit summary: %+v, want 2 changed (team/app, the registry policy), no error", r)
			}
		}
	}
	if !removed {
		t.Errorf("no applied record of the removal from %s team/app in run %s", m, run.RunID)
	}
	if !strings.Contains(why, "no longer configured by the declaration") {
		t.Errorf("retire unit summary says why %q; want it to say the account is no longer configured by the declaration", why)
	}
	if got := w.remembered(region).Accounts; !slices.Equal(got, workloads) {
		t.Errorf("after B's run the remembered members are %v, want %v", got, workloads)
	}

	again := w.backfill(bf, `{"action":"backfill","targets":{"all":true}}`)
	if len(again.Retired) != 0 || again.Queued != 6 {
		t.Errorf("the next run: %+v, want nothing retired and 6 units", again)
	}
	w.drain(worker)
}

// A run that fails to send keeps the remembered members, so the next run
// retires them; a member whose execution role is already gone (the
// StackSet removed it first) is left in place, said in the unit's summary,
// and not retried.
func TestARetirementIsRetriedAfterAFailedSendAndLeftInPlaceWithoutTheRole(t *testing.T) {
	localaws.Need(t)
	w, sandbox, _, _, narrowed := retireWorld(t)
	m := sandbox[0]
	before := w.policy(m, region, "team/app")
	w.declaration = narrowed
	w.deleteRole(m)
	bf, worker := w.start("backfill", nil), w.start("worker", nil)

	proxy.Inject("SendMessageBatch", localaws.APIError(400, "AccessDenied", "not authorized to perform: sqs:SendMessage", 50))
	res, err := bf.Invoke(w.ctx, []byte(`{"action":"backfill","targets":{"all":true}}`))
	proxy.Reset()
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil {
		t.Fatalf("a run that could not send answered %s", res.Payload)
	}
	if got := w.remembered(region).Accounts; len(got) != 4 {
		t.Fatalf("a run that failed to send replaced the remembered members: %v", got)
	}

	run := w.backfill(bf, `{"action":"backfill","targets":{"all":true}}`)
	if !slices.Equal(run.Retired, sandbox) {
		t.Fatalf("the run after a failed send retired %v, want %v", run.Retired, sandbox)
	}
	d := w.drain(worker)
	if d.Done != 10 || d.Failures != 0 || d.DeadLettered != 0 {
		t.Fatalf("drain: %+v; a member whose role is gone is left in place, not retried", d)
	}
	if got := w.policy(m, region, "team/app"); got != before {
		t.Errorf("%s team/app changed although its role could not be assumed:\n%s", m, got)
	}
	if p := w.policy(sandbox[1], region, "team/app"); p != "" {
		t.Errorf("%s (role there) was not retired: %s", sandbox[1], p)
	}
	var said string
	for _, r := range w.runRecords(run.RunID) {
		if r.Decision == audit.DecisionSummary && r.Target.ARN == audit.UnitARN(m, region) {
			said = r.Error
		}
	}
	for _, want := range []string{"left in place", "is no longer configured by the declaration", memberRole, "EcrWarden", "AccessDenied"} {
		if !strings.Contains(said, want) {
			t.Errorf("unit summary %q does not say %q", said, want)
		}
	}
}
