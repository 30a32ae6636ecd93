package fakeaws

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// registry is one account's private registry in one region.
type registry struct {
	repos  map[string]*repository
	policy string
	scope  string // REGISTRY_POLICY_SCOPE: V1 or V2
	rules  map[string]ecrtypes.PullThroughCacheRule
}

// repository is a private or ECR Public repository.
type repository struct {
	name, arn, policy string
	tags              map[string]string
	created           time.Time
}

func (f *AWS) registry(account, region string) *registry {
	a := f.acct(account)
	r, ok := a.registries[region]
	if !ok {
		// New registries use scope V2, as AWS configures them.
		r = &registry{repos: map[string]*repository{}, scope: "V2", rules: map[string]ecrtypes.PullThroughCacheRule{}}
		a.registries[region] = r
	}
	return r
}

// CreateRepository creates a private repository with tags.
func (f *AWS) CreateRepository(account, region, name string, tags map[string]string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	arn := fmt.Sprintf("arn:%s:ecr:%s:%s:repository/%s", f.partition, region, account, name)
	f.registry(account, region).repos[name] = &repository{name: name, arn: arn, tags: tags, created: time.Now()}
	return arn
}

// onRegistry runs fn on a registry under the fake's lock.
func (f *AWS) onRegistry(account, region string, fn func(*registry)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.registry(account, region))
}

// RepositoryPolicy is the policy a private repository holds ("" for none).
func (f *AWS) RepositoryPolicy(account, region, name string) (doc string) {
	f.onRegistry(account, region, func(r *registry) {
		if repo, ok := r.repos[name]; ok {
			doc = repo.policy
		}
	})
	return doc
}

// SetRepositoryPolicy stores an existing private repository's policy as a
// hand edit would, unchecked.
func (f *AWS) SetRepositoryPolicy(account, region, name, doc string) {
	f.onRegistry(account, region, func(r *registry) {
		if repo, ok := r.repos[name]; ok {
			repo.policy = doc
		}
	})
}

// SetRegistryPolicy stores a registry policy as a hand edit would, unchecked.
func (f *AWS) SetRegistryPolicy(account, region, doc string) {
	f.onRegistry(account, region, func(r *registry) { r.policy = doc })
}

// RegistryPolicy is the registry policy ("" for none).
func (f *AWS) RegistryPolicy(account, region string) (doc string) {
	f.onRegistry(account, region, func(r *registry) { doc = r.policy })
	return doc
}

// SetScope sets the registry policy scope (V1 or V2).
func (f *AWS) SetScope(account, region, scope string) {
	f.onRegistry(account, region, func(r *registry) { r.scope = scope })
}

// Scope is the registry policy scope.
func (f *AWS) Scope(account, region string) (scope string) {
	f.onRegistry(account, region, func(r *registry) { scope = r.scope })
	return scope
}

// PutRule stores a pull-through-cache rule as someone else created it.
func (f *AWS) PutRule(account, region string, rule ecrtypes.PullThroughCacheRule) {
	rule.RegistryId = aws.String(account)
	f.onRegistry(account, region, func(r *registry) { r.rules[aws.ToString(rule.EcrRepositoryPrefix)] = rule })
}

// Rules are the registry's pull-through-cache rules by prefix.
func (f *AWS) Rules(account, region string) map[string]ecrtypes.PullThroughCacheRule {
	out := map[string]ecrtypes.PullThroughCacheRule{}
	f.onRegistry(account, region, func(r *registry) {
		for k, v := range r.rules {
			out[k] = v
		}
	})
	return out
}

// ECR is the ECR client of one account and region.
func (f *AWS) ECR(account, region string) *ECR { return &ECR{scope{f, account, region}} }

// ECR answers ECR's API for one account and region.
type ECR struct{ scope }

// ecrServe answers one ECR call of c's account and region with fn.
func ecrServe[O any](ctx context.Context, c *ECR, op string, in any, fn func(*registry, Call) (*O, error)) (*O, error) {
	return serve(c.f, c.call(ctx, "ECR", op, in),
		func() *registry { return c.f.registry(c.account, c.region) }, fn)
}

