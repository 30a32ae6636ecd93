package app

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// policyOwners maps every IAM policy document of a template to a readable name: inline policies of
// roles and AWS::IAM::Policy resources alike.
func policyDocuments(tmpl assertions.Template) map[string]interface{} {
	out := map[string]interface{}{}
	for id, r := range resourcesOf(tmpl, "AWS::IAM::Role") {
		p := props(r)
		out[id+"/trust"] = p["AssumeRolePolicyDocument"]
		if inline, ok := p["Policies"].([]interface{}); ok {
			for _, ip := range inline {
				m := ip.(map[string]interface{})
				out[id+"/"+m["PolicyName"].(string)] = m["PolicyDocument"]
			}
		}
	}
	for id, r := range resourcesOf(tmpl, "AWS::IAM::Policy") {
		out[id] = props(r)["PolicyDocument"]
	}
	return out
}

func asList(v interface{}) []interface{} {
	if l, ok := v.([]interface{}); ok {
		return l
	}
	return []interface{}{v}
}

// Actions that IAM only accepts with Resource "*" (no resource type in the Service Authorization
// Reference) and that ecr-warden needs. Any other action on "*" is a least-privilege failure.
var resourceStarAllowed = map[string]bool{
	"ecr:GetRegistryPolicy": true, "ecr:PutRegistryPolicy": true, "ecr:DeleteRegistryPolicy": true,
	"ecr:GetAccountSetting": true, "ecr:PutAccountSetting": true,
	"ecr:CreatePullThroughCacheRule": true, "ecr:UpdatePullThroughCacheRule": true,
	"ecr:DeletePullThroughCacheRule": true, "ecr:DescribePullThroughCacheRules": true, "ecr:ValidatePullThroughCacheRule": true,
	"organizations:ListRoots": true, "organizations:DescribeOrganization": true,
	"tag:GetResources": true,
}

// CDK's own AwsCustomResource provider role is checked by name elsewhere.
func isProviderRole(name string) bool {
	return strings.HasPrefix(name, "AWS679f53fac002430cb0da5b7982bd2287")
}

func TestNoWildcardActionAndStarOnlyWhereIAMRequiresIt(t *testing.T) {
	localaws.NeedCDK(t)
	all := map[string]assertions.Template{"hub-us-east-1": hubUS, "hub-eu-west-1": hubEU, "management": mgmt, "members": membersT, "member-template": member}
	for stack, tmpl := range all {
		for name, doc := range policyDocuments(tmpl) {
			for _, st := range asList(doc.(map[string]interface{})["Statement"]) {
				s := st.(map[string]interface{})
				for _, a := range asList(s["Action"]) {
					if strings.Contains(a.(string), "*") && !(a == "sqs:*" && s["Effect"] == "Deny") {
						t.Errorf("%s %s: wildcard action %q", stack, name, a)
					}
				}
				if s["Effect"] != "Allow" || strings.HasSuffix(name, "/trust") {
					continue
				}
				for _, r := range asList(s["Resource"]) {
					if r != "*" {
						continue
					}
					for _, a := range asList(s["Action"]) {
						if !resourceStarAllowed[a.(string)] && !(isProviderRole(name) && strings.HasPrefix(a.(string), "logs:")) {
							t.Errorf("%s %s: %s on Resource \"*\", but the action supports resource-level permissions", stack, name, a)
						}
					}
				}
			}
		}
	}
}

