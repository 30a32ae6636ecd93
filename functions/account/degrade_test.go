package main

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/functest"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// These tests run against the strict local AWS: like AWS, it refuses a
// registry policy naming a role that does not exist, and a pull-through-cache
// rule whose credential is not the full ARN of an existing secret.

const ptcUserRole = "ecr-pull-through-cache-user"

// withPTCUserRole makes every PTC member's registry statements also name the
// member's role ecr-pull-through-cache-user (as infra/declaration.json does).
func withPTCUserRole(s string) string {
	return strings.Replace(s, `"statementPrincipals": {"accountRoot": true}`,
		`"statementPrincipals": {"accountRoot": true, "roleNames": ["`+ptcUserRole+`"]}`, 1)
}

// TestMissingRoleIsLeftOutAndAddedBack: a member without the role the
// declaration names still gets every other statement of its registry policy
// (AWS would refuse the whole document), the audit trail names the missing
// role, the grant and the document, and once the role exists the next
// convergence adds it back.
func TestMissingRoleIsLeftOutAndAddedBack(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, withPTCUserRole)
	a := w.createAccount("newcomer", w.ouA)
	fn := w.start()
	r := w.invoke(fn, w.event("org-account-joined.json", a))
	if r.Rejected != "" || r.Failed != 0 || r.Refused != 0 || r.Changed == 0 {
		t.Fatalf("response %+v: want a converged account", r)
	}
	roleARN := "arn:aws:iam::" + a + ":role/" + ptcUserRole
	text := w.registryPolicy(w.member(a))
	st := w.statements(text)
	if len(st) < 4 {
		t.Fatalf("member registry policy has %d statements, want the scan grant and the three PTC statements:\n%s", len(st), text)
	}
	if strings.Contains(text, roleARN) {
		t.Fatalf("the missing role is in the registry policy (AWS would refuse it):\n%s", text)
	}
	for sid, s := range st {
		if strings.HasPrefix(sid, "EcrWardenPtc") && !slices.Contains([]string(s.Principal.AWS), root(a)) {
			t.Errorf("statement %s lost the account root: %v", sid, s.Principal.AWS)
		}
	}
	registry := "arn:aws:ecr:us-east-1:" + a + ":repository/*"
	w.assertAudited(registry, audit.DecisionPrincipalMissing, roleARN)
	w.assertAudited(registry, audit.DecisionPrincipalMissing, "PtcDockerHub")

	// The role is created later: the next convergence of the member (its
	// next event, or the sweep) adds it to every PTC statement.
	w.createRole(w.member(a), ptcUserRole)
	r = w.invoke(fn, w.event("org-account-joined.json", a))
	if r.Failed != 0 || r.Refused != 0 {
		t.Fatalf("second delivery %+v", r)
	}
	text = w.registryPolicy(w.member(a))
	for sid, s := range w.statements(text) {
		if strings.HasPrefix(sid, "EcrWardenPtc") && !slices.Contains([]string(s.Principal.AWS), roleARN) {
			t.Errorf("statement %s does not name the created role: %v", sid, s.Principal.AWS)
		}
	}
}

