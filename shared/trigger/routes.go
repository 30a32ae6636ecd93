package trigger

import (
	"fmt"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// The route table: every event ecr-warden reacts to, once. The CDK app
// renders every EventBridge pattern from it (the hub's rules on both buses,
// the management account's and the members' forwarding rules), and each event
// function accepts exactly the events whose route names it, so what is routed
// and what is parsed cannot drift apart (TestRoutesAreWhatParseUnderstands).

// The hub functions (the folder names under functions/): the functions events
// are routed to, and the backfill and its worker. This is the one list of
// them: each function's main (function.Spec.Name), the CDK app (app.FnX,
// app.FunctionNames) and the declaration's functions.reservedConcurrency
// (config.ReservedConcurrency, which cannot import this package; its tests
// compare it with Functions) name them from here.
const (
	FnRepository = "repository"
	FnAccount    = "account"
	FnDrift      = "drift"
	FnBackfill   = "backfill"
	FnWorker     = "worker"
)

// Functions lists every hub function, in a stable order.
var Functions = []string{FnRepository, FnAccount, FnBackfill, FnWorker, FnDrift}

// Origin is where an event is emitted, and so which rule carries it to the
// hub bus.
type Origin string

const (
	// FromRegistries: the hub's own CloudTrail (default bus) and every
	// member's, forwarded by the member rule.
	FromRegistries Origin = "registries"
	// FromManagement: Organizations and Control Tower events, which exist only
	// in the management account, forwarded by the management rule.
	FromManagement Origin = "management"
)

// RoleFilter names one set of role names the declaration decides; a route's
// Roles restricts its IAM events to the union of its sets.
type RoleFilter string

const (
	// RolePTC is the pull-through-cache role (pullThroughCache.role.name);
	// the route exists only when a rule caches from the hub.
	RolePTC RoleFilter = "ptc"
	// RoleDeclared are the role names the declaration grants to (grants'
	// principals.roles and pullThroughCache.statementPrincipals.roleNames);
	// the route exists only when there are some.
	RoleDeclared RoleFilter = "declared"
	// RoleExecution is ecr-warden's execution role in members
	// (memberRoleName): its creation by the member StackSet is when the
	// member can first be converged (shared/reconcile/rolecreated.go).
	RoleExecution RoleFilter = "execution"
)

// Event is one event name of a route and the target kind Parse makes of it.
type Event struct {
	Name string
	Kind Kind
}

// Route is one row of the table, rendered as one EventBridge rule.
type Route struct {
	// ID names the rule (construct id and rule-name suffix).
	ID          string
	Source      string
	DetailTypes []string
	Events      []Event
	// Function handles the route's events.
	Function string
	Origin   Origin
	// USEast1Only marks events that exist only in one region: ECR Public's
	// API in us-east-1, IAM's global events in their partition's IAM events
	// region (policy.IAMEventsRegion: us-east-1 in aws). Parse refuses an
	// IAM event whose detail.awsRegion is another (cloudTrail.globalRegion),
	// and an ECR Public event of another region than us-east-1.
	USEast1Only bool
	// Global marks events about global resources (IAM roles): they are
	// delivered in the IAM events region only, but the resource belongs to
	// no region, so when the hub's regions lack it the members forward them
	// from there to the hub's primary region, whose function handles them.
	Global bool
	// Roles, when set, restricts IAM events to the roles of these sets
	// (detail.requestParameters.roleName); the route exists only when they
	// name some role.
	Roles []RoleFilter
	// Parameters, when set, restricts events to these values of
	// detail.requestParameters fields.
	Parameters map[string][]string
	// ManagementOnly restricts the route to events whose envelope account is
	// the management account (the only place they are emitted: a member may
	// put events on the hub bus, and must not move grants with them);
	// Target.CheckOrigin checks the same when parsing.
	ManagementOnly bool
	// ControlTowerHomeOnly restricts the route to events whose envelope
	// region is the Control Tower home region, the only one it emits them in.
	ControlTowerHomeOnly bool
}

// EventNames are the route's event names, in table order.
func (r Route) EventNames() []string {
	out := make([]string, len(r.Events))
	for i, e := range r.Events {
		out[i] = e.Name
	}
	return out
}

var (
	apiCall       = []string{DetailTypeAPICall}
	apiOrService  = []string{DetailTypeAPICall, DetailTypeServiceEvent}
	accountEvents = []Event{{"CreateAccountResult", KindAccount}, {"AccountJoinedOrganization", KindAccount}, {"AccountDepartedOrganization", KindAccountDeparted}, {"MoveAccount", KindAccountMoved}, {"RemoveAccountFromOrganization", KindAccountDeparted}, {"CloseAccount", KindAccountDeparted}}
	vendingEvents = []Event{{"CreateManagedAccount", KindAccount}, {"UpdateManagedAccount", KindAccount}}
	// roleDriftEvents are every change to the PTC role that converging it
	// undoes (shared/reconcile/role.go): its trust, its inline policy, its
	// permissions boundary (removed, or replaced by a wider one), the role.
	roleDriftEvents = []Event{{"UpdateAssumeRolePolicy", KindRole}, {"PutRolePolicy", KindRole}, {"DeleteRolePolicy", KindRole}, {"DeleteRole", KindRole},
		{"DeleteRolePermissionsBoundary", KindRole}, {"PutRolePermissionsBoundary", KindRole}}
)

// RoleCreatedEvent is the IamRoleCreated route's event: a role the
// declaration names, or the execution role, was created. The engine tells it
// from the PTC role's drift events by this name (reconcile.registryDocument).
const RoleCreatedEvent = "CreateRole"

// RegistryPolicyScopeSetting is the ECR account setting whose change
// (PutAccountSetting, e.g. a registry switched back to V1) re-converges the
// registry policy: policy's, the one name of it.
const RegistryPolicyScopeSetting = policy.RegistryPolicyScopeSetting

// Routes is the table. Repositories ECR creates itself (pull-through cache,
// replication, create-on-push) arrive as service events, so creation matches
// both detail-types; hand edits are API calls. Every rendered pattern also
// requires that detail.errorCode does not exist: a failed call changed
// nothing.
var Routes = []Route{
	{ID: "CreateRepository", Source: SourceECR, DetailTypes: apiOrService, Function: FnRepository, Origin: FromRegistries,
		Events: []Event{{"CreateRepository", KindRepository}}},
	{ID: "RepositoryTags", Source: SourceECR, DetailTypes: apiCall, Function: FnRepository, Origin: FromRegistries,
		Events: []Event{{"TagResource", KindRepository}, {"UntagResource", KindRepository}}},
	{ID: "CreatePublicRepository", Source: SourceECRPublic, DetailTypes: apiCall, Function: FnRepository, Origin: FromRegistries, USEast1Only: true,
		Events: []Event{{"CreateRepository", KindPublicRepository}}},
	{ID: "OrganizationsAccount", Source: SourceOrganizations, DetailTypes: apiOrService, Function: FnAccount, Origin: FromManagement,
		Events: accountEvents, ManagementOnly: true},
	{ID: "ControlTowerAccount", Source: SourceControlTower, DetailTypes: apiOrService, Function: FnAccount, Origin: FromManagement,
		Events: vendingEvents, ManagementOnly: true, ControlTowerHomeOnly: true},
	{ID: "EcrPolicyDrift", Source: SourceECR, DetailTypes: apiCall, Function: FnDrift, Origin: FromRegistries,
		Events: []Event{{"SetRepositoryPolicy", KindRepository}, {"DeleteRepositoryPolicy", KindRepository}, {"PutRegistryPolicy", KindRegistryPolicy},
			{"DeleteRegistryPolicy", KindRegistryPolicy}, {"UpdatePullThroughCacheRule", KindPTCRule}, {"DeletePullThroughCacheRule", KindPTCRule}}},
	{ID: "RegistryPolicyScope", Source: SourceECR, DetailTypes: apiCall, Function: FnDrift, Origin: FromRegistries,
		Events: []Event{{"PutAccountSetting", KindRegistryPolicy}}, Parameters: map[string][]string{"name": {RegistryPolicyScopeSetting}}},
	{ID: "EcrPublicPolicyDrift", Source: SourceECRPublic, DetailTypes: apiCall, Function: FnDrift, Origin: FromRegistries, USEast1Only: true,
		Events: []Event{{"SetRepositoryPolicy", KindPublicRepository}, {"DeleteRepositoryPolicy", KindPublicRepository}}},
	{ID: "IamRoleDrift", Source: SourceIAM, DetailTypes: apiCall, Function: FnDrift, Origin: FromRegistries, USEast1Only: true, Global: true, Roles: []RoleFilter{RolePTC},
		Events: roleDriftEvents},
	{ID: "IamRoleCreated", Source: SourceIAM, DetailTypes: apiCall, Function: FnDrift, Origin: FromRegistries, USEast1Only: true, Global: true, Roles: []RoleFilter{RoleDeclared, RoleExecution},
		Events: []Event{{RoleCreatedEvent, KindRole}}},
}

// RouteOf returns the route an event's metadata matches (source,
// detail-type, event name), and the target kind it names. ok is false for
// what no route carries (payloads, the sweep's schedule, foreign events).
func RouteOf(tr Trigger) (route Route, kind Kind, ok bool) {
	for _, r := range Routes {
		if r.Source != tr.Source || !contains(r.DetailTypes, tr.DetailType) {
			continue
		}
		for _, e := range r.Events {
			if e.Name == tr.EventName {
				return r, e.Kind, true
			}
		}
	}
	return Route{}, "", false
}

// HandledBy says what a parsed input is and which function handles it, for
// the rejection of an input sent to another function: routed events by the
// route table, and a backfill payload or the sweep's scheduled event, which
// no EventBridge route carries (an operator invokes the backfill function;
// the schedule targets it), by the backfill function. fn is "" for an event
// no route carries.
func HandledBy(t Target) (what, fn string) {
	switch {
	case t.Kind == KindBackfill && t.Backfill != nil && t.Backfill.Sweep:
		return fmt.Sprintf("the sweep's %s from %s", DetailTypeScheduled, t.Trigger.Source), FnBackfill
	case t.Kind == KindBackfill:
		return "a backfill payload", FnBackfill
	}
	what = fmt.Sprintf("the %s %s event", t.Trigger.Source, t.Trigger.EventName)
	if r, _, ok := RouteOf(t.Trigger); ok {
		return what, r.Function
	}
	return what, ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
