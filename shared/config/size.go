package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// A registry policy holds, for each registry-placement grant that applies to its registry, one
// statement per principal kind, each listing the grant's repository ARNs as Resource; the accounts
// and roles kinds also list their principals' ARNs. Those texts alone are known from the
// declaration (the organization's accounts, the PTC members and the actions are not counted), so
// their sum is a floor of the document's size: past ECR's 10,240 characters, AWS refuses the
// document whatever the organization holds, and every grant in it stays unwritten. Validation
// refuses such a declaration instead of accepting it and failing at every event.

// grantFloor is the characters the statements of g surely take in one document of account and
// region: its Resource lists (registry placement) and its account and role principal lists.
func (d *Declaration) grantFloor(g *Grant, account, region string, registry bool) int {
	listed := func(items []string) int { // "a","b": each quoted, separated by commas (one item may be written without brackets)
		n := 0
		for i, s := range items {
			n += len(s) + 2
			if i > 0 {
				n++
			}
		}
		return n
	}
	kinds, n := 0, 0
	if g.PrincipalMode == ModeCondition {
		if g.Principals.Organization {
			kinds++
		}
		if len(g.Principals.OUs) > 0 {
			kinds++
		}
	}
	if len(g.Principals.Accounts) > 0 {
		kinds++
		roots := make([]string, len(g.Principals.Accounts))
		for i, a := range g.Principals.Accounts {
			roots[i] = policy.AccountRootARN(d.Hub.Partition, a)
		}
		n += listed(roots)
	}
	if len(g.Principals.Roles) > 0 {
		kinds++
		n += listed(g.Principals.Roles)
	}
	if registry && len(g.Repositories) > 0 && !containsStar(g.Repositories) { // "*" is Resource "*"
		arns := make([]string, len(g.Repositories))
		for i, p := range g.Repositories {
			arns[i] = policy.RepositoryARN(d.Hub.Partition, region, account, p)
		}
		n += kinds * listed(arns)
	}
	return n
}

// maxSizeParts is how many grants a size problem names, the largest first.
const maxSizeParts = 5

func sumParts[T any](ps []T, n func(T) int) int {
	total := 0
	for _, p := range ps {
		total += n(p)
	}
	return total
}

func containsStar(patterns []string) bool {
	for _, p := range patterns {
		if p == "*" {
			return true
		}
	}
	return false
}

// policySizes reports each registry policy (the hub's, every member's, those of the members
// selected by account or OU) and each grant's repository policies whose floor passes ECR's limit.
func (v *validator) policySizes() {
	d := v.d
	limit := policy.ECRRegistryPolicy.Limit()
	if len(d.Hub.Regions) == 0 || !policy.ValidAccountID(d.Hub.AccountID) {
		return
	}
	region := d.Hub.Regions[0]
	for _, r := range d.Hub.Regions[1:] { // the longest region name gives the largest ARNs
		if len(r) > len(region) {
			region = r
		}
	}
	type document struct {
		what   string
		member bool
		// applies reports whether a grant's statements are surely in the document.
		applies func(r Registries) bool
	}
	docs := []document{{"the hub's registry policy", false, func(r Registries) bool { return r.Hub }}}
	anyAll := false
	selectors := map[string]string{} // "account:<id>" or "ou:<path>" -> what
	for _, g := range d.Grants {
		anyAll = anyAll || g.Registries.AllMembers
		for _, a := range g.Registries.Accounts {
			selectors["account:"+a] = "member " + a + "'s registry policy"
		}
		for _, ou := range g.Registries.OUs {
			selectors["ou:"+ou] = "the registry policy of the members under " + ou
		}
	}
	if anyAll {
		docs = append(docs, document{"every member's registry policy", true, func(r Registries) bool { return r.AllMembers }})
	}
	keys := make([]string, 0, len(selectors))
	for k := range selectors {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		kind, id, _ := strings.Cut(k, ":")
		docs = append(docs, document{selectors[k], true, func(r Registries) bool {
			if r.AllMembers {
				return true
			}
			for _, x := range map[string][]string{"account": r.Accounts, "ou": r.OUs}[kind] {
				// An OU selects the members of the OUs below it too.
				if x == id || (kind == "ou" && strings.HasPrefix(id, x)) {
					return true
				}
			}
			return false
		}})
	}
	for _, doc := range docs {
		account := d.Hub.AccountID // a member's id has the same length
		type part struct{ grant, n int }
		total, parts := 0, []part{}
		for i := range d.Grants {
			g := &d.Grants[i]
			if g.Placement != PlacementRegistry || !doc.applies(g.Registries) {
				continue
			}
			if n := d.grantFloor(g, account, region, true); n > 0 {
				total += n
				parts = append(parts, part{i, n})
			}
		}
		if total <= limit {
			continue
		}
		// The largest first, at most maxSizeParts of them: the message names where to cut.
		sort.SliceStable(parts, func(a, b int) bool { return parts[a].n > parts[b].n })
		named := make([]string, 0, maxSizeParts+1)
		for j, p := range parts {
			if j == maxSizeParts {
				named = append(named, fmt.Sprintf("%d more grants %d", len(parts)-j, sumParts(parts[j:], func(p part) int { return p.n })))
				break
			}
			named = append(named, fmt.Sprintf("%s %d", idx("grants", p.grant), p.n))
		}
		v.add("grants", "%s in %s would hold at least %d characters of repository and principal ARNs alone (%s), past ECR's %d for a policy: AWS refuses the whole document, so none of these grants is written there. Select repositories with fewer patterns (a common prefix and *), move grants to placement: repository, or name fewer roles and accounts",
			doc.what, region, total, strings.Join(named, ", "), limit)
	}
	// A repository policy holds at least the principals of every repository-placement grant
	// matching the repository; one grant's alone can pass the limit.
	for i := range d.Grants {
		g := &d.Grants[i]
		if g.Placement != PlacementRepository {
			continue
		}
		if n := d.grantFloor(g, d.Hub.AccountID, region, false); n > limit {
			v.add(idx("grants", i)+".principals", "the accounts and roles alone take %d characters in each repository policy of this grant, past ECR's %d for a policy: AWS refuses the document; name fewer, or use organization or ous", n, limit)
		}
	}
	for i := range d.PublicRepositories {
		g := &d.PublicRepositories[i]
		fake := Grant{Principals: Principals{Accounts: g.Principals.Accounts, Roles: g.Principals.Roles}}
		if n := d.grantFloor(&fake, d.Hub.AccountID, region, false); n > policy.PublicRepositoryPolicy.Limit() {
			v.add(idx("publicRepositories", i)+".principals", "the accounts and roles alone take %d characters in each public repository policy of this grant, past ECR Public's %d for a policy: AWS refuses the document; name fewer", n, policy.PublicRepositoryPolicy.Limit())
		}
	}
}