// TestRoleStatementsAreExactlyTheReviewedOnes pins every role's statements to golden files: the
// five function roles of each hub region, the organization reader, the forwarders and the member
// execution role. A change in permissions is a diff a reviewer sees.
func TestRoleStatementsAreExactlyTheReviewedOnes(t *testing.T) {
	localaws.NeedCDK(t)
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		hub := built.Hubs[region]
		tmpl := hubUS
		if region == "eu-west-1" {
			tmpl = hubEU
		}
		docs := policyDocuments(tmpl)
		for _, fn := range FunctionNames {
			role := hub.Functions.Roles[fn]
			roleID := logicalID(role.Node().DefaultChild())
			var policy interface{}
			for id, r := range resourcesOf(tmpl, "AWS::IAM::Policy") {
				for _, ref := range asList(props(r)["Roles"]) {
					if ref.(map[string]interface{})["Ref"] == roleID {
						policy = docs[id]
					}
				}
			}
			goldenFile(t, "hub-"+region+"-"+fn, map[string]interface{}{"trust": docs[roleID+"/trust"], "policy": policy})
		}
	}
	goldenFile(t, "management", policyDocuments(mgmt))
	goldenFile(t, "member-template", policyDocuments(member))
}

// TestMemberRoleTrustsOnlyTheHubFunctionRoles checks the trust of the two cross-account roles: the
// hub account, narrowed by aws:PrincipalArn to the fixed names of the hub function roles that call
// them: every function assumes the member role; all but the worker (whose messages carry the
// accounts it needs) read the organization.
func TestMemberRoleTrustsOnlyTheHubFunctionRoles(t *testing.T) {
	localaws.NeedCDK(t)
	callers := func(fns ...string) []interface{} {
		var out []interface{}
		for _, region := range []string{"us-east-1", "eu-west-1"} {
			for _, fn := range fns {
				out = append(out, "arn:aws:iam::111111111111:role/ecr-warden-"+fn+"-"+region)
			}
		}
		return out
	}
	trust := func(tmpl assertions.Template, roleName string) map[string]interface{} {
		for _, r := range resourcesOf(tmpl, "AWS::IAM::Role") {
			if props(r)["RoleName"] == roleName {
				return props(r)["AssumeRolePolicyDocument"].(map[string]interface{})
			}
		}
		t.Fatalf("no role %s", roleName)
		return nil
	}
	for what, c := range map[string]struct {
		doc     map[string]interface{}
		callers []interface{}
	}{
		"member execution role": {trust(member, "ecr-warden-execution"), callers(FunctionNames...)},
		"organization reader":   {trust(mgmt, Names{}.OrgReaderRole()), callers(FunctionNames...)},
	} {
		sts := asList(c.doc["Statement"])
		if len(sts) != 1 {
			t.Fatalf("%s: %d trust statements", what, len(sts))
		}
		s := sts[0].(map[string]interface{})
		mustEqual(t, what+" action", s["Action"], "sts:AssumeRole")
		mustEqual(t, what+" principal", s["Principal"], map[string]interface{}{"AWS": map[string]interface{}{
			"Fn::Join": []interface{}{"", []interface{}{"arn:", map[string]interface{}{"Ref": "AWS::Partition"}, ":iam::111111111111:root"}}}})
		mustEqual(t, what+" condition", s["Condition"], map[string]interface{}{"ArnEquals": map[string]interface{}{"aws:PrincipalArn": c.callers}})
	}
}

