package awsapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// opErr wraps err the way an SDK client returns it.
func opErr(op string, err error) error {
	return &smithy.OperationError{ServiceID: "ECR", OperationName: op, Err: err}
}

func httpErr(status int, err error) error {
	return &awshttp.ResponseError{RequestID: "req-1", ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}}, Err: err}}
}

func TestClassify(t *testing.T) {
	throttle := &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	cases := []struct {
		name string
		err  error
		want Class
	}{
		{"nil", nil, Unknown},
		{"repository not found", &ecrtypes.RepositoryNotFoundException{Message: aws.String("The repository with name 'shared/base' does not exist")}, NotFoundYet},
		{"repository not found through SDK and fmt wrapping", fmt.Errorf("setting repository policy (arn:aws:ecr:us-east-1:1:repository/x): %w",
			opErr("SetRepositoryPolicy", httpErr(400, &ecrtypes.RepositoryNotFoundException{}))), NotFoundYet},
		{"throttling", throttle, Retryable},
		{"throttling after SDK attempts exhausted", opErr("PutRegistryPolicy", &retry.MaxAttemptsError{Attempt: 8, Err: httpErr(400, throttle)}), Retryable},
		{"TooManyRequestsException (Organizations)", &orgtypes.TooManyRequestsException{Message: aws.String("AWS Organizations can't complete your request because another request is already in progress")}, Retryable},
		{"ConcurrentModificationException", &orgtypes.ConcurrentModificationException{}, Retryable},
		{"TransactionConflictException (DynamoDB)", &smithy.GenericAPIError{Code: "TransactionConflictException"}, Retryable},
		{"TransactionInProgressException (DynamoDB)", &smithy.GenericAPIError{Code: "TransactionInProgressException"}, Retryable},
		{"RequestLimitExceeded", &smithy.GenericAPIError{Code: "RequestLimitExceeded"}, Retryable},
		{"Throttling (IAM)", &smithy.GenericAPIError{Code: "Throttling"}, Retryable},
		{"TooManyRequests", &smithy.GenericAPIError{Code: "TooManyRequests"}, Retryable},
		{"ECR ServerException", &ecrtypes.ServerException{}, Retryable},
		{"HTTP 503 without code", opErr("SetRepositoryPolicy", httpErr(503, errors.New("Service Unavailable"))), Retryable},
		{"HTTP 500 html body", httpErr(500, errors.New("<html>")), Retryable},
		{"HTTP 429", httpErr(429, errors.New("slow down")), Retryable},
		{"connection refused", opErr("GetRepositoryPolicy", &smithyhttp.RequestSendError{Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}), Retryable},
		{"connection reset", fmt.Errorf("reading: %w", syscall.ECONNRESET), Retryable},
		{"registry policy principal", &ecrtypes.InvalidParameterException{Message: aws.String("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'")}, PrincipalNotReady},
		{"repository policy principal", opErr("SetRepositoryPolicy", &ecrtypes.InvalidParameterException{Message: aws.String("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid repository policy provided'")}), PrincipalNotReady},
		{"IAM invalid principal", &iamtypes.MalformedPolicyDocumentException{Message: aws.String(`Invalid principal in policy: "AWS":"arn:aws:iam::222222222222:role/ecr-warden-ptc"`)}, PrincipalNotReady},
		{"IAM syntax error", &iamtypes.MalformedPolicyDocumentException{Message: aws.String("Syntax errors in policy.")}, Permanent},
		{"ECR bad parameter", &ecrtypes.InvalidParameterException{Message: aws.String("Invalid parameter at 'repositoryName' failed to satisfy constraint")}, Permanent},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: ecr:SetRepositoryPolicy"}, Permanent},
		{"access denied IAM", &smithy.GenericAPIError{Code: "AccessDenied"}, Permanent},
		{"validation", &ecrtypes.ValidationException{}, Permanent},
		{"limit exceeded", &ecrtypes.LimitExceededException{}, Permanent},
		{"HTTP 403 without code", httpErr(403, errors.New("forbidden")), Permanent},
		{"HTTP 400 without code", httpErr(400, errors.New("bad")), Unknown},
		{"policy not found is not an error class", &ecrtypes.RepositoryPolicyNotFoundException{}, Unknown},
		{"context deadline", fmt.Errorf("calling: %w", context.DeadlineExceeded), Unknown},
		{"context canceled wrapping a send error", &smithyhttp.RequestSendError{Err: context.Canceled}, Unknown},
		{"plain error", errors.New("boom"), Unknown},
	}
	for _, c := range cases {
		if got := Classify(c.err); got != c.want {
			t.Errorf("%s: Classify = %s, want %s (err: %v)", c.name, got, c.want, c.err)
		}
	}
}

