package app

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

func TestStackSetAutoDeploysToTheDeclaredOUsAndHubRegions(t *testing.T) {
	localaws.NeedCDK(t)
	sets := resourcesOf(membersT, "AWS::CloudFormation::StackSet")
	if len(sets) != 1 {
		t.Fatalf("%d StackSets, want 1", len(sets))
	}
	for _, r := range sets {
		p := props(r)
		body := p["TemplateBody"].(string)
		var embedded map[string]interface{}
		if err := json.Unmarshal([]byte(body), &embedded); err != nil {
			t.Fatalf("TemplateBody is not JSON: %v", err)
		}
		mustEqual(t, "embedded template", embedded, built.Members.Template)
		delete(p, "TemplateBody")
		mustEqual(t, "StackSet", p, map[string]interface{}{
			"StackSetName":     "ecr-warden-members",
			"Description":      "ecr-warden member execution role and event forwarding",
			"PermissionModel":  "SERVICE_MANAGED",
			"CallAs":           "SELF",
			"AutoDeployment":   map[string]interface{}{"Enabled": true, "RetainStacksOnAccountRemoval": false},
			"Capabilities":     []string{"CAPABILITY_NAMED_IAM"},
			"ManagedExecution": map[string]interface{}{"Active": true},
			"OperationPreferences": map[string]interface{}{
				"RegionConcurrencyType": "SEQUENTIAL", "RegionOrder": []string{"us-east-1", "eu-west-1"},
				"FailureTolerancePercentage": 10, "MaxConcurrentPercentage": 25,
			},
			// PTC members' OU and the grant's registry OU, as ids.
			"StackInstancesGroup": []interface{}{map[string]interface{}{
				"DeploymentTargets": map[string]interface{}{"OrganizationalUnitIds": []string{"ou-ab12-11111111", "ou-ab12-22222222"}},
				"Regions":           []string{"us-east-1", "eu-west-1"},
			}},
		})
	}
}

