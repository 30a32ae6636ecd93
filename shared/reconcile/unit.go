package reconcile

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/install"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// Work is one unit of a backfill or sweep: one account in one region, with
// the part of the organization its documents depend on. The backfill
// function walks the organization once and sends one Work per account and
// region through SQS to the worker, so no invocation grows with the
// organization and a failing account is retried and dead-lettered alone.
type Work struct {
	RunID   string `json:"runId"`
	Account string `json:"account"`
	Region  string `json:"region"`
	// Accounts are the organization's active accounts with their OU paths
	// (what enumerate-mode grants and the hub's upstream grant list).
	Accounts []desired.Account `json:"accounts"`
	// Repositories limits the run to repositories matching these names or
	// glob patterns; empty means all.
	Repositories []string `json:"repositories,omitempty"`
	DryRun       bool     `json:"dryRun,omitempty"`
	Sweep        bool     `json:"sweep,omitempty"`
	// Role marks the one region of a member in which its (global) IAM role
	// is converged.
	Role bool `json:"role,omitempty"`
	// Moved marks the unit an account move hands to the worker for the
	// moved account itself (moved.go): its account may be one the
	// declaration no longer configures, whose owned statements it removes.
	Moved bool `json:"moved,omitempty"`
	// Retired marks a backfill unit for a member the backfill's last full
	// run configured and the declaration configures nothing in now (an edit
	// removed its last grant, or no selector names it any more). Like a
	// moved-out unit it removes every statement ecr-warden owns in the
	// member's repository and registry policies (moved.go); its summary
	// says why (functions/backfill).
	Retired bool `json:"retired,omitempty"`
	// Enumerations limits the unit to the documents enumerating grants live
	// in (the registry policy, and the repositories an enumerating
	// repository grant's patterns match): an account event in another
	// account changes only those (moved.go), not the PTC rules or role.
	Enumerations bool `json:"enumerations,omitempty"`
	// RevokeOnly converges the unit's revocations only (Engine.RevokeOnly):
	// the backfill sends its units so when it was asked for a clean plan
	// and the plan refused documents.
	RevokeOnly bool `json:"revokeOnly,omitempty"`
	// Trigger and Actor are the cause of a unit an account event queued
	// (a move, or an enumeration in other members' registries, moved.go):
	// its records carry the event, and RunID is the event's id.
	Trigger *audit.Trigger `json:"trigger,omitempty"`
	Actor   *audit.Actor   `json:"actor,omitempty"`
	// Delay holds the unit back in the queue for that long (SQS allows up
	// to 15 minutes on a standard queue); it is how it is sent, not part of
	// the message. A move sends its units twice, the second time after
	// WorkFreshFor, so that it converges after any unit walked before the
	// move can still run on its old view (moved.go).
	Delay time.Duration `json:"-"`
	// WalkedAt is when the backfill read Accounts from the organization.
	// A unit converged long after that (an SQS retry an hour later, a
	// dead-letter queue redriven days later) reads the organization again
	// first (freshen), so it cannot grant an account that has left since.
	WalkedAt time.Time `json:"walkedAt,omitzero"`
	// After is the unit's cursor: its repositories whose names sort at or
	// before After were converged by an earlier try of this unit, which
	// stopped before its deadline and sent this one on (Report.Continue).
	// A try with a cursor reads the registry again and converges only the
	// repositories after it; the registry-level documents (PTC role, PTC
	// rules, registry policy) and ECR Public repositories belong to the
	// first try and the last one respectively. "" is a whole unit.
	After string `json:"after,omitempty"`
}

// WorkFreshFor is how long a unit's Accounts are trusted as the
// organization. A backfill's units normally run within minutes; the work
// queue's retries come an hour apart (its visibility timeout), and an
// account event that removed a departed account's grant in between must
// not be undone by a retry converging the old list.
const WorkFreshFor = 15 * time.Minute

