package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	ecrpublictypes "github.com/aws/aws-sdk-go-v2/service/ecrpublic/types"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// The ECR Public paths other than the CreateRepository event (which
// functions/repository tests): the hub's public repositories converged by a
// backfill through SQS and the worker, and a hand edit repaired by the drift
// function.

// publicGrant is the declaration's public-repository grant in these tests:
// the hub account and one release role may push to tools/* repositories.
const publicGrant = `[{"name": "publish-tools", "repositories": ["tools/*"], "access": "push",
  "principals": {"accounts": ["` + hub + `"], "roles": ["arn:aws:iam::` + hub + `:role/release"]}}]`

// publicSids are the statements publicGrant renders (one per principal kind).
var publicSids = []string{"EcrWardenPublishToolsAccounts", "EcrWardenPublishToolsRoles"}

// partnerPush is a statement someone wrote by hand: ecr-warden must keep it
// exactly as written.
const partnerPush = `{"Sid":"PartnerPush","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:role/partner-release"},"Action":["ecr-public:PutImage","ecr-public:InitiateLayerUpload","ecr-public:UploadLayerPart","ecr-public:CompleteLayerUpload","ecr-public:BatchCheckLayerAvailability"]}`

// withPublicGrant adds publicGrant to the world's declaration.
func (w *world) withPublicGrant() {
	w.t.Helper()
	b, err := os.ReadFile(w.declaration)
	if err != nil {
		w.t.Fatal(err)
	}
	var d map[string]json.RawMessage
	if err := json.Unmarshal(b, &d); err != nil {
		w.t.Fatal(err)
	}
	d["publicRepositories"] = json.RawMessage(publicGrant)
	if b, err = json.MarshalIndent(d, "", "  "); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(w.declaration, b, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// public is an ECR Public client in the hub, straight to the local AWS (not
// through the proxy, so the test's own calls are not counted).
func (w *world) public() *ecrpublic.Client { return ecrpublic.NewFromConfig(srv.Config(region)) }

func (w *world) createPublic(name string) {
	w.t.Helper()
	if _, err := w.public().CreateRepository(w.ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String(name)}); err != nil {
		w.t.Fatal(err)
	}
}

// publicPolicy returns a public repository's policy text ("" when none).
func (w *world) publicPolicy(name string) string {
	w.t.Helper()
	out, err := w.public().GetRepositoryPolicy(w.ctx, &ecrpublic.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	var nf *ecrpublictypes.RepositoryPolicyNotFoundException
	if errors.As(err, &nf) {
		return ""
	}
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.PolicyText)
}

func (w *world) setPublicPolicy(name, text string) {
	w.t.Helper()
	if _, err := w.public().SetRepositoryPolicy(w.ctx, &ecrpublic.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(text)}); err != nil {
		w.t.Fatal(err)
	}
}

// publicWrites counts the ECR Public writes the functions made.
func publicWrites() map[string]int {
	out := map[string]int{}
	for k, n := range policyWrites() {
		if strings.HasPrefix(k, "ecr-public:") {
			out[k] = n
		}
	}
	return out
}

// rawStatement returns the compacted JSON of the statement with sid as it
// appears in text (not re-encoded), to check it survived byte for byte.
func rawStatement(t *testing.T, text, sid string) string {
	t.Helper()
	var doc struct{ Statement []json.RawMessage }
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("policy %s: %v", text, err)
	}
	for _, raw := range doc.Statement {
		var s struct{ Sid string }
		if json.Unmarshal(raw, &s) == nil && s.Sid == sid {
			var buf bytes.Buffer
			if err := json.Compact(&buf, raw); err != nil {
				t.Fatal(err)
			}
			return buf.String()
		}
	}
	t.Fatalf("no statement %q in %s", sid, text)
	return ""
}

