package iamsim

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Hand edits of the hub registry policy, in the truth table: what AWS holds
// after ecr-warden plans the document over statements someone wrote or
// changed under its Sid prefix (or AWS rewrote), evaluated by the simulator
// against the declaration. A plan ecr-warden refuses leaves AWS holding what
// it held, so that is what the rows evaluate then.

// handEditDeclaration grants an OU pull by condition, an account and a role
// under an IAM path push, and the organization a custom set.
const handEditDeclaration = `{
  "hub": {"accountId": "` + hubID + `", "regions": ["` + region + `"], "organizationId": "` + orgID + `", "managementAccountId": "` + mgmtID + `"},
  "registryPolicyScope": {"allowSwitchToV2": true},
  "actionSets": {"scan": ["ecr:DescribeImages", "ecr:ListImages"]},
  "grants": [
    {"name": "ou-pull", "repositories": ["shared/*"], "access": "pull", "principals": {"ous": ["` + ouParent + `"]},
     "placement": "registry", "principalMode": "condition", "registries": {"hub": true}},
    {"name": "team-push", "repositories": ["team-a/*"], "access": "push",
     "principals": {"accounts": ["` + grantedA + `"], "roles": ["arn:aws:iam::` + otherB + `:role/team/builder"]},
     "placement": "registry", "principalMode": "condition", "registries": {"hub": true}},
    {"name": "tag-pull", "repositoryTags": {"share": "org"}, "access": "pull", "principals": {"organization": true},
     "placement": "registry", "principalMode": "condition", "registries": {"hub": true}},
    {"name": "org-scan", "repositories": ["*"], "access": "scan", "principals": {"organization": true},
     "placement": "registry", "principalMode": "condition", "registries": {"hub": true}}
  ]
}`

// handEdit is one held hub registry policy: the statements AWS holds beside
// (or instead of) what ecr-warden rendered, the declared grants the plan
// leaves out because a statement to keep holds their Sid, and what the
// statements to keep deny.
type handEdit struct {
	name string
	// held builds the held statements from the rendered ones (by Sid).
	held func(prefix string, rendered map[string]string) []string
	// displaced are the grants whose only statement is left out.
	displaced []string
	// denies reports whether a kept Deny denies the call.
	denies func(account, action string) bool
}

var pullOnly = []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"}

var handEdits = []handEdit{
	{name: "as rendered", held: func(_ string, r map[string]string) []string { return values(r) }},
	{
		// A Deny written by hand under the Sid of a declared grant, beside a
		// stale grant ecr-warden once wrote (push and delete for the whole
		// organization). The Deny is kept and displaces its grant; the
		// stale grant must go all the same (the plan used to refuse the
		// document, so the organization kept pushing and deleting).
		name: "a Deny under a declared Sid beside a revoked grant",
		held: func(p string, r map[string]string) []string {
			deny := `{"Sid":"` + p + `OuPullOrgPaths","Effect":"Deny","Principal":{"AWS":"*"},"Action":"ecr:BatchGetImage","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"` + nested + `"}}}`
			return append(without(r, p+"OuPullOrgPaths"), deny, staleOwned(p))
		},
		displaced: []string{"ou-pull"},
		denies:    func(account, action string) bool { return account == nested && action == "ecr:BatchGetImage" },
	},
	{
		// The role a grant names was deleted and created again: AWS shows
		// the old role's unique id where the policy named it, and the
		// account principal as a bare id. The new role must be let in again.
		name: "a role principal turned into its old unique id",
		held: func(p string, r map[string]string) []string {
			out := without(r, p+"TeamPushRoles", p+"TeamPushAccounts")
			roles := strings.Replace(r[p+"TeamPushRoles"], `"arn:aws:iam::`+otherB+`:role/team/builder"`, `"AROAEXAMPLEOLDROLEID1"`, 1)
			accounts := strings.Replace(r[p+"TeamPushAccounts"], `"arn:aws:iam::`+grantedA+`:root"`, `"`+grantedA+`"`, 1)
			return append(out, roles, accounts)
		},
	},
	{
		// Someone's statements under the prefix: an Allow to everyone but
		// the hub (NotPrincipal), an Allow of everything but deletion
		// (NotAction), the OU grant widened to the whole organization's
		// paths; all are ecr-warden's and must not keep granting. A Deny
		// of everything but pulling for one member (NotAction) is kept.
		name: "a neighbour's statements under the prefix",
		held: func(p string, r map[string]string) []string {
			out := without(r, p+"OuPullOrgPaths")
			widened := strings.Replace(r[p+"OuPullOrgPaths"], ouParent+"*", orgID+"/*", 1)
			return append(out, widened,
				`{"Sid":"`+p+`NeighbourAll","Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::`+hubID+`:root"},"Action":"ecr:*","Resource":"*"}`,
				`{"Sid":"`+p+`NeighbourNotDelete","Effect":"Allow","Principal":{"AWS":"*"},"NotAction":"ecr:DeleteRepository","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"`+orgID+`"}}}`,
				`{"Sid":"`+p+`OnlyPull","Effect":"Deny","Principal":{"AWS":"*"},"NotAction":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer","ecr:BatchCheckLayerAvailability"],"Resource":"*","Condition":{"StringEquals":{"aws:PrincipalAccount":"`+grantedA+`"}}}`)
		},
		denies: func(account, action string) bool { return account == grantedA && !slices.Contains(pullOnly, action) },
	},
}