func TestClassString(t *testing.T) {
	for c, want := range map[Class]string{Unknown: "unknown", Retryable: "retryable", NotFoundYet: "not-found-yet", PrincipalNotReady: "principal-not-ready", Permanent: "permanent"} {
		if c.String() != want {
			t.Errorf("%d.String() = %q, want %q", c, c.String(), want)
		}
	}
}

// DocumentRefused is AWS refusing the document a write carries (a limit,
// its content), which the writer leaves out; the other permanent answers
// (access denied) and the time-fixable ones are not.
func TestDocumentRefused(t *testing.T) {
	iamOp := func(op string, err error) error {
		return &smithy.OperationError{ServiceID: "IAM", OperationName: op, Err: httpErr(409, err)}
	}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"IAM inline policies past the role's aggregate", fmt.Errorf("putting role policy (arn:aws:iam::222222222222:role/ecr-warden-ptc/policy/ecr-warden-ptc): %w",
			iamOp("PutRolePolicy", &iamtypes.LimitExceededException{Message: aws.String("Maximum policy size of 10240 bytes exceeded for role ecr-warden-ptc")})), true},
		{"IAM malformed trust policy", iamOp("UpdateAssumeRolePolicy", &iamtypes.MalformedPolicyDocumentException{Message: aws.String("Syntax errors in policy.")}), true},
		{"ECR rules per registry", opErr("CreatePullThroughCacheRule", &ecrtypes.LimitExceededException{Message: aws.String("The maximum number of pull through cache rules (50) has been reached")}), true},
		{"ECR policy text too long", opErr("SetRepositoryPolicy", &ecrtypes.InvalidParameterException{Message: aws.String("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Member must have length less than or equal to 10240'")}), true},
		{"ECR validation", opErr("PutRegistryPolicy", &ecrtypes.ValidationException{Message: aws.String("There was an exception validating this request.")}), true},
		{"ECR upstream not supported", opErr("CreatePullThroughCacheRule", &ecrtypes.UnsupportedUpstreamRegistryException{}), true},
		{"a principal still propagating is retried first", opErr("PutRegistryPolicy", &ecrtypes.InvalidParameterException{Message: aws.String("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'")}), false},
		{"IAM invalid principal", iamOp("UpdateAssumeRolePolicy", &iamtypes.MalformedPolicyDocumentException{Message: aws.String(`Invalid principal in policy: "AWS":"arn:aws:iam::222222222222:role/x"`)}), false},
		{"access denied is the execution role's", iamOp("PutRolePolicy", &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform: iam:PutRolePolicy"}), false},
		{"throttling", iamOp("PutRolePolicy", &smithy.GenericAPIError{Code: "Throttling"}), false},
		{"server error", opErr("SetRepositoryPolicy", &ecrtypes.ServerException{}), false},
		{"no definite answer", fmt.Errorf("putting: %w", context.DeadlineExceeded), false},
	}
	for _, c := range cases {
		if got := DocumentRefused(c.err); got != c.want {
			t.Errorf("%s: DocumentRefused = %v, want %v (err: %v)", c.name, got, c.want, c.err)
		}
	}
}

