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

// unitQueue records the units the engine hands to the worker.
type unitQueue struct{ units []Work }

func (q *unitQueue) Send(_ context.Context, units []Work) (int, error) {
	q.units = append(q.units, units...)
	return len(units), nil
}

// The member StackSet creates ecr-warden's execution role after the deploy's
// backfill (and an account event) tried the member and failed to assume it.
// Its CreateRole event hands the member's units to the worker at once: one
// per hub region, as a backfill of that account sends them (the PTC role in
// the first region; not moved, not retired), carrying the event. Membership
// comes from one DescribeAccount, not from the event: the hub, the management
// account, a member the declaration configures nothing in and an account
// outside the organization hand over nothing and are recorded as ignored,
// saying why. Nothing is written by the event itself.
func TestExecutionRoleCreatedHandsItsMemberToTheWorker(t *testing.T) {
	const outsider = "444444444444"
	decl := `"grants": [{"name": "team-push", "repositories": ["team/*"], "access": "push", "placement": "repository",
	  "principals": {"accounts": ["` + fHub + `"]}, "registries": {"accounts": ["` + fTeamA + `"]}}]`
	regions := []string{fRegion, "eu-west-1"}
	for _, c := range []struct {
		name, account string
		ignored       []string // fragments of the recorded reason; none: handed over
	}{
		{name: "configured member", account: fTeamA},
		{name: "hub account", account: fHub, ignored: []string{"hub account " + fHub, "no member"}},
		{name: "management account", account: fMgmt, ignored: []string{"ecr-warden-execution was created", "management account"}},
		{name: "member the declaration configures nothing in", account: fTeamB, ignored: []string{"ecr-warden-execution was created", "configures nothing in it"}},
		{name: "account outside the organization", account: outsider, ignored: []string{"ecr-warden-execution was created", "not an ACTIVE account of organization " + fOrgID}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorldIn(t, regions, decl)
			q := &unitQueue{}
			w.engine.Queue = q
			w.aws.CreateRepository(fTeamA, fRegion, "team/app", nil)
			tg := target(trigger.KindRole, c.account)
			tg.RoleName = w.engine.Decl.MemberRoleName
			tg.Trigger.EventName = "CreateRole"
			tg.Trigger.EventID = "evt-execution-role"
			tg.Trigger.Actor = trigger.Actor{ARN: "arn:aws:sts::" + c.account + ":assumed-role/stacksets-exec-0123456789abcdef/sess", Type: "AssumedRole", InvokedBy: "cloudformation.amazonaws.com"}
			before := w.aws.CallCounts()["Organizations.DescribeAccount"]
			out, err := w.engine.Reconcile(context.Background(), tg)
			if err != nil {
				t.Fatal(err)
			}
			if len(w.aws.Writes()) != 0 {
				t.Errorf("writes %v, want none: the worker converges the member", w.aws.Writes())
			}
			res, _ := Resource("aws", tg)
			if len(c.ignored) > 0 {
				hasAll(t, "ignored reason", out.Ignored, c.ignored...)
				if len(q.units) != 0 {
					t.Errorf("handed %d units to the worker, want none", len(q.units))
				}
				if got := w.decisions(t, res.ARN); len(got) != 1 || got[0] != string(audit.DecisionNoop) {
					t.Errorf("decisions on %s: %v, want one noop", res.ARN, got)
				}
				return
			}
			if out.Ignored != "" {
				t.Fatalf("ignored: %s", out.Ignored)
			}
			if n := w.aws.CallCounts()["Organizations.DescribeAccount"] - before; n != 1 {
				t.Errorf("%d DescribeAccount calls, want one (membership is read, never taken from the event)", n)
			}
			if len(q.units) != len(regions) {
				t.Fatalf("units %+v, want one per hub region", q.units)
			}
			for i, u := range q.units {
				if u.Account != fTeamA || u.Region != regions[i] || u.Moved || u.Retired || u.Enumerations || u.Role != (i == 0) ||
					u.RunID != "evt-execution-role" || u.Trigger == nil || u.Trigger.EventID != "evt-execution-role" ||
					len(u.Accounts) != 1 || u.Accounts[0].ID != fTeamA || !strings.Contains(u.Accounts[0].OUPath, "/") {
					t.Errorf("unit %d: %+v, want the member's backfill unit for %s carrying the event", i, u, regions[i])
				}
			}
			// The units converge the member as a backfill's would.
			for _, u := range q.units {
				if _, err := w.engine.Converge(context.Background(), u.Cause(), u); err != nil {
					t.Fatal(err)
				}
			}
			hasAll(t, "team/app policy after the units", w.aws.RepositoryPolicy(fTeamA, fRegion, "team/app"), `"Sid":"EcrWardenTeamPush`, fHub)
		})
	}
}

