package desired

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// The example policies of the AWS documentation pages in shared/seeds, with their placeholders
// filled: account-id -> 444455556666, region -> us-east-1. Seeds 000 and 004 name an IAM user;
// declarations grant to roles, so the user ARN is replaced by a role of the same name (the only
// edit). Each test renders the same document from a declaration, pins it as a golden file and
// asserts it is equivalent (policy.DocumentsEquivalent) to the seed once Sids are set aside: the
// seeds' Sids are free text, ours carry the ownership prefix.
const (
	seed000PTCStatement = `{"Version":"2012-10-17","Statement":[{ "Sid": "PullThroughCacheFromReadOnlyRole", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::111122223333:role/ecr-pull-through-cache-user" }, "Action": [ "ecr:CreateRepository", "ecr:BatchImportUpstreamImage" ], "Resource": "arn:aws:ecr:us-east-1:111122223333:repository/ecr-public/*" }]}`

	seed002Registry = `{"Version": "2012-10-17","Statement": [{"Effect": "Allow","Principal": {"AWS": "arn:aws:iam::444455556666:root"},
"Action": ["ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","ecr:BatchCheckLayerAvailability","ecr:PutImage","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload"],"Resource": "*"}]}`

	seed002Repository = `{ "Version": "2012-10-17","Statement": [{"Sid": "AllowPushPull","Effect": "Allow","Principal": {"AWS": "arn:aws:iam::444455556666:root"},
"Action": ["ecr:GetDownloadUrlForLayer","ecr:BatchGetImage","ecr:BatchCheckLayerAvailability","ecr:PutImage","ecr:InitiateLayerUpload","ecr:UploadLayerPart","ecr:CompleteLayerUpload"]}]}`

	seed003Permission = `{ "Version":"2012-10-17", "Statement": [ { "Sid": "VisualEditor0", "Effect": "Allow", "Action": [ "ecr:GetDownloadUrlForLayer", "ecr:GetAuthorizationToken", "ecr:BatchImportUpstreamImage", "ecr:BatchGetImage", "ecr:GetImageCopyStatus", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload", "ecr:PutImage" ], "Resource": "*" } ] }`

	seed003Trust = `{ "Version":"2012-10-17", "Statement": [ { "Effect": "Allow", "Principal": { "Service": "pullthroughcache.ecr.amazonaws.com" }, "Action": "sts:AssumeRole" } ] }`

	seed003Upstream = `{"Version":"2012-10-17","Statement":[{ "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::444455556666:root" }, "Action": [ "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchImportUpstreamImage", "ecr:GetImageCopyStatus" ], "Resource": "arn:aws:ecr:us-east-1:111122223333:repository/*" }]}`

	seed004Public = `{ "Version": "2008-10-17", "Statement": [{ "Sid": "ECR Public Repository Policy", "Effect": "Allow", "Principal": { "AWS": "arn:aws:iam::444455556666:role/username" }, "Action": [ "ecr-public:DescribeImages", "ecr-public:DescribeRepositories" ] }] }`
)

// seedDeclaration is a minimal valid declaration with hub 111122223333; mutate adds what a seed
// needs.
func seedDeclaration(t *testing.T, mutate func(d *config.Declaration)) *config.Declaration {
	t.Helper()
	d := &config.Declaration{Hub: config.Hub{AccountID: "111122223333", Regions: []string{"us-east-1"},
		OrganizationID: "o-a1b2c3d4e5", ManagementAccountID: "999999999999"}}
	mutate(d)
	d.ApplyDefaults()
	if err := d.Validate(); err != nil {
		t.Fatalf("seed declaration: %v", err)
	}
	return d
}

