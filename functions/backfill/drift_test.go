package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localrun"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// The drift function's integration tests live here because they start from
// an organization the backfill (through SQS and the worker) has converged.

// converged is a world after one real backfill.
func converged(t *testing.T) *world {
	t.Helper()
	w := newWorld(t)
	run := w.backfill(w.start("backfill", nil), `{"action":"backfill","targets":{"all":true}}`)
	if dr := w.drain(w.start("worker", nil)); dr.Done != run.Queued || dr.Failures != 0 {
		t.Fatalf("converging: %+v", dr)
	}
	return w
}

// event reads a sample event and moves it into this world: the sample's
// member (or hub) account becomes account, and optional extra pairs are
// replaced too.
func event(t *testing.T, file, from, account string, pairs ...string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../events/" + file)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), from, account)
	for i := 0; i+1 < len(pairs); i += 2 {
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return []byte(s)
}

type driftResponse struct {
	Target   string `json:"target"`
	Ignored  string `json:"ignored"`
	Rejected string `json:"rejected"`
	Actor    string `json:"actor"`
	Changed  int    `json:"changed"`
	Failed   int    `json:"failed"`
}

func (w *world) drift(inst *lambdalocal.Instance, ev []byte) driftResponse {
	w.t.Helper()
	res, err := inst.Invoke(w.ctx, ev)
	if err != nil {
		w.t.Fatal(err)
	}
	if res.Err != nil {
		w.t.Fatalf("drift failed: %v\n%s", res.Err, strings.Join(res.Logs, "\n"))
	}
	var r driftResponse
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		w.t.Fatal(err)
	}
	return r
}

func (w *world) last(arn string) audit.Record {
	w.t.Helper()
	recs, err := w.trail.History(w.ctx, arn, 1)
	if err != nil || len(recs) != 1 {
		w.t.Fatalf("history of %s: %v %v", arn, recs, err)
	}
	return recs[0]
}

// TestDriftRepositoryHandEdit: a hand edit that weakens the owned statement
// and adds a foreign one is repaired: the owned statement comes back, the
// foreign one stays, and the audit names the person who edited it.
func TestDriftRepositoryHandEdit(t *testing.T) {
	localaws.Need(t)
	w := converged(t)
	m := w.org.Accounts[0].ID
	edited := `{"Version":"2012-10-17","Statement":[` +
		`{"Sid":"EcrWardenOrgPullOrg","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage"},` +
		`{"Sid":"HandAdded","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:root"},"Action":"ecr:BatchGetImage"}]}`
	if _, err := w.ecr(m, region).SetRepositoryPolicy(w.ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("team/app"), PolicyText: aws.String(edited)}); err != nil {
		t.Fatal(err)
	}
	drift := w.start("drift", nil)
	proxy.Reset()
	r := w.drift(drift, event(t, "ecr-set-repository-policy.json", "111111111111", m, "shared/base", "team/app"))
	if r.Changed != 1 || r.Ignored != "" {
		t.Fatalf("want one repair, got %+v", r)
	}
	got := w.policy(m, region, "team/app")
	doc, err := policy.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	owned, foreign := policy.Split(doc, "EcrWarden")
	if len(owned) != 1 || len(owned[0].Action) != 3 || len(foreign) != 1 || foreign[0].Sid != "HandAdded" {
		t.Fatalf("repaired policy: %s", got)
	}
	rec := w.last(policy.RepositoryARN("aws", region, m, "team/app"))
	if rec.Decision != audit.DecisionApplied || rec.Actor.ARN != "arn:aws:iam::"+m+":user/jane.doe" || !strings.Contains(rec.Diff, "EcrWardenOrgPullOrg") {
		t.Fatalf("audit does not say who changed it: %+v", rec)
	}
	if n := policyWrites(); n["ecr:SetRepositoryPolicy"] != 1 || len(n) != 1 {
		t.Fatalf("writes: %v", n)
	}
	// The record keeps the editor (actor) apart from ecr-warden's own role
	// that reverted it (writer), and names the declaration by its SHA-256;
	// `make audit` prints all three.
	raw, err := os.ReadFile(w.declaration)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if rec.DeclarationSHA256 != hex.EncodeToString(sum[:]) || rec.Writer == "" || rec.Writer == rec.Actor.ARN {
		t.Fatalf("record lacks the writer or the declaration hash: writer %q hash %q", rec.Writer, rec.DeclarationSHA256)
	}
	var table strings.Builder
	if err := audit.WriteTable(&table, []audit.Record{rec}, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"applied", m + ":user/jane.doe", "SetRepositoryPolicy", "EcrWardenOrgPullOrg",
		"declaration sha256 " + hex.EncodeToString(sum[:])[:12]} {
		if !strings.Contains(table.String(), want) {
			t.Fatalf("make audit's table lacks %q:\n%s", want, table.String())
		}
	}
	t.Logf("make audit -v:\n%s", table.String())
}

