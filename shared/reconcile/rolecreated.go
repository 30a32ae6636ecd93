package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// A role the declaration names as a principal (a grant's principals.roles,
// pullThroughCache.statementPrincipals.roleNames) that did not exist was left
// out of the documents naming it (principals.go). Its IAM CreateRole event
// (routed by the IamRoleCreated route, delivered only in the partition's IAM
// events region, us-east-1 in aws, and so to one function) converges exactly
// the documents that name it, in every hub region (IAM is global), so the
// role is added back at once instead of at the next sweep. The same route
// carries the creation of ecr-warden's execution
// role in a member (executionRoleCreated), the moment that member can first
// be converged.

// roleDocuments are the documents that name one created role: registry
// policies, and registries whose repository policies (or, for the hub in
// us-east-1, ECR Public repository policies) a grant naming it renders.
type roleDocuments struct {
	registries []registryRef // registry policies
	units      []registryRef // whole registries (repository-placement and public grants)
	principals []string      // the role's ARNs as the documents name them
}

type registryRef struct{ account, region string }

// roleCreated converges every document that names the role an IAM
// CreateRole event reports. A role no document names is recorded as ignored.
// When IAM does not show the role yet (it is eventually consistent) and the
// event is younger than RolePropagationWindow, the invocation fails so Lambda
// retries it a minute later, instead of writing the documents without it once
// more. A role still missing after that (deleted since), or created under
// another path than the ARN the declaration names (GetRole answers the name at
// another ARN), can never be added by retrying: the event is recorded as
// ignored, saying why, and succeeds.
func (e *Engine) roleCreated(ctx context.Context, cause Cause, t trigger.Target, out Outcome) (Outcome, error) {
	if t.RoleName == e.Decl.MemberRoleName {
		return e.executionRoleCreated(ctx, cause, t, out)
	}
	if !e.declaresRoleName(t.RoleName) {
		return e.ignore(ctx, cause, out, fmt.Sprintf("role %s is neither ecr-warden's pull-through-cache role nor a role the declaration names as a principal; ecr-warden manages no other role", t.RoleName))
	}
	accounts, err := e.roleAccounts(ctx, t.AccountID)
	if err != nil {
		return out, err
	}
	state := desired.New(e.Decl, accounts)
	docs := e.documentsNaming(state, accounts, t.AccountID, t.RoleName)
	if len(docs.registries) == 0 && len(docs.units) == 0 {
		return e.ignore(ctx, cause, out, fmt.Sprintf("no document ecr-warden keeps names role %s in account %s (the declaration names the role elsewhere, or the account is not a member it configures)", t.RoleName, t.AccountID))
	}
	for _, p := range docs.principals {
		st, elsewhere := e.principalLookup(ctx, p)
		if st == principalExists {
			continue
		}
		if elsewhere != "" {
			return e.ignore(ctx, cause, out, fmt.Sprintf("role %s was created as %s (another path), not as %s, which the declaration names: that ARN does not exist, and waiting cannot make it; the documents keep leaving it out until a role exists there", t.RoleName, elsewhere, p))
		}
		age, known := eventAge(t.Trigger)
		if known && age < RolePropagationWindow {
			return out, fmt.Errorf("role %s was created %s ago but IAM does not show it yet; failing so the event is retried: %w", p, age.Round(time.Second), errRoleNotVisible)
		}
		when := "its event's time is unreadable or in the future (" + t.Trigger.Time + ")"
		if known {
			when = "its event is " + age.Round(time.Second).String() + " old, past IAM's propagation"
		}
		return e.ignore(ctx, cause, out, fmt.Sprintf("role %s does not exist (deleted since it was created, or IAM does not show it): %s, so the event is settled rather than retried; the documents keep leaving it out until it exists (its next CreateRole event or the sweep adds it)", p, when))
	}
	var errs []error
	for _, r := range docs.registries {
		rep, err := e.Registry(ctx, cause, state, r.account, r.region)
		out.Report.Add(rep)
		errs = append(errs, err)
	}
	// A whole registry can hold thousands of repositories, more than one
	// drift invocation converges within its timeout: with a work queue the
	// worker converges them, one unit per registry, as a backfill's.
	rep, err := e.handOver(ctx, cause, e.roleUnits(cause, docs.units, accounts), "the registries whose repository grants name role "+t.RoleName)
	out.Report.Add(rep)
	errs = append(errs, err)
	return out, errors.Join(errs...)
}

