package config

// What the declared documents depend on. The engine asks these before it
// reads anything, so an event costs only the reads its documents need: tags
// only when a grant matches on them, the organization only when a document
// names accounts one by one or selects registries by OU.

// HasRepositoryTagGrants reports whether any repository-placement grant
// matches on tags, the only reason to read repository tags at all.
func (d *Declaration) HasRepositoryTagGrants() bool {
	for _, g := range d.Grants {
		if g.Placement == PlacementRepository && len(g.RepositoryTags) > 0 {
			return true
		}
	}
	return false
}

// RepositoryEnumeration says which part of the organization repository
// policies enumerate account by account: all of it, or the accounts under
// ous (nothing when both are empty). A repository event reads that part.
func (d *Declaration) RepositoryEnumeration() (all bool, ous []string) {
	for _, g := range d.Grants {
		if g.Placement != PlacementRepository || g.PrincipalMode != ModeEnumerate {
			continue
		}
		if g.Principals.Organization {
			return true, nil
		}
		ous = append(ous, g.Principals.OUs...)
	}
	return false, ous
}

// RepositoryGrantsByOU reports whether a repository grant selects member
// registries by OU, the only case in which a repository event needs the
// account's OU path (and so Organizations calls).
func (d *Declaration) RepositoryGrantsByOU() bool {
	for _, g := range d.Grants {
		if g.Placement == PlacementRepository && len(g.Registries.OUs) > 0 {
			return true
		}
	}
	return false
}

// enumeratesOrganization reports whether g lists the organization's (or an
// OU's) accounts one by one.
func (g Grant) enumeratesOrganization() bool {
	return g.PrincipalMode == ModeEnumerate && (g.Principals.Organization || len(g.Principals.OUs) > 0)
}

// EnumeratesOrganization is enumeratesOrganization for packages that decide
// per grant which documents an account event changes.
func (g Grant) EnumeratesOrganization() bool { return g.enumeratesOrganization() }

// MembersEnumerateAccounts reports whether a grant placed in member
// registries lists accounts one by one: an account that joins, moves or
// leaves then changes the documents of every member registry the grant
// selects, not only the hub's.
func (d *Declaration) MembersEnumerateAccounts() bool {
	for _, g := range d.Grants {
		r := g.Registries
		if g.enumeratesOrganization() && (r.AllMembers || len(r.OUs) > 0 || len(r.Accounts) > 0) {
			return true
		}
	}
	return false
}

// EnumeratesAccounts reports whether some grant lists the organization's
// accounts one by one, which makes registry policies depend on the whole
// organization.
func (d *Declaration) EnumeratesAccounts() bool {
	for _, g := range d.Grants {
		if g.enumeratesOrganization() {
			return true
		}
	}
	return false
}

// HubEnumeratesAccounts reports whether any hub document lists accounts one
// by one, so that an account joining or leaving changes the hub: an
// enumerating grant in the hub, or the upstream grant to PTC members unless
// it is in condition mode (where only members listed by id are named).
func (d *Declaration) HubEnumeratesAccounts() bool {
	for _, g := range d.Grants {
		if g.Registries.Hub && g.enumeratesOrganization() {
			return true
		}
	}
	ptc := d.PullThroughCache
	return d.HasFromHubRules() && (ptc.UpstreamGrantMode != ModeCondition || len(ptc.Members.Accounts) > 0)
}

// HubRepositoriesEnumerateAccounts reports whether a repository grant in the
// hub lists accounts one by one, so that an account event must update hub
// repository policies too.
func (d *Declaration) HubRepositoriesEnumerateAccounts() bool {
	for _, g := range d.Grants {
		if g.Placement == PlacementRepository && g.Registries.Hub && g.enumeratesOrganization() {
			return true
		}
	}
	return false
}
