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

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// TestFunctionEnvIsWhatEachMainReads reads every functions/<fn>/*.go (tests aside) and collects the
// WARDEN_* names the function reads: those in its function.Spec's Env (shared/function reads only
// declared variables, and panics at cold start on an undeclared one) and any passed to os.Getenv /
// os.LookupEnv directly. The stack must set exactly those, so a variable a function starts reading
// (or stops reading) fails here instead of in a deployed Lambda.
func TestFunctionEnvIsWhatEachMainReads(t *testing.T) {
	shared := stringConsts(t, filepath.Join("..", "..", "shared", "function"))
	for _, fn := range FunctionNames {
		dir := filepath.Join("..", "..", "functions", fn)
		files := goFiles(t, dir)
		local := stringConsts(t, dir)
		// name resolves an Env element or a Getenv argument: a string literal,
		// a constant of the function's package, or function.<Constant>.
		name := func(f string, e ast.Expr) (string, bool) {
			switch e := e.(type) {
			case *ast.BasicLit:
				v, err := strconv.Unquote(e.Value)
				return v, err == nil
			case *ast.Ident:
				v, ok := local[e.Name]
				return v, ok
			case *ast.SelectorExpr:
				if pkg, ok := e.X.(*ast.Ident); ok && pkg.Name == "function" {
					v, ok := shared[e.Sel.Name]
					return v, ok
				}
			}
			t.Errorf("%s: a variable name this test cannot follow (%T)", f, e)
			return "", false
		}
		var read []string
		add := func(n string) {
			if strings.HasPrefix(n, "WARDEN_") && !slices.Contains(read, n) {
				read = append(read, n)
			}
		}
		specs := 0
		for f, file := range files {
			ast.Inspect(file, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CompositeLit:
					if sel, ok := n.Type.(*ast.SelectorExpr); !ok || sel.Sel.Name != "Spec" {
						return true
					} else if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "function" {
						return true
					}
					specs++
					for _, el := range n.Elts {
						kv, ok := el.(*ast.KeyValueExpr)
						if key, _ := kv.Key.(*ast.Ident); !ok || key == nil || key.Name != "Env" {
							continue
						}
						list, ok := kv.Value.(*ast.CompositeLit)
						if !ok {
							t.Errorf("%s: function.Spec Env is not a literal list; this test cannot follow it", f)
							continue
						}
						for _, e := range list.Elts {
							if v, ok := name(f, e); ok {
								add(v)
							}
						}
					}
				case *ast.CallExpr:
					sel, ok := n.Fun.(*ast.SelectorExpr)
					if !ok || len(n.Args) != 1 || (sel.Sel.Name != "Getenv" && sel.Sel.Name != "LookupEnv") {
						return true
					}
					if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "os" {
						return true
					}
					if v, ok := name(f, n.Args[0]); ok {
						add(v)
					}
				}
				return true
			})
		}
		if specs != 1 {
			t.Errorf("functions/%s: %d function.Spec literals, want the one its main passes to function.Run", fn, specs)
		}
		slices.Sort(read)
		set := slices.Clone(FunctionEnv[fn])
		slices.Sort(set)
		mustEqual(t, "functions/"+fn+" reads vs the stack sets", set, read)
	}
}

// goFiles parses the non-test Go files of dir, by path.
func goFiles(t *testing.T, dir string) map[string]*ast.File {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("%s: no Go files (%v)", dir, err)
	}
	files := map[string]*ast.File{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, 0)
		if err != nil {
			t.Fatalf("parsing %s: %v", p, err)
		}
		files[p] = f
	}
	return files
}

// stringConsts are the package-level string constants of the Go package in dir, by name.
func stringConsts(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, f := range goFiles(t, dir) {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, id := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							out[id.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
		}
	}
	return out
}

// TestSelfRoleNamesAreEveryHubFunctionRole: drift ignores writes by these roles, so each one that
// can write anywhere (every function, every hub region) must be listed, in drift's comma format.
func TestSelfRoleNamesAreEveryHubFunctionRole(t *testing.T) {
	localaws.NeedCDK(t)
	got := strings.Split(SelfRoleNames(built.Decl), ",")
	if len(got) != len(FunctionNames)*len(built.Decl.Hub.Regions) {
		t.Errorf("%d self role names, want %d: %v", len(got), len(FunctionNames)*len(built.Decl.Hub.Regions), got)
	}
	for _, region := range built.Decl.Hub.Regions {
		for _, fn := range FunctionNames {
			if !slices.Contains(got, Names{}.FunctionRole(fn, region)) {
				t.Errorf("self role names miss %s: %v", Names{}.FunctionRole(fn, region), got)
			}
		}
	}
}