var seedAccounts = []Account{
	{ID: "111122223333", Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/"},
	{ID: "444455556666", Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"},
}

func withoutSids(doc *policy.Document) *policy.Document {
	out := &policy.Document{Version: doc.Version}
	for _, s := range doc.Statements {
		s = s.WithoutRaw()
		s.Sid = ""
		out.Statements = append(out.Statements, s)
	}
	return out
}

func assertSeedEquivalent(t *testing.T, golden string, kind policy.DocumentKind, got *policy.Document, seed string) {
	t.Helper()
	goldenDoc(t, golden, kind, got)
	want, err := policy.Parse(seed)
	if err != nil {
		t.Fatalf("parsing seed: %v", err)
	}
	eq, err := policy.DocumentsEquivalent(withoutSids(got), withoutSids(want))
	if err != nil {
		t.Fatal(err)
	}
	if !eq {
		text, _ := got.Marshal()
		t.Errorf("%s is not equivalent to the seed example:\n got %s\nseed %s", golden, text, seed)
	}
}

func TestSeed000PTCRegistryStatement(t *testing.T) {
	d := seedDeclaration(t, func(d *config.Declaration) {
		d.Hub.AccountID = "444455556666" // the member with the rule is 111122223333 here
		d.PullThroughCache = &config.PullThroughCache{
			Members:             config.MemberSelector{Accounts: []string{"111122223333"}},
			Rules:               []config.PTCRule{{Prefix: "ecr-public", UpstreamRegistryURL: "public.ecr.aws"}},
			StatementPrincipals: config.StatementPrincipals{RoleNames: []string{"ecr-pull-through-cache-user"}},
		}
	})
	s := New(d, seedAccounts)
	assertSeedEquivalent(t, "seed-000-ptc-registry-policy.json", policy.ECRRegistryPolicy,
		Render(policy.ECRRegistryPolicy, s.RegistryStatements("111122223333", "us-east-1")), seed000PTCStatement)
}

func TestSeed002RegistryAndRepository(t *testing.T) {
	d := seedDeclaration(t, func(d *config.Declaration) {
		d.Grants = []config.Grant{
			{Name: "secondary-registry", Repositories: []string{"*"}, Access: "push", Principals: config.Principals{Accounts: []string{"444455556666"}}},
			{Name: "secondary-repository", Repositories: []string{"app"}, Access: "push", Principals: config.Principals{Accounts: []string{"444455556666"}}, Placement: "repository"},
		}
	})
	s := New(d, seedAccounts)
	assertSeedEquivalent(t, "seed-002-registry-policy.json", policy.ECRRegistryPolicy,
		Render(policy.ECRRegistryPolicy, s.RegistryStatements("111122223333", "us-east-1")), seed002Registry)
	// The comparison is not vacuous: the registry rendering (with Resource) is not the repository seed.
	reg, _ := policy.Parse(seed002Registry)
	repo, _ := policy.Parse(seed002Repository)
	if eq, err := policy.DocumentsEquivalent(withoutSids(reg), withoutSids(repo)); err != nil || eq {
		t.Fatalf("registry and repository seeds compare equivalent (%v): the check would prove nothing", err)
	}
	assertSeedEquivalent(t, "seed-002-repository-policy.json", policy.ECRRepositoryPolicy,
		Render(policy.ECRRepositoryPolicy, s.RepositoryStatements(Repository{Account: "111122223333", Region: "us-east-1", Name: "app"})), seed002Repository)
}

func TestSeed003CrossAccountPTC(t *testing.T) {
	ptc := func(sourceAccount *bool) func(d *config.Declaration) {
		return func(d *config.Declaration) {
			d.PullThroughCache = &config.PullThroughCache{
				Members: config.MemberSelector{All: true},
				Rules:   []config.PTCRule{{Prefix: "hub", FromHub: true}},
				Role:    config.PTCRole{SourceAccountCondition: sourceAccount},
			}
		}
	}
	// By default the trust carries aws:SourceAccount = the member (AWS's confused-deputy advice);
	// the seed's trust has no condition, which is what the switch turned off renders.
	s := New(seedDeclaration(t, ptc(nil)), seedAccounts)
	role, ok := s.PTCRole("444455556666")
	if !ok {
		t.Fatal("no PTC role for the member")
	}
	goldenDoc(t, "seed-003-ptc-role-trust-default.json", policy.RoleTrustPolicy, role.Trust)
	if got := role.Trust.Statements[0].Condition["StringEquals"]["aws:SourceAccount"]; !slices.Equal(got, policy.StringList{"444455556666"}) {
		t.Fatalf("default trust: aws:SourceAccount = %v, want the member 444455556666", got)
	}
	off := false
	d := seedDeclaration(t, ptc(&off))
	s = New(d, seedAccounts)
	role, _ = s.PTCRole("444455556666")
	assertSeedEquivalent(t, "seed-003-ptc-role-permission.json", policy.RoleInlinePolicy, role.Permission, seed003Permission)
	assertSeedEquivalent(t, "seed-003-ptc-role-trust.json", policy.RoleTrustPolicy, role.Trust, seed003Trust)
	hub := s.RegistryStatements("111122223333", "us-east-1")
	// ecr-warden narrows the seed's grant to the member's PTC role (the
	// seed grants every role of the member): apart from that condition the
	// statement is the seed's.
	wantCond := `{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:role/ecr-warden-ptc"}}`
	stripped := slices.Clone(hub)
	for i := range stripped {
		if got, _ := json.Marshal(stripped[i].Condition); string(got) != wantCond {
			t.Fatalf("upstream grant %s condition = %s, want %s", stripped[i].Sid, got, wantCond)
		}
		stripped[i].Condition = nil
	}
	assertSeedEquivalent(t, "seed-003-hub-upstream-registry-policy.json", policy.ECRRegistryPolicy, Render(policy.ECRRegistryPolicy, stripped), seed003Upstream)
	rules := s.PTCRules("444455556666", "us-east-1")
	if len(rules) != 1 || rules[0].CustomRoleARN != role.ARN || rules[0].UpstreamRegistryURL != "111122223333.dkr.ecr.us-east-1.amazonaws.com" {
		t.Errorf("ECR-to-ECR rule = %+v", rules)
	}
}

func TestSeed004PublicRepository(t *testing.T) {
	d := seedDeclaration(t, func(d *config.Declaration) {
		d.ActionSets = map[string][]string{"describe": {"ecr-public:DescribeImages", "ecr-public:DescribeRepositories"}}
		d.PublicRepositories = []config.PublicGrant{{Name: "describe", Repositories: []string{"repository-name"}, Access: "describe",
			Principals: config.PublicPrincipals{Roles: []string{"arn:aws:iam::444455556666:role/username"}}}}
	})
	s := New(d, seedAccounts)
	doc := Render(policy.PublicRepositoryPolicy, s.PublicRepositoryStatements(PublicRepository{Account: "111122223333", Name: "repository-name"}))
	if doc.Version != policy.VersionLegacy {
		t.Errorf("public policy version = %s, want 2008-10-17", doc.Version)
	}
	assertSeedEquivalent(t, "seed-004-public-repository-policy.json", policy.PublicRepositoryPolicy, doc, seed004Public)
}