func values(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// without is the rendered statements but the given Sids.
func without(r map[string]string, sids ...string) []string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(r)) {
		if !slices.Contains(sids, k) {
			out = append(out, r[k])
		}
	}
	return out
}

// principalCall is one caller of the hand-edit table: who (as the
// organization places its account) calling as which ARN.
type principalCall struct {
	c   caller
	arn string
}

// handEditCallers are the table's callers, and roles of a listed role's
// account: the listed role under its IAM path, a role of the same name
// without the path and one under another path (a role principal names one
// ARN exactly).
func handEditCallers() []principalCall {
	var out []principalCall
	for _, c := range callers {
		out = append(out, principalCall{c, c.arn()})
	}
	b := caller{name: "", account: otherB, org: orgID, path: ouB}
	for _, arn := range []string{"arn:aws:iam::" + otherB + ":role/team/builder", "arn:aws:iam::" + otherB + ":role/builder", "arn:aws:iam::" + otherB + ":role/other/builder"} {
		c := b
		c.name = arn
		out = append(out, principalCall{c, arn})
	}
	return out
}

// afterRun is the registry policy AWS holds after ecr-warden's run over
// held: what the plan writes, or held when the plan refuses the document.
func afterRun(t *testing.T, o plan.Owner, held string, owned []policy.Statement) string {
	t.Helper()
	ch, err := o.Document(policy.ECRRegistryPolicy, policy.RegistryARN("aws", region, hubID), held, owned)
	switch {
	case err != nil:
		t.Logf("plan refused (AWS keeps what it holds): %v", err)
		return held
	case ch.Writes() && ch.Op != plan.OpDeleteDocument:
		return ch.After
	case ch.Op == plan.OpDeleteDocument:
		return ""
	}
	return held
}

// The hub registry policy after ecr-warden plans it over hand edits (a Deny
// under a declared Sid beside a revoked grant, a recreated role's unique id,
// a neighbour's NotPrincipal/NotAction statements and a widened condition
// under the prefix), as a full and as a shrink-only plan: every caller
// (the table's, and a listed role under its IAM path beside roles of its
// name without that path) x action x repository, evaluated by the
// simulator, equals the declaration with the kept Denies applied and the
// grants they displace left out; nobody outside it is let in.
func TestTruthTableAdversarialHandEdits(t *testing.T) {
	localaws.NeedNode(t, "the IAM simulator (@cloud-copilot/iam-simulate)")
	s := simulator(t)
	d, err := config.Parse([]byte(handEditDeclaration))
	if err != nil {
		t.Fatal(err)
	}
	st := desired.New(d, organization())
	owned := st.RegistryStatements(hubID, region)
	rendered := map[string]string{}
	for _, o := range owned {
		b, err := o.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		rendered[o.Sid] = string(b)
	}
	repos := append(hubRepos(d, true), repo{name: "team-a/x/y"})
	// Full plans must equal the model; shrink-only plans add nothing, so
	// they must only never be wider than it (a grant a hand edit narrowed
	// stays narrowed until a full plan).
	var cs, shrunk []Case
	var rows, shrunkRows []row
	for i, he := range handEdits {
		held := `{"Version":"2012-10-17","Statement":[` + strings.Join(he.held(d.SidPrefix, rendered), ",") + `]}`
		for _, shrink := range []bool{false, true} {
			after := afterRun(t, plan.Owner{Prefix: d.SidPrefix, OrgID: orgID, ShrinkOnly: shrink}, held, owned)
			var rp any
			if after != "" {
				doc, err := policy.Parse(after)
				if err != nil {
					t.Fatalf("%s: %v", he.name, err)
				}
				for j := range doc.Statements {
					doc.Statements[j] = doc.Statements[j].WithoutRaw()
					doc.Statements[j].Sid = fmt.Sprintf("S%d", j)
				}
				rp = asJSON(t, doc)
			}
			for _, r := range repos {
				for _, pc := range handEditCallers() {
					for _, col := range columns {
						ctx := contextOf(pc.c, r)
						if pc.c.account != "" {
							ctx["aws:PrincipalArn"] = pc.arn
						}
						cs = append(cs, Case{Principal: pc.arn, Action: col.action, Resource: policy.RepositoryARN("aws", region, hubID, r.name),
							ResourceAccount: hubID, Context: ctx, ResourcePolicy: rp, IdentityPolicy: identityOf(pc.c)})
						want := grantedBy(d, pc.c, pc.arn, col.action, r, func(g config.Grant) bool {
							return g.Registries.Hub && !slices.Contains(he.displaced, g.Name)
						})
						if he.denies != nil && he.denies(pc.c.account, col.action) {
							want = false
						}
						c := pc.c
						c.name = he.name + ": " + pc.arn
						if shrink {
							shrunk, shrunkRows = append(shrunk, cs[len(cs)-1]), append(shrunkRows, row{decl: i, caller: c, column: col.name, repo: r, want: want})
							cs = cs[:len(cs)-1]
							continue
						}
						rows = append(rows, row{decl: i, caller: c, column: col.name, repo: r, want: want})
					}
				}
			}
		}
	}
	allows := simulateRows(t, s, cs, rows, "(hand edit, full plan)", "the declaration with the kept Denies grants")
	res, err := s.Simulate(t.Context(), shrunk)
	if err != nil {
		t.Fatal(err)
	}
	wider := 0
	for i, x := range res {
		if x.Error != "" {
			t.Fatalf("simulator refused case %d (%+v): %s", i, shrunkRows[i], x.Error)
		}
		if x.Allowed() && !shrunkRows[i].want {
			if wider++; wider <= 20 {
				t.Errorf("hand edit %d (shrink-only plan): %s %s on %s is allowed, the declaration with the kept Denies does not grant it; policy %s",
					shrunkRows[i].decl, shrunkRows[i].caller.name, shrunkRows[i].column, shrunkRows[i].repo.name, mustJSON(shrunk[i].ResourcePolicy))
			}
		}
	}
	t.Logf("%d hand edits: full plans %d rows, %d allowed; shrink-only plans %d rows, %d wider than declared; 0 mismatches unless reported above",
		len(handEdits), len(rows), allows, len(shrunkRows), wider)
}

