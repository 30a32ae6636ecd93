package main

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Sids ecr-warden renders for testdata/declaration.json.
const (
	sidUpstream = "EcrWardenPtcUpstreamHub"    // hub: ECR-to-ECR grant to the PTC members
	sidApps     = "EcrWardenAppsPullAccounts"  // hub: enumerated grant to OU A
	sidTools    = "EcrWardenToolsPullAccounts" // hub: enumerated grant to OU B
	sidCIPush   = "EcrWardenCiPushAccounts"    // hub repositories ci/*: enumerated push for OU B
	sidOrgPull  = "EcrWardenOrgPullSharedOrg"  // hub: condition-mode grant (never names accounts)
	sidScan     = "EcrWardenMemberScanRoles"   // members: V2-only statement
)

var ptcPermissions = []string{"ecr:BatchGetImage", "ecr:BatchImportUpstreamImage", "ecr:CompleteLayerUpload",
	"ecr:GetAuthorizationToken", "ecr:GetDownloadUrlForLayer", "ecr:GetImageCopyStatus", "ecr:InitiateLayerUpload",
	"ecr:PutImage", "ecr:UploadLayerPart"}

// assertMember checks a member's whole pull-through-cache setup: the PTC
// role (trust for the PTC service limited to the member, the permission
// policy of seed 003), the three rules (the fromHub one through that role),
// and its registry policy (seed 000's PTC statements plus the V2 scan grant).
func (w *world) assertMember(account string) {
	w.t.Helper()
	cfg := w.member(account)
	arn, trust, permission := w.role(cfg)
	wantARN := "arn:aws:iam::" + account + ":role/" + ptcRoleName
	if arn != wantARN {
		w.t.Errorf("PTC role ARN = %s, want %s", arn, wantARN)
	}
	ts := w.statements(trust)["EcrWardenPtcTrust"]
	if ts.Principal == nil || !slices.Equal([]string(ts.Principal.Service), []string{"pullthroughcache.ecr.amazonaws.com"}) ||
		!slices.Equal([]string(ts.Action), []string{"sts:AssumeRole"}) || !strings.Contains(trust, `"aws:SourceAccount":"`+account+`"`) {
		w.t.Errorf("PTC role trust policy of %s:\n%s\nwant the PTC service principal, sts:AssumeRole and aws:SourceAccount %s", account, trust, account)
	}
	ps := w.statements(permission)["EcrWardenPtcPermissions"]
	got := slices.Sorted(slices.Values([]string(ps.Action)))
	if !slices.Equal(got, ptcPermissions) || !slices.Equal([]string(ps.Resource), []string{"*"}) {
		w.t.Errorf("PTC role permission policy of %s:\n%s\nwant %v on *", account, permission, ptcPermissions)
	}

	rules := w.rules(cfg)
	if len(rules) != 3 {
		w.t.Errorf("member %s has %d PTC rules, want 3: %v", account, len(rules), slices.Sorted(mapsKeys(rules)))
	}
	if r := rules["ecr-public"]; aws.ToString(r.UpstreamRegistryUrl) != "public.ecr.aws" || r.CustomRoleArn != nil {
		w.t.Errorf("rule ecr-public: upstream %s role %v", aws.ToString(r.UpstreamRegistryUrl), aws.ToString(r.CustomRoleArn))
	}
	// The credential is the secret's full ARN (with Secrets Manager's suffix), as ECR requires.
	if r, secret := rules["docker-hub"], w.secretARN(account, dockerHubSecret); aws.ToString(r.UpstreamRegistryUrl) != "registry-1.docker.io" ||
		aws.ToString(r.CredentialArn) != secret || !strings.HasPrefix(secret, "arn:aws:secretsmanager:us-east-1:"+account+":secret:ecr-pullthroughcache/docker-hub-") {
		w.t.Errorf("rule docker-hub: upstream %s credential %s, want the secret's full ARN %s", aws.ToString(r.UpstreamRegistryUrl), aws.ToString(r.CredentialArn), secret)
	}
	hub := rules["hub"]
	if aws.ToString(hub.UpstreamRegistryUrl) != hubAccount+".dkr.ecr.us-east-1.amazonaws.com" || aws.ToString(hub.CustomRoleArn) != wantARN ||
		aws.ToString(hub.UpstreamRepositoryPrefix) != "shared" {
		w.t.Errorf("rule hub: upstream %s role %s upstream prefix %s; want the hub registry through %s from shared",
			aws.ToString(hub.UpstreamRegistryUrl), aws.ToString(hub.CustomRoleArn), aws.ToString(hub.UpstreamRepositoryPrefix), wantARN)
	}

	reg := w.registryPolicy(cfg)
	st := w.statements(reg)
	for sid, prefix := range map[string]string{"EcrWardenPtcEcrPublic": "ecr-public", "EcrWardenPtcDockerHub": "docker-hub", "EcrWardenPtcHub": "hub"} {
		s, ok := st[sid]
		want := "arn:aws:ecr:us-east-1:" + account + ":repository/" + prefix + "/*"
		if !ok || !slices.Equal(w.principals(reg, sid), roots(account)) || !slices.Equal([]string(s.Resource), []string{want}) ||
			!slices.Equal(slices.Sorted(slices.Values([]string(s.Action))), []string{"ecr:BatchImportUpstreamImage", "ecr:CreateRepository"}) {
			w.t.Errorf("member %s registry policy statement %s: want CreateRepository + BatchImportUpstreamImage for %s on %s; policy:\n%s", account, sid, root(account), want, reg)
		}
	}
	if _, ok := st[sidScan]; !ok {
		w.t.Errorf("member %s registry policy lacks %s:\n%s", account, sidScan, reg)
	}
	if len(st) != 4 {
		w.t.Errorf("member %s registry policy has %d statements, want 4:\n%s", account, len(st), reg)
	}
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// assertHub checks the hub registry policy: which accounts each enumerating
// statement names (nil: the statement must be absent), the condition-mode
// statement, and the foreign statement kept byte for byte.
func (w *world) assertHub(foreign string, upstream, apps, tools []string) {
	w.t.Helper()
	text := w.registryPolicy(w.hub)
	for _, c := range []struct {
		sid  string
		want []string
	}{{sidUpstream, upstream}, {sidApps, apps}, {sidTools, tools}} {
		if got := w.principals(text, c.sid); !slices.Equal(got, c.want) {
			w.t.Errorf("hub statement %s names %v, want %v; policy:\n%s", c.sid, got, c.want, text)
		}
	}
	if s, ok := w.statements(text)[sidOrgPull]; !ok || s.Principal == nil || !s.Principal.Wildcard && !slices.Equal([]string(s.Principal.AWS), []string{"*"}) {
		w.t.Errorf("hub lacks the condition-mode statement %s:\n%s", sidOrgPull, text)
	}
	if !strings.Contains(text, foreign) {
		w.t.Errorf("hub registry policy lost or rewrote the foreign statement %s:\n%s", foreign, text)
	}
}

// assertRedeliveryWrites nothing: the same event again is a no-op.
func (w *world) assertRedeliveryWritesNothing(fn invoker, event []byte) {
	w.t.Helper()
	proxy.Reset()
	r := w.invoke(fn, event)
	if got := writes(); len(got) != 0 || r.Changed != 0 {
		w.t.Errorf("re-delivery wrote %v (report changed=%d), want no writes", got, r.Changed)
	}
	if r.Examined == 0 || r.Unchanged != r.Examined {
		w.t.Errorf("re-delivery report %+v: want every examined document unchanged", r.Report)
	}
}

// TestAccountEvents: every event that brings an account into the
// organization sets the member up and adds it to exactly the hub statements
// its OU selects; delivering it again writes nothing.
func TestAccountEvents(t *testing.T) {
	localaws.Need(t)
	for _, c := range []struct {
		file   string
		parent string // "A", "B" or "" (root), where the event says it is
	}{
		{"org-create-account-result-succeeded.json", ""},
		{"org-account-joined.json", "A"},
		{"controltower-create-managed-account.json", "B"},
		{"controltower-update-managed-account.json", "A"},
	} {
		t.Run(strings.TrimSuffix(c.file, ".json"), func(t *testing.T) {
			w := newWorld(t, nil)
			other := w.createAccount("bystander", "")
			foreign := foreignStatement(other)
			w.seedHub(other)
			parent := map[string]string{"A": w.ouA, "B": w.ouB}[c.parent]
			a := w.createAccount("newcomer", parent)
			fn := w.start()
			ev := w.event(c.file, a)
			proxy.Reset()
			r := w.invoke(fn, ev)
			if r.Rejected != "" || r.Changed == 0 || r.Refused != 0 || r.Failed != 0 {
				t.Fatalf("response %+v: want a converged account", r)
			}
			w.assertMember(a)
			var apps, tools []string
			switch c.parent {
			case "A":
				apps = roots(a)
			case "B":
				tools = roots(a)
			}
			w.assertHub(foreign, roots(a), apps, tools)
			// The bystander never got an event: nothing was written in it.
			if n := len(proxy.CountsByAccount()[other]); n != 0 {
				t.Errorf("the event touched the bystander account %s: %v", other, proxy.CountsByAccount()[other])
			}
			w.assertRedeliveryWritesNothing(fn, ev)
		})
	}
}

// TestFailedCreateAccountChangesNothing: a FAILED CreateAccountResult is
// rejected and audited, and nothing in AWS is written.
func TestFailedCreateAccountChangesNothing(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	seed := w.seedHub("210987654321")
	fn := w.start()
	ev := w.event("org-create-account-result-failed.json", "444444444444")
	proxy.Reset()
	r := w.invoke(fn, ev)
	if r.Rejected != "not-succeeded" || !strings.Contains(r.Detail, "EMAIL_ALREADY_EXISTS") {
		t.Errorf("response %+v: want rejected not-succeeded naming the failure reason", r)
	}
	if got := writes(); len(got) != 0 {
		t.Errorf("a failed account creation wrote %v", got)
	}
	if got := w.registryPolicy(w.hub); got != seed {
		t.Errorf("hub registry policy changed:\n%s", got)
	}
	w.assertAudited(r.Target, audit.DecisionRejected, "not-succeeded")
}

// TestRejectsWhatIsNotAnAccountEvent: events for other functions and
// unreadable input are audited rejections, not failures (retrying cannot
// help) and never writes.
func TestRejectsWhatIsNotAnAccountEvent(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	fn := w.start()
	for _, c := range []struct {
		name   string
		event  []byte
		reason string
	}{
		{"repository event", w.event("ecr-create-repository-api.json", ""), "unknown-event"},
		{"foreign source", w.event("unrelated-s3-put-object.json", ""), "unknown-source"},
		{"not JSON", []byte(`"{"`), "malformed"},
		// Bytes that are not JSON at all must reach the handler (function.Raw),
		// not fail in the runtime's decoding before anything is audited.
		{"empty body", []byte(""), "malformed"},
		{"truncated object", []byte(`{"detail-type":`), "malformed"},
		// Finding 6: Organizations and Control Tower events exist only in the
		// management account; one put on the bus by a member is refused.
		{"organizations event from a member", []byte(strings.Replace(string(w.event("org-account-joined.json", "222222222222")), `"account":"999999999999"`, `"account":"222222222222"`, 1)), "invalid-field"},
		{"control tower event from a member", []byte(strings.Replace(string(w.event("controltower-create-managed-account.json", "222222222222")), `"account":"999999999999"`, `"account":"222222222222"`, 1)), "invalid-field"},
	} {
		proxy.Reset()
		r := w.invoke(fn, c.event)
		if r.Rejected != c.reason {
			t.Errorf("%s: response %+v, want rejected %s", c.name, r, c.reason)
		}
		if got := writes(); len(got) != 0 {
			t.Errorf("%s: wrote %v", c.name, got)
		}
		w.assertAudited(r.Target, audit.DecisionRejected, c.reason)
	}
}

func (w *world) assertAudited(target string, d audit.Decision, contains string) {
	w.t.Helper()
	recs := w.history(target)
	for _, r := range recs {
		if r.Decision == d && strings.Contains(r.Error, contains) {
			return
		}
	}
	w.t.Errorf("no %s audit record mentioning %q for %s; have %+v", d, contains, target, recs)
}

// history is the audit trail's records for target.
func (w *world) history(target string) []audit.Record {
	w.t.Helper()
	trail, err := audit.New(dynamodb.NewFromConfig(w.hub), auditTable, audit.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	recs, err := trail.History(w.ctx, target, 0)
	if err != nil {
		w.t.Fatalf("reading the history of %s: %v", target, err)
	}
	return recs
}

// TestMoveSwapsGrant: an account moved between OUs leaves the statements of
// its old OU and joins those of the new one, in the registry policy and in
// the repository policies of an enumerating repository grant; its PTC
// membership (the upstream grant) stays.
func TestMoveSwapsGrant(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	stay := w.createAccount("stayer", w.ouA)
	foreign := foreignStatement(stay)
	w.seedHub(stay)
	repoForeign := `{"Sid":"BuildFarm","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"ecr:BatchGetImage"}`
	w.createRepository(w.hub, "ci/builder", `{"Version":"2012-10-17","Statement":[`+repoForeign+`]}`)
	a := w.createAccount("mover", w.ouA)
	fn := w.start()
	w.invoke(fn, w.event("org-account-joined.json", stay))
	w.invoke(fn, w.event("org-account-joined.json", a))
	w.assertHub(foreign, roots(stay, a), roots(stay, a), nil)

	w.move(a, w.ouA, w.ouB)
	ev := w.event("org-move-account.json", a)
	proxy.Reset()
	r := w.invoke(fn, ev)
	if r.Changed == 0 {
		t.Fatalf("move report %+v: want changes", r.Report)
	}
	w.assertHub(foreign, roots(stay, a), roots(stay), roots(a))
	repo := w.repositoryPolicy(w.hub, "ci/builder")
	if got := w.principals(repo, sidCIPush); !slices.Equal(got, roots(a)) || !strings.Contains(repo, repoForeign) {
		t.Errorf("ci/builder policy after the move into OU B: %s names %v, want %v, foreign kept; policy:\n%s", sidCIPush, got, roots(a), repo)
	}
	// The member itself is unchanged by a move (its PTC setup does not depend on the OU).
	if n := writes()["iam:CreateRole"] + writes()["ecr:CreatePullThroughCacheRule"]; n != 0 {
		t.Errorf("the move recreated member resources: %v", writes())
	}
	w.assertMember(a)
	w.assertRedeliveryWritesNothing(fn, ev)

	// And back: the swap reverses, and the repository policy keeps only the foreign statement.
	w.move(a, w.ouB, w.ouA)
	back := strings.NewReplacer(w.ouA, "SRC", w.ouB, w.ouA).Replace(string(w.event("org-move-account.json", a)))
	back = strings.ReplaceAll(back, "SRC", w.ouB)
	w.invoke(fn, []byte(back))
	w.assertHub(foreign, roots(stay, a), roots(stay, a), nil)
	repo = w.repositoryPolicy(w.hub, "ci/builder")
	if got := w.statements(repo); len(got) != 1 || !strings.Contains(repo, repoForeign) {
		t.Errorf("ci/builder policy after moving back: want only the foreign statement, got:\n%s", repo)
	}
}

// TestDepartureRemovesOnlyThatAccount: when an account leaves (removed by the
// management account, or departed), exactly its principals leave the hub's
// owned statements; other members and every foreign statement, even one
// naming the departed account, stay; nothing is written in the departed
// account.
func TestDepartureRemovesOnlyThatAccount(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a1 := w.createAccount("leaver", w.ouA)
	a2 := w.createAccount("remainer", w.ouA)
	foreign := foreignStatement(a1)
	w.seedHub(a1)
	fn := w.start()
	w.invoke(fn, w.event("org-account-joined.json", a1))
	w.invoke(fn, w.event("org-account-joined.json", a2))
	w.assertHub(foreign, roots(a1, a2), roots(a1, a2), nil)

	if _, err := w.org.RemoveAccountFromOrganization(w.ctx, &organizations.RemoveAccountFromOrganizationInput{AccountId: aws.String(a1)}); err != nil {
		t.Fatal(err)
	}
	ev := w.event("org-remove-account.json", a1)
	proxy.Reset()
	r := w.invoke(fn, ev)
	if r.Changed != 1 {
		t.Errorf("removal report %+v: want exactly the hub registry policy changed", r.Report)
	}
	w.assertHub(foreign, roots(a2), roots(a2), nil)
	for op, n := range proxy.CountsByAccount()[a1] {
		t.Errorf("the removal called %s %d times in the departed account %s", op, n, a1)
	}
	w.assertRedeliveryWritesNothing(fn, ev)

	// The last member departs: the enumerating statements go, the rest stays.
	if _, err := w.org.RemoveAccountFromOrganization(w.ctx, &organizations.RemoveAccountFromOrganizationInput{AccountId: aws.String(a2)}); err != nil {
		t.Fatal(err)
	}
	w.invoke(fn, w.event("org-account-departed.json", a2))
	w.assertHub(foreign, nil, nil, nil)
	// a2's member setup is left alone: ecr-warden no longer manages it.
	w.assertMember(a2)
}

// TestConcurrentJoins: twenty accounts join at once, each event in its own
// execution environment of the real binary, while the repository function
// handles a new hub repository whose policy enumerates the same accounts.
// The lease on each document serialises the read-merge-write cycles, so no
// principal and no foreign statement is lost.
func TestConcurrentJoins(t *testing.T) {
	localaws.Need(t)
	const n = 20
	w := newWorld(t, nil)
	foreign := foreignStatement("210987654321")
	w.seedHub("210987654321")
	repoForeign := `{"Sid":"BuildFarm","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"ecr:BatchGetImage"}`
	w.createRepository(w.hub, "ci/builder", `{"Version":"2012-10-17","Statement":[`+repoForeign+`]}`)
	var accounts []string
	for i := range n {
		accounts = append(accounts, w.createAccount(fmt.Sprintf("joiner-%02d", i), w.ouB))
	}
	pool, err := lambdalocal.NewPool(w.ctx, lambdalocal.Function{Name: "ecr-warden-account", Binary: accountBin, Env: w.env(), Timeout: 120 * 1e9, AccountID: hubAccount}, n)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	repoFn, err := lambdalocal.Start(w.ctx, lambdalocal.Function{Name: "ecr-warden-repository", Binary: repositoryBin, Env: w.env(), Timeout: 120 * 1e9, AccountID: hubAccount})
	if err != nil {
		t.Fatal(err)
	}
	defer repoFn.Close()
	w.createRepository(w.hub, "ci/new", "")
	repoEvent := []byte(strings.NewReplacer("111111111111", hubAccount, "shared/base", "ci/new").Replace(string(w.event("ecr-create-repository-api.json", ""))))

	var wg sync.WaitGroup
	errs := make([]string, n+1)
	deliver := func(i int, fn invoker, ev []byte) {
		defer wg.Done()
		res, err := fn.Invoke(w.ctx, ev)
		switch {
		case err != nil:
			errs[i] = err.Error()
		case res.Err != nil:
			errs[i] = res.Err.Type + ": " + res.Err.Message + "\n" + strings.Join(res.Logs, "\n")
		}
	}
	for i, a := range accounts {
		wg.Add(1)
		go deliver(i, pool, w.event("org-account-joined.json", a))
	}
	wg.Add(1)
	go deliver(n, repoFn, repoEvent)
	wg.Wait()
	for i, e := range errs {
		if e != "" {
			t.Errorf("delivery %d failed: %s", i, e)
		}
	}
	all := roots(accounts...)
	w.assertHub(foreign, all, nil, all)
	for _, name := range []string{"ci/builder", "ci/new"} {
		repo := w.repositoryPolicy(w.hub, name)
		if got := w.principals(repo, sidCIPush); !slices.Equal(got, all) {
			t.Errorf("%s: %s names %d of %d joined accounts; policy:\n%s", name, sidCIPush, len(got), n, repo)
		}
		if name == "ci/builder" && !strings.Contains(repo, repoForeign) {
			t.Errorf("ci/builder lost its foreign statement:\n%s", repo)
		}
	}
	for _, a := range accounts[:3] {
		w.assertMember(a)
	}
}

// TestInvalidPrincipalIsRetried: AWS rejects a registry policy naming a
// principal it has not propagated yet ("Invalid registry policy provided");
// the write is retried with backoff and converges within the invocation.
func TestInvalidPrincipalIsRetried(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	foreign := foreignStatement("210987654321")
	w.seedHub("210987654321")
	a := w.createAccount("fresh", w.ouA)
	fn := w.start()
	ev := w.event("org-account-joined.json", a)
	proxy.Reset()
	proxy.Inject("PutRegistryPolicy", invalidRegistryPolicy(2))
	r := w.invoke(fn, ev)
	if r.Failed != 0 || r.Changed == 0 {
		t.Errorf("report %+v: want converged after the retries", r.Report)
	}
	// Two rejected attempts, then one write per registry (member, hub).
	if got := proxy.Count("ecr", "PutRegistryPolicy"); got != 4 {
		t.Errorf("PutRegistryPolicy called %d times, want 4 (2 rejected + member + hub)", got)
	}
	w.assertMember(a)
	w.assertHub(foreign, roots(a), roots(a), nil)
}

// TestOversizedEnumerationRefusedBeforeWriting: a hub registry policy that
// already enumerates about 300 accounts cannot take one more; the change is
// refused before any write to it, the error names the limit and points at
// condition mode, and the audit trail records the refusal.
func TestOversizedEnumerationRefusedBeforeWriting(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	seed, k := oversizedSeed()
	w.putRegistryPolicy(w.hub, seed)
	a := w.createAccount("one-too-many", w.ouA)
	fn := w.start()
	proxy.Reset()
	r := w.invoke(fn, w.event("org-account-joined.json", a))
	if r.Refused != 1 {
		t.Fatalf("report %+v: want the hub registry policy refused", r.Report)
	}
	msg := strings.Join(r.Errors, "\n")
	for _, want := range []string{"10240-character limit", `principalMode "condition"`, "arn:aws:ecr:us-east-1:" + hubAccount} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal %q does not mention %q", msg, want)
		}
	}
	if n := proxy.CountsByAccount()[hubAccount]["PutRegistryPolicy"]; n != 0 {
		t.Errorf("the hub registry policy was written %d times despite the refusal", n)
	}
	if got := w.registryPolicy(w.hub); got != seed {
		t.Errorf("hub registry policy changed")
	}
	w.assertMember(a) // the member's own setup is independent of the hub's size
	w.assertAudited("arn:aws:ecr:us-east-1:"+hubAccount+":repository/*", audit.DecisionRefused, "10240-character limit")
	t.Logf("seeded %d enumerated accounts (%d characters); refusal: %s", k, len(seed), msg)
}

