package config

import (
	"slices"
	"strings"
)

// DeclaredRole is an IAM role the declaration names as a principal. AWS
// refuses a whole registry or repository policy when one role it names does
// not exist, so ecr-warden checks these before writing (and `make doctor`
// checks them before a deploy).
type DeclaredRole struct {
	// Account is the role's account, or "" for a role every PTC member must
	// have (pullThroughCache.statementPrincipals.roleNames).
	Account string
	// PathName is the role's path and name as in its ARN after "role/", e.g.
	// "ci" or "team/ci".
	PathName string
	// Where is the declaration field that names it, for messages.
	Where string
}

// DeclaredRoles lists the roles the declaration names, sorted and without
// duplicates: grant and public-grant principals (by ARN) and the PTC
// statement role names (in every PTC member).
func (d *Declaration) DeclaredRoles() []DeclaredRole {
	var out []DeclaredRole
	add := func(arn, where string) {
		rest, ok := strings.CutPrefix(arn, "arn:")
		if !ok {
			return
		}
		parts := strings.SplitN(rest, ":", 5) // partition, iam, "", account, role/...
		if len(parts) != 5 {
			return
		}
		name, ok := strings.CutPrefix(parts[4], "role/")
		if !ok {
			return
		}
		out = append(out, DeclaredRole{Account: parts[3], PathName: name, Where: where})
	}
	for i, g := range d.Grants {
		for j, r := range g.Principals.Roles {
			add(r, idx(idx("grants", i)+".principals.roles", j))
		}
	}
	for i, g := range d.PublicRepositories {
		for j, r := range g.Principals.Roles {
			add(r, idx(idx("publicRepositories", i)+".principals.roles", j))
		}
	}
	if p := d.PullThroughCache; p != nil && len(p.Rules) > 0 {
		for j, n := range p.StatementPrincipals.RoleNames {
			out = append(out, DeclaredRole{PathName: n, Where: idx("pullThroughCache.statementPrincipals.roleNames", j)})
		}
	}
	slices.SortFunc(out, func(a, b DeclaredRole) int {
		if c := strings.Compare(a.Account, b.Account); c != 0 {
			return c
		}
		return strings.Compare(a.PathName, b.PathName)
	})
	return slices.CompactFunc(out, func(a, b DeclaredRole) bool { return a.Account == b.Account && a.PathName == b.PathName })
}

// CredentialSecrets are the Secrets Manager secret names the PTC rules
// name; each must exist in every PTC member in every hub region.
func (d *Declaration) CredentialSecrets() []string {
	if d.PullThroughCache == nil {
		return nil
	}
	var out []string
	for _, r := range d.PullThroughCache.Rules {
		if r.CredentialSecret != "" {
			out = append(out, r.CredentialSecret)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
