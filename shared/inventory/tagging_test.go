package inventory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

const taggingService = "Resource Groups Tagging API"

// TestTaggedRepositoriesCostListingPages is the point of the reader: the
// same answer as 250 ListTagsForResource calls, in one GetResources page.
func TestTaggedRepositoriesCostListingPages(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts Counts
	cfg := fresh(t, &counts)
	c := ecr.NewFromConfig(cfg)
	makeRepos(t, ctx, c, 250) // every third one tagged share=org: 84
	// Another region of the same account holds a matching repository too.
	eu := server.Config("eu-west-1")
	if _, err := ecr.NewFromConfig(eu).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team/elsewhere"),
		Tags: []ecrtypes.Tag{{Key: aws.String("share"), Value: aws.String("org")}}}); err != nil {
		t.Fatal(err)
	}

	// What the per-repository way reads (two calls per repository).
	counts.Reset()
	snap, err := NewRegistry(c, testAccount, "us-east-1", RegistryOptions{}).Snapshot(ctx, SnapshotOptions{Tags: true})
	if err != nil {
		t.Fatal(err)
	}
	perRepository := counts.Total()
	want := map[string]bool{}
	for _, s := range snap.Repositories {
		if s.Tags["share"] == "org" {
			want[s.ARN] = true
		}
	}

	counts.Reset()
	got, err := NewTagging(tagging.NewFromConfig(cfg), testAccount, "us-east-1").TaggedRepositories(ctx, map[string][]string{"share": {"org"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 84 || len(want) != 84 {
		t.Fatalf("tagged repositories: %d, per-repository reads found %d, want 84 each", len(got), len(want))
	}
	for arn, tags := range got {
		if !want[arn] || tags["share"] != "org" || len(tags) != 1 {
			t.Errorf("%s: tags %v, listed by ListTagsForResource: %v", arn, tags, want[arn])
		}
	}
	if counts.Get(taggingService, "GetResources") != 1 || counts.Total() != 1 {
		t.Fatalf("tag query of 250 repositories (84 tagged) calls:\n%s", counts.String())
	}
	t.Logf("tags of 250 repositories: a snapshot with per-repository tags makes %d calls (policy + tags each); the tag query makes %d",
		perRepository, counts.Total())
}

func TestTaggedRepositoriesPaginatesAndFilters(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	var counts Counts
	cfg := fresh(t, &counts)
	c := ecr.NewFromConfig(cfg)
	tagged := func(name string, kv ...string) {
		in := &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)}
		for i := 0; i < len(kv); i += 2 {
			in.Tags = append(in.Tags, ecrtypes.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
		}
		// Under load the test transport may retry a create whose response was lost on a closed
		// connection; the repository then already exists, which is the state this seeding wants.
		var exists *ecrtypes.RepositoryAlreadyExistsException
		if _, err := c.CreateRepository(ctx, in); err != nil && !errors.As(err, &exists) {
			t.Fatal(err)
		}
	}
	for i := range 230 {
		tagged(fmt.Sprintf("apps/svc-%03d", i), "share", "org")
	}
	tagged("team-a/app", "share", "ou", "team", "a")
	tagged("team-b/app", "team", "b")
	tg := NewTagging(tagging.NewFromConfig(cfg), testAccount, "us-east-1")

	counts.Reset()
	all, err := tg.TaggedRepositories(ctx, map[string][]string{"share": {"org"}})
	if err != nil {
		t.Fatal(err)
	}
	// 230 matches take 3 pages (moto answers at most 99 one-tag resources a
	// page, AWS at most 100: 3 either way); nothing per repository.
	if len(all) != 230 || counts.Get(taggingService, "GetResources") != 3 || counts.Total() != 3 {
		t.Fatalf("share=org: %d repositories, calls:\n%s", len(all), counts.String())
	}

	for _, tc := range []struct {
		filters map[string][]string
		want    string
	}{
		{map[string][]string{"share": {"ou", "nobody"}}, "team-a/app"},
		{map[string][]string{"team": nil}, "team-a/app,team-b/app"},
		{map[string][]string{"team": {"a", "b"}, "share": {"ou"}}, "team-a/app"},
		{map[string][]string{"share": {"nobody"}}, ""},
	} {
		got, err := tg.TaggedRepositories(ctx, tc.filters)
		if err != nil {
			t.Fatal(err)
		}
		if names := repoNames(got); names != tc.want {
			t.Errorf("filters %v: %q, want %q", tc.filters, names, tc.want)
		}
	}
}

func repoNames(m map[string]map[string]string) string {
	var names []string
	for arn := range m {
		names = append(names, arn[strings.Index(arn, ":repository/")+len(":repository/"):])
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// fakeTagging answers GetResources from fixed pages and records requests.
type fakeTagging struct {
	pages [][]taggingtypes.ResourceTagMapping
	err   error
	seen  []*tagging.GetResourcesInput
}

func (f *fakeTagging) GetResources(_ context.Context, in *tagging.GetResourcesInput, _ ...func(*tagging.Options)) (*tagging.GetResourcesOutput, error) {
	f.seen = append(f.seen, in)
	if f.err != nil {
		return nil, f.err
	}
	i := 0
	if in.PaginationToken != nil {
		fmt.Sscanf(*in.PaginationToken, "page-%d", &i)
	}
	out := &tagging.GetResourcesOutput{ResourceTagMappingList: f.pages[i]}
	if i+1 < len(f.pages) {
		out.PaginationToken = aws.String(fmt.Sprintf("page-%d", i+1))
	} else {
		out.PaginationToken = aws.String("") // AWS ends with an empty token
	}
	return out, nil
}

func mapping(arn string, kv ...string) taggingtypes.ResourceTagMapping {
	m := taggingtypes.ResourceTagMapping{ResourceARN: aws.String(arn)}
	for i := 0; i < len(kv); i += 2 {
		m.Tags = append(m.Tags, taggingtypes.Tag{Key: aws.String(kv[i]), Value: aws.String(kv[i+1])})
	}
	return m
}

func TestTaggedRepositoriesRequestAndRegistryScope(t *testing.T) {
	ctx := context.Background()
	own := "arn:aws:ecr:us-east-1:" + testAccount + ":repository/"
	f := &fakeTagging{pages: [][]taggingtypes.ResourceTagMapping{
		{mapping(own+"a", "share", "org", "team", "x"), mapping("arn:aws:ecr:eu-west-1:"+testAccount+":repository/b", "share", "org")},
		{}, // an empty page with a token is legal; keep going
		{mapping("arn:aws:ecr:us-east-1:222222222222:repository/c", "share", "org"), mapping(own+"d/e", "share", "org")},
	}}
	got, err := NewTagging(f, testAccount, "us-east-1").TaggedRepositories(ctx, map[string][]string{"team": nil, "share": {"org"}})
	if err != nil {
		t.Fatal(err)
	}
	if names := repoNames(got); names != "a,d/e" || got[own+"a"]["team"] != "x" {
		t.Errorf("repositories = %q %v, want this registry's a and d/e with all their tags", names, got)
	}
	if len(f.seen) != 3 {
		t.Fatalf("%d requests, want 3 pages", len(f.seen))
	}
	first := f.seen[0]
	if strings.Join(first.ResourceTypeFilters, ",") != "ecr:repository" || aws.ToInt32(first.ResourcesPerPage) != 100 ||
		len(first.TagFilters) != 2 || aws.ToString(first.TagFilters[0].Key) != "share" || strings.Join(first.TagFilters[0].Values, ",") != "org" ||
		aws.ToString(first.TagFilters[1].Key) != "team" || len(first.TagFilters[1].Values) != 0 {
		t.Errorf("first request = %+v", first)
	}

	f.err = errors.New("AccessDeniedException: not authorized to perform: tag:GetResources")
	_, err = NewTagging(f, testAccount, "us-east-1").TaggedRepositories(ctx, map[string][]string{"share": {"org"}})
	if err == nil || !strings.Contains(err.Error(), "share=org") || !strings.Contains(err.Error(), testAccount+"/us-east-1") || !errors.Is(err, f.err) {
		t.Errorf("error = %v, want it to name the filter and the registry and wrap the cause", err)
	}
}

func TestTaggedRepositoriesRejectsFiltersBeyondTheAPILimits(t *testing.T) {
	f := &fakeTagging{}
	tg := NewTagging(f, testAccount, "us-east-1")
	many := map[string][]string{}
	for i := range 51 {
		many[fmt.Sprintf("k%02d", i)] = nil
	}
	values := make([]string, 21)
	for _, tc := range []struct {
		filters map[string][]string
		want    string
	}{
		{many, "51 tag keys"},
		{map[string][]string{"share": values}, `tag key "share" has 21 values`},
		{map[string][]string{"": {"x"}}, "empty key"},
	} {
		_, err := tg.TaggedRepositories(context.Background(), tc.filters)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), testAccount+"/us-east-1") {
			t.Errorf("error = %v, want %q naming the registry", err, tc.want)
		}
	}
	if len(f.seen) != 0 {
		t.Errorf("%d requests sent for invalid filters, want none", len(f.seen))
	}
}
