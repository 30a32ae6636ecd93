package awsapi

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

var moto *localaws.Server

// executionRole is the member execution role these tests assume.
const executionRole = "ecr-warden-execution"

func TestMain(m *testing.M) { localaws.Main(m, &moto) }

func reset(t *testing.T) {
	t.Helper()
	localaws.Need(t)
	if err := moto.Reset(); err != nil {
		t.Fatal(err)
	}
}

// seedRole creates roleName in accounts, as the member StackSet does: the
// local AWS, like AWS, refuses sts:AssumeRole into a role that does not exist.
func seedRole(t *testing.T, roleName string, accounts ...string) {
	t.Helper()
	base := moto.Config("us-east-1")
	err := localaws.SeedAssumedRoles(context.Background(), roleName, "", accounts, "", func(account string) (aws.Config, error) {
		return localaws.AccountConfig(context.Background(), base, account, roleName)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// isolateEnv makes the default config chain see only what the test sets.
func isolateEnv(t *testing.T) {
	localaws.Need(t)
	dir := t.TempDir()
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": filepath.Join(dir, "config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, "credentials"),
		"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "",
		"AWS_PROFILE": "", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "", "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_ENDPOINT_URL": moto.URL, "AWS_RETRY_MODE": "", "AWS_MAX_ATTEMPTS": "",
	} {
		t.Setenv(k, v)
	}
}

func TestLoadHonoursEndpointURL(t *testing.T) {
	localaws.Need(t)
	reset(t)
	isolateEnv(t)
	ctx := context.Background()
	cfg, err := Load(ctx, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != "eu-west-1" {
		t.Errorf("region = %q, want the override eu-west-1 (AWS_REGION is us-east-1)", cfg.Region)
	}
	if aws.ToString(cfg.BaseEndpoint) != moto.URL {
		t.Errorf("BaseEndpoint = %q, want AWS_ENDPOINT_URL %q", aws.ToString(cfg.BaseEndpoint), moto.URL)
	}
	if _, ok := cfg.Retryer().(*retry.AdaptiveMode); !ok {
		t.Errorf("retryer is %T, want *retry.AdaptiveMode", cfg.Retryer())
	}
	if n := cfg.Retryer().MaxAttempts(); n != MaxAttempts {
		t.Errorf("max attempts = %d, want %d", n, MaxAttempts)
	}
	// A real call lands on moto, in the overridden region.
	out, err := ecr.NewFromConfig(cfg).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("shared/base")})
	if err != nil {
		t.Fatalf("creating a repository through AWS_ENDPOINT_URL: %v", err)
	}
	if arn := aws.ToString(out.Repository.RepositoryArn); !strings.HasPrefix(arn, "arn:aws:ecr:eu-west-1:") {
		t.Errorf("repository ARN %s is not in eu-west-1", arn)
	}

	keep, err := Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if keep.Region != "us-east-1" {
		t.Errorf("empty region override: region = %q, want AWS_REGION us-east-1", keep.Region)
	}
}