// ecrRepo answers one ECR call about the repository name with fn, or
// RepositoryNotFoundException when there is no such repository.
func ecrRepo[O any](ctx context.Context, c *ECR, op string, in any, name *string, fn func(*registry, *repository, Call) (*O, error)) (*O, error) {
	return ecrServe(ctx, c, op, in, func(r *registry, cl Call) (*O, error) {
		repo, err := c.repo(r, cl, aws.ToString(name))
		if err != nil {
			return nil, err
		}
		return fn(r, repo, cl)
	})
}

// repo finds a repository, or answers RepositoryNotFoundException. c.f.mu
// must be held.
func (c *ECR) repo(r *registry, cl Call, name string) (*repository, error) {
	repo, ok := r.repos[name]
	if !ok {
		return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.RepositoryNotFoundException{Message: aws.String(fmt.Sprintf(
			"The repository with name '%s' does not exist in the registry with id '%s'", name, c.account))})
	}
	return repo, nil
}

// DescribeRepositories lists the registry's repositories in name order, at
// most MaxResults per page (all in one page without it), with NextToken
// naming where the next page starts.
func (c *ECR) DescribeRepositories(ctx context.Context, in *ecr.DescribeRepositoriesInput, _ ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error) {
	return ecrServe(ctx, c, "DescribeRepositories", in, func(r *registry, cl Call) (*ecr.DescribeRepositoriesOutput, error) {
		names := in.RepositoryNames
		out := &ecr.DescribeRepositoriesOutput{}
		if len(names) == 0 {
			for n := range r.repos {
				names = append(names, n)
			}
			names, out.NextToken = page(names, aws.ToString(in.NextToken), int(aws.ToInt32(in.MaxResults)))
		}
		for _, n := range names {
			repo, err := c.repo(r, cl, n)
			if err != nil {
				return nil, err
			}
			out.Repositories = append(out.Repositories, ecrtypes.Repository{RepositoryName: aws.String(repo.name), RepositoryArn: aws.String(repo.arn),
				RegistryId: aws.String(c.account), CreatedAt: aws.Time(repo.created),
				RepositoryUri: aws.String(fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", c.account, c.region, repo.name))})
		}
		return out, nil
	})
}

// ListTagsForResource answers a repository's tags.
func (c *ECR) ListTagsForResource(ctx context.Context, in *ecr.ListTagsForResourceInput, _ ...func(*ecr.Options)) (*ecr.ListTagsForResourceOutput, error) {
	return ecrServe(ctx, c, "ListTagsForResource", in, func(r *registry, cl Call) (*ecr.ListTagsForResourceOutput, error) {
		name := aws.ToString(in.ResourceArn)
		if i := strings.Index(name, ":repository/"); i >= 0 {
			name = name[i+len(":repository/"):]
		}
		repo, err := c.repo(r, cl, name)
		if err != nil {
			return nil, err
		}
		out := &ecr.ListTagsForResourceOutput{}
		for _, k := range sortedKeys(repo.tags) {
			out.Tags = append(out.Tags, ecrtypes.Tag{Key: aws.String(k), Value: aws.String(repo.tags[k])})
		}
		return out, nil
	})
}

// GetRepositoryPolicy answers RepositoryPolicyNotFoundException when the
// repository has none.
func (c *ECR) GetRepositoryPolicy(ctx context.Context, in *ecr.GetRepositoryPolicyInput, _ ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error) {
	return ecrRepo(ctx, c, "GetRepositoryPolicy", in, in.RepositoryName, func(r *registry, repo *repository, cl Call) (*ecr.GetRepositoryPolicyOutput, error) {
		if repo.policy == "" {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.RepositoryPolicyNotFoundException{Message: aws.String(fmt.Sprintf(
				"Repository policy does not exist for the repository with name '%s' in the registry with id '%s'", repo.name, c.account))})
		}
		return &ecr.GetRepositoryPolicyOutput{PolicyText: aws.String(repo.policy), RepositoryName: aws.String(repo.name), RegistryId: aws.String(c.account)}, nil
	})
}

// SetRepositoryPolicy refuses a policy naming a role or user that does not
// exist in an account the fake knows ("Principal not found").
func (c *ECR) SetRepositoryPolicy(ctx context.Context, in *ecr.SetRepositoryPolicyInput, _ ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error) {
	return ecrRepo(ctx, c, "SetRepositoryPolicy", in, in.RepositoryName, func(r *registry, repo *repository, cl Call) (*ecr.SetRepositoryPolicyOutput, error) {
		doc := aws.ToString(in.PolicyText)
		if msg := c.f.checkDocument(doc, nil); msg != "" {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.InvalidParameterException{Message: aws.String(
				"Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Principal not found' (" + msg + ")")})
		}
		repo.policy = doc
		c.f.wrote(cl, repo.name)
		return &ecr.SetRepositoryPolicyOutput{PolicyText: aws.String(doc), RepositoryName: aws.String(repo.name), RegistryId: aws.String(c.account)}, nil
	})
}

// DeleteRepositoryPolicy answers RepositoryPolicyNotFoundException when
// there is none.
func (c *ECR) DeleteRepositoryPolicy(ctx context.Context, in *ecr.DeleteRepositoryPolicyInput, _ ...func(*ecr.Options)) (*ecr.DeleteRepositoryPolicyOutput, error) {
	return ecrRepo(ctx, c, "DeleteRepositoryPolicy", in, in.RepositoryName, func(r *registry, repo *repository, cl Call) (*ecr.DeleteRepositoryPolicyOutput, error) {
		if repo.policy == "" {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.RepositoryPolicyNotFoundException{Message: aws.String("Repository policy does not exist")})
		}
		old := repo.policy
		repo.policy = ""
		c.f.wrote(cl, repo.name)
		return &ecr.DeleteRepositoryPolicyOutput{PolicyText: aws.String(old), RepositoryName: aws.String(repo.name), RegistryId: aws.String(c.account)}, nil
	})
}