// TestMissingSecretRefusesOnlyThatRule: a member without the Docker Hub
// credential secret gets every other PTC rule and its registry policy; the
// Docker Hub rule alone is refused, with a record naming the secret and the
// account.
func TestMissingSecretRefusesOnlyThatRule(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a := w.createAccount("newcomer", "")
	if _, err := secretsmanager.NewFromConfig(w.member(a)).DeleteSecret(w.ctx, &secretsmanager.DeleteSecretInput{
		SecretId: aws.String(dockerHubSecret), ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	fn := w.start()
	r := w.invoke(fn, w.event("org-account-joined.json", a))
	if r.Refused != 1 || r.Failed != 0 {
		t.Fatalf("response %+v: want exactly one refusal (the docker-hub rule)", r)
	}
	rules := w.rules(w.member(a))
	if _, ok := rules["docker-hub"]; ok || len(rules) != 2 || rules["ecr-public"].UpstreamRegistryUrl == nil || rules["hub"].UpstreamRegistryUrl == nil {
		t.Errorf("member rules %v, want ecr-public and hub only", slices.Sorted(mapsKeys(rules)))
	}
	if w.registryPolicy(w.member(a)) == "" {
		t.Error("the member got no registry policy")
	}
	w.assertAudited("arn:aws:ecr:us-east-1:"+a+":repository/*/pull-through-cache-rule/docker-hub", audit.DecisionRefused,
		"secret ecr-pullthroughcache/docker-hub does not exist in account "+a)

	// Once the secret exists, the rule is created with its full ARN.
	full := w.createSecret(a, dockerHubSecret)
	w.invoke(fn, w.event("org-account-joined.json", a))
	if got := aws.ToString(w.rules(w.member(a))["docker-hub"].CredentialArn); got != full {
		t.Errorf("docker-hub rule credential %q, want the full secret ARN %q", got, full)
	}
}

// TestUnknownJoinShapeConvergesHubGrants: an AccountJoinedOrganization event
// whose JSON carries the account id under a key nobody anticipated is not
// rejected: the hub's grants are converged from a walk of the organization,
// so the new account is granted, and the audit trail says why.
func TestUnknownJoinShapeConvergesHubGrants(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	other := w.createAccount("bystander", "")
	foreign := foreignStatement(other)
	w.seedHub(other)
	a := w.createAccount("newcomer", w.ouA)
	var ev map[string]any
	if err := json.Unmarshal(w.event("org-account-joined.json", a), &ev); err != nil {
		t.Fatal(err)
	}
	sed := ev["detail"].(map[string]any)["serviceEventDetails"].(map[string]any)
	delete(sed, "accountId")
	sed["joiningMember"] = map[string]any{"memberAccount": map[string]any{"number": a}}
	raw, _ := json.Marshal(ev)
	fn := w.start()
	r := w.invoke(fn, raw)
	if r.Rejected != "" || r.Failed != 0 || r.Changed == 0 {
		t.Fatalf("response %+v: want the hub converged, not a rejection", r)
	}
	w.assertHub(foreign, roots(other, a), roots(a), nil)
	w.assertAudited("arn:aws:organizations::"+mgmtAccount+":organization/"+w.orgID, audit.DecisionOrganizationWalk, "no account id found")
}

// TestAccountEventThroughTwoRegions: the management stack forwards each
// organization event to every hub region, so two account functions (one per
// hub region) receive it. Each writes only its own region's documents, the
// first region's also the PTC role: every document is written exactly once.
func TestAccountEventThroughTwoRegions(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, func(s string) string {
		return strings.Replace(withPTCUserRole(s), `"regions": ["us-east-1"]`, `"regions": ["us-east-1", "eu-west-1"]`, 1)
	})
	// Each region's function has its own audit and lease tables, as deployed.
	db := dynamodb.NewFromConfig(w.hubIn("eu-west-1"))
	if err := audit.CreateTable(w.ctx, db, functest.AuditTable); err != nil {
		t.Fatal(err)
	}
	if err := lease.CreateTable(w.ctx, db, functest.LeaseTable); err != nil {
		t.Fatal(err)
	}
	a := w.createAccount("newcomer", w.ouA)
	w.createRole(w.member(a), ptcUserRole)
	if _, err := secretsmanager.NewFromConfig(w.memberIn(a, "eu-west-1")).CreateSecret(w.ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(dockerHubSecret), SecretString: aws.String(`{"username":"ci","accessToken":"x"}`)}); err != nil {
		t.Fatal(err)
	}
	ev := w.event("org-account-joined.json", a)
	proxy.Reset()
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		inst, err := lambdalocal.Start(w.ctx, lambdalocal.Function{Name: "ecr-warden-account", Binary: accountBin, Env: w.env(),
			Timeout: 60 * time.Second, AccountID: hubAccount, Region: region})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { inst.Close() })
		if r := w.invoke(inst, ev); r.Failed != 0 || r.Refused != 0 || r.Changed == 0 {
			t.Fatalf("%s: response %+v", region, r)
		}
	}
	perRegion := map[string]int{}
	for _, c := range proxy.Calls() {
		if c.Service == "dynamodb" || c.Service == "sts" || !isWrite(c.Op) {
			continue
		}
		perRegion[c.Service+":"+c.Op+"@"+c.Region]++
	}
	want := map[string]int{
		// IAM is global: the PTC role, once (created with its trust policy, then its permission policy).
		"iam:CreateRole@us-east-1": 1, "iam:PutRolePolicy@us-east-1": 1,
		// Per region: three PTC rules, the member's and the hub's registry policy.
		"ecr:CreatePullThroughCacheRule@us-east-1": 3, "ecr:CreatePullThroughCacheRule@eu-west-1": 3,
		"ecr:PutRegistryPolicy@us-east-1": 2, "ecr:PutRegistryPolicy@eu-west-1": 2,
	}
	for k, n := range perRegion {
		if want[k] != n {
			t.Errorf("%s written %d times, want %d (all writes: %v)", k, n, want[k], perRegion)
		}
	}
	for k, n := range want {
		if perRegion[k] != n {
			t.Errorf("%s written %d times, want %d (all writes: %v)", k, perRegion[k], n, perRegion)
		}
	}
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		text := w.registryPolicy(w.memberIn(a, region))
		if !strings.Contains(text, "arn:aws:iam::"+a+":role/"+ptcUserRole) {
			t.Errorf("%s: member registry policy lacks the PTC user role:\n%s", region, text)
		}
		if doc, err := policy.Parse(w.registryPolicy(w.hubIn(region))); err != nil || len(doc.Statements) == 0 {
			t.Errorf("%s: hub registry policy %v", region, err)
		}
	}
}

