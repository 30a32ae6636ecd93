package inventory

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// ecrAPI is the part of the ECR client the registry reader calls; all reads.
type ecrAPI interface {
	DescribeRepositories(context.Context, *ecr.DescribeRepositoriesInput, ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	ListTagsForResource(context.Context, *ecr.ListTagsForResourceInput, ...func(*ecr.Options)) (*ecr.ListTagsForResourceOutput, error)
	GetRepositoryPolicy(context.Context, *ecr.GetRepositoryPolicyInput, ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error)
	GetRegistryPolicy(context.Context, *ecr.GetRegistryPolicyInput, ...func(*ecr.Options)) (*ecr.GetRegistryPolicyOutput, error)
	GetAccountSetting(context.Context, *ecr.GetAccountSettingInput, ...func(*ecr.Options)) (*ecr.GetAccountSettingOutput, error)
	DescribePullThroughCacheRules(context.Context, *ecr.DescribePullThroughCacheRulesInput, ...func(*ecr.Options)) (*ecr.DescribePullThroughCacheRulesOutput, error)
}

var _ ecrAPI = (*ecr.Client)(nil)

// RegistryOptions tune a Registry reader. The zero value is production-ready.
type RegistryOptions struct {
	// Concurrency bounds the per-repository reads in flight in Snapshot and
	// the name batches in Repositories. Default 8: ECR does not publish its
	// control-plane rates, so stay modest and let adaptive retry slow down.
	Concurrency int
	// PageSize is MaxResults when listing every repository or rule. Default
	// 1000 (the maximum), so a registry of 5,000 repositories lists in 5 calls.
	PageSize int32
}

// Registry reads one private ECR registry (an account and region) through a
// client already configured for it (the caller assumes the member role).
// AccountID and Region only name the registry in errors and fill in the
// repository's RegistryID when the answer lacks it.
type Registry struct {
	api       ecrAPI
	accountID string
	region    string
	opts      RegistryOptions
}

// NewRegistry returns a reader for the registry accountID/region behind api.
func NewRegistry(api ecrAPI, accountID, region string, opts RegistryOptions) *Registry {
	if opts.Concurrency < 1 {
		opts.Concurrency = 8
	}
	if opts.PageSize < 1 || opts.PageSize > 1000 {
		opts.PageSize = 1000
	}
	return &Registry{api: api, accountID: accountID, region: region, opts: opts}
}

// Repository is one private repository: what grants match on (its name) and
// what policies name (its ARN).
type Repository struct {
	Name       string
	ARN        string
	RegistryID string
}

// repositoryName is ECR's name pattern (2-256 characters); a name outside it
// cannot exist, so it is reported missing without asking.
var repositoryName = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)

func (r *Registry) where() string { return r.accountID + "/" + r.region }

// Repositories lists the registry's repositories. With names == nil it pages
// through all of them (PageSize per call); otherwise it describes just those
// names in batches of 100 and returns the names that do not exist as missing,
// not as an error (see lookup for what a missing name costs).
func (r *Registry) Repositories(ctx context.Context, names []string) ([]Repository, []string, error) {
	if names == nil {
		var repos []Repository
		in := &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(r.opts.PageSize)}
		for {
			out, err := r.api.DescribeRepositories(ctx, in)
			if err != nil {
				return nil, nil, fmt.Errorf("describing repositories in %s: %w", r.where(), err)
			}
			for _, repo := range out.Repositories {
				repos = append(repos, r.fromSDK(repo))
			}
			if aws.ToString(out.NextToken) == "" {
				break
			}
			in.NextToken = out.NextToken
		}
		sort.Slice(repos, func(i, j int) bool { return repos[i].Name < repos[j].Name })
		return repos, nil, nil
	}
	var valid, invalid []string
	for _, n := range names {
		if len(n) >= 2 && len(n) <= 256 && repositoryName.MatchString(n) {
			valid = append(valid, n)
		} else {
			invalid = append(invalid, n)
		}
	}
	found, missing, err := lookup(ctx, valid, r.opts.Concurrency,
		func(ctx context.Context, batch []string) ([]Repository, error) {
			out, err := r.api.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: batch})
			if err != nil {
				return nil, err
			}
			repos := make([]Repository, 0, len(out.Repositories))
			for _, repo := range out.Repositories {
				repos = append(repos, r.fromSDK(repo))
			}
			return repos, nil
		},
		func(err error) (string, bool) {
			var nf *ecrtypes.RepositoryNotFoundException
			if errors.As(err, &nf) {
				return nf.ErrorMessage(), true
			}
			return "", false
		})
	if err != nil {
		return nil, nil, fmt.Errorf("describing repositories in %s: %w", r.where(), err)
	}
	missing = append(missing, invalid...)
	sort.Strings(missing)
	sort.Slice(found, func(i, j int) bool { return found[i].Name < found[j].Name })
	return found, missing, nil
}

