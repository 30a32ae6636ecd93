package fakeaws

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	tagging "github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"
	"github.com/aws/smithy-go"

	"github.com/ecr-warden/ecr-warden/shared/awsapi"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// The fake answers with the SDK's typed errors, wrapped as the SDK wraps
// them, so errors.As and awsapi.Classify see what they see against AWS.
func TestErrorsAreTheSDKs(t *testing.T) {
	ctx := context.Background()
	f := New()
	f.CreateRepository("111111111111", "us-east-1", "app", nil)
	f.CreateRole("222222222222", "ci", "{}")
	e := f.ECR("111111111111", "us-east-1")

	_, err := e.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("app")})
	var noPolicy *ecrtypes.RepositoryPolicyNotFoundException
	if !errors.As(err, &noPolicy) {
		t.Errorf("GetRepositoryPolicy without a policy: %v (%T)", err, err)
	}
	_, err = e.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("gone"), PolicyText: aws.String("{}")})
	var noRepo *ecrtypes.RepositoryNotFoundException
	if !errors.As(err, &noRepo) || awsapi.Classify(err) != awsapi.NotFoundYet {
		t.Errorf("SetRepositoryPolicy on a missing repository: %v, class %s", err, awsapi.Classify(err))
	}
	doc := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:role/gone"},"Action":"ecr:BatchGetImage"}]}`
	_, err = e.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(doc)})
	var invalid *ecrtypes.InvalidParameterException
	if !errors.As(err, &invalid) || awsapi.Classify(err) != awsapi.PrincipalNotReady {
		t.Errorf("PutRegistryPolicy naming a missing role: %v, class %s", err, awsapi.Classify(err))
	}
	f.SetScope("111111111111", "us-east-1", "V1")
	doc = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:role/ci"},"Action":["ecr:BatchGetImage"]}]}`
	if _, err = e.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(doc)}); !errors.As(err, &invalid) {
		t.Errorf("PutRegistryPolicy with a V2 action on a V1 registry: %v", err)
	}
	in := &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("quay"), UpstreamRegistryUrl: aws.String("quay.io")}
	if _, err = e.CreatePullThroughCacheRule(ctx, in); err != nil {
		t.Fatal(err)
	}
	_, err = e.CreatePullThroughCacheRule(ctx, in)
	var exists *ecrtypes.PullThroughCacheRuleAlreadyExistsException
	if !errors.As(err, &exists) || awsapi.Classify(err) == awsapi.Retryable {
		t.Errorf("a second CreatePullThroughCacheRule: %v", err)
	}
	_, err = f.IAM("222222222222").GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("gone")})
	var nse *iamtypes.NoSuchEntityException
	if !errors.As(err, &nse) {
		t.Errorf("GetRole of a missing role: %v", err)
	}
	f.Deny("222222222222", "IAM", "GetRole")
	_, err = f.IAM("222222222222").GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String("ci")})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" || awsapi.Classify(err) != awsapi.Permanent {
		t.Errorf("denied GetRole: %v", err)
	}
	f.Unassumable("333333333333", "arn:aws:iam::333333333333:role/ecr-warden-execution")
	_, err = f.ECR("333333333333", "us-east-1").GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" || awsapi.Classify(err) != awsapi.Permanent {
		t.Errorf("a call through a role that cannot be assumed: %v", err)
	}
	if got := f.Calls("ECR", "PutRegistryPolicy"); got != 2 {
		t.Errorf("%d PutRegistryPolicy calls counted, want 2", got)
	}
}