// executionRoleCreated converges a member the moment the member StackSet
// has created ecr-warden's execution role in it. Until then every unit of
// that member failed sts:AssumeRole: the Members stack deploys after the
// primary hub stack, so a deploy's backfill reaches a member it newly
// configures before its role exists, and an account event of a joining
// account reaches it before StackSets' automatic deployment; the work queue
// delivers those units again only after its visibility timeout (an hour).
// The account is read from the organization (one DescribeAccount), never
// taken from the event: only an active member the declaration configures
// has its units, one per hub region (IAM is global: the event arrives once),
// exactly as a backfill of that one account sends them; the hub, the
// management account and any other account are recorded as ignored.
func (e *Engine) executionRoleCreated(ctx context.Context, cause Cause, t trigger.Target, out Outcome) (Outcome, error) {
	if t.AccountID == e.Decl.Hub.AccountID {
		return e.ignore(ctx, cause, out, fmt.Sprintf("execution role %s was created in the hub account %s, which is no member: ecr-warden converges the hub with its function roles, and its backfill and events do not wait for this role", t.RoleName, t.AccountID))
	}
	if by := t.Trigger.Actor.InvokedBy; by != cloudFormation {
		// Only the member StackSet's creation is the moment the member can
		// first be converged. A role of that name made otherwise (by hand:
		// the member's administrators can create and delete it at IAM's
		// rate) would otherwise buy a whole-registry converge in every hub
		// region per CreateRole; the sweep and the queue's redelivery
		// converge that member as before. CloudTrail sets invokedBy, the
		// member cannot.
		return e.ignore(ctx, cause, out, fmt.Sprintf("execution role %s in %s was created by %s, not by CloudFormation (invokedBy %q): only the member StackSet's creation hands the member to the worker at once; the sweep converges it",
			t.RoleName, t.AccountID, orUnknown(t.Trigger.Actor.ARN), by))
	}
	acct, err := e.accountInfo(ctx, t.AccountID)
	if err != nil {
		return out, err
	}
	if why := e.unmanagedReason(desired.New(e.Decl, []desired.Account{acct}), acct); why != "" {
		return e.ignore(ctx, cause, out, fmt.Sprintf("execution role %s was created, but %s", t.RoleName, why))
	}
	// CloudTrail logs CreateRole before CloudFormation puts the role's
	// inline policy, and IAM takes seconds to propagate both: a unit handed
	// over before the role can be used fails, and the work queue delivers it
	// again only after its visibility timeout. One read through the role
	// says whether it can; while the event is young, the invocation fails
	// instead, so Lambda retries it a minute later. An older event's units go
	// out regardless (the queue's redelivery and the sweep follow them).
	if err := e.executionRoleUsable(ctx, acct.ID); err != nil {
		age, known := eventAge(t.Trigger)
		if known && age < RolePropagationWindow {
			return out, fmt.Errorf("execution role %s in %s was created %s ago but cannot be used yet (IAM propagates a new role and its policy within seconds); failing so the event is retried: %w",
				t.RoleName, acct.ID, age.Round(time.Second), err)
		}
		e.log().Warn("the execution role's event is past IAM's propagation but the role cannot be used; handing the member to the worker anyway",
			"account", acct.ID, "role", t.RoleName, "error", err.Error())
	}
	org, err := e.organizationFor(ctx, acct)
	if err != nil {
		return out, err
	}
	accounts := org // its own documents enumerate accounts
	if accounts == nil {
		accounts = []desired.Account{acct}
	}
	now := time.Now()
	units := make([]Work, 0, len(e.Decl.Hub.Regions))
	for i, region := range e.Decl.Hub.Regions {
		u := eventUnit(cause, acct.ID, region, accounts, now)
		u.Role = i == 0 // as a backfill's: the (global) PTC role once, in the first region
		units = append(units, u)
	}
	rep, err := e.handOver(ctx, cause, units, fmt.Sprintf("member %s, whose execution role %s was created", acct.ID, t.RoleName))
	out.Report.Add(rep)
	return out, err
}

// cloudFormation is CloudTrail's invokedBy for a call CloudFormation made,
// the member StackSet's among them.
const cloudFormation = "cloudformation.amazonaws.com"

// orUnknown is s, or "an unnamed principal" when CloudTrail named none.
func orUnknown(s string) string {
	if s == "" {
		return "an unnamed principal"
	}
	return s
}

// executionRoleUsable reads the member's registry policy in the first hub
// region through its execution role: nil when the role can be assumed and
// its policy lets it read, the refusal when STS or ECR denies it. Other
// errors (throttling, a 5xx) say nothing of the role and count as usable.
func (e *Engine) executionRoleUsable(ctx context.Context, account string) error {
	reg := inventory.NewRegistry(e.Clients.ECR(account, e.Decl.Hub.Regions[0]), account, e.Decl.Hub.Regions[0], inventory.RegistryOptions{})
	if _, _, err := reg.RegistryPolicy(ctx); awsapi.AssumeRoleDenied(err) || awsapi.AccessDenied(err) {
		return err
	}
	return nil
}

// roleUnits are the units of the registries a created role's grants name,
// carrying the CreateRole event as their cause and the walked accounts.
func (e *Engine) roleUnits(cause Cause, regs []registryRef, accounts []desired.Account) []Work {
	now := time.Now()
	units := make([]Work, 0, len(regs))
	for _, r := range regs {
		units = append(units, eventUnit(cause, r.account, r.region, accounts, now))
	}
	return units
}