func (r *Registry) fromSDK(repo ecrtypes.Repository) Repository {
	out := Repository{Name: aws.ToString(repo.RepositoryName), ARN: aws.ToString(repo.RepositoryArn), RegistryID: aws.ToString(repo.RegistryId)}
	if out.RegistryID == "" {
		out.RegistryID = r.accountID
	}
	return out
}

// Tags returns a repository's tags (for tag-based grants). Read only when a
// grant needs them: it is one call per repository, right for a single
// repository (an event); for a whole registry Tagging.TaggedRepositories
// answers in listing pages.
func (r *Registry) Tags(ctx context.Context, arn string) (map[string]string, error) {
	out, err := r.api.ListTagsForResource(ctx, &ecr.ListTagsForResourceInput{ResourceArn: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", arn, err)
	}
	tags := make(map[string]string, len(out.Tags))
	for _, t := range out.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return tags, nil
}

// RepositoryPolicy returns a repository's policy text as stored, and whether
// it has one. A repository that does not exist (yet: creation is
// asynchronous) is an error wrapping *ecrtypes.RepositoryNotFoundException,
// so the caller can retry briefly right after a CreateRepository event.
func (r *Registry) RepositoryPolicy(ctx context.Context, name string) (string, bool, error) {
	out, err := r.api.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	var none *ecrtypes.RepositoryPolicyNotFoundException
	if errors.As(err, &none) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("getting repository policy of %s in %s: %w", name, r.where(), err)
	}
	return aws.ToString(out.PolicyText), true, nil
}

// RegistryPolicy returns the registry policy text and whether there is one.
func (r *Registry) RegistryPolicy(ctx context.Context) (string, bool, error) {
	out, err := r.api.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	var none *ecrtypes.RegistryPolicyNotFoundException
	if errors.As(err, &none) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("getting registry policy of %s: %w", r.where(), err)
	}
	return aws.ToString(out.PolicyText), true, nil
}

// RegistryPolicyScopeSetting is the ECR account setting that says whether the
// registry policy governs every ECR action (V2) or only replication and
// pull-through-cache ones (V1): policy's, the one name of it.
const RegistryPolicyScopeSetting = policy.RegistryPolicyScopeSetting

// RegistryScope returns the registry policy scope ("V1" or "V2"). PTC
// statements with non-V1 actions need V2; the reconcile engine decides
// whether it may switch.
func (r *Registry) RegistryScope(ctx context.Context) (string, error) {
	out, err := r.api.GetAccountSetting(ctx, &ecr.GetAccountSettingInput{Name: aws.String(RegistryPolicyScopeSetting)})
	if err != nil {
		return "", fmt.Errorf("getting %s of %s: %w", RegistryPolicyScopeSetting, r.where(), err)
	}
	return aws.ToString(out.Value), nil
}

// PTCRule is one pull-through-cache rule as it exists in the registry.
type PTCRule struct {
	Prefix                   string
	UpstreamRegistryURL      string
	UpstreamRegistry         string
	UpstreamRepositoryPrefix string
	CredentialARN            string
	CustomRoleARN            string
	RegistryID               string
}