// TestDriftOwnWrite: the event of ecr-warden's own write is recorded and
// never causes another write, even when the document is off.
func TestDriftOwnWrite(t *testing.T) {
	localaws.Need(t)
	w := converged(t)
	m := w.org.Accounts[0].ID
	hand := `{"Version":"2012-10-17","Statement":[{"Sid":"HandAdded","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::333333333333:root"},"Action":"ecr:BatchGetImage"}]}`
	if _, err := w.ecr(m, region).SetRepositoryPolicy(w.ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("team/app"), PolicyText: aws.String(hand)}); err != nil {
		t.Fatal(err)
	}
	drift := w.start("drift", map[string]string{"WARDEN_SELF_ROLE_NAMES": "EcrWardenHub-DriftFnRole, EcrWardenHub-WorkerFnRole"})
	proxy.Reset()
	r := w.drift(drift, event(t, "ecr-set-repository-policy-by-warden.json", "222222222222", m, "team-a/app", "team/app"))
	if !strings.Contains(r.Ignored, "own write") || r.Changed != 0 {
		t.Fatalf("own write not recognised: %+v", r)
	}
	if n := policyWrites(); len(n) != 0 {
		t.Fatalf("own write triggered writes: %v", n)
	}
	if proxy.Count("ecr", "GetRepositoryPolicy") != 0 {
		t.Fatal("own write was re-read")
	}
	if got := w.policy(m, region, "team/app"); got != hand {
		t.Fatalf("policy changed: %s", got)
	}
	rec := w.last(policy.RepositoryARN("aws", region, m, "team/app"))
	if rec.Decision != audit.DecisionNoop || !strings.Contains(rec.Error, "own write") || !strings.Contains(rec.Actor.ARN, "assumed-role/ecr-warden-execution/") {
		t.Fatalf("own write record: %+v", rec)
	}
	// Finding 5: own writes are recognised by full role ARN and account,
	// not by name. A role the member's administrator named like a hub
	// function's role, in the member, is not ecr-warden: its edit is
	// reverted. (Hub function roles are recognised only in the hub:
	// functions/backfill/public_test.go.)
	lookAlike := event(t, "ecr-set-repository-policy-by-warden.json", "222222222222", m, "team-a/app", "team/app", "ecr-warden-execution", "EcrWardenHub-WorkerFnRole")
	if r := w.drift(drift, lookAlike); r.Ignored != "" || r.Changed != 1 {
		t.Fatalf("look-alike hub role name in a member: %+v, want the edit reverted", r)
	}
	if got := w.policy(m, region, "team/app"); got == hand || !strings.Contains(got, "HandAdded") || !strings.Contains(got, "EcrWarden") {
		t.Fatalf("after the look-alike's edit: %s", got)
	}
	// An execution role under a path is not ecr-warden's either.
	if _, err := w.ecr(m, region).SetRepositoryPolicy(w.ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("team/app"), PolicyText: aws.String(hand)}); err != nil {
		t.Fatal(err)
	}
	withPath := event(t, "ecr-set-repository-policy-by-warden.json", "222222222222", m, "team-a/app", "team/app", ":role/ecr-warden-execution", ":role/team/ecr-warden-execution")
	if r := w.drift(drift, withPath); r.Ignored != "" || r.Changed != 1 {
		t.Fatalf("execution role under a path: %+v, want the edit reverted", r)
	}
}

// TestDriftRegistryAndRole: a deleted member registry policy and a deleted
// PTC role policy come back; a role ecr-warden does not manage is ignored.
func TestDriftRegistryAndRole(t *testing.T) {
	localaws.Need(t)
	w := converged(t)
	m := w.org.Accounts[2].ID
	before := w.registryPolicy(m, region)
	if _, err := w.ecr(m, region).DeleteRegistryPolicy(w.ctx, &ecr.DeleteRegistryPolicyInput{}); err != nil {
		t.Fatal(err)
	}
	im := iam.NewFromConfig(w.cfg(m, region))
	if _, err := im.DeleteRolePolicy(w.ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(ptcRole), PolicyName: aws.String(ptcRole)}); err != nil {
		t.Fatal(err)
	}
	drift := w.start("drift", nil)
	if r := w.drift(drift, event(t, "ecr-delete-registry-policy.json", "222222222222", m)); r.Changed != 1 {
		t.Fatalf("registry: %+v", r)
	}
	if after := w.registryPolicy(m, region); !policyEqual(t, before, after) {
		t.Fatalf("registry policy not restored:\n%s\nwant\n%s", after, before)
	}
	rec := w.last(policy.RegistryARN("aws", region, m))
	if rec.Decision != audit.DecisionApplied || !strings.Contains(rec.Actor.ARN, "AWSReservedSSO_AdministratorAccess") {
		t.Fatalf("registry audit: %+v", rec)
	}
	if r := w.drift(drift, event(t, "iam-delete-role-policy.json", "222222222222", m)); r.Changed != 1 {
		t.Fatalf("role: %+v", r)
	}
	if _, err := im.GetRolePolicy(w.ctx, &iam.GetRolePolicyInput{RoleName: aws.String(ptcRole), PolicyName: aws.String(ptcRole)}); err != nil {
		t.Fatalf("role policy not restored: %v", err)
	}
	proxy.Reset()
	other := event(t, "iam-delete-role-policy.json", "222222222222", m, `"roleName": "ecr-warden-ptc"`, `"roleName": "app-role"`)
	if r := w.drift(drift, other); !strings.Contains(r.Ignored, "not ecr-warden's pull-through-cache role") {
		t.Fatalf("foreign role: %+v", r)
	}
	if n := policyWrites(); len(n) != 0 {
		t.Fatalf("foreign role event wrote: %v", n)
	}
}

