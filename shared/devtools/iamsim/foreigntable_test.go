package iamsim

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Foreign statements in the truth table. ecr-warden merges its statements
// into what AWS holds and keeps every other statement byte for byte; a Deny
// someone wrote must keep denying after the merge, whatever ecr-warden adds
// beside it, and so must a Deny written by hand under ecr-warden's own Sid
// prefix (kept, reported foreign-unsafe). A stale statement under the prefix
// that the declaration does not render (a revoked grant) must be gone.

// The foreign statements of the hub registry policy, compact as AWS holds
// them (key order and escapes as a hand edit wrote them).
var foreignRegistry = []string{
	// Keeps one member out of the whole registry.
	`{"Sid":"KeepOutOtherB","Effect":"Deny","Principal":"*","Action":"ecr:*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"` + otherB + `"}}}`,
	// Only the hub pushes: NotPrincipal with Deny.
	`{"Effect":"Deny","Sid":"OnlyHubPushes","NotPrincipal":{"AWS":"arn:aws:iam::` + hubID + `:root"},"Action":["ecr:PutImage","ecr:InitiateLayerUpload"],"Resource":"*"}`,
	// A partner outside the organization may pull.
	`{"Sid":"PartnerPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + outsider + `:root"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Resource":"*"}`,
}

// prefixedDeny is a Deny written by hand under the Sid prefix: kept as
// written (it only narrows), never deleted or changed.
func prefixedDeny(prefix string) string {
	return `{"Sid":"` + prefix + `HandDeny","Effect":"Deny","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"` + grantedA + `"}}}`
}

// staleOwned is a grant ecr-warden once wrote and the declaration no longer
// renders: push for the whole organization. It must not survive the merge.
func staleOwned(prefix string) string {
	return `{"Sid":"` + prefix + `RevokedOrg","Effect":"Allow","Principal":{"AWS":"*"},"Action":["ecr:BatchGetImage","ecr:PutImage","ecr:DeleteRepository"],"Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"` + orgID + `"}}}`
}

// foreignRepository is the foreign statement of every hub repository policy:
// nobody deletes the repository or rewrites its policy through it.
const foreignRepository = `{"Sid":"NoDelete","Effect":"Deny","Principal":"*","Action":["ecr:DeleteRepository","ecr:SetRepositoryPolicy"]}`

// foreignWant is the model with the foreign statements: the declaration's
// grants, plus the partner's pull, minus every foreign or hand-written Deny.
func foreignWant(d *config.Declaration, c caller, action string, r repo) bool {
	switch {
	case c.account == otherB:
		return false // KeepOutOtherB
	case action == "ecr:PutImage":
		return false // OnlyHubPushes (no caller of the table is the hub's root)
	case action == "ecr:DeleteRepository" || action == "ecr:SetRepositoryPolicy":
		return false // NoDelete
	case c.account == grantedA && action == "ecr:BatchGetImage":
		return false // the prefixed hand-written Deny
	case c.account == outsider && action == "ecr:BatchGetImage":
		return true // PartnerPull
	}
	return granted(d, c, action, r)
}

// mergedDocument plans one document over held with the declared statements
// and returns what would be written, after checking that every foreign (and
// prefixed Deny) statement is in it byte for byte and the stale one is not.
func mergedDocument(t *testing.T, o plan.Owner, kind policy.DocumentKind, target string, held []string, keep []string, gone string, owned []policy.Statement) []any {
	t.Helper()
	if o.ShrinkOnly && len(owned) > 0 {
		// A shrink adds nothing: hold the declared statements already,
		// so that what it keeps of them is in the table.
		doc, err := desired.Render(kind, owned).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		_, sts, _ := strings.Cut(doc, `"Statement":[`)
		held = append(slices.Clone(held), strings.TrimSuffix(sts, "]}"))
	}
	text := `{"Version":"2012-10-17","Statement":[` + strings.Join(held, ",") + `]}`
	ch, err := o.Document(kind, target, text, owned)
	if err != nil {
		t.Fatalf("planning %s over foreign statements: %v", target, err)
	}
	after := ch.After
	if !ch.Writes() {
		after = ch.Before
	}
	for _, k := range keep {
		if !strings.Contains(after, k) {
			t.Errorf("%s: statement not kept byte for byte: %s\nwritten: %s", target, k, after)
		}
	}
	if gone != "" && strings.Contains(after, `"Sid":"`+strings.SplitN(strings.TrimPrefix(gone, `{"Sid":"`), `"`, 2)[0]+`"`) {
		t.Errorf("%s: a stale owned statement survived: %s", target, after)
	}
	var doc struct{ Statement []any }
	if err := json.Unmarshal([]byte(after), &doc); err != nil {
		t.Fatalf("%s: %v\n%s", target, err, after)
	}
	return doc.Statement
}