func TestMemberTemplateForwardsEcrEventsAndCreatesTheRoleOnce(t *testing.T) {
	localaws.NeedCDK(t)
	member.HasResource(jsii.String("AWS::IAM::Role"), map[string]interface{}{
		"Condition":  "IsRoleRegion",
		"Properties": map[string]interface{}{"RoleName": "ecr-warden-execution"},
	})
	mustEqual(t, "conditions", (*member.ToJSON())["Conditions"], map[string]interface{}{
		"IsRoleRegion":    map[string]interface{}{"Fn::Equals": []interface{}{map[string]interface{}{"Ref": "AWS::Region"}, "us-east-1"}},
		"IsNotHubAccount": map[string]interface{}{"Fn::Not": []interface{}{map[string]interface{}{"Fn::Equals": []interface{}{map[string]interface{}{"Ref": "AWS::AccountId"}, "111111111111"}}}},
		"IsUsEast1AndNotHubAccount": map[string]interface{}{"Fn::And": []interface{}{
			map[string]interface{}{"Fn::Equals": []interface{}{map[string]interface{}{"Ref": "AWS::Region"}, "us-east-1"}},
			map[string]interface{}{"Fn::Not": []interface{}{map[string]interface{}{"Fn::Equals": []interface{}{map[string]interface{}{"Ref": "AWS::AccountId"}, "111111111111"}}}},
		}},
	})
	hubBus := map[string]interface{}{"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:111111111111:event-bus/ecr-warden"}
	rules := resourcesOf(member, "AWS::Events::Rule")
	want := map[string]struct {
		cond    string
		pattern map[string]interface{}
	}{
		"ForwardCreateRepository": {"IsNotHubAccount", map[string]interface{}{"source": []string{"aws.ecr"}, "detail-type": []string{DetailAPICall, DetailServiceEvent},
			"detail": map[string]interface{}{"errorCode": errorCodeAbsent, "eventName": []string{"CreateRepository"}}}},
		"ForwardRepositoryTags": {"IsNotHubAccount", map[string]interface{}{"source": []string{"aws.ecr"}, "detail-type": []string{DetailAPICall},
			"detail": map[string]interface{}{"errorCode": errorCodeAbsent, "eventName": []string{"TagResource", "UntagResource"}}}},
		"ForwardEcrPolicyDrift": {"IsNotHubAccount", map[string]interface{}{"source": []string{"aws.ecr"}, "detail-type": []string{DetailAPICall},
			"detail": map[string]interface{}{"$or": notByOwnRoles(), "errorCode": errorCodeAbsent, "eventName": []string{"SetRepositoryPolicy",
				"DeleteRepositoryPolicy", "PutRegistryPolicy", "DeleteRegistryPolicy", "UpdatePullThroughCacheRule", "DeletePullThroughCacheRule"}}}},
		"ForwardRegistryPolicyScope": {"IsNotHubAccount", map[string]interface{}{"source": []string{"aws.ecr"}, "detail-type": []string{DetailAPICall},
			"detail": map[string]interface{}{"$or": notByOwnRoles(), "errorCode": errorCodeAbsent, "eventName": []string{"PutAccountSetting"},
				"requestParameters": map[string]interface{}{"name": []string{"REGISTRY_POLICY_SCOPE"}}}}},
		"ForwardCreatePublicRepository": {"IsUsEast1AndNotHubAccount", map[string]interface{}{"source": []string{"aws.ecr-public"}, "detail-type": []string{DetailAPICall},
			"detail": map[string]interface{}{"errorCode": errorCodeAbsent, "eventName": []string{"CreateRepository"}}}},
		"ForwardEcrPublicPolicyDrift": {"IsUsEast1AndNotHubAccount", map[string]interface{}{"source": []string{"aws.ecr-public"}, "detail-type": []string{DetailAPICall},
			"detail": map[string]interface{}{"$or": notByOwnRoles(), "errorCode": errorCodeAbsent, "eventName": []string{"SetRepositoryPolicy", "DeleteRepositoryPolicy"}}}},
		"ForwardIamRoleDrift": {"IsUsEast1AndNotHubAccount", map[string]interface{}{"source": []string{"aws.iam"}, "detail-type": []string{DetailAPICall},
			"detail": map[string]interface{}{"$or": notByOwnRoles(), "errorCode": errorCodeAbsent, "eventName": []string{"UpdateAssumeRolePolicy", "PutRolePolicy", "DeleteRolePolicy", "DeleteRole", "DeleteRolePermissionsBoundary", "PutRolePermissionsBoundary"},
				"requestParameters": map[string]interface{}{"roleName": []string{"ecr-warden-ptc"}}}}},
		"ForwardIamRoleCreated": {"IsUsEast1AndNotHubAccount", map[string]interface{}{"source": []string{"aws.iam"}, "detail-type": []string{DetailAPICall},
			"detail": map[string]interface{}{"$or": notByOwnRoles(), "errorCode": errorCodeAbsent, "eventName": []string{"CreateRole"},
				"requestParameters": map[string]interface{}{"roleName": []string{"ci", "ecr-warden-execution"}}}}},
	}
	if len(rules) != len(want) {
		t.Errorf("member template has rules %v, want %d", sortedKeys(rules), len(want))
	}
	for id, w := range want {
		r, ok := rules[id]
		if !ok {
			t.Errorf("member template has no rule %s", id)
			continue
		}
		mustEqual(t, id+" condition", r["Condition"], w.cond)
		mustEqual(t, id+" pattern", props(r)["EventPattern"], w.pattern)
		mustEqual(t, id+" target", props(r)["Targets"], []interface{}{map[string]interface{}{
			"Id": "HubBus", "Arn": hubBus, "RoleArn": map[string]interface{}{"Fn::GetAtt": []string{"ForwarderRoleD8BAA15A", "Arn"}}}})
	}
}

func TestManagementForwardsAccountEventsToEveryHubBus(t *testing.T) {
	localaws.NeedCDK(t)
	rules := rulesByName(t, mgmt)
	buses := []string{"arn:aws:events:us-east-1:111111111111:event-bus/ecr-warden", "arn:aws:events:eu-west-1:111111111111:event-bus/ecr-warden"}
	for _, p := range []Pattern{OrganizationsPattern(built.Decl), ControlTowerPattern(built.Decl)} {
		r, ok := rules["ecr-warden-forward-"+p.ID]
		if !ok {
			t.Fatalf("no forwarding rule for %s: %v", p.ID, sortedKeys(rules))
		}
		mustEqual(t, p.ID+" pattern", r["EventPattern"], p.Map())
		targets := asList(r["Targets"])
		if len(targets) != len(buses) {
			t.Fatalf("%s has %d targets, want %d", p.ID, len(targets), len(buses))
		}
		for i, tg := range targets {
			m := tg.(map[string]interface{})
			mustEqual(t, p.ID+" target", m["Arn"], buses[i])
			if _, ok := m["RoleArn"]; !ok {
				t.Errorf("%s target %d has no role", p.ID, i)
			}
		}
	}
}