// GetRegistryPolicy answers RegistryPolicyNotFoundException when there is none.
func (c *ECR) GetRegistryPolicy(ctx context.Context, in *ecr.GetRegistryPolicyInput, _ ...func(*ecr.Options)) (*ecr.GetRegistryPolicyOutput, error) {
	return ecrServe(ctx, c, "GetRegistryPolicy", in, func(r *registry, cl Call) (*ecr.GetRegistryPolicyOutput, error) {
		if r.policy == "" {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.RegistryPolicyNotFoundException{Message: aws.String(
				fmt.Sprintf("Registry policy does not exist in the registry with id '%s'", c.account))})
		}
		return &ecr.GetRegistryPolicyOutput{PolicyText: aws.String(r.policy), RegistryId: aws.String(c.account)}, nil
	})
}

// ptcService is the principal ECR's pull-through cache assumes a rule's
// custom role as.
const ptcService = "pullthroughcache.ecr.amazonaws.com"

// ValidatePullThroughCacheRule answers AWS's shape: invalid when the rule's
// credential secret is gone, or its custom role does not exist or does not
// trust the pull-through-cache service with sts:AssumeRole (conditions are
// not evaluated here; the local AWS evaluates them).
func (c *ECR) ValidatePullThroughCacheRule(ctx context.Context, in *ecr.ValidatePullThroughCacheRuleInput, _ ...func(*ecr.Options)) (*ecr.ValidatePullThroughCacheRuleOutput, error) {
	return ecrRule(ctx, c, "ValidatePullThroughCacheRule", in, in.EcrRepositoryPrefix, func(_ *registry, rule ecrtypes.PullThroughCacheRule, _ Call) (*ecr.ValidatePullThroughCacheRuleOutput, error) {
		out := &ecr.ValidatePullThroughCacheRuleOutput{EcrRepositoryPrefix: rule.EcrRepositoryPrefix, UpstreamRegistryUrl: rule.UpstreamRegistryUrl,
			CredentialArn: rule.CredentialArn, CustomRoleArn: rule.CustomRoleArn, UpstreamRepositoryPrefix: rule.UpstreamRepositoryPrefix, RegistryId: aws.String(c.account)}
		failure := ""
		if cred := aws.ToString(rule.CredentialArn); cred != "" && !c.f.secretExists(c.account, c.region, cred) {
			failure = "The secret " + cred + " does not exist."
		} else if arn := aws.ToString(rule.CustomRoleArn); arn != "" {
			failure = c.f.roleFailure(arn)
		}
		out.IsValid = failure == ""
		if failure != "" {
			out.Failure = aws.String(failure)
		}
		return out, nil
	})
}

