package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

const examplePath = "../../infra/declaration.json"

func loadExample(t testing.TB) *Declaration {
	t.Helper()
	d, err := Load(examplePath)
	if err != nil {
		t.Fatalf("example declaration: %v", err)
	}
	return d
}

func TestExampleDeclarationIsValidAndDefaulted(t *testing.T) {
	d := loadExample(t)
	if d.Hub.AccountID != "111111111111" || len(d.Grants) != 5 || len(d.PullThroughCache.Rules) != 5 {
		t.Fatalf("unexpected declaration: %+v", d)
	}
	// Defaults are explicit after loading.
	g := d.Grants[1] // team-a-push omits registries
	if !g.Registries.Hub || g.Registries.AllMembers {
		t.Errorf("default registries = %+v, want hub only", g.Registries)
	}
	if got := d.PullThroughCache.Rules[1].UpstreamRegistry; got != "quay" {
		t.Errorf("inferred upstreamRegistry = %q, want quay", got)
	}
	if got := d.PullThroughCache.Rules[4].UpstreamRegistry; got != "ecr" {
		t.Errorf("fromHub upstreamRegistry = %q, want ecr", got)
	}
	if got := d.PublicRepositories[0].Registries; !got.Hub {
		t.Errorf("public grant registries = %+v, want hub", got)
	}
}

