package localaws

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
)

// createTagged creates a repository with the given tags ("k=v" pairs).
func createTagged(t *testing.T, c *ecr.Client, name string, kv ...string) {
	t.Helper()
	var tags []ecrtypes.Tag
	for _, p := range kv {
		k, v, _ := strings.Cut(p, "=")
		tags = append(tags, ecrtypes.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	must[*ecr.CreateRepositoryOutput](t)(c.CreateRepository(context.Background(), &ecr.CreateRepositoryInput{RepositoryName: aws.String(name), Tags: tags}))
}

// taggedRepos pages through GetResources and returns "name[k=v,...]" per
// resource (sorted) and the number of pages.
func taggedRepos(t *testing.T, c *tagging.Client, in *tagging.GetResourcesInput) ([]string, int) {
	t.Helper()
	var got []string
	pages := 0
	p := tagging.NewGetResourcesPaginator(c, in)
	for p.HasMorePages() {
		out := must[*tagging.GetResourcesOutput](t)(p.NextPage(context.Background()))
		pages++
		for _, m := range out.ResourceTagMappingList {
			arn := aws.ToString(m.ResourceARN)
			var kv []string
			for _, tag := range m.Tags {
				kv = append(kv, aws.ToString(tag.Key)+"="+aws.ToString(tag.Value))
			}
			slices.Sort(kv)
			got = append(got, arn[strings.Index(arn, ":repository/")+len(":repository/"):]+"["+strings.Join(kv, ",")+"]")
		}
	}
	slices.Sort(got)
	return got, pages
}

func filter(key string, values ...string) taggingtypes.TagFilter {
	return taggingtypes.TagFilter{Key: aws.String(key), Values: values}
}

func TestTaggingGetResourcesListsECRRepositories(t *testing.T) {
	Need(t)
	cfg := fresh(t, "us-east-1")
	c := ecr.NewFromConfig(cfg)
	createTagged(t, c, "shared/base", "share=org", "team=platform")
	createTagged(t, c, "shared/tools", "share=org")
	createTagged(t, c, "team-a/app", "share=ou", "team=a")
	createTagged(t, c, "team-b/app", "team=b")
	createTagged(t, c, "untagged")
	// Another region and another account hold repositories with the same tags:
	// a query answers for its own account and region only.
	createTagged(t, ecr.NewFromConfig(srv.Config("eu-west-1")), "shared/elsewhere", "share=org")
	createTagged(t, ecr.NewFromConfig(member(t, cfg, "222222222222")), "shared/member", "share=org")

	tg := tagging.NewFromConfig(cfg)
	repoType := []string{"ecr:repository"}
	cases := []struct {
		name string
		in   *tagging.GetResourcesInput
		want string
	}{
		{"one key=value", &tagging.GetResourcesInput{ResourceTypeFilters: repoType, TagFilters: []taggingtypes.TagFilter{filter("share", "org")}},
			"shared/base[share=org,team=platform] shared/tools[share=org]"},
		{"values are OR-ed", &tagging.GetResourcesInput{ResourceTypeFilters: repoType, TagFilters: []taggingtypes.TagFilter{filter("share", "org", "ou")}},
			"shared/base[share=org,team=platform] shared/tools[share=org] team-a/app[share=ou,team=a]"},
		{"filters are AND-ed", &tagging.GetResourcesInput{ResourceTypeFilters: repoType, TagFilters: []taggingtypes.TagFilter{filter("share", "org"), filter("team", "platform")}},
			"shared/base[share=org,team=platform]"},
		{"key without values = any value", &tagging.GetResourcesInput{ResourceTypeFilters: repoType, TagFilters: []taggingtypes.TagFilter{filter("team")}},
			"shared/base[share=org,team=platform] team-a/app[share=ou,team=a] team-b/app[team=b]"},
		{"service type filter, no tag filter: every tagged repository", &tagging.GetResourcesInput{ResourceTypeFilters: []string{"ecr"}},
			"shared/base[share=org,team=platform] shared/tools[share=org] team-a/app[share=ou,team=a] team-b/app[team=b]"},
		{"no filters at all", &tagging.GetResourcesInput{TagFilters: []taggingtypes.TagFilter{filter("share", "org")}},
			"shared/base[share=org,team=platform] shared/tools[share=org]"},
		{"another service's type filter leaves ECR out", &tagging.GetResourcesInput{ResourceTypeFilters: []string{"sqs"}, TagFilters: []taggingtypes.TagFilter{filter("share", "org")}},
			""},
		{"no match", &tagging.GetResourcesInput{ResourceTypeFilters: repoType, TagFilters: []taggingtypes.TagFilter{filter("share", "nobody")}},
			""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := taggedRepos(t, tg, tc.in)
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("GetResources = %q, want %q", s, tc.want)
			}
		})
	}

	// The ARN is the repository's own (what policies and ListTagsForResource use).
	out := must[*tagging.GetResourcesOutput](t)(tg.GetResources(context.Background(), &tagging.GetResourcesInput{ResourceTypeFilters: repoType, TagFilters: []taggingtypes.TagFilter{filter("team", "b")}}))
	if len(out.ResourceTagMappingList) != 1 || aws.ToString(out.ResourceTagMappingList[0].ResourceARN) != "arn:aws:ecr:us-east-1:"+hub+":repository/team-b/app" {
		t.Errorf("team=b mapping = %+v", out.ResourceTagMappingList)
	}

	// The member sees its own repository only.
	got, _ := taggedRepos(t, tagging.NewFromConfig(member(t, cfg, "222222222222")), &tagging.GetResourcesInput{ResourceTypeFilters: repoType, TagFilters: []taggingtypes.TagFilter{filter("share", "org")}})
	if s := strings.Join(got, " "); s != "shared/member[share=org]" {
		t.Errorf("member GetResources = %q, want shared/member only", s)
	}
	// Tags changed through ECR show up in the next query.
	must[*ecr.UntagResourceOutput](t)(c.UntagResource(context.Background(), &ecr.UntagResourceInput{ResourceArn: aws.String("arn:aws:ecr:us-east-1:" + hub + ":repository/shared/tools"), TagKeys: []string{"share"}}))
	got, _ = taggedRepos(t, tg, &tagging.GetResourcesInput{ResourceTypeFilters: repoType, TagFilters: []taggingtypes.TagFilter{filter("share", "org")}})
	if s := strings.Join(got, " "); s != "shared/base[share=org,team=platform]" {
		t.Errorf("after untag = %q, want shared/base only", s)
	}
}

func TestTaggingGetResourcesPaginatesECRRepositories(t *testing.T) {
	Need(t)
	cfg := fresh(t, "us-east-1")
	c := ecr.NewFromConfig(cfg)
	for i := range 7 {
		createTagged(t, c, "repo-"+string(rune('a'+i)), "share=org")
	}
	createTagged(t, c, "other", "share=no")
	got, pages := taggedRepos(t, tagging.NewFromConfig(cfg), &tagging.GetResourcesInput{
		ResourceTypeFilters: []string{"ecr:repository"}, TagFilters: []taggingtypes.TagFilter{filter("share", "org")}, ResourcesPerPage: aws.Int32(3),
	})
	if len(got) != 7 || pages != 3 {
		t.Errorf("got %d repositories in %d pages, want 7 in 3 pages (3+3+1): %v", len(got), pages, got)
	}
}
