package app

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// TestIAMEventsReachThePrimaryRegionWithoutUSEast1: IAM events are delivered
// in us-east-1 only. For a hub whose regions lack us-east-1, the member
// StackSet also deploys to us-east-1, where the template forwards exactly the
// IAM routes (PTC-role drift, creation of declared roles) to the hub bus of
// the primary region and nothing else; the primary region's hub stack has
// their rules on its custom bus, invoking drift. Checked with the local AWS's
// EventBridge matcher: every IAM sample reaches the member's us-east-1 rule
// and the primary region's rule, and no other sample is forwarded from
// us-east-1.
func TestIAMEventsReachThePrimaryRegionWithoutUSEast1(t *testing.T) {
	localaws.NeedCDK(t)
	localaws.Need(t)
	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	d.Hub.Regions = []string{"eu-west-1", "eu-central-1"}
	d.PublicRepositories = nil // validation refuses them without us-east-1
	if got := d.MemberRegions(); !slices.Equal(got, []string{"eu-west-1", "eu-central-1", "us-east-1"}) {
		t.Fatalf("member regions %v, want the hub regions, primary first, and us-east-1", got)
	}
	raw, err := MemberTemplate(d)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := assertions.Template_FromJSON(&raw, nil)
	primaryBus := map[string]interface{}{"Fn::Sub": "arn:${AWS::Partition}:events:eu-west-1:111111111111:event-bus/ecr-warden"}
	ownBus := map[string]interface{}{"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:111111111111:event-bus/ecr-warden"}
	conds := raw["Conditions"].(map[string]interface{})
	mustEqual(t, "regional condition", conds["IsHubRegionAndNotHubAccount"], map[string]interface{}{"Fn::And": []interface{}{
		map[string]interface{}{"Fn::Not": []interface{}{map[string]interface{}{"Fn::Equals": []interface{}{map[string]interface{}{"Ref": "AWS::Region"}, "us-east-1"}}}},
		map[string]interface{}{"Fn::Not": []interface{}{map[string]interface{}{"Fn::Equals": []interface{}{map[string]interface{}{"Ref": "AWS::AccountId"}, "111111111111"}}}},
	}})

	// Which member rules a stack instance in us-east-1 of a member creates.
	inUSEast1 := map[string]bool{"IsNotHubAccount": true, "IsUsEast1AndNotHubAccount": true, "IsHubRegionAndNotHubAccount": false}
	m := newMatcher(t)
	forwarded := map[string]bool{}
	for id, r := range resourcesOf(tmpl, "AWS::Events::Rule") {
		cond, _ := r["Condition"].(string)
		target := asList(props(r)["Targets"])[0].(map[string]interface{})["Arn"]
		if strings.HasPrefix(id, "ForwardIam") {
			mustEqual(t, id+" condition", cond, "IsUsEast1AndNotHubAccount")
			mustEqual(t, id+" target", target, primaryBus)
		} else {
			mustEqual(t, id+" condition", cond, "IsHubRegionAndNotHubAccount")
			mustEqual(t, id+" target", target, ownBus)
		}
		if strings.Contains(id, "Public") {
			t.Errorf("%s: an ECR Public rule without a us-east-1 hub region", id)
		}
		if inUSEast1[cond] {
			forwarded[id] = true
			m.add("member", "member/"+id, props(r)["EventPattern"])
		}
	}
	if want := []string{"ForwardIamRoleCreated", "ForwardIamRoleDrift"}; !slices.Equal(sortedKeys(forwarded), want) {
		t.Fatalf("a member's us-east-1 instance forwards %v, want %v", sortedKeys(forwarded), want)
	}
	for id, r := range resourcesOf(tmpl, "AWS::IAM::Role") {
		if !strings.HasPrefix(id, "ForwarderRole") {
			continue
		}
		doc := props(r)["Policies"].([]interface{})[0].(map[string]interface{})["PolicyDocument"].(map[string]interface{})
		st := asList(doc["Statement"])[0].(map[string]interface{})
		mustEqual(t, "forwarder may put on", st["Resource"], []interface{}{ownBus, primaryBus})
	}

	// The hub: the IAM routes' rules only in the primary region, on its custom bus, to drift.
	for _, region := range d.Hub.Regions {
		for _, p := range HubPatterns(d) {
			in := p.InHubRegion(d, region)
			if p.Global && in != (region == "eu-west-1") {
				t.Errorf("%s in %s: %v, want the primary region only", p.ID, region, in)
			}
			if region == "eu-west-1" && p.Global {
				if !p.ToPrimary(d) || p.Function != FnDrift {
					t.Errorf("%s: ToPrimary %v, function %s", p.ID, p.ToPrimary(d), p.Function)
				}
				m.add("ecr-warden", "hub/custom-"+p.ID, p.Map())
			}
		}
	}
	global := 0
	for _, s := range samples(t, d) {
		hits := m.match(s.raw)
		var want []string
		if s.route.Global {
			global++
			want = []string{"hub/custom-" + s.route.ID, "member/Forward" + s.route.ID}
		}
		if !slices.Equal(hits, want) {
			t.Errorf("%s reached %v, want %v", s.name, hits, want)
		}
	}
	if global == 0 {
		t.Fatal("no IAM sample was checked")
	}
	for _, r := range trigger.Routes {
		if r.Source == trigger.SourceIAM && !r.Global {
			t.Errorf("route %s: IAM events are about global resources; mark it Global", r.ID)
		}
	}
}