// Listings page as AWS pages them, so a benchmark of a large registry
// counts the calls AWS would answer: the inventory's readers follow the
// tokens to the end (250 repositories at 100 per page: 3 calls each).
func TestListingsPage(t *testing.T) {
	ctx := context.Background()
	f := New()
	for i := range 250 {
		f.CreateRepository("111111111111", "us-east-1", fmt.Sprintf("app/r%03d", i), map[string]string{"share": "org"})
	}
	var names []string
	in := &ecr.DescribeRepositoriesInput{MaxResults: aws.Int32(100)}
	for {
		out, err := f.ECR("111111111111", "us-east-1").DescribeRepositories(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Repositories {
			names = append(names, aws.ToString(r.RepositoryName))
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	if len(names) != 250 || !sort.StringsAreSorted(names) || f.Calls("ECR", "DescribeRepositories") != 3 {
		t.Errorf("listed %d repositories in %d calls, sorted %v; want 250 in 3, in name order", len(names), f.Calls("ECR", "DescribeRepositories"), sort.StringsAreSorted(names))
	}
	tagged := 0
	tin := &tagging.GetResourcesInput{ResourcesPerPage: aws.Int32(100), ResourceTypeFilters: []string{"ecr:repository"}}
	for {
		out, err := f.Tagging("111111111111", "us-east-1").GetResources(ctx, tin)
		if err != nil {
			t.Fatal(err)
		}
		tagged += len(out.ResourceTagMappingList)
		if aws.ToString(out.PaginationToken) == "" {
			break
		}
		tin.PaginationToken = out.PaginationToken
	}
	if tagged != 250 || f.Calls("Resource Groups Tagging API", "GetResources") != 3 {
		t.Errorf("GetResources answered %d repositories in %d calls, want 250 in 3", tagged, f.Calls("Resource Groups Tagging API", "GetResources"))
	}
}

// Latency makes calls wait side by side, not one after another: 8 calls of
// 50 ms in flight at once take about 50 ms, not 400.
func TestLatencyIsPerCallNotSerial(t *testing.T) {
	f := New()
	f.CreateRepository("111111111111", "us-east-1", "app", nil)
	f.Latency(func(Call) time.Duration { return 50 * time.Millisecond })
	start := time.Now()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = f.ECR("111111111111", "us-east-1").GetRepositoryPolicy(context.Background(), &ecr.GetRepositoryPolicyInput{RepositoryName: aws.String("app")})
		}()
	}
	wg.Wait()
	if took := time.Since(start); took < 50*time.Millisecond || took > 300*time.Millisecond {
		t.Errorf("8 concurrent calls of 50 ms took %s, want about 50 ms", took)
	}
}

// A role's inline policies share IAM's 10,240-character quota (whitespace
// not counted): a PutRolePolicy that would pass it is LimitExceeded, as
// IAM answers, and a policy replaced in place counts once.
func TestRoleInlinePoliciesShareTheLimit(t *testing.T) {
	ctx := context.Background()
	f := New()
	f.CreateRole("222222222222", "ptc", `{}`)
	c := f.IAM("222222222222")
	doc := func(n int) string { return `{"Statement":[{"Sid":"` + strings.Repeat("a", n) + `"}]}` }
	put := func(name, d string) error {
		_, err := c.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String("ptc"), PolicyName: aws.String(name), PolicyDocument: aws.String(d)})
		return err
	}
	if err := put("hand", doc(9000)+strings.Repeat(" ", 5000)); err != nil {
		t.Fatalf("9,020 characters and whitespace: %v", err)
	}
	if err := put("hand", doc(9500)); err != nil {
		t.Fatalf("the same policy replaced: %v", err)
	}
	err := put("ours", doc(800))
	var limit *iamtypes.LimitExceededException
	if !errors.As(err, &limit) || awsapi.Classify(err) != awsapi.Permanent {
		t.Errorf("a second policy past the aggregate: %v, want LimitExceeded", err)
	}
	if _, inline, _ := f.Role("222222222222", "ptc"); len(inline) != 1 {
		t.Errorf("inline policies %v: the refused one was stored", inline)
	}
}

// A call whose context ended is not sent (not counted, nothing written), as
// the SDK sends none; a Lose hook's error replaces the answer of a call that
// acted, so a caller sees an error for a write AWS holds; a Fail hook sees
// the call's context (a write's lease, for a check).
func TestLostAnswersAndEndedContexts(t *testing.T) {
	f := New()
	f.CreateRepository("111111111111", "us-east-1", "app", nil)
	e := f.ECR("111111111111", "us-east-1")
	doc := `{"Version":"2012-10-17","Statement":[]}`
	set := &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("app"), PolicyText: aws.String(doc)}

	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.SetRepositoryPolicy(ended, set); !errors.Is(err, context.Canceled) || !awsapi.Unanswered(err) {
		t.Errorf("a call under an ended context: %v, want context.Canceled, unanswered", err)
	}
	if n := f.Calls("ECR", "SetRepositoryPolicy"); n != 0 || f.RepositoryPolicy("111111111111", "us-east-1", "app") != "" {
		t.Errorf("%d calls counted, policy %q: want none sent", n, f.RepositoryPolicy("111111111111", "us-east-1", "app"))
	}

	type key struct{}
	var seen any
	f.Fail(func(c Call) error {
		seen = c.Context.Value(key{})
		return nil
	})
	f.Lose(func(c Call) error {
		if c.Operation == "SetRepositoryPolicy" {
			return &smithy.OperationError{ServiceID: c.Service, OperationName: c.Operation, Err: errors.New("connection reset by peer")}
		}
		return nil
	})
	_, err := e.SetRepositoryPolicy(context.WithValue(context.Background(), key{}, "lease"), set)
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Errorf("a write whose answer was lost: %v, want the hook's error", err)
	}
	if got := f.RepositoryPolicy("111111111111", "us-east-1", "app"); got != doc || seen != "lease" {
		t.Errorf("policy %q, the hook saw %v: want the write done and the call's context seen", got, seen)
	}
}