// roleFailure says why the pull-through-cache service could not assume the
// role arn, or "". f.mu must be held.
func (f *AWS) roleFailure(arn string) string {
	m := iamPrincipal.FindStringSubmatch(arn)
	if m == nil || m[2] != "role" || !f.principalExists(arn) {
		return "The role " + arn + " does not exist."
	}
	var doc struct{ Statement json.RawMessage }
	_ = json.Unmarshal([]byte(f.acct(m[1]).roles[m[3]].trust), &doc)
	var sts []struct {
		Effect    string
		Principal struct{ Service json.RawMessage }
		Action    json.RawMessage
	}
	if json.Unmarshal(doc.Statement, &sts) != nil {
		sts = sts[:0]
	}
	for _, st := range sts {
		if st.Effect == "Allow" && slices.Contains(stringOrList(st.Principal.Service), ptcService) && slices.Contains(stringOrList(st.Action), "sts:AssumeRole") {
			return ""
		}
	}
	return "Unable to assume role " + arn + ": its trust policy does not allow " + ptcService + " to call sts:AssumeRole."
}

// ecrRule answers one ECR call about the rule with prefix with fn, or
// PullThroughCacheRuleNotFoundException when there is no such rule.
func ecrRule[O any](ctx context.Context, c *ECR, op string, in any, prefix *string, fn func(*registry, ecrtypes.PullThroughCacheRule, Call) (*O, error)) (*O, error) {
	return ecrServe(ctx, c, op, in, func(r *registry, cl Call) (*O, error) {
		rule, err := c.rule(r, cl, aws.ToString(prefix))
		if err != nil {
			return nil, err
		}
		return fn(r, rule, cl)
	})
}

// rule finds a pull-through-cache rule, or answers
// PullThroughCacheRuleNotFoundException. c.f.mu must be held.
func (c *ECR) rule(r *registry, cl Call, prefix string) (ecrtypes.PullThroughCacheRule, error) {
	rule, ok := r.rules[prefix]
	if !ok {
		return rule, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.PullThroughCacheRuleNotFoundException{Message: aws.String("The pull through cache rule with prefix '" + prefix + "' does not exist")})
	}
	return rule, nil
}

// v1Actions are the only actions a V1-scoped registry policy enforces;
// PutRegistryPolicy refuses others there.
var v1Actions = map[string]bool{"ecr:replicateimage": true, "ecr:batchimportupstreamimage": true, "ecr:createrepository": true}

// PutRegistryPolicy refuses ("Invalid registry policy provided") a document
// naming a role or user that does not exist in an account the fake knows,
// and, in a V1-scoped registry, one with actions V1 does not enforce.
func (c *ECR) PutRegistryPolicy(ctx context.Context, in *ecr.PutRegistryPolicyInput, _ ...func(*ecr.Options)) (*ecr.PutRegistryPolicyOutput, error) {
	return ecrServe(ctx, c, "PutRegistryPolicy", in, func(r *registry, cl Call) (*ecr.PutRegistryPolicyOutput, error) {
		doc := aws.ToString(in.PolicyText)
		var onlyV1 map[string]bool
		if r.scope == "V1" {
			onlyV1 = v1Actions
		}
		if msg := c.f.checkDocument(doc, onlyV1); msg != "" {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.InvalidParameterException{Message: aws.String("Invalid registry policy provided (" + msg + ")")})
		}
		r.policy = doc
		c.f.wrote(cl, "registry policy")
		return &ecr.PutRegistryPolicyOutput{PolicyText: aws.String(doc), RegistryId: aws.String(c.account)}, nil
	})
}