// TestReaderAllowsExactlyTheOrganizationCallsTheInventoryMakes pins the reader's actions to
// inventory.Org's orgAPI (OrganizationReadActions).
func TestReaderAllowsExactlyTheOrganizationCallsTheInventoryMakes(t *testing.T) {
	localaws.NeedCDK(t)
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
	localaws.NeedCDK(t)
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
				if want := c.hubQuery && (fn == FnWorker || fn == FnBackfill || fn == FnDrift); hasAction(got, "tag:GetResources") != want {
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

// conditionOf is the Condition of the statement with sid among sts (nil when it has none, fails
// when there is no such statement).
func conditionOf(t *testing.T, sts []awsiam.PolicyStatement, sid string) interface{} {
	t.Helper()
	for _, s := range sts {
		m := canonical(t, s.ToStatementJson()).(map[string]interface{})
		if m["Sid"] == sid {
			return unwrapJSIIMaps(m["Condition"])
		}
	}
	t.Fatalf("no statement %s", sid)
	return nil
}

// TestConditionedPermissions: the permissions whose resource is a wildcard carry the condition
// that bounds them. Assuming the member execution role is limited to the organization's accounts
// (aws:ResourceOrgID), and PutAccountSetting, where the declaration allows the scope switch, to the
// registry policy scope setting (ecr:AccountSetting), in the hub roles and the member role alike.
func TestConditionedPermissions(t *testing.T) {
	localaws.NeedCDK(t)
	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	d.RegistryPolicyScope.AllowSwitchToV2 = true
	sw := SwitchesOf(d.Declaration)
	arn := jsii.String("arn:aws:dynamodb:us-east-1:111111111111:table/x")
	// The setting, and (since 2026-12-04, as every registry-level ECR statement) the hub regions.
	scope := map[string]interface{}{"StringEquals": map[string]interface{}{"ecr:AccountSetting": "REGISTRY_POLICY_SCOPE",
		RequestedRegionKey: d.Hub.Regions}}
	for _, fn := range FunctionNames {
		a := FunctionAccess[fn]
		sts := a.statements(resources{partition: "aws", hub: d.Hub.AccountID, hubRegions: d.Hub.Regions, memberRoleName: d.MemberRoleName,
			orgRoleARN: d.OrgRoleARN(), organizationID: d.Hub.OrganizationID, auditTable: arn, leaseTable: arn, workQueue: arn, logGroup: arn, switches: sw})
		if a.AssumeMember {
			mustEqual(t, fn+" AssumeMemberRole condition", conditionOf(t, sts, "AssumeMemberRole"),
				map[string]interface{}{"StringEquals": map[string]interface{}{"aws:ResourceOrgID": d.Hub.OrganizationID}})
		}
		if a.WriteHubRegistry {
			mustEqual(t, fn+" SwitchRegistryPolicyScope condition", conditionOf(t, sts, "SwitchRegistryPolicyScope"), scope)
		}
		for sid, actions := range actionsOf(t, sts) {
			if slices.Contains(actions, "ecr:PutAccountSetting") && sid != "SwitchRegistryPolicyScope" {
				t.Errorf("%s: ecr:PutAccountSetting in statement %s, without the setting condition", fn, sid)
			}
		}
	}
	mustEqual(t, "member SwitchRegistryPolicyScope condition", conditionOf(t, MemberStatements(d), "SwitchRegistryPolicyScope"), scope)
	// Every IAM write on the PTC role requires its permissions boundary; reads do not; nothing
	// attaches managed policies or removes the boundary.
	boundary := map[string]interface{}{"StringEquals": map[string]interface{}{"iam:PermissionsBoundary": "arn:aws:iam::${AWS::AccountId}:policy/ecr-warden-ptc-boundary"}}
	mustEqual(t, "member PullThroughCacheRole condition", canonical(t, resolveAccount(conditionOf(t, MemberStatements(d), "PullThroughCacheRole"))), boundary)
	byStatement := actionsOf(t, MemberStatements(d))
	mustEqual(t, "PTC role writes", byStatement["PullThroughCacheRole"],
		[]string{"iam:CreateRole", "iam:DeleteRolePolicy", "iam:PutRolePermissionsBoundary", "iam:PutRolePolicy", "iam:UpdateAssumeRolePolicy"})
	mustEqual(t, "PTC role reads", byStatement["ReadPullThroughCacheRole"], []string{"iam:GetRole", "iam:GetRolePolicy"})
	for _, a := range []string{"iam:AttachRolePolicy", "iam:DeleteRolePermissionsBoundary", "iam:UpdateRole", "iam:DeleteRole"} {
		if hasAction(byStatement, a) {
			t.Errorf("the member role may %s", a)
		}
	}
	// The boundary itself, in the member template: exactly the PTC role's permissions.
	var found bool
	for _, r := range resourcesOf(member, "AWS::IAM::ManagedPolicy") {
		p := props(r)
		if p["ManagedPolicyName"] != "ecr-warden-ptc-boundary" {
			continue
		}
		found = true
		mustEqual(t, "boundary", p["PolicyDocument"], map[string]interface{}{"Version": "2012-10-17", "Statement": []interface{}{
			map[string]interface{}{"Sid": "PullThroughCacheRolePermissions", "Effect": "Allow", "Action": sortedCopy(desired.PTCRoleActions), "Resource": "*"}}})
		mustEqual(t, "boundary condition", r["Condition"], "IsRoleRegion")
	}
	if !found {
		t.Error("the member template has no ecr-warden-ptc-boundary managed policy")
	}
	if !slices.Contains(actionsOf(t, MemberStatements(d))["PullThroughCacheRules"], "ecr:ValidatePullThroughCacheRule") {
		t.Error("the member role cannot validate the pull-through-cache rules it writes")
	}
}

// unwrapJSIIMaps removes the {"$jsii.map": ...} wrappers ToStatementJson leaves around nested maps
// (the synthesized template has none).
func unwrapJSIIMaps(v interface{}) interface{} {
	switch v := v.(type) {
	case map[string]interface{}:
		if inner, ok := v["$jsii.map"]; ok && len(v) == 1 {
			return unwrapJSIIMaps(inner)
		}
		out := map[string]interface{}{}
		for k, x := range v {
			out[k] = unwrapJSIIMaps(x)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(v))
		for i, x := range v {
			out[i] = unwrapJSIIMaps(x)
		}
		return out
	}
	return v
}

// TestTableCallsAreGranted: every DynamoDB call the audit trail and the lease make (the methods
// of their consumer-side interfaces, read from the packages' source) is allowed to every function
// that writes documents, on the right table. IAM authorizes BatchWriteItem and Query as actions of
// their own, and TransactWriteItems as the item actions inside it (the lease's Update and Delete,
// which its interface also declares). The table setup calls are the CDK's, not the functions'.
func TestTableCallsAreGranted(t *testing.T) {
	localaws.NeedCDK(t)
	setup := []string{"CreateTable", "DescribeTable", "UpdateTimeToLive", "TransactWriteItems"}
	calls := func(dir string) []string {
		t.Helper()
		fset := token.NewFileSet()
		files, err := filepath.Glob(filepath.Join("..", "..", dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(file, func(n ast.Node) bool {
				it, ok := n.(*ast.InterfaceType)
				if !ok {
					return true
				}
				for _, m := range it.Methods.List {
					ft, ok := m.Type.(*ast.FuncType)
					if !ok || len(m.Names) == 0 || len(ft.Params.List) < 2 {
						continue
					}
					star, ok := ft.Params.List[1].Type.(*ast.StarExpr)
					if !ok {
						continue
					}
					sel, ok := star.X.(*ast.SelectorExpr)
					if pkg, isIdent := sel.X.(*ast.Ident); !ok || !isIdent || pkg.Name != "dynamodb" {
						continue
					}
					if name := m.Names[0].Name; !slices.Contains(setup, name) && !slices.Contains(out, "dynamodb:"+name) {
						out = append(out, "dynamodb:"+name)
					}
				}
				return true
			})
		}
		slices.Sort(out)
		return out
	}
	auditCalls, leaseCalls := calls("shared/audit"), calls("shared/lease")
	if !slices.Contains(auditCalls, "dynamodb:BatchWriteItem") || !slices.Contains(auditCalls, "dynamodb:Query") || !slices.Contains(leaseCalls, "dynamodb:DeleteItem") {
		t.Fatalf("reading the interfaces found audit %v, lease %v: the parser missed calls", auditCalls, leaseCalls)
	}
	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	auditTable := jsii.String("arn:aws:dynamodb:us-east-1:111111111111:table/audit")
	leases := jsii.String("arn:aws:dynamodb:us-east-1:111111111111:table/leases")
	for _, fn := range FunctionNames {
		a := FunctionAccess[fn]
		if !a.Lease {
			continue // not a writer (backfill); its reads and records are covered by its own flags
		}
		granted := map[string][]string{} // table ARN -> actions
		for _, s := range a.statements(resources{partition: "aws", hub: "111111111111", hubRegions: d.Hub.Regions,
			memberRoleName: d.MemberRoleName, orgRoleARN: d.OrgRoleARN(), organizationID: d.Hub.OrganizationID,
			auditTable: auditTable, leaseTable: leases, workQueue: auditTable, logGroup: auditTable, switches: SwitchesOf(d.Declaration)}) {
			m := canonical(t, s.ToStatementJson()).(map[string]interface{})
			for _, r := range asList(m["Resource"]) {
				for _, act := range asList(m["Action"]) {
					granted[r.(string)] = append(granted[r.(string)], act.(string))
				}
			}
		}
		for _, c := range auditCalls {
			if !slices.Contains(granted[*auditTable], c) {
				t.Errorf("%s: the audit trail calls %s, which the role does not allow on the audit table (%v)", fn, c, granted[*auditTable])
			}
		}
		if !slices.Contains(granted[*auditTable+"/index/"+audit.IndexByName], "dynamodb:Query") {
			t.Errorf("%s: the audit history is queried through the table's indexes, which the role does not allow", fn)
		}
		for _, c := range leaseCalls {
			if !slices.Contains(granted[*leases], c) {
				t.Errorf("%s: the lease calls %s, which the role does not allow on the lease table (%v)", fn, c, granted[*leases])
			}
		}
	}
}

// The backfill takes no lease, but its full runs read and replace the members they configured in
// its own region's lease table (shared/lease/remembered.go): its role allows exactly the DynamoDB
// calls that file makes, on that table only.
func TestBackfillRemembersMembersWithExactlyItsCalls(t *testing.T) {
	localaws.NeedCDK(t)
	file, err := parser.ParseFile(token.NewFileSet(), filepath.Join("..", "..", "shared", "lease", "remembered.go"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	ast.Inspect(file, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if db, ok := sel.X.(*ast.SelectorExpr); ok && db.Sel.Name == "db" {
				calls = append(calls, "dynamodb:"+sel.Sel.Name)
			}
		}
		return true
	})
	slices.Sort(calls)
	calls = slices.Compact(calls)
	if len(calls) == 0 {
		t.Fatal("found no DynamoDB call in remembered.go: the parser missed them")
	}
	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	leases, other := jsii.String("arn:aws:dynamodb:us-east-1:111111111111:table/leases"), jsii.String("arn:aws:dynamodb:eu-west-1:111111111111:table/leases")
	var granted []string
	for _, s := range FunctionAccess[FnBackfill].statements(resources{partition: "aws", hub: "111111111111", hubRegions: d.Hub.Regions,
		memberRoleName: d.MemberRoleName, orgRoleARN: d.OrgRoleARN(), organizationID: d.Hub.OrganizationID, auditTable: jsii.String("audit"),
		leaseTable: leases, otherLeaseTables: []string{*other}, workQueue: jsii.String("queue"), logGroup: jsii.String("logs"), switches: SwitchesOf(d.Declaration)}) {
		m := canonical(t, s.ToStatementJson()).(map[string]interface{})
		for _, r := range asList(m["Resource"]) {
			if r == *other {
				t.Errorf("the backfill may act on another region's lease table: %v", m)
			}
			if r == *leases {
				for _, a := range asList(m["Action"]) {
					granted = append(granted, a.(string))
				}
			}
		}
	}
	slices.Sort(granted)
	if !slices.Equal(granted, calls) {
		t.Errorf("the backfill may call %v on its lease table; remembered.go calls %v", granted, calls)
	}
}

// resolveAccount replaces the CDK's account token in rendered strings by ${AWS::AccountId}.
func resolveAccount(v interface{}) interface{} {
	switch v := v.(type) {
	case string:
		return strings.ReplaceAll(v, *awscdk.Aws_ACCOUNT_ID(), "${AWS::AccountId}")
	case map[string]interface{}:
		out := map[string]interface{}{}
		for k, x := range v {
			out[k] = resolveAccount(x)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(v))
		for i, x := range v {
			out[i] = resolveAccount(x)
		}
		return out
	}
	return v
}

// The sweep (the backfill function) settles stale pending records with the outcome update every
// writer makes (audit.Pending.Settle, an UpdateItem on the audit table): its role must allow it, or
// every settle is refused in AWS and the stale-pending alarm never clears.
func TestSweepMaySettleStaleRecords(t *testing.T) {
	localaws.NeedCDK(t)
	d, err := LoadDeclaration(testDecl)
	if err != nil {
		t.Fatal(err)
	}
	auditTable := jsii.String("arn:aws:dynamodb:us-east-1:111111111111:table/audit")
	r := resources{partition: "aws", hub: "111111111111", hubRegions: d.Hub.Regions, memberRoleName: d.MemberRoleName,
		orgRoleARN: d.OrgRoleARN(), organizationID: d.Hub.OrganizationID, auditTable: auditTable, leaseTable: auditTable,
		workQueue: auditTable, logGroup: auditTable, switches: SwitchesOf(d.Declaration)}
	for _, s := range FunctionAccess[FnBackfill].statements(r) {
		m := canonical(t, s.ToStatementJson()).(map[string]interface{})
		if slices.Contains(asList(m["Resource"]), interface{}(*auditTable)) && slices.Contains(asList(m["Action"]), interface{}("dynamodb:UpdateItem")) {
			return
		}
	}
	t.Errorf("the backfill role cannot update audit records, which the sweep's SettleStale does")
}
