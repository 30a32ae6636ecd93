package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// Account converges everything one organization event concerns: the member's
// own pull-through-cache setup (when it is, or stays, a member) and the hub's
// grants to it (added, moved or removed). It reads the account's OU path with
// a number of Organizations calls bounded by the OU depth.
func (e *Engine) Account(ctx context.Context, t trigger.Target) (Report, error) {
	ctx = WithPrincipalCache(ctx)
	cause := CauseOf(t)
	// Before anything is written: walks kept for later holds (OrgViews) are
	// no longer current once this event may have changed what they list.
	if e.Views != nil && (e.Decl.EnumeratesAccounts() || e.Decl.HubEnumeratesAccounts()) {
		if err := e.Views.organizationChanged(ctx, e.accountRegions()); err != nil {
			return Report{}, err
		}
	}
	if t.Kind == trigger.KindOrganization {
		return e.OrganizationChanged(ctx, cause, t.Unresolved)
	}
	var rep Report
	departed := t.Kind == trigger.KindAccountDeparted
	present := !departed
	acct := desired.Account{ID: t.AccountID}
	// A departure is verified against Organizations like a join: events
	// arrive late, twice and out of order, so an account that left and
	// re-joined must not lose its grants to the stale departure, and a late
	// join of an account that has since left must not bring them back. The
	// organization's current state decides. (Without organization access a
	// departure is taken at its word.)
	if present || e.Org != nil {
		a, err := e.accountInfo(ctx, t.AccountID)
		if err != nil {
			return rep, err
		}
		acct = a
		switch {
		case departed && acct.Active():
			e.log().Info("departure event for an account that is in the organization and active (stale or duplicated event); it keeps its grants", "account", acct.ID, "ouPath", acct.OUPath)
			present = true
		case !departed && !acct.Active():
			// Suspended, closing, or already gone: treat as departed for the
			// hub, and never try to configure it.
			e.log().Info("account is not active in the organization; removing its hub grants", "account", acct.ID, "status", acct.Status)
			present = false
		}
	}
	org, err := e.organizationFor(ctx, acct)
	if err != nil {
		// The hub's half (a departed account's grants above all) does not
		// wait for the walk; the member documents that need it are retried
		// with the event.
		r, herr := e.HubForAccount(ctx, cause, acct, present)
		rep.Add(r)
		return rep, errors.Join(err, herr)
	}
	var errs []error
	if present {
		r, err := e.joined(ctx, cause, acct, org)
		rep.Add(r)
		errs = append(errs, err)
	} else {
		r, err := e.HubForAccount(ctx, cause, acct, false)
		rep.Add(r)
		errs = append(errs, err)
	}
	if present && t.Kind == trigger.KindAccountMoved && e.movedMatters(ctx, acct, t.SourceParentID) {
		r, err := e.movedAccount(ctx, cause, acct, org)
		rep.Add(r)
		errs = append(errs, err)
	}
	r, err := e.enumeratedMembers(ctx, cause, acct.ID, org)
	rep.Add(r)
	errs = append(errs, err)
	return rep, errors.Join(errs...)
}

// Member converges one member account: the PTC role (IAM is global, so once:
// by the first region's function), its PTC rules and its registry policy in
// the engine's region (every region when it has none). org is the walked
// organization when grants in member registries enumerate accounts (nil:
// the account alone is all its documents depend on).
func (e *Engine) Member(ctx context.Context, cause Cause, acct desired.Account, org []desired.Account) (Report, error) {
	var rep Report
	accounts := org
	if accounts == nil {
		accounts = []desired.Account{acct}
	}
	state := desired.New(e.Decl, accounts)
	if !state.ManagedMember(acct) || !state.Configures(acct.ID) {
		// Nothing of the declaration lives in this account, and the member
		// StackSet does not deploy the execution role there.
		return rep, nil
	}
	roleHere := e.convergesGlobal()
	var errs []error
	for _, region := range e.accountRegions() {
		// The PTC role (in the first hub region), the PTC rules and the
		// registry policy under one hold of the registry's lease, each read
		// once, their intents stored together, the role written first.
		withRole := roleHere && region == e.Decl.Hub.Regions[0]
		r, err := e.heldDocuments(ctx, cause, state, lease.RegistryKey(acct.ID, region), func(ctx context.Context) ([]apply.HeldChange, error) {
			if !withRole {
				return e.registryDocuments(ctx, cause, state, acct.ID, region), nil
			}
			// The role is read first: a PTC role left out refuses the rules naming it.
			role := e.ptcRoleDocuments(ctx, cause, state, acct.ID)
			return append(role, afterRole(role, e.registryDocuments(ctx, cause, state, acct.ID, region))...), nil
		})
		rep.Add(r)
		errs = append(errs, err)
	}
	return rep, e.unassumable(acct.ID, errors.Join(errs...))
}

