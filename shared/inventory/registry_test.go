package inventory

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

const testAccount = "123456789012" // moto's default account

func repoPolicy(name string) string {
	return fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Sid":"Foreign%s","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["ecr:BatchGetImage"]}]}`,
		strings.ReplaceAll(name, "/", ""))
}

// makeRepos creates n repositories "team/repo-NNN"; every even one gets a
// policy and every third one a tag share=org.
func makeRepos(t testing.TB, ctx context.Context, c *ecr.Client, n int) {
	t.Helper()
	for i := range n {
		name := fmt.Sprintf("team/repo-%03d", i)
		in := &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}
		if i%3 == 0 {
			in.Tags = []ecrtypes.Tag{{Key: aws.String("share"), Value: aws.String("org")}}
		}
		// A create the harness retried after Go's closed-connection race
		// (localaws.testRetryer) finds the repository its first attempt made.
		var exists *ecrtypes.RepositoryAlreadyExistsException
		if _, err := c.CreateRepository(ctx, in); err != nil && !errors.As(err, &exists) {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(repoPolicy(name))}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestSnapshotReadsPoliciesAndTagsOnlyWhenAsked(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts Counts
	c := ecr.NewFromConfig(fresh(t, &counts))
	makeRepos(t, ctx, c, 250)
	reg := NewRegistry(c, testAccount, "us-east-1", RegistryOptions{})
	for _, withTags := range []bool{false, true} {
		counts.Reset()
		snap, err := reg.Snapshot(ctx, SnapshotOptions{Tags: withTags})
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Repositories) != 250 || len(snap.Missing) != 0 {
			t.Fatalf("snapshot: %d repositories, %d missing", len(snap.Repositories), len(snap.Missing))
		}
		for i, s := range snap.Repositories {
			name := fmt.Sprintf("team/repo-%03d", i)
			if s.Err != nil || s.Name != name || s.RegistryID != testAccount ||
				s.ARN != "arn:aws:ecr:us-east-1:"+testAccount+":repository/"+name {
				t.Fatalf("repository %d: %+v", i, s)
			}
			if s.HasPolicy != (i%2 == 0) || (s.HasPolicy && s.Policy != repoPolicy(name)) {
				t.Fatalf("%s: policy %v %q", name, s.HasPolicy, s.Policy)
			}
			if withTags != (s.Tags != nil) || (withTags && (s.Tags["share"] == "org") != (i%3 == 0)) {
				t.Fatalf("%s: tags %v (asked: %v)", name, s.Tags, withTags)
			}
		}
		wantTags := int64(0)
		if withTags {
			wantTags = 250
		}
		if counts.Get("ECR", "DescribeRepositories") != 1 || counts.Get("ECR", "GetRepositoryPolicy") != 250 ||
			counts.Get("ECR", "ListTagsForResource") != wantTags || counts.Writes() != 0 {
			t.Fatalf("snapshot of 250 (tags %v) calls:\n%s", withTags, counts.String())
		}
		t.Logf("snapshot of 250 repositories, tags=%v: %d calls (%.2f per repository)", withTags, counts.Total(), float64(counts.Total())/250)
	}
}

func TestRepositoriesByNameReportsMissingNames(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts Counts
	c := ecr.NewFromConfig(fresh(t, &counts))
	makeRepos(t, ctx, c, 140)
	reg := NewRegistry(c, testAccount, "us-east-1", RegistryOptions{})
	var names []string
	for i := range 140 {
		names = append(names, fmt.Sprintf("team/repo-%03d", i))
	}
	// Three missing names, one invalid, one duplicate: 146 asked, 141 unique
	// valid ones in 2 batches of 100 and 41.
	names = append(names, "team/gone-a", "team/repo-050", "zz/gone-b", "team/gone-c", "Not_Valid")
	counts.Reset()
	found, missing, err := reg.Repositories(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 140 || strings.Join(missing, ",") != "Not_Valid,team/gone-a,team/gone-c,zz/gone-b" {
		t.Fatalf("found %d, missing %v", len(found), missing)
	}
	// 2 batches + 1 retry per missing name (moto names it in the error).
	if n := counts.Get("ECR", "DescribeRepositories"); n != 5 {
		t.Fatalf("DescribeRepositories calls = %d, want 5:\n%s", n, counts.String())
	}
	snap, err := reg.Snapshot(ctx, SnapshotOptions{Names: []string{"team/repo-001", "team/gone-a"}})
	if err != nil || len(snap.Repositories) != 1 || snap.Repositories[0].HasPolicy || len(snap.Missing) != 1 {
		t.Fatalf("snapshot by name: %+v %v", snap, err)
	}
}

func TestPoliciesAbsentAndRepositoryNotFound(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts Counts
	c := ecr.NewFromConfig(fresh(t, &counts))
	makeRepos(t, ctx, c, 2)
	reg := NewRegistry(c, testAccount, "us-east-1", RegistryOptions{})

	if text, ok, err := reg.RepositoryPolicy(ctx, "team/repo-001"); err != nil || ok || text != "" {
		t.Fatalf("no policy: %q %v %v", text, ok, err)
	}
	if text, ok, err := reg.RepositoryPolicy(ctx, "team/repo-000"); err != nil || !ok || text != repoPolicy("team/repo-000") {
		t.Fatalf("policy: %q %v %v", text, ok, err)
	}
	_, _, err := reg.RepositoryPolicy(ctx, "team/not-yet")
	var nf *ecrtypes.RepositoryNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "team/not-yet in "+testAccount+"/us-east-1") {
		t.Fatalf("missing repository: %v; want a typed RepositoryNotFoundException naming it", err)
	}

	if text, ok, err := reg.RegistryPolicy(ctx); err != nil || ok || text != "" {
		t.Fatalf("no registry policy: %q %v %v", text, ok, err)
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Sid":"Replicate","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["ecr:ReplicateImage","ecr:CreateRepository"],"Resource":"arn:aws:ecr:us-east-1:123456789012:repository/*"}]}`
	if _, err := c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(doc)}); err != nil {
		t.Fatal(err)
	}
	if text, ok, err := reg.RegistryPolicy(ctx); err != nil || !ok || !strings.Contains(text, `"Sid":"Replicate"`) && !strings.Contains(text, `"Sid": "Replicate"`) {
		t.Fatalf("registry policy: %q %v %v", text, ok, err)
	}
}