// The hub's registry and repository policies as ecr-warden would write them
// over foreign statements (a Deny by condition, a Deny with NotPrincipal, a
// foreign Allow, a hand-written Deny under the prefix, a stale owned grant),
// for the example declaration and 60 random ones, both as a full plan and
// as a shrink-only plan: every caller x action x repository must equal the
// declaration with the foreign statements applied.
func TestTruthTableForeignStatementsKeepDenying(t *testing.T) {
	localaws.NeedNode(t, "the IAM simulator (@cloud-copilot/iam-simulate)")
	s := simulator(t)
	r := seeded(t, 14)
	root, err := lambdalocal.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	example, err := config.Load(root + "/infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	decls := []*config.Declaration{example}
	for invalid := 0; len(decls) < 61; {
		d, err := config.Parse(randomDeclaration(r))
		if err != nil {
			if invalid++; invalid > 5000 {
				t.Fatal("the generator makes too few valid declarations")
			}
			continue
		}
		decls = append(decls, d)
	}
	var cs []Case
	var rows []row
	for i, d := range decls {
		st := desired.New(d, organization())
		for _, shrink := range []bool{false, true} {
			o := plan.Owner{Prefix: d.SidPrefix, OrgID: orgID, ShrinkOnly: shrink}
			heldReg := slices.Concat(foreignRegistry, []string{prefixedDeny(d.SidPrefix), staleOwned(d.SidPrefix)})
			keepReg := slices.Concat(foreignRegistry, []string{prefixedDeny(d.SidPrefix)})
			reg := mergedDocument(t, o, policy.ECRRegistryPolicy, policy.RegistryARN("aws", region, hubID), heldReg, keepReg,
				staleOwned(d.SidPrefix), st.RegistryStatements(hubID, region))
			for _, rp := range hubRepos(d, false) {
				arn := policy.RepositoryARN("aws", region, hubID, rp.name)
				repoSts := mergedDocument(t, o, policy.ECRRepositoryPolicy, arn, []string{foreignRepository}, []string{foreignRepository}, "",
					st.RepositoryStatements(desired.Repository{Account: hubID, Region: region, Name: rp.name, Tags: rp.tags}))
				all := slices.Concat(reg, repoSts)
				for j, x := range all {
					if m, ok := x.(map[string]any); ok {
						m = maps.Clone(m)
						m["Sid"] = fmt.Sprintf("S%d", j)
						all[j] = m
					}
				}
				pol := map[string]any{"Version": "2012-10-17", "Statement": all}
				for _, c := range callers {
					for _, col := range columns {
						cs = append(cs, Case{Principal: c.arn(), Action: col.action, Resource: arn, ResourceAccount: hubID,
							Context: contextOf(c, rp), ResourcePolicy: pol, IdentityPolicy: identityOf(c)})
						rows = append(rows, row{decl: 2*i + btoi(shrink), caller: c, column: col.name, repo: rp, want: foreignWant(d, c, col.action, rp)})
					}
				}
			}
		}
	}
	allows := simulateRows(t, s, cs, rows, "(odd: shrink-only plan)", "the declaration with the foreign statements grants")
	t.Logf("%d declarations, full and shrink-only plans: %d rows, %d allowed, 0 mismatches unless reported above", len(decls), len(rows), allows)
}

// ---- ECR Public repositories

// publicColumns are the ECR Public actions of the table.
var publicColumns = []struct{ name, action string }{
	{"push", "ecr-public:PutImage"},
	{"upload", "ecr-public:UploadLayerPart"},
	{"catalog", "ecr-public:PutRepositoryCatalogData"},
	{"policy", "ecr-public:SetRepositoryPolicy"},
	{"delete-image", "ecr-public:BatchDeleteImage"},
	{"delete-repo", "ecr-public:DeleteRepository"},
}

// publicWant is the model of an ECR Public grant: the listed accounts (any
// of their principals) and roles (that role alone) get push (push's upload
// actions), manage (push, catalog, policy, image deletion; never
// DeleteRepository) or the named set, on the repositories the patterns
// match; nobody else gets anything (pulls are public and not in the table).
func publicWant(d *config.Declaration, account, arn, action, name string) bool {
	for _, g := range d.PublicRepositories {
		if !slices.ContainsFunc(g.Repositories, func(p string) bool { return glob(p, name) }) {
			continue
		}
		if !slices.Contains(g.Principals.Accounts, account) && !slices.Contains(g.Principals.Roles, arn) {
			continue
		}
		var acts []string
		switch g.Access {
		case config.AccessPush:
			acts = []string{"ecr-public:BatchCheckLayerAvailability", "ecr-public:PutImage", "ecr-public:InitiateLayerUpload", "ecr-public:UploadLayerPart", "ecr-public:CompleteLayerUpload"}
		case config.AccessManage:
			acts = []string{"ecr-public:BatchCheckLayerAvailability", "ecr-public:PutImage", "ecr-public:InitiateLayerUpload", "ecr-public:UploadLayerPart", "ecr-public:CompleteLayerUpload",
				"ecr-public:PutRepositoryCatalogData", "ecr-public:SetRepositoryPolicy", "ecr-public:BatchDeleteImage"}
		default:
			acts = d.ActionSets[g.Access]
		}
		if slices.Contains(acts, action) {
			return true
		}
	}
	return false
}

// The ECR Public repository policies ecr-warden renders, for random public
// grants (accounts in and outside the organization, a role by ARN, push,
// manage or an ecr-public action set, name patterns): every caller (each a
// role with ecr-public:* in its identity policy; a listed role and another
// role of its account) x action x repository (each grant's match, its near
// misses, one matching nothing) equals the model.
func TestTruthTablePublicRepositories(t *testing.T) {
	localaws.NeedNode(t, "the IAM simulator (@cloud-copilot/iam-simulate)")
	s := simulator(t)
	r := seeded(t, 15)
	publicIdentity := map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": "ecr-public:*", "Resource": "*"}}}
	patterns := []string{"tools/*", "cli", "team-a/*", "*", "tools/build-*"}
	principalsOf := []string{grantedA, otherB, outsider, mgmtID}
	listedRole := "arn:aws:iam::" + otherB + ":role/publisher"
	var cs []Case
	var rows []row
	for n := 0; n < 60; n++ {
		var grants []map[string]any
		for i := range 1 + r.IntN(3) {
			pr := map[string]any{"accounts": []string{principalsOf[r.IntN(len(principalsOf))]}}
			if r.IntN(2) == 0 {
				pr = map[string]any{"roles": []string{listedRole}}
			}
			grants = append(grants, map[string]any{
				"name": fmt.Sprintf("p%d", i), "repositories": []string{patterns[r.IntN(len(patterns))]},
				"access": []string{"push", "manage", "describe"}[r.IntN(3)], "principals": pr,
			})
		}
		text, _ := json.Marshal(map[string]any{
			"hub":                 map[string]any{"accountId": hubID, "regions": []string{"us-east-1"}, "organizationId": orgID, "managementAccountId": mgmtID},
			"actionSets":          map[string]any{"describe": []string{"ecr-public:DescribeImages", "ecr-public:BatchDeleteImage"}},
			"grants":              []any{},
			"publicRepositories":  grants,
			"registryPolicyScope": map[string]any{"allowSwitchToV2": true},
		})
		d, err := config.Parse(text)
		if err != nil {
			t.Fatalf("%v\n%s", err, text)
		}
		st := desired.New(d, organization())
		var names []string
		for _, g := range d.PublicRepositories {
			for _, rp := range nearMisses(config.Grant{Repositories: g.Repositories}) {
				names = append(names, rp.name)
			}
			names = append(names, strings.ReplaceAll(g.Repositories[0], "*", "x"))
		}
		names = append(names, "zz-unmatched")
		slices.Sort(names)
		for _, name := range slices.Compact(names) {
			sts := st.PublicRepositoryStatements(desired.PublicRepository{Account: hubID, Name: name})
			var pol any
			if len(sts) > 0 {
				pol = asJSON(t, desired.Render(policy.PublicRepositoryPolicy, sts))
			}
			arn := "arn:aws:ecr-public::" + hubID + ":repository/" + name
			who := []struct{ account, arn string }{{otherB, listedRole}, {otherB, "arn:aws:iam::" + otherB + ":role/other"}}
			for _, c := range callers {
				if c.account != "" {
					who = append(who, struct{ account, arn string }{c.account, c.arn()})
				}
			}
			for _, w := range who {
				for _, col := range publicColumns {
					cs = append(cs, Case{Principal: w.arn, Action: col.action, Resource: arn, ResourceAccount: hubID,
						Context: map[string]any{"aws:PrincipalAccount": w.account, "aws:PrincipalArn": w.arn}, ResourcePolicy: pol, IdentityPolicy: publicIdentity})
					rows = append(rows, row{decl: n, caller: caller{name: w.arn, account: w.account}, column: col.name, repo: repo{name: name},
						want: publicWant(d, w.account, w.arn, col.action, name)})
				}
			}
		}
	}
	allows := simulateRows(t, s, cs, rows, "", "the declaration grants")
	t.Logf("60 declarations: %d rows, %d allowed, 0 mismatches unless reported above", len(rows), allows)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// simulateRows evaluates cs, whose verdicts rows[i].want expects, and reports
// the first 20 rows the simulator answers otherwise (a refused case stops the
// test); it returns how many cases the simulator allowed. note follows the
// declaration's number in a report, and grants names what the row expects.
func simulateRows(t *testing.T, s *Simulator, cs []Case, rows []row, note, grants string) int {
	t.Helper()
	res, err := s.Simulate(t.Context(), cs)
	if err != nil {
		t.Fatal(err)
	}
	if note != "" {
		note = " " + note
	}
	mismatches, allows := 0, 0
	for i, x := range res {
		if x.Error != "" {
			t.Fatalf("simulator refused case %d (%+v): %s", i, rows[i], x.Error)
		}
		if x.Allowed() {
			allows++
		}
		if x.Allowed() != rows[i].want {
			if mismatches++; mismatches <= 20 {
				t.Errorf("declaration %d%s: %s %s on %s: simulator says allowed=%v, %s %v; policy %s",
					rows[i].decl, note, rows[i].caller.name, rows[i].column, rows[i].repo.name, x.Allowed(), grants, rows[i].want, mustJSON(cs[i].ResourcePolicy))
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d rows differ", mismatches, len(rows))
	}
	return allows
}