// checkPublicGrant asserts text is a 2008-10-17 policy holding exactly the
// declared statements (publicSids, push actions, the declared principals)
// plus the foreign statements named in foreign, each byte-equal.
func checkPublicGrant(t *testing.T, name, text string, foreign map[string]string) {
	t.Helper()
	doc, err := policy.Parse(text)
	if err != nil {
		t.Fatalf("%s: %v\n%s", name, err, text)
	}
	if doc.Version != "2008-10-17" {
		t.Errorf("%s: policy version %q, want 2008-10-17 (ECR Public's)", name, doc.Version)
	}
	owned, others := policy.Split(doc, "EcrWarden")
	var sids []string
	for _, s := range owned {
		sids = append(sids, s.Sid)
		if len(s.Action) != 5 || !slices.Contains(s.Action, "ecr-public:PutImage") || s.Effect != "Allow" {
			t.Errorf("%s: statement %s is not the declared push grant: %s", name, s.Sid, text)
		}
	}
	slices.Sort(sids)
	if !slices.Equal(sids, publicSids) {
		t.Errorf("%s: owned statements %v, want %v:\n%s", name, sids, publicSids, text)
	}
	if !strings.Contains(text, "arn:aws:iam::"+hub+":root") || !strings.Contains(text, "arn:aws:iam::"+hub+":role/release") {
		t.Errorf("%s: the declared principals are missing: %s", name, text)
	}
	if len(others) != len(foreign) {
		t.Errorf("%s: %d foreign statements, want %d:\n%s", name, len(others), len(foreign), text)
	}
	for sid, want := range foreign {
		if got := rawStatement(t, text, sid); got != want {
			t.Errorf("%s: foreign statement %s changed:\ngot  %s\nwant %s", name, sid, got, want)
		}
	}
}

// TestBackfillPublicRepositories: with a public grant declared, the hub's
// us-east-1 unit covers ECR Public. The dry run plans the grant for a
// repository without a policy and for one holding a foreign statement, and
// writes nothing; the real run (SQS, worker) writes exactly that plan and
// keeps the foreign statement; a second run makes no ECR Public write.
func TestBackfillPublicRepositories(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createHubRole("release") // the role the publish grant names (AWS refuses policies naming missing roles)
	w.withPublicGrant()
	w.createPublic("tools/scanner")
	w.createPublic("tools/builder")
	w.createPublic("site/www") // no grant matches: never given a policy
	builderBefore := `{"Version":"2008-10-17","Statement":[` + partnerPush + `]}`
	w.setPublicPolicy("tools/builder", builderBefore)
	scannerARN := policy.PublicRepositoryARN(hub, "tools/scanner")
	builderARN := policy.PublicRepositoryARN(hub, "tools/builder")
	if want := "arn:aws:ecr-public::" + hub + ":repository/tools/scanner"; scannerARN != want {
		t.Fatalf("public repository ARN %s, want %s", scannerARN, want)
	}
	bf := w.start("backfill", nil)
	worker := w.start("worker", nil)

	proxy.Reset()
	dry := w.backfill(bf, `{"action":"backfill","targets":{"all":true},"dryRun":true}`)
	if dry.Error != "" || len(dry.Failures) != 0 {
		t.Fatalf("dry run: %+v", dry)
	}
	if n := policyWrites(); len(n) != 0 {
		t.Fatalf("dry run wrote to AWS: %v", n)
	}
	publicPlan := map[string]planned{}
	for _, p := range dry.Plan {
		if strings.HasPrefix(p.Target, "arn:aws:ecr-public:") {
			publicPlan[p.Target] = p
		}
	}
	if len(publicPlan) != 2 {
		t.Fatalf("dry run planned %d public repository changes, want tools/scanner and tools/builder:\n%s", len(publicPlan), planText(dry.Plan))
	}
	for _, arn := range []string{scannerARN, builderARN} {
		p, ok := publicPlan[arn]
		if !ok {
			t.Fatalf("plan lacks %s:\n%s", arn, planText(dry.Plan))
		}
		for _, sid := range publicSids {
			if !strings.Contains(p.Diff, `+ "`+sid) {
				t.Errorf("plan for %s does not add %s:\n%s", arn, sid, p.Diff)
			}
		}
		if arn == builderARN && !strings.Contains(p.Diff, `= "PartnerPush"`) {
			t.Errorf("plan for %s does not keep the foreign statement:\n%s", arn, p.Diff)
		}
	}
	if p := w.publicPolicy("tools/scanner"); p != "" {
		t.Fatalf("dry run left a policy on tools/scanner: %s", p)
	}
	if p := w.publicPolicy("tools/builder"); p != builderBefore {
		t.Fatalf("dry run changed tools/builder's policy: %s", p)
	}
	for _, r := range w.runRecords(dry.RunID) {
		if (r.Target.ARN == scannerARN || r.Target.ARN == builderARN) && (r.Decision != audit.DecisionPlanned || !r.DryRun) {
			t.Errorf("dry run recorded %s (dryRun %v) for %s", r.Decision, r.DryRun, r.Target.ARN)
		}
	}

	// The real run: the hub's us-east-1 unit goes through SQS to the worker.
	proxy.Reset()
	run := w.backfill(bf, `{"action":"backfill","targets":{"all":true}}`)
	if dr := w.drain(worker); dr.Done != run.Queued || dr.Failures != 0 || dr.DeadLettered != 0 {
		t.Fatalf("drain of %d units: %+v", run.Queued, dr)
	}
	if n := publicWrites(); n["ecr-public:SetRepositoryPolicy"] != 2 || len(n) != 1 {
		t.Fatalf("real run ECR Public writes %v, want 2 SetRepositoryPolicy", n)
	}
	checkPublicGrant(t, "tools/scanner", w.publicPolicy("tools/scanner"), nil)
	checkPublicGrant(t, "tools/builder", w.publicPolicy("tools/builder"), map[string]string{"PartnerPush": partnerPush})
	if p := w.publicPolicy("site/www"); p != "" {
		t.Errorf("site/www got a policy no grant asks for: %s", p)
	}
	var applied []change
	for _, r := range w.runRecords(run.RunID) {
		if !strings.HasPrefix(r.Target.ARN, "arn:aws:ecr-public:") {
			continue
		}
		switch r.Decision {
		case audit.DecisionApplied:
			applied = append(applied, change{r.Target.ARN, r.Op, r.Diff})
			if r.Target.Kind != "ECRPublicRepositoryPolicy" || r.Target.Region != "us-east-1" {
				t.Errorf("applied record target %+v", r.Target)
			}
		case audit.DecisionNoop:
		default:
			t.Errorf("real run recorded %s for %s: %s", r.Decision, r.Target.ARN, r.Error)
		}
	}
	sortChanges(applied)
	want := changesOf([]planned{publicPlan[builderARN], publicPlan[scannerARN]})
	if !slices.Equal(applied, want) {
		t.Fatalf("the real run did not apply the dry run's public plan\napplied %v\nplanned %v", applied, want)
	}

	// Converged: no ECR Public write, one policy read per public repository.
	proxy.Reset()
	again := w.backfill(bf, `{"action":"backfill","targets":{"all":true}}`)
	if dr := w.drain(worker); dr.Done != again.Queued || dr.Failures != 0 {
		t.Fatalf("second run drain: %+v", dr)
	}
	if n := policyWrites(); len(n) != 0 {
		t.Fatalf("converged re-run wrote: %v", n)
	}
	if n := proxy.Count("ecr-public", "GetRepositoryPolicy"); n != 3 {
		t.Errorf("converged re-run read %d public repository policies for 3 repositories", n)
	}
	for _, r := range w.runRecords(again.RunID) {
		if strings.HasPrefix(r.Target.ARN, "arn:aws:ecr-public:") && r.Decision != audit.DecisionNoop {
			t.Errorf("second run: %s %s (%s)", r.Decision, r.Target.ARN, r.Diff)
		}
	}
}