// DeleteRegistryPolicy answers RegistryPolicyNotFoundException when there is none.
func (c *ECR) DeleteRegistryPolicy(ctx context.Context, in *ecr.DeleteRegistryPolicyInput, _ ...func(*ecr.Options)) (*ecr.DeleteRegistryPolicyOutput, error) {
	return ecrServe(ctx, c, "DeleteRegistryPolicy", in, func(r *registry, cl Call) (*ecr.DeleteRegistryPolicyOutput, error) {
		if r.policy == "" {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.RegistryPolicyNotFoundException{Message: aws.String("Registry policy does not exist")})
		}
		old := r.policy
		r.policy = ""
		c.f.wrote(cl, "registry policy")
		return &ecr.DeleteRegistryPolicyOutput{PolicyText: aws.String(old), RegistryId: aws.String(c.account)}, nil
	})
}

const scopeSetting = "REGISTRY_POLICY_SCOPE"

// GetAccountSetting answers the registry policy scope.
func (c *ECR) GetAccountSetting(ctx context.Context, in *ecr.GetAccountSettingInput, _ ...func(*ecr.Options)) (*ecr.GetAccountSettingOutput, error) {
	return ecrServe(ctx, c, "GetAccountSetting", in, func(r *registry, cl Call) (*ecr.GetAccountSettingOutput, error) {
		if aws.ToString(in.Name) != scopeSetting {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.ValidationException{Message: aws.String("unknown account setting " + aws.ToString(in.Name))})
		}
		return &ecr.GetAccountSettingOutput{Name: in.Name, Value: aws.String(r.scope)}, nil
	})
}

// PutAccountSetting sets the registry policy scope (V1 or V2).
func (c *ECR) PutAccountSetting(ctx context.Context, in *ecr.PutAccountSettingInput, _ ...func(*ecr.Options)) (*ecr.PutAccountSettingOutput, error) {
	return ecrServe(ctx, c, "PutAccountSetting", in, func(r *registry, cl Call) (*ecr.PutAccountSettingOutput, error) {
		v := aws.ToString(in.Value)
		if aws.ToString(in.Name) != scopeSetting || (v != "V1" && v != "V2") {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.ValidationException{Message: aws.String(fmt.Sprintf("invalid account setting %s=%s", aws.ToString(in.Name), v))})
		}
		r.scope = v
		c.f.wrote(cl, scopeSetting+"="+v)
		return &ecr.PutAccountSettingOutput{Name: in.Name, Value: in.Value}, nil
	})
}

// DescribePullThroughCacheRules lists the rules (those with the given
// prefixes: PullThroughCacheRuleNotFoundException when one is missing).
func (c *ECR) DescribePullThroughCacheRules(ctx context.Context, in *ecr.DescribePullThroughCacheRulesInput, _ ...func(*ecr.Options)) (*ecr.DescribePullThroughCacheRulesOutput, error) {
	return ecrServe(ctx, c, "DescribePullThroughCacheRules", in, func(r *registry, cl Call) (*ecr.DescribePullThroughCacheRulesOutput, error) {
		prefixes := in.EcrRepositoryPrefixes
		if len(prefixes) == 0 {
			prefixes = sortedKeys(r.rules)
		}
		out := &ecr.DescribePullThroughCacheRulesOutput{}
		for _, p := range prefixes {
			rule, err := c.rule(r, cl, p)
			if err != nil {
				return nil, err
			}
			out.PullThroughCacheRules = append(out.PullThroughCacheRules, rule)
		}
		return out, nil
	})
}

var prefixPattern = regexp.MustCompile(`^((?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*/?|ROOT)$`)