// AssumeRoleDenied looks past the operation that needed credentials to the
// AssumeRole that failed to give them, through fmt and errors.Join wrapping.
func TestAssumeRoleDenied(t *testing.T) {
	sts := func(status int, err error) error {
		return &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole", Err: httpErr(status, err)}
	}
	denied := &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: arn:aws:sts::111111111111:assumed-role/ecr-warden-worker/x is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::222222222222:role/ecr-warden-execution"}
	viaECR := func(err error) error {
		return fmt.Errorf("reading repositories of 222222222222/us-east-1: %w",
			opErr("DescribeRepositories", fmt.Errorf("get identity: get credentials: failed to refresh cached credentials, %w", err)))
	}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"role missing or not trusting", viaECR(sts(403, denied)), true},
		{"joined with another unit's error", errors.Join(errors.New("other"), viaECR(sts(403, denied))), true},
		{"assume throttled", viaECR(sts(400, &smithy.GenericAPIError{Code: "Throttling"})), false},
		{"assume 5xx", viaECR(sts(503, errors.New("unavailable"))), false},
		{"ECR itself denied the call", opErr("DescribeRepositories", httpErr(403, &smithy.GenericAPIError{Code: "AccessDeniedException"})), false},
		{"the caller's own token expired", viaECR(sts(403, &smithy.GenericAPIError{Code: "ExpiredToken", Message: "The security token included in the request is expired"})), false},
		{"the caller's key unknown", viaECR(sts(403, &smithy.GenericAPIError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."})), false},
		{"AccessDenied for something else", viaECR(sts(403, &smithy.GenericAPIError{Code: "AccessDenied", Message: "STS is not activated in this region"})), false},
		{"another STS call denied", &smithy.OperationError{ServiceID: "STS", OperationName: "GetCallerIdentity", Err: denied}, false},
	}
	for _, c := range cases {
		if got := AssumeRoleDenied(c.err); got != c.want {
			t.Errorf("%s: AssumeRoleDenied = %v, want %v (err: %v)", c.name, got, c.want, c.err)
		}
	}
}

// RegionNotEnabled: a member's call refused because the account has not
// enabled the region, whichever of its documented answers AWS gives; the
// same token codes from STS itself are the caller's own credentials.
func TestRegionNotEnabled(t *testing.T) {
	sts := func(err error) error {
		return &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole", Err: httpErr(403, err)}
	}
	viaECR := func(err error) error {
		return fmt.Errorf("reading repositories of 222222222222/af-south-1: %w",
			opErr("DescribeRepositories", fmt.Errorf("get identity: get credentials: failed to refresh cached credentials, %w", err)))
	}
	invalid := &smithy.GenericAPIError{Code: "UnrecognizedClientException", Message: "The security token included in the request is invalid."}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"ECR refuses the member's token there", fmt.Errorf("reading repositories: %w", opErr("DescribeRepositories", httpErr(400, invalid))), true},
		{"STS will not issue credentials there", viaECR(sts(&smithy.GenericAPIError{Code: "RegionDisabledException", Message: "STS is not activated in the requested region for the account that is being asked to generate credentials."})), true},
		{"STS's older answer", viaECR(sts(&smithy.GenericAPIError{Code: "AccessDenied", Message: "STS is not activated in this region for account:222222222222."})), true},
		{"the caller's own key unknown to STS", viaECR(sts(&smithy.GenericAPIError{Code: "InvalidClientTokenId", Message: "The security token included in the request is invalid."})), false},
		{"the role cannot be assumed", viaECR(sts(&smithy.GenericAPIError{Code: "AccessDenied", Message: "is not authorized to perform: sts:AssumeRole"})), false},
		{"ECR denies the call", opErr("DescribeRepositories", httpErr(403, &smithy.GenericAPIError{Code: "AccessDeniedException"})), false},
	}
	for _, c := range cases {
		if got := RegionNotEnabled(c.err); got != c.want {
			t.Errorf("%s: RegionNotEnabled = %v, want %v (err: %v)", c.name, got, c.want, c.err)
		}
	}
}

