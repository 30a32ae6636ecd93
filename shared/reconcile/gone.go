package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/awsapi"
)

// A repository event can name a repository that no longer exists: terraform
// destroy sends DeleteRepositoryPolicy and then DeleteRepository within a
// second, and CreateRepository or TagResource events are delivered late (or
// twice) after the repository was deleted. ECR answers
// RepositoryNotFoundException for both that and a repository it is still
// creating, so the engine waits RepositoryWait for the second case and then
// asks DescribeRepositories whether the repository exists: when it does not,
// the event is settled as ignored (recorded, nothing written), because no
// retry can bring the repository back, and failing would only send the event
// through Lambda's retries into the failed-events queue.

// RepositoryGoneError is a repository that ECR still did not know after the
// wait for a new repository, and that DescribeRepositories confirmed is not
// there: deleted since its event. Reconcile records it as ignored.
type RepositoryGoneError struct {
	ARN    string
	Waited time.Duration
	Err    error // the last RepositoryNotFoundException
}

func (e *RepositoryGoneError) Error() string {
	return fmt.Sprintf("repository %s no longer exists (still not found after waiting %s for a new repository, and DescribeRepositories does not list it): nothing to converge; last error: %v", e.ARN, e.Waited, e.Err)
}

func (e *RepositoryGoneError) Unwrap() error { return e.Err }

// confirmGone is called with the error of a read retried for NotFoundYet. When
// the wait ran out on a repository ECR does not know, it asks describe (one
// DescribeRepositories for that name, answering the names that do not exist)
// and returns a *RepositoryGoneError if the repository is missing. Any other
// error, a repository that does exist, or a failed check returns err as it was,
// so the invocation fails and is retried as before.
func (e *Engine) confirmGone(ctx context.Context, arn, name string, err error, describe func(ctx context.Context, names []string) (missing []string, err error)) error {
	if err == nil || awsapi.Classify(err) != awsapi.NotFoundYet || ctx.Err() != nil {
		return err
	}
	missing, derr := describe(ctx, []string{name})
	if derr != nil {
		return errors.Join(err, fmt.Errorf("checking whether repository %s still exists: %w", arn, derr))
	}
	if !slices.Contains(missing, name) {
		return err
	}
	return &RepositoryGoneError{ARN: arn, Waited: e.repoWait(), Err: err}
}