// TestLoadHonoursMaxAttempts: the SDK's own AWS_MAX_ATTEMPTS sets the
// attempt budget (the explicit adaptive retryer would otherwise hide it); a
// value that is not a count names the variable.
func TestLoadHonoursMaxAttempts(t *testing.T) {
	localaws.Need(t)
	isolateEnv(t)
	ctx := context.Background()
	t.Setenv("AWS_MAX_ATTEMPTS", "3")
	cfg, err := Load(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := cfg.Retryer().MaxAttempts(); n != 3 {
		t.Errorf("max attempts = %d, want 3 from AWS_MAX_ATTEMPTS", n)
	}
	for _, bad := range []string{"many", "0", "-2"} {
		t.Setenv("AWS_MAX_ATTEMPTS", bad)
		if _, err := Load(ctx, ""); err == nil || !strings.Contains(err.Error(), "AWS_MAX_ATTEMPTS") {
			t.Errorf("AWS_MAX_ATTEMPTS=%q: error %v, want one naming the variable", bad, err)
		}
	}
}

func TestWhoAmI(t *testing.T) {
	localaws.Need(t)
	reset(t)
	id, err := WhoAmI(context.Background(), moto.Config("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(id.AccountID) != 12 || id.Partition != "aws" || !strings.HasPrefix(id.ARN, "arn:aws:") {
		t.Fatalf("identity = %+v", id)
	}
}

// countingSTS counts AssumeRole calls going to the real STS client.
type countingSTS struct {
	next  *sts.Client
	calls atomic.Int32
	last  atomic.Value // *sts.AssumeRoleInput
}

func (c *countingSTS) AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, optFns ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	c.calls.Add(1)
	c.last.Store(in)
	return c.next.AssumeRole(ctx, in, optFns...)
}

func TestMembersActInMemberAccounts(t *testing.T) {
	localaws.Need(t)
	reset(t)
	ctx := context.Background()
	base := moto.Config("us-east-1")
	self, err := WhoAmI(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMembers(base, self, executionRole, "repository")
	seedRole(t, executionRole, "222222222222", "333333333333")
	counter := &countingSTS{next: sts.NewFromConfig(base)}
	m.sts = counter

	create := func(cfg aws.Config, name string) *ecrtypes.Repository {
		t.Helper()
		out, err := ecr.NewFromConfig(cfg).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(name)})
		if err != nil {
			t.Fatalf("creating %s: %v", name, err)
		}
		return out.Repository
	}

	member := m.Config("222222222222", "")
	repo := create(member, "team-a/app")
	if got := aws.ToString(repo.RegistryId); got != "222222222222" {
		t.Fatalf("member repository registryId = %s, want 222222222222", got)
	}
	if n := counter.calls.Load(); n != 1 {
		t.Fatalf("AssumeRole calls = %d, want 1", n)
	}
	in := counter.last.Load().(*sts.AssumeRoleInput)
	if aws.ToString(in.RoleArn) != "arn:aws:iam::222222222222:role/ecr-warden-execution" || aws.ToString(in.RoleSessionName) != "ecr-warden-repository" {
		t.Errorf("AssumeRole input role=%s session=%s", aws.ToString(in.RoleArn), aws.ToString(in.RoleSessionName))
	}
	who, err := sts.NewFromConfig(member).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(who.Arn); got != "arn:aws:sts::222222222222:assumed-role/ecr-warden-execution/ecr-warden-repository" {
		t.Errorf("member caller ARN = %s", got)
	}

	// Cached: a second config for the same account, in another region, and
	// more calls do not assume the role again.
	again := m.Config("222222222222", "eu-west-1")
	repo2 := create(again, "team-a/other")
	if arn := aws.ToString(repo2.RepositoryArn); arn != "arn:aws:ecr:eu-west-1:222222222222:repository/team-a/other" {
		t.Errorf("second member repository ARN = %s", arn)
	}
	if n := counter.calls.Load(); n != 1 {
		t.Errorf("AssumeRole calls after reuse = %d, want 1 (cached per account)", n)
	}

	// The function's own account: no STS call at all, acts as itself.
	own := create(m.Config(self.AccountID, ""), "shared/base")
	if got := aws.ToString(own.RegistryId); got != self.AccountID {
		t.Errorf("own repository registryId = %s, want %s", got, self.AccountID)
	}
	if n := counter.calls.Load(); n != 1 {
		t.Errorf("AssumeRole calls after own-account use = %d, want still 1", n)
	}

	// A second member is a separate registry with separate credentials.
	create(m.Config("333333333333", ""), "team-b/app")
	if n := counter.calls.Load(); n != 2 {
		t.Errorf("AssumeRole calls after second member = %d, want 2", n)
	}
	listed, err := ecr.NewFromConfig(member).DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed.Repositories) != 1 || aws.ToString(listed.Repositories[0].RepositoryName) != "team-a/app" {
		t.Errorf("member us-east-1 registry holds %d repositories, want only team-a/app", len(listed.Repositories))
	}
}

func TestAssumeRoleOneShot(t *testing.T) {
	localaws.Need(t)
	reset(t)
	ctx := context.Background()
	seedRole(t, executionRole, "333333333333")
	cfg := AssumeRole(ctx, moto.Config("us-east-1"), "aws", "333333333333", executionRole, SessionName("drift"))
	out, err := ecr.NewFromConfig(cfg).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("team-b/app")})
	if err != nil {
		t.Fatal(err)
	}
	if got := aws.ToString(out.Repository.RegistryId); got != "333333333333" {
		t.Fatalf("registryId = %s, want 333333333333", got)
	}
}

// The classification holds for errors decoded by the real SDK from a real
// HTTP answer, not only for hand-built values.
func TestClassifyRealSDKErrors(t *testing.T) {
	localaws.Need(t)
	reset(t)
	ctx := context.Background()
	_, err := ecr.NewFromConfig(moto.Config("us-east-1")).SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{
		RepositoryName: aws.String("not/there"), PolicyText: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	var nf *ecrtypes.RepositoryNotFoundException
	if !errors.As(err, &nf) || Classify(err) != NotFoundYet {
		t.Fatalf("err=%v class=%s, want RepositoryNotFoundException classified not-found-yet", err, Classify(err))
	}
}

// Concurrent first use of one member account assumes the role once: the map
// is locked and aws.CredentialsCache lets one retrieval through.
func TestMembersConcurrentFirstUse(t *testing.T) {
	localaws.Need(t)
	reset(t)
	ctx := context.Background()
	base := moto.Config("us-east-1")
	m := NewMembers(base, Identity{AccountID: "123456789012", Partition: "aws"}, executionRole, "worker")
	seedRole(t, executionRole, "222222222222")
	counter := &countingSTS{next: sts.NewFromConfig(base)}
	m.sts = counter
	errs := make(chan error, 20)
	for i := range 20 {
		go func() {
			_, err := ecr.NewFromConfig(m.Config("222222222222", "")).CreateRepository(ctx,
				&ecr.CreateRepositoryInput{RepositoryName: aws.String(fmt.Sprintf("team-a/app-%02d", i))})
			errs <- err
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := counter.calls.Load(); n != 1 {
		t.Fatalf("AssumeRole calls = %d for 20 concurrent first uses, want 1", n)
	}
}
