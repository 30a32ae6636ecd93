package inventory

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	pubtypes "github.com/aws/aws-sdk-go-v2/service/ecrpublic/types"
)

// ecrPublicAPI is the part of the ECR Public client the reader calls. ECR
// Public lives in us-east-1 only; the client must be configured for it.
type ecrPublicAPI interface {
	DescribeRepositories(context.Context, *ecrpublic.DescribeRepositoriesInput, ...func(*ecrpublic.Options)) (*ecrpublic.DescribeRepositoriesOutput, error)
	GetRepositoryPolicy(context.Context, *ecrpublic.GetRepositoryPolicyInput, ...func(*ecrpublic.Options)) (*ecrpublic.GetRepositoryPolicyOutput, error)
}

var _ ecrPublicAPI = (*ecrpublic.Client)(nil)

// Public reads one account's ECR Public registry.
type Public struct {
	api       ecrPublicAPI
	accountID string
	opts      RegistryOptions
}

// NewPublic returns an ECR Public reader for accountID behind api.
func NewPublic(api ecrPublicAPI, accountID string, opts RegistryOptions) *Public {
	if opts.Concurrency < 1 {
		opts.Concurrency = 8
	}
	if opts.PageSize < 1 || opts.PageSize > 1000 {
		opts.PageSize = 1000
	}
	return &Public{api: api, accountID: accountID, opts: opts}
}

// PublicRepository is one ECR Public repository (ARN
// arn:aws:ecr-public::<account>:repository/<name>, no region).
type PublicRepository struct {
	Name       string
	ARN        string
	RegistryID string
}

// Repositories lists the account's public repositories: all of them when
// names is nil (paginated), otherwise the named ones in batches of 100, with
// names that do not exist returned as missing rather than as an error.
func (p *Public) Repositories(ctx context.Context, names []string) ([]PublicRepository, []string, error) {
	conv := func(rs []pubtypes.Repository) []PublicRepository {
		out := make([]PublicRepository, 0, len(rs))
		for _, r := range rs {
			pr := PublicRepository{Name: aws.ToString(r.RepositoryName), ARN: aws.ToString(r.RepositoryArn), RegistryID: aws.ToString(r.RegistryId)}
			if pr.RegistryID == "" {
				pr.RegistryID = p.accountID
			}
			out = append(out, pr)
		}
		return out
	}
	var (
		repos   []PublicRepository
		missing []string
	)
	if names == nil {
		in := &ecrpublic.DescribeRepositoriesInput{MaxResults: aws.Int32(p.opts.PageSize)}
		for {
			out, err := p.api.DescribeRepositories(ctx, in)
			if err != nil {
				return nil, nil, fmt.Errorf("describing public repositories of %s: %w", p.accountID, err)
			}
			repos = append(repos, conv(out.Repositories)...)
			if aws.ToString(out.NextToken) == "" {
				break
			}
			in.NextToken = out.NextToken
		}
	} else {
		var err error
		repos, missing, err = lookup(ctx, names, p.opts.Concurrency,
			func(ctx context.Context, batch []string) ([]PublicRepository, error) {
				out, err := p.api.DescribeRepositories(ctx, &ecrpublic.DescribeRepositoriesInput{RepositoryNames: batch})
				if err != nil {
					return nil, err
				}
				return conv(out.Repositories), nil
			},
			func(err error) (string, bool) {
				var nf *pubtypes.RepositoryNotFoundException
				if errors.As(err, &nf) {
					return nf.ErrorMessage(), true
				}
				return "", false
			})
		if err != nil {
			return nil, nil, fmt.Errorf("describing public repositories of %s: %w", p.accountID, err)
		}
	}
	sort.Slice(repos, func(i, j int) bool { return repos[i].Name < repos[j].Name })
	return repos, missing, nil
}

// RepositoryPolicy returns a public repository's policy text and whether it
// has one; a repository that does not exist is an error wrapping
// *pubtypes.RepositoryNotFoundException (retryable right after creation).
func (p *Public) RepositoryPolicy(ctx context.Context, name string) (string, bool, error) {
	out, err := p.api.GetRepositoryPolicy(ctx, &ecrpublic.GetRepositoryPolicyInput{RepositoryName: aws.String(name)})
	var none *pubtypes.RepositoryPolicyNotFoundException
	if errors.As(err, &none) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("getting public repository policy of %s in %s: %w", name, p.accountID, err)
	}
	return aws.ToString(out.PolicyText), true, nil
}