// errRoleNotVisible marks a created role IAM does not report yet.
var errRoleNotVisible = errors.New("role not visible in IAM yet")

// RolePropagationWindow is how long after a CreateRole event a role IAM does
// not show is taken for IAM's propagation (seconds, in practice) and the event
// retried. Lambda retries a failed event 1 and 2 minutes later, so a role
// still missing at the second retry was deleted since (CreateRole delivered
// late or twice): that event is settled and recorded, not dead-lettered.
const RolePropagationWindow = 2 * time.Minute

// eventAge is how long ago the event happened, from its envelope time (else
// CloudTrail's eventTime), and whether either could be read. A time more
// than maxEventSkew ahead of this clock is no event's (forged or corrupt):
// unknown, so the event is settled instead of retried as if just made.
func eventAge(t trigger.Trigger) (time.Duration, bool) {
	for _, s := range []string{t.Time, t.EventTime} {
		if at, err := time.Parse(time.RFC3339, s); err == nil {
			if time.Until(at) > maxEventSkew {
				return 0, false
			}
			return max(time.Since(at), 0), true
		}
	}
	return 0, false
}

// maxEventSkew is how far ahead of this function's clock an event's time
// may be (clocks of AWS's hosts differ by far less).
const maxEventSkew = 5 * time.Minute

// declaresRoleName reports whether the declaration names a role called name
// (its last path segment) anywhere: cheap, before any AWS call.
func (e *Engine) declaresRoleName(name string) bool {
	return slices.ContainsFunc(e.Decl.DeclaredRoles(), func(r config.DeclaredRole) bool {
		return lastSegment(r.PathName) == name
	})
}

// roleAccounts are the accounts the desired state needs to find every
// document naming a role of account: the organization (a walk: grants may
// name the role in every member's registry, and enumerate-mode statements
// list accounts), or without organization access the account itself.
func (e *Engine) roleAccounts(ctx context.Context, account string) ([]desired.Account, error) {
	if e.Org == nil {
		a, err := e.accountInfo(ctx, account)
		return []desired.Account{a}, err
	}
	res, err := e.Org.Walk(ctx, inventory.WalkScope{All: true})
	if err != nil {
		return nil, fmt.Errorf("walking the organization for the documents that name a role of %s: %w", account, err)
	}
	return toDesiredAll(res.Accounts), nil
}

// documentsNaming finds, in every hub region, the registry policies whose
// statements name role name of account, and the registries whose repository
// or public repository grants name it. Pure: desired state only.
func (e *Engine) documentsNaming(state *desired.State, accounts []desired.Account, account, name string) roleDocuments {
	d := e.Decl
	var docs roleDocuments
	names := func(p string) bool {
		m := principalARN.FindStringSubmatch(p)
		return m != nil && m[1] == account && m[2] == "role" && m[3] == name
	}
	addPrincipal := func(p string) {
		if !slices.Contains(docs.principals, p) {
			docs.principals = append(docs.principals, p)
		}
	}
	registries := []string{d.Hub.AccountID}
	for _, a := range accounts {
		if state.ManagedMember(a) && state.Configures(a.ID) {
			registries = append(registries, a.ID)
		}
	}
	for _, region := range d.Hub.Regions {
		for _, r := range registries {
			for _, st := range state.RegistryStatements(r, region) {
				if st.Principal == nil {
					continue
				}
				if i := slices.IndexFunc(st.Principal.AWS, names); i >= 0 {
					addPrincipal(st.Principal.AWS[i])
					if !slices.Contains(docs.registries, registryRef{r, region}) {
						docs.registries = append(docs.registries, registryRef{r, region})
					}
				}
			}
		}
	}
	unit := func(r, region string) {
		if !slices.Contains(docs.units, registryRef{r, region}) {
			docs.units = append(docs.units, registryRef{r, region})
		}
	}
	for _, g := range d.Grants {
		if g.Placement != config.PlacementRepository {
			continue
		}
		i := slices.IndexFunc(g.Principals.Roles, names)
		if i < 0 {
			continue
		}
		addPrincipal(g.Principals.Roles[i])
		for _, region := range d.Hub.Regions {
			for _, r := range registries {
				if state.AppliesTo(g.Registries, r) {
					unit(r, region)
				}
			}
		}
	}
	for _, g := range d.PublicRepositories {
		if i := slices.IndexFunc(g.Principals.Roles, names); i >= 0 && slices.Contains(d.Hub.Regions, publicRegion) {
			addPrincipal(g.Principals.Roles[i])
			unit(d.Hub.AccountID, publicRegion) // ECR Public lives there; the hub's unit converges it
		}
	}
	// A registry converged as a unit needs no separate registry-policy run.
	docs.registries = slices.DeleteFunc(docs.registries, func(r registryRef) bool { return slices.Contains(docs.units, r) })
	return docs
}

func lastSegment(pathName string) string {
	return pathName[strings.LastIndex(pathName, "/")+1:]
}