// TestDriftPublicRepositoryHandEdit: a hand edit that weakens an owned
// statement of a public repository policy and adds a foreign one is
// repaired from its CloudTrail event: the owned statement comes back, the
// foreign one stays, and the audit names the editor. The same event made by
// ecr-warden's own role is recorded and causes neither a read nor a write.
func TestDriftPublicRepositoryHandEdit(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	w.createHubRole("release") // the role the publish grant names (AWS refuses policies naming missing roles)
	w.withPublicGrant()
	w.createPublic("tools/scanner")
	run := w.backfill(w.start("backfill", nil), `{"action":"backfill","targets":{"all":true}}`)
	if dr := w.drain(w.start("worker", nil)); dr.Done != run.Queued || dr.Failures != 0 {
		t.Fatalf("converging: %+v", dr)
	}
	arn := policy.PublicRepositoryARN(hub, "tools/scanner")
	converged := w.publicPolicy("tools/scanner")
	checkPublicGrant(t, "converged tools/scanner", converged, nil)

	const hand = `{"Sid":"HandAdded","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"ecr-public:DescribeImages"}`
	edited := `{"Version":"2008-10-17","Statement":[` +
		`{"Sid":"EcrWardenPublishToolsAccounts","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + hub + `:root"},"Action":"ecr-public:PutImage"},` +
		`{"Sid":"EcrWardenPublishToolsRoles","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + hub + `:role/release"},"Action":["ecr-public:BatchCheckLayerAvailability","ecr-public:PutImage","ecr-public:InitiateLayerUpload","ecr-public:UploadLayerPart","ecr-public:CompleteLayerUpload"]},` +
		hand + `]}`
	w.setPublicPolicy("tools/scanner", edited)

	// The hub functions' role names as the CDK stack passes them
	// (infra/app SelfRoleNames): ecr-warden-<function>-<region>.
	drift := w.start("drift", map[string]string{"WARDEN_SELF_ROLE_NAMES": "ecr-warden-repository-us-east-1,ecr-warden-worker-us-east-1,ecr-warden-drift-us-east-1"})
	proxy.Reset()
	r := w.drift(drift, event(t, "ecr-public-set-repository-policy.json", "111111111111", hub))
	if r.Changed != 1 || r.Ignored != "" || r.Target != arn {
		t.Fatalf("want one repair of %s, got %+v", arn, r)
	}
	repaired := w.publicPolicy("tools/scanner")
	checkPublicGrant(t, "repaired tools/scanner", repaired, map[string]string{"HandAdded": hand})
	if n := policyWrites(); n["ecr-public:SetRepositoryPolicy"] != 1 || len(n) != 1 {
		t.Fatalf("repair writes %v, want one ecr-public SetRepositoryPolicy", n)
	}
	rec := w.last(arn)
	if rec.Decision != audit.DecisionApplied || rec.Actor.ARN != "arn:aws:iam::"+hub+":user/jane.doe" ||
		!strings.Contains(rec.Diff, `~ "EcrWardenPublishToolsAccounts"`) || !strings.Contains(rec.Diff, `= "EcrWardenPublishToolsRoles"`) {
		t.Fatalf("audit does not name the editor and the one repaired statement: %+v", rec)
	}

	// ecr-warden's own write comes back as the same event: no read, no write,
	// even though the document is off again.
	w.setPublicPolicy("tools/scanner", edited)
	own := ownRoleEvent(t, event(t, "ecr-public-set-repository-policy.json", "111111111111", hub), "ecr-warden-worker-us-east-1")
	proxy.Reset()
	r = w.drift(drift, own)
	if !strings.Contains(r.Ignored, "own write") || r.Changed != 0 {
		t.Fatalf("own write not recognised: %+v", r)
	}
	if n := policyWrites(); len(n) != 0 {
		t.Fatalf("own write triggered writes: %v", n)
	}
	if n := proxy.Count("ecr-public", "GetRepositoryPolicy"); n != 0 {
		t.Fatalf("own write was re-read %d times", n)
	}
	if got := w.publicPolicy("tools/scanner"); got != edited {
		t.Fatalf("policy changed after ecr-warden's own event: %s", got)
	}
	rec = w.last(arn)
	if rec.Decision != audit.DecisionNoop || !strings.Contains(rec.Error, "own write") || !strings.Contains(rec.Actor.ARN, "assumed-role/ecr-warden-worker-us-east-1/") {
		t.Fatalf("own write record: %+v", rec)
	}

	// A hand deletion of the whole policy (DeleteRepositoryPolicy) brings
	// the declared statements back.
	if _, err := w.public().DeleteRepositoryPolicy(w.ctx, &ecrpublic.DeleteRepositoryPolicyInput{RepositoryName: aws.String("tools/scanner")}); err != nil {
		t.Fatal(err)
	}
	del := event(t, "ecr-public-set-repository-policy.json", "111111111111", hub, `"eventName": "SetRepositoryPolicy"`, `"eventName": "DeleteRepositoryPolicy"`)
	if r = w.drift(drift, del); r.Changed != 1 {
		t.Fatalf("deleted policy: want one repair, got %+v", r)
	}
	checkPublicGrant(t, "restored tools/scanner", w.publicPolicy("tools/scanner"), nil)
}