// notByOwnRoles is the filter that keeps ecr-warden's own writes from waking drift: sessions of the
// member execution role (by name) and of the test declaration's hub function roles (by ARN, in the
// hub account 111111111111 only; a member's role of the same name is anyone else).
func notByOwnRoles() []interface{} {
	issuer := func(filter map[string]interface{}) map[string]interface{} {
		return map[string]interface{}{"userIdentity": map[string]interface{}{"sessionContext": map[string]interface{}{
			"sessionIssuer": filter}}}
	}
	return []interface{}{
		issuer(map[string]interface{}{
			"userName": []interface{}{map[string]interface{}{"anything-but": []string{"ecr-warden-execution"}}},
			"arn":      []interface{}{map[string]interface{}{"anything-but": map[string]interface{}{"prefix": "arn:aws:iam::111111111111:role/ecr-warden-"}}},
		}),
		issuer(map[string]interface{}{"userName": []interface{}{map[string]interface{}{"exists": false}}}),
	}
}

// TestForwardingRolesTrustOnlyTheirOwnRules: the role of the forwarding rules, in every management
// stack and in the member template, trusts EventBridge only for those rules (aws:SourceArn, each
// rule's ARN, and aws:SourceAccount: EventBridge's confused-deputy conditions for event bus rule
// targets), so no other rule of the account can put events on the hub bus with it.
func TestForwardingRolesTrustOnlyTheirOwnRules(t *testing.T) {
	localaws.NeedCDK(t)
	type stack struct {
		name    string
		tmpl    assertions.Template
		account interface{}
		ruleARN func(name string) interface{}
	}
	var stacks []stack
	for _, m := range built.Management {
		region := *m.Stack.Region()
		stacks = append(stacks, stack{"management " + region, assertions.Template_FromStack(m.Stack, nil), built.Decl.Hub.ManagementAccountID,
			func(name string) interface{} {
				return "arn:aws:events:" + region + ":" + built.Decl.Hub.ManagementAccountID + ":rule/" + name
			}})
	}
	stacks = append(stacks, stack{"member template", member, map[string]interface{}{"Ref": "AWS::AccountId"},
		func(name string) interface{} {
			return map[string]interface{}{"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/" + name}
		}})
	checked := 0
	for _, s := range stacks {
		rulesOfRole := map[string][]interface{}{}
		for id, r := range resourcesOf(s.tmpl, "AWS::Events::Rule") {
			name, ok := props(r)["Name"].(string)
			if !ok {
				t.Errorf("%s: rule %s has no name, so its role cannot trust it by ARN", s.name, id)
				continue
			}
			for _, tg := range asList(props(r)["Targets"]) {
				role, ok := tg.(map[string]interface{})["RoleArn"].(map[string]interface{})
				if !ok {
					continue
				}
				logical := role["Fn::GetAtt"].([]interface{})[0].(string)
				rulesOfRole[logical] = append(rulesOfRole[logical], s.ruleARN(name))
			}
		}
		for id, r := range resourcesOf(s.tmpl, "AWS::IAM::Role") {
			for _, st := range asList(props(r)["AssumeRolePolicyDocument"].(map[string]interface{})["Statement"]) {
				m := st.(map[string]interface{})
				if svc, _ := m["Principal"].(map[string]interface{})["Service"].(string); svc != "events.amazonaws.com" {
					continue
				}
				checked++
				want := rulesOfRole[id]
				if len(want) == 0 {
					t.Errorf("%s: %s trusts EventBridge but no rule uses it", s.name, id)
				}
				// Sorted, each rule once (a management rule has a target per hub bus).
				bySort := func(l []interface{}) []interface{} {
					sort.Slice(l, func(i, j int) bool { return fmt.Sprint(l[i]) < fmt.Sprint(l[j]) })
					return slices.CompactFunc(l, func(a, b interface{}) bool { return fmt.Sprint(a) == fmt.Sprint(b) })
				}
				got, _ := canonical(t, m["Condition"]).(map[string]interface{})
				if arns, ok := got["ArnEquals"].(map[string]interface{}); ok {
					arns["aws:SourceArn"] = bySort(asList(arns["aws:SourceArn"]))
				}
				mustEqual(t, s.name+" "+id+" trust condition", got, canonical(t, map[string]interface{}{
					"StringEquals": map[string]interface{}{"aws:SourceAccount": s.account},
					"ArnEquals":    map[string]interface{}{"aws:SourceArn": bySort(want)},
				}))
			}
		}
	}
	if checked < 2 {
		t.Fatalf("checked %d EventBridge trusts, want the management stack's and the member template's", checked)
	}
}
