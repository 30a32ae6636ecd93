package app

import (
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// CloudTrail detail-types (trigger's, named here for the tests).
const (
	DetailAPICall      = trigger.DetailTypeAPICall
	DetailServiceEvent = trigger.DetailTypeServiceEvent
)

// Pattern is one route of trigger.Routes rendered for this declaration: the EventBridge pattern of
// one rule. Every pattern also requires that detail.errorCode does not exist: a failed call
// (AccessDenied, RepositoryAlreadyExists) changed nothing, so it must not wake a function.
type Pattern struct {
	// ID names the rule (construct id and rule-name suffix): the route's ID.
	ID          string
	Source      string
	DetailTypes []string
	EventNames  []string
	// Parameters restricts events to these values of detail.requestParameters fields (roleName
	// for IAM routes, from the declaration; name for the account setting).
	Parameters map[string][]string
	// NotByName and NotByARNPrefix exclude events whose caller is a session of ecr-warden's own
	// roles, so its own writes never wake drift (no loops, no wasted invocations): the member
	// execution role by name (IAM role names are unique in an account, and in every account the
	// member StackSet reaches that name is ecr-warden's), the hub function roles by ARN, in the
	// hub account only. A role elsewhere that merely shares a hub function role's name is anyone
	// else: its edits reach drift and are reverted.
	NotByName      []string
	NotByARNPrefix string
	// Function handles matching events.
	Function string
	// USEast1Only marks events that exist only in one region (EventsRegion): ECR Public's in
	// us-east-1, IAM's in its partition's events region (us-east-1 in aws).
	USEast1Only bool
	// Accounts and Regions, when set, restrict the envelope account and region (the management
	// account for Organizations and Control Tower events, Control Tower's home region).
	Accounts, Regions []string
	// Global marks events about global resources (IAM), handled in the hub's primary region when
	// its regions lack IAM's events region (trigger.Route.Global).
	Global bool
}

// EventsRegion is the one region where p's events are delivered: IAM's events region of d's
// partition for global (IAM) events, ECR Public's region for ECR Public's; "" for regional events.
func (p Pattern) EventsRegion(d *Declaration) string {
	switch {
	case !p.USEast1Only:
		return ""
	case p.Global:
		return d.IAMRegion()
	default:
		return policy.ECRPublicRegion
	}
}

// HubRegion is the hub region whose rules carry p's events: every region for regional events
// (""), the events region for events that exist only there, and the primary region for global
// events (IAM) when the hub's regions lack IAM's events region: the members' rules there forward
// them to it.
func (p Pattern) HubRegion(d *Declaration) string {
	switch {
	case !p.USEast1Only:
		return ""
	case p.ToPrimary(d):
		return d.PrimaryRegion()
	default:
		return p.EventsRegion(d)
	}
}

// ToPrimary reports whether p's events are forwarded from IAM's events region, which is not a hub
// region, to the hub's primary region.
func (p Pattern) ToPrimary(d *Declaration) bool {
	return p.Global && p.USEast1Only && !d.HubHasIAMRegion()
}

// InHubRegion reports whether the hub stack of region has a rule for p.
func (p Pattern) InHubRegion(d *Declaration, region string) bool {
	r := p.HubRegion(d)
	return r == "" || r == region
}

// detail is the pattern's detail filter.
func (p Pattern) detail() map[string]interface{} {
	detail := map[string]interface{}{
		"eventName": p.EventNames,
		"errorCode": []interface{}{map[string]interface{}{"exists": false}},
	}
	if len(p.Parameters) > 0 {
		params := map[string]interface{}{}
		for k, v := range p.Parameters {
			params[k] = v
		}
		detail["requestParameters"] = params
	}
	if len(p.NotByName) > 0 || p.NotByARNPrefix != "" {
		// Callers that are not role sessions have no sessionIssuer; anything-but alone would not
		// match them.
		issuer := func(filter map[string]interface{}) map[string]interface{} {
			return map[string]interface{}{"userIdentity": map[string]interface{}{"sessionContext": map[string]interface{}{
				"sessionIssuer": filter}}}
		}
		notOwn := map[string]interface{}{}
		if len(p.NotByName) > 0 {
			notOwn["userName"] = []interface{}{map[string]interface{}{"anything-but": p.NotByName}}
		}
		if p.NotByARNPrefix != "" {
			notOwn["arn"] = []interface{}{map[string]interface{}{"anything-but": map[string]interface{}{"prefix": p.NotByARNPrefix}}}
		}
		detail["$or"] = []interface{}{
			issuer(notOwn),
			issuer(map[string]interface{}{"userName": []interface{}{map[string]interface{}{"exists": false}}}),
		}
	}
	return detail
}

// EventPattern renders p for EventBridge.
func (p Pattern) EventPattern() *awsevents.EventPattern {
	detail := p.detail()
	detail["eventName"] = jsii.Strings(p.EventNames...)
	ep := &awsevents.EventPattern{
		Source:     jsii.Strings(p.Source),
		DetailType: jsii.Strings(p.DetailTypes...),
		Detail:     &detail,
	}
	if len(p.Accounts) > 0 {
		ep.Account = jsii.Strings(p.Accounts...)
	}
	if len(p.Regions) > 0 {
		ep.Region = jsii.Strings(p.Regions...)
	}
	return ep
}

// Map renders p as the raw JSON pattern, for L1 rules (the member template) and tests.
func (p Pattern) Map() map[string]interface{} {
	m := map[string]interface{}{"source": []string{p.Source}, "detail-type": p.DetailTypes, "detail": p.detail()}
	if len(p.Accounts) > 0 {
		m["account"] = p.Accounts
	}
	if len(p.Regions) > 0 {
		m["region"] = p.Regions
	}
	return m
}

// patternOf renders one route for d; ok is false when the declaration gives the route nothing to
// match (an IAM route with no role name to watch).
func patternOf(r trigger.Route, d *Declaration) (Pattern, bool) {
	p := Pattern{ID: r.ID, Source: r.Source, DetailTypes: r.DetailTypes, EventNames: r.EventNames(), Function: r.Function, USEast1Only: r.USEast1Only, Global: r.Global}
	if len(r.Parameters) > 0 {
		p.Parameters = map[string][]string{}
		for k, v := range r.Parameters {
			p.Parameters[k] = v
		}
	}
	if r.Function == trigger.FnDrift {
		p.NotByName, p.NotByARNPrefix = []string{d.MemberRoleName}, HubRoleARNPrefix(d)
	}
	if r.ManagementOnly {
		p.Accounts = []string{d.Hub.ManagementAccountID}
	}
	if r.ControlTowerHomeOnly {
		p.Regions = []string{d.Hub.ControlTowerRegion()}
	}
	var roles []string
	for _, f := range r.Roles {
		switch f {
		case trigger.RolePTC:
			if d.HasFromHubRules() {
				roles = append(roles, d.PullThroughCache.Role.Name)
			}
		case trigger.RoleDeclared:
			roles = append(roles, DeclaredRoleNames(d)...)
		case trigger.RoleExecution:
			roles = append(roles, d.MemberRoleName)
		default:
			panic("route " + r.ID + ": unknown role set " + string(f))
		}
	}
	if len(r.Roles) > 0 && len(roles) == 0 {
		return p, false
	}
	slices.Sort(roles)
	roles = slices.Compact(roles)
	if roles != nil {
		if p.Parameters == nil {
			p.Parameters = map[string][]string{}
		}
		p.Parameters["roleName"] = roles
	}
	return p, true
}

// patterns renders the routes of one origin (all origins when origin is "").
func patterns(d *Declaration, origin trigger.Origin) []Pattern {
	var out []Pattern
	for _, r := range trigger.Routes {
		if origin != "" && r.Origin != origin {
			continue
		}
		if p, ok := patternOf(r, d); ok {
			out = append(out, p)
		}
	}
	return out
}

// DeclaredRoleNames are the role names the declaration grants to (grants' and public grants'
// principals.roles, pullThroughCache.statementPrincipals.roleNames), sorted: the roles whose
// creation (IAM CreateRole) re-converges the documents that name them.
func DeclaredRoleNames(d *Declaration) []string {
	var names []string
	add := func(arns []string) {
		for _, a := range arns {
			if i := strings.LastIndex(a, "/"); i >= 0 {
				names = append(names, a[i+1:])
			}
		}
	}
	for _, g := range d.Grants {
		add(g.Principals.Roles)
	}
	for _, g := range d.PublicRepositories {
		add(g.Principals.Roles)
	}
	if d.PullThroughCache != nil {
		names = append(names, d.PullThroughCache.StatementPrincipals.RoleNames...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// HubRoleARNPrefix is the ARN prefix every hub function role shares (Names.FunctionRole): roles
// of the hub account whose names start with the installation's base name. The drift rules leave
// out sessions of those roles; a hub administrator who names another role so is trusted as the
// installation's owner.
func HubRoleARNPrefix(d *Declaration) string {
	return RoleARN(d.Hub.Partition, d.Hub.AccountID, d.Names.Base()+"-")
}

// OwnWriter reports whether the caller of an event is one the drift rules leave out: a session
// of the member execution role (by name, in any account) or of a hub role under
// HubRoleARNPrefix. It is what the rendered patterns decide, for tests that predict which
// samples reach drift.
func OwnWriter(d *Declaration, a trigger.Actor) bool {
	return a.IsRole(d.MemberRoleName) || (a.SessionIssuerARN != "" && strings.HasPrefix(a.SessionIssuerARN, HubRoleARNPrefix(d)))
}

// routePattern is the pattern of the route with id, for the routes every declaration has.
func routePattern(d *Declaration, id string) Pattern {
	for _, r := range trigger.Routes {
		if r.ID != id {
			continue
		}
		if p, ok := patternOf(r, d); ok {
			return p
		}
	}
	panic("no route " + id)
}

// OrganizationsPattern matches account lifecycle events of AWS Organizations from d's management
// account (they exist only there, in its partition's Organizations events region: us-east-1 in
// aws, Declaration.ManagementRegion).
func OrganizationsPattern(d *Declaration) Pattern { return routePattern(d, "OrganizationsAccount") }

// ControlTowerPattern matches Control Tower account vending from d's management account and
// Control Tower home region.
func ControlTowerPattern(d *Declaration) Pattern { return routePattern(d, "ControlTowerAccount") }

// HubPatterns are the rules of the hub (on its custom bus and on its default bus alike): every
// route of the table.
func HubPatterns(d *Declaration) []Pattern { return patterns(d, "") }

// MemberForwardPatterns are what a member forwards to the hub bus: exactly the routes whose events
// a registry emits (repository creation and tags, drift of the ECR, ECR Public and IAM resources
// ecr-warden converges there), one rule each.
func MemberForwardPatterns(d *Declaration) []Pattern {
	ps := patterns(d, trigger.FromRegistries)
	for i := range ps {
		ps[i].Function = ""
	}
	return ps
}
