package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
)

// What an account event changes beyond the hub and the account's own
// registry documents, handed to the worker as units (one account in one
// region; a registry may hold thousands of repositories, more than an
// account event's invocation should carry, and the worker retries and
// dead-letters a unit alone):
//
//   - A move can change which grants the account's own repositories hold (a
//     grant's registries select OUs), and can take the account out of what
//     the declaration configures altogether. Its units are marked Moved.
//     Moved within or into what the declaration configures, the unit gives
//     its repositories the grants the new OU path selects and takes away the
//     ones it no longer does; moved out of it (still an active member, but no
//     grant, public grant or pull-through cache selects it), the unit removes
//     every statement ecr-warden owns in its repository and registry
//     policies. Its pull-through-cache rules and role stay, as for a rule
//     that is no longer declared (only retiredPrefixes deletes rules: cached
//     images keep their prefix); the hub's grant to it is removed by the
//     account event itself, so the role can no longer pull from the hub.
//   - A grant placed in member registries that enumerates accounts (the
//     organization's or an OU's, principalMode enumerate) names every such
//     account in every member registry it selects: a join, move or departure
//     changes those documents in the other members too. Each is converged
//     from a walk of the organization.
//
// The member StackSet removes the execution role from an account that leaves
// its targets, on its own schedule. A moved-out unit that finds the role
// already gone (STS refuses AssumeRole) cannot clean up and says so in its
// summary record ("left in place"), instead of retrying into the dead-letter
// queue: the statements stay until someone with access to the account
// removes them.

// organizationFor is the walked organization when grants placed in member
// registries enumerate accounts (nil otherwise): the member's own documents
// and the other members' enumerating statements are rendered from it. The
// event's account is kept in it as the event verified it, whatever a walk
// made moments later still lists.
func (e *Engine) organizationFor(ctx context.Context, acct desired.Account) ([]desired.Account, error) {
	if !e.Decl.MembersEnumerateAccounts() {
		return nil, nil
	}
	if e.Org == nil {
		return nil, fmt.Errorf("account %s: grants in member registries enumerate accounts, and this function cannot read the organization", acct.ID)
	}
	walk, err := e.Org.Walk(ctx, inventory.WalkScope{All: true})
	if err != nil {
		return nil, fmt.Errorf("account %s: walking the organization for the grants that enumerate accounts in member registries: %w", acct.ID, err)
	}
	if acct.ID == e.Decl.Hub.AccountID {
		return toDesiredAll(walk.Accounts), nil // the hub's own entry has no OU path to trust over the walk's
	}
	org := make([]desired.Account, 0, len(walk.Accounts)+1)
	for _, a := range toDesiredAll(walk.Accounts) {
		if a.ID != acct.ID {
			org = append(org, a)
		}
	}
	if acct.Active() {
		org = append(org, acct)
	}
	return org, nil
}

// movedMatters reports whether a move can have changed anything in the
// account's own registry: the declaration configures it now, or configured
// it where it came from (its former parent's path, read from the event's
// sourceParentId). A move between parts of the organization the declaration
// configures nothing in hands nothing to the worker, which could not assume a
// role the member StackSet never deployed there. When the former place
// cannot be read, the move is taken to matter.
func (e *Engine) movedMatters(ctx context.Context, acct desired.Account, sourceParent string) bool {
	if desired.New(e.Decl, []desired.Account{acct}).Configures(acct.ID) || e.Org == nil || sourceParent == "" {
		return true
	}
	path, err := e.Org.ParentPath(ctx, sourceParent)
	if err != nil {
		e.log().Warn("cannot read a moved account's former place; converging its registry anyway", "account", acct.ID, "sourceParentId", sourceParent, "error", err.Error())
		return true
	}
	before := acct
	before.OUPath = path
	if desired.New(e.Decl, []desired.Account{before}).Configures(acct.ID) {
		return true
	}
	e.log().Info("account moved between parts of the organization the declaration configures nothing in; nothing of its own to converge", "account", acct.ID, "from", path, "to", acct.OUPath)
	return false
}

// movedAccount hands the moved account's registry in each region to the
// worker, with org as its context, or the account alone when no grant in
// member registries enumerates (nothing there depends on other accounts).
func (e *Engine) movedAccount(ctx context.Context, cause Cause, acct desired.Account, org []desired.Account) (Report, error) {
	state := desired.New(e.Decl, []desired.Account{acct})
	if !state.ManagedMember(acct) {
		return Report{}, nil // the hub, the management account, or not active: nothing of its own is kept
	}
	accounts := org // its own documents enumerate accounts
	if accounts == nil {
		accounts = []desired.Account{acct}
	}
	units := e.eventUnits(cause, acct.ID, accounts)
	for i := range units {
		units[i].Moved = true
	}
	// A backfill or sweep unit of this account walked before the move may
	// still run on its old view for up to WorkFreshFor (units trust their
	// walk that long, and a standard queue keeps no order): it would put
	// back what the move changed, until the next sweep. The same units
	// sent again WorkFreshFor later run after every such unit, and read the
	// account's place again as any moved unit does.
	for _, u := range units[:len(units):len(units)] {
		u.Delay = WorkFreshFor
		units = append(units, u)
	}
	return e.handOver(ctx, cause, units, "moved account "+acct.ID)
}

