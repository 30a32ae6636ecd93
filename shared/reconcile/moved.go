package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// An account that moves between OUs can change which grants its own
// registry holds (a grant's registries select OUs) in every repository, not
// only in its registry documents, and can leave what the declaration
// configures altogether. The account function converges the registry
// documents itself (Member); the repositories are handed to the worker as
// one unit per region (a registry may hold thousands, more than an account
// event's invocation should carry), marked Moved:
//
//   - moved within or into what the declaration configures, the unit gives
//     the repositories the grants the new OU path selects and takes away the
//     ones it no longer does;
//   - moved out of it (still an active member, but no grant, public grant or
//     pull-through cache selects it any more), the unit removes every
//     statement ecr-warden owns in the account's repository and registry
//     policies. Its pull-through-cache rules and role stay, as for a rule
//     that is no longer declared (only retiredPrefixes deletes rules: cached
//     images keep their prefix); the hub's grant to it is removed by the
//     account event itself, so the role can no longer pull from the hub.
//
// The member StackSet removes the execution role from an account that leaves
// its targets, on its own schedule. A unit that finds the role already gone
// (STS refuses AssumeRole) cannot clean up and says so in its summary record
// ("left in place"), instead of retrying into the dead-letter queue: the
// statements stay until someone with access to the account removes them.

// movedAccount converges what a move changes in the account's own
// repositories: the units go to the worker (Queue), or are converged here
// when the engine has no queue.
func (e *Engine) movedAccount(ctx context.Context, cause Cause, acct desired.Account) (Report, error) {
	var rep Report
	state := desired.New(e.Decl, []desired.Account{acct})
	if !state.ManagedMember(acct) {
		return rep, nil // the hub, the management account, or not active: nothing of its own is kept
	}
	accounts := []desired.Account{acct}
	if state.Configures(acct.ID) && e.Decl.EnumeratesAccounts() {
		// Enumerating grants in its registry list the accounts of whole OUs.
		if e.Org == nil {
			return rep, fmt.Errorf("converging the repositories of moved account %s: its grants enumerate accounts and this function cannot read the organization", acct.ID)
		}
		walk, err := e.Org.Walk(ctx, inventory.WalkScope{All: true})
		if err != nil {
			return rep, fmt.Errorf("converging the repositories of moved account %s: walking the organization: %w", acct.ID, err)
		}
		accounts = toDesiredAll(walk.Accounts)
	}
	now := time.Now()
	var units []Work
	for _, region := range e.accountRegions() {
		units = append(units, Work{RunID: cause.Trigger.EventID, Account: acct.ID, Region: region, Accounts: accounts, WalkedAt: now, Moved: true})
	}
	if e.Queue == nil {
		var errs []error
		for _, w := range units {
			r, err := e.Converge(ctx, cause, w)
			rep.Add(r)
			errs = append(errs, err)
		}
		return rep, errors.Join(errs...)
	}
	n, err := e.Queue.Send(ctx, units)
	if err != nil {
		return rep, fmt.Errorf("handing the repositories of moved account %s to the worker (%d of %d units sent): %w", acct.ID, n, len(units), err)
	}
	e.log().Info("moved account's repositories handed to the worker", "account", acct.ID, "ouPath", acct.OUPath, "units", n, "configured", state.Configures(acct.ID))
	return rep, nil
}

// leftInPlace turns a moved-out unit's failure to assume the execution role
// into its outcome: the role is gone (the StackSet removed it first), so
// nothing can be read or removed there and retrying cannot help. The unit's
// summary record says what was left and why.
func (e *Engine) leftInPlace(state *desired.State, w Work, err error) (string, bool) {
	if !w.Moved || w.Account == e.Decl.Hub.AccountID || state.Configures(w.Account) || !awsapi.AssumeRoleDenied(err) {
		return "", false
	}
	return fmt.Sprintf("left in place: account %s moved out of what the declaration configures, and its execution role %s can no longer be assumed (the member StackSet removes it from accounts it no longer targets), so the statements ecr-warden wrote in its %s repository and registry policies were not removed; remove them with access to the account (their Sids start with %q): %v",
		w.Account, e.Decl.MemberRoleName, w.Region, e.Decl.SidPrefix, err), true
}

// movedCause is the cause of a moved account's unit: the move event itself
// (its id is the unit's run id), so its records join the event's.
func movedCause(w Work) Cause {
	return Cause{Trigger: audit.Trigger{EventID: w.RunID, EventType: "AWS API Call via CloudTrail/MoveAccount", Source: trigger.SourceOrganizations},
		Actor: audit.Actor{Type: "AWSService", InvokedBy: "organizations.amazonaws.com"}}
}