// CreatePullThroughCacheRule answers PullThroughCacheRuleAlreadyExistsException
// for a taken prefix and SecretNotFoundException for a credential that is
// not the full ARN of a secret in the registry's account and region.
func (c *ECR) CreatePullThroughCacheRule(ctx context.Context, in *ecr.CreatePullThroughCacheRuleInput, _ ...func(*ecr.Options)) (*ecr.CreatePullThroughCacheRuleOutput, error) {
	return ecrServe(ctx, c, "CreatePullThroughCacheRule", in, func(r *registry, cl Call) (*ecr.CreatePullThroughCacheRuleOutput, error) {
		p := aws.ToString(in.EcrRepositoryPrefix)
		if !prefixPattern.MatchString(p) || len(p) < 2 || len(p) > 30 {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.InvalidParameterException{Message: aws.String("Invalid parameter at 'ecrRepositoryPrefix'")})
		}
		if _, ok := r.rules[p]; ok {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.PullThroughCacheRuleAlreadyExistsException{Message: aws.String(
				fmt.Sprintf("A pull through cache rule with prefix '%s' already exists in the registry with id '%s'", p, c.account))})
		}
		if len(r.rules) >= policy.PTCRulesMax {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.LimitExceededException{Message: aws.String(
				fmt.Sprintf("The maximum number of pull through cache rules (%d) has been reached for the registry with id '%s'", policy.PTCRulesMax, c.account))})
		}
		if cred := aws.ToString(in.CredentialArn); cred != "" && !c.f.secretExists(c.account, c.region, cred) {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.SecretNotFoundException{Message: aws.String("The specified secret " + cred + " does not exist")})
		}
		rule := ecrtypes.PullThroughCacheRule{EcrRepositoryPrefix: in.EcrRepositoryPrefix, UpstreamRegistryUrl: in.UpstreamRegistryUrl, UpstreamRegistry: in.UpstreamRegistry,
			CredentialArn: in.CredentialArn, CustomRoleArn: in.CustomRoleArn, UpstreamRepositoryPrefix: in.UpstreamRepositoryPrefix,
			RegistryId: aws.String(c.account), CreatedAt: aws.Time(time.Now())}
		r.rules[p] = rule
		c.f.wrote(cl, p)
		return &ecr.CreatePullThroughCacheRuleOutput{EcrRepositoryPrefix: in.EcrRepositoryPrefix, UpstreamRegistryUrl: in.UpstreamRegistryUrl,
			CredentialArn: in.CredentialArn, CustomRoleArn: in.CustomRoleArn, RegistryId: aws.String(c.account)}, nil
	})
}

// UpdatePullThroughCacheRule sets a rule's credential or role; it refuses a
// call with neither, as ECR does.
func (c *ECR) UpdatePullThroughCacheRule(ctx context.Context, in *ecr.UpdatePullThroughCacheRuleInput, _ ...func(*ecr.Options)) (*ecr.UpdatePullThroughCacheRuleOutput, error) {
	return ecrRule(ctx, c, "UpdatePullThroughCacheRule", in, in.EcrRepositoryPrefix, func(r *registry, rule ecrtypes.PullThroughCacheRule, cl Call) (*ecr.UpdatePullThroughCacheRuleOutput, error) {
		p := aws.ToString(in.EcrRepositoryPrefix)
		if in.CredentialArn == nil && in.CustomRoleArn == nil {
			return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.InvalidParameterException{Message: aws.String("Please set either credential arn or role arn")})
		}
		if in.CredentialArn != nil {
			if !c.f.secretExists(c.account, c.region, aws.ToString(in.CredentialArn)) {
				return nil, c.f.refuse(cl, http.StatusBadRequest, &ecrtypes.SecretNotFoundException{Message: aws.String("The specified secret does not exist")})
			}
			rule.CredentialArn = in.CredentialArn
		}
		if in.CustomRoleArn != nil {
			rule.CustomRoleArn = in.CustomRoleArn
		}
		r.rules[p] = rule
		c.f.wrote(cl, p)
		return &ecr.UpdatePullThroughCacheRuleOutput{EcrRepositoryPrefix: in.EcrRepositoryPrefix, CredentialArn: rule.CredentialArn, CustomRoleArn: rule.CustomRoleArn, RegistryId: aws.String(c.account)}, nil
	})
}