// Cause is the audit cause of a backfill or sweep unit. The backfill's dry
// run and the worker both build it here, from the Work alone, so planned and
// applied records of the same change carry the same trigger.
func (w Work) Cause() Cause {
	if w.Trigger != nil {
		c := Cause{Trigger: *w.Trigger}
		if w.Actor != nil {
			c.Actor = *w.Actor
		}
		return c
	}
	if w.Sweep {
		return Cause{Trigger: audit.Trigger{EventID: w.RunID, EventType: "sweep", Source: trigger.SourceEventBridge},
			Actor: audit.Actor{Type: "AWSService", InvokedBy: "events.amazonaws.com"}}
	}
	return Cause{Trigger: audit.Trigger{EventID: w.RunID, EventType: "backfill", Source: "ecr-warden"},
		Actor: audit.Actor{Type: "invoker"}}
}

// Converge brings one account's registry in one region fully in line: the
// member's PTC role (when w.Role), PTC rules and registry policy, the hub's
// registry policy, every repository's policy, and (hub, us-east-1) ECR Public
// repositories. Each repository is read once (a listing page plus its
// policy); tags, when a grant matches on them, come from one paginated
// tag:GetResources query per tag grant, so a converged registry costs listing
// pages plus one read per repository, and no writes.
func (e *Engine) Converge(ctx context.Context, cause Cause, w Work) (Report, error) {
	start := time.Now()
	var rep Report
	walked := w.WalkedAt
	w, err := e.freshen(ctx, cause, w, start)
	if err != nil {
		return rep, errors.Join(err, e.summarize(ctx, cause, w, rep, time.Since(start), err, ""))
	}
	corrected := false
	if e.VerifyUnits && w.Account != e.Decl.Hub.AccountID && w.WalkedAt.Equal(walked) {
		// Not read again by freshen: the unit's entry for its own account
		// is checked against the organization before anything is planned.
		if w, corrected, err = e.verifyOwnAccount(ctx, cause, w); err != nil {
			return rep, errors.Join(err, e.summarize(ctx, cause, w, rep, time.Since(start), err, ""))
		}
	}
	ctx = WithPrincipalCache(ctx)
	ids := make([]string, 0, len(w.Accounts))
	for _, a := range w.Accounts {
		ids = append(ids, a.ID)
	}
	knownMembers(ctx, ids)
	x := e.WithDryRun(w.DryRun)
	x.RevokeOnly = x.RevokeOnly || w.RevokeOnly
	x.Exec.QuietNoops = true // counted in the unit's summary record instead
	state := desired.New(e.Decl, w.Accounts)
	var errs []error
	roleInUnit := w.Role && w.Account != e.Decl.Hub.AccountID && x.roleLeaseKey(w.Account) == lease.RegistryKey(w.Account, w.Region)
	if w.Account != e.Decl.Hub.AccountID {
		acct, ok := findAccount(w.Accounts, w.Account)
		if !ok || !state.ManagedMember(acct) {
			err := fmt.Errorf("converging %s/%s: account is not an active member of the organization", w.Account, w.Region)
			if w.Trigger != nil || !w.WalkedAt.Equal(walked) || ok || corrected {
				// An account event's unit whose account has left since, or
				// a unit whose organization, read again (a retry, a
				// redriven dead letter), no longer has the account as a
				// member: it can never succeed, and the departure is
				// converged by its own event. Settled, and said so in the
				// summary, instead of retried into the dead-letter queue.
				return rep, x.summarize(ctx, cause, w, rep, time.Since(start), fmt.Errorf("skipped, nothing converged: %w (it left after the walk or the event that queued this unit)", err), "")
			}
			return rep, err
		}
		if w.Role && !roleInUnit && w.After == "" {
			r, err := x.PTCRole(ctx, cause, state, w.Account)
			rep.Add(r)
			errs = append(errs, err)
		}
	}
	// The PTC rules, the registry policy and every repository policy, read
	// once each under the registry's lease and written in batches (with the
	// PTC role when its lease is this registry's).
	r, after, err := x.registryUnit(ctx, cause, state, w, roleInUnit)
	rep.Add(r)
	if why, ok := x.leftInPlace(state, w, err); ok {
		if rep.Changed > 0 {
			// The role went mid-unit (the retirement race): what it
			// converged first is no longer in place.
			why += fmt.Sprintf(" (except %d documents converged before the role went: their applied records name them; failed records name the writes cut by it)", rep.Changed)
		}
		x.log().Warn("unconfigured member's statements left in place", "account", w.Account, "region", w.Region, "why", why)
		if !w.DryRun {
			// A plan (the deploy's, under requireCleanPlan) only says it in
			// the summary: one member whose role is gone must not turn the
			// whole deploy into revocations only.
			rep.Refused++
			if err := x.recordLeftInPlace(ctx, cause, w, why); err != nil {
				return rep, err // the summary waits for the retry: the refusal is what the alarm sees
			}
		}
		return rep, x.summarize(ctx, cause, w, rep, time.Since(start), errors.New(why), "")
	}
	// The registry's own report decides: a PTC role converged before it
	// (global IAM) was read whatever the region's state.
	if why, ok := x.regionNotEnabled(w, r, err); ok {
		x.log().Warn("member region not enabled; unit left out", "account", w.Account, "region", w.Region, "why", why)
		return rep, x.summarize(ctx, cause, w, rep, time.Since(start), errors.New(why), "")
	}
	errs = append(errs, err)
	if after != "" {
		// Stopped before the deadline with the rest of the registry left:
		// the same unit goes on after the last repository converged, in
		// another try with a whole budget of its own (the worker sends it).
		// ECR Public repositories wait for the try that finishes. A try
		// that failed has no continuation: SQS delivers it again from its
		// own cursor.
		uerr := errors.Join(errs...)
		if uerr == nil {
			next := w
			next.After, next.Delay = after, 0
			rep.Continue = &next
		} else {
			uerr = fmt.Errorf("%w (stopped before the deadline after %s; SQS delivers the unit again from its own cursor)", uerr, after)
			after = ""
		}
		if err := x.summarize(ctx, cause, w, rep, time.Since(start), uerr, after); err != nil {
			return rep, errors.Join(uerr, err)
		}
		return rep, uerr
	}

	if w.Account == e.Decl.Hub.AccountID && w.Region == publicRegion && len(e.Decl.PublicRepositories) > 0 {
		r, err = x.publicRepositories(ctx, cause, w)
		rep.Add(r)
		errs = append(errs, err)
	}
	uerr := e.unassumable(w.Account, errors.Join(errs...))
	if err := x.summarize(ctx, cause, w, rep, time.Since(start), uerr, ""); err != nil {
		return rep, errors.Join(uerr, err)
	}
	return rep, uerr
}