// HubForAccount brings the hub's registry policy (and repository policies of
// enumerating repository grants) in line with one account's membership. In
// condition mode nothing in the hub names the account, so nothing is written
// and the audit trail says why.
func (e *Engine) HubForAccount(ctx context.Context, cause Cause, acct desired.Account, present bool) (Report, error) {
	var rep Report
	if !e.Decl.HubEnumeratesAccounts() {
		rec := audit.Record{Decision: audit.DecisionNoop, Op: "none", Trigger: cause.Trigger, Actor: cause.Actor,
			Target: hubGrantResource(e.Decl.Hub.Partition, acct.ID),
			Error:  "condition mode: the hub grants the organization through aws:PrincipalOrgID / aws:PrincipalOrgPaths conditions, so no hub policy names this account and nothing changes in the hub"}
		if err := e.Exec.Trail.Record(ctx, rec); err != nil {
			return rep, err
		}
		rep.Examined++
		rep.Unchanged++
		return rep, nil
	}
	// The hub's registry policy (and the repository policies whose grants
	// enumerate accounts) follow the account, coalesced with concurrent
	// account events through the policy's mailbox (hubmailbox.go).
	var errs []error
	for _, region := range e.accountRegions() {
		r, err := e.hubRegistryForAccount(ctx, cause, region, acct, present)
		rep.Add(r)
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

// accountInfo reads one account's OU path (a few calls, bounded by OU depth),
// or returns the bare id when there is no organization access.
func (e *Engine) accountInfo(ctx context.Context, id string) (desired.Account, error) {
	if id == e.Decl.Hub.AccountID {
		return desired.Account{ID: id, Status: "ACTIVE"}, nil
	}
	if e.Org == nil {
		return e.presumedMember(id), nil
	}
	a, err := e.Org.Account(ctx, id)
	if err != nil {
		return desired.Account{}, fmt.Errorf("reading account %s from the organization: %w", id, err)
	}
	return toDesired(a), nil
}

// presumedMember is an account whose organization details were not read:
// ACTIVE and in the organization, at an OU path that is the organization
// alone, so it matches no OU. desired.Account.Active requires an OU path;
// without one every member repository would lose its allMembers grants.
func (e *Engine) presumedMember(id string) desired.Account {
	return desired.Account{ID: id, Status: "ACTIVE", OUPath: e.Decl.Hub.OrganizationID + "/"}
}

// organizationRecord is the audit record of a decision to walk the
// organization instead of trusting what the trigger said, and why.
func (e *Engine) organizationRecord(cause Cause, why string) audit.Record {
	hub := e.Decl.Hub
	return audit.Record{Decision: audit.DecisionOrganizationWalk, Op: "walk", Trigger: cause.Trigger, Actor: cause.Actor,
		Target: audit.Target{ARN: "arn:" + hub.Partition + ":organizations::" + hub.ManagementAccountID + ":organization/" + hub.OrganizationID,
			AccountID: hub.ManagementAccountID, Kind: "Organization", Name: hub.OrganizationID},
		Error: why, DryRun: e.Exec.DryRun}
}

func toDesired(a inventory.Account) desired.Account {
	return desired.Account{ID: a.ID, Name: a.Name, Status: a.Status, OUPath: a.OUPath}
}

func toDesiredAll(in []inventory.Account) []desired.Account {
	out := make([]desired.Account, len(in))
	for i, a := range in {
		out[i] = toDesired(a)
	}
	return out
}

// accountRegions are the hub regions an account event converges here. Every
// hub region's account function receives each Organizations and Control
// Tower event (the management stack forwards them to every hub bus), so each
// converges only its own region's documents: one event, one write per
// document. An engine without a region (tests, tools) converges them all.
func (e *Engine) accountRegions() []string {
	if e.Region != "" && slices.Contains(e.Decl.Hub.Regions, e.Region) {
		return []string{e.Region}
	}
	return e.Decl.Hub.Regions
}

// convergesGlobal reports whether this engine converges the global (IAM)
// documents of an account event: the function in the declaration's first
// region does, the others leave them alone.
func (e *Engine) convergesGlobal() bool {
	regions := e.accountRegions()
	return len(regions) != 1 || regions[0] == e.Decl.Hub.Regions[0]
}

// OrganizationChanged handles an Organizations or Control Tower event whose
// subject account could not be read (AWS has not published every such
// event's JSON, and a shape ecr-warden does not know must not lose the
// event): the hub's grants in this engine's region(s) are converged from a
// walk of the whole organization, the unit of work the sweep runs for the
// hub, and the audit trail records why. A new member's own setup follows
// from its other events (CreateAccountResult, Control Tower) or the sweep.
func (e *Engine) OrganizationChanged(ctx context.Context, cause Cause, why string) (Report, error) {
	var rep Report
	hub := e.Decl.Hub
	rec := e.organizationRecord(cause, "the event names no account ecr-warden can read ("+why+"); converging the hub's grants from a walk of the organization instead")
	if err := e.Exec.Trail.Record(ctx, rec); err != nil {
		return rep, err
	}
	if e.Org == nil {
		return rep, errors.New("converging the hub after an unreadable organization event: the function cannot read the organization (no WARDEN_ORG_ROLE_ARN and not in the management account)")
	}
	walk, err := e.Org.Walk(ctx, inventory.WalkScope{All: true})
	if err != nil {
		return rep, fmt.Errorf("walking the organization after an unreadable organization event: %w", err)
	}
	accounts := toDesiredAll(walk.Accounts)
	var errs []error
	for _, region := range e.accountRegions() {
		r, err := e.Converge(ctx, cause, Work{Account: hub.AccountID, Region: region, Accounts: accounts})
		rep.Add(r)
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}
