package iamsim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// The member documents ecr-warden writes, in the same truth table: each
// member's registry policy (and repository policies of member grants), the
// PTC role's trust policy and the PTC role's permissions (its inline policy
// under its permissions boundary) against the hub's documents.

// members of the table: the member registries ecr-warden writes.
var members = []struct{ id, path string }{{grantedA, ouA}, {otherB, ouB}, {nested, ouNested}}

// selectsMember reports whether a grant's registries include member m.
func selectsMember(r config.Registries, m, path string) bool {
	return r.AllMembers || slices.Contains(r.Accounts, m) ||
		slices.ContainsFunc(r.OUs, func(ou string) bool { return strings.HasPrefix(path, ou) })
}

// grantedInMember is the model for member registry m: a caller of m itself
// is allowed by its own identity policy (ecr:* in this table) whatever the
// resource policy says; any other caller only by a grant whose registries
// select m.
func grantedInMember(d *config.Declaration, c caller, action string, m, path string, r repo) bool {
	if c.account == m {
		return true
	}
	return grantedBy(d, c, c.arn(), action, r, func(g config.Grant) bool { return selectsMember(g.Registries, m, path) })
}

// memberRepos returns, for member m, a repository matching each grant that
// selects m, one under each PTC rule prefix (what the PTC statements name),
// and one matching nothing.
func memberRepos(d *config.Declaration, m, path string) []repo {
	var out []repo
	seen := map[string]bool{}
	add := func(r repo) {
		if k := fmt.Sprint(r); !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	for _, g := range d.Grants {
		if !selectsMember(g.Registries, m, path) {
			continue
		}
		add(repoMatching(g))
	}
	if d.PullThroughCache != nil {
		for _, rule := range d.PullThroughCache.Rules {
			// Under the prefix, and beside it: "hubx/library" is not under "hub/".
			add(repo{name: rule.Prefix + "/library/x"})
			if rule.Prefix != config.RootPrefix {
				add(repo{name: rule.Prefix + "x/library"})
			}
		}
	}
	add(repo{name: "zz-unmatched/app"})
	return out
}

func asJSON(t testing.TB, doc *policy.Document) any {
	t.Helper()
	text, err := doc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal([]byte(text), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// memberRegistryCases: every caller x action x member repository against the
// member's registry and repository policies.
func memberRegistryCases(t testing.TB, d *config.Declaration, decl int) ([]Case, []row) {
	st := desired.New(d, organization())
	var cs []Case
	var rows []row
	for _, m := range members {
		for _, r := range memberRepos(d, m.id, m.path) {
			sts := slices.Concat(st.RegistryStatements(m.id, region), st.RepositoryStatements(desired.Repository{Account: m.id, Region: region, Name: r.name, Tags: r.tags}))
			var rp any
			if len(sts) > 0 {
				for i := range sts {
					sts[i].Sid = fmt.Sprintf("S%d", i)
				}
				rp = asJSON(t, &policy.Document{Version: policy.VersionCurrent, Statements: sts})
			}
			for _, c := range callers {
				for _, col := range columns {
					cs = append(cs, Case{Principal: c.arn(), Action: col.action, Resource: policy.RepositoryARN("aws", region, m.id, r.name),
						ResourceAccount: m.id, Context: contextOf(c, r), ResourcePolicy: rp, IdentityPolicy: identityOf(c)})
					rows = append(rows, row{decl: decl, caller: c, column: col.name, repo: repo{name: m.id + ":" + r.name, tags: r.tags},
						want: grantedInMember(d, c, col.action, m.id, m.path, r)})
				}
			}
		}
	}
	return cs, rows
}

func identityOf(c caller) any {
	if c.account == "" {
		return nil
	}
	return adminIdentity
}

// trustCaller is who asks to assume the PTC role of member m.
type trustCaller struct {
	name      string
	principal string
	account   string // the caller's account ("" for a service or anonymous)
	context   func(m string) map[string]any
	// service says the caller is the pull-through-cache service acting for account forAccount(m).
	service    bool
	forAccount func(m string) string
}

func sourceContext(account string) map[string]any {
	return map[string]any{"aws:SourceAccount": account, "aws:SourceArn": "arn:aws:ecr:" + region + ":" + account + ":repository/hub/library/x"}
}

var trustCallers = []trustCaller{
	{name: "PTC service for the member", principal: desired.PTCServicePrincipal, service: true,
		context: sourceContext, forAccount: func(m string) string { return m }},
	{name: "PTC service for an outside account", principal: desired.PTCServicePrincipal, service: true,
		context: func(string) map[string]any { return sourceContext(outsider) }, forAccount: func(string) string { return outsider }},
	{name: "PTC service for another member", principal: desired.PTCServicePrincipal, service: true,
		context: func(m string) map[string]any { return sourceContext(other(m)) }, forAccount: other},
	{name: "another service for the member", principal: "lambda.amazonaws.com", context: sourceContext},
	{name: "management account role", principal: "arn:aws:iam::" + mgmtID + ":role/app", account: mgmtID,
		context: func(string) map[string]any {
			return map[string]any{"aws:PrincipalOrgID": orgID, "aws:PrincipalAccount": mgmtID}
		}},
	{name: "outside account role", principal: "arn:aws:iam::" + outsider + ":role/app", account: outsider,
		context: func(string) map[string]any {
			return map[string]any{"aws:PrincipalOrgID": "o-zzzzzzzzzz", "aws:PrincipalAccount": outsider}
		}},
	{name: "anonymous", principal: "anonymous", context: func(string) map[string]any { return map[string]any{} }},
}

// other is the other member of the table.
func other(m string) string {
	if m == grantedA {
		return otherB
	}
	return grantedA
}

var assumeIdentity = map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}}}