// TestFunctionRolesWorkOnlyFromTheirFunction: every statement a hub function's code uses requires
// that the call come from that function (lambda:SourceFunctionArn, the ARN of the function the
// template names), so the role passed to any other function (iam:PassRole, lambda:CreateFunction)
// can neither assume a member's execution role or the organization reader nor write the hub's
// policies, tables or queue. Only the calls Lambda itself makes with the role, outside the code
// (the work queue's polling, log delivery), go without it.
func TestFunctionRolesWorkOnlyFromTheirFunction(t *testing.T) {
	localaws.NeedCDK(t)
	for region, tmpl := range map[string]assertions.Template{"us-east-1": hubUS, "eu-west-1": hubEU} {
		hub := built.Hubs[region]
		docs := policyDocuments(tmpl)
		fns := resourcesOf(tmpl, "AWS::Lambda::Function")
		for _, fn := range FunctionNames {
			fnProps := props(fns[logicalID(hub.Functions.ByName[fn].Node().DefaultChild())])
			want := "arn:aws:lambda:" + region + ":111111111111:function:" + fnProps["FunctionName"].(string)
			roleID := logicalID(hub.Functions.Roles[fn].Node().DefaultChild())
			var sts []interface{}
			for id, r := range resourcesOf(tmpl, "AWS::IAM::Policy") {
				for _, ref := range asList(props(r)["Roles"]) {
					if ref.(map[string]interface{})["Ref"] == roleID {
						sts = append(sts, asList(docs[id].(map[string]interface{})["Statement"])...)
					}
				}
			}
			if len(sts) == 0 {
				t.Fatalf("%s %s: no statements", region, fn)
			}
			for _, st := range sts {
				m := st.(map[string]interface{})
				sid, _ := m["Sid"].(string)
				cond, _ := m["Condition"].(map[string]interface{})
				arnEquals, _ := cond["ArnEquals"].(map[string]interface{})
				got, has := arnEquals["lambda:SourceFunctionArn"]
				switch {
				// DeliverFailedInvocations: Lambda's own delivery of a failed invocation to the
				// on-failure destination (a CDK statement without a Sid until 2026-12-04).
				case sid == "ConsumeWork" || sid == "Logs" || sid == "DeliverFailedInvocations":
					if has {
						t.Errorf("%s %s: %s requires lambda:SourceFunctionArn, which Lambda's own calls with the role do not carry", region, fn, sid)
					}
				case !has:
					t.Errorf("%s %s: statement %s works from any function the role is passed to: no lambda:SourceFunctionArn condition", region, fn, sid)
				default:
					mustEqual(t, region+" "+fn+" "+sid+" source function", got, want)
				}
			}
		}
	}
}

// TestFailedInvocationsMaySendOnly: the failed-events queue, every function's on-failure
// destination but the worker's, is reachable from a function role by sqs:SendMessage alone (what
// Lambda calls to deliver a failed invocation's record), not the GetQueueAttributes/GetQueueUrl
// CDK's SqsDestination adds; the worker, fed by SQS, has no destination and no such statement.
func TestFailedInvocationsMaySendOnly(t *testing.T) {
	localaws.NeedCDK(t)
	for region, tmpl := range map[string]assertions.Template{"us-east-1": hubUS, "eu-west-1": hubEU} {
		hub := built.Hubs[region]
		docs := policyDocuments(tmpl)
		failed := canonical(t, map[string]interface{}{"Fn::GetAtt": []interface{}{logicalID(hub.Queues.FailedEvents.Node().DefaultChild()), "Arn"}})
		for _, fn := range FunctionNames {
			roleID := logicalID(hub.Functions.Roles[fn].Node().DefaultChild())
			var onQueue []interface{}
			for id, r := range resourcesOf(tmpl, "AWS::IAM::Policy") {
				for _, ref := range asList(props(r)["Roles"]) {
					if ref.(map[string]interface{})["Ref"] != roleID {
						continue
					}
					for _, st := range asList(docs[id].(map[string]interface{})["Statement"]) {
						for _, res := range asList(st.(map[string]interface{})["Resource"]) {
							if reflect.DeepEqual(canonical(t, res), failed) {
								onQueue = append(onQueue, st.(map[string]interface{})["Action"])
							}
						}
					}
				}
			}
			want := []interface{}{"sqs:SendMessage"}
			if fn == FnWorker {
				want = nil
			}
			mustEqual(t, region+" "+fn+" actions on the failed-events queue", canonical(t, onQueue), canonical(t, want))
		}
	}
}

