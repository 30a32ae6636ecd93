package awsapi

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
)

// fakeClock replaces the package clock: sleeps advance time instantly and
// are recorded, so retry timing is asserted without waiting.
type fakeClock struct {
	t      time.Time
	sleeps []time.Duration
}

func useFakeClock(t *testing.T) *fakeClock {
	c := &fakeClock{t: time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)}
	oldNow, oldSleep := now, sleep
	now = func() time.Time { return c.t }
	sleep = func(ctx context.Context, d time.Duration) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.sleeps = append(c.sleeps, d)
		c.t = c.t.Add(d)
		return nil
	}
	t.Cleanup(func() { now, sleep = oldNow, oldSleep })
	return c
}

func TestRetryForConvergesAfterNotFound(t *testing.T) {
	clock := useFakeClock(t)
	calls := 0
	err := RetryFor(context.Background(), NotFoundYet, 30*time.Second, func() error {
		calls++
		if calls < 3 {
			return opErr("SetRepositoryPolicy", &ecrtypes.RepositoryNotFoundException{Message: aws.String("not yet")})
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err=%v calls=%d, want nil after 3 calls", err, calls)
	}
	if len(clock.sleeps) != 2 {
		t.Fatalf("slept %d times, want 2", len(clock.sleeps))
	}
	if s := clock.sleeps[0]; s < BaseDelay/2 || s > BaseDelay {
		t.Errorf("first wait %s, want within [%s, %s]", s, BaseDelay/2, BaseDelay)
	}
	if s := clock.sleeps[1]; s < BaseDelay || s > 2*BaseDelay {
		t.Errorf("second wait %s, want within [%s, %s]", s, BaseDelay, 2*BaseDelay)
	}
}

func TestRetryForOnlyRetriesItsClass(t *testing.T) {
	useFakeClock(t)
	for _, c := range []struct {
		class Class
		err   error
	}{
		{NotFoundYet, &smithy.GenericAPIError{Code: "AccessDeniedException"}},
		{NotFoundYet, &smithy.GenericAPIError{Code: "ThrottlingException"}},
		{PrincipalNotReady, &ecrtypes.RepositoryNotFoundException{}},
	} {
		calls := 0
		err := RetryFor(context.Background(), c.class, time.Minute, func() error { calls++; return c.err })
		if calls != 1 || !errors.Is(err, c.err) {
			t.Errorf("%s with %v: calls=%d err=%v, want the error after one call", c.class, c.err, calls, err)
		}
	}
}

func TestRetryForGivesUpAtDeadline(t *testing.T) {
	clock := useFakeClock(t)
	start := clock.t
	calls := 0
	principal := &ecrtypes.InvalidParameterException{Message: aws.String("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'")}
	err := RetryFor(context.Background(), PrincipalNotReady, 20*time.Second, func() error { calls++; return principal })
	if err == nil {
		t.Fatal("want an error after the deadline")
	}
	var inv *ecrtypes.InvalidParameterException
	if !errors.As(err, &inv) || !strings.Contains(err.Error(), "still principal-not-ready after") {
		t.Fatalf("error %q should wrap the last AWS error and say what was waited for", err)
	}
	if spent := clock.t.Sub(start); spent != 20*time.Second {
		t.Errorf("waited %s, want exactly the 20s budget", spent)
	}
	for i, s := range clock.sleeps {
		if s > MaxDelay {
			t.Errorf("wait %d is %s, above MaxDelay %s", i, s, MaxDelay)
		}
	}
	// 250ms doubling to 5s caps: about 9 attempts in 20s, never a tight loop.
	if calls < 5 || calls > 15 {
		t.Errorf("%d attempts in 20s, want a bounded backoff (5-15)", calls)
	}
}

func TestRetryForStopsWhenContextEnds(t *testing.T) {
	useFakeClock(t)
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := RetryFor(ctx, NotFoundYet, time.Minute, func() error {
		calls++
		cancel()
		return &ecrtypes.RepositoryNotFoundException{}
	})
	if !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("err=%v calls=%d, want context.Canceled after one call", err, calls)
	}
}

func BenchmarkClassify(b *testing.B) {
	err := opErr("SetRepositoryPolicy", httpErr(400, &ecrtypes.InvalidParameterException{Message: aws.String("Invalid registry policy provided")}))
	for b.Loop() {
		if Classify(err) != PrincipalNotReady {
			b.Fatal("wrong class")
		}
	}
}

// The SDK's retryer retries what a moment fixes besides its own defaults: a
// concurrent IAM or Organizations change, and a DynamoDB write that met a
// transaction on the same item (a mailbox post while a holder takes it).
func TestRetryerRetriesConcurrentChanges(t *testing.T) {
	r := NewRetryer()
	for _, code := range []string{"ConcurrentModificationException", "TransactionConflictException", "TransactionInProgressException", "ThrottlingException"} {
		if !r.IsErrorRetryable(&smithy.GenericAPIError{Code: code}) {
			t.Errorf("%s is not retried", code)
		}
	}
	if r.IsErrorRetryable(&smithy.GenericAPIError{Code: "ConditionalCheckFailedException"}) {
		t.Error("ConditionalCheckFailedException is retried; a lost condition is an answer")
	}
}
