package awsapi

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

var _ stscreds.AssumeRoleAPIClient = (*sts.Client)(nil)

// RoleARN is arn:<partition>:iam::<account>:role/<roleName>.
func RoleARN(partition, account, roleName string) string {
	return "arn:" + partition + ":iam::" + account + ":role/" + roleName
}

// SessionName is the role session name a function uses: "ecr-warden-<fn>".
// It appears in member CloudTrail as the assumed-role ARN's last segment, so
// an auditor sees which function acted; drift handling recognises
// ecr-warden's member sessions by its prefix, trigger.SessionPrefix (read from
// there, so the two cannot differ), together with the execution role's full
// ARN in the event's own account.
func SessionName(function string) string {
	s := trigger.SessionPrefix + function
	if len(s) > 64 {
		s = s[:64]
	}
	return s
}

// AssumeRole returns a copy of base whose credentials come from assuming
// roleName in account, cached until shortly before they expire. Nothing is
// called until the first request (ctx is accepted for symmetry with the
// other constructors; credential retrieval uses each request's context).
func AssumeRole(ctx context.Context, base aws.Config, partition, account, roleName, sessionName string) aws.Config {
	_ = ctx
	return assumeRole(base, sts.NewFromConfig(base), partition, account, roleName, sessionName)
}

// AssumeRoleExplained is AssumeRole for a role whose refusal needs saying
// what to do: when STS refuses it (AssumeRoleDenied), the error of every call
// that needed the credentials carries why after AWS's own text, which names
// the role but neither what creates it nor where its ARN comes from.
func AssumeRoleExplained(ctx context.Context, base aws.Config, partition, account, roleName, sessionName, why string) aws.Config {
	_ = ctx
	return assumeRoleWith(base, sts.NewFromConfig(base), partition, account, roleName, sessionName, why)
}

func assumeRole(base aws.Config, client stscreds.AssumeRoleAPIClient, partition, account, roleName, sessionName string) aws.Config {
	return assumeRoleWith(base, client, partition, account, roleName, sessionName, "")
}

// explained adds why to a refused AssumeRole, inside the credentials cache so
// the cache's early refresh stays as it is.
type explained struct {
	aws.CredentialsProvider
	why string
}

func (e explained) Retrieve(ctx context.Context) (aws.Credentials, error) {
	c, err := e.CredentialsProvider.Retrieve(ctx)
	if err != nil && AssumeRoleDenied(err) {
		err = fmt.Errorf("%w; %s", err, e.why)
	}
	return c, err
}

func assumeRoleWith(base aws.Config, client stscreds.AssumeRoleAPIClient, partition, account, roleName, sessionName, why string) aws.Config {
	var provider aws.CredentialsProvider = stscreds.NewAssumeRoleProvider(client, RoleARN(partition, account, roleName), func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = sessionName
	})
	if why != "" {
		provider = explained{provider, why}
	}
	cfg := base.Copy()
	cfg.Credentials = aws.NewCredentialsCache(provider, func(o *aws.CredentialsCacheOptions) {
		// Refresh a minute early so a call never starts with credentials
		// that expire in flight.
		o.ExpiryWindow = time.Minute
	})
	return cfg
}

// Members hands out SDK configurations that act in member accounts through
// the declared execution role. One Members lives for the life of a Lambda
// execution environment, so STS is called at most once per account per
// credential lifetime, and never for the function's own account.
type Members struct {
	base     aws.Config
	self     Identity
	roleName string
	session  string
	sts      stscreds.AssumeRoleAPIClient

	mu    sync.Mutex
	cache map[string]aws.Config // account -> config with cached credentials
}

// NewMembers prepares member access. self is the function's own identity
// (WhoAmI, once per cold start); roleName is the declaration's memberRoleName;
// function names the caller for the session name.
func NewMembers(base aws.Config, self Identity, roleName, function string) *Members {
	return &Members{base: base, self: self, roleName: roleName, session: SessionName(function),
		sts: sts.NewFromConfig(base), cache: map[string]aws.Config{}}
}

// Self is the function's own identity.
func (m *Members) Self() Identity { return m.self }

// Config returns the configuration acting in account; region, when
// non-empty, overrides the base region. For the function's own account it is
// the base configuration itself: no role is assumed.
func (m *Members) Config(account, region string) aws.Config {
	var cfg aws.Config
	if account == m.self.AccountID {
		cfg = m.base.Copy()
	} else {
		m.mu.Lock()
		c, ok := m.cache[account]
		if !ok {
			c = assumeRole(m.base, m.sts, m.self.Partition, account, m.roleName, m.session)
			m.cache[account] = c
		}
		m.mu.Unlock()
		cfg = c.Copy()
	}
	if region != "" {
		cfg.Region = region
	}
	return cfg
}