// trustAllowed is the model of the PTC role's trust: only the
// pull-through-cache service, and with aws:SourceAccount (the default) only
// acting for the member itself.
func trustAllowed(d *config.Declaration, tc trustCaller, m string) bool {
	if !tc.service {
		return false
	}
	role := d.PullThroughCache.Role
	if role.SourceAccount() || role.SourceArnCondition {
		return tc.forAccount(m) == m
	}
	return true
}

// ptcMember reports whether the declaration gives member m the PTC role.
func ptcMember(d *config.Declaration, m, path string) bool {
	if !d.HasFromHubRules() {
		return false
	}
	sel := d.PullThroughCache.Members
	return sel.All || slices.Contains(sel.Accounts, m) || slices.ContainsFunc(sel.OUs, func(ou string) bool { return strings.HasPrefix(path, ou) })
}

// trustCases: every trust caller asking to assume each member's PTC role.
func trustCases(t testing.TB, d *config.Declaration, decl int) ([]Case, []row) {
	st := desired.New(d, organization())
	var cs []Case
	var rows []row
	for _, m := range members {
		role, ok := st.PTCRole(m.id)
		if ok != ptcMember(d, m.id, m.path) {
			t.Fatalf("declaration %d: member %s gets a PTC role = %v, the declaration says %v", decl, m.id, ok, !ok)
		}
		if !ok {
			continue
		}
		trust := asJSON(t, role.Trust)
		for _, tc := range trustCallers {
			var identity any
			if tc.account != "" {
				identity = assumeIdentity
			}
			cs = append(cs, Case{Principal: tc.principal, Action: "sts:AssumeRole", Resource: role.ARN, ResourceAccount: m.id,
				Context: tc.context(m.id), ResourcePolicy: trust, IdentityPolicy: identity})
			// Outside: another organization's role, anonymous, or the service acting for an outside
			// account (the confused deputy); check counts an allow of those as an outsider allow.
			c := caller{name: tc.name, account: tc.account, org: orgID}
			switch {
			case tc.account == outsider || tc.principal == "anonymous" || (tc.service && tc.forAccount(m.id) == outsider):
				c.account, c.org = "", "o-zzzzzzzzzz"
			case tc.account == "":
				c.account = m.id // a service acting for the member (or for another member)
			}
			rows = append(rows, row{decl: decl, caller: c, column: "AssumeRole", repo: repo{name: role.ARN}, want: trustAllowed(d, tc, m.id)})
		}
	}
	return cs, rows
}