// TestCreateAndJoinMakeOneSetOfWrites: CreateAccount logs both
// CreateAccountResult and AccountJoinedOrganization for the same account;
// the second finds everything converged and writes nothing.
func TestCreateAndJoinMakeOneSetOfWrites(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a := w.createAccount("newcomer", "")
	fn := w.start()
	if r := w.invoke(fn, w.event("org-create-account-result-succeeded.json", a)); r.Changed == 0 || r.Failed != 0 {
		t.Fatalf("CreateAccountResult: %+v", r)
	}
	w.assertRedeliveryWritesNothing(fn, w.event("org-account-joined.json", a))
}

func isWrite(op string) bool { return inventory.IsWrite(op) }

// TestHubGrantComesFirst: a join grants the member in the hub registry
// policy before it validates the member's rules, so a rule caching from the
// hub is validated against a hub that already lets the member in; and a
// member the function cannot reach still gets its hub grant (the member's
// half fails alone, reported and retried by the event's redelivery, saying
// what to do about the execution role STS refuses).
func TestHubGrantComesFirst(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a := w.createAccount("newcomer", w.ouA)
	fn := w.start()
	if r := w.invoke(fn, w.event("org-account-joined.json", a)); r.Failed != 0 {
		t.Fatalf("response %+v: want a converged account", r)
	}
	granted := w.decidedAt(policy.RegistryARN("aws", "us-east-1", hubAccount), audit.DecisionApplied)
	validated := w.decidedAt(ptcRuleARN(a, "hub"), audit.DecisionPTCValidated)
	if granted.IsZero() || validated.IsZero() || validated.Before(granted) {
		t.Errorf("the hub grant was applied at %v and the member's hub rule validated at %v: want the grant first", granted, validated)
	}

	// A member the StackSet has not reached: its execution role does not
	// exist, and STS refuses the function's AssumeRole into it, as in AWS.
	b := w.createAccount("unreachable", w.ouA)
	w.deleteMemberRole(b)
	res, err := fn.Invoke(w.ctx, w.event("org-account-joined.json", b))
	if err != nil {
		t.Fatal(err)
	}
	var r response
	_ = json.Unmarshal(res.Payload, &r)
	if res.Err == nil && r.Failed == 0 {
		t.Errorf("response %+v: want the member's half reported failed", r)
	}
	// The failure says what to do, as a backfill unit's does (one builder):
	// where the execution role comes from and how to find every member without it.
	if res.Err == nil || !strings.Contains(res.Err.Message, "sts:AssumeRole") || !strings.Contains(res.Err.Message, "EcrWarden-Members") ||
		!strings.Contains(res.Err.Message, "make doctor") {
		t.Errorf("function error %+v: want AWS's refusal followed by what to do (the member StackSet EcrWarden-Members, make doctor)", res.Err)
	}
	if got := w.principals(w.registryPolicy(w.hub), sidUpstream); !slices.Contains(got, "arn:aws:iam::"+b+":root") {
		t.Errorf("the hub upstream statement names %v: want the unreachable member %s granted anyway", got, b)
	}
}

