package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// converger is the part of the reconcile engine drift repair drives: one
// document (or one registry's rules, or one role) at a time.
type converger interface {
	Repository(ctx context.Context, cause reconcile.Cause, account, region, name string) (reconcile.Report, error)
	PublicRepository(ctx context.Context, cause reconcile.Cause, account, name string, known *string) (reconcile.Report, error)
	Registry(ctx context.Context, cause reconcile.Cause, state *desired.State, account, region string) (reconcile.Report, error)
	PTCRules(ctx context.Context, cause reconcile.Cause, state *desired.State, account, region string) (reconcile.Report, error)
	PTCRole(ctx context.Context, cause reconcile.Cause, state *desired.State, account string) (reconcile.Report, error)
}

// orgReader reads accounts: one (its OU path, a few calls) or the whole
// organization (only when the declaration enumerates accounts).
type orgReader interface {
	Account(ctx context.Context, id string) (inventory.Account, error)
	Walk(ctx context.Context, scope inventory.WalkScope) (inventory.WalkResult, error)
}

var (
	_ converger = (*reconcile.Engine)(nil)
	_ orgReader = (*inventory.Org)(nil)
)

// handler re-converges the one resource a policy-change event names.
type handler struct {
	decl   *config.Declaration
	engine converger
	org    orgReader
	trail  function.Recorder
	log    *slog.Logger
	// selfRoles are ecr-warden's own role names: their writes are ignored.
	selfRoles []string
}

// response is what an invocation returns, for `make invoke` and tests.
type response struct {
	Target string `json:"target,omitempty"`
	// Ignored says why nothing was converged (ecr-warden's own write, a role
	// or account ecr-warden does not manage).
	Ignored  string `json:"ignored,omitempty"`
	Rejected string `json:"rejected,omitempty"`
	Detail   string `json:"detail,omitempty"`
	Actor    string `json:"actor,omitempty"`
	reconcile.Report
}

// handle is the Lambda handler. Rejected and ignored events are recorded and
// answer success (a retry would decide the same); engine errors fail the
// invocation so Lambda retries and then dead-letters the event.
func (h *handler) handle(ctx context.Context, raw json.RawMessage) (response, error) {
	t, err := trigger.Parse(raw)
	if err == nil {
		err = t.CheckRegion(h.decl.Hub.Regions)
	}
	if err == nil {
		switch t.Kind {
		case trigger.KindRepository, trigger.KindPublicRepository, trigger.KindRegistryPolicy, trigger.KindPTCRule, trigger.KindRole:
		default:
			err = &trigger.Rejection{Reason: trigger.ReasonUnknownEvent, Trigger: t.Trigger,
				Detail: fmt.Sprintf("a %s target belongs to another ecr-warden function; drift converges repository, registry-policy, ptc-rule, role and public-repository targets", t.Kind)}
		}
	}
	if rej, ok := trigger.AsRejection(err); ok {
		return h.reject(ctx, raw, rej)
	}
	if err != nil {
		return response{}, err
	}
	target := h.target(t)
	cause := reconcile.CauseOf(t)
	actor := t.Trigger.Actor.String()
	if t.Trigger.Actor.IsRole(h.selfRoles...) {
		// ecr-warden's own write came back as an event: converging again
		// would find nothing to do at best and loop at worst.
		return h.ignore(ctx, cause, target, actor, fmt.Sprintf("own write: %s is a session of ecr-warden's role (%v); nothing to re-converge", actor, h.selfRoles))
	}
	if t.Kind == trigger.KindRole && (h.decl.PullThroughCache == nil || t.RoleName != h.decl.PullThroughCache.Role.Name) {
		return h.ignore(ctx, cause, target, actor, fmt.Sprintf("role %s is not ecr-warden's pull-through-cache role; ecr-warden manages no other role's policies", t.RoleName))
	}
	var state *desired.State
	if t.Kind == trigger.KindRegistryPolicy || t.Kind == trigger.KindPTCRule || t.Kind == trigger.KindRole {
		st, managed, err := h.state(ctx, t)
		if err != nil {
			return response{}, err
		}
		if !managed {
			return h.ignore(ctx, cause, target, actor, fmt.Sprintf("account %s is not a managed member for this document (the hub has no PTC rules or role; other accounts must be ACTIVE members): ecr-warden keeps nothing there", t.AccountID))
		}
		state = st
	}
	h.log.InfoContext(ctx, "drift: re-converging", "target", target.ARN, "kind", string(t.Kind), "changedBy", actor, "event", t.Trigger.EventName)
	rep, err := h.converge(ctx, t, cause, state)
	if err != nil {
		return response{}, fmt.Errorf("repairing drift on %s (changed by %s): %w", target.ARN, actor, err)
	}
	return response{Target: target.ARN, Actor: actor, Report: rep}, nil
}

// converge re-converges the named resource. Registry policies are planned
// from the full desired state of that registry (the member's PTC statements
// and grants, or the hub's grants), built by state.
func (h *handler) converge(ctx context.Context, t trigger.Target, cause reconcile.Cause, state *desired.State) (reconcile.Report, error) {
	switch t.Kind {
	case trigger.KindRepository:
		return h.engine.Repository(ctx, cause, t.AccountID, t.Region, t.Repository)
	case trigger.KindPublicRepository:
		return h.engine.PublicRepository(ctx, cause, t.AccountID, t.Repository, nil)
	}
	switch t.Kind {
	case trigger.KindRegistryPolicy:
		return h.engine.Registry(ctx, cause, state, t.AccountID, t.Region)
	case trigger.KindPTCRule:
		return h.engine.PTCRules(ctx, cause, state, t.AccountID, t.Region)
	default: // KindRole
		return h.engine.PTCRole(ctx, cause, state, t.AccountID)
	}
}

