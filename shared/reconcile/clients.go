package reconcile

import (
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// Clients hands out SDK clients acting in an account (and region). The
// engine never builds credentials itself: awsapi.Members assumes the member
// role, and tests point everything at the local AWS.
type Clients interface {
	ECR(account, region string) *ecr.Client
	IAM(account string) *iam.Client
	Public(account string) *ecrpublic.Client
	// Tagging returns a Resource Groups Tagging API client: a registry's
	// tag-matched repositories in listing pages (tag:GetResources) instead
	// of one ListTagsForResource per repository.
	Tagging(account, region string) *tagging.Client
	// SecretsManager returns a Secrets Manager client: the full ARN of a
	// pull-through-cache rule's credential secret (DescribeSecret).
	SecretsManager(account, region string) *secretsmanager.Client
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

func (c *clientCache) ECR(account, region string) *ecr.Client {
	return cached(c, c.ecr, account+"/"+region, func() *ecr.Client { return ecr.NewFromConfig(c.cfg(account, region)) })
}

func (c *clientCache) IAM(account string) *iam.Client {
	return cached(c, c.iam, account, func() *iam.Client { return iam.NewFromConfig(c.cfg(account, "")) })
}

// Public returns an ECR Public client; its API exists only in us-east-1.
func (c *clientCache) Public(account string) *ecrpublic.Client {
	return cached(c, c.pub, account, func() *ecrpublic.Client { return ecrpublic.NewFromConfig(c.cfg(account, "us-east-1")) })
}

// Tagging returns the account's Resource Groups Tagging API client for region.
func (c *clientCache) Tagging(account, region string) *tagging.Client {
	return cached(c, c.tag, account+"/"+region, func() *tagging.Client { return tagging.NewFromConfig(c.cfg(account, region)) })
}

// SecretsManager returns the account's Secrets Manager client for region.
func (c *clientCache) SecretsManager(account, region string) *secretsmanager.Client {
	return cached(c, c.sm, account+"/"+region, func() *secretsmanager.Client { return secretsmanager.NewFromConfig(c.cfg(account, region)) })
}
