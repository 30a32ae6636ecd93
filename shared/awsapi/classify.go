package awsapi

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Class is what an AWS error means for the caller. Only the first three are
// worth waiting for; Permanent is recorded and dropped (retrying cannot fix
// it); Unknown fails the invocation so Lambda retries it and then
// dead-letters it, where a person will look.
type Class int

// The error classes.
const (
	// Unknown is anything not recognised below, including context cancellation.
	Unknown Class = iota
	// Retryable is throttling, HTTP 5xx and network failures: time fixes them.
	Retryable
	// NotFoundYet is RepositoryNotFoundException: ECR creates repositories
	// asynchronously, so policy calls right after creation can miss them.
	NotFoundYet
	// PrincipalNotReady is a policy rejected because a principal it names was
	// just created and has not propagated (IAM "Invalid principal", ECR
	// "Invalid registry policy provided" / "Invalid repository policy provided").
	PrincipalNotReady
	// Permanent is access denied, validation and bad input: the same request
	// will fail the same way.
	Permanent
)

// String names the class for logs and audit records.
func (c Class) String() string {
	switch c {
	case Retryable:
		return "retryable"
	case NotFoundYet:
		return "not-found-yet"
	case PrincipalNotReady:
		return "principal-not-ready"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// throttleCodes are the error codes AWS services use for rate limiting.
var throttleCodes = map[string]bool{
	"ThrottlingException": true, "TooManyRequestsException": true, "RequestLimitExceeded": true,
	"Throttling": true, "TooManyRequests": true, "ThrottledException": true, "RequestThrottled": true,
	"RequestThrottledException": true, "SlowDown": true, "ProvisionedThroughputExceededException": true,
	"PriorRequestNotComplete": true, "BandwidthLimitExceeded": true,
	"ConcurrentModificationException": true, // Organizations, IAM: another change in flight
}

// transientCodes are server-side failures that succeed on a later attempt.
var transientCodes = map[string]bool{
	"InternalFailure": true, "InternalError": true, "InternalServerError": true, "ServiceUnavailable": true,
	"ServiceUnavailableException": true, "ServiceFailure": true, "ServerException": true,
	"RequestTimeout": true, "RequestTimeoutException": true, "ServiceException": true,
	"TransactionConflictException": true, "TransactionInProgressException": true,
}

// permanentCodes are errors the same request will always hit.
var permanentCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
	"UnrecognizedClientException": true, "InvalidClientTokenId": true, "AuthFailure": true,
	"ValidationException": true, "ValidationError": true, "InvalidParameterException": true,
	"InvalidParameterValue": true, "InvalidParameterValueException": true, "InvalidInputException": true,
	"MalformedPolicyDocument": true, "MalformedPolicyDocumentException": true,
	"LimitExceeded": true, "LimitExceededException": true, "LimitExceededFault": true,
	"InvalidLayerPartException": true, "UnsupportedUpstreamRegistryException": true,
	"AWSOrganizationsNotInUseException": true, "AccountNotFoundException": true,
	"OptInRequired": true, "UnsupportedOperation": true,
}

// documentRefusalCodes are AWS refusing a write for what the written
// document says or for a limit it would pass, as documented for the writes
// ecr-warden makes: IAM's LimitExceeded (PutRolePolicy, UpdateAssumeRolePolicy,
// CreateRole: a role's inline policies past 10,240 characters together, a
// trust policy past its quota) and MalformedPolicyDocument; ECR's
// LimitExceededException (CreatePullThroughCacheRule: rules per registry),
// InvalidParameterException (SetRepositoryPolicy, PutRegistryPolicy, the rule
// writes, ECR Public's SetRepositoryPolicy), ValidationException and
// UnsupportedUpstreamRegistryException. The same document is refused the same
// way on every try, whoever sends it.
var documentRefusalCodes = map[string]bool{
	"LimitExceeded": true, "LimitExceededException": true,
	"MalformedPolicyDocument": true, "MalformedPolicyDocumentException": true,
	"InvalidParameterException": true, "ValidationException": true, "UnsupportedUpstreamRegistryException": true,
}

// DocumentRefused reports whether err is AWS refusing one write for the
// document it carries (documentRefusalCodes, of the Permanent class): the
// writer leaves that document out and converges the rest (shared/apply).
// Not AccessDenied (the execution role's own permissions, or STS refusing
// it, which no document can fix), not throttling, and not a principal that
// is still propagating (PrincipalNotReady, retried for a while first).
func DocumentRefused(err error) bool {
	var apiErr smithy.APIError
	return Classify(err) == Permanent && errors.As(err, &apiErr) && documentRefusalCodes[apiErr.ErrorCode()]
}

// principalMessages mark a policy rejected for naming a principal AWS cannot
// resolve yet. Guardrails (shared/policy) have already refused syntactically
// wrong principals and out-of-scope actions before the write, so what remains
// is, in practice, propagation; RetryFor bounds the wait in case it is not.
var principalMessages = []string{
	"invalid principal",
	"invalid registry policy provided",
	"invalid repository policy provided",
	"principal not found", // SetRepositoryPolicy's text for a role that does not exist
}

// Classify says what err means for retrying. It reads smithy.APIError codes
// (typed SDK errors such as *ecrtypes.RepositoryNotFoundException implement
// it), then the HTTP status of *smithyhttp.ResponseError, then network
// errors. Wrapping with fmt.Errorf("...: %w") and the SDK's own
// retry.MaxAttemptsError are seen through.
func Classify(err error) Class {
	if err == nil {
		return Unknown
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return Unknown
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		code := apiErr.ErrorCode()
		msg := strings.ToLower(apiErr.ErrorMessage())
		switch {
		case code == "RepositoryNotFoundException":
			return NotFoundYet
		case (code == "InvalidParameterException" || code == "MalformedPolicyDocument" || code == "MalformedPolicyDocumentException") && containsAny(msg, principalMessages):
			return PrincipalNotReady
		case throttleCodes[code], transientCodes[code]:
			return Retryable
		case permanentCodes[code]:
			return Permanent
		}
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) {
		switch status := respErr.HTTPStatusCode(); {
		case status == 429 || status >= 500:
			return Retryable
		case status == 401 || status == 403:
			return Permanent
		}
	}
	if isNetworkError(err) {
		return Retryable
	}
	return Unknown
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// isNetworkError recognises failures to send a request or read its answer.
func isNetworkError(err error) bool {
	var sendErr *smithyhttp.RequestSendError
	var netErr net.Error
	var opErr *net.OpError
	return errors.As(err, &sendErr) || errors.As(err, &netErr) || errors.As(err, &opErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// AssumeRoleDenied reports whether err is, anywhere in its chain, STS
// refusing an AssumeRole with AccessDenied "... is not authorized to perform:
// sts:AssumeRole ...": the role does not exist, or its trust no longer lets
// the caller in. Other refusals (the caller's own token expired or invalid,
// a region disabled, throttling) say nothing about the role. The SDK wraps the
// credential provider's failure inside the error of the call that needed
// the credentials (operation error ECR: ..., failed to refresh cached
// credentials, operation error STS: AssumeRole, ...), so the outermost
// operation error is not the one to look at.
func AssumeRoleDenied(err error) bool {
	var found bool
	walkErrors(err, func(e error) bool {
		op, ok := e.(*smithy.OperationError)
		if ok && op.ServiceID == "STS" && strings.HasPrefix(op.OperationName, "AssumeRole") {
			var apiErr smithy.APIError
			found = errors.As(op.Err, &apiErr) && apiErr.ErrorCode() == "AccessDenied" && strings.Contains(apiErr.ErrorMessage(), "sts:AssumeRole")
			return true
		}
		return false
	})
	return found
}

// AccessDenied reports whether err is a service refusing the caller what
// its policies do not allow (IAM's and STS's AccessDenied, ECR's and the
// other JSON services' AccessDeniedException), an assumed role's refusal
// (AssumeRoleDenied) among them.
func AccessDenied(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "AccessDenied", "AccessDeniedException":
		return true
	}
	return false
}

// EnabledByDefault reports whether every account has region enabled and
// cannot disable it: the regions AWS launched before 20 March 2019 (and
// the China and GovCloud partitions' regions). Every region launched since
// is opt-in. An account's refusal in such a region is never the region's.
func EnabledByDefault(region string) bool {
	switch region {
	case "us-east-1", "us-east-2", "us-west-1", "us-west-2",
		"ap-south-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-southeast-1", "ap-southeast-2",
		"ca-central-1", "eu-central-1", "eu-west-1", "eu-west-2", "eu-west-3", "eu-north-1", "sa-east-1",
		"cn-north-1", "cn-northwest-1", "us-gov-west-1", "us-gov-east-1":
		return true
	}
	return false
}

// RegionNotEnabled reports whether err is, anywhere in its chain, AWS
// refusing a member's call because the account has not enabled the region
// (an opt-in region such as af-south-1 or me-central-1): STS refusing to
// issue credentials there (RegionDisabledException, "STS is not activated in
// the requested region for the account ..."), or another service
// refusing the credentials STS issued (UnrecognizedClientException,
// InvalidClientTokenId: "The security token included in the request is
// invalid", what AWS answers in a region the account has not enabled). The
// same codes from STS itself would be the caller's own credentials, not the
// member's region, and do not count.
func RegionNotEnabled(err error) bool {
	var found bool
	walkErrors(err, func(e error) bool {
		op, ok := e.(*smithy.OperationError)
		if !ok {
			return false
		}
		var inner *smithy.OperationError
		var apiErr smithy.APIError
		if errors.As(op.Err, &inner) || !errors.As(op.Err, &apiErr) {
			return false // the error is the credential provider's call's, further in
		}
		switch code := apiErr.ErrorCode(); {
		case code == "RegionDisabledException", strings.Contains(apiErr.ErrorMessage(), "STS is not activated in"):
			found = true
		case op.ServiceID != "STS" && (code == "UnrecognizedClientException" || code == "InvalidClientTokenId"):
			found = true
		}
		return found
	})
	return found
}

// walkErrors visits err and everything it wraps (both Unwrap forms), depth
// first, until visit returns true.
func walkErrors(err error, visit func(error) bool) bool {
	if err == nil {
		return false
	}
	if visit(err) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return walkErrors(u.Unwrap(), visit)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if walkErrors(e, visit) {
				return true
			}
		}
	}
	return false
}

// alreadyDoneCodes are AWS's answers to a create of something that exists and
// a delete of something that is gone, for the writes ecr-warden makes. Answered
// to a call the SDK retried after an attempt whose answer was lost, they may
// mean that the lost attempt did the work.
var alreadyDoneCodes = map[string]bool{
	"PullThroughCacheRuleAlreadyExistsException": true, "PullThroughCacheRuleNotFoundException": true, // ECR
	"RepositoryPolicyNotFoundException": true, "RegistryPolicyNotFoundException": true, // ECR, ECR Public
	"EntityAlreadyExists": true, "NoSuchEntity": true, // IAM
}

// AlreadyDone reports whether err is AWS answering that what a create makes
// already exists, or what a delete removes is already gone. The answer is
// definite, but not about whose call: when the SDK retried the call after
// an attempt whose answer was lost, the lost attempt may be what made it
// so. So a writer reads the resource again before it records the write as
// failed (shared/apply).
func AlreadyDone(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && alreadyDoneCodes[apiErr.ErrorCode()]
}

// Unanswered reports whether err leaves open whether a write happened: AWS
// gave no definite answer to the last attempt (the context ended, the
// connection failed, or AWS answered a server fault, HTTP 5xx, after the SDK's
// retries). Any 4xx, throttling included, is AWS refusing that attempt.
func Unanswered(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var respErr *smithyhttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() > 0 { // 0: the SDK got no response
		return respErr.HTTPStatusCode() >= 500
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorFault() == smithy.FaultServer
	}
	return isNetworkError(err)
}
