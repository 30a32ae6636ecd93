package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// Outcome is what converging one trigger target did.
type Outcome struct {
	// Resource is what the target names, as the audit trail names it: the
	// document, or the account of an organization event.
	Resource audit.Target
	// Ignored says why nothing was converged (ecr-warden's own write, a role
	// or an account ecr-warden keeps nothing in); a noop record says so too.
	Ignored string
	Report
}

// Reconcile is the one entry point for an event: it converges what a parsed
// trigger target names. A repository (created, tagged, its policy edited),
// an ECR Public repository, a registry policy, a registry's PTC rules or the
// PTC role is re-read and converged from the whole declaration; an account
// event converges that account's member setup and the hub's grants to it.
// The creation of a role the declaration names as a principal converges every
// document that names it; the creation of ecr-warden's execution role in a
// member hands that member's units to the worker (rolecreated.go). An event caused by ecr-warden
// itself (Self), another role, or an account ecr-warden keeps nothing in is
// recorded as ignored.
func (e *Engine) Reconcile(ctx context.Context, t trigger.Target) (Outcome, error) {
	var out Outcome
	ctx = WithPrincipalCache(ctx)
	out.Resource, _ = Resource(e.Decl.Hub.Partition, t)
	cause := CauseOf(t)
	if e.Self.Recognises(t.Trigger.Actor, t.AccountID) {
		// ecr-warden's own write came back as an event: converging again
		// would find nothing to do at best and loop at worst.
		return e.ignore(ctx, cause, out, fmt.Sprintf("own write: %s (issuer %s) is a session of ecr-warden's own role in account %s; nothing to re-converge", t.Trigger.Actor.String(), t.Trigger.Actor.SessionIssuerARN, t.AccountID))
	}
	var err error
	switch t.Kind {
	case trigger.KindRepository, trigger.KindPublicRepository:
		// A member whose execution role STS refuses: AWS's answer, then
		// what to do about the role (unassumable), as for an account
		// event or a backfill unit.
		out, err = e.repositoryEvent(ctx, cause, t, out)
		return out, e.unassumable(t.AccountID, err)
	case trigger.KindAccount, trigger.KindAccountMoved, trigger.KindAccountDeparted, trigger.KindOrganization:
		out.Report, err = e.Account(ctx, t)
	case trigger.KindRegistryPolicy, trigger.KindPTCRule, trigger.KindRole:
		out, err = e.registryDocument(ctx, cause, t, out)
		return out, e.unassumable(t.AccountID, err)
	default:
		err = fmt.Errorf("a %s target is not converged by one event (a backfill fans out into units)", t.Kind)
	}
	return out, err
}

// repositoryEvent converges the one private or ECR Public repository an event
// names. An account ecr-warden keeps nothing in (the management account, an
// account outside the organization or not active, a member the declaration
// configures nothing in) is recorded as ignored before any call into it: it
// has no execution role, so assuming it would only fail, and retrying would
// fail the same way. The check is managedReason's, as for registry-level
// documents; it costs one DescribeAccount for a member (none for the hub).
func (e *Engine) repositoryEvent(ctx context.Context, cause Cause, t trigger.Target, out Outcome) (Outcome, error) {
	self, err := e.accountInfo(ctx, t.AccountID)
	if err != nil {
		return out, err
	}
	if t.AccountID != e.Decl.Hub.AccountID {
		if why := e.unmanagedReason(desired.New(e.Decl, []desired.Account{self}), self); why != "" {
			return e.ignore(ctx, cause, out, why)
		}
	}
	if t.Kind == trigger.KindRepository {
		out.Report, err = e.Repository(ctx, cause, self, t.Region, t.Repository)
	} else {
		out.Report, err = e.PublicRepository(ctx, cause, t.AccountID, t.Repository, []desired.Account{self}, nil)
	}
	if gone := (*RepositoryGoneError)(nil); errors.As(err, &gone) {
		// Deleted since its event (gone.go): no retry brings it back.
		return e.ignore(ctx, cause, Outcome{Resource: out.Resource}, gone.Error())
	}
	return out, err
}

// unmanagedReason says why ecr-warden keeps nothing in member account a's
// registry or IAM, or "" when it does: a must be an ACTIVE member of the
// organization other than the hub and the management account
// (desired.ManagedMember) that the declaration configures something in
// (State.Configures: exactly the accounts the member StackSet deploys the
// execution role to, so no other account is ever assumed into). It is the one
// membership check of every event about a member's document.
func (e *Engine) unmanagedReason(state *desired.State, a desired.Account) string {
	switch {
	case a.ID == e.Decl.Hub.ManagementAccountID:
		return fmt.Sprintf("account %s is not a managed member: it is the organization's management account, which ecr-warden never treats as a member; ecr-warden keeps nothing there", a.ID)
	case !state.ManagedMember(a):
		status := a.Status
		if status == "" {
			status = "no place in the organization"
		}
		return fmt.Sprintf("account %s is not a managed member: it is not an ACTIVE account of organization %s (%s); ecr-warden keeps nothing there", a.ID, e.Decl.Hub.OrganizationID, status)
	case !state.Configures(a.ID):
		return fmt.Sprintf("account %s is not a managed member for this document: the declaration configures nothing in it (no grant, public grant or pull-through-cache selector names it, so it has no execution role); ecr-warden keeps nothing there", a.ID)
	}
	return ""
}

