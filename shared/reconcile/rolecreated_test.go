package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// A CreateRole event for a role a grant names converges the documents naming
// it. Only IAM's short propagation is retried: a role still missing once the
// event is older than RolePropagationWindow (deleted since; the event came
// late or twice), or one created under another path than the ARN the
// declaration names, is settled with a noop record saying why, never failed
// into Lambda's retries and the failed-events queue. Nothing is written.
func TestCreateRoleEventRetriesOnlyPropagation(t *testing.T) {
	grants := `"grants": [{"name": "ci-pull", "repositories": ["apps/*"], "access": "pull", "placement": "registry",
		"principals": {"roles": ["arn:aws:iam::` + fTeamA + `:role/ci"]}}]`
	declared := "arn:aws:iam::" + fTeamA + ":role/ci"
	for _, c := range []struct {
		name    string
		path    string        // the role IAM holds, "" for none
		age     time.Duration // how old the event is
		retried bool          // the invocation fails so Lambda retries
		ignored []string      // fragments of the recorded reason
		changed int
	}{
		{name: "created, visible", path: "ci", age: 5 * time.Second, changed: 1},
		{name: "just created, not visible yet", age: 5 * time.Second, retried: true},
		{name: "deleted since, event late", age: 10 * time.Minute, ignored: []string{"role " + declared + " does not exist", "old, past IAM's propagation", "settled"}},
		{name: "missing, event time in the future", age: -time.Hour, ignored: []string{"role " + declared + " does not exist", "unreadable or in the future", "settled"}},
		{name: "created under another path", path: "team/ci", age: 5 * time.Second, ignored: []string{"arn:aws:iam::" + fTeamA + ":role/team/ci (another path)", "not as " + declared}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, grants)
			if c.path != "" {
				w.aws.CreateRole(fTeamA, c.path, "{}")
			}
			tg := target(trigger.KindRole, fTeamA)
			tg.RoleName = "ci"
			tg.Trigger.EventName = "CreateRole"
			tg.Trigger.Time = time.Now().Add(-c.age).UTC().Format(time.RFC3339)
			out, err := w.engine.Reconcile(context.Background(), tg)
			if c.retried {
				if !errors.Is(err, errRoleNotVisible) {
					t.Fatalf("error %v, want the invocation failed for a retry", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v: want the event settled", err)
			}
			hasAll(t, "ignored reason", out.Ignored, c.ignored...)
			if out.Changed != c.changed {
				t.Errorf("report %+v, want %d changed", out.Report, c.changed)
			}
			if len(c.ignored) > 0 {
				res, _ := Resource("aws", tg)
				if got := w.decisions(t, res.ARN); len(got) != 1 || got[0] != string(audit.DecisionNoop) {
					t.Errorf("decisions on %s: %v, want one noop", res.ARN, got)
				}
				if len(w.aws.Writes()) != 0 {
					t.Errorf("writes %v, want none", w.aws.Writes())
				}
			} else if !strings.Contains(w.aws.RegistryPolicy(fHub, fRegion), declared) {
				t.Errorf("hub registry policy does not name %s:\n%s", declared, w.aws.RegistryPolicy(fHub, fRegion))
			}
		})
	}
}