// TestRegionalWildcardsStayInTheHubRegions: every statement that needs Resource "*" for ECR's
// registry-level actions or tag:GetResources (the hub function roles' and the member execution
// role's) holds only in the hub regions (aws:RequestedRegion), where ecr-warden converges
// registries: those credentials cannot write a registry policy, switch a policy scope or change a
// pull-through-cache rule in another region. Organizations' global reads are not region-bound.
func TestRegionalWildcardsStayInTheHubRegions(t *testing.T) {
	localaws.NeedCDK(t)
	want := []interface{}{"us-east-1", "eu-west-1"}
	all := map[string]assertions.Template{"hub-us-east-1": hubUS, "hub-eu-west-1": hubEU, "management": mgmt, "member-template": member}
	seen := 0
	for stack, tmpl := range all {
		for name, doc := range policyDocuments(tmpl) {
			for _, st := range asList(doc.(map[string]interface{})["Statement"]) {
				s := st.(map[string]interface{})
				if s["Effect"] != "Allow" || strings.HasSuffix(name, "/trust") || !slices.Contains(asList(s["Resource"]), interface{}("*")) {
					continue
				}
				regional := false
				for _, a := range asList(s["Action"]) {
					regional = regional || strings.HasPrefix(a.(string), "ecr:") || strings.HasPrefix(a.(string), "tag:")
				}
				if !regional {
					continue
				}
				seen++
				cond, _ := s["Condition"].(map[string]interface{})
				eq, _ := cond["StringEquals"].(map[string]interface{})
				mustEqual(t, stack+" "+name+" "+fmt.Sprint(s["Sid"])+" aws:RequestedRegion", eq["aws:RequestedRegion"], want)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no registry-level statement found: the test reads nothing")
	}
}

// TestDeployCustomResourceRoleWritesItsOwnLogsOnly: the role of the deploy's custom resource (CDK's
// AwsCustomResource provider function) may write its own log group and invoke the backfill
// function, nothing else: no managed policy (CDK's default AWSLambdaBasicExecutionRole writes every
// log group, the functions' too, whose decision lines are the metrics the alarms watch).
func TestDeployCustomResourceRoleWritesItsOwnLogsOnly(t *testing.T) {
	localaws.NeedCDK(t)
	hub := built.Hubs["us-east-1"]
	if hub.Backfill == nil {
		t.Fatal("the primary hub stack has no deploy custom resource")
	}
	roleID := logicalID(hub.Backfill.Node().FindChild(jsii.String("InvokeRole")).Node().DefaultChild())
	var providers int
	for _, fn := range resourcesOf(hubUS, "AWS::Lambda::Function") {
		role, _ := props(fn)["Role"].(map[string]interface{})
		if att, _ := role["Fn::GetAtt"].([]interface{}); len(att) > 0 && att[0] == roleID {
			providers++
		}
	}
	if providers != 1 {
		t.Fatalf("%d functions run with the custom resource's role, want the provider alone", providers)
	}
	role := props(resourcesOf(hubUS, "AWS::IAM::Role")[roleID])
	if m, ok := role["ManagedPolicyArns"]; ok {
		t.Errorf("custom resource role has managed policies %v", m)
	}
	docs := policyDocuments(hubUS)
	got := map[string]interface{}{} // by Sid: the statements sit in two policies, in no order
	for id, r := range resourcesOf(hubUS, "AWS::IAM::Policy") {
		for _, ref := range asList(props(r)["Roles"]) {
			if ref.(map[string]interface{})["Ref"] == roleID {
				for _, st := range asList(docs[id].(map[string]interface{})["Statement"]) {
					got[fmt.Sprint(st.(map[string]interface{})["Sid"])] = st
				}
			}
		}
	}
	logs := logicalID(hub.Backfill.Node().FindChild(jsii.String("Logs")).Node().DefaultChild())
	mustEqual(t, "custom resource role statements", got, map[string]interface{}{
		"Logs": map[string]interface{}{"Sid": "Logs", "Effect": "Allow", "Action": []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			"Resource": map[string]interface{}{"Fn::GetAtt": []string{logs, "Arn"}}},
		"InvokeBackfill": map[string]interface{}{"Sid": "InvokeBackfill", "Effect": "Allow", "Action": "lambda:InvokeFunction",
			"Resource": map[string]interface{}{"Fn::GetAtt": []string{logicalID(hub.Functions.ByName[FnBackfill].Node().DefaultChild()), "Arn"}}},
	})
}
