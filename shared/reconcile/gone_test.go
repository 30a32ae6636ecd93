package reconcile

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// An event for a repository deleted since (terraform destroy's
// DeleteRepositoryPolicy right before DeleteRepository, a CreateRepository or
// TagResource event delivered late) is settled, not retried into the
// failed-events queue: after the short wait for a new repository,
// DescribeRepositories confirms it is gone, one noop record names the
// repository and says so, and nothing is written. Private repositories (with
// a tag grant, whose tags are read first, and without) and ECR Public alike.
func TestEventForADeletedRepositoryIsSettled(t *testing.T) {
	for _, c := range []struct {
		name, rest string
		kind       trigger.Kind
		arn        string
		describe   string // the service whose DescribeRepositories confirms
	}{
		{"private", `"grants": [{"name": "team-pull", "repositories": ["apps/*"], "access": "pull", "placement": "repository", "principals": {"accounts": ["` + fTeamA + `"]}}]`,
			trigger.KindRepository, "arn:aws:ecr:" + fRegion + ":" + fHub + ":repository/apps/web", "ECR"},
		{"private with a tag grant", `"grants": [{"name": "team-pull", "repositoryTags": {"share": "org"}, "access": "pull", "placement": "repository", "principals": {"accounts": ["` + fTeamA + `"]}}]`,
			trigger.KindRepository, "arn:aws:ecr:" + fRegion + ":" + fHub + ":repository/apps/web", "ECR"},
		{"public", `"publicRepositories": [{"name": "publish", "repositories": ["apps/*"], "access": "push", "principals": {"accounts": ["` + fTeamA + `"]}}]`,
			trigger.KindPublicRepository, "arn:aws:ecr-public::" + fHub + ":repository/apps/web", "ECR PUBLIC"},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, c.rest)
			tg := target(c.kind, fHub)
			tg.Repository = "apps/web"
			out, err := w.engine.Reconcile(context.Background(), tg)
			if err != nil {
				t.Fatalf("error %v: want the event settled", err)
			}
			hasAll(t, "ignored", out.Ignored, "repository "+c.arn+" no longer exists", "DescribeRepositories")
			if got := w.decisions(t, c.arn); len(got) != 1 || got[0] != string(audit.DecisionNoop) {
				t.Errorf("decisions on %s: %v, want one noop", c.arn, got)
			}
			if n := w.aws.Calls(c.describe, "DescribeRepositories"); n != 1 {
				t.Errorf("%d DescribeRepositories calls, want 1 (%s)", n, w.aws)
			}
			if len(w.aws.Writes()) != 0 || out.Failed != 0 {
				t.Errorf("writes %v, report %+v: want nothing written and nothing failed", w.aws.Writes(), out.Report)
			}
		})
	}
}

// The wait for a repository ECR is still creating stays: a CreateRepository
// event that arrives before the repository is readable converges it once it
// is; and a repository DescribeRepositories still lists is never called gone
// (the invocation fails and is retried, as before).
func TestNewRepositoryIsStillWaitedFor(t *testing.T) {
	grants := `"grants": [{"name": "team-pull", "repositories": ["apps/*"], "access": "pull", "placement": "repository", "principals": {"accounts": ["` + fTeamA + `"]}}]`
	notYet := func(misses int64) func(fakeaws.Call) error {
		var n atomic.Int64
		return func(c fakeaws.Call) error {
			if c.Operation == "GetRepositoryPolicy" && (misses < 0 || n.Add(1) <= misses) {
				return &ecrtypes.RepositoryNotFoundException{Message: aws.String("The repository with name 'apps/web' does not exist in the registry with id '" + fHub + "'")}
			}
			return nil
		}
	}
	tg := target(trigger.KindRepository, fHub)
	tg.Repository = "apps/web"

	w := newWorld(t, grants)
	w.engine.RepositoryWait = 5 * time.Second
	w.aws.CreateRepository(fHub, fRegion, "apps/web", nil)
	w.aws.Fail(notYet(2))
	out, err := w.engine.Reconcile(context.Background(), tg)
	if err != nil || out.Changed != 1 || out.Ignored != "" {
		t.Fatalf("report %+v, ignored %q, error %v: want the new repository converged after the wait", out.Report, out.Ignored, err)
	}
	hasAll(t, "repository policy", w.aws.RepositoryPolicy(fHub, fRegion, "apps/web"), "EcrWardenTeamPull")

	w = newWorld(t, grants)
	w.aws.CreateRepository(fHub, fRegion, "apps/web", nil)
	w.aws.Fail(notYet(-1))
	out, err = w.engine.Reconcile(context.Background(), tg)
	if err == nil || out.Ignored != "" || !strings.Contains(err.Error(), "RepositoryNotFoundException") {
		t.Errorf("ignored %q, error %v: want the not-found error returned for a repository that exists", out.Ignored, err)
	}
}
