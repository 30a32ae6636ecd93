package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// An edit of the declaration can leave a member configured by nothing (its
// last grant removed, or no grant's registries, public grant or
// pull-through-cache selector naming it any more). The declaration then
// holds no trace of it, the selection skips it (it gets no execution role),
// and the statements ecr-warden wrote in its policies would keep granting.
// So each full run (every target: the sweep, the deploy-time backfill, a
// manual run over everything) remembers, per region, the members its units
// configured (shared/lease, remembered.go), and the next full run sends a
// retire unit (reconcile.Work.Retired) for each remembered member the
// declaration no longer configures and that is still an active member of
// the organization: like a moved-out account's unit, it removes every
// statement ecr-warden owns in the member's repository and registry
// policies (an account that left was handled by its departure). The set is
// replaced only after every unit of the run was sent, so a run that fails to
// send keeps the old set and the next run retires again; a dry run reads it,
// plans the retirements and writes nothing.

// rememberer keeps the members a full run configured (lease.Regional).
type rememberer interface {
	Remembered(ctx context.Context, region string) (lease.Remembered, error)
	Remember(ctx context.Context, region string, prev lease.Remembered, accounts []string) error
}

var _ rememberer = (*lease.Regional)(nil)

// fullRun reports whether a request converges every member it may: no
// accounts, OUs or repositories named. Only such a run knows which members
// the declaration configures, and which it no longer does.
func fullRun(t trigger.BackfillTargets) bool {
	return len(t.Accounts) == 0 && len(t.OUs) == 0 && len(t.Repositories) == 0
}

// configuredMembers are the members sel's units configure (the hub is not
// a member), sorted: what a full run remembers.
func configuredMembers(d *config.Declaration, sel selection) []string {
	out := slices.DeleteFunc(slices.Clone(sel.Accounts), func(id string) bool { return id == d.Hub.AccountID })
	slices.Sort(out)
	return out
}

// retireUnits are region's retire units: one for each member in remembered
// that the declaration configures nothing in now and that the walk shows as
// an active member (not the hub, not the management account). Each carries
// only its own account: nothing the unit converges names another.
func retireUnits(d *config.Declaration, req trigger.BackfillRequest, runID, region string, walk inventory.WalkResult, remembered []string) []reconcile.Work {
	byID := map[string]desired.Account{}
	context := make([]desired.Account, 0, len(walk.Accounts))
	for _, a := range walk.Accounts {
		da := desired.Account{ID: a.ID, Status: a.Status, OUPath: a.OUPath}
		byID[a.ID] = da
		context = append(context, da)
	}
	state := desired.New(d, context)
	var units []reconcile.Work
	for _, id := range remembered {
		a, ok := byID[id]
		if !ok || !state.ManagedMember(a) || state.Configures(id) {
			continue // left the organization or not active (its departure handled it), the hub or management account, or configured still
		}
		units = append(units, retireUnit(req, runID, region, a))
	}
	return units
}

// retireUnit is member a's retire unit in region: it carries only its own
// account, as nothing it converges names another. A full run sends one for
// each remembered member the declaration no longer configures; a run that
// names an unconfigured member's account sends one too, without the set:
// that is how a retire unit the work queue dead-lettered is run again (the
// queue takes no redrive, and the next full run no longer remembers it).
func retireUnit(req trigger.BackfillRequest, runID, region string, a desired.Account) reconcile.Work {
	return reconcile.Work{RunID: runID, Account: a.ID, Region: region, Accounts: []desired.Account{a},
		DryRun: req.DryRun, Sweep: req.Sweep, Retired: true}
}

// retirements adds to sel, for a full run, the retire units of every region
// the run covers, and names the regions whose remembered members were read
// (sel.Remember: the run replaces their sets once its units are sent). A
// region whose set cannot be read retires nothing and keeps its set; the
// error says which, and the run's other units go out regardless.
func (h *handler) retirements(ctx context.Context, req trigger.BackfillRequest, runID string, walk inventory.WalkResult, sel *selection) error {
	if h.members == nil || !fullRun(req.Targets) {
		return nil
	}
	sel.Configured = configuredMembers(h.decl, *sel)
	// A remembered member the organization holds in another state than
	// ACTIVE (SUSPENDED, PENDING_CLOSURE) is neither retired nor configured
	// now, and is kept: an account reopened after an edit that leaves it
	// configured by nothing is retired by the run that sees it active.
	// Forgotten, its statements would keep granting once it is reopened.
	inactive := map[string]bool{}
	for _, a := range walk.Skipped {
		inactive[a.ID] = true
	}
	sel.Kept = map[string][]string{}
	var errs []error
	retired := map[string]bool{}
	for _, region := range sel.Regions {
		r, err := h.members.Remembered(ctx, region)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sel.Remember = append(sel.Remember, region)
		if sel.Read == nil {
			sel.Read = map[string]lease.Remembered{}
		}
		sel.Read[region] = r
		for _, id := range r.Accounts {
			if inactive[id] {
				sel.Kept[region] = append(sel.Kept[region], id)
			}
		}
		for _, u := range retireUnits(h.decl, req, runID, region, walk, r.Accounts) {
			sel.Units = append(sel.Units, u)
			if !retired[u.Account] {
				retired[u.Account] = true
				sel.Retired = append(sel.Retired, u.Account)
			}
		}
	}
	// A retired member is not "skipped": its unit removes what ecr-warden
	// wrote there.
	sel.Skipped = slices.DeleteFunc(sel.Skipped, func(s skipped) bool { return retired[s.Account] })
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("members the declaration no longer configures were not retired in the regions whose remembered members could not be read (their sets are kept; the next full run retires them): %w", err)
	}
	return nil
}

// remember replaces the remembered members of the regions whose sets the
// run read, after every unit was sent: the members the run configured, and
// the remembered ones it kept (sel.Kept).
func (h *handler) remember(ctx context.Context, sel selection) error {
	var errs []error
	for _, region := range sel.Remember {
		ids := slices.Compact(slices.Sorted(slices.Values(slices.Concat(sel.Configured, sel.Kept[region]))))
		errs = append(errs, h.members.Remember(ctx, region, sel.Read[region], ids))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("every unit was queued, but remembering the %d configured members failed (the next full run retires against the set it finds): %w", len(sel.Configured), err)
	}
	return nil
}