// state builds the desired state for one account's registry-level
// documents. It costs a few Organizations calls for the account's OU path,
// or one walk of the organization when a document names accounts one by one
// (enumerate-mode grants anywhere; the hub's upstream grant for PTC rules that
// cache from the hub).
func (h *handler) state(ctx context.Context, t trigger.Target) (*desired.State, bool, error) {
	d := h.decl
	hub := t.AccountID == d.Hub.AccountID
	walk := t.Kind == trigger.KindRegistryPolicy && (enumerates(d) || (hub && d.HasFromHubRules()))
	var accounts []desired.Account
	switch {
	case walk:
		res, err := h.org.Walk(ctx, inventory.WalkScope{All: true})
		if err != nil {
			return nil, false, fmt.Errorf("walking the organization for the accounts %s's registry policy names: %w", t.AccountID, err)
		}
		for _, a := range res.Accounts {
			accounts = append(accounts, desired.Account{ID: a.ID, Name: a.Name, Status: a.Status, OUPath: a.OUPath})
		}
	case hub:
		accounts = []desired.Account{{ID: d.Hub.AccountID, Status: "ACTIVE"}}
	default:
		a, err := h.org.Account(ctx, t.AccountID)
		if err != nil {
			return nil, false, fmt.Errorf("reading account %s from the organization: %w", t.AccountID, err)
		}
		accounts = []desired.Account{{ID: a.ID, Name: a.Name, Status: a.Status, OUPath: a.OUPath}}
	}
	if hub {
		return desired.New(d, accounts), t.Kind == trigger.KindRegistryPolicy, nil
	}
	i := slices.IndexFunc(accounts, func(a desired.Account) bool { return a.ID == t.AccountID })
	if i < 0 || !desired.ManagedMember(d, accounts[i]) {
		return nil, false, nil
	}
	return desired.New(d, accounts), true, nil
}

// enumerates reports whether some grant lists the organization's accounts
// one by one, which makes registry policies depend on the whole organization.
func enumerates(d *config.Declaration) bool {
	for _, g := range d.Grants {
		if g.PrincipalMode == config.ModeEnumerate && (g.Principals.Organization || len(g.Principals.OUs) > 0) {
			return true
		}
	}
	return false
}

// target names the resource an event is about, as the engine's audit
// records name it, so the resource's history shows the edit's aftermath.
func (h *handler) target(t trigger.Target) audit.Target {
	p := h.decl.Hub.Partition
	switch t.Kind {
	case trigger.KindRepository:
		return audit.Target{ARN: policy.RepositoryARN(p, t.Region, t.AccountID, t.Repository), AccountID: t.AccountID, Region: t.Region, Kind: "ECRRepositoryPolicy", Name: t.Repository}
	case trigger.KindPublicRepository:
		return audit.Target{ARN: policy.PublicRepositoryARN(t.AccountID, t.Repository), AccountID: t.AccountID, Region: t.Region, Kind: "ECRPublicRepositoryPolicy", Name: t.Repository}
	case trigger.KindRegistryPolicy:
		return audit.Target{ARN: policy.RegistryARN(p, t.Region, t.AccountID), AccountID: t.AccountID, Region: t.Region, Kind: "ECRRegistryPolicy"}
	case trigger.KindPTCRule:
		return audit.Target{ARN: policy.RegistryARN(p, t.Region, t.AccountID) + "/pull-through-cache-rule/" + t.Prefix, AccountID: t.AccountID, Region: t.Region, Kind: "PullThroughCacheRule", Name: t.Prefix}
	default:
		return audit.Target{ARN: awsapi.RoleARN(p, t.AccountID, t.RoleName), AccountID: t.AccountID, Kind: "IAMRole", Name: t.RoleName}
	}
}

// ignore records a short noop saying why the event changes nothing, with
// the actor, so the resource's history shows the edit and the decision.
func (h *handler) ignore(ctx context.Context, cause reconcile.Cause, target audit.Target, actor, why string) (response, error) {
	rec := audit.Record{Decision: audit.DecisionNoop, Op: "none", Trigger: cause.Trigger, Actor: cause.Actor, Target: target, Error: why}
	if err := h.trail.Record(ctx, rec); err != nil {
		return response{}, fmt.Errorf("recording the ignored event %q on %s: %w", cause.Trigger.EventID, target.ARN, err)
	}
	return response{Target: target.ARN, Ignored: why, Actor: actor}, nil
}

// reject records the rejection (function.Reject) and answers success. A
// drift event names its resource only once it parses, so a rejected one is
// filed under its event id.
func (h *handler) reject(ctx context.Context, raw []byte, rej *trigger.Rejection) (response, error) {
	target := function.EventTarget(raw, rej)
	if err := function.Reject(ctx, h.trail, h.log, target, rej); err != nil {
		return response{}, err
	}
	return response{Target: target.ARN, Rejected: string(rej.Reason), Detail: rej.Detail}, nil
}