// ptcRoleAllowed is the model of what a member's PTC role may do in the hub:
// only actions both its permissions and its boundary allow (the PTC role's
// list), and only where the hub grants them: a hub grant that reaches the
// member (as any of its roles would be), or the upstream grant of the fromHub
// rules on their upstream prefix.
func ptcRoleAllowed(d *config.Declaration, m, path, action string, r repo) bool {
	if !slices.Contains(desired.PTCRoleActions, action) {
		return false
	}
	c := caller{account: m, org: orgID, path: path}
	arn := policy.RoleARN("aws", m, d.PullThroughCache.Role.Name)
	if grantedBy(d, c, arn, action, r, func(g config.Grant) bool { return g.Registries.Hub }) {
		return true
	}
	if !slices.Contains(desired.UpstreamActions, action) {
		return false
	}
	for _, rule := range d.PullThroughCache.Rules {
		if !rule.FromHub {
			continue
		}
		p := rule.UpstreamRepositoryPrefix
		if p == "" || p == config.RootPrefix || strings.HasPrefix(r.name, p+"/") {
			return true
		}
	}
	return false
}

// ptcRoleCases: each member's PTC role, with its inline policy under its
// permissions boundary, calling every action of the table on the hub's
// repositories (one under each upstream prefix too).
func ptcRoleCases(t testing.TB, d *config.Declaration, decl int) ([]Case, []row) {
	st := desired.New(d, organization())
	boundary := map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{"Effect": "Allow", "Action": desired.PTCRoleActions, "Resource": "*"}}}
	repos := ptcRepos(d)
	var cs []Case
	var rows []row
	for _, m := range members {
		role, ok := st.PTCRole(m.id)
		if !ok {
			continue
		}
		perm := asJSON(t, role.Permission)
		for _, r := range repos {
			rp := resourcePolicy(t, st, r)
			ctx := map[string]any{"aws:PrincipalOrgID": orgID, "aws:PrincipalOrgPaths": []string{m.path}, "aws:PrincipalAccount": m.id, "aws:PrincipalArn": role.ARN}
			for k, v := range r.tags {
				ctx["aws:ResourceTag/"+k] = v
				ctx["ecr:ResourceTag/"+k] = v
			}
			for _, col := range columns {
				cs = append(cs, Case{Principal: role.ARN, Action: col.action, Resource: policy.RepositoryARN("aws", region, hubID, r.name),
					ResourceAccount: hubID, Context: ctx, ResourcePolicy: rp, IdentityPolicy: perm, BoundaryPolicy: boundary})
				rows = append(rows, row{decl: decl, caller: caller{name: "PTC role of " + m.id, account: m.id, org: orgID, path: m.path},
					column: col.name, repo: r, want: ptcRoleAllowed(d, m.id, m.path, col.action, r)})
			}
		}
	}
	return cs, rows
}

// ptcMemberAccount is the model of which accounts of the organization get the PTC setup: the
// members the declaration selects, never the hub or the management account.
func ptcMemberAccount(d *config.Declaration, account, path string) bool {
	return account != hubID && account != mgmtID && ptcMember(d, account, path)
}

// lookAlikes are accounts where someone may create a role with the PTC role's name: the
// management account and the table's members (PTC members or not, as the declaration says).
var lookAlikes = []struct{ name, id, path string }{
	{"management account", mgmtID, rootPath}, {"member of the granted OU", grantedA, ouA}, {"member of the other OU", otherB, ouB},
	{"member of the OU whose id extends the granted OU's", sibling, ouPrefix},
	{"member of the OU below the granted OU", nested, ouNested}}

// lookAlikeAllowed is the model for a role named like the PTC role (with ecr:* in its identity
// policy) in account: what a hub grant that reaches the account gives any of its roles, and the
// upstream grant's actions on the upstream prefixes only when the account is a PTC member.
func lookAlikeAllowed(d *config.Declaration, account, path, action string, r repo) bool {
	c := caller{account: account, org: orgID, path: path}
	if grantedBy(d, c, policy.RoleARN("aws", account, d.PullThroughCache.Role.Name), action, r, func(g config.Grant) bool { return g.Registries.Hub }) {
		return true
	}
	if !ptcMemberAccount(d, account, path) || !slices.Contains(desired.UpstreamActions, action) {
		return false
	}
	for _, rule := range d.PullThroughCache.Rules {
		p := rule.UpstreamRepositoryPrefix
		if rule.FromHub && (p == "" || p == config.RootPrefix || strings.HasPrefix(r.name, p+"/")) {
			return true
		}
	}
	return false
}

