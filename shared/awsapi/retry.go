package awsapi

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff bounds for RetryFor: the first wait is about BaseDelay, each next
// one doubles, none exceeds MaxDelay, and each is jittered (half fixed, half
// random) so concurrent invocations do not retry in lockstep.
const (
	BaseDelay = 250 * time.Millisecond
	MaxDelay  = 5 * time.Second
)

// now and sleep are the clock; tests replace both to run without waiting.
var now = time.Now

var sleep = func(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// RetryFor runs op until it succeeds, fails with an error of another class,
// or maxWait has passed. Only the named class is retried: as in
// terraform-provider-aws, a retry is a bounded wait for one specific,
// time-fixable condition (a repository that ECR is still creating, a
// principal IAM is still propagating), never a blanket loop. The SDK already
// retries throttling and 5xx per call; pass Retryable only for whole
// operations that span several calls.
//
// When time runs out the last error is returned wrapped with the class, the
// attempt count and the time spent, so the log says what was waited for.
func RetryFor(ctx context.Context, class Class, maxWait time.Duration, op func() error) error {
	start := now()
	deadline := start.Add(maxWait)
	delay := BaseDelay
	for attempt := 1; ; attempt++ {
		err := op()
		if err == nil || Classify(err) != class {
			return err
		}
		wait := delay/2 + rand.N(delay/2+1)
		if remaining := deadline.Sub(now()); wait > remaining {
			if remaining <= 0 {
				return fmt.Errorf("still %s after %d attempts over %s: %w", class, attempt, now().Sub(start).Round(time.Millisecond), err)
			}
			wait = remaining
		}
		if serr := sleep(ctx, wait); serr != nil {
			return fmt.Errorf("waiting to retry (%s, attempt %d): %w (last error: %v)", class, attempt, serr, err)
		}
		delay = min(delay*2, MaxDelay)
	}
}