func TestRegistryScopeAndPTCRules(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts Counts
	c := ecr.NewFromConfig(fresh(t, &counts))
	reg := NewRegistry(c, testAccount, "us-east-1", RegistryOptions{PageSize: 2})
	if _, err := c.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String(RegistryPolicyScopeSetting), Value: aws.String("V2")}); err != nil {
		t.Fatal(err)
	}
	if scope, err := reg.RegistryScope(ctx); err != nil || scope != "V2" {
		t.Fatalf("scope %q %v", scope, err)
	}
	rules, err := reg.PTCRules(ctx)
	if err != nil || len(rules) != 0 {
		t.Fatalf("no rules: %v %v", rules, err)
	}
	for _, p := range []string{"ecr-public", "quay", "k8s"} {
		url := map[string]string{"ecr-public": "public.ecr.aws", "quay": "quay.io", "k8s": "registry.k8s.io"}[p]
		if _, err := c.CreatePullThroughCacheRule(ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String(p), UpstreamRegistryUrl: aws.String(url)}); err != nil {
			t.Fatal(err)
		}
	}
	counts.Reset()
	rules, err = reg.PTCRules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rules {
		got = append(got, r.Prefix+"="+r.UpstreamRegistryURL)
	}
	if strings.Join(got, " ") != "ecr-public=public.ecr.aws k8s=registry.k8s.io quay=quay.io" {
		t.Fatalf("rules %v", got)
	}
	if n := counts.Get("ECR", "DescribePullThroughCacheRules"); n != 2 {
		t.Fatalf("3 rules at page size 2: %d calls, want 2", n)
	}
}

// pagedECR serves DescribeRepositories from memory in pages of MaxResults,
// with NextToken, as ECR does (moto ignores maxResults here).
type pagedECR struct {
	ecrAPI
	names []string
	calls int
}

func (p *pagedECR) DescribeRepositories(_ context.Context, in *ecr.DescribeRepositoriesInput, _ ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	p.calls++
	start := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &start)
	}
	end := min(start+int(aws.ToInt32(in.MaxResults)), len(p.names))
	out := &ecr.DescribeRepositoriesOutput{}
	for _, n := range p.names[start:end] {
		out.Repositories = append(out.Repositories, ecrtypes.Repository{RepositoryName: aws.String(n), RepositoryArn: aws.String("arn:aws:ecr:us-east-1:111111111111:repository/" + n)})
	}
	if end < len(p.names) {
		out.NextToken = aws.String(fmt.Sprint(end))
	}
	return out, nil
}

func TestRepositoriesPaginates(t *testing.T) {
	api := &pagedECR{}
	for i := range 2500 {
		api.names = append(api.names, fmt.Sprintf("r%04d", i))
	}
	repos, _, err := NewRegistry(api, "111111111111", "us-east-1", RegistryOptions{}).Repositories(context.Background(), nil)
	if err != nil || len(repos) != 2500 || api.calls != 3 || repos[2499].Name != "r2499" || repos[0].RegistryID != "111111111111" {
		t.Fatalf("%d repositories in %d calls (%v), want 2500 in 3", len(repos), api.calls, err)
	}
}

// BenchmarkSnapshot250 measures a policy snapshot of 250 repositories.
func BenchmarkSnapshot250(b *testing.B) {
	ctx := context.Background()
	var counts Counts
	c := ecr.NewFromConfig(fresh(b, &counts))
	makeRepos(b, ctx, c, 250)
	reg := NewRegistry(c, testAccount, "us-east-1", RegistryOptions{})
	counts.Reset()
	for b.Loop() {
		if _, err := reg.Snapshot(ctx, SnapshotOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(counts.Service("ECR"))/float64(b.N), "calls/op")
}