// oversizedSeed is a hub registry policy whose ecr-warden upstream grant
// enumerates as many accounts as fit under the 10,240-character limit, so
// that any statement or principal more goes over it.
func oversizedSeed() (string, int) {
	build := func(k int) string {
		var p []string
		for i := range k {
			p = append(p, fmt.Sprintf("%q", root(fmt.Sprintf("5%011d", i))))
		}
		return `{"Version":"2012-10-17","Statement":[{"Sid":"` + sidUpstream + `","Effect":"Allow","Principal":{"AWS":[` + strings.Join(p, ",") +
			`]},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchImportUpstreamImage","ecr:GetImageCopyStatus"],"Resource":"arn:aws:ecr:us-east-1:` + hubAccount + `:repository/shared/*"}]}`
	}
	k := 1
	for len(build(k+1)) <= policy.ECRRegistryPolicy.Limit() {
		k++
	}
	return build(k), k
}

// TestOrganizationsCallsDoNotGrowWithTheOrganization: one account event
// costs the same Organizations calls in an organization of 10 accounts and
// of 40, never ListAccounts: the account's OU path comes from its parents.
func TestOrganizationsCallsDoNotGrowWithTheOrganization(t *testing.T) {
	localaws.Need(t)
	count := func(size int) map[string]int {
		w := newWorld(t, nil)
		parents := []string{"", w.ouA, w.ouB}
		for i := range size - 1 {
			w.createAccount(fmt.Sprintf("filler-%02d", i), parents[i%3])
		}
		a := w.createAccount("subject", w.ouA)
		fn := w.start()
		proxy.Reset()
		w.invoke(fn, w.event("org-account-joined.json", a))
		calls := map[string]int{}
		for _, c := range proxy.Calls() {
			if c.Service == "organizations" {
				calls[c.Op]++
			}
		}
		return calls
	}
	small, large := count(10), count(40)
	t.Logf("Organizations calls for one join: 10 accounts %v, 40 accounts %v", small, large)
	if fmt.Sprint(small) != fmt.Sprint(large) {
		t.Errorf("Organizations calls grew with the organization: 10 accounts %v, 40 accounts %v", small, large)
	}
	total := 0
	for op, n := range large {
		total += n
		if op == "ListAccounts" || op == "ListAccountsForParent" || op == "ListChildren" {
			t.Errorf("one account event called %s", op)
		}
	}
	// DescribeOrganization (once per environment) and DescribeAccount, whose
	// answer carries the account's path as AWS documents it (Account.Paths):
	// no ListParents. Without Paths the reader climbs (shared/inventory's
	// tests), one ListParents per level.
	if total > 2 || large["ListParents"] != 0 {
		t.Errorf("one account event made %d Organizations calls (%v), want at most 2 and no ListParents", total, large)
	}
}

