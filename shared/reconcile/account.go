package reconcile

import (
	"context"
	"errors"
	"fmt"

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
	cause := CauseOf(t)
	var rep Report
	present := t.Kind != trigger.KindAccountDeparted
	acct := desired.Account{ID: t.AccountID}
	if present {
		a, err := e.accountInfo(ctx, t.AccountID)
		if err != nil {
			return rep, err
		}
		acct = a
		if !acct.Active() {
			// Suspended, closing, or already gone: treat as departed for the
			// hub, and never try to configure it.
			e.log().Info("account is not active in the organization; removing its hub grants", "account", acct.ID, "status", acct.Status)
			present = false
		}
	}
	if present {
		r, err := e.Member(ctx, cause, acct)
		rep.Add(r)
		if err != nil {
			return rep, err
		}
	}
	r, err := e.HubForAccount(ctx, cause, acct, present)
	rep.Add(r)
	return rep, err
}

// Member converges one member account: the PTC role (IAM is global, so once),
// then in every hub region its PTC rules and its registry policy.
func (e *Engine) Member(ctx context.Context, cause Cause, acct desired.Account) (Report, error) {
	var rep Report
	state := desired.New(e.Decl, []desired.Account{acct})
	if !state.ManagedMember(acct) || !state.Configures(acct.ID) {
		// Nothing of the declaration lives in this account, and the member
		// StackSet does not deploy the execution role there.
		return rep, nil
	}
	r, err := e.PTCRole(ctx, cause, state, acct.ID)
	rep.Add(r)
	if err != nil {
		return rep, err
	}
	var errs []error
	for _, region := range e.Decl.Hub.Regions {
		// The PTC rules and the registry policy under one hold of the
		// registry's lease, read once, their intents stored together.
		r, err := e.heldDocuments(ctx, lease.RegistryKey(acct.ID, region), func(ctx context.Context) ([]apply.HeldChange, error) {
			return e.registryDocuments(ctx, cause, state, acct.ID, region)
		})
		rep.Add(r)
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
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
	for _, region := range e.Decl.Hub.Regions {
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
