package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/config"
)

// TestFunctionEnvIsWhatEachMainReads reads every functions/<fn>/*.go (tests aside) and collects the
// WARDEN_* names passed to os.Getenv / os.LookupEnv: the stack must set exactly those, so a variable
// a function starts reading (or stops reading) fails here instead of in a deployed Lambda.
func TestFunctionEnvIsWhatEachMainReads(t *testing.T) {
	for _, fn := range FunctionNames {
		files, err := filepath.Glob(filepath.Join("..", "..", "functions", fn, "*.go"))
		if err != nil || len(files) == 0 {
			t.Fatalf("functions/%s: no Go files (%v)", fn, err)
		}
		var read []string
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
			if err != nil {
				t.Fatalf("parsing %s: %v", f, err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok || len(call.Args) != 1 {
					return true
				}
				sel, ok := call.Fun.(*ast.SelectorExpr)
				if !ok || (sel.Sel.Name != "Getenv" && sel.Sel.Name != "LookupEnv") {
					return true
				}
				if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "os" {
					return true
				}
				lit, ok := call.Args[0].(*ast.BasicLit)
				if !ok {
					t.Errorf("%s: os.%s with a non-literal name; this test cannot follow it", f, sel.Sel.Name)
					return true
				}
				name, _ := strconv.Unquote(lit.Value)
				if strings.HasPrefix(name, "WARDEN_") && !slices.Contains(read, name) {
					read = append(read, name)
				}
				return true
			})
		}
		slices.Sort(read)
		set := slices.Clone(FunctionEnv[fn])
		slices.Sort(set)
		mustEqual(t, "functions/"+fn+" reads vs the stack sets", set, read)
	}
}

// TestSelfRoleNamesAreEveryHubFunctionRole: drift ignores writes by these roles, so each one that
// can write anywhere (every function, every hub region) must be listed, in drift's comma format.
func TestSelfRoleNamesAreEveryHubFunctionRole(t *testing.T) {
	got := strings.Split(SelfRoleNames(built.Decl), ",")
	if len(got) != len(FunctionNames)*len(built.Decl.Hub.Regions) {
		t.Errorf("%d self role names, want %d: %v", len(got), len(FunctionNames)*len(built.Decl.Hub.Regions), got)
	}
	for _, region := range built.Decl.Hub.Regions {
		for _, fn := range FunctionNames {
			if !slices.Contains(got, FunctionRoleName(fn, region)) {
				t.Errorf("self role names miss %s: %v", FunctionRoleName(fn, region), got)
			}
		}
	}
}

// TestReaderAllowsExactlyTheOrganizationCallsTheInventoryMakes pins the reader's actions to
// inventory.Org's orgAPI (OrganizationReadActions).
func TestReaderAllowsExactlyTheOrganizationCallsTheInventoryMakes(t *testing.T) {
	var got []string
	for name, doc := range policyDocuments(mgmt) {
		if strings.HasSuffix(name, "/ReadOrganization") {
			for _, st := range asList(doc.(map[string]interface{})["Statement"]) {
				for _, a := range asList(st.(map[string]interface{})["Action"]) {
					if !slices.Contains(got, a.(string)) {
						got = append(got, a.(string))
					}
				}
			}
		}
	}
	slices.Sort(got)
	mustEqual(t, "reader actions", got, OrganizationReadActions)
}

// actionsOf renders statements and returns their actions by Sid.
func actionsOf(t *testing.T, sts []awsiam.PolicyStatement) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, s := range sts {
		m := canonical(t, s.ToStatementJson()).(map[string]interface{})
		sid, _ := m["Sid"].(string)
		for _, a := range asList(m["Action"]) {
			out[sid] = append(out[sid], a.(string))
		}
	}
	return out
}

func hasAction(byStatement map[string][]string, action string) bool {
	for _, as := range byStatement {
		if slices.Contains(as, action) {
			return true
		}
	}
	return false
}

