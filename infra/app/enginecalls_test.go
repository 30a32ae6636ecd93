package app

import (
	"slices"
	"testing"

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
