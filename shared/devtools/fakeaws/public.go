package fakeaws

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	pubtypes "github.com/aws/aws-sdk-go-v2/service/ecrpublic/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	tagtypes "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi/types"
)

// CreatePublicRepository creates an ECR Public repository (us-east-1).
func (f *AWS) CreatePublicRepository(account, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	arn := fmt.Sprintf("arn:%s:ecr-public::%s:repository/%s", f.partition, account, name)
	f.acct(account).public[name] = &repository{name: name, arn: arn}
	return arn
}

// PublicRepositoryPolicy is an ECR Public repository's policy ("" for none).
func (f *AWS) PublicRepositoryPolicy(account, name string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r, ok := f.acct(account).public[name]; ok {
		return r.policy
	}
	return ""
}

// Public is the ECR Public client of one account.
func (f *AWS) Public(account string) *Public { return &Public{scope{f, account, "us-east-1"}} }

// Public answers ECR Public's API for one account.
type Public struct{ scope }

// pubServe answers one ECR Public call of c's account with fn.
func pubServe[O any](ctx context.Context, c *Public, op string, in any, fn func(map[string]*repository, Call) (*O, error)) (*O, error) {
	return serve(c.f, c.call(ctx, "ECR PUBLIC", op, in),
		func() map[string]*repository { return c.f.acct(c.account).public }, fn)
}

// pubRepo answers one ECR Public call about the repository name with fn, or
// RepositoryNotFoundException when there is no such repository.
func pubRepo[O any](ctx context.Context, c *Public, op string, in any, name *string, fn func(*repository, Call) (*O, error)) (*O, error) {
	return pubServe(ctx, c, op, in, func(repos map[string]*repository, cl Call) (*O, error) {
		r, err := c.repo(repos, cl, aws.ToString(name))
		if err != nil {
			return nil, err
		}
		return fn(r, cl)
	})
}

func (c *Public) repo(repos map[string]*repository, cl Call, name string) (*repository, error) {
	r, ok := repos[name]
	if !ok {
		return nil, c.f.refuse(cl, http.StatusBadRequest, &pubtypes.RepositoryNotFoundException{Message: aws.String("The repository with name '" + name + "' does not exist")})
	}
	return r, nil
}

// DescribeRepositories lists the public repositories (all in one page).
func (c *Public) DescribeRepositories(ctx context.Context, in *ecrpublic.DescribeRepositoriesInput, _ ...func(*ecrpublic.Options)) (*ecrpublic.DescribeRepositoriesOutput, error) {
	return pubServe(ctx, c, "DescribeRepositories", in, func(repos map[string]*repository, cl Call) (*ecrpublic.DescribeRepositoriesOutput, error) {
		names := in.RepositoryNames
		if len(names) == 0 {
			names = sortedKeys(repos)
		}
		out := &ecrpublic.DescribeRepositoriesOutput{}
		for _, n := range names {
			r, err := c.repo(repos, cl, n)
			if err != nil {
				return nil, err
			}
			out.Repositories = append(out.Repositories, pubtypes.Repository{RepositoryName: aws.String(r.name), RepositoryArn: aws.String(r.arn), RegistryId: aws.String(c.account)})
		}
		return out, nil
	})
}

// GetRepositoryPolicy answers RepositoryPolicyNotFoundException when there is none.
func (c *Public) GetRepositoryPolicy(ctx context.Context, in *ecrpublic.GetRepositoryPolicyInput, _ ...func(*ecrpublic.Options)) (*ecrpublic.GetRepositoryPolicyOutput, error) {
	return pubRepo(ctx, c, "GetRepositoryPolicy", in, in.RepositoryName, func(r *repository, cl Call) (*ecrpublic.GetRepositoryPolicyOutput, error) {
		if r.policy == "" {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &pubtypes.RepositoryPolicyNotFoundException{Message: aws.String("Repository policy does not exist")})
		}
		return &ecrpublic.GetRepositoryPolicyOutput{PolicyText: aws.String(r.policy), RepositoryName: in.RepositoryName, RegistryId: aws.String(c.account)}, nil
	})
}