// TestTagAndScopeActionsFollowTheDeclaration: tag reads and the policy-scope switch are called by
// the engine only for some declarations (Engine.needsTags, tagQueries, allowSwitchToV2), so the
// roles carry them only then: tag:GetResources for the whole-registry convergers (worker, backfill)
// where a tag grant lives, ecr:ListTagsForResource for every repository reader, PutAccountSetting
// for the registry writers.
func TestTagAndScopeActionsFollowTheDeclaration(t *testing.T) {
	tagGrant := func(r config.Registries) config.Grant {
		return config.Grant{Name: "tagged", RepositoryTags: map[string]string{"share": "org"}, Access: "pull",
			Principals: config.Principals{Organization: true}, Placement: config.PlacementRepository, Registries: r}
	}
	cases := []struct {
		name                         string
		grants                       []config.Grant
		switchV2                     bool
		readsTags, hubQuery, members bool
	}{
		{name: "no tag grant, V1 kept", grants: nil},
		{name: "tag grant in the hub, V2 switch allowed", grants: []config.Grant{tagGrant(config.Registries{Hub: true})}, switchV2: true,
			readsTags: true, hubQuery: true},
		{name: "tag grant in members only", grants: []config.Grant{tagGrant(config.Registries{AllMembers: true})},
			readsTags: true, members: true},
		{name: "registry-placement tag grant reads no tags", grants: []config.Grant{func() config.Grant {
			g := tagGrant(config.Registries{Hub: true, AllMembers: true})
			g.Placement = config.PlacementRegistry
			return g
		}()}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := LoadDeclaration(testDecl)
			if err != nil {
				t.Fatal(err)
			}
			d.Grants = c.grants
			d.RegistryPolicyScope.AllowSwitchToV2 = c.switchV2
			sw := SwitchesOf(d.Declaration)
			mustEqual(t, "switches", sw, Switches{ReadsTags: c.readsTags, HubTagQueries: c.hubQuery, MemberTagQueries: c.members, SwitchScope: c.switchV2})
			arn := jsii.String("arn:aws:dynamodb:us-east-1:111111111111:table/x")
			for _, fn := range FunctionNames {
				a := FunctionAccess[fn]
				got := actionsOf(t, a.statements(resources{partition: "aws", hub: "111111111111", hubRegions: d.Hub.Regions,
					memberRoleName: d.MemberRoleName, orgRoleARN: d.OrgRoleARN(), auditTable: arn, leaseTable: arn, workQueue: arn,
					logGroup: arn, switches: sw}))
				if want := c.hubQuery && (fn == FnWorker || fn == FnBackfill); hasAction(got, "tag:GetResources") != want {
					t.Errorf("%s: tag:GetResources present = %v, want %v", fn, !want, want)
				}
				if want := c.readsTags; hasAction(got, "ecr:ListTagsForResource") != want {
					t.Errorf("%s: ecr:ListTagsForResource present = %v, want %v", fn, !want, want)
				}
				if want := c.switchV2 && a.WriteHubRegistry; hasAction(got, "ecr:PutAccountSetting") != want {
					t.Errorf("%s: ecr:PutAccountSetting present = %v, want %v", fn, !want, want)
				}
			}
			got := actionsOf(t, MemberStatements(d))
			if hasAction(got, "tag:GetResources") != c.members {
				t.Errorf("member role: tag:GetResources present = %v, want %v", !c.members, c.members)
			}
			if hasAction(got, "ecr:ListTagsForResource") != c.readsTags {
				t.Errorf("member role: ecr:ListTagsForResource present = %v, want %v", !c.readsTags, c.readsTags)
			}
			if hasAction(got, "ecr:PutAccountSetting") != c.switchV2 {
				t.Errorf("member role: ecr:PutAccountSetting present = %v, want %v", !c.switchV2, c.switchV2)
			}
			// Converge reads and may clean up every member registry and repository whatever grants remain.
			for _, a := range []string{"ecr:GetRegistryPolicy", "ecr:PutRegistryPolicy", "ecr:DeleteRegistryPolicy",
				"ecr:DescribeRepositories", "ecr:GetRepositoryPolicy", "ecr:SetRepositoryPolicy", "ecr:DeleteRepositoryPolicy"} {
				if !hasAction(got, a) {
					t.Errorf("member role lacks %s", a)
				}
			}
		})
	}
}