// unassumable adds to a member's error, when STS refused to let the
// function assume the execution role there, what to do about it: AWS's
// refusal names the role but not where it comes from, and on the first
// day a member whose StackSet instance failed (a role of that name made
// by hand, an SCP denying iam:CreateRole) is among hundreds that converge.
// The one builder of that message, for a backfill or sweep unit and for an
// account event's member half alike. The error still fails what it
// failed, so SQS or Lambda retries it and the account converges once the
// role is there.
func (e *Engine) unassumable(account string, err error) error {
	if err == nil || account == e.Decl.Hub.AccountID || !awsapi.AssumeRoleDenied(err) {
		return err
	}
	return fmt.Errorf("%w; the execution role %s cannot be assumed in account %s: it does not exist there, or its trust does not admit this function's role. The member StackSet (%s, after the name prefix of an install that has one) creates it in the OUs the declaration selects: look at the account's stack instance for a failure (a role of that name made by hand, an SCP denying iam:CreateRole) or an account outside its targets; make doctor lists every configured member without it. For make plan before the install, pass a MEMBER_ROLE that exists in every member",
		err, e.Decl.MemberRoleName, account, install.MembersStackID)
}

// freshen replaces a stale unit's Accounts with the organization as it is
// now, recording why. A unit that carries only its own account is re-read
// alone, and so is a member's whose other accounts only enumerating grants
// use (those are walked again under the lease); the hub's gets the whole
// organization. A unit the backfill did not time (an account event's own,
// built from a walk just made) is used as it is.
func (e *Engine) freshen(ctx context.Context, cause Cause, w Work, now time.Time) (Work, error) {
	age := now.Sub(w.WalkedAt)
	stale := !w.WalkedAt.IsZero() && age > WorkFreshFor
	if !stale && !w.Moved && !w.Enumerations {
		return w, nil
	}
	if !stale && e.Org == nil {
		return w, nil // nothing to re-read with: the event's own view is used as it is
	}
	scope := inventory.WalkScope{All: true}
	// A member's documents that list accounts one by one are planned from
	// the organization walked under the registry's lease (registryUnit);
	// everything else of it depends on its own place alone.
	underLease := w.Account != e.Decl.Hub.AccountID && e.Decl.MembersEnumerateAccounts() && !w.DryRun && e.Org != nil
	if len(w.Accounts) <= 1 || underLease {
		if w.Account == e.Decl.Hub.AccountID {
			return w, nil // the hub alone: nothing of the organization to re-read
		}
		scope = inventory.WalkScope{AccountIDs: []string{w.Account}}
	}
	why := fmt.Sprintf("the unit's accounts were read from the organization at %s, %s before it ran (a retried or redriven message; trusted for %s); converging %s/%s from the organization as it is now",
		w.WalkedAt.UTC().Format(time.RFC3339), age.Round(time.Second), WorkFreshFor, w.Account, w.Region)
	if !stale {
		// Units of two moves of one account may run in either order (the
		// queue does not keep it), so each converges where the account is
		// when it runs, not where the event left it.
		why = fmt.Sprintf("an account event's unit reads the organization when it runs (a later event's unit may have run first); converging %s/%s from the organization as it is now", w.Account, w.Region)
	}
	rec := e.organizationRecord(cause, why)
	rec.DryRun = rec.DryRun || w.DryRun
	if err := e.Exec.Trail.Record(ctx, rec); err != nil {
		return w, err
	}
	if e.Org == nil {
		return w, fmt.Errorf("converging %s/%s: its accounts are %s old and the function cannot read the organization (no WARDEN_ORG_ROLE_ARN and not in the management account)", w.Account, w.Region, age.Round(time.Second))
	}
	walk, err := e.Org.Walk(ctx, scope)
	if err != nil {
		return w, fmt.Errorf("converging %s/%s: reading the organization again for a unit %s old: %w", w.Account, w.Region, age.Round(time.Second), err)
	}
	w.Accounts, w.WalkedAt = toDesiredAll(walk.Accounts), now
	return w, nil
}

