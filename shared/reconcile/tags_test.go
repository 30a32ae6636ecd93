package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// server is the package's one local AWS; each test resets it.
var server *localaws.Server

func TestMain(m *testing.M) { localaws.Main(m, &server) }

const (
	hubAccount = "123456789012" // moto's account for the static test keys
	region     = "us-east-1"
	tagService = "Resource Groups Tagging API"
	// taggingPages is what the share=org query of makeTaggedRepos(250) costs
	// on moto (see TestConvergeReadsTagsAsListingPages).
	taggingPages = 2
)

// tagDeclaration has two repository grants selecting share=org (one query
// between them), one selecting team=a only in member registries (no query
// in the hub) and one by name only.
const tagDeclaration = `{
  "hub": {"accountId": "123456789012", "regions": ["us-east-1"], "partition": "aws",
          "organizationId": "o-a1b2c3d4e5", "managementAccountId": "999999999999"},
  "memberRoleName": "ecr-warden-execution",
  "sidPrefix": "EcrWarden",
  "grants": [
    {"name": "tagged-pull", "repositoryTags": {"share": "org"}, "access": "pull",
     "principals": {"accounts": ["210987654321"]}, "placement": "repository", "registries": {"hub": true}},
    {"name": "tagged-push", "repositoryTags": {"share": "org"}, "access": "push",
     "principals": {"roles": ["arn:aws:iam::210987654321:role/ci"]}, "placement": "repository", "registries": {"hub": true}},
    {"name": "members-team-a", "repositoryTags": {"team": "a"}, "access": "pull",
     "principals": {"accounts": ["210987654321"]}, "placement": "repository", "registries": {"allMembers": true}},
    {"name": "named-pull", "repositories": ["named/*"], "access": "pull",
     "principals": {"accounts": ["210987654321"]}, "placement": "repository", "registries": {"hub": true}}
  ]
}`

// countingSource acts in the hub with the server's test identity and in any
// other account through sts:AssumeRole (moto keeps state per account), and
// counts every call.
type countingSource struct {
	counts *inventory.Counts
}

func (s countingSource) Config(account, region string) aws.Config {
	cfg := server.Config(region)
	if account != hubAccount {
		var err error
		cfg, err = localaws.AccountConfig(context.Background(), cfg, account, "ecr-warden-execution")
		if err != nil {
			panic(fmt.Sprintf("acting in %s: %v", account, err)) // the local STS does not fail
		}
	}
	cfg.APIOptions = append(cfg.APIOptions, inventory.CountCalls(s.counts))
	return cfg
}

// staleTagging answers tag queries from another account, so they find
// nothing: what the eventually consistent Tagging API says about repositories
// tagged a moment ago.
type staleTagging struct{ Clients }

func (s staleTagging) Tagging(account, region string) taggingAPI {
	return s.Clients.Tagging("000000000000", region)
}

// newEngine builds an engine over the local AWS with audit and lease tables.
func newEngine(t *testing.T, counts *inventory.Counts) *Engine {
	t.Helper()
	e, _ := engineOnLocalAWS(t, counts, tagDeclaration, func(ctx context.Context) error {
		// The role the tagged-push grant names exists (the engine leaves out
		// principals IAM says are missing, as AWS would refuse them).
		ci, err := localaws.AccountConfig(ctx, server.Config(region), "210987654321", "ecr-warden-execution")
		if err != nil {
			return err
		}
		return localaws.CreateRole(ctx, ci, "ci")
	})
	return e
}

// engineOnLocalAWS resets the local AWS, runs seed, creates the audit and
// lease tables and returns an engine over them for the declaration text,
// counting every AWS call, and its audit trail.
func engineOnLocalAWS(t *testing.T, counts *inventory.Counts, declaration string, seed func(ctx context.Context) error) (*Engine, *audit.Trail) {
	t.Helper()
	localaws.Need(t)
	ctx := context.Background()
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	decl, err := config.Parse([]byte(declaration))
	if err != nil {
		t.Fatal(err)
	}
	if err := seed(ctx); err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(server.Config(region))
	if err := audit.CreateTable(ctx, db, "audit"); err != nil {
		t.Fatal(err)
	}
	if err := lease.CreateTable(ctx, db, "leases"); err != nil {
		t.Fatal(err)
	}
	trail, err := audit.New(db, "audit", audit.Options{Function: "test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	leases, err := lease.New(db, "leases", lease.Options{Holder: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return &Engine{Decl: decl, Clients: NewClients(countingSource{counts}), Exec: &apply.Executor{Trail: trail, Leases: leases}, Log: slog.New(slog.DiscardHandler)}, trail
}

// makeTaggedRepos creates n hub repositories "apps/svc-NNN"; every third one
// is tagged share=org, every fifth one team=a.
func makeTaggedRepos(t *testing.T, n int) (tagged int) {
	t.Helper()
	localaws.Need(t)
	c := ecr.NewFromConfig(server.Config(region))
	for i := range n {
		in := &ecr.CreateRepositoryInput{RepositoryName: aws.String(fmt.Sprintf("apps/svc-%03d", i))}
		if i%3 == 0 {
			in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String("share"), Value: aws.String("org")})
			tagged++
		}
		if i%5 == 0 {
			in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String("team"), Value: aws.String("a")})
		}
		if _, err := c.CreateRepository(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	return tagged
}

