package app

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// TestExecutionRoleCreationReachesDrift: the member StackSet's CreateRole of the execution role
// (events/iam-create-role-execution.json: a stacksets-exec session, invoked by CloudFormation)
// is what the IamRoleCreated rule carries, from the route table, beside the roles the declaration
// names; a CreateRole of any other role name is still not. The rule now exists for a declaration
// that names no role at all, with the execution role alone. Checked with the local AWS's
// EventBridge matcher on the rendered patterns of the hub and the member forwarding rule.
func TestExecutionRoleCreationReachesDrift(t *testing.T) {
	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	p := routePattern(d, "IamRoleCreated")
	want := slices.Sorted(slices.Values(append(DeclaredRoleNames(d), d.MemberRoleName)))
	if got := p.Parameters["roleName"]; !slices.Equal(got, want) {
		t.Errorf("IamRoleCreated roleName %v, want the declared roles and the execution role %v", got, want)
	}
	if p := routePattern(d, "IamRoleDrift"); slices.Contains(p.Parameters["roleName"], d.MemberRoleName) {
		t.Errorf("IamRoleDrift watches the execution role: %v", p.Parameters["roleName"])
	}
	bare, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	bare.Grants, bare.PublicRepositories = nil, nil
	if bare.PullThroughCache != nil {
		bare.PullThroughCache.StatementPrincipals.RoleNames = nil
	}
	if len(DeclaredRoleNames(bare)) != 0 {
		t.Fatalf("declared roles left: %v", DeclaredRoleNames(bare))
	}
	pb, ok := patternOf(routeByID(t, "IamRoleCreated"), bare)
	if !ok || !slices.Equal(pb.Parameters["roleName"], []string{bare.MemberRoleName}) {
		t.Errorf("without declared roles: rendered %v, roleName %v; want the execution role alone", ok, pb.Parameters["roleName"])
	}

	localaws.Need(t)
	raw, err := os.ReadFile("../../events/iam-create-role-execution.json")
	if err != nil {
		t.Fatal(err)
	}
	m := newMatcher(t)
	m.add("ecr-warden", "hub/IamRoleCreated", p.Map())
	for _, fp := range MemberForwardPatterns(d) {
		if fp.ID == "IamRoleCreated" {
			m.add("member", "member/ForwardIamRoleCreated", fp.Map())
		}
	}
	if hits := m.match(raw); !slices.Equal(hits, []string{"hub/IamRoleCreated", "member/ForwardIamRoleCreated"}) {
		t.Errorf("the execution role's CreateRole reached %v, want the hub's IamRoleCreated rule and the member's forwarding rule", hits)
	}
	other := []byte(strings.ReplaceAll(string(raw), `"ecr-warden-execution"`, `"app-role"`))
	if hits := m.match(other); len(hits) != 0 {
		t.Errorf("a CreateRole of an undeclared role reached %v, want nothing", hits)
	}
}

// routeByID is the route table's row id.
func routeByID(t *testing.T, id string) trigger.Route {
	t.Helper()
	for _, r := range trigger.Routes {
		if r.ID == id {
			return r
		}
	}
	t.Fatalf("no route %s", id)
	return trigger.Route{}
}