func TestAlreadyDone(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"rule exists, through the SDK's wrapping", opErr("CreatePullThroughCacheRule", httpErr(400, &ecrtypes.PullThroughCacheRuleAlreadyExistsException{})), true},
		{"rule gone", &ecrtypes.PullThroughCacheRuleNotFoundException{}, true},
		{"role exists", fmt.Errorf("creating role (x): %w", &iamtypes.EntityAlreadyExistsException{}), true},
		{"role policy gone", &iamtypes.NoSuchEntityException{}, true},
		{"access denied", &smithy.GenericAPIError{Code: "AccessDeniedException"}, false},
		{"HTTP 500", httpErr(500, errors.New("boom")), false},
		{"plain error", errors.New("boom"), false},
	} {
		if got := AlreadyDone(c.err); got != c.want {
			t.Errorf("%s: AlreadyDone = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestUnanswered(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"context deadline (the lease's fence)", fmt.Errorf("putting registry policy: %w", context.DeadlineExceeded), true},
		{"context canceled", &smithyhttp.RequestSendError{Err: context.Canceled}, true},
		{"connection reset", opErr("SetRepositoryPolicy", &smithyhttp.RequestSendError{Err: syscall.ECONNRESET}), true},
		{"connection dropped: no response (status 0)", opErr("SetRepositoryPolicy", httpErr(0, &smithyhttp.RequestSendError{Err: errors.New("EOF")})), true},
		{"unexpected EOF (connection dropped)", opErr("SetRepositoryPolicy", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF)), true},
		{"HTTP 500 after the SDK's attempts", opErr("PutRegistryPolicy", &retry.MaxAttemptsError{Attempt: 2, Err: httpErr(500, &smithy.GenericAPIError{Code: "InternalFailure"})}), true},
		{"ECR ServerException without status", &ecrtypes.ServerException{}, true},
		{"throttling (a 400)", opErr("PutRegistryPolicy", httpErr(400, &smithy.GenericAPIError{Code: "ThrottlingException"})), false},
		{"access denied", httpErr(403, &smithy.GenericAPIError{Code: "AccessDeniedException"}), false},
		{"invalid parameter", &ecrtypes.InvalidParameterException{}, false},
		{"plain error", errors.New("boom"), false},
	} {
		if got := Unanswered(c.err); got != c.want {
			t.Errorf("%s: Unanswered = %v, want %v", c.name, got, c.want)
		}
	}
}

// A refused connection to AWS_ENDPOINT_URL names the endpoint and the next
// step; other errors, and AWS itself, get no hint.
func TestEndpointDown(t *testing.T) {
	refused := errors.New(`operation error DynamoDB: Query, request send failed, Post "http://127.0.0.1:5999/": dial tcp 127.0.0.1:5999: connect: connection refused`)
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5999")
	if got := EndpointDown(refused); !strings.Contains(got, "nothing answers at AWS_ENDPOINT_URL=http://127.0.0.1:5999") || !strings.Contains(got, "make emulator SEED=demo") {
		t.Errorf("EndpointDown = %q", got)
	}
	if got := EndpointDown(errors.New("AccessDenied")); got != "" {
		t.Errorf("EndpointDown(AccessDenied) = %q", got)
	}
	t.Setenv("AWS_ENDPOINT_URL", "")
	if got := EndpointDown(refused); got != "" {
		t.Errorf("without AWS_ENDPOINT_URL: %q", got)
	}
}

// AccessDenied is a caller refused by its policies, in IAM's and STS's
// spelling and in the JSON services'; not other refusals.
func TestAccessDenied(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"IAM", &smithy.OperationError{ServiceID: "IAM", OperationName: "GetRole", Err: httpErr(403, &smithy.GenericAPIError{Code: "AccessDenied"})}, true},
		{"ECR", opErr("GetRegistryPolicy", &smithy.GenericAPIError{Code: "AccessDeniedException"}), true},
		{"throttling", opErr("GetRegistryPolicy", &smithy.GenericAPIError{Code: "ThrottlingException"}), false},
		{"not found", opErr("GetRegistryPolicy", &ecrtypes.RegistryPolicyNotFoundException{}), false},
	} {
		if got := AccessDenied(c.err); got != c.want {
			t.Errorf("%s: AccessDenied = %v, want %v", c.name, got, c.want)
		}
	}
}
