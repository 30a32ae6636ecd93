// Package desired turns the declaration and a snapshot of what exists (accounts with their OU
// paths, repositories with their tags) into exactly what must exist: the owned statements of each
// registry, repository and ECR Public repository policy, the PTC role's trust and permission
// policies, and the PTC rules of each member registry.
//
// It is pure (no I/O, no clock, no randomness) so that the event path, the sweep and the backfill
// compute the same answer from the same inputs, and so that every rendered document can be pinned
// by a golden file. Output is deterministic: statements follow declaration order, principals and
// resources are sorted.
package desired

// Account is one account of the organization as desired needs it. The inventory package reads it
// from Organizations; this value type keeps desired free of SDK types.
type Account struct {
	ID   string
	Name string
	// Status is the Organizations account state (ACTIVE, SUSPENDED, PENDING_CLOSURE, ...) or
	// NOT_IN_ORGANIZATION. "" counts as ACTIVE so hand-built inventories stay short.
	Status string
	// OUPath is the aws:PrincipalOrgPaths form "o-x/r-y/ou-z/" ("" when not in the organization).
	OUPath string
}

// Active reports whether ecr-warden grants to or configures the account: it is in the
// organization and ACTIVE. Suspended, closing and departed accounts are left out of enumerations
// and are not configured, so a departed account's access disappears with the next reconcile.
func (a Account) Active() bool {
	return a.OUPath != "" && (a.Status == "" || a.Status == "ACTIVE")
}

// Repository is one private ECR repository: where it is, its name and its tags.
type Repository struct {
	Account string
	Region  string
	Name    string
	Tags    map[string]string
}

// PublicRepository is one ECR Public repository (ECR Public has no regions in its ARNs).
type PublicRepository struct {
	Account string
	Name    string
}