func TestDefaults(t *testing.T) {
	d, err := Parse([]byte(`{"hub":{"accountId":"111111111111","regions":["us-east-1"],"organizationId":"o-a1b2c3d4e5","managementAccountId":"999999999999"},
	  "grants":[{"name":"g","repositories":["x/*"],"access":"pull","principals":{"organization":true}}],
	  "pullThroughCache":{"members":{"all":true},"rules":[{"prefix":"ecr-public","upstreamRegistryUrl":"public.ecr.aws"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]any{
		"partition":      {d.Hub.Partition, "aws"},
		"sidPrefix":      {d.SidPrefix, "EcrWarden"},
		"memberRoleName": {d.MemberRoleName, "ecr-warden-execution"},
		"placement":      {d.Grants[0].Placement, "registry"},
		"principalMode":  {d.Grants[0].PrincipalMode, "condition"},
		"registries":     {d.Grants[0].Registries, Registries{Hub: true}},
		"ptc role":       {d.PullThroughCache.Role.Name, "ecr-warden-ptc"},
		"source account": {d.PullThroughCache.Role.SourceAccount(), true},
		"concurrency":    {[]int{d.Functions.ReservedConcurrency.Of("repository"), d.Functions.ReservedConcurrency.Of("account"), d.Functions.ReservedConcurrency.Of("backfill"), d.Functions.ReservedConcurrency.Of("worker"), d.Functions.ReservedConcurrency.Of("drift")}, []int{10, 5, 2, 5, 5}},
		"ct region":      {d.Hub.ControlTowerRegion(), "us-east-1"},
		"upstream mode":  {d.PullThroughCache.UpstreamGrantMode, "enumerate"},
		"stmt principal": {d.PullThroughCache.StatementPrincipals, StatementPrincipals{AccountRoot: true}},
		"upstream kind":  {d.PullThroughCache.Rules[0].UpstreamRegistry, "ecr-public"},
		"sweep":          {d.Sweep.Schedule, "rate(6 hours)"},
	}
	for name, c := range checks {
		if !reflect.DeepEqual(c[0], c[1]) {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
}

// TestControlTowerRegionDefaultsToThePartitionsManagementRegion: without a declared home region,
// Control Tower events are accepted from the management stack's region, which is the partition's
// Organizations events region (us-east-1 exists in aws only).
func TestControlTowerRegionDefaultsToThePartitionsManagementRegion(t *testing.T) {
	for partition, want := range map[string]string{"": "us-east-1", "aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-northwest-1"} {
		if got := (Hub{Partition: partition}).ControlTowerRegion(); got != want {
			t.Errorf("partition %q: %s, want %s", partition, got, want)
		}
	}
	if got := (Hub{Partition: "aws-cn", ControlTowerHomeRegion: "cn-north-1"}).ControlTowerRegion(); got != "cn-north-1" {
		t.Errorf("declared home region: %s, want cn-north-1", got)
	}
}

// TestValidationMessages mutates the example declaration one way per case and asserts the exact
// problem (path and message) Validate reports.
func TestValidationMessages(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(d *Declaration)
		path   string
		msg    string
	}{
		{"hub account", func(d *Declaration) { d.Hub.AccountID = "1111" }, "hub.accountId", `account id "1111" must be 12 digits`},
		{"control tower region", func(d *Declaration) { d.Hub.ControlTowerHomeRegion = "Ireland" }, "hub.controlTowerHomeRegion", `region "Ireland" is not a region name like us-east-1`},
		{"control tower partition", func(d *Declaration) { d.Hub.ControlTowerHomeRegion = "cn-north-1" }, "hub.controlTowerHomeRegion", `region "cn-north-1" is in partition aws-cn, not the declared partition aws`},
		{"concurrency zero", func(d *Declaration) { zero := 0; d.Functions.ReservedConcurrency.Repository = &zero }, "functions.reservedConcurrency.repository",
			"reserved concurrency 0 must be between 1 and 900 (AWS keeps 100 of an account's default 1,000 concurrent executions unreserved)"},
		{"concurrency too high", func(d *Declaration) { n := 901; d.Functions.ReservedConcurrency.Drift = &n }, "functions.reservedConcurrency.drift",
			"reserved concurrency 901 must be between 1 and 900 (AWS keeps 100 of an account's default 1,000 concurrent executions unreserved)"},
		{"worker concurrency", func(d *Declaration) { one := 1; d.Functions.ReservedConcurrency.Worker = &one }, "functions.reservedConcurrency.worker",
			"reserved concurrency 1 must be between 2 and 900 (AWS keeps 100 of an account's default 1,000 concurrent executions unreserved); the worker's is also its SQS event source's maximum concurrency, at least 2"},
		// Accepted before: each function within 1..900, but Lambda keeps 100 of the account's 1,000
		// unreserved across all of them, so the deploy failed at the last reservation.
		{"concurrency sum", func(d *Declaration) {
			a, b := 500, 400
			d.Functions.ReservedConcurrency.Repository, d.Functions.ReservedConcurrency.Account = &a, &b
		}, "functions.reservedConcurrency",
			"the functions reserve 912 concurrent executions together (repository 500, account 400, backfill 2, worker 5, drift 5), but an account keeps 100 of its default 1,000 unreserved, so Lambda refuses the reservation past 900 and the deploy fails"},
		{"region in capitals", func(d *Declaration) { d.Hub.Regions = []string{"us-east-1", "US-EAST-2"} }, "hub.regions[1]", `region "US-EAST-2" is not a region name like us-east-1 (did you mean "us-east-2"?)`},
		{"access in capitals", func(d *Declaration) { d.Grants[0].Access = "PULL" }, "grants[0].access", `access "PULL" must be lowercase (pull)`},
		{"tag key with a trailing space", func(d *Declaration) { d.Grants[3].RepositoryTags = map[string]string{"share ": "org"} }, `grants[3].repositoryTags["share "]`,
			`tag key "share " starts or ends with a space, which does not show where it is read: the condition would match no repository tagged as it reads; write it out again`},
		{"tag value with a leading space", func(d *Declaration) { d.Grants[3].RepositoryTags = map[string]string{"share": " org"} }, `grants[3].repositoryTags["share"]`,
			`tag value " org" starts or ends with a space, which does not show where it is read: the condition would match no repository tagged as it reads; write it out again`},
		{"partition", func(d *Declaration) { d.Hub.Partition = "aws-moon" }, "hub.partition", `partition "aws-moon" must be aws, aws-cn or aws-us-gov`},
		{"no regions", func(d *Declaration) { d.Hub.Regions = nil }, "hub.regions", "at least one region is required"},
		{"region pattern", func(d *Declaration) { d.Hub.Regions = []string{"us-east-1", "US_EAST"} }, "hub.regions[1]", `region "US_EAST" is not a region name like us-east-1`},
		{"region twice", func(d *Declaration) { d.Hub.Regions = []string{"us-east-1", "us-east-1"} }, "hub.regions[1]", `region "us-east-1" is listed twice`},
		{"region partition", func(d *Declaration) { d.Hub.Regions = []string{"cn-north-1"} }, "hub.regions[0]", `region "cn-north-1" is in partition aws-cn, not the declared partition aws`},
		// Regions AWS does not have were accepted for their shape: the deploy created the first hub
		// region's stack and failed in the next.
		{"region that does not exist", func(d *Declaration) { d.Hub.Regions = []string{"us-east-1", "us-east-9"} }, "hub.regions[1]",
			`region "us-east-9" is not a region of the aws, aws-cn or aws-us-gov partitions (did you mean "us-east-1"?); a region AWS launched after this release must be added to policy.Regions first`},
		{"region of another partition", func(d *Declaration) { d.Hub.Regions = []string{"us-east-1", "us-iso-east-1"} }, "hub.regions[1]",
			`region "us-iso-east-1" is not a region of the aws, aws-cn or aws-us-gov partitions; a region AWS launched after this release must be added to policy.Regions first`},
		{"control tower region that does not exist", func(d *Declaration) { d.Hub.ControlTowerHomeRegion = "eu-west-4" }, "hub.controlTowerHomeRegion",
			`region "eu-west-4" is not a region of the aws, aws-cn or aws-us-gov partitions (did you mean "eu-west-1"?); a region AWS launched after this release must be added to policy.Regions first`},
		// Checked only by the CDK app before: make plan and make doctor accepted six regions, and
		// synth reported them only once every other problem was fixed.
		{"too many regions", func(d *Declaration) {
			d.Hub.Regions = []string{"us-east-1", "us-east-2", "us-west-1", "us-west-2", "eu-west-1", "eu-west-2"}
		}, "hub.regions", "6 regions, but the management account's rule forwards Organizations events to at most 5 hub buses (an EventBridge rule has at most 5 targets)"},
		{"org id", func(d *Declaration) { d.Hub.OrganizationID = "o-short" }, "hub.organizationId", `organization id "o-short" must look like o-a1b2c3d4e5 (o- and 10-32 lowercase letters or digits)`},
		{"management", func(d *Declaration) { d.Hub.ManagementAccountID = "" }, "hub.managementAccountId", "required: an account id of 12 digits"},
		{"member role", func(d *Declaration) { d.MemberRoleName = "bad role" }, "memberRoleName", `role name "bad role" must be 1-64 letters, digits or +=,.@_-`},
		{"sid prefix chars", func(d *Declaration) { d.SidPrefix = "Ecr-Warden" }, "sidPrefix", `Sid prefix "Ecr-Warden" must be a letter followed by letters or digits, at most 32 characters (IAM Sids are alphanumeric)`},
		{"sid prefix long", func(d *Declaration) { d.SidPrefix = strings.Repeat("A", 33) }, "sidPrefix", `Sid prefix "` + strings.Repeat("A", 33) + `" must be a letter followed by letters or digits, at most 32 characters (IAM Sids are alphanumeric)`},
		{"sid prefix short", func(d *Declaration) { d.SidPrefix = "Ecr" }, "sidPrefix", `Sid prefix "Ecr" is shorter than 4 characters: ecr-warden owns (rewrites or deletes) every statement whose Sid starts with it, and so short a prefix starts Sids other people write`},
		{"sid prefix console", func(d *Declaration) { d.SidPrefix = "Stmt" }, "sidPrefix", `Sid prefix "Stmt" starts the Sid "Stmt1" that AWS consoles, services or documentation examples write; ecr-warden would own (rewrite or delete) such statements: pick a prefix nobody else uses, like EcrWarden`},
		{"sid prefix example", func(d *Declaration) { d.SidPrefix = "Allow" }, "sidPrefix", `Sid prefix "Allow" starts the Sid "AllowPull" that AWS consoles, services or documentation examples write; ecr-warden would own (rewrite or delete) such statements: pick a prefix nobody else uses, like EcrWarden`},
		{"sid prefix lambda", func(d *Declaration) { d.SidPrefix = "Lambda" }, "sidPrefix", `Sid prefix "Lambda" starts the Sid "LambdaECRImageRetrievalPolicy" that AWS consoles, services or documentation examples write; ecr-warden would own (rewrite or delete) such statements: pick a prefix nobody else uses, like EcrWarden`},
		{"action set builtin", func(d *Declaration) { d.ActionSets["push"] = []string{"ecr:PutImage"} }, `actionSets["push"]`, `"push" is a built-in access level; name the set differently`},
		{"action set name", func(d *Declaration) { d.ActionSets["Scan"] = []string{"ecr:ListImages"} }, `actionSets["Scan"]`, `action set name "Scan" must be a lowercase letter followed by lowercase letters, digits or -, at most 64`},
		{"action set empty", func(d *Declaration) { d.ActionSets["scan"] = nil }, `actionSets["scan"]`, "an action set needs at least one action"},
		{"action unknown", func(d *Declaration) { d.ActionSets["scan"] = []string{"ecr:PullImage"} }, `actionSets["scan"][0]`, `action "ecr:PullImage" is not a known ecr action`},
		{"action changes policy", func(d *Declaration) { d.ActionSets["scan"] = []string{"ecr:ListImages", "ecr:SetRepositoryPolicy"} }, `actionSets["scan"][1]`,
			`action "ecr:SetRepositoryPolicy": a grantee could rewrite the policy ecr-warden keeps equal to the declaration and let anyone in (its own statements are kept as foreign ones). List the actions the grantees need without it; a principal of the registry's own account that manages policies or tags gets them from its identity policy`},
		{"action wildcard changes policy", func(d *Declaration) { d.ActionSets["scan"] = []string{"ecr:*"} }, `actionSets["scan"][0]`,
			`action "ecr:*" covers ecr:SetRepositoryPolicy, ecr:DeleteRepositoryPolicy, ecr:PutRegistryPolicy, ecr:DeleteRegistryPolicy, ecr:CreateRepositoryCreationTemplate, ecr:UpdateRepositoryCreationTemplate: a grantee could rewrite the policy ecr-warden keeps equal to the declaration and let anyone in (its own statements are kept as foreign ones). List the actions the grantees need without it; a principal of the registry's own account that manages policies or tags gets them from its identity policy`},
		{"action case changes policy", func(d *Declaration) { d.ActionSets["scan"] = []string{"ecr:deleteRegistry*"} }, `actionSets["scan"][0]`,
			`action "ecr:deleteRegistry*" covers ecr:DeleteRegistryPolicy: a grantee could rewrite the policy ecr-warden keeps equal to the declaration and let anyone in (its own statements are kept as foreign ones). List the actions the grantees need without it; a principal of the registry's own account that manages policies or tags gets them from its identity policy`},
		// A repository creation template writes the policy of the repositories ECR creates.
		{"action writes creation templates", func(d *Declaration) {
			d.ActionSets["scan"] = []string{"ecr:ListImages", "ecr:*RepositoryCreationTemplate"}
		}, `actionSets["scan"][1]`,
			`action "ecr:*RepositoryCreationTemplate" covers ecr:CreateRepositoryCreationTemplate, ecr:UpdateRepositoryCreationTemplate: a grantee could rewrite the policy ecr-warden keeps equal to the declaration and let anyone in (its own statements are kept as foreign ones). List the actions the grantees need without it; a principal of the registry's own account that manages policies or tags gets them from its identity policy`},
		// Accepted before: a registry policy grants these like any ECR action (scope V2), and a
		// grantee could copy every image out of the organization or set the policy of new
		// repositories.
		{"replication configuration", func(d *Declaration) {
			d.ActionSets["scan"] = []string{"ecr:ListImages", "ecr:PutReplicationConfiguration"}
		}, `actionSets["scan"][1]`,
			`action "ecr:PutReplicationConfiguration": a grantee could replicate the registry's images into any account, outside the declaration and the organization. List the actions the grantees need without it; a principal of the registry's own account that manages policies or tags gets them from its identity policy`},
		{"action tags a tag grant", func(d *Declaration) { d.ActionSets["scan"] = []string{"ecr:TagResource"} }, `actionSets["scan"][0]`,
			`action "ecr:TagResource": a grantee could tag repositories into a grant that selects by tag (grants[3]). List the actions the grantees need without it; a principal of the registry's own account that manages policies or tags gets them from its identity policy`},
		{"action service", func(d *Declaration) { d.ActionSets["scan"] = []string{"s3:GetObject"} }, `actionSets["scan"][0]`, `action "s3:GetObject" is neither an ecr: nor an ecr-public: action`},
		{"action mixed", func(d *Declaration) { d.ActionSets["scan"] = []string{"ecr:ListImages", "ecr-public:DescribeImages"} }, `actionSets["scan"][1]`, `action "ecr-public:DescribeImages" mixes services: a set holds only ecr: actions (private grants) or only ecr-public: actions (public grants)`},
		{"private grant public set", func(d *Declaration) { d.ActionSets["scan"] = []string{"ecr-public:DescribeImages"} }, "grants[4].access", `action set "scan" holds ecr-public: actions; private grants need a set of ecr: actions`},
		{"public grant private set", func(d *Declaration) { d.PublicRepositories[0].Access = "scan" }, "publicRepositories[0].access", `action set "scan" holds ecr: actions; public grants need a set of ecr-public: actions`},
		{"action twice", func(d *Declaration) { d.ActionSets["scan"] = []string{"ecr:ListImages", "ecr:ListImages"} }, `actionSets["scan"][1]`, `action "ecr:ListImages" is listed twice`},
		{"grant name", func(d *Declaration) { d.Grants[0].Name = "Org Pull" }, "grants[0].name", `name "Org Pull" must be 1-64 lowercase letters or digits separated by single - _ or . (it becomes part of a Sid)`},
		{"grant name dup", func(d *Declaration) { d.Grants[1].Name = "org_pull.shared" }, "grants[1].name", `name "org_pull.shared" collides with grants[0].name: both become Sid part "OrgPullShared"`},
		{"public grant name dup", func(d *Declaration) { d.PublicRepositories[0].Name = "org-pull-shared" }, "publicRepositories[0].name", `name "org-pull-shared" collides with grants[0].name: both become Sid part "OrgPullShared"`},
		{"reserved name", func(d *Declaration) { d.Grants[0].Name = "ptc-upstream" }, "grants[0].name", `name "ptc-upstream": names starting with ptc are reserved for ecr-warden's pull-through-cache statements`},
		{"no selection", func(d *Declaration) { d.Grants[0].Repositories = nil }, "grants[0]", `select repositories by name pattern (repositories) and/or tags (repositoryTags); use ["*"] for all`},
		{"pattern", func(d *Declaration) { d.Grants[2].Repositories = []string{"Team/*"} }, "grants[2].repositories[0]", `pattern "Team/*" is not a valid repository name pattern (lowercase letters, digits, . _ - /, and * wildcards)`},
		{"pattern slash", func(d *Declaration) { d.Grants[0].Repositories = []string{"shared//x"} }, "grants[0].repositories[0]", `pattern "shared//x" is not a valid repository name pattern (lowercase letters, digits, . _ - /, and * wildcards)`},
		{"pattern twice", func(d *Declaration) { d.Grants[0].Repositories = []string{"a/*", "a/*"} }, "grants[0].repositories[1]", `pattern "a/*" is listed twice`},
		{"tag key reserved", func(d *Declaration) { d.Grants[3].RepositoryTags = map[string]string{"aws:share": "org"} }, `grants[3].repositoryTags["aws:share"]`, `tag key "aws:share" uses the reserved aws: prefix`},
		{"tag key chars", func(d *Declaration) { d.Grants[3].RepositoryTags = map[string]string{"share!": "org"} }, `grants[3].repositoryTags["share!"]`, `tag key "share!" may contain only letters, digits, spaces and _ . : / = + - @`},
		{"tag key empty", func(d *Declaration) { d.Grants[3].RepositoryTags = map[string]string{"": "org"} }, `grants[3].repositoryTags[""]`, "tag key must be 1-128 characters"},
		// AWS accepts these tags, but no repository tagged as they read carries them: the grant
		// silently matched nothing.
		{"tag key cyrillic", func(d *Declaration) { d.Grants[3].RepositoryTags = map[string]string{"sh\u0430re": "org"} }, `grants[3].repositoryTags["shаre"]`,
			`tag key "shаre" mixes Latin and Cyrillic letters in the word "shаre": the condition would match no repository tagged as it reads; write it out again`},
		{"tag value greek", func(d *Declaration) { d.Grants[3].RepositoryTags = map[string]string{"share": "\u03bfrg"} }, `grants[3].repositoryTags["share"]`,
			`tag value "οrg" mixes Latin and Greek letters in the word "οrg": the condition would match no repository tagged as it reads; write it out again`},
		{"tag no-break space", func(d *Declaration) { d.Grants[3].RepositoryTags = map[string]string{"cost\u00a0center": "a"} }, `grants[3].repositoryTags["cost\u00a0center"]`,
			`tag key "cost\u00a0center" holds U+00A0, a space that is not the plain space U+0020: the condition would match no repository tagged as it reads; write it out again`},
		{"too many tags", func(d *Declaration) {
			d.Grants[3].RepositoryTags = map[string]string{}
			for i := range 51 {
				d.Grants[3].RepositoryTags[fmt.Sprintf("k%d", i)] = "v"
			}
		}, "grants[3].repositoryTags", "51 tags, but a repository carries at most 50: no repository could match"},
		{"pattern short", func(d *Declaration) { d.Grants[0].Repositories = []string{"x"} }, "grants[0].repositories[0]", `pattern "x" is 1 characters long; repository names have 2-256`},
		{"tag value", func(d *Declaration) { d.Grants[3].RepositoryTags = map[string]string{"share": "o*g"} }, `grants[3].repositoryTags["share"]`, `tag value "o*g" must be at most 256 letters, digits, spaces and _ . : / = + - @`},
		{"access missing", func(d *Declaration) { d.Grants[0].Access = "" }, "grants[0].access", "access is required: pull, push or an actionSets name"},
		{"access unknown", func(d *Declaration) { d.Grants[0].Access = "admin" }, "grants[0].access", `access "admin" must be pull, push or one of the declared actionSets (scan)`},
		{"placement", func(d *Declaration) { d.Grants[0].Placement = "everywhere" }, "grants[0].placement", `placement "everywhere" must be registry or repository`},
		{"mode", func(d *Declaration) { d.Grants[0].PrincipalMode = "list" }, "grants[0].principalMode", `principalMode "list" must be condition or enumerate`},
		{"public no principals", func(d *Declaration) { d.Grants[0].Principals = Principals{} }, "grants[0].principals", "the grant names no principal; set organization, ous, accounts or roles (a grant to everyone is refused)"},
		{"public star account", func(d *Declaration) { d.Grants[0].Principals = Principals{Accounts: []string{"*"}} }, "grants[0].principals.accounts[0]", `"*" would make the grant public; name accounts, or use organization/ous`},
		{"account twice", func(d *Declaration) { d.Grants[2].Principals.Accounts = []string{"444444444444", "444444444444"} }, "grants[2].principals.accounts[1]", "account 444444444444 is listed twice"},
		// Accounts and patterns listed twice were refused, OU paths and roles were not.
		{"ou twice", func(d *Declaration) {
			d.Grants[2].Principals.OUs = append(d.Grants[2].Principals.OUs, d.Grants[2].Principals.OUs[0])
		}, "grants[2].principals.ous[1]",
			`OU path "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/" is listed twice`},
		{"registry ou twice", func(d *Declaration) {
			d.Grants[0].Registries.OUs = []string{"o-a1b2c3d4e5/r-ab12/", "o-a1b2c3d4e5/r-ab12/"}
		}, "grants[0].registries.ous[1]", `OU path "o-a1b2c3d4e5/r-ab12/" is listed twice`},
		{"ptc member ou twice", func(d *Declaration) {
			d.PullThroughCache.Members = MemberSelector{OUs: []string{"o-a1b2c3d4e5/r-ab12/", "o-a1b2c3d4e5/r-ab12/"}}
		}, "pullThroughCache.members.ous[1]", `OU path "o-a1b2c3d4e5/r-ab12/" is listed twice`},
		{"role twice", func(d *Declaration) {
			d.Grants[1].Principals.Roles = append(d.Grants[1].Principals.Roles, d.Grants[1].Principals.Roles[0])
		}, "grants[1].principals.roles[1]",
			`role "arn:aws:iam::222222222222:role/team-a-ci" is listed twice`},
		{"ptc statement role twice", func(d *Declaration) {
			d.PullThroughCache.StatementPrincipals.RoleNames = []string{"ecr-pull-through-cache-user", "ECR-Pull-Through-Cache-User"}
		}, "pullThroughCache.statementPrincipals.roleNames[1]", `role name "ECR-Pull-Through-Cache-User" is listed twice (IAM role names ignore case)`},
		{"role star", func(d *Declaration) { d.Grants[1].Principals.Roles = []string{"arn:aws:iam::222222222222:role/*"} }, "grants[1].principals.roles[0]", `role "arn:aws:iam::222222222222:role/*": wildcards are not allowed in principals (that would grant more than the named role)`},
		{"role arn", func(d *Declaration) { d.Grants[1].Principals.Roles = []string{"team-a-ci"} }, "grants[1].principals.roles[0]", `role "team-a-ci" must be a role ARN like arn:aws:iam::222222222222:role/name`},
		// Accepted before: IAM paths have at most 512 characters, so no such role exists and AWS
		// refused the whole registry policy naming it.
		{"role path too long", func(d *Declaration) {
			d.Grants[1].Principals.Roles = []string{"arn:aws:iam::222222222222:role/" + strings.Repeat("p/", 256) + "ci"}
		}, "grants[1].principals.roles[0]",
			`role "arn:aws:iam::222222222222:role/p/p/p/p/p/p/p/p/p/p/p/p/p/p/p.../ci": its path is 513 characters; IAM role paths have at most 512, so no such role exists and AWS would refuse the policy naming it`},
		{"role arn of a user", func(d *Declaration) { d.Grants[1].Principals.Roles = []string{"arn:aws:iam::222222222222:user/ci"} }, "grants[1].principals.roles[0]",
			`role "arn:aws:iam::222222222222:user/ci" must be a role ARN like arn:aws:iam::222222222222:role/name; it names a "user", not a role (grants name roles, or accounts under accounts)`},
		{"role arn of a session", func(d *Declaration) {
			d.Grants[1].Principals.Roles = []string{"arn:aws:sts::222222222222:assumed-role/ci/session"}
		}, "grants[1].principals.roles[0]",
			`role "arn:aws:sts::222222222222:assumed-role/ci/session" must be a role ARN like arn:aws:iam::222222222222:role/name; this is a "sts" ARN, not an IAM one`},
		{"role arn with a region", func(d *Declaration) {
			d.Grants[1].Principals.Roles = []string{"arn:aws:iam:us-east-1:222222222222:role/ci"}
		}, "grants[1].principals.roles[0]",
			`role "arn:aws:iam:us-east-1:222222222222:role/ci" must be a role ARN like arn:aws:iam::222222222222:role/name; IAM ARNs name no region, and this one names "us-east-1"`},
		{"role arn account", func(d *Declaration) { d.Grants[1].Principals.Roles = []string{"arn:aws:iam::2222:role/ci"} }, "grants[1].principals.roles[0]",
			`role "arn:aws:iam::2222:role/ci" must be a role ARN like arn:aws:iam::222222222222:role/name; account "2222" is not 12 digits`},
		{"role name too long", func(d *Declaration) {
			d.Grants[1].Principals.Roles = []string{"arn:aws:iam::222222222222:role/team/" + strings.Repeat("n", 65)}
		}, "grants[1].principals.roles[0]",
			`role "arn:aws:iam::222222222222:role/team/` + strings.Repeat("n", 65) + `" must be a role ARN like arn:aws:iam::222222222222:role/name; role name "` + strings.Repeat("n", 65) + `" must be 1-64 letters, digits or +=,.@_-`},
		{"role path with a space", func(d *Declaration) {
			d.Grants[1].Principals.Roles = []string{"arn:aws:iam::222222222222:role/my team/ci"}
		}, "grants[1].principals.roles[0]",
			`role "arn:aws:iam::222222222222:role/my team/ci" must be a role ARN like arn:aws:iam::222222222222:role/name; its path "/my team/" may hold only the ASCII characters ! to ~ (IAM's path pattern)`},
		{"role twice in another case", func(d *Declaration) {
			d.Grants[1].Principals.Roles = []string{"arn:aws:iam::222222222222:role/team/CI", "arn:aws:iam::222222222222:role/team/ci"}
		}, "grants[1].principals.roles[1]",
			`role "arn:aws:iam::222222222222:role/team/ci" is listed twice (as "arn:aws:iam::222222222222:role/team/CI": IAM role names ignore case)`},
		// Accepted before: Organizations nests OUs at most five deep, so the grant matched nobody.
		{"ou path too deep", func(d *Declaration) {
			d.Grants[1].Principals.OUs = []string{"o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/ou-ab12-33333333/ou-ab12-44444444/ou-ab12-55555555/ou-ab12-66666666/"}
		}, "grants[1].principals.ous[0]",
			`OU path "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/ou-ab12-33333333/ou-ab12-44444444/ou-ab12-55555555/ou-ab12-66666666/" names 6 nested OUs; Organizations nests OUs at most 5 deep below the root, so no account is under it`},
		{"role partition", func(d *Declaration) { d.Grants[1].Principals.Roles = []string{"arn:aws-cn:iam::222222222222:role/ci"} }, "grants[1].principals.roles[0]", `role "arn:aws-cn:iam::222222222222:role/ci" is in partition "aws-cn", not the declared partition "aws"`},
		{"ou path", func(d *Declaration) { d.Grants[1].Principals.OUs = []string{"ou-ab12-22222222"} }, "grants[1].principals.ous[0]", `OU path "ou-ab12-22222222" must look like o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ (organization/root/OUs, ending with /)`},
		{"ou other org", func(d *Declaration) { d.Grants[1].Principals.OUs = []string{"o-zzzzzzzzzz/r-ab12/"} }, "grants[1].principals.ous[0]", `OU path "o-zzzzzzzzzz/r-ab12/" is not in the hub's organization o-a1b2c3d4e5`},
		// Accepted before: OU paths that name no OU that can exist, so the grant matched nobody, and
		// the member StackSet for allMembers targeted whichever root the first path named.
		{"ou under another root", func(d *Declaration) { d.Grants[1].Principals.OUs = []string{"o-a1b2c3d4e5/r-ab12/ou-cd34-22222222/"} }, "grants[1].principals.ous[0]",
			`OU path "o-a1b2c3d4e5/r-ab12/ou-cd34-22222222/": OU ou-cd34-22222222 is not under root r-ab12 (the OUs under it have ids starting ou-ab12-)`},
		{"two roots", func(d *Declaration) {
			d.PullThroughCache.Members = MemberSelector{OUs: []string{"o-a1b2c3d4e5/r-cd34/"}}
		}, "pullThroughCache.members.ous[0]",
			`OU path "o-a1b2c3d4e5/r-cd34/" is under root r-cd34, but grants[1].principals.ous[0] is under root r-ab12; an organization has one root`},
		{"registry management", func(d *Declaration) { d.Grants[0].Registries.Accounts = []string{"999999999999"} }, "grants[0].registries.accounts[0]", "account 999999999999 is the management account, which is never a managed member (StackSets do not deploy there)"},
		{"registry hub", func(d *Declaration) { d.Grants[0].Registries.Accounts = []string{"111111111111"} }, "grants[0].registries.accounts[0]", "account 111111111111 is the hub; select it with hub: true, not as a member"},
		{"ptc members", func(d *Declaration) { d.PullThroughCache.Members = MemberSelector{} }, "pullThroughCache.members", "select the members that get the rules: all, ous or accounts"},
		{"ptc role name", func(d *Declaration) { d.PullThroughCache.Role.Name = "a/b" }, "pullThroughCache.role.name", `role name "a/b" must be 1-64 letters, digits or +=,.@_-`},
		// Accepted before: ecr-warden would rewrite the trust of Organizations' access role to the
		// pull-through-cache service and cap it with the PTC boundary in every PTC member.
		{"ptc role is the organization access role", func(d *Declaration) { d.PullThroughCache.Role.Name = "organizationaccountaccessrole" }, "pullThroughCache.role.name",
			`role name "organizationaccountaccessrole" is the role Organizations creates for the management account's access (OrganizationAccountAccessRole); ecr-warden would rewrite its trust and cap it with the pull-through-cache boundary in every PTC member: pick another name`},
		{"ptc role is an identity center role", func(d *Declaration) { d.PullThroughCache.Role.Name = "AWSReservedSSO_Admin_0123456789abcdef" }, "pullThroughCache.role.name",
			`role name "AWSReservedSSO_Admin_0123456789abcdef" is an IAM Identity Center permission-set role (AWSReservedSSO_*); ecr-warden would rewrite its trust and cap it with the pull-through-cache boundary in every PTC member: pick another name`},
		{"ptc role is the member role", func(d *Declaration) { d.PullThroughCache.Role.Name = "ECR-Warden-Execution" }, "pullThroughCache.role.name",
			`role name "ECR-Warden-Execution" is memberRoleName's, the role ecr-warden assumes in members (IAM role names ignore case); ecr-warden would rewrite it into the pull-through-cache role: pick another name`},
		{"ptc statement role", func(d *Declaration) {
			d.PullThroughCache.StatementPrincipals.RoleNames = []string{"arn:aws:iam::222222222222:role/x"}
		}, "pullThroughCache.statementPrincipals.roleNames[0]", `role name "arn:aws:iam::222222222222:role/x" must be 1-64 letters, digits or +=,.@_- (a name, not an ARN: the member's account is filled in)`},
		{"ptc upstream mode", func(d *Declaration) { d.PullThroughCache.UpstreamGrantMode = "list" }, "pullThroughCache.upstreamGrantMode", `upstreamGrantMode "list" must be enumerate or condition`},
		{"ptc too many", func(d *Declaration) {
			for i := range 46 {
				d.PullThroughCache.Rules = append(d.PullThroughCache.Rules, PTCRule{Prefix: "q" + strings.Repeat("x", i+1), UpstreamRegistryURL: "quay.io", UpstreamRegistry: "quay"})
			}
		}, "pullThroughCache.rules", "51 rules declared; a registry holds at most 50 pull-through-cache rules"},
		{"ptc prefix short", func(d *Declaration) { d.PullThroughCache.Rules[1].Prefix = "q" }, "pullThroughCache.rules[1].prefix", `prefix "q" must be ROOT or 2-30 lowercase letters or digits separated by single . _ or -`},
		{"ptc prefix chars", func(d *Declaration) { d.PullThroughCache.Rules[1].Prefix = "Quay" }, "pullThroughCache.rules[1].prefix", `prefix "Quay" must be ROOT or 2-30 lowercase letters or digits separated by single . _ or -`},
		{"ptc prefix long", func(d *Declaration) { d.PullThroughCache.Rules[1].Prefix = strings.Repeat("q", 31) }, "pullThroughCache.rules[1].prefix", `prefix "` + strings.Repeat("q", 31) + `" must be ROOT or 2-30 lowercase letters or digits separated by single . _ or -`},
		{"ptc prefix dup", func(d *Declaration) { d.PullThroughCache.Rules[1].Prefix = "k8s" }, "pullThroughCache.rules[2].prefix", `prefix "k8s" is already used by pullThroughCache.rules[1]`},
		{"ptc prefix sid collision", func(d *Declaration) { d.PullThroughCache.Rules[1].Prefix = "docker.hub" }, "pullThroughCache.rules[3].prefix",
			`prefix "docker-hub" collides with pullThroughCache.rules[1].prefix ("docker.hub"): both become Sid part "DockerHub" of the rules' registry-policy statements`},
		{"tag key case", func(d *Declaration) { d.Grants[3].RepositoryTags = map[string]string{"Share": "org", "share": "all"} }, `grants[3].repositoryTags["share"]`,
			`tag key "share" differs from "Share" only in case; IAM compares condition keys without case, so the policy would test one aws:ResourceTag key twice (use one spelling)`},
		{"ptc url missing", func(d *Declaration) { d.PullThroughCache.Rules[1].UpstreamRegistryURL = "" }, "pullThroughCache.rules[1].upstreamRegistryUrl", "upstreamRegistryUrl is required (or set fromHub to cache from the hub)"},
		{"ptc url unknown", func(d *Declaration) { d.PullThroughCache.Rules[1].UpstreamRegistryURL = "registry.example.com" }, "pullThroughCache.rules[1].upstreamRegistryUrl", `upstream "registry.example.com" is not a supported registry (public.ecr.aws, quay.io, registry.k8s.io, registry-1.docker.io, ghcr.io, registry.gitlab.com, <name>.azurecr.io, or fromHub)`},
		{"ptc url kind mismatch", func(d *Declaration) { d.PullThroughCache.Rules[0].UpstreamRegistry = "quay" }, "pullThroughCache.rules[0].upstreamRegistry", `upstreamRegistry "quay" does not match the URL "public.ecr.aws" (which is ecr-public)`},
		{"ptc private ecr", func(d *Declaration) {
			d.PullThroughCache.Rules[1] = PTCRule{Prefix: "other", UpstreamRegistryURL: "555555555555.dkr.ecr.us-east-1.amazonaws.com", UpstreamRegistry: "ecr"}
		}, "pullThroughCache.rules[1].upstreamRegistryUrl", "private ECR upstreams are supported only from the hub: set fromHub: true and omit upstreamRegistryUrl"},
		{"ptc fromHub url", func(d *Declaration) {
			d.PullThroughCache.Rules[4].UpstreamRegistryURL = "555555555555.dkr.ecr.us-east-1.amazonaws.com"
		}, "pullThroughCache.rules[4].upstreamRegistryUrl", `a fromHub rule must use the hub's registry URL (111111111111.dkr.ecr.us-east-1.amazonaws.com or 111111111111.dkr.ecr.eu-west-1.amazonaws.com), not "555555555555.dkr.ecr.us-east-1.amazonaws.com"; or omit it`},
		{"ptc fromHub kind", func(d *Declaration) { d.PullThroughCache.Rules[4].UpstreamRegistry = "quay" }, "pullThroughCache.rules[4].upstreamRegistry", `a fromHub rule caches from ECR; upstreamRegistry must be ecr or omitted, not "quay"`},
		{"ptc secret required", func(d *Declaration) { d.PullThroughCache.Rules[3].CredentialSecret = "" }, "pullThroughCache.rules[3].credentialSecret", "upstream docker-hub requires credentials: name a Secrets Manager secret ecr-pullthroughcache/..."},
		{"ptc secret prefix", func(d *Declaration) { d.PullThroughCache.Rules[3].CredentialSecret = "dockerhub" }, "pullThroughCache.rules[3].credentialSecret", `secret name "dockerhub" must start with ecr-pullthroughcache/ (ECR only reads secrets with that prefix)`},
		// An ARN was told to "start with ecr-pullthroughcache/" (it does, after "secret:"), the bare
		// prefix that it "must start with" it (it does), and a name past 512 was accepted.
		{"ptc secret arn", func(d *Declaration) {
			d.PullThroughCache.Rules[3].CredentialSecret = "arn:aws:secretsmanager:us-east-1:555555555555:secret:ecr-pullthroughcache/docker-hub-AbCdEf"
		}, "pullThroughCache.rules[3].credentialSecret", `"arn:aws:secretsmanager:us-east-1:555555555555:secret:ecr-pullthroughcache/docker-hub-AbCdEf" is an ARN; give the secret's name (ecr-pullthroughcache/...): ecr-warden finds the secret of that name in each PTC member and region`},
		{"ptc secret prefix only", func(d *Declaration) { d.PullThroughCache.Rules[3].CredentialSecret = "ecr-pullthroughcache/" }, "pullThroughCache.rules[3].credentialSecret",
			`secret name "ecr-pullthroughcache/" must be ecr-pullthroughcache/ followed by letters, digits or /_+=.@-, at most 512 characters in all (Secrets Manager's names)`},
		{"ptc secret long", func(d *Declaration) {
			d.PullThroughCache.Rules[3].CredentialSecret = "ecr-pullthroughcache/" + strings.Repeat("x", 492)
		}, "pullThroughCache.rules[3].credentialSecret",
			`secret name "ecr-pullthroughcache/` + strings.Repeat("x", 492) + `" must be ecr-pullthroughcache/ followed by letters, digits or /_+=.@-, at most 512 characters in all (Secrets Manager's names)`},
		{"ptc secret not taken", func(d *Declaration) { d.PullThroughCache.Rules[0].CredentialSecret = "ecr-pullthroughcache/x" }, "pullThroughCache.rules[0].credentialSecret", "upstream ecr-public takes no credential; remove credentialSecret"},
		{"ptc ghcr secret", func(d *Declaration) {
			d.PullThroughCache.Rules[1] = PTCRule{Prefix: "ghcr-io", UpstreamRegistryURL: "ghcr.io", UpstreamRegistry: "github-container-registry"}
		}, "pullThroughCache.rules[1].credentialSecret", "upstream github-container-registry requires credentials: name a Secrets Manager secret ecr-pullthroughcache/..."},
		{"ptc azure secret", func(d *Declaration) {
			d.PullThroughCache.Rules[1] = PTCRule{Prefix: "acr", UpstreamRegistryURL: "myregistry.azurecr.io", UpstreamRegistry: "azure-container-registry"}
		}, "pullThroughCache.rules[1].credentialSecret", "upstream azure-container-registry requires credentials: name a Secrets Manager secret ecr-pullthroughcache/..."},
		{"ptc upstream prefix root", func(d *Declaration) { d.PullThroughCache.Rules[4].Prefix = "ROOT" }, "pullThroughCache.rules[4].upstreamRepositoryPrefix", "upstreamRepositoryPrefix needs a non-ROOT prefix"},
		{"ptc upstream prefix chars", func(d *Declaration) { d.PullThroughCache.Rules[4].UpstreamRepositoryPrefix = "Shared" }, "pullThroughCache.rules[4].upstreamRepositoryPrefix", `upstream repository prefix "Shared" must be ROOT or a repository name prefix (lowercase letters, digits, . _ - /)`},
		// Accepted before: ECR takes an upstream repository prefix only on ECR-to-ECR rules, so
		// every PTC member's CreatePullThroughCacheRule of this rule failed.
		{"ptc upstream prefix on a non-ECR upstream", func(d *Declaration) { d.PullThroughCache.Rules[1].UpstreamRepositoryPrefix = "coreos" }, "pullThroughCache.rules[1].upstreamRepositoryPrefix",
			`upstreamRepositoryPrefix applies only to ECR-to-ECR rules (fromHub: true); ECR refuses it on a rule whose upstream is quay: remove it (the rule caches every repository of its upstream under prefix "quay")`},
		// Accepted before up to 256 characters (a repository name's limit); ECR takes 2-30.
		{"ptc upstream prefix long", func(d *Declaration) {
			d.PullThroughCache.Rules[4].UpstreamRepositoryPrefix = "shared/" + strings.Repeat("x", 24)
		}, "pullThroughCache.rules[4].upstreamRepositoryPrefix",
			`upstream repository prefix "shared/xxxxxxxxxxxxxxxxxxxxxxxx" is 31 characters; ECR takes ROOT or 2-30 characters (a trailing / allowed), the same as a rule's own prefix`},
		{"retired still used", func(d *Declaration) { d.PullThroughCache.RetiredPrefixes = []string{"quay"} }, "pullThroughCache.retiredPrefixes[0]", `prefix "quay" is retired but still used by pullThroughCache.rules[1]`},
		{"retired twice", func(d *Declaration) { d.PullThroughCache.RetiredPrefixes = []string{"ghcr", "ghcr"} }, "pullThroughCache.retiredPrefixes[1]", `prefix "ghcr" is listed twice`},
		{"ptc member management", func(d *Declaration) { d.PullThroughCache.Members.Accounts = []string{"999999999999"} }, "pullThroughCache.members.accounts[0]", "account 999999999999 is the management account, which is never a managed member (StackSets do not deploy there)"},
		{"public pull", func(d *Declaration) { d.PublicRepositories[0].Access = "pull" }, "publicRepositories[0].access", `access "pull": anyone can pull a public repository and public pulls cannot be denied by policy; use push or manage`},
		{"public deny", func(d *Declaration) { d.PublicRepositories[0].Access = "deny-pull" }, "publicRepositories[0].access", `access "deny-pull": anyone can pull a public repository and public pulls cannot be denied by policy; use push or manage`},
		{"public access", func(d *Declaration) { d.PublicRepositories[0].Access = "admin" }, "publicRepositories[0].access", `access "admin" must be push, manage or an actionSets name holding ecr-public: actions`},
		{"public principals", func(d *Declaration) { d.PublicRepositories[0].Principals = PublicPrincipals{} }, "publicRepositories[0].principals", "the grant names no principal; set accounts or roles (a grant to everyone is refused)"},
		{"public star", func(d *Declaration) { d.PublicRepositories[0].Principals.Accounts = []string{"*"} }, "publicRepositories[0].principals.accounts[0]", `"*" would make the grant public; name accounts, or use organization/ous`},
		// Private names ECR Public does not take were accepted: the grant matched nothing.
		{"public pattern private grammar", func(d *Declaration) { d.PublicRepositories[0].Repositories = []string{"tools/base__debug"} }, "publicRepositories[0].repositories[0]",
			`pattern "tools/base__debug" is not a valid public repository name pattern: ECR Public names take one . _ or - between letters and digits`},
		{"public pattern long", func(d *Declaration) { d.PublicRepositories[0].Repositories = []string{strings.Repeat("a", 206)} }, "publicRepositories[0].repositories[0]",
			`pattern "` + strings.Repeat("a", 206) + `" is 206 characters long; repository names have 2-205`},
		{"public repos", func(d *Declaration) { d.PublicRepositories[0].Repositories = nil }, "publicRepositories[0].repositories", `select public repositories by name pattern; use ["*"] for all`},
		{"public partition", func(d *Declaration) {
			d.Hub.Partition, d.Hub.Regions = "aws-cn", []string{"cn-north-1"}
			d.Grants, d.PullThroughCache = nil, nil
			d.PublicRepositories[0].Principals.Roles = nil
		}, "publicRepositories[0]", "ECR Public exists only in the aws partition, not aws-cn"},
		{"identity-only ecr", func(d *Declaration) { d.ActionSets["scan"] = []string{"ecr:ListImages", "ecr:GetAuthorizationToken"} }, `actionSets["scan"][1]`,
			`action "ecr:GetAuthorizationToken" grants nothing in a registry or repository policy (AWS evaluates it only in identity policies); remove it from the set and grant it in an identity policy of the pulling/pushing principal (it is not tied to a registry)`},
		{"identity-only ptc", func(d *Declaration) { d.ActionSets["scan"] = []string{"ecr:CreatePullThroughCacheRule"} }, `actionSets["scan"][0]`,
			`action "ecr:CreatePullThroughCacheRule" grants nothing in a registry or repository policy (AWS evaluates it only in identity policies); remove it from the set and grant it in an identity policy of whoever creates the rule (ecr-warden's member role already has it)`},
		{"identity-only public", func(d *Declaration) {
			d.ActionSets["publish"] = []string{"ecr-public:PutImage", "ecr-public:GetAuthorizationToken"}
		}, `actionSets["publish"][1]`, `action "ecr-public:GetAuthorizationToken" grants nothing in a registry or repository policy (AWS evaluates it only in identity policies); remove it from the set and grant it in the pusher's identity policy, together with sts:GetServiceBearerToken`},
		{"identity-only sts", func(d *Declaration) {
			d.ActionSets["publish"] = []string{"ecr-public:PutImage", "sts:GetServiceBearerToken"}
		}, `actionSets["publish"][1]`,
			`action "sts:GetServiceBearerToken" grants nothing in a registry or repository policy (AWS evaluates it only in identity policies); remove it from the set and grant it in the pusher's identity policy, together with ecr-public:GetAuthorizationToken`},
		{"ptc in china", func(d *Declaration) {
			d.Hub.Partition, d.Hub.Regions = "aws-cn", []string{"cn-north-1"}
			d.PublicRepositories = nil
			d.PullThroughCache.Rules = d.PullThroughCache.Rules[:3]
		}, "pullThroughCache.rules", "pull-through-cache rules cannot be created in the China or AWS GovCloud (US) regions (partition aws-cn); remove the rules or the pullThroughCache section"},
		{"ptc in govcloud", func(d *Declaration) {
			d.Hub.Partition, d.Hub.Regions = "aws-us-gov", []string{"us-gov-west-1"}
			d.PublicRepositories = nil
		}, "pullThroughCache.rules", "pull-through-cache rules cannot be created in the China or AWS GovCloud (US) regions (partition aws-us-gov); remove the rules or the pullThroughCache section"},
		{"public without us-east-1", func(d *Declaration) { d.Hub.Regions = []string{"eu-west-1"} }, "publicRepositories",
			"ECR Public's API and its CreateRepository events exist only in us-east-1, which hub.regions does not list; add us-east-1 to hub.regions or remove publicRepositories (else no public repository policy is ever written)"},
		{"sweep", func(d *Declaration) { d.Sweep.Schedule = "every 6 hours" }, "sweep.schedule", `schedule "every 6 hours" must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields)`},
		{"sweep singular", func(d *Declaration) { d.Sweep.Schedule = "rate(1 hours)" }, "sweep.schedule", `schedule "rate(1 hours)" must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields)`},
		// Accepted before, any number of digits: a sweep rarer than yearly is a slip, and a value
		// past int64 is refused with the same message instead of overflowing.
		{"sweep rate past a year", func(d *Declaration) { d.Sweep.Schedule = "rate(366 days)" }, "sweep.schedule",
			`schedule "rate(366 days)": every 366 days is longer than a sweep may wait: at most 365 days (a year); the sweep repairs what missed events left, so run it at least yearly, as rate(6 hours) by default (EventBridge documents no upper bound for a rate)`},
		{"sweep rate minutes past a year", func(d *Declaration) { d.Sweep.Schedule = "rate(525601 minutes)" }, "sweep.schedule",
			`schedule "rate(525601 minutes)": every 525601 minutes is longer than a sweep may wait: at most 525600 minutes (a year); the sweep repairs what missed events left, so run it at least yearly, as rate(6 hours) by default (EventBridge documents no upper bound for a rate)`},
		{"sweep rate overflow", func(d *Declaration) { d.Sweep.Schedule = "rate(99999999999999999999 hours)" }, "sweep.schedule",
			`schedule "rate(99999999999999999999 hours)": every 99999999999999999999 hours is longer than a sweep may wait: at most 8760 hours (a year); the sweep repairs what missed events left, so run it at least yearly, as rate(6 hours) by default (EventBridge documents no upper bound for a rate)`},
		// A rate expression that misses the grammar says where (it gave the grammar alone).
		{"sweep rate unit in capitals", func(d *Declaration) { d.Sweep.Schedule = "rate(5 Minutes)" }, "sweep.schedule",
			`schedule "rate(5 Minutes)" must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields); the unit is lowercase: minutes`},
		{"sweep rate zero", func(d *Declaration) { d.Sweep.Schedule = "rate(0 minutes)" }, "sweep.schedule",
			`schedule "rate(0 minutes)" must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields); the value must be a positive whole number`},
		{"sweep rate fraction", func(d *Declaration) { d.Sweep.Schedule = "rate(1.5 hours)" }, "sweep.schedule",
			`schedule "rate(1.5 hours)" must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields); the value must be a positive whole number`},
		{"sweep rate spaces", func(d *Declaration) { d.Sweep.Schedule = "rate( 5 minutes) " }, "sweep.schedule",
			`schedule "rate( 5 minutes) " must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields); leave out the spaces but the one between value and unit: rate(5 minutes)`},
		{"sweep rate weeks", func(d *Declaration) { d.Sweep.Schedule = "rate(2 weeks)" }, "sweep.schedule",
			`schedule "rate(2 weeks)" must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields); "weeks" is not minute(s), hour(s) or day(s)`},
		{"sweep rate leading zero", func(d *Declaration) { d.Sweep.Schedule = "rate(05 minutes)" }, "sweep.schedule",
			`schedule "rate(05 minutes)" must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields); write the value without leading zeros: 5`},
		// EventBridge refuses these; they were accepted (only the number of fields was checked), so
		// the deploy failed at the sweep's rule.
		{"sweep cron both days", func(d *Declaration) { d.Sweep.Schedule = "cron(0 */6 * * * *)" }, "sweep.schedule",
			`schedule "cron(0 */6 * * * *)": exactly one of day-of-month and day-of-week must be ? (the other says which days), like cron(0 */6 * * ? *) (EventBridge refuses the rule, failing the deploy)`},
		{"sweep cron no day", func(d *Declaration) { d.Sweep.Schedule = "cron(0 6 ? * ? *)" }, "sweep.schedule",
			`schedule "cron(0 6 ? * ? *)": exactly one of day-of-month and day-of-week must be ? (the other says which days), like cron(0 */6 * * ? *) (EventBridge refuses the rule, failing the deploy)`},
		{"sweep cron hour", func(d *Declaration) { d.Sweep.Schedule = "cron(0 24 * * ? *)" }, "sweep.schedule",
			`schedule "cron(0 24 * * ? *)": hours 24 is outside 0-23 (EventBridge refuses the rule, failing the deploy)`},
		{"sweep cron words", func(d *Declaration) { d.Sweep.Schedule = "cron(a b c d e f)" }, "sweep.schedule",
			`schedule "cron(a b c d e f)": minutes "a" is not a number (EventBridge refuses the rule, failing the deploy)`},
		{"sweep cron month", func(d *Declaration) { d.Sweep.Schedule = "cron(0 6 ? JAN-FOO MON-FRI *)" }, "sweep.schedule",
			`schedule "cron(0 6 ? JAN-FOO MON-FRI *)": month "FOO" is not a number or a name (JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC) (EventBridge refuses the rule, failing the deploy)`},
		{"sweep cron item", func(d *Declaration) { d.Sweep.Schedule = "cron(0/ 6 ? * MON *)" }, "sweep.schedule",
			`schedule "cron(0/ 6 ? * MON *)": minutes "0/" is not a value, a range, * or an increment of the minutes field (EventBridge refuses the rule, failing the deploy)`},
		{"sweep cron fields", func(d *Declaration) { d.Sweep.Schedule = "cron(0 * * * *)" }, "sweep.schedule", `schedule "cron(0 * * * *)" must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := loadExample(t)
			c.mutate(d)
			err := d.Validate()
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate() = %v, want *ValidationError", err)
			}
			want := Problem{Path: c.path, Message: c.msg}
			for _, p := range ve.Problems {
				if p == want {
					return
				}
			}
			t.Fatalf("problem %q not reported; got:\n%v", want.String(), err)
		})
	}
}

func TestValidSchedulesAndPatterns(t *testing.T) {
	for _, s := range []string{"rate(1 hour)", "rate(30 minutes)", "rate(2 days)", "rate(365 days)", "rate(8760 hours)", "rate(525600 minutes)", "cron(0 */6 * * ? *)",
		"cron(15 10 ? * 6L 2026-2030)", "cron(0/15 * ? * MON-FRI *)", "cron(0 8 1 * ? *)", "cron(0 18 ? * MON#1,fri *)",
		"cron(5,35 14 L * ? *)", "cron(0 0 15W 1-3,DEC ? *)", "cron(0 12 ? JAN-MAR 2-6 *)"} {
		d := loadExample(t)
		d.Sweep.Schedule = s
		if err := d.Validate(); err != nil {
			t.Errorf("schedule %q: %v", s, err)
		}
	}
	for _, p := range []string{"*", "team-a/*", "a*", "shared/*/x", "base/alpine", "x.y_z-1/*"} {
		if !ValidRepositoryPattern(p) {
			t.Errorf("pattern %q rejected", p)
		}
	}
	for _, p := range []string{"", "Team/*", "/x", "x/", "a//b", "-x", "x y"} {
		if ValidRepositoryPattern(p) {
			t.Errorf("pattern %q accepted", p)
		}
	}
}

// TestPoliciesThatCannotFitAreRefused: a declaration whose repository and principal ARNs alone
// pass ECR's 10,240 characters in one policy is refused, naming the document and what each grant
// takes (accepted before: the document was refused at every event, leaving all its grants
// unwritten). shared/desired's TestSizeFloorRefusesOnlyDocumentsThatCannotFit checks that the
// floor never refuses a document that renders within the limit.
func TestPoliciesThatCannotFitAreRefused(t *testing.T) {
	d := loadExample(t)
	for i := range 200 {
		d.Grants[0].Repositories = append(d.Grants[0].Repositories, fmt.Sprintf("team-%03d/*", i))
	}
	want := "grants: the hub's registry policy in us-east-1 would hold at least 12257 characters of repository ARNs, principal ARNs and OU paths alone (grants[0] 11911, grants[1] 211, grants[2] 86, grants[4] 49), past ECR's 10240 for a policy: AWS refuses the whole document, so none of these grants is written there. Select repositories with fewer patterns (a common prefix and *), move grants to placement: repository, or name fewer roles, accounts and OUs"
	if err := d.Validate(); err == nil || err.Error() != want {
		t.Errorf("200 more patterns:\n%v\nwant\n%s", err, want)
	}
	d = loadExample(t)
	for i := range 300 {
		d.Grants[3].Principals.Roles = append(d.Grants[3].Principals.Roles, fmt.Sprintf("arn:aws:iam::222222222222:role/role-%03d", i))
	}
	want = "grants[3].principals: the accounts, roles and OU paths alone take 12599 characters in each repository policy of this grant, past ECR's 10240 for a policy: AWS refuses the document; name fewer, or use organization or a parent OU"
	if err := d.Validate(); err == nil || err.Error() != want {
		t.Errorf("300 roles in a repository grant:\n%v\nwant\n%s", err, want)
	}
	d = loadExample(t)
	for i := range 300 {
		d.PublicRepositories[0].Principals.Roles = append(d.PublicRepositories[0].Principals.Roles, fmt.Sprintf("arn:aws:iam::222222222222:role/role-%03d", i))
	}
	want = "publicRepositories[0].principals: the accounts and roles alone take 12672 characters in each public repository policy of this grant, past ECR Public's 10240 for a policy: AWS refuses the document; name fewer"
	if err := d.Validate(); err == nil || err.Error() != want {
		t.Errorf("300 roles in a public grant:\n%v\nwant\n%s", err, want)
	}
}

// TestAWrongPartitionIsReportedOnce: a partition in capitals is one problem, with the spelling
// meant; before, every role ARN and public grant also reported that it was not in partition "AWS".
func TestAWrongPartitionIsReportedOnce(t *testing.T) {
	d := loadExample(t)
	d.Hub.Partition = "AWS"
	want := `hub.partition: partition "AWS" must be aws, aws-cn or aws-us-gov (lowercase: aws)`
	if err := d.Validate(); err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

// TestRolePathsIAMTakesAreAccepted: a role ARN is accepted with any path IAM's CreateRole takes:
// up to 512 characters of ! to ~, "/" among them (the path pattern /[\x21-\x7E]+/).
func TestRolePathsIAMTakesAreAccepted(t *testing.T) {
	for _, arn := range []string{
		"arn:aws:iam::222222222222:role/ci",
		"arn:aws:iam::222222222222:role/team/ci",
		"arn:aws:iam::222222222222:role/" + strings.Repeat("p/", 255) + "ci", // path of 511
		"arn:aws:iam::222222222222:role/" + strings.Repeat("p", 510) + "/ci", // path of 512
		"arn:aws:iam::222222222222:role/a:b!~/c=d/ci",
		"arn:aws:iam::222222222222:role/a//b/ci", // IAM's pattern takes "/" anywhere inside a path
	} {
		d := loadExample(t)
		d.Grants[1].Principals.Roles = []string{arn}
		if err := d.Validate(); err != nil {
			t.Errorf("role %q: %v", arn, err)
		}
	}
}

// TestEveryProblemAtOnce: one declaration with many mistakes reports them all, in document order,
// one line each.
func TestEveryProblemAtOnce(t *testing.T) {
	d := loadExample(t)
	d.Hub.AccountID = "x"
	d.Grants[2].Repositories = []string{"Team/*"}
	d.PublicRepositories[0].Access = "pull"
	d.Sweep.Schedule = "hourly"
	err := d.Validate()
	want := strings.Join([]string{
		`hub.accountId: account id "x" must be 12 digits`,
		`grants[2].repositories[0]: pattern "Team/*" is not a valid repository name pattern (lowercase letters, digits, . _ - /, and * wildcards)`,
		`publicRepositories[0].access: access "pull": anyone can pull a public repository and public pulls cannot be denied by policy; use push or manage`,
		`sweep.schedule: schedule "hourly" must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields)`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestParseReportsShapeProblemsWithPaths(t *testing.T) {
	cases := []struct {
		name, doc string
		want      []string
	}{
		{"empty", "  ", []string{"(document): the declaration is empty; expected a JSON object"}},
		{"syntax", "{\n  \"hub\": {\n    \"accountId\": 1111,,\n", []string{"line 3, column 23: invalid JSON: invalid character ',' looking for beginning of object key string"}},
		{"missing comma", "{\n  \"hub\": {\"accountId\": \"111111111111\"}\n  \"sweep\": {}\n}", []string{`line 3, column 3: invalid JSON: invalid character '"' after object key:value pair (is a comma missing before it?)`}},
		// What people bring from elsewhere got the decoder's message alone.
		{"comment", "{\n  // the hub\n  \"hub\": {}\n}", []string{`line 2, column 3: invalid JSON: invalid character '/' looking for beginning of object key string (JSON has no comments; the README's example shows them only to explain the fields)`}},
		{"trailing comma", "{\n  \"hub\": {\"regions\": [\"us-east-1\",]}\n}", []string{`line 2, column 35: invalid JSON: invalid character ']' looking for beginning of value (JSON allows no comma after the last member or element)`}},
		{"single quotes", `{'hub': {}}`, []string{`line 1, column 2: invalid JSON: invalid character '\'' looking for beginning of object key string (JSON strings take double quotes)`}},
		{"byte order mark", "\ufeff{\"hub\": {}}", []string{`line 1, column 1: invalid JSON: invalid character 'ï' looking for beginning of value (the file starts with a UTF-8 byte order mark; save it without one)`}},
		{"yaml", "hub:\n  accountId: \"111111111111\"\n", []string{`line 1, column 1: invalid JSON: invalid character 'h' looking for beginning of value (the declaration is JSON; YAML is not read)`}},
		{"truncated", `{"hub": {`, []string{"line 1, column 10: invalid JSON: the document ends before the object is complete"}},
		{"trailing", `{} {}`, []string{"line 1, column 4: unexpected data after the declaration object"}},
		{"not object", `[]`, []string{"(document): must be an object, not an array"}},
		// Unknown fields and wrong types do not hide the other problems: what is left is validated
		// too, except where a removed value or a did-you-mean already explains the problem
		// (hub.accountId is not "required" when hub.accountID was given).
		{"unknown fields everywhere", `{"hub":{"accountID":"111111111111"},"grants":[{"name":"a"},{"name":"b","principals":{"org":true}}],"extra":1}`, []string{
			`extra: unknown field "extra"; known fields: actionSets, functions, grants, hub, memberRoleName, publicRepositories, pullThroughCache, registryPolicyScope, sidPrefix, sweep`,
			`grants[1].principals.org: unknown field "org" (did you mean "organization"?)`,
			`hub.accountID: unknown field "accountID" (did you mean "accountId"?)`,
			`hub.regions: at least one region is required`,
			`hub.organizationId: required: the organization's id, like o-a1b2c3d4e5 (aws organizations describe-organization)`,
			`hub.managementAccountId: required: an account id of 12 digits`,
			`grants[0]: select repositories by name pattern (repositories) and/or tags (repositoryTags); use ["*"] for all`,
			`grants[0].access: access is required: pull, push or an actionSets name`,
			`grants[0].principals: the grant names no principal; set organization, ous, accounts or roles (a grant to everyone is refused)`,
			`grants[1]: select repositories by name pattern (repositories) and/or tags (repositoryTags); use ["*"] for all`,
			`grants[1].access: access is required: pull, push or an actionSets name`,
		}},
		// An integer past int64 was called "not an integer".
		{"huge integer", `{"hub":{"accountId":"111111111111","regions":["us-east-1"],"organizationId":"o-a1b2c3d4e5","managementAccountId":"999999999999"},"functions":{"reservedConcurrency":{"worker":99999999999999999999,"drift":2.5}}}`, []string{
			`functions.reservedConcurrency.drift: must be an integer, not 2.5`,
			`functions.reservedConcurrency.worker: the number 99999999999999999999 is too large (past 2^63)`,
		}},
		{"wrong types", `{"hub":{"accountId":111111111111,"regions":"us-east-1"},"grants":[{"principals":{"organization":"yes"}}],"actionSets":{"scan":"ecr:ListImages"}}`, []string{
			`actionSets["scan"]: must be an array, not a string`,
			`grants[0].principals.organization: must be true or false, not a string`,
			`hub.accountId: must be a string, not a number (111111111111); write "111111111111" (an account id is 12 digits in quotes: as a number its leading zeros are lost)`,
			`hub.regions: must be an array, not a string`,
			`hub.organizationId: required: the organization's id, like o-a1b2c3d4e5 (aws organizations describe-organization)`,
			`hub.managementAccountId: required: an account id of 12 digits`,
			`grants[0].name: required: 1-64 lowercase letters or digits separated by single - _ or . (it becomes part of a Sid)`,
			`grants[0]: select repositories by name pattern (repositories) and/or tags (repositoryTags); use ["*"] for all`,
			`grants[0].access: access is required: pull, push or an actionSets name`,
		}},
		// An account id written as a number: the message says how to write it, and that its
		// leading zero is gone.
		{"account as number", `{"hub":{"accountId":"111111111111","regions":["us-east-1"],"organizationId":"o-a1b2c3d4e5","managementAccountId":99999999999},"grants":[{"name":"g","repositories":["x/*"],"access":"pull","principals":{"accounts":["222222222222",22222222222]}}]}`, []string{
			`grants[0].principals.accounts[1]: must be a string, not a number (22222222222); write "22222222222" (an account id is 12 digits in quotes: as a number its leading zeros are lost, and this one has 11 digits)`,
			`hub.managementAccountId: must be a string, not a number (99999999999); write "99999999999" (an account id is 12 digits in quotes: as a number its leading zeros are lost, and this one has 11 digits)`,
		}},
		// A selector written out that selects nothing was given its default (that of an omitted
		// one): the grant went to the hub, the PTC statement to the account root.
		{"written selectors that select nothing", `{"hub":{"accountId":"111111111111","regions":["us-east-1"],"organizationId":"o-a1b2c3d4e5","managementAccountId":"999999999999"},
			"grants":[{"name":"g","repositories":["x/*"],"access":"pull","principals":{"organization":true},"registries":{"hub":false,"ous":[]}},
			          {"name":"h","repositories":["x/*"],"access":"pull","principals":{"organization":true},"registries":{}}],
			"publicRepositories":[{"name":"p","repositories":["x/*"],"access":"push","principals":{"accounts":["222222222222"]},"registries":{"allMembers":false}}],
			"pullThroughCache":{"members":{"all":true},"statementPrincipals":{"accountRoot":false,"roleNames":[]},"rules":[{"prefix":"quay","upstreamRegistryUrl":"quay.io"}]}}`, []string{
			`grants[0].registries (line 2): selects no registry: set hub: true, allMembers: true, ous or accounts, or leave registries out for the hub only (an empty selection is not taken as the hub)`,
			`publicRepositories[0].registries (line 4): selects no registry: set hub: true, allMembers: true, ous or accounts, or leave registries out for the hub only (an empty selection is not taken as the hub)`,
			`pullThroughCache.statementPrincipals (line 5): names no principal: set accountRoot: true or roleNames, or leave statementPrincipals out for the account root (an empty selection is not taken as the account root)`,
		}},
		{"written selector with a typo", `{"hub":{"accountId":"111111111111","regions":["us-east-1"],"organizationId":"o-a1b2c3d4e5","managementAccountId":"999999999999"},
			"grants":[{"name":"g","repositories":["x/*"],"access":"pull","principals":{"organization":true},"registries":{"hub":false,"acounts":["222222222222"]}}]}`, []string{
			`grants[0].registries.acounts (line 2): unknown field "acounts" (did you mean "accounts"?)`,
		}},
		// A key given twice does not hide the problems elsewhere (it did: the duplicate was the
		// only problem reported); what is under it is not validated (which value is meant is
		// unknown), but the object holding it is.
		{"duplicate keys and the rest", `{"hub":{"accountId":"111111111111","accountId":"1"},"grants":[{"name":"g","access":"pull","access":"push"}],"grants":[{"name":"h","access":"pul"}],"sweep":{"schedule":"hourly"}}`, []string{
			`hub.accountId: appears more than once in the same object; only one value can be meant`,
			`grants[0].access: appears more than once in the same object; only one value can be meant`,
			`grants: appears more than once in the same object; only one value can be meant`,
			`hub.regions: at least one region is required`,
			`hub.organizationId: required: the organization's id, like o-a1b2c3d4e5 (aws organizations describe-organization)`,
			`hub.managementAccountId: required: an account id of 12 digits`,
			`sweep.schedule: schedule "hourly" must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields)`,
		}},
		{"duplicate key, its object's problems", `{"hub":{"accountId":"111111111111","regions":["us-east-1"],"organizationId":"o-a1b2c3d4e5","managementAccountId":"999999999999"},"grants":[{"name":"g","access":"pull","access":"push"}]}`, []string{
			`grants[0].access: appears more than once in the same object; only one value can be meant`,
			`grants[0]: select repositories by name pattern (repositories) and/or tags (repositoryTags); use ["*"] for all`,
			`grants[0].principals: the grant names no principal; set organization, ous, accounts or roles (a grant to everyone is refused)`,
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.doc))
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse() = %v, want *ValidationError", err)
			}
			var got []string
			for _, p := range ve.Problems {
				got = append(got, p.String())
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	if _, err := Load("testdata/does-not-exist.json"); err == nil || !strings.Contains(err.Error(), "reading declaration (testdata/does-not-exist.json)") {
		t.Fatalf("Load missing file: %v", err)
	}
	path := t.TempDir() + "/bad.json"
	if err := os.WriteFile(path, []byte(`{"hub":{}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	if err == nil || !strings.HasPrefix(err.Error(), "declaration "+path+":\nhub.accountId: ") {
		t.Fatalf("Load invalid file: %v", err)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load error does not wrap *ValidationError: %T", err)
	}
}

// TestRoundTrip: a parsed declaration marshals back to JSON that parses to the same value.
func TestRoundTrip(t *testing.T) {
	d := loadExample(t)
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(d, d2) {
		t.Fatalf("round trip differs:\n%+v\n%+v", d, d2)
	}
}

func TestSidName(t *testing.T) {
	for in, want := range map[string]string{"org-pull-shared": "OrgPullShared", "a_b.c": "ABC", "team-a2": "TeamA2", "x": "X"} {
		if got := SidName(in); got != want {
			t.Errorf("SidName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseRejectsDuplicateKeysAndNonObjects(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`null`, "(document): the declaration is null; expected a JSON object"},
		{`[]`, "(document): must be an object, not an array"},
		{`{"hub": {"accountId": "111111111111", "accountId": "222222222222"}}`, "hub.accountId: appears more than once"},
		{`{"grants": [{"name": "a"}, {"name": "b", "access": "pull", "access": "push"}]}`, "grants[1].access: appears more than once"},
		{`[{"a": [1, {"b": 2}], "a": 3}]`, "[0].a: appears more than once"},
		{`{"": {}, "": {}}`, `[""]: appears more than once`}, // found by FuzzParse: the path was empty
		{`{"grants": [{"a.b": 1, "a.b": 2}]}`, `grants[0]["a.b"]: appears more than once`},
		// Nested past MaxDepth: refused unread (the walk stops there).
		{`{"grants": [` + strings.Repeat(`{"x": `, 5000) + `1` + strings.Repeat(`}`, 5000) + `]}`, "grants[0].x.x.x"},
		{`{"grants": [` + strings.Repeat(`[`, 5000) + strings.Repeat(`]`, 5000) + `]}`, "more than 64 levels deep"},
	} {
		_, err := Parse([]byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s) = %v, want an error containing %q", tc.in, err, tc.want)
		}
	}
}

// A declaration file's problems say where each is (the line of its field, or of the object a
// missing field belongs in), in document order, and name the field a typo probably meant; a
// typo does not hide a problem elsewhere.
func TestParseNamesTheLineOfEveryProblem(t *testing.T) {
	doc := `{
  "hub": {
    "accountId": "111111111111",
    "regions": "us-east-1",
    "managementAccountId": "999999999999"
  },
  "grants": [
    {
      "name": "org-pull",
      "repositories": ["shared/*", "Team/*"],
      "acess": "pull",
      "principals": {"organization": true},
      "principalMode": "enumarate"
    }
  ],
  "actionSets": {"scan": ["ecr:ListImages", 5]},
  "sweep": {"schedule": "every 6 hours"}
}`
	_, err := Parse([]byte(doc))
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Parse() = %v, want *ValidationError", err)
	}
	want := []string{
		`hub.organizationId (line 2): required: the organization's id, like o-a1b2c3d4e5 (aws organizations describe-organization)`,
		`hub.regions (line 4): must be an array, not a string`,
		`grants[0].repositories[1] (line 10): pattern "Team/*" is not a valid repository name pattern (lowercase letters, digits, . _ - /, and * wildcards)`,
		`grants[0].acess (line 11): unknown field "acess" (did you mean "access"?)`,
		`grants[0].principalMode (line 13): principalMode "enumarate" must be condition or enumerate`,
		`actionSets["scan"][1] (line 16): must be a string, not a number (5)`,
		`sweep.schedule (line 17): schedule "every 6 hours" must be rate(N minutes|hours|days) (singular for 1) or cron(6 fields)`,
	}
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.String())
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestClosest(t *testing.T) {
	known := []string{"access", "accounts", "organization", "ous", "principalMode", "all"}
	for in, want := range map[string]string{"acess": "access", "Access": "access", "org": "organization", "principalMod": "principalMode",
		"al": "all", "ou": "ous", "xyz": "", "acc": "", "organisation": "organization"} {
		if got := Closest(in, known); got != want {
			t.Errorf("Closest(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestParseTimeIsLinearInTheDeclaration: reporting a problem in a declaration of 10,000 grants
// takes about 4 times as long as in one of 2,500. Placing the problem on its line counted the
// file's newlines from the start for every key (quadratic: 3.3 s for 10,000 grants against 0.3 s
// without the problem on the reference machine, a ratio of 12 between the two sizes); a ratio of
// times measured side by side, not a time, so a loaded machine does not fail it.
func TestParseTimeIsLinearInTheDeclaration(t *testing.T) {
	doc := func(grants int) []byte {
		var b strings.Builder
		b.WriteString("{\n  \"hub\": {\"accountId\": \"111111111111\", \"regions\": [\"us-east-1\"], \"organizationId\": \"o-a1b2c3d4e5\", \"managementAccountId\": \"999999999999\"},\n  \"grants\": [\n")
		for i := range grants {
			a := "pull"
			if i == grants-1 {
				a = "pul"
			}
			// Repository placement: 10,000 grants' statements in the hub's one registry policy would
			// pass its 10,240 characters, a second problem (TestPoliciesThatCannotFitAreRefused).
			fmt.Fprintf(&b, "    {\n      \"name\": \"g%d\",\n      \"repositories\": [\"team-%d/*\"],\n      \"access\": %q,\n      \"principals\": {\"accounts\": [\"222222222222\"]}, \"placement\": \"repository\"\n    }", i, i, a)
			if i < grants-1 {
				b.WriteString(",")
			}
			b.WriteString("\n")
		}
		b.WriteString("  ]\n}\n")
		return []byte(b.String())
	}
	small, large := doc(2500), doc(10000)
	_, err := Parse(large)
	if want := `grants[9999].access (line 60001): access "pul" must be pull, push or one of the declared actionSets (none declared)`; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
	var bestSmall, bestLarge time.Duration
	for range 3 { // side by side, so that load on the machine slows both
		for _, c := range []struct {
			data []byte
			best *time.Duration
		}{{small, &bestSmall}, {large, &bestLarge}} {
			start := time.Now()
			if _, err := Parse(c.data); err == nil {
				t.Fatal("Parse accepted a declaration with a problem")
			}
			if d := time.Since(start); *c.best == 0 || d < *c.best {
				*c.best = d
			}
		}
	}
	if bestLarge > 8*bestSmall {
		t.Fatalf("a problem in 10,000 grants: %v, in 2,500: %v; the time must grow with the declaration, not with its square", bestLarge, bestSmall)
	}
}

// A value of megabytes (a pasted file in a pattern, an unknown key as long)
// is refused with a message of a few KB that still names the path and says
// how much was left out.
func TestHugeValuesGiveBoundedMessages(t *testing.T) {
	huge := strings.Repeat("Ä", 1<<20) // 2 MiB, a rune of two bytes, so the cut must find a boundary
	d := loadExample(t)
	d.Grants[0].Repositories = []string{huge}
	err := d.Validate()
	if err == nil {
		t.Fatal("a 2 MiB pattern was accepted")
	}
	msg := err.Error()
	if len(msg) > 8000 || !strings.HasPrefix(msg, "grants[0].repositories[0]: ") || !strings.Contains(msg, "more bytes)") || !utf8.ValidString(msg) {
		t.Errorf("message of %d bytes (valid UTF-8 %v), starting %.80q", len(msg), utf8.ValidString(msg), msg)
	}
	doc, _ := os.ReadFile(examplePath)
	var raw map[string]any
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	raw["x"+huge] = 1
	b, _ := json.Marshal(raw)
	_, err = Parse(b)
	if err == nil || len(err.Error()) > 8000 || !strings.Contains(err.Error(), "more bytes)") {
		t.Errorf("an unknown key of 2 MiB: %d bytes: %.200s", len(fmt.Sprint(err)), fmt.Sprint(err))
	}
}

// Tags decide nothing without a tag grant, so a set may then tag; reading
// policies and ECR Public's sets are never refused for it.
func TestActionSetsThatChangeNoAccessAreTaken(t *testing.T) {
	d := loadExample(t)
	var kept []Grant
	for _, g := range d.Grants {
		if len(g.RepositoryTags) == 0 {
			kept = append(kept, g)
		}
	}
	d.Grants = kept
	d.ActionSets["scan"] = []string{"ecr:TagResource", "ecr:UntagResource", "ecr:GetRepositoryPolicy", "ecr:Get*", "ecr:BatchGet*"}
	d.ActionSets["public-admin"] = []string{"ecr-public:SetRepositoryPolicy"}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}
