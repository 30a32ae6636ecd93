package iamsim

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// The organization the truth table evaluates against.
const (
	orgID    = "o-a1b2c3d4e5"
	hubID    = "111111111111"
	mgmtID   = "999999999999"
	grantedA = "222222222222" // in the nested OU the example declaration grants
	otherB   = "555555555555" // in an OU no grant of the example names
	outsider = "777777777777" // another organization
	// sibling sits in an OU whose id starts with the granted parent OU's
	// id (ou-ab12-11111111 and ou-ab12-111111112 are both valid ids): an OU
	// path written without its trailing slash, or matched as a bare string
	// prefix, would let it in.
	sibling = "666666666666"
	// nested sits in an OU below the granted OU: an OU selects the accounts
	// of every OU under it too (the form "<ou path>*" in conditions).
	nested   = "888888888888"
	region   = "us-east-1"
	rootPath = orgID + "/r-ab12/"
	ouParent = rootPath + "ou-ab12-11111111/"
	ouA      = ouParent + "ou-ab12-22222222/"
	ouB      = rootPath + "ou-ab12-33333333/"
	ouPrefix = rootPath + "ou-ab12-111111112/"
	ouNested = ouA + "ou-ab12-44444444/"
)

// caller is one row group of the table: who calls, with the organization
// context AWS would supply for them.
type caller struct {
	name    string
	account string // "" for anonymous
	org     string
	path    string
}

var callers = []caller{
	{"member of a granted OU", grantedA, orgID, ouA},
	{"member of a non-granted OU", otherB, orgID, ouB},
	{"member of an OU whose id extends the granted OU's", sibling, orgID, ouPrefix},
	{"member of an OU below the granted OU", nested, orgID, ouNested},
	{"management account", mgmtID, orgID, rootPath},
	{"outside account", outsider, "o-zzzzzzzzzz", "o-zzzzzzzzzz/r-zz99/"},
	{"anonymous", "", "", ""},
}

func (c caller) arn() string {
	if c.account == "" {
		return "anonymous"
	}
	return "arn:aws:iam::" + c.account + ":role/app"
}

// columns: the actions of the table; pull and push stand for their first
// image action.
var columns = []struct{ name, action string }{
	{"pull", "ecr:BatchGetImage"},
	{"push", "ecr:PutImage"},
	{"CreateRepository", "ecr:CreateRepository"},
	{"BatchImportUpstreamImage", "ecr:BatchImportUpstreamImage"},
	{"SetRepositoryPolicy", "ecr:SetRepositoryPolicy"},
	{"DeleteRepository", "ecr:DeleteRepository"},
}

// organization is the inventory ecr-warden renders from (the org walk).
func organization() []desired.Account {
	return []desired.Account{
		{ID: hubID, Status: "ACTIVE", OUPath: rootPath},
		{ID: mgmtID, Status: "ACTIVE", OUPath: rootPath},
		{ID: grantedA, Status: "ACTIVE", OUPath: ouA},
		{ID: otherB, Status: "ACTIVE", OUPath: ouB},
		{ID: sibling, Status: "ACTIVE", OUPath: ouPrefix},
		{ID: nested, Status: "ACTIVE", OUPath: ouNested},
	}
}

// repo is a hub repository of the table.
type repo struct {
	name string
	tags map[string]string
}

// ---- the model: what the declaration grants, computed from the declaration alone

