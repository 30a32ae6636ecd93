package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// partitionDecl writes the example declaration moved to partition with hub regions regions (its
// ARNs in that partition, without publicRepositories and pullThroughCache, which validation
// refuses outside aws) and returns its path.
func partitionDecl(t *testing.T, partition string, regions []string) string {
	t.Helper()
	raw, err := os.ReadFile(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	raw = []byte(strings.ReplaceAll(string(raw), "arn:aws:", "arn:"+partition+":"))
	var d map[string]interface{}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	hub := d["hub"].(map[string]interface{})
	hub["partition"], hub["regions"] = partition, regions
	delete(d, "publicRepositories")
	delete(d, "pullThroughCache")
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "declaration.json")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var regionLike = regexp.MustCompile(`\b[a-z]{2}(?:-[a-z]+)+-[0-9]+\b`)

// TestOtherPartitionsDeployOnlyInTheirRegions: a declaration in aws-us-gov or aws-cn has no
// us-east-1 to deploy to. Synthesizing the whole app for each, with hub regions that lack the
// partition's IAM events region (so the member StackSet adds it), every stack's region, every
// StackSet region and every region a template names (conditions, bus ARNs) is in the
// partition; the management stack (Organizations forwarding, the organization reader) and the
// Members stack are in the partition's Organizations events region; the members forward IAM's
// events from the partition's IAM events region to the primary region's hub bus, where the hub
// has the IAM rules. Before the table, every such app put the management stack, the Members
// stack and a StackSet instance in us-east-1.
func TestOtherPartitionsDeployOnlyInTheirRegions(t *testing.T) {
	localaws.NeedCDK(t)
	for _, tc := range []struct {
		partition string
		regions   []string
		iam, org  string
	}{
		{policy.PartitionGovCloud, []string{"us-gov-east-1"}, "us-gov-west-1", "us-gov-west-1"},
		{policy.PartitionChina, []string{"cn-northwest-1"}, "cn-north-1", "cn-northwest-1"},
	} {
		t.Run(tc.partition, func(t *testing.T) {
			declPath := partitionDecl(t, tc.partition, tc.regions)
			assets, err := newAssetRoot(declPath)
			if err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(assets)
			out := t.TempDir()
			app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
			res, err := Build(app, Options{DeclarationPath: declPath, AssetRoot: assets, StackSetCallAs: "SELF"})
			if err != nil {
				t.Fatal(err)
			}
			app.Synth(nil)
			d := res.Decl
			if d.IAMRegion() != tc.iam || d.ManagementRegion() != tc.org {
				t.Errorf("IAM region %s, management region %s; want %s, %s", d.IAMRegion(), d.ManagementRegion(), tc.iam, tc.org)
			}

			// Every stack in the partition; the management and Members stacks in the
			// Organizations events region, the reader with the management stack.
			inPartition := func(what, region string) {
				t.Helper()
				if policy.RegionPartition(region) != tc.partition {
					t.Errorf("%s: region %s is not in partition %s", what, region, tc.partition)
				}
			}
			if len(res.Management) != 1 {
				t.Fatalf("%d management stacks, want 1 (no Control Tower home region declared)", len(res.Management))
			}
			if got := *res.Management[0].Region(); got != tc.org {
				t.Errorf("management stack in %s, want %s (Organizations events are delivered there only)", got, tc.org)
			}
			if res.Management[0].Reader == nil {
				t.Error("the management stack has no organization reader")
			}
			if res.Members == nil {
				t.Fatal("no Members stack")
			}
			if got := *res.Members.Region(); got != tc.org {
				t.Errorf("Members stack in %s, want %s", got, tc.org)
			}
			for region, h := range res.Hubs {
				inPartition("hub stack "+region, *h.Region())
			}

			// The StackSet: the hub regions, then IAM's events region.
			want := append(slices.Clone(tc.regions), tc.iam)
			mustEqual(t, "member regions", d.MemberRegions(), want)
			ss := props(only(t, resourcesOf(assertions.Template_FromStack(res.Members.Stack, nil), "AWS::CloudFormation::StackSet")))
			mustEqual(t, "StackSet region order", ss["OperationPreferences"].(map[string]interface{})["RegionOrder"], want)
			for _, g := range asList(ss["StackInstancesGroup"]) {
				mustEqual(t, "StackSet instance regions", g.(map[string]interface{})["Regions"], want)
			}
			if d.RoleRegion() != tc.iam {
				t.Errorf("the execution role is created in %s, want %s (where its CreateRole event is delivered)", d.RoleRegion(), tc.iam)
			}

			// No template, the member template included, names a region (or an ARN) outside the
			// partition.
			files, err := filepath.Glob(filepath.Join(out, "*.template.json"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no templates in %s (%v)", out, err)
			}
			texts := map[string]string{}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				texts[filepath.Base(f)] = string(b)
			}
			body, _ := json.Marshal(res.Members.Template)
			texts["member template"] = string(body)
			for name, text := range texts {
				if strings.Contains(text, "arn:aws:") {
					t.Errorf("%s names an ARN of the aws partition", name)
				}
				found := regionLike.FindAllString(text, -1)
				slices.Sort(found)
				for _, r := range slices.Compact(found) {
					inPartition(name, r)
				}
			}

			// The members forward IAM's events from IAM's events region to the primary
			// region's hub bus, and nothing else from there.
			member := assertions.Template_FromJSON(&res.Members.Template, nil)
			conds := res.Members.Template["Conditions"].(map[string]interface{})
			iamCond := "Is" + regionID(tc.iam) + "AndNotHubAccount"
			mustEqual(t, iamCond, conds[iamCond], map[string]interface{}{"Fn::And": []interface{}{
				map[string]interface{}{"Fn::Equals": []interface{}{map[string]interface{}{"Ref": "AWS::Region"}, tc.iam}},
				map[string]interface{}{"Fn::Not": []interface{}{map[string]interface{}{"Fn::Equals": []interface{}{map[string]interface{}{"Ref": "AWS::AccountId"}, "111111111111"}}}},
			}})
			primaryBus := map[string]interface{}{"Fn::Sub": "arn:${AWS::Partition}:events:" + tc.regions[0] + ":111111111111:event-bus/ecr-warden"}
			iamRules := 0
			for id, r := range resourcesOf(member, "AWS::Events::Rule") {
				cond, _ := r["Condition"].(string)
				target := asList(props(r)["Targets"])[0].(map[string]interface{})["Arn"]
				if strings.HasPrefix(id, "ForwardIam") {
					iamRules++
					mustEqual(t, id+" condition", cond, iamCond)
					mustEqual(t, id+" target", target, primaryBus)
				} else if cond == iamCond {
					t.Errorf("%s is forwarded from %s, which is no hub region", id, tc.iam)
				}
			}
			if iamRules == 0 {
				t.Error("the member template forwards no IAM events")
			}
			// The hub carries the IAM rules in the primary region, on its custom bus.
			hub := assertions.Template_FromStack(res.Hubs[d.PrimaryRegion()].Stack, nil)
			for _, p := range HubPatterns(d) {
				if !p.Global {
					continue
				}
				found := false
				for _, r := range resourcesOf(hub, "AWS::Events::Rule") {
					if props(r)["Name"] == d.Names.Resource("custom-"+p.ID) {
						found = true
					}
				}
				if !found {
					t.Errorf("the primary hub stack (%s) has no rule custom-%s", d.PrimaryRegion(), p.ID)
				}
			}
		})
	}
}

// only is the one value of m.
func only[V any](t *testing.T, m map[string]V) V {
	t.Helper()
	if len(m) != 1 {
		t.Fatalf("%d values, want 1", len(m))
	}
	for _, v := range m {
		return v
	}
	panic("unreachable")
}