// enumeratedMembers hands to the worker every other member registry an
// enumerating grant lives in, converged from org.
func (e *Engine) enumeratedMembers(ctx context.Context, cause Cause, subject string, org []desired.Account) (Report, error) {
	if org == nil {
		return Report{}, nil
	}
	state := desired.New(e.Decl, org)
	var units []Work
	for _, a := range org {
		if a.ID == subject || !state.ManagedMember(a) || !state.Configures(a.ID) || !state.Enumerated(a.ID) {
			continue
		}
		for _, u := range e.eventUnits(cause, a.ID, org) {
			u.Enumerations = true
			units = append(units, u)
		}
	}
	return e.handOver(ctx, cause, units, fmt.Sprintf("the member registries whose grants enumerate accounts (after an event of %s)", subject))
}

// eventUnits are an account event's units of one account, one per region
// the engine converges, carrying the event as their cause.
func (e *Engine) eventUnits(cause Cause, account string, accounts []desired.Account) []Work {
	now := time.Now()
	var units []Work
	for _, region := range e.accountRegions() {
		units = append(units, eventUnit(cause, account, region, accounts, now))
	}
	return units
}

// eventUnit is one unit an event hands to the worker: its run id is the
// event's id and its records carry the event as their cause.
func eventUnit(cause Cause, account, region string, accounts []desired.Account, walked time.Time) Work {
	tr, actor := cause.Trigger, cause.Actor
	return Work{RunID: cause.Trigger.EventID, Account: account, Region: region, Accounts: accounts, WalkedAt: walked, Trigger: &tr, Actor: &actor}
}

// handOver sends units to the worker, or converges them here when the
// engine has no queue.
func (e *Engine) handOver(ctx context.Context, cause Cause, units []Work, what string) (Report, error) {
	var rep Report
	if len(units) == 0 {
		return rep, nil
	}
	if e.Queue == nil {
		var errs []error
		for _, w := range units {
			if w.Delay > 0 {
				continue // follows queued units; without a queue there are none
			}
			r, err := e.Converge(ctx, cause, w)
			rep.Add(r)
			errs = append(errs, err)
		}
		return rep, errors.Join(errs...)
	}
	n, err := e.Queue.Send(ctx, units)
	if err != nil {
		return rep, fmt.Errorf("handing %s to the worker (%d of %d units sent): %w", what, n, len(units), err)
	}
	e.log().Info("handed to the worker", "what", what, "units", n)
	return rep, nil
}

// leftInPlace turns the failure to assume the execution role of a unit
// that converges a member to nothing configured (moved out, or retired)
// into its outcome: the role is gone (the StackSet removed it first), so
// nothing can be read or removed there and retrying cannot help. The unit's
// summary record says what was left and why.
func (e *Engine) leftInPlace(state *desired.State, w Work, err error) (string, bool) {
	why, ok := e.unconfigured(state, w)
	if !ok || !awsapi.AssumeRoleDenied(err) {
		return "", false
	}
	return fmt.Sprintf("left in place: account %s %s, and its execution role %s can no longer be assumed (the member StackSet removes it from accounts it no longer targets), so the statements ecr-warden wrote in its %s repository and registry policies were not removed; remove them with access to the account (their Sids start with %q): %v",
		w.Account, why, e.Decl.MemberRoleName, w.Region, e.Decl.SidPrefix, err), true
}

// recordLeftInPlace records the statements a unit left in place (leftInPlace's
// why) as refused for the member's registry, reason left-in-place: they still
// grant what the declaration no longer grants, and nothing will remove them
// (the unit is not retried), so the refused alarm, its saved query and
// `make audit -decision refused` must see them; the unit's summary alone is
// watched by no alarm. Not for a dry run, whose summary says it.
func (e *Engine) recordLeftInPlace(ctx context.Context, cause Cause, w Work, why string) error {
	return e.Exec.Trail.Record(ctx, audit.Record{Decision: audit.DecisionRefused, Op: "none", Trigger: cause.Trigger, Actor: cause.Actor,
		Target: registryResource(e.Decl.Hub.Partition, w.Account, w.Region),
		Error:  "left-in-place: " + strings.TrimPrefix(why, "left in place: ")})
}

// unconfigured says why a unit converges a member the declaration
// configures nothing in (false for any other unit): a move took it out of
// everything configured, or the declaration stopped configuring it since
// the backfill's last full run (Work.Retired).
func (e *Engine) unconfigured(state *desired.State, w Work) (string, bool) {
	if (!w.Moved && !w.Retired) || w.Account == e.Decl.Hub.AccountID || state.Configures(w.Account) {
		return "", false
	}
	if w.Moved {
		return "moved out of what the declaration configures", true
	}
	return "is no longer configured by the declaration (the backfill's last full run configured it; no grant, public grant or pull-through-cache selector names it now)", true
}