// registryDocument converges a registry-level document (registry policy,
// PTC rules, PTC role) from the full desired state of its account.
func (e *Engine) registryDocument(ctx context.Context, cause Cause, t trigger.Target, out Outcome) (Outcome, error) {
	if ptc := e.Decl.PullThroughCache; t.Kind == trigger.KindRole && (ptc == nil || t.RoleName != ptc.Role.Name) {
		if t.Trigger.EventName == trigger.RoleCreatedEvent {
			// A role the declaration names as a principal was created:
			// the documents it was left out of take it back; or the
			// execution role was: its member can be converged now
			// (rolecreated.go).
			return e.roleCreated(ctx, cause, t, out)
		}
		return e.ignore(ctx, cause, out, fmt.Sprintf("role %s is not ecr-warden's pull-through-cache role; ecr-warden manages no other role's policies", t.RoleName))
	}
	state, why, err := e.stateFor(ctx, t)
	if err != nil {
		return out, err
	}
	if why != "" {
		return e.ignore(ctx, cause, out, why)
	}
	switch t.Kind {
	case trigger.KindRegistryPolicy:
		out.Report, err = e.Registry(ctx, cause, state, t.AccountID, t.Region)
	case trigger.KindPTCRule:
		out.Report, err = e.PTCRules(ctx, cause, state, t.AccountID, t.Region)
	default: // KindRole
		out.Report, err = e.PTCRole(ctx, cause, state, t.AccountID)
	}
	return out, err
}

// stateFor builds the desired state for one account's registry-level
// documents, or why ecr-warden keeps no such document there. It costs a
// few Organizations calls for the account's OU path, or one walk of the
// organization when a registry policy names accounts one by one
// (enumerate-mode grants anywhere; the hub's upstream grant for PTC rules
// that cache from the hub).
func (e *Engine) stateFor(ctx context.Context, t trigger.Target) (*desired.State, string, error) {
	d := e.Decl
	hub := t.AccountID == d.Hub.AccountID
	walk := t.Kind == trigger.KindRegistryPolicy && (d.EnumeratesAccounts() || (hub && d.HasFromHubRules()))
	var accounts []desired.Account
	switch {
	case walk && e.Org == nil:
		return nil, "", fmt.Errorf("%s's registry policy names accounts one by one, and this function cannot read the organization", t.AccountID)
	case walk:
		var err error
		if accounts, err = e.organizationNow(ctx, t.Region, time.Time{}); err != nil {
			return nil, "", fmt.Errorf("walking the organization for the accounts %s's registry policy names: %w", t.AccountID, err)
		}
	default:
		a, err := e.accountInfo(ctx, t.AccountID)
		if err != nil {
			return nil, "", err
		}
		accounts = []desired.Account{a}
	}
	state := desired.New(d, accounts)
	if hub {
		if t.Kind != trigger.KindRegistryPolicy {
			return nil, fmt.Sprintf("account %s is the hub, which has no pull-through-cache rules or role of ecr-warden's; ecr-warden keeps nothing of that kind there", t.AccountID), nil
		}
		return state, "", nil
	}
	self := desired.Account{ID: t.AccountID} // not in the walk: not in the organization
	if i := slices.IndexFunc(accounts, func(a desired.Account) bool { return a.ID == t.AccountID }); i >= 0 {
		self = accounts[i]
	}
	if why := e.unmanagedReason(state, self); why != "" {
		return nil, why, nil
	}
	return state, "", nil
}

// ignore records a short noop saying why the event changes nothing, with
// the actor, so the resource's history shows the edit and the decision.
func (e *Engine) ignore(ctx context.Context, cause Cause, out Outcome, why string) (Outcome, error) {
	rec := audit.Record{Decision: audit.DecisionNoop, Op: "none", Trigger: cause.Trigger, Actor: cause.Actor, Target: out.Resource, Error: why}
	if err := e.Exec.Trail.Record(ctx, rec); err != nil {
		return out, fmt.Errorf("recording the ignored event %q on %s: %w", cause.Trigger.EventID, out.Resource.ARN, err)
	}
	out.Ignored = why
	return out, nil
}
