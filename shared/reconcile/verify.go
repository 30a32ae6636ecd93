package reconcile

import (
	"context"
	"fmt"
	"slices"

	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
)

// verifyOwnAccount reads a member unit's own account from the organization
// (one DescribeAccount, whose Account.Paths carries the OU path; without it
// the path is climbed with ListParents, see README "Unverified") and
// converges the unit with that entry in place of the one it carried
// (Engine.VerifyUnits).
//
// The entry is the one part of a unit that nothing else re-reads: documents
// that list accounts one by one are planned from a walk under the lease
// (organizationUnderLease), and condition-mode grants are judged by AWS
// against the organization itself, but the member's own place (its OU path,
// whether it is a member at all) selects its own grants, PTC rules and role.
// A unit handed to the worker directly, or walked before its account moved
// or left, would otherwise configure the account where the unit says it is.
// A correction is audited as an organization-walk record naming both
// entries; the result says whether the entry changed. An account the
// organization no longer has active is dropped from the unit's accounts, and
// Converge settles the unit as skipped (its departure is its own event's).
func (e *Engine) verifyOwnAccount(ctx context.Context, cause Cause, w Work) (Work, bool, error) {
	if e.Org == nil {
		return w, false, fmt.Errorf("converging %s/%s: the unit's entry for its account cannot be checked: the function cannot read the organization (no WARDEN_ORG_ROLE_ARN and not in the management account)", w.Account, w.Region)
	}
	now, err := e.accountInfo(ctx, w.Account)
	if err != nil {
		return w, false, fmt.Errorf("converging %s/%s: the unit's account: %w", w.Account, w.Region, err)
	}
	held, had := findAccount(w.Accounts, w.Account)
	active := now.Active()
	if had == active && (!had || (held.OUPath == now.OUPath && held.Active())) {
		return w, false, nil
	}
	accounts := slices.DeleteFunc(slices.Clone(w.Accounts), func(a desired.Account) bool { return a.ID == w.Account })
	if active {
		accounts = append(accounts, now)
	}
	why := fmt.Sprintf("the unit's entry for its account %s (%s) is not the organization's (%s); converging %s/%s as the organization has it",
		w.Account, describeEntry(held, had), describeEntry(now, now.Status != inventory.NotInOrganization), w.Account, w.Region)
	rec := e.organizationRecord(cause, why)
	rec.DryRun = rec.DryRun || w.DryRun
	if err := e.Exec.Trail.Record(ctx, rec); err != nil {
		return w, false, err
	}
	e.log().Warn("unit's account entry corrected from the organization", "account", w.Account, "region", w.Region, "why", why)
	w.Accounts = accounts
	return w, true, nil
}

// describeEntry says where an account entry places it, for the audit.
func describeEntry(a desired.Account, ok bool) string {
	switch {
	case !ok:
		return "not an active member"
	case !a.Active():
		return "status " + a.Status
	}
	return "OU path " + a.OUPath
}