// ownRoleEvent rewrites an event's userIdentity to a session of the hub
// function role roleName, as CloudTrail records ecr-warden's own writes in
// the hub (where it acts with its function roles, not the member role).
func ownRoleEvent(t *testing.T, ev []byte, roleName string) []byte {
	t.Helper()
	var e map[string]any
	if err := json.Unmarshal(ev, &e); err != nil {
		t.Fatal(err)
	}
	detail, ok := e["detail"].(map[string]any)
	if !ok {
		t.Fatalf("event without detail: %s", ev)
	}
	detail["userIdentity"] = map[string]any{
		"type":        "AssumedRole",
		"principalId": "AROAEXAMPLEWARDEN07:ecr-warden-worker",
		"arn":         "arn:aws:sts::" + hub + ":assumed-role/" + roleName + "/ecr-warden-worker",
		"accountId":   hub,
		"sessionContext": map[string]any{
			"sessionIssuer": map[string]any{
				"type": "Role", "principalId": "AROAEXAMPLEWARDEN07", "accountId": hub,
				"arn": "arn:aws:iam::" + hub + ":role/" + roleName, "userName": roleName,
			},
		},
	}
	out, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// createHubRole creates a role in the hub, as the platform team has it.
func (w *world) createHubRole(name string) {
	w.t.Helper()
	if err := localaws.CreateRole(w.ctx, srv.Config(region), name); err != nil {
		w.t.Fatalf("creating role %s in the hub: %v", name, err)
	}
}