// lookAlikeCases: a role with the PTC role's name in the management account and in each
// member, calling every action of the table on the hub's repositories: the upstream grant
// admits it only in the accounts that are PTC members, in either upstreamGrantMode.
func lookAlikeCases(t testing.TB, d *config.Declaration, decl int) ([]Case, []row) {
	st := desired.New(d, organization())
	repos := ptcRepos(d)
	var cs []Case
	var rows []row
	name := d.PullThroughCache.Role.Name
	for _, la := range lookAlikes {
		for _, kind := range []struct{ what, arn string }{
			{"role named like the PTC role", policy.RoleARN("aws", la.id, name)},
			// Named like it but not the role: under an IAM path (the grant's
			// aws:PrincipalArn names role/<name> exactly), or a user.
			{"role named like the PTC role under a path", "arn:aws:iam::" + la.id + ":role/team/" + name},
			{"user named like the PTC role", "arn:aws:iam::" + la.id + ":user/" + name},
		} {
			arn := kind.arn
			for _, r := range repos {
				// The look-alikes that are not the role matter where only the
				// upstream grant would let them in: its prefixes.
				if arn != policy.RoleARN("aws", la.id, name) && !underUpstream(d, r) {
					continue
				}
				rp := resourcePolicy(t, st, r)
				ctx := map[string]any{"aws:PrincipalOrgID": orgID, "aws:PrincipalOrgPaths": []string{la.path}, "aws:PrincipalAccount": la.id, "aws:PrincipalArn": arn}
				for k, v := range r.tags {
					ctx["aws:ResourceTag/"+k] = v
					ctx["ecr:ResourceTag/"+k] = v
				}
				for _, col := range columns {
					cs = append(cs, Case{Principal: arn, Action: col.action, Resource: policy.RepositoryARN("aws", region, hubID, r.name),
						ResourceAccount: hubID, Context: ctx, ResourcePolicy: rp, IdentityPolicy: adminIdentity})
					want := grantedBy(d, caller{account: la.id, org: orgID, path: la.path}, arn, col.action, r, func(g config.Grant) bool { return g.Registries.Hub })
					if arn == policy.RoleARN("aws", la.id, name) {
						want = lookAlikeAllowed(d, la.id, la.path, col.action, r)
					}
					rows = append(rows, row{decl: decl, caller: caller{name: kind.what + " in the " + la.name, account: la.id, org: orgID, path: la.path},
						column: col.name, repo: r, want: want})
				}
			}
		}
	}
	return cs, rows
}

// memberCases are all member rows of one declaration.
func memberCases(t testing.TB, d *config.Declaration, decl int) ([]Case, []row) {
	cs, rows := memberRegistryCases(t, d, decl)
	if d.HasFromHubRules() {
		c2, r2 := trustCases(t, d, decl)
		c3, r3 := ptcRoleCases(t, d, decl)
		c4, r4 := lookAlikeCases(t, d, decl)
		cs, rows = slices.Concat(cs, c2, c3, c4), slices.Concat(rows, r2, r3, r4)
	}
	return cs, rows
}

// underUpstream reports whether hub repository r is under a fromHub rule's
// upstream prefix (a rule without one, or ROOT, covers every repository).
func underUpstream(d *config.Declaration, r repo) bool {
	for _, rule := range d.PullThroughCache.Rules {
		p := rule.UpstreamRepositoryPrefix
		if rule.FromHub && (p == "" || p == config.RootPrefix || strings.HasPrefix(r.name, p+"/")) {
			return true
		}
	}
	return false
}

// ptcRepos are the hub repositories of d's table plus one under each fromHub rule's upstream
// prefix, which the pull-through-cache role reads through the hub's upstream grant.
func ptcRepos(d *config.Declaration) []repo {
	repos := reposFor(d)
	for _, rule := range d.PullThroughCache.Rules {
		if rule.FromHub && rule.UpstreamRepositoryPrefix != "" && rule.UpstreamRepositoryPrefix != config.RootPrefix {
			// Under the upstream prefix, the prefix itself, and beside it
			// ("sharedx/library" is not under "shared/").
			p := rule.UpstreamRepositoryPrefix
			repos = append(repos, repo{name: p + "/library/x"}, repo{name: p}, repo{name: p + "x/library"})
		}
	}
	return repos
}
