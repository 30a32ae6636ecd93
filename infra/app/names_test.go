package app

import (
	"encoding/json"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// physicalNameProps are the properties that set a resource's physical name.
var physicalNameProps = []string{"FunctionName", "RoleName", "TableName", "QueueName", "Name", "RuleName",
	"AlarmName", "LogGroupName", "StackSetName", "TopicName", "DashboardName"}

// physicalNames lists "<stack>: <type> <name>" for every literal physical name in the stacks of
// res, including the member template the StackSet carries.
func physicalNames(t *testing.T, res *Result) []string {
	t.Helper()
	localaws.NeedCDK(t)
	var out []string
	add := func(stack string, tmpl map[string]interface{}) {
		rs, _ := tmpl["Resources"].(map[string]interface{})
		for _, r := range rs {
			r := r.(map[string]interface{})
			p, _ := r["Properties"].(map[string]interface{})
			for _, k := range physicalNameProps {
				if v, ok := p[k].(string); ok {
					out = append(out, stack+": "+r["Type"].(string)+" "+v)
				}
			}
		}
	}
	var stacks []awscdk.Stack
	for _, m := range res.Management {
		stacks = append(stacks, m.Stack)
	}
	stacks = append(stacks, res.Members.Stack)
	for _, region := range sortedKeys(res.Hubs) {
		stacks = append(stacks, res.Hubs[region].Stack)
	}
	for _, s := range stacks {
		add(*s.StackName(), *assertions.Template_FromStack(s, nil).ToJSON())
	}
	add("member template", res.Members.Template)
	sort.Strings(out)
	return out
}

// TestNamePrefixMakesEveryPhysicalNameItsOwn synthesizes the example with namePrefix=staging: every
// stack name and every physical name differs from the default installation's, except the names the
// declaration itself sets (memberRoleName, the PTC role), which a second installation's declaration
// chooses. Both name lists are golden files, so the default's names are pinned too.
func TestNamePrefixMakesEveryPhysicalNameItsOwn(t *testing.T) {
	localaws.NeedCDK(t)
	assets, err := newAssetRoot(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(assets)
	out := t.TempDir()
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(out)})
	staged, err := Build(app, Options{DeclarationPath: testDecl, AssetRoot: assets, StackSetCallAs: "SELF", Names: Names{Prefix: "staging"}})
	if err != nil {
		t.Fatal(err)
	}
	app.Synth(nil)
	def, stg := physicalNames(t, built), physicalNames(t, staged)
	goldenFile(t, "names-default", def)
	goldenFile(t, "names-staging", stg)
	taken := map[string]bool{}
	for _, n := range def {
		taken[n[strings.Index(n, ": ")+2:]] = true
	}
	declared := map[string]bool{"AWS::IAM::Role " + built.Decl.MemberRoleName: true}
	for _, n := range stg {
		typed := n[strings.Index(n, ": ")+2:]
		if taken[typed] && !declared[typed] {
			t.Errorf("prefixed installation reuses the default's physical name: %s", n)
		}
		if !strings.HasPrefix(n, "staging-EcrWarden-") && !strings.HasPrefix(n, "member template: ") {
			t.Errorf("stack of the prefixed installation not prefixed: %s", n)
		}
	}
	if len(stg) != len(def) {
		t.Errorf("%d physical names with a prefix, %d without", len(stg), len(def))
	}
	// The member trust and the organization reader trust name the prefixed function roles.
	b, _ := json.Marshal(staged.Members.Template)
	if !strings.Contains(string(b), "role/staging-ecr-warden-backfill-us-east-1") || strings.Contains(string(b), "role/ecr-warden-backfill") {
		t.Errorf("member template trusts the wrong function roles")
	}
}

func TestNamePrefixIsValidated(t *testing.T) {
	for _, p := range []string{"Staging", "-x", "x-", "a--b", "a_b", strings.Repeat("a", 21)} {
		if err := (Names{Prefix: p}).Validate(); err == nil || !strings.Contains(err.Error(), "namePrefix") {
			t.Errorf("prefix %q accepted: %v", p, err)
		}
	}
	for _, p := range []string{"", "staging", "team-b2"} {
		if err := (Names{Prefix: p}).Validate(); err != nil {
			t.Errorf("prefix %q refused: %v", p, err)
		}
	}
}

// make audit and the local runs name the audit table audit.DefaultTable; an
// installation without a prefix must deploy it under that name, or make
// audit reads a table that is not there.
func TestDefaultAuditTableIsTheDeployedOne(t *testing.T) {
	if got := (Names{}).Resource("audit"); got != audit.DefaultTable {
		t.Errorf("the audit table deploys as %q; make audit reads %q by default", got, audit.DefaultTable)
	}
}
