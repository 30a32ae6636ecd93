package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// TestCreatedRoleIsAddedBackByItsEvent: a member lacks the role the
// declaration names in every PTC member's registry statements, so the
// backfill writes its registry policy without it (AWS would refuse the whole
// document) and records principal-missing. Then the member creates the role:
// its IAM CreateRole event, delivered to the drift function, converges that
// member's registry policy in every hub region (IAM is global; the event
// arrives once), so the role is in the policy at once, not at the next sweep.
// No other registry is written, and a CreateRole of a role nobody declares
// writes nothing.
func TestCreatedRoleIsAddedBackByItsEvent(t *testing.T) {
	localaws.Need(t)
	const puller = "ci-puller"
	w := newWorld(t)
	text, err := os.ReadFile(w.declaration)
	if err != nil {
		t.Fatal(err)
	}
	decl := strings.Replace(string(text), `"roleNames": []`, `"roleNames": ["`+puller+`"]`, 1)
	if err := os.WriteFile(w.declaration, []byte(decl), 0o644); err != nil {
		t.Fatal(err)
	}
	m := w.org.Accounts[1].ID
	for _, a := range w.org.Accounts {
		if a.ID != m {
			if err := localaws.CreateRole(w.ctx, w.cfg(a.ID, region), puller); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := w.backfill(w.start("backfill", nil), `{"action":"backfill","targets":{"all":true}}`)
	if dr := w.drain(w.start("worker", nil)); dr.Done != run.Queued || dr.Failures != 0 {
		t.Fatalf("backfill: %+v", dr)
	}
	roleARN := "arn:aws:iam::" + m + ":role/" + puller
	for _, r := range []string{region, region2} {
		text := w.registryPolicy(m, r)
		if text == "" || strings.Contains(text, roleARN) {
			t.Fatalf("%s: member registry policy should be written without the missing role:\n%s", r, text)
		}
		found := false
		recs, err := w.trail.History(w.ctx, policy.RegistryARN("aws", r, m), 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range recs {
			found = found || (rec.Decision == audit.DecisionPrincipalMissing && strings.Contains(rec.Error, roleARN))
		}
		if !found {
			t.Fatalf("%s: no principal-missing record naming %s: %+v", r, roleARN, recs)
		}
	}

	// The member creates the role; CloudTrail reports CreateRole in us-east-1.
	if err := localaws.CreateRole(w.ctx, w.cfg(m, region), puller); err != nil {
		t.Fatal(err)
	}
	drift := w.start("drift", nil)
	proxy.Reset()
	ev := event(t, "iam-create-role.json", "333333333333", m, "security-scanner", puller)
	r := w.drift(drift, ev)
	if r.Ignored != "" || r.Rejected != "" || r.Failed != 0 || r.Changed != 2 {
		t.Fatalf("CreateRole event: %+v, want the member's registry policy changed in both regions", r)
	}
	for _, rg := range []string{region, region2} {
		st := statementsOf(t, w.registryPolicy(m, rg))
		n := 0
		for sid, s := range st {
			if strings.HasPrefix(sid, "EcrWardenPtc") {
				n++
				if !slices.Contains([]string(s.Principal.AWS), roleARN) || !slices.Contains([]string(s.Principal.AWS), "arn:aws:iam::"+m+":root") {
					t.Errorf("%s: %s principals %v, want the root and the created role", rg, sid, s.Principal.AWS)
				}
			}
		}
		if n == 0 {
			t.Errorf("%s: no PTC statement in the member registry policy", rg)
		}
		rec := w.last(policy.RegistryARN("aws", rg, m))
		if rec.Decision != audit.DecisionApplied || !strings.Contains(rec.Diff, roleARN) || !strings.Contains(rec.Actor.ARN, "ops-cleanup") {
			t.Errorf("%s: last record %+v, want applied, adding the role, by the role's creator", rg, rec)
		}
	}
	if got := policyWrites(); len(got) != 1 || got["ecr:PutRegistryPolicy"] != 2 {
		t.Errorf("writes %v, want exactly the member's two registry policies", got)
	}

	// A role nobody declares: recorded as ignored, nothing written.
	proxy.Reset()
	other := event(t, "iam-create-role.json", "333333333333", m, "security-scanner", "app-role")
	if r := w.drift(drift, other); !strings.Contains(r.Ignored, "app-role") || r.Changed != 0 {
		t.Fatalf("undeclared role: %+v", r)
	}
	if got := policyWrites(); len(got) != 0 {
		t.Fatalf("undeclared role's event wrote %v", got)
	}
}

// statementsOf parses a policy and returns its statements by Sid.
func statementsOf(t *testing.T, text string) map[string]policy.Statement {
	t.Helper()
	doc, err := policy.Parse(text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	out := map[string]policy.Statement{}
	for _, s := range doc.Statements {
		out[s.Sid] = s
	}
	return out
}

// TestCreatedRoleHandsItsRegistriesToTheWorker: a repository grant in one
// member's registry names a role that does not exist yet, so the backfill
// writes that member's repository policies without it. When the member
// creates the role, its CreateRole event does not converge whole registries
// inside the drift function (thousands of repositories can outlast its
// timeout): it queues one unit per hub region, and the worker adds the role
// to the repository policies the grant selects, under the event as the cause.
func TestCreatedRoleHandsItsRegistriesToTheWorker(t *testing.T) {
	localaws.Need(t)
	const pusher = "ci-pusher"
	w := newWorld(t)
	m := w.org.Accounts[1].ID
	roleARN := "arn:aws:iam::" + m + ":role/" + pusher
	text, err := os.ReadFile(w.declaration)
	if err != nil {
		t.Fatal(err)
	}
	grant := `{"name": "ci-push", "repositories": ["team/*"], "access": "push", "principals": {"roles": ["` + roleARN + `"]},
     "placement": "repository", "registries": {"accounts": ["` + m + `"]}},
    {"name": "org-pull",`
	decl := strings.Replace(string(text), `{"name": "org-pull",`, grant, 1)
	if err := os.WriteFile(w.declaration, []byte(decl), 0o644); err != nil {
		t.Fatal(err)
	}
	run := w.backfill(w.start("backfill", nil), `{"action":"backfill","targets":{"all":true}}`)
	if dr := w.drain(w.start("worker", nil)); dr.Done != run.Queued || dr.Failures != 0 {
		t.Fatalf("backfill: %+v", dr)
	}
	for _, r := range []string{region, region2} {
		if p := w.policy(m, r, "team/app"); p == "" || strings.Contains(p, roleARN) {
			t.Fatalf("%s: team/app should be written without the missing role:\n%s", r, p)
		}
	}

	if err := localaws.CreateRole(w.ctx, w.cfg(m, region), pusher); err != nil {
		t.Fatal(err)
	}
	proxy.Reset()
	ev := event(t, "iam-create-role.json", "333333333333", m, "security-scanner", pusher)
	if r := w.drift(w.start("drift", nil), ev); r.Ignored != "" || r.Rejected != "" || r.Failed != 0 {
		t.Fatalf("CreateRole event: %+v", r)
	}
	if got := policyWrites(); len(got) != 0 {
		t.Fatalf("the drift function wrote %v itself, want the registries handed to the worker", got)
	}
	dr := w.drain(w.start("worker", nil))
	if dr.Done != 2 || dr.Failures != 0 {
		t.Fatalf("worker drained %+v, want the member's 2 units (one per hub region)", dr)
	}
	var evID string
	var env struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(ev, &env); err == nil {
		evID = env.ID
	}
	for _, r := range []string{region, region2} {
		if p := w.policy(m, r, "team/app"); !strings.Contains(p, roleARN) {
			t.Errorf("%s: team/app policy does not name the created role:\n%s", r, p)
		}
		if p := w.policy(m, r, "other/thing"); strings.Contains(p, roleARN) {
			t.Errorf("%s: other/thing names the role, which its grant does not select:\n%s", r, p)
		}
		rec := w.last(policy.RepositoryARN("aws", r, m, "team/app"))
		if rec.Decision != audit.DecisionApplied || rec.Trigger.EventID != evID || !strings.Contains(rec.Diff, roleARN) {
			t.Errorf("%s: last record of team/app %+v, want applied under the CreateRole event %s", r, rec, evID)
		}
	}
}

// TestExecutionRoleCreatedConvergesItsMember: a member the declaration
// configures gets ecr-warden's execution role from the member StackSet after
// the deploy's backfill ran (the Members stack deploys after the primary
// hub), so nothing of it was converged. The role's CreateRole event (made by
// the StackSet's CloudFormation session, forwarded from us-east-1) reaches
// the drift function, which writes nothing itself and hands the member's
// units to the worker: one per hub region, as a backfill of that account
// sends them, carrying the event. The worker converges the member's
// repository and registry policies in both regions and its PTC role, under
// the event as the cause. The same event from the hub account hands nothing
// over and says why.
func TestExecutionRoleCreatedConvergesItsMember(t *testing.T) {
	w := newWorld(t)
	m := w.org.Accounts[1].ID
	for _, r := range []string{region, region2} {
		if p := w.policy(m, r, "team/app"); p != "" {
			t.Fatalf("%s: team/app already has a policy before the event:\n%s", r, p)
		}
	}
	drift := w.start("drift", nil)
	proxy.Reset()
	ev := event(t, "iam-create-role-execution.json", "222222222222", m, "ecr-warden-execution", memberRole)
	r := w.drift(drift, ev)
	if r.Ignored != "" || r.Rejected != "" || r.Failed != 0 || r.Changed != 0 {
		t.Fatalf("execution role's CreateRole: %+v, want the member handed to the worker", r)
	}
	if got := policyWrites(); len(got) != 0 {
		t.Fatalf("the drift function wrote %v itself, want the member handed to the worker", got)
	}
	dr := w.drain(w.start("worker", nil))
	if dr.Done != 2 || dr.Failures != 0 {
		t.Fatalf("worker drained %+v, want the member's 2 units (one per hub region)", dr)
	}
	var env struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(ev, &env); err != nil {
		t.Fatal(err)
	}
	for _, rg := range []string{region, region2} {
		if p := w.policy(m, rg, "team/app"); !strings.Contains(p, `"Sid":"EcrWardenOrgPull`) && !strings.Contains(p, `"Sid": "EcrWardenOrgPull`) {
			t.Errorf("%s: team/app policy lacks the org-pull grant:\n%s", rg, p)
		}
		if p := w.registryPolicy(m, rg); !strings.Contains(p, "EcrWardenPtc") {
			t.Errorf("%s: member registry policy lacks the PTC statements:\n%s", rg, p)
		}
		rec := w.last(policy.RepositoryARN("aws", rg, m, "team/app"))
		if rec.Decision != audit.DecisionApplied || rec.Trigger.EventID != env.ID || !strings.Contains(rec.Actor.ARN, "stacksets-exec-") {
			t.Errorf("%s: last record of team/app %+v, want applied under the CreateRole event %s by the StackSet's session", rg, rec, env.ID)
		}
	}
	if _, err := iam.NewFromConfig(w.cfg(m, region)).GetRole(w.ctx, &iam.GetRoleInput{RoleName: aws.String(ptcRole)}); err != nil {
		t.Errorf("the member's PTC role was not created: %v", err)
	}

	// The hub account: no member, nothing handed over.
	proxy.Reset()
	other := event(t, "iam-create-role-execution.json", "222222222222", hub, "ecr-warden-execution", memberRole)
	if r := w.drift(drift, other); !strings.Contains(r.Ignored, "hub account "+hub) {
		t.Fatalf("hub account's event: %+v, want ignored", r)
	}
	if dr := w.drain(w.start("worker", nil)); dr.Done != 0 {
		t.Fatalf("the hub account's event handed %+v to the worker", dr)
	}
}
