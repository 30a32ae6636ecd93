package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// A registry policy holds, for each registry-placement grant that applies to its registry, one
// statement per principal kind, each listing the grant's repository ARNs as Resource; the accounts
// and roles kinds also list their principals' ARNs, and the OUs kind their paths. Those texts alone are known from the
// declaration (the organization's accounts, the PTC members and the actions are not counted), so
// their sum is a floor of the document's size: past ECR's 10,240 characters, AWS refuses the
// document whatever the organization holds, and every grant in it stays unwritten. Validation
// refuses such a declaration instead of accepting it and failing at every event.

// grantFloor is the characters the statements of g surely take in one document of account and
// region: its Resource lists (registry placement), its account and role principal lists and, in
// condition mode, its OU paths.
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
			// Its aws:PrincipalOrgPaths condition lists each path followed by *.
			paths := make([]string, len(g.Principals.OUs))
			for i, ou := range g.Principals.OUs {
				paths[i] = ou + "*"
			}
			n += listed(paths)
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
	// One pass over the grants: each registry-placement grant's floor goes to the documents it
	// surely lands in (the hub's; every member's; those of the members it lists by account or OU),
	// so a declaration of many grants and selectors costs no more than its size.
	type part struct{ grant, n int }
	type document struct {
		what  string
		parts []part
	}
	hub := &document{what: "the hub's registry policy"}
	all := &document{what: "every member's registry policy"}
	selected := map[string]*document{} // "account:<id>" or "ou:<path>"
	account := d.Hub.AccountID         // a member's id has the same length
	for i := range d.Grants {
		g := &d.Grants[i]
		if g.Placement != PlacementRegistry {
			continue
		}
		n := d.grantFloor(g, account, region, true)
		if n == 0 {
			continue
		}
		r := g.Registries
		if r.Hub {
			hub.parts = append(hub.parts, part{i, n})
		}
		if r.AllMembers {
			all.parts = append(all.parts, part{i, n})
			continue // in every member's document already; its own selectors add nothing
		}
		add := func(key, what string) {
			doc := selected[key]
			if doc == nil {
				doc = &document{what: what}
				selected[key] = doc
			}
			doc.parts = append(doc.parts, part{i, n})
		}
		for _, a := range slices.Compact(slices.Sorted(slices.Values(r.Accounts))) {
			add("account:"+a, "member "+a+"'s registry policy")
		}
		for _, ou := range slices.Compact(slices.Sorted(slices.Values(r.OUs))) {
			add("ou:"+ou, "the registry policy of the members under "+ou)
		}
	}
	keys := slices.Sorted(maps.Keys(selected))
	docs := []*document{hub, all}
	for _, k := range keys {
		doc := selected[k]
		// The members an OU path selects are also under every OU above it (at most
		// policy.MaxOUDepth), and every member gets the allMembers grants.
		if ou, isOU := strings.CutPrefix(k, "ou:"); isOU {
			for up := parentOU(ou); up != ""; up = parentOU(up) {
				if above := selected["ou:"+up]; above != nil {
					doc.parts = append(doc.parts, above.parts...)
				}
			}
		}
		doc.parts = append(doc.parts, all.parts...)
		docs = append(docs, doc)
	}
	allOver := sumParts(all.parts, func(p part) int { return p.n }) > limit
	for j, doc := range docs {
		parts := doc.parts
		total := sumParts(parts, func(p part) int { return p.n })
		if total <= limit || (j > 1 && allOver) { // every member's is reported once, not per selector
			continue
		}
		// The largest first, at most maxSizeParts of them: the message names where to cut.
		slices.SortStableFunc(parts, func(a, b part) int { return b.n - a.n })
		named := make([]string, 0, maxSizeParts+1)
		for j, p := range parts {
			if j == maxSizeParts {
				named = append(named, fmt.Sprintf("%d more grants %d", len(parts)-j, sumParts(parts[j:], func(p part) int { return p.n })))
				break
			}
			named = append(named, fmt.Sprintf("%s %d", idx("grants", p.grant), p.n))
		}
		v.add("grants", "%s in %s would hold at least %d characters of repository ARNs, principal ARNs and OU paths alone (%s), past ECR's %d for a policy: AWS refuses the whole document, so none of these grants is written there. Select repositories with fewer patterns (a common prefix and *), move grants to placement: repository, or name fewer roles, accounts and OUs",
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
			v.add(idx("grants", i)+".principals", "the accounts, roles and OU paths alone take %d characters in each repository policy of this grant, past ECR's %d for a policy: AWS refuses the document; name fewer, or use organization or a parent OU", n, limit)
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

// parentOU is the path of the OU (or root) above a well-formed OU path ("o-x/r-y/ou-a/ou-b/" gives
// "o-x/r-y/ou-a/"), or "" above the root.
func parentOU(path string) string {
	segs := strings.Split(strings.TrimSuffix(path, "/"), "/")
	if len(segs) <= 2 {
		return ""
	}
	return strings.Join(segs[:len(segs)-1], "/") + "/"
}