// TestMemberConvergesWhileTheHubIsBusy: an account event finds the hub
// registry policy's lease held by a holder that has not opened its mailbox
// (a live holder between its read and its write). The member's own
// documents do not depend on the hub, so they are written while the event
// waits for the lease; only the validation of the member's fromHub rule
// waits for the hub's grant, which the event writes once the lease is free.
func TestMemberConvergesWhileTheHubIsBusy(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a := w.createAccount("patient", w.ouA)
	fn := w.start()
	leases, err := lease.New(dynamodb.NewFromConfig(w.hub), functest.LeaseTable, lease.Options{Holder: "busy-holder"})
	if err != nil {
		t.Fatal(err)
	}
	busy, err := leases.TryAcquire(w.ctx, lease.RegistryKey(hubAccount, region), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// The busy holder lets go once the member's role is written (or after
	// a minute, which fails the test below).
	roleARN := "arn:aws:iam::" + a + ":role/" + ptcRoleName
	trail, err := audit.New(dynamodb.NewFromConfig(w.hub), auditTable, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan error, 1)
	go func() {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			recs, err := trail.History(w.ctx, roleARN, 0)
			if err != nil {
				released <- errors.Join(err, busy.Release(w.ctx))
				return
			}
			if slices.ContainsFunc(recs, func(r audit.Record) bool { return r.Decision == audit.DecisionApplied }) {
				break
			}
		}
		released <- busy.Release(w.ctx)
	}()
	if r := w.invoke(fn, w.event("org-account-joined.json", a)); r.Failed != 0 {
		t.Fatalf("response %+v: want a converged account", r)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}
	role := w.decidedAt(roleARN, audit.DecisionApplied)
	granted := w.decidedAt(policy.RegistryARN("aws", region, hubAccount), audit.DecisionApplied)
	validated := w.decidedAt(ptcRuleARN(a, "hub"), audit.DecisionPTCValidated)
	if role.IsZero() || granted.IsZero() || validated.IsZero() {
		t.Fatalf("role written %v, hub grant %v, rule validated %v: want all three", role, granted, validated)
	}
	if !role.Before(granted) {
		t.Errorf("the member's role was written at %v, after the hub grant at %v: want the member converged while the hub's lease was busy", role, granted)
	}
	if validated.Before(granted) {
		t.Errorf("the member's hub rule was validated at %v, before the hub grant at %v", validated, granted)
	}
}

// decidedAt is when the latest record of decision d for target was taken
// (zero when there is none).
func (w *world) decidedAt(target string, d audit.Decision) time.Time {
	w.t.Helper()
	var at time.Time
	for _, r := range w.history(target) {
		when := r.Time
		if !r.DecidedAt.IsZero() {
			when = r.DecidedAt
		}
		if r.Decision == d && when.After(at) {
			at = when
		}
	}
	return at
}