// TestDriftRoleWithoutUSEast1: IAM delivers its events in us-east-1 only;
// for a hub whose regions lack us-east-1, the members forward them to the
// primary region (infra: TestIAMEventsReachThePrimaryRegionWithoutUSEast1),
// whose drift function converges the PTC role from them.
func TestDriftRoleWithoutUSEast1(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	text, err := os.ReadFile(w.declaration)
	if err != nil {
		t.Fatal(err)
	}
	decl := strings.Replace(string(text), `"regions": ["`+region+`", "`+region2+`"]`, `"regions": ["`+region2+`"]`, 1)
	if decl == string(text) {
		t.Fatal("the test declaration's regions changed; update this test")
	}
	if err := os.WriteFile(w.declaration, []byte(decl), 0o644); err != nil {
		t.Fatal(err)
	}
	run := w.backfill(w.start("backfill", nil), `{"action":"backfill","targets":{"all":true}}`)
	if dr := w.drain(w.start("worker", nil)); dr.Done != run.Queued || dr.Failures != 0 {
		t.Fatalf("converging: %+v", dr)
	}
	m := w.org.Accounts[2].ID
	im := iam.NewFromConfig(w.cfg(m, region))
	if _, err := im.DeleteRolePolicy(w.ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(ptcRole), PolicyName: aws.String(ptcRole)}); err != nil {
		t.Fatal(err)
	}
	// The primary region's stack has its own audit and lease tables.
	db := dynamodb.NewFromConfig(srv.Config(region2))
	if err := audit.CreateTable(w.ctx, db, localrun.AuditTable); err != nil {
		t.Fatal(err)
	}
	if err := lease.CreateTable(w.ctx, db, localrun.LeaseTable); err != nil {
		t.Fatal(err)
	}
	drift := w.startIn("drift", region2, nil)
	proxy.Reset()
	ev := event(t, "iam-delete-role-policy.json", "222222222222", m)
	if !strings.Contains(string(ev), `"awsRegion": "us-east-1"`) {
		t.Fatal("the sample IAM event is not from us-east-1")
	}
	if r := w.drift(drift, ev); r.Changed != 1 || r.Rejected != "" || r.Ignored != "" {
		t.Fatalf("role drift in the primary region %s: %+v", region2, r)
	}
	if _, err := im.GetRolePolicy(w.ctx, &iam.GetRolePolicyInput{RoleName: aws.String(ptcRole), PolicyName: aws.String(ptcRole)}); err != nil {
		t.Fatalf("role policy not restored: %v", err)
	}
	if got := policyWrites(); len(got) != 1 || got["iam:PutRolePolicy"] != 1 {
		t.Errorf("writes %v, want the role policy only", got)
	}
}

func policyEqual(t *testing.T, a, b string) bool {
	t.Helper()
	da, err := policy.Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := policy.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(da)
	jb, _ := json.Marshal(db)
	return string(ja) == string(jb)
}

// TestSweepRepairsDrift: the schedule's event runs the same backfill over
// everything; the worker reports the drift it repaired and the audit
// records the repair as the sweep's.
func TestSweepRepairsDrift(t *testing.T) {
	localaws.Need(t)
	w := converged(t)
	m := w.org.Accounts[3].ID
	if _, err := w.ecr(m, region2).DeleteRepositoryPolicy(w.ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: aws.String("team/app")}); err != nil {
		t.Fatal(err)
	}
	sweep, err := os.ReadFile("../../events/scheduled-sweep.json")
	if err != nil {
		t.Fatal(err)
	}
	run := w.backfill(w.start("backfill", nil), string(sweep))
	if !run.Sweep || run.Queued != 10 || !strings.HasPrefix(run.RunID, "sweep-") {
		t.Fatalf("sweep: %+v", run)
	}
	dr := w.drain(w.start("worker", nil))
	repaired := 0
	for _, d := range dr.Deliveries {
		for _, l := range d.Result.Logs {
			var line struct {
				Message       string `json:"message"`
				DriftRepaired int    `json:"driftRepaired"`
			}
			if json.Unmarshal([]byte(l), &line) == nil && line.Message == "unit converged" {
				repaired += line.DriftRepaired
			}
		}
	}
	if dr.Done != 10 || repaired != 1 {
		t.Fatalf("want 1 repair reported over 10 units, got %d (%+v)", repaired, dr)
	}
	rec := w.last(policy.RepositoryARN("aws", region2, m, "team/app"))
	if rec.Decision != audit.DecisionApplied || rec.Trigger.EventType != "sweep" || rec.Trigger.EventID != run.RunID {
		t.Fatalf("repair record: %+v", rec)
	}
}