// SetRepositoryPolicy refuses a policy naming a role or user that does not exist.
func (c *Public) SetRepositoryPolicy(ctx context.Context, in *ecrpublic.SetRepositoryPolicyInput, _ ...func(*ecrpublic.Options)) (*ecrpublic.SetRepositoryPolicyOutput, error) {
	return pubRepo(ctx, c, "SetRepositoryPolicy", in, in.RepositoryName, func(r *repository, cl Call) (*ecrpublic.SetRepositoryPolicyOutput, error) {
		doc := aws.ToString(in.PolicyText)
		if msg := c.f.checkDocument(doc, nil); msg != "" {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &pubtypes.InvalidParameterException{Message: aws.String("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found' (" + msg + ")")})
		}
		r.policy = doc
		c.f.wrote(cl, r.name)
		return &ecrpublic.SetRepositoryPolicyOutput{PolicyText: aws.String(doc), RepositoryName: in.RepositoryName, RegistryId: aws.String(c.account)}, nil
	})
}

// DeleteRepositoryPolicy answers RepositoryPolicyNotFoundException when there is none.
func (c *Public) DeleteRepositoryPolicy(ctx context.Context, in *ecrpublic.DeleteRepositoryPolicyInput, _ ...func(*ecrpublic.Options)) (*ecrpublic.DeleteRepositoryPolicyOutput, error) {
	return pubRepo(ctx, c, "DeleteRepositoryPolicy", in, in.RepositoryName, func(r *repository, cl Call) (*ecrpublic.DeleteRepositoryPolicyOutput, error) {
		if r.policy == "" {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &pubtypes.RepositoryPolicyNotFoundException{Message: aws.String("Repository policy does not exist")})
		}
		old := r.policy
		r.policy = ""
		c.f.wrote(cl, r.name)
		return &ecrpublic.DeleteRepositoryPolicyOutput{PolicyText: aws.String(old), RepositoryName: in.RepositoryName, RegistryId: aws.String(c.account)}, nil
	})
}

// Tagging is the Resource Groups Tagging API client of one account and region.
func (f *AWS) Tagging(account, region string) *Tagging {
	return &Tagging{scope{f, account, region}}
}

// Tagging answers GetResources for ECR repositories, ResourcesPerPage at a
// time (all in one page without it).
type Tagging struct{ scope }

// GetResources lists the registry's repositories whose tags match every
// filter (a key with any of its values, or any value when none are given).
func (c *Tagging) GetResources(ctx context.Context, in *tagging.GetResourcesInput, _ ...func(*tagging.Options)) (*tagging.GetResourcesOutput, error) {
	return serve(c.f, c.call(ctx, "Resource Groups Tagging API", "GetResources", in), func() *registry { return c.f.registry(c.account, c.region) }, func(r *registry, _ Call) (*tagging.GetResourcesOutput, error) {
		out := &tagging.GetResourcesOutput{}
		for _, t := range in.ResourceTypeFilters {
			if t != "ecr" && !strings.HasPrefix(t, "ecr:") {
				return out, nil
			}
		}
		var names []string
		for name, repo := range r.repos {
			if matches(repo.tags, in.TagFilters) {
				names = append(names, name)
			}
		}
		names, out.PaginationToken = page(names, aws.ToString(in.PaginationToken), int(aws.ToInt32(in.ResourcesPerPage)))
		for _, name := range names {
			repo := r.repos[name]
			m := tagtypes.ResourceTagMapping{ResourceARN: aws.String(repo.arn)}
			for _, k := range sortedKeys(repo.tags) {
				m.Tags = append(m.Tags, tagtypes.Tag{Key: aws.String(k), Value: aws.String(repo.tags[k])})
			}
			out.ResourceTagMappingList = append(out.ResourceTagMappingList, m)
		}
		return out, nil
	})
}

func matches(tags map[string]string, filters []tagtypes.TagFilter) bool {
	for _, f := range filters {
		v, ok := tags[aws.ToString(f.Key)]
		if !ok {
			return false
		}
		if len(f.Values) == 0 {
			continue
		}
		found := false
		for _, want := range f.Values {
			found = found || want == v
		}
		if !found {
			return false
		}
	}
	return true
}