var modelPull = []string{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"}
var modelPush = append(slices.Clone(modelPull), "ecr:PutImage", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload")

func glob(pattern, s string) bool {
	// '*' and '?' as in IAM; case-insensitive for actions is handled by the caller.
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if glob(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && glob(pattern[1:], s[1:])
	}
	return s != "" && pattern[0] == s[0] && glob(pattern[1:], s[1:])
}

func grantActions(d *config.Declaration, access string) []string {
	switch access {
	case config.AccessPull:
		return modelPull
	case config.AccessPush:
		return modelPush
	}
	return d.ActionSets[access]
}

// granted is the model: does the declaration let c perform action on the
// hub repository r? Only grants whose documents live in the hub count; the
// pull-through-cache upstream grant is for the PTC role alone, never for
// other roles of a member.
func granted(d *config.Declaration, c caller, action string, r repo) bool {
	return grantedBy(d, c, c.arn(), action, r, func(g config.Grant) bool { return g.Registries.Hub })
}

// grantedBy is the model over the grants whose documents live in the
// registry in question (in reaches): does some grant let c, calling as the
// role arn, perform action on r?
func grantedBy(d *config.Declaration, c caller, arn, action string, r repo, in func(config.Grant) bool) bool {
	if c.account == "" || c.org != orgID && !slices.Contains(listedAccounts(d), c.account) && !slices.Contains(listedRoles(d), arn) {
		// Anonymous callers and callers outside the organization are never
		// granted, except an account or role a grant lists by id or ARN
		// (in these tables only an account that left the organization).
		return false
	}
	for _, g := range d.Grants {
		if !in(g) {
			continue
		}
		if len(g.Repositories) > 0 && !slices.ContainsFunc(g.Repositories, func(p string) bool { return glob(p, r.name) }) {
			continue
		}
		tagsOK := true
		for k, v := range g.RepositoryTags {
			if !tagMatches(g.Placement, k, v, r.tags) {
				tagsOK = false
			}
		}
		if !tagsOK {
			continue
		}
		if !slices.ContainsFunc(grantActions(d, g.Access), func(a string) bool { return glob(strings.ToLower(a), strings.ToLower(action)) }) {
			continue
		}
		p := g.Principals
		switch {
		case p.Organization && c.org == orgID:
			return true
		case slices.ContainsFunc(p.OUs, func(ou string) bool { return strings.HasPrefix(c.path, ou) }) && c.org == orgID:
			return true
		case slices.Contains(p.Accounts, c.account):
			return true
		case slices.Contains(p.Roles, arn):
			return true
		}
	}
	return false
}

// tagMatches is the model of one declared tag on a repository's tags. A
// registry-placement grant is an aws:ResourceTag/<key> condition, and IAM
// matches the key in it without case (the IAM reference for the key: a
// condition on TagKey1 matches a tag key TagKey1 or tagkey1) and the value
// with case. A repository-placement grant is matched by ecr-warden, which
// compares both exactly (README "Unverified" says how the two differ).
func tagMatches(placement, key, value string, tags map[string]string) bool {
	if placement != config.PlacementRegistry {
		got, ok := tags[key]
		return ok && got == value
	}
	for k, got := range tags {
		if strings.EqualFold(k, key) && got == value {
			return true
		}
	}
	return false
}

func listedRoles(d *config.Declaration) []string {
	var out []string
	for _, g := range d.Grants {
		out = append(out, g.Principals.Roles...)
	}
	return out
}

func listedAccounts(d *config.Declaration) []string {
	var out []string
	for _, g := range d.Grants {
		out = append(out, g.Principals.Accounts...)
	}
	return out
}

// ---- what ecr-warden renders, evaluated by the independent simulator

var adminIdentity = map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": "ecr:*", "Resource": "*"}}}

// resourcePolicy is every statement ecr-warden renders that governs hub
// repository r: the hub registry policy's and r's repository policy's, as
// one resource policy (both are evaluated for the request; an explicit
// deny in either wins).
func resourcePolicy(t testing.TB, st *desired.State, r repo) any {
	t.Helper()
	sts := slices.Concat(st.RegistryStatements(hubID, region), st.RepositoryStatements(desired.Repository{Account: hubID, Region: region, Name: r.name, Tags: r.tags}))
	if len(sts) == 0 {
		return nil
	}
	for i := range sts {
		sts[i].Sid = fmt.Sprintf("S%d", i)
	}
	text, err := (&policy.Document{Version: policy.VersionCurrent, Statements: sts}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func contextOf(c caller, r repo) map[string]any {
	ctx := map[string]any{}
	for k, v := range r.tags {
		ctx["aws:ResourceTag/"+k] = v
		ctx["ecr:ResourceTag/"+k] = v
	}
	if c.account == "" {
		return ctx
	}
	ctx["aws:PrincipalOrgID"] = c.org
	ctx["aws:PrincipalOrgPaths"] = []string{c.path}
	ctx["aws:PrincipalAccount"] = c.account
	ctx["aws:PrincipalArn"] = c.arn()
	return ctx
}

type row struct {
	decl   int
	caller caller
	column string
	repo   repo
	want   bool
}

func cases(t testing.TB, d *config.Declaration, decl int, repos []repo) ([]Case, []row) {
	st := desired.New(d, organization())
	var cs []Case
	var rows []row
	for _, r := range repos {
		rp := resourcePolicy(t, st, r)
		for _, c := range callers {
			for _, col := range columns {
				cs = append(cs, Case{Principal: c.arn(), Action: col.action,
					Resource:        policy.RepositoryARN("aws", region, hubID, r.name),
					ResourceAccount: hubID, Context: contextOf(c, r), ResourcePolicy: rp,
					IdentityPolicy: func() any {
						if c.account == "" {
							return nil
						}
						return adminIdentity
					}()})
				rows = append(rows, row{decl: decl, caller: c, column: col.name, repo: r, want: granted(d, c, col.action, r)})
			}
		}
	}
	return cs, rows
}

// repoMatching is a repository the grant's first name pattern (with its
// wildcards filled in) and its tags select.
func repoMatching(g config.Grant) repo {
	name := "matched/app"
	if len(g.Repositories) > 0 {
		name = strings.ReplaceAll(strings.ReplaceAll(g.Repositories[0], "*", "x"), "?", "y")
	}
	r := repo{name: name}
	if len(g.RepositoryTags) > 0 {
		r.tags = g.RepositoryTags
	}
	return r
}

// nearMisses are repositories on the edge of the grant's name patterns,
// with the grant's tags: a wildcard filled with a deeper path ("*" matches
// "/" in IAM resource ARNs and in the declaration alike), the pattern's
// literal part alone (the "shared" of "shared/*", which the pattern does
// not match), that part extended by a character ("sharedx/app", which
// neither does), an exact pattern extended below it and beside it; and the
// grant's first match without its tags, with a tag's value in another
// case (tag values compare with case), or with a tag's key in another case
// (which a registry-placement grant's condition matches and a
// repository-placement grant does not: tagMatches). The model decides each.
func nearMisses(g config.Grant) []repo {
	var names []string
	if len(g.Repositories) > 0 {
		p := g.Repositories[0]
		names = append(names, strings.ReplaceAll(p, "*", "x/y"))
		if i := strings.Index(p, "*"); i >= 0 {
			lit := strings.TrimRight(p[:i], "/-._")
			names = append(names, lit, lit+"x/app")
		} else {
			names = append(names, p+"/z", p+"z")
		}
	}
	var out []repo
	for _, n := range names {
		if policy.ValidRepositoryName(n) {
			out = append(out, repo{name: n, tags: g.RepositoryTags})
		}
	}
	if len(g.RepositoryTags) > 0 {
		m := repoMatching(g)
		out = append(out, repo{name: m.name})
		other := map[string]string{}
		for k, v := range g.RepositoryTags {
			other[k] = strings.ToUpper(v) + "X"
		}
		out = append(out, repo{name: m.name, tags: other})
		upper := map[string]string{}
		for k, v := range g.RepositoryTags {
			upper[strings.ToUpper(k)] = v
		}
		out = append(out, repo{name: m.name, tags: upper})
	}
	return out
}

// reposFor returns a repository matching each hub grant (tags included) and
// one matching none.
func reposFor(d *config.Declaration) []repo {
	return hubRepos(d, false)
}

// hubRepos is reposFor, with each grant's near misses when near is set
// (the hub's own table: the other tables, which multiply the repositories by
// events, look-alikes or forgeries, keep to one repository per grant).
func hubRepos(d *config.Declaration, near bool) []repo {
	var out []repo
	seen := map[string]bool{}
	add := func(r repo) {
		if key := fmt.Sprint(r); !seen[key] {
			seen[key] = true
			out = append(out, r)
		}
	}
	for _, g := range d.Grants {
		if !g.Registries.Hub {
			continue
		}
		add(repoMatching(g))
		if near {
			for _, r := range nearMisses(g) {
				add(r)
			}
		}
	}
	return append(out, repo{name: "zz-unmatched/app"})
}

func simulator(t *testing.T) *Simulator {
	t.Helper()
	root, err := lambdalocal.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	s, err := Install(ctx, root)
	if err != nil {
		t.Fatalf("installing the pinned IAM simulator (make iamsim): %v", err)
	}
	return s
}

// check runs the rows through the simulator and fails on every mismatch
// with the model and on any outsider or anonymous allow.
func check(t *testing.T, s *Simulator, cs []Case, rows []row) (allows, outsiderAllows int) {
	t.Helper()
	res, err := s.Simulate(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	mismatches := 0
	for i, r := range res {
		if r.Error != "" {
			t.Fatalf("simulator refused case %d (%+v): %s", i, rows[i], r.Error)
		}
		got := r.Allowed()
		if got {
			allows++
			// An account outside the organization is let in only when a
			// grant lists it by id (the model's want): an account that
			// left keeps such a grant.
			if (rows[i].caller.account == "" || rows[i].caller.org != orgID) && !rows[i].want {
				outsiderAllows++
			}
		}
		if got != rows[i].want {
			mismatches++
			if mismatches <= 20 {
				t.Errorf("declaration %d: %s %s on %s: simulator says allowed=%v, the declaration grants %v; policy %s",
					rows[i].decl, rows[i].caller.name, rows[i].column, rows[i].repo.name, got, rows[i].want, mustJSON(cs[i].ResourcePolicy))
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d rows differ from the declaration", mismatches, len(rows))
	}
	if outsiderAllows > 0 {
		t.Errorf("%d allows for outside or anonymous callers", outsiderAllows)
	}
	return allows, outsiderAllows
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The truth table for the example declaration (infra/declaration.json):
// every caller x action x repository, evaluated by the independent
// simulator over the hub documents ecr-warden renders, equals what the
// declaration grants. The table is printed with -v.
func TestTruthTableExampleDeclaration(t *testing.T) {
	localaws.NeedNode(t, "the IAM simulator (@cloud-copilot/iam-simulate)")
	s := simulator(t)
	root, _ := lambdalocal.ModuleRoot()
	d, err := config.Load(filepath.Join(root, "infra", "declaration.json"))
	if err != nil {
		t.Fatal(err)
	}
	repos := hubRepos(d, true)
	cs, rows := cases(t, d, 0, repos)
	hubRows := len(rows)
	mc, mr := memberCases(t, d, 0)
	ec, er := eventCases(t, d, 0)
	allows, outside := check(t, s, slices.Concat(cs, mc, ec), slices.Concat(rows, mr, er))
	t.Logf("example declaration, member documents: %d rows (member registries, PTC role trust, PTC role in the hub); after account events: %d rows", len(mr), len(er))
	var b strings.Builder
	fmt.Fprintf(&b, "%-28s %-18s", "caller", "repository")
	for _, c := range columns {
		fmt.Fprintf(&b, " %-8.8s", c.name)
	}
	b.WriteString("\n")
	for i := 0; i < hubRows; i += len(columns) {
		fmt.Fprintf(&b, "%-28s %-18s", rows[i].caller.name, rows[i].repo.name)
		for j := range columns {
			mark := "-"
			if rows[i+j].want {
				mark = "allow"
			}
			fmt.Fprintf(&b, " %-8s", mark)
		}
		b.WriteString("\n")
	}
	t.Logf("example declaration: %d rows (%d hub, %d member, %d after account events), %d allowed, %d outsider/anonymous allows, 0 mismatches unless reported above\n%s",
		hubRows+len(mr)+len(er), hubRows, len(mr), len(er), allows, outside, b.String())
}

// randomDeclaration writes a random declaration over the same organization.
func randomDeclaration(r *rand.Rand) []byte {
	patterns := []string{"shared/*", "apps/*", "team-a/*", "*", "base/x", "tools/build-*"}
	pick := func(n int) []string {
		out := []string{}
		for _, i := range r.Perm(len(patterns))[:n] {
			out = append(out, patterns[i])
		}
		return out
	}
	accessOf := []string{"pull", "push", "scan", "admin", "ptc", "wild"}
	var grants []map[string]any
	for i := range 1 + r.IntN(4) {
		principals := map[string]any{}
		for len(principals) == 0 {
			if r.IntN(3) == 0 {
				principals["organization"] = true
			}
			if r.IntN(2) == 0 {
				principals["ous"] = []string{randomOU(r)}
			}
			if r.IntN(3) == 0 {
				principals["accounts"] = []string{[]string{grantedA, otherB}[r.IntN(2)]}
			}
			if r.IntN(4) == 0 {
				principals["roles"] = []string{"arn:aws:iam::" + []string{grantedA, otherB}[r.IntN(2)] + ":role/app"}
			}
		}
		g := map[string]any{
			"name":          fmt.Sprintf("g%d", i),
			"access":        accessOf[r.IntN(len(accessOf))],
			"principals":    principals,
			"principalMode": []string{"condition", "enumerate"}[r.IntN(2)],
			"registries":    randomRegistries(r),
		}
		placement := []string{"registry", "repository"}[r.IntN(2)]
		g["placement"] = placement
		// Tags in either placement: a registry-placement grant is an
		// aws:ResourceTag condition, a repository-placement grant is
		// matched by ecr-warden (tagMatches says how they differ).
		if r.IntN(3) == 0 {
			g["repositoryTags"] = map[string]string{"share": "org"}
			if r.IntN(2) == 0 {
				g["repositories"] = pick(1)
			}
		} else {
			g["repositories"] = pick(1 + r.IntN(2))
		}
		grants = append(grants, g)
	}
	d := map[string]any{
		"hub":                 map[string]any{"accountId": hubID, "regions": []string{region}, "organizationId": orgID, "managementAccountId": mgmtID},
		"registryPolicyScope": map[string]any{"allowSwitchToV2": true},
		"actionSets": map[string]any{
			"scan": []string{"ecr:DescribeImages", "ecr:ListImages"},
			// No policy or tag writes: the declaration refuses a grant of them
			// (policy.AccessChangingActions).
			"admin": []string{"ecr:DeleteRepository", "ecr:BatchDeleteImage", "ecr:BatchGetImage"},
			"ptc":   []string{"ecr:BatchImportUpstreamImage", "ecr:CreateRepository"},
			// Wildcards in a set: IAM matches them without case, as the model does.
			"wild": []string{"ecr:BatchGet*", "ecr:Get*", "ecr:*Layer*"},
		},
		"grants": grants,
	}
	if r.IntN(2) == 0 {
		d["pullThroughCache"] = randomPTC(r)
	}
	b, _ := json.Marshal(d)
	return b
}

// seeded is the random source of a randomized table: seeded from the clock,
// or from IAMSIM_SEED to reproduce a run whose seed the log gives; stream
// keeps the tables' sequences apart.
func seeded(t *testing.T, stream uint64) *rand.Rand {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("IAMSIM_SEED"); v != "" {
		fmt.Sscan(v, &seed)
	}
	t.Logf("seed %d (IAMSIM_SEED=%d reproduces this run)", seed, seed)
	return rand.New(rand.NewPCG(seed, stream))
}

// The truth table over at least 200 random valid declarations: every row
// equals the declaration, and no outside or anonymous caller is allowed.
func TestTruthTableRandomDeclarations(t *testing.T) {
	localaws.NeedNode(t, "the IAM simulator (@cloud-copilot/iam-simulate)")
	s := simulator(t)
	r := seeded(t, 12)
	var cs []Case
	var rows []row
	valid, invalid, memberRows, eventRows := 0, 0, 0, 0
	for valid < 200 {
		text := randomDeclaration(r)
		d, err := config.Parse(text)
		if err != nil {
			invalid++
			if invalid > 5000 {
				t.Fatalf("the generator makes too few valid declarations; last error: %v\n%s", err, text)
			}
			continue
		}
		c, rw := cases(t, d, valid, hubRepos(d, true))
		mc, mr := memberCases(t, d, valid)
		ec, er := eventCases(t, d, valid)
		cs = slices.Concat(cs, c, mc, ec)
		rows = slices.Concat(rows, rw, mr, er)
		memberRows += len(mr)
		eventRows += len(er)
		valid++
	}
	allows, outside := check(t, s, cs, rows)
	t.Logf("%d valid declarations (%d generated were invalid and skipped), %d rows (%d of them over member documents, %d after account events), %d allowed, %d outsider/anonymous allows",
		valid, invalid, len(rows), memberRows, eventRows, allows, outside)
}

// randomOU picks an OU path of the table's organization: the granted OU, its
// parent, the other OU, the OU below the granted one, or the root (every
// account, the hub and the management account included).
func randomOU(r *rand.Rand) string {
	ous := []string{ouA, ouParent, ouB, ouNested, rootPath}
	return ous[r.IntN(len(ous))]
}

// randomPTC is a random pullThroughCache section: members all, by OU (the
// root included, which holds the hub and the management account) or listed;
// one to three rules caching from the hub under a named upstream prefix, a
// nested one, the whole registry (no prefix, or ROOT), and sometimes a rule
// from a public upstream; the trust's conditions in every combination; the
// members' statement principals as the root or a named role, with or
// without TagResource; either upstreamGrantMode.
func randomPTC(r *rand.Rand) map[string]any {
	role := map[string]any{"name": "ecr-warden-ptc"}
	if r.IntN(3) == 0 {
		role["sourceArnCondition"] = true
	}
	if r.IntN(4) == 0 {
		role["sourceAccountCondition"] = false
	}
	var members map[string]any
	switch r.IntN(4) {
	case 0, 1:
		members = map[string]any{"all": true}
	case 2:
		members = map[string]any{"ous": []string{randomOU(r)}}
	default:
		ids := []string{grantedA, otherB, sibling, nested}
		members = map[string]any{"accounts": []string{ids[r.IntN(len(ids))]}}
		if r.IntN(2) == 0 {
			members["ous"] = []string{randomOU(r)}
		}
	}
	upstreams := []map[string]any{
		{"prefix": "hub", "fromHub": true, "upstreamRepositoryPrefix": "shared"},
		{"prefix": "team", "fromHub": true, "upstreamRepositoryPrefix": "team-a/base"},
		{"prefix": "all", "fromHub": true},
		{"prefix": "whole", "fromHub": true, "upstreamRepositoryPrefix": "ROOT"},
	}
	var rules []any
	for _, i := range r.Perm(len(upstreams))[:1+r.IntN(2)] {
		// Mostly a named prefix: a rule over the whole hub lets every PTC
		// member read everything, which leaves little to tell apart.
		if i >= 2 && r.IntN(2) == 0 {
			i = 0
		}
		if !slices.ContainsFunc(rules, func(x any) bool { return x.(map[string]any)["prefix"] == upstreams[i]["prefix"] }) {
			rules = append(rules, upstreams[i])
		}
	}
	if r.IntN(3) == 0 {
		rules = append(rules, map[string]any{"prefix": "ecr-public", "upstreamRegistryUrl": "public.ecr.aws"})
	}
	ptc := map[string]any{
		"members":           members,
		"role":              role,
		"rules":             rules,
		"upstreamGrantMode": []string{"enumerate", "condition"}[r.IntN(2)],
	}
	switch r.IntN(3) {
	case 0:
		ptc["statementPrincipals"] = map[string]any{"roleNames": []string{"app"}}
	case 1:
		ptc["statementPrincipals"] = map[string]any{"accountRoot": true, "roleNames": []string{"builder"}}
	}
	if r.IntN(3) == 0 {
		ptc["tagResource"] = true
	}
	return ptc
}

// randomRegistries picks where a random grant's documents live: mostly the
// hub, sometimes (also) members, all or by OU or account.
func randomRegistries(r *rand.Rand) map[string]any {
	reg := map[string]any{"hub": r.IntN(4) != 0}
	switch r.IntN(4) {
	case 0:
		reg["allMembers"] = true
	case 1:
		reg["ous"] = []string{randomOU(r)}
	case 2:
		reg["accounts"] = []string{[]string{grantedA, otherB, nested}[r.IntN(3)]}
	default:
		reg["hub"] = true
	}
	return reg
}
