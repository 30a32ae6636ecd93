package reconcile

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// fGone is an account the backfill walked that has left the organization
// by the time its unit runs.
const fGone = "555555555555"

// staleWorld is an organization whose hub registry grants enumerate the
// workloads OU, and the hub unit a backfill would have sent for it when
// fGone was still in that OU, walked at walkedAt.
func staleWorld(t *testing.T, walkedAt time.Time) (*world, Work) {
	t.Helper()
	w := newWorld(t, `"grants": [{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "principals": {"ous": ["o-a1b2c3d4e5/r-a1b2/ou-a1b2-00000001/"]},
	    "placement": "registry", "principalMode": "enumerate"}]`)
	walk, err := w.engine.Org.Walk(context.Background(), inventory.WalkScope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	accounts := toDesiredAll(walk.Accounts)
	for _, a := range accounts {
		if a.ID == fTeamA {
			accounts = append(accounts, desired.Account{ID: fGone, Status: "ACTIVE", OUPath: a.OUPath})
		}
	}
	return w, Work{RunID: "backfill-test", Account: fHub, Region: fRegion, Accounts: accounts, WalkedAt: walkedAt}
}

func (w *world) hubPolicy(t *testing.T) string {
	t.Helper()
	out, err := w.aws.ECR(fHub, fRegion).GetRegistryPolicy(context.Background(), &ecr.GetRegistryPolicyInput{})
	if err != nil {
		return ""
	}
	return aws.ToString(out.PolicyText)
}

// A unit run hours after its walk (an SQS retry an hour after the first
// try, a dead-letter queue redriven) reads the organization again, so an
// account that left in between is not granted again, and the audit trail
// says why the unit walked. A unit walked minutes ago records no such walk;
// its documents that enumerate accounts (all of them here) are planned from
// the organization read under the registry's lease all the same
// (TestUnitDoesNotUndoAnAccountEventSinceItsWalk).
func TestStaleUnitReadsTheOrganizationAgain(t *testing.T) {
	ctx := context.Background()
	gone := "arn:aws:iam::" + fGone + ":root"

	w, unit := staleWorld(t, time.Now().Add(-time.Minute))
	if _, err := w.engine.Converge(ctx, Cause{}, unit); err != nil {
		t.Fatal(err)
	}
	hasAll(t, "hub registry policy from a fresh unit", w.hubPolicy(t), "arn:aws:iam::"+fTeamA+":root")
	hasNone(t, "hub registry policy from a fresh unit", w.hubPolicy(t), gone)
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionOrganizationWalk {
			t.Errorf("a fresh unit recorded an organization walk: %s", r.Error)
		}
	}

	w, unit = staleWorld(t, time.Now().Add(-2*time.Hour))
	if _, err := w.engine.Converge(ctx, Cause{}, unit); err != nil {
		t.Fatal(err)
	}
	policy := w.hubPolicy(t)
	hasAll(t, "hub registry policy from a stale unit", policy, "arn:aws:iam::"+fTeamA+":root", "arn:aws:iam::"+fTeamB+":root")
	hasNone(t, "hub registry policy from a stale unit", policy, gone)
	var walks []string
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionOrganizationWalk {
			walks = append(walks, r.Error)
		}
	}
	if len(walks) != 1 || !strings.Contains(walks[0], "2h0m0s before it ran") || !strings.Contains(walks[0], fHub+"/"+fRegion) {
		t.Errorf("organization-walk records = %q, want one saying the unit's accounts were 2h old", walks)
	}
}

// Without a way to read the organization, a stale unit fails (SQS delivers
// it again, then dead-letters it) before anything is read or written.
func TestStaleUnitWithoutOrganizationFails(t *testing.T) {
	w, unit := staleWorld(t, time.Now().Add(-2*time.Hour))
	w.engine.Org = nil
	_, err := w.engine.Converge(context.Background(), Cause{}, unit)
	if err == nil || !strings.Contains(err.Error(), "WARDEN_ORG_ROLE_ARN") {
		t.Fatalf("err = %v, want one naming WARDEN_ORG_ROLE_ARN", err)
	}
	if p := w.hubPolicy(t); p != "" {
		t.Errorf("a stale unit that could not read the organization wrote the hub registry policy:\n%s", p)
	}
}

// fNew joins the organization after the backfill's walk.
const fNew = "666666666666"