func hubWork() Work { return Work{RunID: "test", Account: hubAccount, Region: region} }

// TestConvergeReadsTagsAsListingPages: a registry of 250 repositories with a
// tag grant converges with one tag query; the converged re-run reads each
// repository once (its policy) and writes nothing.
func TestConvergeReadsTagsAsListingPages(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts inventory.Counts
	e := newEngine(t, &counts)
	tagged := makeTaggedRepos(t, 250)
	// Repositories matched by name alone are written without a tag read.
	for i := range 5 {
		if _, err := ecr.NewFromConfig(server.Config(region)).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(fmt.Sprintf("named/x-%d", i))}); err != nil {
			t.Fatal(err)
		}
	}

	counts.Reset()
	rep, err := e.Converge(ctx, Cause{}, hubWork())
	if err != nil {
		t.Fatal(err)
	}
	// The two share=org grants share one statement set per repository.
	if rep.Changed != tagged+5 || rep.Failed != 0 || counts.Get("ECR", "SetRepositoryPolicy") != int64(tagged+5) {
		t.Fatalf("first run: report %+v (want %d changed), calls:\n%s", rep, tagged+5, counts.String())
	}
	// One query for both share=org grants, none for the members-only team=a
	// grant; tags are confirmed per repository only before a write. The query
	// takes 2 pages here because moto also ends a page before 100 tags (84
	// repositories carry 101 tags); AWS, asked for 100 resources a page,
	// answers in 1.
	if counts.Get(tagService, "GetResources") != taggingPages || counts.Get("ECR", "ListTagsForResource") != int64(tagged) {
		t.Fatalf("first run tag reads:\n%s", counts.String())
	}
	policy := must[*ecr.GetRepositoryPolicyOutput](t)(ecr.NewFromConfig(server.Config(region)).GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("apps/svc-003")}))
	for _, sid := range []string{"EcrWardenTaggedPull", "EcrWardenTaggedPush"} {
		if !strings.Contains(aws.ToString(policy.PolicyText), sid) {
			t.Errorf("apps/svc-003 policy lacks %s: %s", sid, aws.ToString(policy.PolicyText))
		}
	}
	if strings.Contains(aws.ToString(policy.PolicyText), "MembersTeamA") {
		t.Errorf("hub repository got the members-only grant: %s", aws.ToString(policy.PolicyText))
	}
	t.Logf("first run, 250 repositories (%d tagged): %d calls\n%s", tagged, counts.Total(), counts.String())

	counts.Reset()
	rep, err = e.Converge(ctx, Cause{}, hubWork())
	if err != nil {
		t.Fatal(err)
	}
	perRepo := counts.Get("ECR", "GetRepositoryPolicy") + counts.Get("ECR", "ListTagsForResource")
	if rep.Changed != 0 || rep.Unchanged < 255 || counts.Writes() != 0 ||
		counts.Get("ECR", "ListTagsForResource") != 0 || counts.Get(tagService, "GetResources") != taggingPages ||
		counts.Get("ECR", "DescribeRepositories") != 1 || perRepo != 255 {
		t.Fatalf("converged re-run: report %+v, calls:\n%s", rep, counts.String())
	}
	t.Logf("converged re-run, 250 repositories: %d calls, %d per-repository reads (%.2f per repository), %d writes\n%s",
		counts.Total(), perRepo, float64(perRepo)/250, counts.Writes(), counts.String())
}

// TestConvergeConfirmsTagsBeforeRemovingAGrant: when the Tagging API has not
// caught up, the plan it suggests (drop the tag grant) is checked against the
// repository's own tags first, so nothing is removed; a real untag still is.
func TestConvergeConfirmsTagsBeforeRemovingAGrant(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts inventory.Counts
	e := newEngine(t, &counts)
	tagged := makeTaggedRepos(t, 30)
	if _, err := e.Converge(ctx, Cause{}, hubWork()); err != nil {
		t.Fatal(err)
	}

	stale := *e
	stale.Clients = staleTagging{e.Clients}
	for _, dry := range []bool{true, false} {
		counts.Reset()
		rep, err := stale.Converge(ctx, Cause{}, Work{RunID: "stale", Account: hubAccount, Region: region, DryRun: dry})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Changed != 0 || rep.Planned != 0 || counts.Writes() != 0 || counts.Get("ECR", "ListTagsForResource") != int64(tagged) {
			t.Fatalf("stale tag answer (dry run %v): report %+v, calls:\n%s", dry, rep, counts.String())
		}
	}

	// A repository really untagged loses the grant, after its tags are read.
	c := ecr.NewFromConfig(server.Config(region))
	arn := "arn:aws:ecr:us-east-1:" + hubAccount + ":repository/apps/svc-006"
	if _, err := c.UntagResource(ctx, &ecr.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"share"}}); err != nil {
		t.Fatal(err)
	}
	counts.Reset()
	rep, err := e.Converge(ctx, Cause{}, hubWork())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Changed != 1 || len(rep.Changes) != 1 || rep.Changes[0].Target != arn || counts.Get("ECR", "ListTagsForResource") != 1 {
		t.Fatalf("after untag: report %+v, calls:\n%s", rep, counts.String())
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