func findAccount(accounts []desired.Account, id string) (desired.Account, bool) {
	for _, a := range accounts {
		if a.ID == id {
			return a, true
		}
	}
	return desired.Account{}, false
}

func matchesAny(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	return slices.ContainsFunc(patterns, func(p string) bool { return desired.MatchPattern(p, name) })
}

// taggedRepositories returns, keyed by ARN, every repository of the registry
// that some tag grant's tags select, with all its tags: one paginated
// tag:GetResources query per distinct tag grant instead of one
// ListTagsForResource per repository. Repositories it leaves out match no
// tag grant, which is all desired needs to know of their tags. nil when no
// grant of this registry matches on tags (no call at all).
func (e *Engine) taggedRepositories(ctx context.Context, state *desired.State, account, region string) (map[string]map[string]string, error) {
	queries := state.TagQueries(account)
	if len(queries) == 0 {
		return nil, nil
	}
	tg := inventory.NewTagging(e.Clients.Tagging(account, region), account, region)
	out := map[string]map[string]string{}
	for _, q := range queries {
		filters := make(map[string][]string, len(q))
		for k, v := range q {
			filters[k] = []string{v}
		}
		got, err := tg.TaggedRepositories(ctx, filters)
		if err != nil {
			return nil, err
		}
		maps.Copy(out, got)
	}
	return out, nil
}

// publicRepositories converges the hub's ECR Public repositories.
func (e *Engine) publicRepositories(ctx context.Context, cause Cause, w Work) (Report, error) {
	var rep Report
	pub := inventory.NewPublic(e.Clients.Public(w.Account), w.Account, inventory.RegistryOptions{})
	repos, _, err := pub.Repositories(ctx, nil)
	if err != nil {
		return rep, fmt.Errorf("listing public repositories of %s: %w", w.Account, err)
	}
	var errs []error
	for _, r := range repos {
		if !matchesAny(w.Repositories, r.Name) {
			continue
		}
		got, err := e.PublicRepository(ctx, cause, w.Account, r.Name, nil, nil)
		rep.Add(got)
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}
