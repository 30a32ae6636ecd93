package reconcile

import (
	"context"
	"reflect"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Clients hands out clients acting in an account (and region). The engine
// never builds credentials itself: awsapi.Members assumes the member role,
// and tests point everything at the local AWS or at an in-memory fake
// (shared/devtools/fakeaws). Each client is only the calls the engine makes
// (ecrAPI, iamAPI, ...); NewClients hands out the SDK's own clients.
type Clients interface {
	ECR(account, region string) ecrAPI
	IAM(account string) iamAPI
	Public(account string) publicAPI
	// Tagging returns a Resource Groups Tagging API client: a registry's
	// tag-matched repositories in listing pages (tag:GetResources) instead
	// of one ListTagsForResource per repository.
	Tagging(account, region string) taggingAPI
	// SecretsManager returns a Secrets Manager client: the full ARN of a
	// pull-through-cache rule's credential secret (DescribeSecret).
	SecretsManager(account, region string) secretDescriber
}

// ecrAPI is every ECR call the engine makes: the reads it hands to
// inventory.NewRegistry and the writes of repository policies, registry
// policies, the registry policy scope and pull-through-cache rules.
type ecrAPI interface {
	DescribeRepositories(context.Context, *ecr.DescribeRepositoriesInput, ...func(*ecr.Options)) (*ecr.DescribeRepositoriesOutput, error)
	ListTagsForResource(context.Context, *ecr.ListTagsForResourceInput, ...func(*ecr.Options)) (*ecr.ListTagsForResourceOutput, error)
	GetRepositoryPolicy(context.Context, *ecr.GetRepositoryPolicyInput, ...func(*ecr.Options)) (*ecr.GetRepositoryPolicyOutput, error)
	SetRepositoryPolicy(context.Context, *ecr.SetRepositoryPolicyInput, ...func(*ecr.Options)) (*ecr.SetRepositoryPolicyOutput, error)
	DeleteRepositoryPolicy(context.Context, *ecr.DeleteRepositoryPolicyInput, ...func(*ecr.Options)) (*ecr.DeleteRepositoryPolicyOutput, error)
	GetRegistryPolicy(context.Context, *ecr.GetRegistryPolicyInput, ...func(*ecr.Options)) (*ecr.GetRegistryPolicyOutput, error)
	PutRegistryPolicy(context.Context, *ecr.PutRegistryPolicyInput, ...func(*ecr.Options)) (*ecr.PutRegistryPolicyOutput, error)
	DeleteRegistryPolicy(context.Context, *ecr.DeleteRegistryPolicyInput, ...func(*ecr.Options)) (*ecr.DeleteRegistryPolicyOutput, error)
	GetAccountSetting(context.Context, *ecr.GetAccountSettingInput, ...func(*ecr.Options)) (*ecr.GetAccountSettingOutput, error)
	PutAccountSetting(context.Context, *ecr.PutAccountSettingInput, ...func(*ecr.Options)) (*ecr.PutAccountSettingOutput, error)
	DescribePullThroughCacheRules(context.Context, *ecr.DescribePullThroughCacheRulesInput, ...func(*ecr.Options)) (*ecr.DescribePullThroughCacheRulesOutput, error)
	CreatePullThroughCacheRule(context.Context, *ecr.CreatePullThroughCacheRuleInput, ...func(*ecr.Options)) (*ecr.CreatePullThroughCacheRuleOutput, error)
	UpdatePullThroughCacheRule(context.Context, *ecr.UpdatePullThroughCacheRuleInput, ...func(*ecr.Options)) (*ecr.UpdatePullThroughCacheRuleOutput, error)
	DeletePullThroughCacheRule(context.Context, *ecr.DeletePullThroughCacheRuleInput, ...func(*ecr.Options)) (*ecr.DeletePullThroughCacheRuleOutput, error)
	// ValidatePullThroughCacheRule checks every rule ecr-warden writes (validate.go).
	ValidatePullThroughCacheRule(context.Context, *ecr.ValidatePullThroughCacheRuleInput, ...func(*ecr.Options)) (*ecr.ValidatePullThroughCacheRuleOutput, error)
}

// iamAPI is every IAM call the engine makes: the PTC role (read, create,
// trust and permission policy) and the principal checks (GetRole, GetUser).
type iamAPI interface {
	GetRole(context.Context, *iam.GetRoleInput, ...func(*iam.Options)) (*iam.GetRoleOutput, error)
	GetRolePolicy(context.Context, *iam.GetRolePolicyInput, ...func(*iam.Options)) (*iam.GetRolePolicyOutput, error)
	GetUser(context.Context, *iam.GetUserInput, ...func(*iam.Options)) (*iam.GetUserOutput, error)
	CreateRole(context.Context, *iam.CreateRoleInput, ...func(*iam.Options)) (*iam.CreateRoleOutput, error)
	UpdateAssumeRolePolicy(context.Context, *iam.UpdateAssumeRolePolicyInput, ...func(*iam.Options)) (*iam.UpdateAssumeRolePolicyOutput, error)
	PutRolePolicy(context.Context, *iam.PutRolePolicyInput, ...func(*iam.Options)) (*iam.PutRolePolicyOutput, error)
	DeleteRolePolicy(context.Context, *iam.DeleteRolePolicyInput, ...func(*iam.Options)) (*iam.DeleteRolePolicyOutput, error)
	PutRolePermissionsBoundary(context.Context, *iam.PutRolePermissionsBoundaryInput, ...func(*iam.Options)) (*iam.PutRolePermissionsBoundaryOutput, error)
}

// publicAPI is every ECR Public call the engine makes.
type publicAPI interface {
	DescribeRepositories(context.Context, *ecrpublic.DescribeRepositoriesInput, ...func(*ecrpublic.Options)) (*ecrpublic.DescribeRepositoriesOutput, error)
	GetRepositoryPolicy(context.Context, *ecrpublic.GetRepositoryPolicyInput, ...func(*ecrpublic.Options)) (*ecrpublic.GetRepositoryPolicyOutput, error)
	SetRepositoryPolicy(context.Context, *ecrpublic.SetRepositoryPolicyInput, ...func(*ecrpublic.Options)) (*ecrpublic.SetRepositoryPolicyOutput, error)
	DeleteRepositoryPolicy(context.Context, *ecrpublic.DeleteRepositoryPolicyInput, ...func(*ecrpublic.Options)) (*ecrpublic.DeleteRepositoryPolicyOutput, error)
}

// taggingAPI is the one Resource Groups Tagging API call the engine makes.
type taggingAPI interface {
	GetResources(context.Context, *tagging.GetResourcesInput, ...func(*tagging.Options)) (*tagging.GetResourcesOutput, error)
}

var (
	_ ecrAPI          = (*ecr.Client)(nil)
	_ iamAPI          = (*iam.Client)(nil)
	_ publicAPI       = (*ecrpublic.Client)(nil)
	_ taggingAPI      = (*tagging.Client)(nil)
	_ secretDescriber = (*secretsmanager.Client)(nil)
)

// EngineCalls are the IAM actions of every call the engine's clients can
// make (ecrAPI, iamAPI, publicAPI, taggingAPI, secretDescriber), sorted:
// what the roles it acts through may need. The CDK app's tests check the
// member execution role against them (TestMemberRoleGrantsEveryEngineCall),
// so a call added to a client interface is a permission the stacks grant, or
// a test failure.
func EngineCalls() []string {
	var out []string
	for prefix, api := range map[string]reflect.Type{
		"ecr":            reflect.TypeFor[ecrAPI](),
		"iam":            reflect.TypeFor[iamAPI](),
		"ecr-public":     reflect.TypeFor[publicAPI](),
		"tag":            reflect.TypeFor[taggingAPI](),
		"secretsmanager": reflect.TypeFor[secretDescriber](),
	} {
		for i := range api.NumMethod() {
			out = append(out, prefix+":"+api.Method(i).Name)
		}
	}
	slices.Sort(out)
	return out
}

// ConfigSource is what awsapi.Members offers: a configuration per account.
type ConfigSource interface {
	Config(account, region string) aws.Config
}

// NewClients caches one client per account (and region) for the life of the
// execution environment, so credentials and connections are reused.
func NewClients(src ConfigSource, opts ...func(*aws.Config)) Clients {
	return &clientCache{src: src, opts: opts, ecr: map[string]*ecr.Client{}, iam: map[string]*iam.Client{}, pub: map[string]*ecrpublic.Client{}, tag: map[string]*tagging.Client{}, sm: map[string]*secretsmanager.Client{}}
}

type clientCache struct {
	src  ConfigSource
	opts []func(*aws.Config)
	mu   sync.Mutex
	ecr  map[string]*ecr.Client
	iam  map[string]*iam.Client
	pub  map[string]*ecrpublic.Client
	tag  map[string]*tagging.Client
	sm   map[string]*secretsmanager.Client
}

func (c *clientCache) cfg(account, region string) aws.Config {
	cfg := c.src.Config(account, region)
	for _, o := range c.opts {
		o(&cfg)
	}
	return cfg
}

// cached returns the client under key, building it once. Clients are cached
// for the life of the execution environment so credentials and connections
// are reused.
func cached[T any](c *clientCache, m map[string]*T, key string, build func() *T) *T {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := m[key]; ok {
		return cl
	}
	cl := build()
	m[key] = cl
	return cl
}

func (c *clientCache) ECR(account, region string) ecrAPI {
	return cached(c, c.ecr, account+"/"+region, func() *ecr.Client { return ecr.NewFromConfig(c.cfg(account, region)) })
}

func (c *clientCache) IAM(account string) iamAPI {
	return cached(c, c.iam, account, func() *iam.Client { return iam.NewFromConfig(c.cfg(account, "")) })
}

// Public returns an ECR Public client; its API exists only in us-east-1.
func (c *clientCache) Public(account string) publicAPI {
	return cached(c, c.pub, account, func() *ecrpublic.Client { return ecrpublic.NewFromConfig(c.cfg(account, publicRegion)) })
}

// Tagging returns the account's Resource Groups Tagging API client for region.
func (c *clientCache) Tagging(account, region string) taggingAPI {
	return cached(c, c.tag, account+"/"+region, func() *tagging.Client { return tagging.NewFromConfig(c.cfg(account, region)) })
}

// SecretsManager returns the account's Secrets Manager client for region.
func (c *clientCache) SecretsManager(account, region string) secretDescriber {
	return cached(c, c.sm, account+"/"+region, func() *secretsmanager.Client { return secretsmanager.NewFromConfig(c.cfg(account, region)) })
}