// PTCRules lists every pull-through-cache rule of the registry (at most 50
// exist, so normally one call), sorted by prefix.
func (r *Registry) PTCRules(ctx context.Context) ([]PTCRule, error) {
	var rules []PTCRule
	in := &ecr.DescribePullThroughCacheRulesInput{MaxResults: aws.Int32(r.opts.PageSize)}
	for {
		out, err := r.api.DescribePullThroughCacheRules(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("describing pull-through cache rules in %s: %w", r.where(), err)
		}
		for _, p := range out.PullThroughCacheRules {
			rules = append(rules, PTCRule{
				Prefix:                   aws.ToString(p.EcrRepositoryPrefix),
				UpstreamRegistryURL:      aws.ToString(p.UpstreamRegistryUrl),
				UpstreamRegistry:         string(p.UpstreamRegistry),
				UpstreamRepositoryPrefix: aws.ToString(p.UpstreamRepositoryPrefix),
				CredentialARN:            aws.ToString(p.CredentialArn),
				CustomRoleARN:            aws.ToString(p.CustomRoleArn),
				RegistryID:               aws.ToString(p.RegistryId),
			})
		}
		if aws.ToString(out.NextToken) == "" {
			break
		}
		in.NextToken = out.NextToken
	}
	sort.Slice(rules, func(i, j int) bool { return rules[i].Prefix < rules[j].Prefix })
	return rules, nil
}

// SnapshotOptions select what Snapshot reads.
type SnapshotOptions struct {
	// Names limits the snapshot to these repositories; nil means all.
	Names []string
	// Tags also reads each repository's tags (one more call per repository);
	// ask only when a grant matches on tags and Tagging.TaggedRepositories
	// (listing pages instead of a call per repository) cannot be used.
	Tags bool
	// Filter, when set, keeps only the listed repositories it accepts
	// (backfill targets given as glob patterns), before any policy is read.
	Filter func(name string) bool
}

// RepositoryState is one repository with what the backfill needs to plan it.
// Err is set when reading this repository failed (for example it was deleted
// after listing); the others are still valid.
type RepositoryState struct {
	Repository
	Policy    string
	HasPolicy bool
	Tags      map[string]string // nil unless SnapshotOptions.Tags
	Err       error
}

// Snapshot is a registry's repositories with their policies.
type Snapshot struct {
	Repositories []RepositoryState // sorted by name
	Missing      []string          // requested names that do not exist
}

// Snapshot reads the repositories in scope and, for each, its policy (and
// tags when asked), with at most RegistryOptions.Concurrency reads in flight.
// Its cost is the listing pages plus one call per repository (two with tags):
// the least a converged backfill can read, since ECR has no batch policy read.
// A failed read is recorded on that repository; Snapshot itself fails only
// when the listing fails or ctx ends.
func (r *Registry) Snapshot(ctx context.Context, opts SnapshotOptions) (Snapshot, error) {
	repos, missing, err := r.Repositories(ctx, opts.Names)
	if err != nil {
		return Snapshot{}, err
	}
	if opts.Filter != nil {
		repos = slices.DeleteFunc(repos, func(r Repository) bool { return !opts.Filter(r.Name) })
	}
	states := make([]RepositoryState, len(repos))
	done := make([]bool, len(repos))
	forEach(ctx, len(repos), r.opts.Concurrency, func(ctx context.Context, i int) {
		s := RepositoryState{Repository: repos[i]}
		s.Policy, s.HasPolicy, s.Err = r.RepositoryPolicy(ctx, s.Name)
		if s.Err == nil && opts.Tags {
			s.Tags, s.Err = r.Tags(ctx, s.ARN)
		}
		states[i], done[i] = s, true
	})
	if err := ctx.Err(); err != nil {
		return Snapshot{}, fmt.Errorf("reading repositories in %s: %w", r.where(), err)
	}
	for i := range states {
		if !done[i] { // cannot happen without ctx ending, kept as a guard
			states[i] = RepositoryState{Repository: repos[i], Err: errors.New("not read")}
		}
	}
	return Snapshot{Repositories: states, Missing: missing}, nil
}
