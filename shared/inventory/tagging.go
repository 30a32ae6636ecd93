package inventory

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	taggingtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
)

// taggingAPI is the part of the Resource Groups Tagging API client the
// tagging reader calls: one read, paginated.
type taggingAPI interface {
	GetResources(context.Context, *tagging.GetResourcesInput, ...func(*tagging.Options)) (*tagging.GetResourcesOutput, error)
}

var _ taggingAPI = (*tagging.Client)(nil)

// RepositoryResourceType is the Resource Groups Tagging API's name for ECR
// private repositories in ResourceTypeFilters.
const RepositoryResourceType = "ecr:repository"

// Limits of one GetResources request's TagFilters (AWS API reference).
const (
	maxTagFilterKeys   = 50
	maxTagFilterValues = 20
	taggingPageSize    = 100 // ResourcesPerPage maximum
)

// Tagging finds a registry's repositories by their tags with the Resource
// Groups Tagging API (tag:GetResources). ECR has no way to list repositories
// with their tags, so reading tags repository by repository costs one
// ListTagsForResource each; a GetResources query costs one call per 100
// matching repositories, which is what keeps a converged backfill at one read
// per repository (its policy) beyond listing pages.
//
// The Tagging API is eventually consistent: a tag added seconds ago may not
// be answered yet. The event path (a CreateRepository event) therefore keeps
// reading one repository's tags with Registry.Tags; the backfill and the
// sweep, which run later and again, use this reader.
type Tagging struct {
	api       taggingAPI
	accountID string
	region    string
}

// NewTagging returns a tagging reader for the registry accountID/region; api
// must be a client acting in that account and region (GetResources answers
// for the caller's own account and the client's region only).
func NewTagging(api taggingAPI, accountID, region string) *Tagging {
	return &Tagging{api: api, accountID: accountID, region: region}
}

func (t *Tagging) where() string { return t.accountID + "/" + t.region }

// TaggedRepositories returns the registry's repositories whose tags satisfy
// every filter, keyed by repository ARN, each with all its tags (not only
// the matching ones, so a caller can evaluate several grants on one answer).
// A filter maps a tag key to the values accepted for it (any one of them);
// no values accepts any value of that key. Empty filters return every tagged
// repository. At most 50 keys with 20 values each, as the API allows.
func (t *Tagging) TaggedRepositories(ctx context.Context, filters map[string][]string) (map[string]map[string]string, error) {
	tagFilters, err := tagFiltersOf(filters)
	if err != nil {
		return nil, fmt.Errorf("finding tagged repositories in %s: %w", t.where(), err)
	}
	in := &tagging.GetResourcesInput{
		ResourceTypeFilters: []string{RepositoryResourceType},
		TagFilters:          tagFilters,
		ResourcesPerPage:    aws.Int32(taggingPageSize),
	}
	// Only this registry's repositories count, whatever the answer holds.
	prefix := ":ecr:" + t.region + ":" + t.accountID + ":repository/"
	repos := map[string]map[string]string{}
	for {
		out, err := t.api.GetResources(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("finding repositories tagged %s in %s: %w", describeFilters(filters), t.where(), err)
		}
		for _, m := range out.ResourceTagMappingList {
			arn := aws.ToString(m.ResourceARN)
			if !strings.Contains(arn, prefix) {
				continue
			}
			tags := make(map[string]string, len(m.Tags))
			for _, tag := range m.Tags {
				tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			repos[arn] = tags
		}
		if aws.ToString(out.PaginationToken) == "" {
			return repos, nil
		}
		in.PaginationToken = out.PaginationToken
	}
}

// tagFiltersOf turns filters into the API's TagFilters (sorted by key, so a
// request is the same on every run) and checks the API's limits.
func tagFiltersOf(filters map[string][]string) ([]taggingtypes.TagFilter, error) {
	if len(filters) > maxTagFilterKeys {
		return nil, fmt.Errorf("%d tag keys in one query, at most %d allowed", len(filters), maxTagFilterKeys)
	}
	keys := make([]string, 0, len(filters))
	for k := range filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]taggingtypes.TagFilter, 0, len(keys))
	for _, k := range keys {
		if k == "" {
			return nil, fmt.Errorf("tag filter with an empty key")
		}
		if n := len(filters[k]); n > maxTagFilterValues {
			return nil, fmt.Errorf("tag key %q has %d values, at most %d allowed", k, n, maxTagFilterValues)
		}
		out = append(out, taggingtypes.TagFilter{Key: aws.String(k), Values: filters[k]})
	}
	return out, nil
}

// describeFilters renders filters for errors: "share=org,team=(a|b),env".
func describeFilters(filters map[string][]string) string {
	if len(filters) == 0 {
		return "(any tag)"
	}
	parts := make([]string, 0, len(filters))
	for k, vs := range filters {
		switch len(vs) {
		case 0:
			parts = append(parts, k)
		case 1:
			parts = append(parts, k+"="+vs[0])
		default:
			parts = append(parts, k+"=("+strings.Join(vs, "|")+")")
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
