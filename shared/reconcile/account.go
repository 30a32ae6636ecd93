package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/policy"
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
		r, err := e.PTCRules(ctx, cause, state, acct.ID, region)
		rep.Add(r)
		errs = append(errs, err)
		r, err = e.Registry(ctx, cause, state, acct.ID, region)
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
	hub := e.Decl.Hub.AccountID
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
	var errs []error
	for _, region := range e.Decl.Hub.Regions {
		s := e.registryStep(cause, hub, region, func(_ context.Context, current string) ([]policy.Statement, error) {
			owned, err := policy.OwnedOf(current, e.Decl.SidPrefix)
			if err != nil {
				return nil, err
			}
			return desired.Incremental(e.Decl, func(s *desired.State) []policy.Statement { return s.RegistryStatements(hub, region) }, owned, acct, present), nil
		})
		if e.Org != nil {
			// When the write lost its lease, or AWS no longer holds what the
			// last applied write wrote, the document is no base for adding
			// or removing one account: render it from the organization.
			s.FullPlan = e.registryStep(cause, hub, region, func(ctx context.Context, _ string) ([]policy.Statement, error) {
				res, err := e.Org.Walk(ctx, inventory.WalkScope{All: true})
				if err != nil {
					return nil, fmt.Errorf("walking the organization for the full hub registry policy: %w", err)
				}
				return desired.New(e.Decl, toDesiredAll(res.Accounts)).RegistryStatements(hub, region), nil
			}).Plan
		}
		errs = append(errs, e.run(ctx, &rep, s))
		if e.Decl.HubRepositoriesEnumerateAccounts() {
			r, err := e.hubRepositoriesForAccount(ctx, cause, region, acct, present)
			rep.Add(r)
			errs = append(errs, err)
		}
	}
	return rep, errors.Join(errs...)
}

// hubRepositoriesForAccount updates the hub repositories whose enumerating
// repository grants name (or must stop naming) the account.
func (e *Engine) hubRepositoriesForAccount(ctx context.Context, cause Cause, region string, acct desired.Account, present bool) (Report, error) {
	var rep Report
	hub := e.Decl.Hub.AccountID
	reg := inventory.NewRegistry(e.Clients.ECR(hub, region), hub, region, inventory.RegistryOptions{})
	snap, err := reg.Snapshot(ctx, inventory.SnapshotOptions{Tags: e.Decl.HasRepositoryTagGrants()})
	if err != nil {
		return rep, fmt.Errorf("reading hub repositories in %s: %w", region, err)
	}
	var errs []error
	for _, rs := range snap.Repositories {
		if rs.Err != nil {
			rep.Failed++
			errs = append(errs, rs.Err)
			continue
		}
		repo := desired.Repository{Account: hub, Region: region, Name: rs.Name, Tags: rs.Tags}
		// The statements are computed from the policy each read returns (the
		// snapshot's copy may be stale by the time the lease is held), so
		// concurrent account events each add their own principal.
		errs = append(errs, e.run(ctx, &rep, e.repositoryStepFrom(cause, reg, repo, func(current string) ([]policy.Statement, error) {
			owned, err := policy.OwnedOf(current, e.Decl.SidPrefix)
			if err != nil {
				return nil, err
			}
			return desired.Incremental(e.Decl, func(s *desired.State) []policy.Statement { return s.RepositoryStatements(repo) }, owned, acct, present), nil
		})))
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