// TestExecutionRoleWaitsForItsForwardingRule: the execution role and the rule forwarding its
// CreateRole event are in the same stack instance, us-east-1's; the role is created after the rule
// (and the rule after its target role, which it names), so its CreateRole event is forwarded to
// the hub. The rule exists only outside the hub account, so the role depends on it through a
// wait-condition handle naming the rule under the rule's own condition (a plain DependsOn would
// fail where the rule does not exist: cfn-lint E3005). With another primary region, the role is
// still created in us-east-1 (a hub region, or the region the StackSet adds for IAM events),
// gated the same way, while the PTC role's boundary stays with the primary region, which deploys
// first; before, the primary region created the role and the us-east-1 instance, deploying after
// it, could not forward its CreateRole.
func TestExecutionRoleWaitsForItsForwardingRule(t *testing.T) {
	localaws.NeedCDK(t)
	roles := resourcesOf(member, "AWS::IAM::Role")
	var roleID, fwdID string
	for id, r := range roles {
		switch props(r)["RoleName"] {
		case "ecr-warden-execution":
			roleID = id
		case nil:
			fwdID = id
		}
	}
	rules := resourcesOf(member, "AWS::Events::Rule")
	var ruleID string
	for id := range rules {
		if strings.HasPrefix(id, "ForwardIamRoleCreated") {
			ruleID = id
		}
	}
	if roleID == "" || fwdID == "" || ruleID == "" {
		t.Fatalf("execution role %q, forwarder role %q, rule %q", roleID, fwdID, ruleID)
	}
	mustEqual(t, "execution role DependsOn", roles[roleID]["DependsOn"], []interface{}{"ExecutionRoleCreationForwarded"})
	gates := resourcesOf(member, "AWS::CloudFormation::WaitConditionHandle")
	gate, ok := gates["ExecutionRoleCreationForwarded"]
	if !ok || len(gates) != 1 {
		t.Fatalf("wait-condition handles %v", sortedKeys(gates))
	}
	mustEqual(t, "handle", gate, map[string]interface{}{
		"Type":     "AWS::CloudFormation::WaitConditionHandle",
		"Metadata": map[string]interface{}{"ForwardingRule": map[string]interface{}{"Fn::If": []interface{}{"IsUsEast1AndNotHubAccount", map[string]interface{}{"Ref": ruleID}, ""}}},
	})
	mustEqual(t, "rule condition", rules[ruleID]["Condition"], "IsUsEast1AndNotHubAccount")
	target := asList(props(rules[ruleID])["Targets"])[0].(map[string]interface{})
	mustEqual(t, "rule's role", target["RoleArn"], map[string]interface{}{"Fn::GetAtt": []interface{}{fwdID, "Arn"}})

	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	for _, regions := range [][]string{{"eu-west-1", "us-east-1"}, {"eu-west-1", "eu-central-1"}} {
		d.Hub.Regions = regions
		d.PublicRepositories = nil // validation refuses them without us-east-1
		if got := d.MemberRegions(); got[0] != "eu-west-1" || !slices.Contains(got, "us-east-1") || d.RoleRegion() != "us-east-1" {
			t.Errorf("hub regions %v: member regions %v, role region %s; want the primary first, us-east-1 among them, creating the role", regions, got, d.RoleRegion())
		}
		raw, err := MemberTemplate(d)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := assertions.Template_FromJSON(&raw, nil)
		conds := raw["Conditions"].(map[string]interface{})
		mustEqual(t, fmt.Sprint(regions, " role region"), conds["IsRoleRegion"], map[string]interface{}{"Fn::Equals": []interface{}{map[string]interface{}{"Ref": "AWS::Region"}, "us-east-1"}})
		var gated bool
		for _, r := range resourcesOf(tmpl, "AWS::IAM::Role") {
			if props(r)["RoleName"] == "ecr-warden-execution" {
				gated = true
				mustEqual(t, fmt.Sprint(regions, " role condition"), r["Condition"], "IsRoleRegion")
				mustEqual(t, fmt.Sprint(regions, " role DependsOn"), r["DependsOn"], []interface{}{"ExecutionRoleCreationForwarded"})
			}
		}
		if !gated {
			t.Errorf("hub regions %v: no execution role", regions)
		}
		mustEqual(t, fmt.Sprint(regions, " boundary's region"), conds["IsPrimaryRegion"], map[string]interface{}{"Fn::Equals": []interface{}{map[string]interface{}{"Ref": "AWS::Region"}, "eu-west-1"}})
		for _, r := range resourcesOf(tmpl, "AWS::IAM::ManagedPolicy") {
			mustEqual(t, fmt.Sprint(regions, " boundary condition"), r["Condition"], "IsPrimaryRegion")
		}
		if g := resourcesOf(tmpl, "AWS::CloudFormation::WaitConditionHandle"); len(g) != 1 {
			t.Errorf("hub regions %v: wait-condition handles %v, want the role's gate", regions, sortedKeys(g))
		}
	}
}

// TestMemberTemplateUsesEveryCondition: every condition the member template defines is used by a
// resource (Condition) or an Fn::If, for the example declaration and for primaries other than the
// execution role's region with and without a pull-through cache: an unused one is cfn-lint's W8001,
// as IsPrimaryRegion was for a hub without us-east-1 whose declaration makes no PTC role boundary.
func TestMemberTemplateUsesEveryCondition(t *testing.T) {
	localaws.NeedCDK(t)
	for _, c := range []struct {
		name    string
		regions []string
		noPTC   bool
	}{
		{"example", nil, false},
		{"eu primary, no us-east-1", []string{"eu-west-1", "eu-central-1"}, false},
		{"eu primary, no us-east-1, no pull-through cache", []string{"eu-west-1", "eu-central-1"}, true},
	} {
		d, err := LoadDeclaration(testDecl)
		if err != nil {
			t.Fatal(err)
		}
		if c.regions != nil {
			d.Hub.Regions = c.regions
			d.PublicRepositories = nil // validation refuses them without us-east-1
		}
		if c.noPTC {
			d.PullThroughCache = nil
		}
		raw, err := MemberTemplate(d)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, err := json.Marshal(raw["Resources"])
		if err != nil {
			t.Fatal(err)
		}
		conds, _ := raw["Conditions"].(map[string]interface{})
		for name := range conds {
			used := strings.Contains(string(body), `"Condition":"`+name+`"`) || strings.Contains(string(body), `"Fn::If":["`+name+`"`)
			if !used {
				t.Errorf("%s: condition %s is defined but no resource or Fn::If uses it", c.name, name)
			}
		}
	}
}
