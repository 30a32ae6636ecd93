package localaws

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"
)

const repoPolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"EcrWardenPull","Effect":"Allow",` +
	`"Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":["ecr:BatchGetImage"]}]}`

// proxied resets the local AWS and returns a proxy in front of it, a client
// through the proxy and one straight to the server (to see the truth).
func proxied(t *testing.T) (*Proxy, *ecr.Client, *ecr.Client) {
	t.Helper()
	Need(t)
	fresh(t, "us-east-1")
	p := NewProxy(srv.URL)
	t.Cleanup(p.Close)
	return p, ecr.NewFromConfig(p.Config("us-east-1")), ecr.NewFromConfig(srv.Config("us-east-1"))
}

func TestProxyThrottlingAndCounts(t *testing.T) {
	Need(t)
	ctx := context.Background()
	p, c, direct := proxied(t)
	name := aws.String("shared/app")
	must[*ecr.CreateRepositoryOutput](t)(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: name}))

	p.Inject("SetRepositoryPolicy", Throttling(2))
	set := &ecr.SetRepositoryPolicyInput{RepositoryName: name, PolicyText: aws.String(repoPolicy)}
	for i := range 2 {
		_, err := c.SetRepositoryPolicy(ctx, set)
		wantCode(t, err, "ThrottlingException")
		if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) != aws.TrueTernary {
			t.Errorf("call %d: the SDK does not see %v as throttling", i+1, err)
		}
		var re *awshttp.ResponseError
		if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadRequest {
			t.Errorf("call %d: want HTTP 400, got %v", i+1, err)
		}
	}
	_, err := direct.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: name})
	wantErr[*types.RepositoryPolicyNotFoundException](t, err) // throttled calls wrote nothing
	must[*ecr.SetRepositoryPolicyOutput](t)(c.SetRepositoryPolicy(ctx, set))

	if got := p.Counts(); got["SetRepositoryPolicy"] != 3 || got["CreateRepository"] != 1 || len(got) != 2 {
		t.Errorf("counts = %v, want SetRepositoryPolicy 3, CreateRepository 1", got)
	}
	calls := p.Calls()
	if len(calls) != 4 || !calls[1].Faulted || !calls[2].Faulted || calls[3].Faulted || calls[3].Status != 200 ||
		calls[0].Service != "ecr" || calls[0].Region != "us-east-1" || calls[0].Account != hub {
		t.Errorf("calls = %+v", calls)
	}
	p.Inject("SetRepositoryPolicy", Throttling(1))
	p.Reset()
	if len(p.Counts()) != 0 {
		t.Errorf("counts after reset = %v", p.Counts())
	}
	must[*ecr.SetRepositoryPolicyOutput](t)(c.SetRepositoryPolicy(ctx, set)) // the pending fault went with Reset
}

// The SDK's standard retryer rides over injected throttling and 5xx.
func TestProxyFaultsAreRetriedBySDK(t *testing.T) {
	Need(t)
	ctx := context.Background()
	p, _, _ := proxied(t)
	cfg := p.Config("us-east-1")
	cfg.RetryMaxAttempts = 0 // else it overrides the retryer's MaxAttempts
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = 4
			o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	}
	c := ecr.NewFromConfig(cfg)
	p.Inject("CreateRepository", Throttling(1))
	p.Inject("CreateRepository", ServerError(http.StatusServiceUnavailable, 1))
	p.Inject("CreateRepository", ServerError(http.StatusInternalServerError, 1))
	must[*ecr.CreateRepositoryOutput](t)(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("shared/app")}))
	var statuses []int
	for _, call := range p.Calls() {
		statuses = append(statuses, call.Status)
	}
	if len(statuses) != 4 || statuses[0] != 400 || statuses[1] != 503 || statuses[2] != 500 || statuses[3] != 200 {
		t.Errorf("statuses = %v, want [400 503 500 200]", statuses)
	}
}

func TestProxyServerErrorsAndAPIErrors(t *testing.T) {
	Need(t)
	ctx := context.Background()
	p, c, direct := proxied(t)

	p.Inject("PutRegistryPolicy", ServerError(http.StatusServiceUnavailable, 1))
	_, err := c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(policy(`"ecr:BatchGetImage"`))})
	wantCode(t, err, "ServiceUnavailableException")
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusServiceUnavailable {
		t.Errorf("want HTTP 503, got %v", err)
	}

	msg := "Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'"
	p.Inject("PutRegistryPolicy", APIError(http.StatusBadRequest, "InvalidParameterException", msg, 1))
	_, err = c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(policy(`"ecr:BatchGetImage"`))})
	typed := wantErr[*types.InvalidParameterException](t, err)
	if typed.ErrorMessage() != msg {
		t.Errorf("message = %q, want %q", typed.ErrorMessage(), msg)
	}
	_, err = direct.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	wantErr[*types.RegistryPolicyNotFoundException](t, err) // neither fault reached moto
	must[*ecr.PutRegistryPolicyOutput](t)(c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(policy(`"ecr:BatchGetImage"`))}))
}

// CrashAfter: the write happens, the client sees a broken connection.
func TestProxyCrashAfter(t *testing.T) {
	Need(t)
	ctx := context.Background()
	p, c, direct := proxied(t)
	name := aws.String("shared/app")
	must[*ecr.CreateRepositoryOutput](t)(direct.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: name}))

	p.Inject("SetRepositoryPolicy", CrashAfter(1))
	_, err := c.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: name, PolicyText: aws.String(repoPolicy)})
	var api smithy.APIError
	if err == nil || errors.As(err, &api) {
		t.Fatalf("crash-after answered %v, want a transport error without an AWS error code", err)
	}
	got := must[*ecr.GetRepositoryPolicyOutput](t)(direct.GetRepositoryPolicy(ctx, &ecr.GetRepositoryPolicyInput{RepositoryName: name}))
	if aws.ToString(got.PolicyText) != repoPolicy {
		t.Errorf("policy after crash-after = %q, want the written one", aws.ToString(got.PolicyText))
	}
	if calls := p.Calls(); len(calls) != 1 || calls[0].Status != 0 || !calls[0].Faulted {
		t.Errorf("calls = %+v", calls)
	}
}

// Query-protocol services (IAM, STS) get XML errors keyed by Action, and
// calls are attributed to the account of assumed-role keys.
func TestProxyQueryProtocolAndAccounts(t *testing.T) {
	Need(t)
	ctx := context.Background()
	p, _, _ := proxied(t)
	base := p.Config("us-east-1")
	memberCfg := member(t, base, "222222222222")
	trust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pullthroughcache.ecr.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	in := &iam.CreateRoleInput{RoleName: aws.String("ecr-warden-ptc"), AssumeRolePolicyDocument: aws.String(trust)}
	memberIAM := iam.NewFromConfig(memberCfg)

	p.Inject("CreateRole", APIError(http.StatusBadRequest, "MalformedPolicyDocument", "Invalid principal in policy: \"AWS\":\"arn:aws:iam::222222222222:role/new\"", 1))
	_, err := memberIAM.CreateRole(ctx, in)
	wantErr[*iamtypes.MalformedPolicyDocumentException](t, err, "Invalid principal")
	p.Inject("CreateRole", Throttling(1))
	_, err = memberIAM.CreateRole(ctx, in)
	wantCode(t, err, "Throttling")
	must[*iam.CreateRoleOutput](t)(memberIAM.CreateRole(ctx, in))

	must[*ecr.CreateRepositoryOutput](t)(ecr.NewFromConfig(memberCfg).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("cache/x")}))
	must[*ecr.CreateRepositoryOutput](t)(ecr.NewFromConfig(base).CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("shared/x")}))

	by := p.CountsByAccount()
	if by["222222222222"]["CreateRole"] != 3 || by["222222222222"]["CreateRepository"] != 1 ||
		by[hub]["AssumeRole"] != 1 || by[hub]["CreateRepository"] != 1 {
		t.Errorf("counts by account = %v", by)
	}
	if p.Counts()["CreateRepository"] != 2 || p.Count("ecr", "CreateRepository") != 2 || p.Count("iam", "CreateRole") != 3 {
		t.Errorf("counts = %v", p.Counts())
	}
}

// A service-qualified fault hits only that service's operation of the name.
func TestProxyServiceQualifiedFault(t *testing.T) {
	Need(t)
	ctx := context.Background()
	p, c, _ := proxied(t)
	pub := ecrpublic.NewFromConfig(p.Config("us-east-1"))
	p.Inject("ecr-public:CreateRepository", ServerError(http.StatusServiceUnavailable, 1))
	must[*ecr.CreateRepositoryOutput](t)(c.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("tools/x")}))
	_, err := pub.CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String("tools/x")})
	wantCode(t, err, "ServiceUnavailableException")
	must[*ecrpublic.CreateRepositoryOutput](t)(pub.CreateRepository(ctx, &ecrpublic.CreateRepositoryInput{RepositoryName: aws.String("tools/x")}))
	if p.Count("ecr", "CreateRepository") != 1 || p.Count("ecr-public", "CreateRepository") != 2 {
		t.Errorf("counts = %+v", p.Calls())
	}
}