// TestPTCRoleNameTakenInAnotherCaseIsLeftOut: a member holding a role made by
// hand whose name differs from the PTC role's only in case. GetRole of the
// declared name finds nothing; CreateRole is refused with EntityAlreadyExists
// (IAM role names are unique whatever their case). The account event leaves
// the role, its policy and the fromHub rule out, audited as refused with what
// to look for; the other rules and the registry policy are written and the
// event succeeds (it used to fail at every delivery).
func TestPTCRoleNameTakenInAnotherCaseIsLeftOut(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a := w.createAccount("newcomer", "")
	w.createRole(w.member(a), "ECR-Warden-PTC")
	fn := w.start()
	r := w.invoke(fn, w.event("org-account-joined.json", a))
	if r.Failed != 0 || r.Refused != 3 {
		t.Fatalf("response %+v: want the role, its policy and the hub rule refused, nothing failed", r)
	}
	rules := w.rules(w.member(a))
	if _, ok := rules["hub"]; ok || len(rules) != 2 {
		t.Errorf("member rules %v, want ecr-public and docker-hub only", slices.Sorted(mapsKeys(rules)))
	}
	if w.registryPolicy(w.member(a)) == "" {
		t.Error("the member got no registry policy")
	}
	roles, err := iam.NewFromConfig(w.member(a)).ListRoles(w.ctx, &iam.ListRolesInput{})
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range roles.Roles {
		if aws.ToString(role.RoleName) == ptcRoleName {
			t.Errorf("role %s created beside ECR-Warden-PTC", ptcRoleName)
		}
	}
	roleARN := "arn:aws:iam::" + a + ":role/" + ptcRoleName
	w.assertAudited(roleARN, audit.DecisionRefused, "differs from "+ptcRoleName+" only in case")
	w.assertAudited(roleARN+"/policy/"+ptcRoleName, audit.DecisionRefused, "EntityAlreadyExists")
	w.assertAudited("arn:aws:ecr:us-east-1:"+a+":repository/*/pull-through-cache-rule/hub", audit.DecisionRefused, "EntityAlreadyExists")
}

// TestPTCRoleBoundaryMissingFailsOnlyTheRole: a member whose StackSet
// instance has not created the PTC role's permissions boundary yet. IAM
// refuses CreateRole (NoSuchEntity); the role, its policy and the fromHub rule
// fail (a deploying instance fixes it: the event is retried), the failure
// says where to look, and everything else in the account is written.
func TestPTCRoleBoundaryMissingFailsOnlyTheRole(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a := w.createAccount("newcomer", "")
	boundary := "arn:aws:iam::" + a + ":policy/" + ptcBoundary
	if _, err := iam.NewFromConfig(w.member(a)).DeletePolicy(w.ctx, &iam.DeletePolicyInput{PolicyArn: aws.String(boundary)}); err != nil {
		t.Fatal(err)
	}
	fn := w.start()
	res, err := fn.Invoke(w.ctx, w.event("org-account-joined.json", a))
	if err != nil {
		t.Fatal(err)
	}
	if res.Err == nil || !strings.Contains(res.Err.Message, "The member StackSet creates the PTC role's permissions boundary "+boundary) {
		t.Fatalf("event answered %+v, want it failed naming the missing boundary", res.Err)
	}
	rules := w.rules(w.member(a))
	if _, ok := rules["hub"]; ok || len(rules) != 2 {
		t.Errorf("member rules %v, want ecr-public and docker-hub only", slices.Sorted(mapsKeys(rules)))
	}
	if w.registryPolicy(w.member(a)) == "" {
		t.Error("the member got no registry policy")
	}
	roleARN := "arn:aws:iam::" + a + ":role/" + ptcRoleName
	w.assertAudited(roleARN, audit.DecisionFailed, "Scope ARN: "+boundary)
	w.assertAudited(roleARN+"/policy/"+ptcRoleName, audit.DecisionFailed, "not written: it needs "+roleARN)
	w.assertAudited("arn:aws:ecr:us-east-1:"+a+":repository/*/pull-through-cache-rule/hub", audit.DecisionFailed, "not written: it needs "+roleARN)
}