// CloudTrail logs CreateRole before CloudFormation puts the execution role's
// inline policy, and IAM propagates both within seconds. While the event is
// young and the role cannot be used yet (STS refuses it, or ECR refuses what
// its policy will allow), the event fails so Lambda retries it, and nothing
// is handed to the worker, whose unit would fail and wait an hour; once the
// event is past IAM's propagation the units go out regardless.
func TestExecutionRoleNotUsableYetRetriesTheEvent(t *testing.T) {
	decl := `"grants": [{"name": "team-push", "repositories": ["team/*"], "access": "push", "placement": "repository",
	  "principals": {"accounts": ["` + fHub + `"]}, "registries": {"accounts": ["` + fTeamA + `"]}}]`
	for _, c := range []struct {
		name    string
		refuse  func(w *world)
		age     time.Duration
		handed  bool
		errText string
	}{
		{"STS refuses the role, event young", func(w *world) {
			w.aws.Unassumable(fTeamA, "arn:aws:iam::"+fTeamA+":role/"+w.engine.Decl.MemberRoleName)
		}, 20 * time.Second, false, "cannot be used yet"},
		{"ECR refuses the role's read, event young", func(w *world) { w.aws.Deny(fTeamA, "ECR", "GetRegistryPolicy") }, 20 * time.Second, false, "cannot be used yet"},
		{"STS refuses the role, event old", func(w *world) {
			w.aws.Unassumable(fTeamA, "arn:aws:iam::"+fTeamA+":role/"+w.engine.Decl.MemberRoleName)
		}, 10 * time.Minute, true, ""},
		{"role usable, event young", func(*world) {}, 20 * time.Second, true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, decl)
			q := &unitQueue{}
			w.engine.Queue = q
			c.refuse(w)
			tg := target(trigger.KindRole, fTeamA)
			tg.RoleName = w.engine.Decl.MemberRoleName
			tg.Trigger.EventName = "CreateRole"
			tg.Trigger.Time = time.Now().Add(-c.age).UTC().Format(time.RFC3339)
			tg.Trigger.Actor = trigger.Actor{ARN: "arn:aws:sts::" + fTeamA + ":assumed-role/stacksets-exec-0123456789abcdef/sess", Type: "AssumedRole", InvokedBy: "cloudformation.amazonaws.com"}
			_, err := w.engine.Reconcile(context.Background(), tg)
			if c.handed {
				if err != nil || len(q.units) != 1 {
					t.Fatalf("error %v, %d units: want the member handed over", err, len(q.units))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.errText) || len(q.units) != 0 {
				t.Fatalf("error %v, %d units: want the event failed for a retry (%q) and nothing handed over", err, len(q.units), c.errText)
			}
		})
	}
}

// The execution role's CreateRole acts only when CloudFormation made the role
// (the member StackSet does; CloudTrail names the service in invokedBy, which
// the member cannot set). A member's administrator who creates and deletes a
// role of that name by hand in a loop would otherwise make ecr-warden
// converge the whole member registry in every hub region per CreateRole: it is
// recorded as ignored, before any call (no DescribeAccount, no AssumeRole),
// and the member converges at the sweep or the queue's redelivery.
func TestExecutionRoleMadeOutsideCloudFormationIsIgnored(t *testing.T) {
	decl := `"grants": [{"name": "team-push", "repositories": ["team/*"], "access": "push", "placement": "repository",
	  "principals": {"accounts": ["` + fHub + `"]}, "registries": {"accounts": ["` + fTeamA + `"]}}]`
	w := newWorld(t, decl)
	q := &unitQueue{}
	w.engine.Queue = q
	tg := target(trigger.KindRole, fTeamA)
	tg.RoleName = w.engine.Decl.MemberRoleName
	tg.Trigger.EventName = "CreateRole"
	tg.Trigger.EventID = "evt-by-hand"
	tg.Trigger.Actor = trigger.Actor{ARN: "arn:aws:sts::" + fTeamA + ":assumed-role/Admin/someone", Type: "AssumedRole"}
	before := w.aws.CallCounts()
	out, err := w.engine.Reconcile(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	hasAll(t, "ignored reason", out.Ignored, "ecr-warden-execution", "not by CloudFormation", "arn:aws:sts::"+fTeamA+":assumed-role/Admin/someone")
	if len(q.units) != 0 {
		t.Errorf("handed %d units to the worker, want none", len(q.units))
	}
	after := w.aws.CallCounts()
	for _, op := range []string{"Organizations.DescribeAccount", "STS.AssumeRole", "ECR.GetRegistryPolicy"} {
		if after[op] != before[op] {
			t.Errorf("%s called %d times, want none", op, after[op]-before[op])
		}
	}
	res, _ := Resource("aws", tg)
	if got := w.decisions(t, res.ARN); len(got) != 1 || got[0] != string(audit.DecisionNoop) {
		t.Errorf("decisions on %s: %v, want one noop", res.ARN, got)
	}
}