// TestV1ScopeRefusedUnlessAllowed: a member registry still on policy scope V1
// cannot enforce the declared V2 statement; without allowSwitchToV2 the
// registry policy is refused (nothing written, the error says how to fix
// it), with it the scope is switched and the policy written.
func TestV1ScopeRefusedUnlessAllowed(t *testing.T) {
	localaws.Need(t)
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allowSwitchToV2=%v", allow), func(t *testing.T) {
			w := newWorld(t, func(d string) string {
				return strings.Replace(d, `"allowSwitchToV2": false`, fmt.Sprintf(`"allowSwitchToV2": %v`, allow), 1)
			})
			a := w.createAccount("legacy", w.ouA)
			m := ecr.NewFromConfig(w.member(a))
			if _, err := m.PutAccountSetting(w.ctx, &ecr.PutAccountSettingInput{Name: aws.String("REGISTRY_POLICY_SCOPE"), Value: aws.String("V1")}); err != nil {
				t.Fatal(err)
			}
			fn := w.start()
			r := w.invoke(fn, w.event("org-account-joined.json", a))
			scope, err := m.GetAccountSetting(w.ctx, &ecr.GetAccountSettingInput{Name: aws.String("REGISTRY_POLICY_SCOPE")})
			if err != nil {
				t.Fatal(err)
			}
			text := w.registryPolicy(w.member(a))
			if !allow {
				msg := strings.Join(r.Errors, "\n")
				if r.Refused != 1 || !strings.Contains(msg, "V1") || !strings.Contains(msg, "allowSwitchToV2") {
					t.Errorf("report %+v: want the member registry policy refused, naming V1 and allowSwitchToV2", r.Report)
				}
				if text != "" || aws.ToString(scope.Value) != "V1" {
					t.Errorf("refused, yet the registry has policy %q and scope %s", text, aws.ToString(scope.Value))
				}
				w.assertAudited("arn:aws:ecr:us-east-1:"+a+":repository/*", audit.DecisionRefused, "allowSwitchToV2")
				return
			}
			if r.Refused != 0 || aws.ToString(scope.Value) != "V2" {
				t.Errorf("report %+v, scope %s: want the scope switched to V2", r.Report, aws.ToString(scope.Value))
			}
			w.assertMember(a)
		})
	}
}