// The PTC role's trust policy after ecr-warden plans it over a hand edit:
// a statement without the Sid prefix letting an outside account assume the
// role (the trust policy is ecr-warden's wholly, so it is dropped) beside a
// Deny written under the declared trust statement's Sid (kept; it displaces
// the declared statement). Nobody may assume the role then: not the outside
// account (the plan used to refuse the whole document, which kept its
// statement), and not the service either, which only the displaced
// statement let in. As rendered, only the service acting for the member may.
func TestTruthTableAdversarialTrustHandEdit(t *testing.T) {
	localaws.NeedNode(t, "the IAM simulator (@cloud-copilot/iam-simulate)")
	s := simulator(t)
	text := strings.Replace(handEditDeclaration, `"grants": [`, `"pullThroughCache": {"members": {"all": true}, "role": {"name": "ecr-warden-ptc"},
    "rules": [{"prefix": "hub", "fromHub": true, "upstreamRepositoryPrefix": "shared"}]},
  "grants": [`, 1)
	d, err := config.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	st := desired.New(d, organization())
	role, ok := st.PTCRole(grantedA)
	if !ok {
		t.Fatal("member has no PTC role")
	}
	rendered, err := role.Trust.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	backdoor := `{"Sid":"PartnerAssume","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + outsider + `:root"},"Action":"sts:AssumeRole"}`
	deny := `{"Sid":"` + d.SidPrefix + `PtcTrust","Effect":"Deny","Principal":{"Service":"` + desired.PTCServicePrincipal + `"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"aws:SourceAccount":"` + otherB + `"}}}`
	edits := []struct {
		name string
		held string
		// displaced: the declared trust statement is left out.
		displaced bool
	}{
		{"as rendered", rendered, false},
		{"a foreign Allow beside the rendered statement", strings.Replace(rendered, `"Statement":[`, `"Statement":[`+backdoor+`,`, 1), false},
		{"a foreign Allow beside a Deny under the declared Sid", `{"Version":"2012-10-17","Statement":[` + backdoor + `,` + deny + `]}`, true},
	}
	var cs []Case
	var rows []row
	for i, e := range edits {
		o := plan.Owner{Prefix: d.SidPrefix, OrgID: orgID, Wholly: true}
		ch, err := o.Document(policy.RoleTrustPolicy, role.ARN, e.held, role.Trust.Statements)
		after := ch.After
		switch {
		case err != nil:
			t.Logf("%s: plan refused (the role keeps its trust policy): %v", e.name, err)
			after = e.held
		case !ch.Writes():
			after = e.held
		}
		var trust any
		if after != "" {
			doc, err := policy.Parse(after)
			if err != nil {
				t.Fatal(err)
			}
			for j := range doc.Statements {
				doc.Statements[j] = doc.Statements[j].WithoutRaw()
			}
			trust = asJSON(t, doc)
		}
		for _, tc := range trustCallers {
			var identity any
			if tc.account != "" {
				identity = assumeIdentity
			}
			cs = append(cs, Case{Principal: tc.principal, Action: "sts:AssumeRole", Resource: role.ARN, ResourceAccount: grantedA,
				Context: tc.context(grantedA), ResourcePolicy: trust, IdentityPolicy: identity})
			rows = append(rows, row{decl: i, caller: caller{name: e.name + ": " + tc.name, account: tc.account}, column: "AssumeRole",
				repo: repo{name: role.ARN}, want: !e.displaced && trustAllowed(d, tc, grantedA)})
		}
	}
	allows := simulateRows(t, s, cs, rows, "(trust hand edit)", "the declaration grants")
	t.Logf("%d trust policies: %d rows, %d allowed, 0 mismatches unless reported above", len(edits), len(rows), allows)
}
