package desired

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// manyAccounts builds n active member accounts spread over 10 OUs under the workloads OU.
func manyAccounts(n int) []Account {
	out := []Account{
		{ID: hubID, Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/"},
		{ID: mgmt, Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/"},
	}
	for i := range n {
		out = append(out, Account{ID: fmt.Sprintf("%012d", 100000000000+i), Status: "ACTIVE",
			OUPath: fmt.Sprintf("o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-%08d/", i%10)})
	}
	return out
}

// TestOversizedEnumerationFails: enumerating 400 accounts into one registry statement is over
// ECR's 10,240-character limit; planning it fails with an error naming the document, its size, the
// limit and the fix, and nothing reaches apply.
func TestOversizedEnumerationFails(t *testing.T) {
	d := seedDeclaration(t, func(d *config.Declaration) {
		d.Hub.AccountID = hubID
		d.Grants = []config.Grant{{Name: "everyone-pull", Repositories: []string{"*"}, Access: "pull",
			Principals: config.Principals{Organization: true}, PrincipalMode: config.ModeEnumerate}}
	})
	s := New(d, manyAccounts(400))
	owned := s.RegistryStatements(hubID, region)
	if n := len(owned[0].Principal.AWS); n != 401 { // 400 members + the hub (management is in the org too)
		if n != 402 {
			t.Fatalf("enumerated %d principals", n)
		}
	}
	target := policy.RegistryARN("aws", region, hubID)
	_, err := plan.Document(policy.ECRRegistryPolicy, target, "", owned, d.SidPrefix)
	var se *policy.SizeError
	if !errors.As(err, &se) {
		t.Fatalf("plan.Document = %v, want a *policy.SizeError", err)
	}
	msg := err.Error()
	for _, want := range []string{target, fmt.Sprint(se.Size), "10240", `principalMode "condition"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
	if se.Size <= 10240 || se.Limit != 10240 {
		t.Errorf("size %d limit %d", se.Size, se.Limit)
	}
	// The same grant in condition mode fits easily.
	d.Grants[0].PrincipalMode = config.ModeCondition
	ch, err := plan.Document(policy.ECRRegistryPolicy, target, "", New(d, manyAccounts(400)).RegistryStatements(hubID, region), d.SidPrefix)
	if err != nil || ch.Op != plan.OpCreate {
		t.Fatalf("condition mode: %v %v", ch.Op, err)
	}
}

// TestUpstreamGrantConditionMode: with 1,000 PTC members the enumerated upstream grant is over the
// limit; condition mode names the organization and the PTC role instead and fits.
func TestUpstreamGrantConditionMode(t *testing.T) {
	d := example(t)
	d.Grants = nil
	accounts := manyAccounts(1000)
	target := policy.RegistryARN("aws", region, hubID)
	_, err := plan.Document(policy.ECRRegistryPolicy, target, "", New(d, accounts).RegistryStatements(hubID, region), d.SidPrefix)
	var se *policy.SizeError
	if !errors.As(err, &se) {
		t.Fatalf("enumerated upstream grant for 1,000 members: %v, want *policy.SizeError", err)
	}
	d.PullThroughCache.UpstreamGrantMode = config.ModeCondition
	sts := New(d, accounts).RegistryStatements(hubID, region)
	if len(sts) != 1 || sts[0].Sid != "EcrWardenPtcUpstreamHubOrg" {
		t.Fatalf("condition-mode upstream statements: %+v", sts)
	}
	text, _ := Render(policy.ECRRegistryPolicy, sts).Marshal()
	want := `{"Version":"2012-10-17","Statement":[{"Sid":"EcrWardenPtcUpstreamHubOrg","Effect":"Allow","Principal":{"AWS":"*"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchImportUpstreamImage","ecr:GetImageCopyStatus"],"Resource":"arn:aws:ecr:us-east-1:111111111111:repository/shared/*","Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/ecr-warden-ptc"},"StringEquals":{"aws:PrincipalOrgID":"o-a1b2c3d4e5"},"StringNotEquals":{"aws:PrincipalAccount":["111111111111","999999999999"]}}}]}`
	if text != want {
		t.Errorf("got  %s\nwant %s", text, want)
	}
	ch, err := plan.Document(policy.ECRRegistryPolicy, target, "", sts, d.SidPrefix)
	if err != nil || ch.Op != plan.OpCreate {
		t.Fatalf("planning condition-mode upstream grant: %v %v", ch.Op, err)
	}
	// OUs and listed accounts: one statement per kind; listed accounts that are not PTC members
	// (the management account cannot be) are left out.
	d.PullThroughCache.Members = config.MemberSelector{OUs: []string{"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-00000003/"}, Accounts: []string{"100000000004", "555555555555"}}
	sts = New(d, accounts).RegistryStatements(hubID, region)
	if len(sts) != 2 || sts[0].Sid != "EcrWardenPtcUpstreamHubOrgPaths" || sts[1].Sid != "EcrWardenPtcUpstreamHubAccounts" ||
		strings.Join(sts[1].Principal.AWS, ",") != "arn:aws:iam::100000000004:root" {
		t.Fatalf("OU/account upstream statements: %+v", sts)
	}
	// The OU grant admits the members' OU paths, never the hub or the management account (which a
	// role named like the PTC role would otherwise get in through when it sits in a selected OU).
	if c := sts[0].Condition; len(c["ForAnyValue:StringLike"]["aws:PrincipalOrgPaths"]) != 1 ||
		strings.Join(c["StringNotEquals"]["aws:PrincipalAccount"], ",") != "111111111111,999999999999" {
		t.Errorf("OU upstream statement's condition: %+v", c)
	}
}

// TestUpstreamGrantNarrowedToPTCRole: every statement of the hub's upstream grant, in both modes
// and for every way members are selected (all, OUs, listed by id), lets the members in only as their
// PTC role (ArnLike aws:PrincipalArn on the role's name). A listed member's root without it would let
// every role of that member read and import from the hub's upstream repositories.
func TestUpstreamGrantNarrowedToPTCRole(t *testing.T) {
	roleArn := "arn:aws:iam::*:role/ecr-warden-ptc"
	for _, mode := range []string{config.ModeEnumerate, config.ModeCondition} {
		for name, members := range map[string]config.MemberSelector{
			"all":    {All: true},
			"ous":    {OUs: []string{"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-00000003/"}},
			"listed": {Accounts: []string{"100000000004"}},
			"mixed":  {OUs: []string{"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-00000003/"}, Accounts: []string{"100000000004"}},
		} {
			d := example(t)
			d.Grants = nil
			d.PullThroughCache.UpstreamGrantMode = mode
			d.PullThroughCache.Members = members
			sts := New(d, manyAccounts(20)).RegistryStatements(hubID, region)
			if len(sts) == 0 {
				t.Fatalf("%s/%s: no upstream statement", mode, name)
			}
			for _, s := range sts {
				got := s.Condition["ArnLike"]["aws:PrincipalArn"]
				if len(got) != 1 || got[0] != roleArn {
					t.Errorf("%s/%s: statement %s has ArnLike aws:PrincipalArn %v, want [%s] (condition %v)", mode, name, s.Sid, got, roleArn, s.Condition)
				}
			}
		}
	}
}

// benchWorld is 1,000 member accounts, 10,000 repositories (10 per account, every other one tagged
// share=org so the repository-placement grant matches half of them), the example declaration with
// every member getting the PTC setup (the hub's upstream grant in condition mode), the enumerated
// grant in condition mode (1,000 accounts do not fit one document), and current policies:
// a third of the repositories already hold the desired document, a third hold a foreign statement.
type benchWorld struct {
	state    *State
	accounts []Account
	repos    []Repository
	current  []string
	regCur   map[string]string
}

func newBenchWorld(tb testing.TB) *benchWorld {
	d := example(tb)
	d.PullThroughCache.UpstreamGrantMode = config.ModeCondition // 1,000 enumerated PTC members would not fit
	d.Grants[2].PrincipalMode = config.ModeCondition            // enumerating 1,000 accounts would not fit (see TestOversizedEnumerationFails)
	accounts := manyAccounts(1000)
	s := New(d, accounts)
	w := &benchWorld{state: s, accounts: accounts, regCur: map[string]string{}}
	foreign := `{"Version":"2012-10-17","Statement":[{"Sid":"TeamKeep","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"ecr:BatchGetImage"}]}`
	for i := range 10000 {
		a := accounts[2+i%1000]
		r := Repository{Account: a.ID, Region: region, Name: fmt.Sprintf("team-%d/svc-%d", i%37, i)}
		if i%2 == 0 {
			r.Tags = map[string]string{"share": "org"}
		}
		cur := ""
		switch i % 3 {
		case 1:
			if sts := s.RepositoryStatements(r); len(sts) > 0 {
				cur, _ = Render(policy.ECRRepositoryPolicy, sts).Marshal()
			}
		case 2:
			cur = foreign
		}
		w.repos = append(w.repos, r)
		w.current = append(w.current, cur)
	}
	return w
}

// run computes desired + plan for every repository, every account's registry policy and PTC
// rules, and the hub's registry policy; it returns how many changes write.
func (w *benchWorld) run(tb testing.TB) int {
	s, prefix := w.state, w.state.Declaration().SidPrefix
	writes := 0
	for i, r := range w.repos {
		ch, err := plan.Document(policy.ECRRepositoryPolicy, policy.RepositoryARN("aws", r.Region, r.Account, r.Name), w.current[i], s.RepositoryStatements(r), prefix)
		if err != nil {
			tb.Fatal(err)
		}
		if ch.Writes() {
			writes++
		}
	}
	for _, a := range w.accounts {
		if a.ID != hubID && !s.ManagedMember(a) {
			continue
		}
		target := policy.RegistryARN("aws", region, a.ID)
		ch, err := plan.Document(policy.ECRRegistryPolicy, target, w.regCur[a.ID], s.RegistryStatements(a.ID, region), prefix)
		if err != nil {
			tb.Fatal(err)
		}
		if ch.Writes() {
			writes++
		}
		for _, rc := range plan.Rules(target, nil, s.PTCRules(a.ID, region), s.RetiredPTCPrefixes()) {
			if rc.Writes() {
				writes++
			}
		}
	}
	return writes
}

func TestBenchWorldPlansAsExpected(t *testing.T) {
	w := newBenchWorld(t)
	// 5,000 tagged repositories want the grant; a third of those already have it (1,667 of the
	// i%3==1 ones are tagged when i is even: i%6==4) -> no write. Untagged repositories with no
	// owned statements write nothing. Registry: hub + 1,000 members each write (scan grant), and
	// the 1,000 PTC members create 5 rules each.
	got := w.run(t)
	tagged, already := 0, 0
	for i := range 10000 {
		if i%2 == 0 {
			tagged++
			if i%3 == 1 {
				already++
			}
		}
	}
	want := tagged - already + 1 + 1000 + 1000*5
	if got != want {
		t.Fatalf("writes = %d, want %d", got, want)
	}
}

// BenchmarkDesiredAndPlan10kRepos1kAccounts: one op is desired state plus plan for the whole world
// (10,000 repositories, 1,000 accounts' registry policies and PTC rules). Reported per repository
// as ns/repo and allocs/repo; the whole set must stay under 1 s and 256 MB.
func BenchmarkDesiredAndPlan10kRepos1kAccounts(b *testing.B) {
	w := newBenchWorld(b)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.run(b)
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	n := float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n/10000, "ns/repo")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n/10000, "allocs/repo")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/n/(1<<20), "MB/op")
}

// BenchmarkDesiredOnly10kRepos1kAccounts isolates this package's share of the benchmark above:
// the statements for 10,000 repositories and 1,000 registries, without planning.
func BenchmarkDesiredOnly10kRepos1kAccounts(b *testing.B) {
	w := newBenchWorld(b)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, r := range w.repos {
			n += len(w.state.RepositoryStatements(r))
		}
		for _, a := range w.accounts {
			n += len(w.state.RegistryStatements(a.ID, region)) + len(w.state.PTCRules(a.ID, region))
		}
		if n == 0 {
			b.Fatal("no statements")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/repo")
}