// Finding 4: a departure event is verified against Organizations like a
// join. A stale or duplicated departure of an account that is in the
// organization and active (it left and re-joined) leaves its grants; a late
// join of an account that has since left does not bring them back: out of
// order, the organization's current state decides.
func TestStaleDepartureAfterRejoinKeepsGrants(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a1 := w.createAccount("rejoiner", w.ouA)
	foreign := foreignStatement("210987654321")
	w.seedHub("210987654321")
	fn := w.start()
	w.invoke(fn, w.event("org-account-joined.json", a1))
	w.assertHub(foreign, roots(a1), roots(a1), nil)

	// The departure from before the re-join arrives now, in both shapes.
	for _, ev := range []string{"org-account-departed.json", "org-remove-account.json"} {
		w.invoke(fn, w.event(ev, a1))
		w.assertHub(foreign, roots(a1), roots(a1), nil)
	}

	// The account leaves for real; then the join from before arrives late.
	if _, err := w.org.RemoveAccountFromOrganization(w.ctx, &organizations.RemoveAccountFromOrganizationInput{AccountId: aws.String(a1)}); err != nil {
		t.Fatal(err)
	}
	w.invoke(fn, w.event("org-account-joined.json", a1))
	w.assertHub(foreign, nil, nil, nil)
}

