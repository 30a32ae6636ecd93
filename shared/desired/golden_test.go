package desired

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/golden"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

const (
	hubID  = "111111111111"
	teamA  = "222222222222"
	work   = "333333333333"
	mgmt   = "999999999999"
	region = "us-east-1"
)

// fixedAccounts is the small inventory the goldens are rendered with: the hub and management
// account at the root, a team-a member in a nested OU, a workloads member, a suspended account and
// one that left the organization (both must be ignored).
var fixedAccounts = []Account{
	{ID: hubID, Name: "hub", Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/"},
	{ID: mgmt, Name: "management", Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/"},
	{ID: teamA, Name: "team-a", Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/"},
	{ID: work, Name: "workloads", Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"},
	{ID: "555555555555", Name: "suspended", Status: "SUSPENDED", OUPath: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"},
	{ID: "666666666666", Name: "departed", Status: "NOT_IN_ORGANIZATION"},
}

func example(t testing.TB) *config.Declaration {
	t.Helper()
	d, err := config.Load("../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// goldenFile compares got (indented JSON, ending in one newline) with testdata/name byte for
// byte, or rewrites it with -update (see package golden).
func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("testdata", name), append(bytes.TrimSpace(got), '\n'))
}

// goldenDoc renders a document, checks it against the policy guardrails and size limit as apply
// would, and compares it with its golden file.
func goldenDoc(t *testing.T, name string, kind policy.DocumentKind, doc *policy.Document) {
	t.Helper()
	if len(doc.Statements) == 0 {
		t.Fatalf("%s: no statements rendered", name)
	}
	if err := policy.Guard(kind, doc); err != nil {
		t.Fatalf("%s fails the guardrails: %v", name, err)
	}
	text, err := doc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := policy.CheckSize(kind, name, text); err != nil {
		t.Fatal(err)
	}
	pretty, err := doc.Pretty()
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, name, []byte(pretty))
}

func TestGoldenExampleDocuments(t *testing.T) {
	d := example(t)
	s := New(d, fixedAccounts)

	goldenDoc(t, "hub-registry-policy.us-east-1.json", policy.ECRRegistryPolicy, Render(policy.ECRRegistryPolicy, s.RegistryStatements(hubID, region)))
	goldenDoc(t, "member-registry-policy.222222222222.us-east-1.json", policy.ECRRegistryPolicy, Render(policy.ECRRegistryPolicy, s.RegistryStatements(teamA, region)))
	goldenDoc(t, "repository-policy.222222222222.apps-api.json", policy.ECRRepositoryPolicy,
		Render(policy.ECRRepositoryPolicy, s.RepositoryStatements(Repository{Account: teamA, Region: region, Name: "apps/api", Tags: map[string]string{"share": "org", "team": "a"}})))
	goldenDoc(t, "public-repository-policy.tools-cli.json", policy.PublicRepositoryPolicy,
		Render(policy.PublicRepositoryPolicy, s.PublicRepositoryStatements(PublicRepository{Account: hubID, Name: "tools/cli"})))

	role, ok := s.PTCRole(teamA)
	if !ok {
		t.Fatal("member 222222222222 gets no PTC role")
	}
	if role.Name != "ecr-warden-ptc" || role.ARN != "arn:aws:iam::222222222222:role/ecr-warden-ptc" {
		t.Errorf("PTC role = %s %s", role.Name, role.ARN)
	}
	goldenDoc(t, "ptc-role-trust.222222222222.json", policy.RoleTrustPolicy, role.Trust)
	goldenDoc(t, "ptc-role-permission.222222222222.json", policy.RoleInlinePolicy, role.Permission)

	// The upstream grant in condition mode: the organization (or the members' OU paths), the PTC
	// role's name, and never the hub or the management account, which are no PTC members.
	cd := example(t)
	cd.PullThroughCache.UpstreamGrantMode = config.ModeCondition
	goldenDoc(t, "hub-registry-policy.upstream-condition.us-east-1.json", policy.ECRRegistryPolicy,
		Render(policy.ECRRegistryPolicy, New(cd, fixedAccounts).RegistryStatements(hubID, region)))

	rules, err := json.MarshalIndent(s.PTCRules(teamA, region), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "ptc-rules.222222222222.us-east-1.json", rules)
}

// TestExampleSemantics pins the decisions the goldens embody, so a reviewer sees them named.
func TestExampleSemantics(t *testing.T) {
	d := example(t)
	s := New(d, fixedAccounts)
	sids := func(sts []policy.Statement) string {
		var out []string
		for _, st := range sts {
			out = append(out, st.Sid)
		}
		return strings.Join(out, ",")
	}
	// Hub: condition grants, the enumerated grant (team-a and workloads are in the OU, the suspended
	// account is not listed, the partner account is), the member-and-hub scan grant, the upstream
	// grant to the PTC members (neither hub nor management nor suspended/departed accounts).
	hub := s.RegistryStatements(hubID, region)
	if got, want := sids(hub), "EcrWardenOrgPullSharedOrg,EcrWardenTeamAPushOrgPaths,EcrWardenTeamAPushRoles,EcrWardenWorkloadsPullAppsAccounts,EcrWardenSecurityScanRoles,EcrWardenPtcUpstreamHub"; got != want {
		t.Errorf("hub Sids = %s\nwant %s", got, want)
	}
	if got := strings.Join(hub[3].Principal.AWS, ","); got != "arn:aws:iam::222222222222:root,arn:aws:iam::333333333333:root,arn:aws:iam::444444444444:root" {
		t.Errorf("enumerated principals = %s", got)
	}
	if got := strings.Join(hub[5].Principal.AWS, ","); got != "arn:aws:iam::222222222222:root,arn:aws:iam::333333333333:root" {
		t.Errorf("upstream principals = %s", got)
	}
	if got := hub[5].Resource[0]; got != "arn:aws:ecr:us-east-1:111111111111:repository/shared/*" {
		t.Errorf("upstream resource = %s", got)
	}
	// Management, suspended and departed accounts are not members: no statements, rules or role.
	for _, id := range []string{mgmt, "555555555555", "666666666666"} {
		if sts := s.RegistryStatements(id, region); len(sts) != 0 {
			t.Errorf("account %s gets registry statements %s", id, sids(sts))
		}
		if _, ok := s.PTCRole(id); ok {
			t.Errorf("account %s gets a PTC role", id)
		}
		if r := s.PTCRules(id, region); r != nil {
			t.Errorf("account %s gets PTC rules", id)
		}
	}
	// Repository placement: tags must match; the grant lives in hub and members.
	if got := s.RepositoryStatements(Repository{Account: work, Region: region, Name: "x", Tags: map[string]string{"share": "team"}}); len(got) != 0 {
		t.Errorf("untagged repository gets %s", sids(got))
	}
	if got := sids(s.RepositoryStatements(Repository{Account: hubID, Region: region, Name: "base/alpine", Tags: map[string]string{"share": "org"}})); got != "EcrWardenTaggedOrgPullOrg" {
		t.Errorf("tagged hub repository gets %s", got)
	}
	// Public grants live in the hub by default and match by name.
	if got := s.PublicRepositoryStatements(PublicRepository{Account: hubID, Name: "other"}); len(got) != 0 {
		t.Errorf("non-matching public repository gets %s", sids(got))
	}
	// A member outside the PTC region set still gets rules pointing at the hub's first region.
	rules := s.PTCRules(work, "ap-south-1")
	if got := rules[4].UpstreamRegistryURL; got != "111111111111.dkr.ecr.us-east-1.amazonaws.com" {
		t.Errorf("fromHub URL outside hub regions = %s", got)
	}
	if got := rules[3].CredentialARN; got != "arn:aws:secretsmanager:ap-south-1:333333333333:secret:ecr-pullthroughcache/docker-hub" {
		t.Errorf("credential ARN = %s", got)
	}
}

func TestMatchPattern(t *testing.T) {
	cases := []struct {
		p, n string
		want bool
	}{
		{"*", "a/b/c", true}, {"team-a/*", "team-a/api", true}, {"team-a/*", "team-a/x/y", true},
		{"team-a/*", "team-b/api", false}, {"team-a/*", "team-a", false}, {"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false}, {"base/alpine", "base/alpine", true}, {"base/alpine", "base/alpine2", false},
		{"*-prod", "svc-prod", true}, {"*-prod", "svc-prod-x", false},
	}
	for _, c := range cases {
		if got := MatchPattern(c.p, c.n); got != c.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", c.p, c.n, got, c.want)
		}
	}
}
