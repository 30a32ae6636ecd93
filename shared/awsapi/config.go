// Package awsapi is how every ecr-warden function talks to AWS: one SDK
// configuration (default credential chain, adaptive retry, endpoint from
// AWS_ENDPOINT_URL for the local AWS), credentials for member accounts through
// the execution role (cached per account), and the error classification that
// decides what is retried, for how long, and what is recorded and dropped.
package awsapi

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// MaxAttempts is the SDK's attempt budget per call. With adaptive mode a
// throttled run slows down (client-side rate limiting) instead of failing;
// eight attempts with backoff capped at MaxBackoff ride out bursts of ECR,
// IAM and Organizations throttling well within a Lambda invocation.
const (
	MaxAttempts = 8
	MaxBackoff  = 20 * time.Second
)

// Load returns the SDK configuration for a function: the default chain
// (Lambda's role credentials, or the environment), adaptive retry mode, and,
// when region is non-empty, that region instead of AWS_REGION.
//
// AWS_ENDPOINT_URL (used only locally, to point at moto) needs no code here:
// the SDK's config loader reads it into aws.Config.BaseEndpoint and every
// service client honours it (verified by TestLoadHonoursEndpointURL).
// AWS_MAX_ATTEMPTS does need code: see retryerFromEnv.
func Load(ctx context.Context, region string, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	retryer, err := retryerFromEnv()
	if err != nil {
		return aws.Config{}, err
	}
	all := []func(*config.LoadOptions) error{config.WithRetryer(retryer)}
	if region != "" {
		all = append(all, config.WithRegion(region))
	}
	all = append(all, opts...)
	cfg, err := config.LoadDefaultConfig(ctx, all...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration (region %q): %w", region, err)
	}
	return cfg, nil
}

// retryerFromEnv honours the SDK's standard AWS_MAX_ATTEMPTS variable, which
// the explicit retryer would otherwise shadow: operators (and the fault
// tests) can change the per-call attempt budget without a code change. A
// value that is not a whole number of at least 1 is an error naming the
// variable, so a typo stops the function at init instead of going unnoticed.
func retryerFromEnv() (func() aws.Retryer, error) {
	v := os.Getenv("AWS_MAX_ATTEMPTS")
	if v == "" {
		return NewRetryer, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("AWS_MAX_ATTEMPTS=%q: want a whole number of attempts, at least 1", v)
	}
	return func() aws.Retryer { return retry.AddWithMaxAttempts(NewRetryer(), n) }, nil
}

// NewRetryer is the adaptive retryer every client uses. Besides the SDK's
// throttling and transient errors it retries ConcurrentModificationException
// (Organizations, IAM) and DynamoDB's TransactionConflictException (a plain
// write to an item that a transaction is changing, such as a post to a
// mailbox while a holder takes or closes it) and TransactionInProgressException
// (a retried transaction whose first attempt, same client request token, is
// still running: AWS's advice is to retry, which returns the first attempt's
// result), which a moment later succeed.
func NewRetryer() aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = MaxAttempts
			so.MaxBackoff = MaxBackoff
			so.Retryables = append(so.Retryables, retry.RetryableErrorCode{
				Codes: map[string]struct{}{"ConcurrentModificationException": {}, "TransactionConflictException": {}, "TransactionInProgressException": {}},
			})
		})
	})
}

// Identity is who the function runs as: its account (the hub) and partition,
// read once per cold start so member credentials are never requested for the
// function's own account.
type Identity struct {
	AccountID string
	Partition string
	ARN       string
}

// stsIdentityAPI is the one STS call Whoami needs.
type stsIdentityAPI interface {
	GetCallerIdentity(ctx context.Context, in *sts.GetCallerIdentityInput, optFns ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error)
}

var _ stsIdentityAPI = (*sts.Client)(nil)

// WhoAmI calls sts:GetCallerIdentity and derives the partition from the ARN.
func WhoAmI(ctx context.Context, cfg aws.Config) (Identity, error) {
	return whoAmI(ctx, sts.NewFromConfig(cfg))
}

func whoAmI(ctx context.Context, c stsIdentityAPI) (Identity, error) {
	out, err := c.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return Identity{}, fmt.Errorf("getting caller identity: %w", err)
	}
	id := Identity{AccountID: aws.ToString(out.Account), ARN: aws.ToString(out.Arn)}
	parts := strings.SplitN(id.ARN, ":", 3)
	if len(parts) < 3 || parts[0] != "arn" || parts[1] == "" || id.AccountID == "" {
		return Identity{}, fmt.Errorf("getting caller identity: unexpected answer account=%q arn=%q", id.AccountID, id.ARN)
	}
	id.Partition = parts[1]
	return id, nil
}

// EndpointDown is the next step when a call failed because nothing answers
// at AWS_ENDPOINT_URL (a local AWS that was stopped while its exports stayed
// in the shell): start one or stop pointing at it. "" for any other error, or
// without AWS_ENDPOINT_URL (the functions in AWS never set it). The command
// line tools append it to their error.
func EndpointDown(err error) string {
	ep := os.Getenv("AWS_ENDPOINT_URL")
	if err == nil || ep == "" || !strings.Contains(err.Error(), "connection refused") {
		return ""
	}
	return fmt.Sprintf("nothing answers at AWS_ENDPOINT_URL=%s: start the local AWS (make emulator SEED=demo, then source build/emulator/env.sh again: "+
		"its ids change with every start), or unset AWS_ENDPOINT_URL to reach AWS", ep)
}
