package app

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// notMemberCalls are the engine's calls the member role does not grant, and why.
var notMemberCalls = map[string]string{
	// The engine looks up the IAM principals of ecr-warden's own statements before a write;
	// a declaration names roles, accounts and OUs but never a user (config.Principals), so a
	// user's look-up never happens in a member, and would only leave the principal unconfirmed.
	"iam:GetUser": "no declared principal is a user",
}

// TestMemberRoleGrantsEveryEngineCall: for a declaration that uses every member feature (a tag
// grant in members, the registry policy scope switch, a pull-through cache with a rule from the
// hub and a credential secret, a public grant in members), the member execution role allows every
// call the engine's clients can make (reconcile.EngineCalls, read from the client interfaces), but
// those notMemberCalls lists. A call added to the engine without its permission fails here
// instead of with AccessDenied in every member.
func TestMemberRoleGrantsEveryEngineCall(t *testing.T) {
	localaws.NeedCDK(t)
	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	d.RegistryPolicyScope.AllowSwitchToV2 = true
	d.Grants = append(d.Grants, config.Grant{Name: "tagged", RepositoryTags: map[string]string{"share": "org"}, Access: "pull",
		Principals: config.Principals{Organization: true}, Placement: config.PlacementRepository, Registries: config.Registries{AllMembers: true}})
	if len(d.PublicRepositories) == 0 || !d.HasFromHubRules() {
		t.Fatalf("%s: want a public grant and a pull-through-cache rule from the hub to start from", testDecl)
	}
	d.PublicRepositories[0].Registries.AllMembers = true
	var granted []string
	for _, actions := range actionsOf(t, MemberStatements(d)) {
		granted = append(granted, actions...)
	}
	calls := reconcile.EngineCalls()
	if len(calls) < 20 {
		t.Fatalf("reconcile.EngineCalls() = %v: too few to be the engine's clients", calls)
	}
	for _, c := range calls {
		if why, ok := notMemberCalls[c]; ok {
			if slices.Contains(granted, c) {
				t.Errorf("%s is granted, but notMemberCalls says %q: remove it there", c, why)
			}
			continue
		}
		if !slices.Contains(granted, c) {
			t.Errorf("the engine can call %s, which the member role does not allow", c)
		}
	}
	for c := range notMemberCalls {
		if !slices.Contains(calls, c) {
			t.Errorf("notMemberCalls lists %s, which the engine no longer calls", c)
		}
	}
}

// notHubCalls are the engine's calls no hub function role grants, and why: the hub is never a
// pull-through-cache member (desired.State.PTCMember: managed members only), so its rules, its
// PTC role and the rules' credential secrets are read and written in members only.
func notHubCalls(c string) (string, bool) {
	switch {
	case c == "iam:GetUser":
		return notMemberCalls[c], true
	case strings.HasSuffix(c, "PullThroughCacheRule") || c == "ecr:DescribePullThroughCacheRules" || c == "secretsmanager:DescribeSecret",
		strings.HasPrefix(c, "iam:") && c != "iam:GetRole":
		return "the hub is never a pull-through-cache member", true
	}
	return "", false
}

// TestHubRolesGrantEveryEngineCall: what the member role is to the engine in a member, the hub
// function roles together are in the hub (the functions act there with their own credentials):
// for a declaration that uses every hub feature (a tag grant in the hub, the scope switch, a
// declared hub role, the public grant), every call of reconcile.EngineCalls but notHubCalls is
// granted to some hub function.
func TestHubRolesGrantEveryEngineCall(t *testing.T) {
	localaws.NeedCDK(t)
	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	d.RegistryPolicyScope.AllowSwitchToV2 = true
	d.Grants = append(d.Grants, config.Grant{Name: "tagged", RepositoryTags: map[string]string{"share": "org"}, Access: "pull",
		Principals: config.Principals{Roles: []string{RoleARN("aws", d.Hub.AccountID, "ci")}}, Placement: config.PlacementRepository,
		Registries: config.Registries{Hub: true}})
	sw := SwitchesOf(d.Declaration)
	arn := jsii.String("arn:aws:dynamodb:us-east-1:111111111111:table/x")
	var granted []string
	for _, fn := range FunctionNames {
		for _, actions := range actionsOf(t, FunctionAccess[fn].statements(resources{partition: "aws", hub: d.Hub.AccountID,
			hubRegions: d.Hub.Regions, memberRoleName: d.MemberRoleName, orgRoleARN: d.OrgRoleARN(), organizationID: d.Hub.OrganizationID,
			auditTable: arn, leaseTable: arn, workQueue: arn, logGroup: arn, switches: sw, hubRoles: HubRoleARNs(d.Declaration)})) {
			granted = append(granted, actions...)
		}
	}
	for _, c := range reconcile.EngineCalls() {
		why, skip := notHubCalls(c)
		switch {
		case skip && slices.Contains(granted, c):
			t.Errorf("%s is granted to a hub function, but notHubCalls says %q: remove it there", c, why)
		case !skip && !slices.Contains(granted, c):
			t.Errorf("the engine can call %s, which no hub function role allows", c)
		}
	}
}
