//lint:file-ignore SA1019 cxapi.SynthesisMessage is the only Go binding jsii offers for synthesis messages; its replacement package has no Go module yet

package app

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// TestCdkNagFindsNothingUnreviewed: AwsSolutions runs in Build; any finding without a suppression
// is an error annotation (the member template's findings fail Build itself).
func TestCdkNagFindsNothingUnreviewed(t *testing.T) {
	localaws.NeedCDK(t)
	stacks := []awscdk.Stack{built.Members.Stack}
	for _, h := range built.Hubs {
		stacks = append(stacks, h.Stack)
	}
	for _, m := range built.Management {
		stacks = append(stacks, m.Stack)
	}
	for _, s := range stacks {
		ann := assertions.Annotations_FromStack(s)
		for _, level := range []string{"error", "warning"} {
			var found *[]*cxapi.SynthesisMessage
			if level == "error" {
				found = ann.FindError(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
			} else {
				found = ann.FindWarning(jsii.String("*"), assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*")))
			}
			for _, f := range *found {
				t.Errorf("%s: cdk-nag %s at %s: %v", *s.StackName(), level, *f.Id, f.Entry.Data)
			}
		}
	}
}

// TestEverySuppressionCarriesAReason reads the suppressions back from the synthesized templates.
func TestEverySuppressionCarriesAReason(t *testing.T) {
	localaws.NeedCDK(t)
	n := 0
	for _, tmpl := range []assertions.Template{hubUS, hubEU, mgmt, membersT, member} {
		for id, r := range *tmpl.ToJSON() {
			if id != "Resources" {
				continue
			}
			for rid, res := range r.(map[string]interface{}) {
				meta, _ := res.(map[string]interface{})["Metadata"].(map[string]interface{})
				nag, _ := meta["cdk_nag"].(map[string]interface{})
				rules, _ := nag["rules_to_suppress"].([]interface{})
				for _, s := range rules {
					n++
					reason, _ := s.(map[string]interface{})["reason"].(string)
					if len(reason) < 60 {
						t.Errorf("%s: suppression %v has no real reason", rid, s)
					}
				}
			}
		}
	}
	if n == 0 {
		t.Error("no suppressions found in the templates; the test reads the wrong metadata")
	}
}

// TestCfnLintPassesOnEveryTemplate runs cfn-lint on each synthesized template and on the member
// template the StackSet carries (W3005, which CDK always produces, aside).
func TestCfnLintPassesOnEveryTemplate(t *testing.T) {
	localaws.NeedCDK(t)
	templates, err := filepath.Glob(filepath.Join(outdir, "*.template.json"))
	if err != nil || len(templates) < 4 {
		t.Fatalf("synthesized templates: %v (%v)", templates, err)
	}
	memberFile := filepath.Join(t.TempDir(), "EcrWarden-MemberTemplate.template.json")
	body := *membersT.ToJSON()
	for _, r := range body["Resources"].(map[string]interface{}) {
		p := r.(map[string]interface{})["Properties"].(map[string]interface{})
		if tb, ok := p["TemplateBody"].(string); ok {
			if err := os.WriteFile(memberFile, []byte(tb), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	templates = append(templates, memberFile)
	cmd := exec.Command("cfn-lint", append([]string{"--ignore-checks", "W3005", "--"}, templates...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Errorf("cfn-lint %s: %v\n%s", strings.Join(templates, " "), err, out.String())
	}
}