// TestClosedAccountLosesItsGrants: CloseAccount leaves the account in the
// organization, suspended, for 90 days; its event is taken as a departure
// verified against Organizations, so the hub's grants to it go at once and
// the other member's stay. A CloseAccount event for an account that
// Organizations still reports active (a stale or failed closure) changes
// nothing.
func TestClosedAccountLosesItsGrants(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a1 := w.createAccount("closer", w.ouA)
	a2 := w.createAccount("stayer", w.ouA)
	foreign := foreignStatement(a1)
	w.seedHub(a1)
	fn := w.start()
	w.invoke(fn, w.event("org-account-joined.json", a1))
	w.invoke(fn, w.event("org-account-joined.json", a2))
	w.assertHub(foreign, roots(a1, a2), roots(a1, a2), nil)

	w.invoke(fn, w.event("org-close-account.json", a2))
	w.assertHub(foreign, roots(a1, a2), roots(a1, a2), nil)

	if _, err := w.org.CloseAccount(w.ctx, &organizations.CloseAccountInput{AccountId: aws.String(a1)}); err != nil {
		t.Fatal(err)
	}
	r := w.invoke(fn, w.event("org-close-account.json", a1))
	if r.Changed != 1 {
		t.Errorf("closure report %+v: want exactly the hub registry policy changed", r.Report)
	}
	w.assertHub(foreign, roots(a2), roots(a2), nil)
}