// sweptWorld is an organization whose grant enumerates the workloads OU in
// the hub and every member registry, with a lease table (the hub's account
// events coalesce through its mailbox), fGone in the OU, and the hub's and
// fTeamA's units of a sweep that walked it a minute ago.
func sweptWorld(t *testing.T) (w *world, leases *lease.Leaser, hubUnit, memberUnit Work) {
	t.Helper()
	localaws.Need(t)
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	w = newWorld(t, `"grants": [{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "principals": {"ous": ["o-a1b2c3d4e5/r-a1b2/ou-a1b2-00000001/"]},
	    "placement": "registry", "principalMode": "enumerate", "registries": {"hub": true, "allMembers": true}}]`)
	leases = leaseTable(t, w)
	w.aws.Join(fGone, "workloads")
	walk, err := w.engine.Org.Walk(context.Background(), inventory.WalkScope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().Add(-time.Minute)
	accounts := toDesiredAll(walk.Accounts)
	hubUnit = Work{RunID: "sweep-t0", Sweep: true, Account: fHub, Region: fRegion, Accounts: accounts, WalkedAt: t0}
	memberUnit = Work{RunID: "sweep-t0", Sweep: true, Account: fTeamA, Region: fRegion, Accounts: accounts, WalkedAt: t0}
	return w, leases, hubUnit, memberUnit
}

// orgCalls is how many Organizations calls the world has answered.
func (w *world) orgCalls() int {
	n := 0
	for op, c := range w.aws.CallCounts() {
		if strings.HasPrefix(op, "Organizations.") {
			n += c
		}
	}
	return n
}

// A sweep walks the organization at T0; before its units run (well inside
// WorkFreshFor), one account joins and another leaves, and each event writes
// its grants. The units' documents enumerate accounts, so they are planned
// from the organization as it is once the unit holds the registry's lease:
// the newcomer keeps its grant and the departed account does not get its
// back, in the hub registry policy and in a member registry alike.
func TestUnitDoesNotUndoAnAccountEventSinceItsWalk(t *testing.T) {
	ctx := context.Background()
	w, _, hubUnit, memberUnit := sweptWorld(t)

	w.aws.Join(fNew, "workloads")
	if _, err := w.engine.Account(ctx, target(trigger.KindAccount, fNew)); err != nil {
		t.Fatal(err)
	}
	w.aws.Leave(fGone)
	if _, err := w.engine.Account(ctx, target(trigger.KindAccountDeparted, fGone)); err != nil {
		t.Fatal(err)
	}
	newcomer, gone := "arn:aws:iam::"+fNew+":root", "arn:aws:iam::"+fGone+":root"
	hasAll(t, "hub registry policy after the events", w.hubPolicy(t), newcomer)
	hasNone(t, "hub registry policy after the events", w.hubPolicy(t), gone)

	orgCalls := w.orgCalls
	for _, u := range []Work{hubUnit, memberUnit} {
		before := orgCalls()
		if _, err := w.engine.Converge(ctx, u.Cause(), u); err != nil {
			t.Fatal(err)
		}
		// One walk under the lease: ListRoots, and the OUs and accounts of
		// the root and of the one OU.
		if n := orgCalls() - before; n != 1+2*2 {
			t.Errorf("unit of %s: %d Organizations calls, want one walk (5): %s", u.Account, n, w.aws)
		}
	}
	hub := w.hubPolicy(t)
	hasAll(t, "hub registry policy after the sweep's unit", hub, newcomer, "arn:aws:iam::"+fTeamA+":root")
	hasNone(t, "hub registry policy after the sweep's unit", hub, gone)
	member := w.aws.RegistryPolicy(fTeamA, fRegion)
	hasAll(t, "member registry policy after the sweep's unit", member, newcomer, "arn:aws:iam::"+fTeamB+":root")
	hasNone(t, "member registry policy after the sweep's unit", member, gone)
}

// A walk under the lease that fails fails the documents that list accounts,
// each recorded with the walk's error; the chunk's other documents are
// converged and the unit fails, to be retried.
func TestFailedWalkUnderTheLeaseFailsOnlyTheEnumeratingDocuments(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, `"grants": [{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "principals": {"ous": ["o-a1b2c3d4e5/r-a1b2/ou-a1b2-00000001/"]},
	    "placement": "registry", "principalMode": "enumerate"},
	  {"name": "tools-pull", "repositories": ["tools/*"], "access": "pull", "principals": {"accounts": ["`+fTeamB+`"]}, "placement": "repository"}]`)
	walk, err := w.engine.Org.Walk(ctx, inventory.WalkScope{All: true})
	if err != nil {
		t.Fatal(err)
	}
	unit := Work{RunID: "sweep-1", Sweep: true, Account: fHub, Region: fRegion, Accounts: toDesiredAll(walk.Accounts), WalkedAt: time.Now()}
	w.aws.CreateRepository(fHub, fRegion, "tools/x", nil)
	w.aws.Fail(func(c fakeaws.Call) error {
		if c.Operation == "ListRoots" {
			return fakeaws.APIError("TooManyRequestsException", "AWS Organizations can't complete your request because another request is already in progress")
		}
		return nil
	})
	_, err = w.engine.Converge(ctx, unit.Cause(), unit)
	if err == nil || !strings.Contains(err.Error(), "walking the organization under the lease") {
		t.Errorf("unit error %v, want it failed naming the walk", err)
	}
	if p := w.hubPolicy(t); p != "" {
		t.Errorf("the hub registry policy was written without the organization:\n%s", p)
	}
	hasAll(t, "repository policy of tools/x", w.aws.RepositoryPolicy(fHub, fRegion, "tools/x"), "arn:aws:iam::"+fTeamB+":root")
	registry := registryResource("aws", fHub, fRegion).ARN
	hasAll(t, "failed record of the hub registry policy", w.readFailures(t)[registry], registry, "walking the organization under the lease", "TooManyRequestsException")
}