// DeletePullThroughCacheRule answers PullThroughCacheRuleNotFoundException
// for a prefix without a rule.
func (c *ECR) DeletePullThroughCacheRule(ctx context.Context, in *ecr.DeletePullThroughCacheRuleInput, _ ...func(*ecr.Options)) (*ecr.DeletePullThroughCacheRuleOutput, error) {
	return ecrRule(ctx, c, "DeletePullThroughCacheRule", in, in.EcrRepositoryPrefix, func(r *registry, rule ecrtypes.PullThroughCacheRule, cl Call) (*ecr.DeletePullThroughCacheRuleOutput, error) {
		p := aws.ToString(in.EcrRepositoryPrefix)
		delete(r.rules, p)
		c.f.wrote(cl, p)
		return &ecr.DeletePullThroughCacheRuleOutput{EcrRepositoryPrefix: rule.EcrRepositoryPrefix, UpstreamRegistryUrl: rule.UpstreamRegistryUrl, RegistryId: aws.String(c.account)}, nil
	})
}

// checkDocument is what ECR checks of a policy document before storing it:
// valid JSON, every IAM role or user it names exists (in accounts the fake
// knows; others are taken on trust, as the local AWS does), and with onlyV1
// set only those actions. It returns why the document is refused, or "".
// f.mu must be held.
func (f *AWS) checkDocument(doc string, onlyV1 map[string]bool) string {
	var d struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal([]byte(doc), &d); err != nil {
		return "not JSON: " + err.Error()
	}
	var sts []struct {
		Principal json.RawMessage
		Action    json.RawMessage
	}
	if err := json.Unmarshal(d.Statement, &sts); err != nil {
		var one struct {
			Principal json.RawMessage
			Action    json.RawMessage
		}
		if err := json.Unmarshal(d.Statement, &one); err != nil {
			return "no statements"
		}
		sts = append(sts, one)
	}
	for _, st := range sts {
		var p struct{ AWS json.RawMessage }
		_ = json.Unmarshal(st.Principal, &p)
		for _, arn := range stringOrList(p.AWS) {
			if !f.principalExists(arn) {
				return "principal " + arn + " does not exist"
			}
		}
		if onlyV1 != nil {
			for _, a := range stringOrList(st.Action) {
				if !onlyV1[strings.ToLower(a)] {
					return "registry policy scope V1 does not support action " + a
				}
			}
		}
	}
	return ""
}

var iamPrincipal = regexp.MustCompile(`^arn:[a-z-]+:iam::([0-9]{12}):(role|user)/(?:.*/)?([^/]+)$`)

// principalExists says whether a role or user ARN names one that exists
// (anything else, and principals in unknown accounts, pass). f.mu must be held.
func (f *AWS) principalExists(arn string) bool {
	m := iamPrincipal.FindStringSubmatch(arn)
	if m == nil {
		return true
	}
	a, ok := f.accounts[m[1]]
	if !ok {
		return true
	}
	if m[2] == "user" {
		return a.users[m[3]]
	}
	r, ok := a.roles[m[3]]
	return ok && r.arn == arn
}

func stringOrList(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// page sorts names and returns the page after the token (the last name of
// the page before; "" for the first) of at most size names (all when size
// is 0), and the token of the next page ("" after the last).
func page(names []string, token string, size int) ([]string, *string) {
	sort.Strings(names)
	from := 0
	if token != "" {
		from = sort.SearchStrings(names, token)
		if from < len(names) && names[from] == token {
			from++
		}
	}
	names = names[from:]
	if size <= 0 || len(names) <= size {
		return names, nil
	}
	return names[:size], aws.String(names[size-1])
}
