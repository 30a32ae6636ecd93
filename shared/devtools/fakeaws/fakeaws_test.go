package fakeaws

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
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