// A member unit read again hours after its walk (an SQS retry, a redriven
// dead letter) whose account has left since is settled, with a summary
// saying it was skipped, instead of failing on every delivery into the
// dead-letter queue: it can never succeed, and the departure is the
// departure event's to converge.
func TestStaleUnitOfADepartedMemberIsSkipped(t *testing.T) {
	w, unit := staleWorld(t, time.Now().Add(-2*time.Hour))
	unit.Account = fGone
	rep, err := w.engine.Converge(context.Background(), Cause{}, unit)
	if err != nil {
		t.Fatalf("Converge: %v; want the unit settled as skipped", err)
	}
	if rep.Changed != 0 || rep.Failed != 0 {
		t.Errorf("report %+v, want nothing converged", rep)
	}
	var summary *audit.Record
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionSummary {
			summary = &r
		}
	}
	if summary == nil || !strings.Contains(summary.Error, "skipped") || !strings.Contains(summary.Error, fGone) {
		t.Errorf("summary %+v, want one saying the unit of %s was skipped", summary, fGone)
	}
}

// A walk made under one registry's lease serves the next holds (another
// chunk, another registry's unit) of the same execution environment while no
// account event has marked the organization changed: one read of the
// generation token instead of a walk. An account event handled anywhere
// (here: another environment's views) replaces the token before it writes,
// so the next hold walks again and does not undo it. A unit whose own walk
// is newer than the kept one (a sweep, the net for a change whose event
// never came) walks again too. A walk made within orgSettle of an event's
// change is not kept (Organizations may not list the change yet).
func TestKeptWalkServesLaterHoldsUntilAnAccountEvent(t *testing.T) {
	ctx := context.Background()
	w, leases, hubUnit, memberUnit := sweptWorld(t)
	worker, events := NewOrgViews(leases), NewOrgViews(leases)

	orgCalls := w.orgCalls
	converge := func(u Work, wantOrgCalls int, why string) {
		t.Helper()
		w.engine.Views = worker
		before := orgCalls()
		if _, err := w.engine.Converge(ctx, u.Cause(), u); err != nil {
			t.Fatal(err)
		}
		if n := orgCalls() - before; n != wantOrgCalls {
			t.Errorf("unit of %s (%s): %d Organizations calls, want %d", u.Account, why, n, wantOrgCalls)
		}
	}
	converge(hubUnit, 1+2*2, "first hold: one walk")
	converge(memberUnit, 0, "the walk kept from the hub's hold")
	granted := func(who string, wantIn, wantOut []string) {
		t.Helper()
		for name, text := range map[string]string{"hub registry policy": w.hubPolicy(t), "member registry policy": w.aws.RegistryPolicy(fTeamA, fRegion)} {
			for _, id := range wantIn {
				hasAll(t, name+" "+who, text, "arn:aws:iam::"+id+":root")
			}
			for _, id := range wantOut {
				hasNone(t, name+" "+who, text, "arn:aws:iam::"+id+":root")
			}
		}
	}
	granted("after the first units", []string{fTeamB, fGone}, nil)

	before, err := leases.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w.engine.Views = events
	w.aws.Join(fNew, "workloads")
	if _, err := w.engine.Account(ctx, target(trigger.KindAccount, fNew)); err != nil {
		t.Fatal(err)
	}
	w.aws.Leave(fGone)
	if _, err := w.engine.Account(ctx, target(trigger.KindAccountDeparted, fGone)); err != nil {
		t.Fatal(err)
	}
	if after, err := leases.Generation(ctx); err != nil || after.Token == before.Token {
		t.Errorf("generation token %+v after two account events (err %v), want it replaced (was %+v)", after, err, before)
	}
	converge(hubUnit, 1+2*2, "the token changed: a new walk")
	converge(memberUnit, 1+2*2, "the last walk was made right after the events' change: not kept")
	granted("after the units that followed the events", []string{fNew}, []string{fGone})
	later := time.Now().Add(orgSettle + time.Second)
	worker.now = func() time.Time { return later }
	converge(memberUnit, 1+2*2, "a walk made after orgSettle")
	converge(hubUnit, 0, "that walk kept")
	granted("after the units that followed the kept walk", []string{fNew}, []string{fGone})

	// A change whose event never arrived: a unit walked before it keeps the
	// view; the sweep that walked after it does not.
	w.aws.Leave(fTeamB)
	converge(hubUnit, 0, "no event since the kept walk")
	granted("before the sweep", []string{fTeamB}, nil)
	sweep := hubUnit
	sweep.RunID, sweep.WalkedAt = "sweep-t1", later.Add(time.Second)
	converge(sweep, 1+2*2, "a unit walked after the kept walk")
	hasNone(t, "hub registry policy after the sweep", w.hubPolicy(t), "arn:aws:iam::"+fTeamB+":root")
}
