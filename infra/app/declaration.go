package app

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Declaration is the validated declaration together with the exact bytes the functions receive.
// The bytes matter: the functions read declaration.json from their asset, and the deploy-time
// backfill runs whenever their hash changes.
type Declaration struct {
	*config.Declaration
	// Path is the file the declaration was read from (for messages).
	Path string
	// Raw is the file content, byte for byte.
	Raw []byte
	// SHA256 is the hex SHA-256 of Raw.
	SHA256 string
	// Names are the installation's physical names (Build sets the prefix from the options).
	Names Names
}

// LoadDeclaration reads and validates the declaration at path. Every problem the validator finds is
// in the returned error (one per line, each with its field path), so `cdk synth` fails with the same
// messages the functions would log.
func LoadDeclaration(path string) (*Declaration, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading declaration (%s): %w", path, err)
	}
	d, err := parseDeclaration(raw)
	if err != nil {
		return nil, fmt.Errorf("declaration %s is invalid:\n%w", path, err)
	}
	sum := sha256.Sum256(raw)
	return &Declaration{Declaration: d, Path: path, Raw: raw, SHA256: hex.EncodeToString(sum[:])}, nil
}

// parseDeclaration is the single seam to shared/config: strict decoding, defaults, and validation
// with every problem and its field path, the deployment's own limits (at most
// config.MaxHubRegions hub regions) among them, so `make plan` and `make doctor`, which read the
// declaration with config.Load, refuse what synth refuses.
func parseDeclaration(raw []byte) (*config.Declaration, error) {
	return config.Parse(raw)
}

// PrimaryRegion is the first hub region: it handles global (IAM) events when the hub's regions
// lack IAM's events region (IAMRegion), its hub stack runs the deploy's backfill, and its member stack instances, the
// first to deploy, create the PTC role's permissions boundary.
func (d *Declaration) PrimaryRegion() string { return d.Hub.Regions[0] }

// IAMRegion is the one region of the declaration's partition where IAM delivers its events
// (us-east-1 in aws; policy.IAMEventsRegion is the table).
func (d *Declaration) IAMRegion() string { return policy.IAMEventsRegion(d.Hub.Partition) }

// ManagementRegion is the region of the management stack that forwards Organizations' events and
// holds the organization reader, and of the member StackSet's stack: the one region of the
// declaration's partition where Organizations delivers its events (us-east-1 in aws;
// policy.OrganizationsEventsRegion is the table).
func (d *Declaration) ManagementRegion() string {
	return policy.OrganizationsEventsRegion(d.Hub.Partition)
}

// RoleRegion is the member StackSet region whose stack instance creates the execution role (IAM
// is global: one instance creates it): IAM's events region (us-east-1 in aws) whenever the
// StackSet deploys there, else the primary region. IAM delivers the role's CreateRole event in
// that region only, and only that region's instance holds the rule that forwards it to the hub,
// so creating the role there, after that rule (roleCreationForwarded), is what lets the event
// converge a new member at once whatever the primary region. The PTC role's boundary stays with
// the primary region's instance, which deploys first (MemberRegions): it exists before the role
// that lets the engine create PTC roles.
func (d *Declaration) RoleRegion() string {
	if slices.Contains(d.MemberRegions(), d.IAMRegion()) {
		return d.IAMRegion()
	}
	return d.PrimaryRegion()
}

// HubHasIAMRegion reports whether IAM's events region (IAMRegion), the only region that delivers
// IAM events, is a hub region.
func (d *Declaration) HubHasIAMRegion() bool { return slices.Contains(d.Hub.Regions, d.IAMRegion()) }

// MemberRegions are the regions the member StackSet deploys to, in its region order: the hub
// regions, primary first, plus IAM's events region (IAMRegion) last when it is not one of them
// and members forward global (IAM) events from there to the primary region. An installation whose role region moved
// (before 2026-12-03 the primary region's instance created the execution role) so has the old
// instance delete the role before the new one creates it.
func (d *Declaration) MemberRegions() []string {
	regions := slices.Clone(d.Hub.Regions)
	if !d.HubHasIAMRegion() && slices.ContainsFunc(MemberForwardPatterns(d), func(p Pattern) bool { return p.ToPrimary(d) }) {
		regions = append(regions, d.IAMRegion())
	}
	return regions
}

// IsHubAlsoManagement reports whether the hub runs in the management account; then the functions
// call Organizations directly instead of assuming the reader role.
func (d *Declaration) IsHubAlsoManagement() bool {
	return d.Hub.AccountID == d.Hub.ManagementAccountID
}

// OrgRoleARN is WARDEN_ORG_ROLE_ARN: the reader role, or "" when the hub is the management account.
func (d *Declaration) OrgRoleARN() string {
	if d.IsHubAlsoManagement() {
		return ""
	}
	return RoleARN(d.Hub.Partition, d.Hub.ManagementAccountID, d.Names.OrgReaderRole())
}

// MemberTargets is where the member StackSet deploys.
type MemberTargets struct {
	// OrganizationalUnitIDs are OU ids (ou-...) or the root id (r-...) when every member is selected.
	OrganizationalUnitIDs []string
	// Accounts are listed accounts, deployed to in addition to the OUs (StackSets UNION filter).
	Accounts []string
}

// IsEmpty reports whether no member needs the StackSet.
func (t MemberTargets) IsEmpty() bool {
	return len(t.OrganizationalUnitIDs) == 0 && len(t.Accounts) == 0
}

// MemberTargets derives the StackSet targets from everything in the declaration that acts inside a
// member: PTC members and the registries of grants and public grants. "All members" becomes the
// organization root, which must be known: either rootID or an OU path in the declaration names it.
func (d *Declaration) MemberTargets(rootID string) (MemberTargets, error) {
	all := false
	var ous, accounts []string
	if p := d.PullThroughCache; p != nil && len(p.Rules) > 0 {
		all = all || p.Members.All
		ous = append(ous, p.Members.OUs...)
		accounts = append(accounts, p.Members.Accounts...)
	}
	for _, g := range d.Grants {
		all = all || g.Registries.AllMembers
		ous = append(ous, g.Registries.OUs...)
		accounts = append(accounts, g.Registries.Accounts...)
	}
	for _, g := range d.PublicRepositories {
		all = all || g.Registries.AllMembers
		ous = append(ous, g.Registries.OUs...)
		accounts = append(accounts, g.Registries.Accounts...)
	}
	var t MemberTargets
	if all {
		if rootID == "" {
			rootID = d.rootFromPaths()
		}
		if !strings.HasPrefix(rootID, "r-") {
			return t, fmt.Errorf("the declaration selects all member accounts, so the member StackSet targets the organization root, " +
				"but no OU path in the declaration names it: pass -c organizationRootId=r-xxxx (aws organizations list-roots)")
		}
		t.OrganizationalUnitIDs = []string{rootID}
	} else {
		for _, ou := range ous {
			id, err := ouID(ou)
			if err != nil {
				return t, err
			}
			t.OrganizationalUnitIDs = append(t.OrganizationalUnitIDs, id)
		}
	}
	for _, a := range accounts {
		if a != d.Hub.AccountID && a != d.Hub.ManagementAccountID {
			t.Accounts = append(t.Accounts, a)
		}
	}
	t.OrganizationalUnitIDs = uniqueSorted(t.OrganizationalUnitIDs)
	t.Accounts = uniqueSorted(t.Accounts)
	return t, nil
}

// rootFromPaths finds the root id in any OU path of the declaration (o-x/r-abcd/ou-.../).
func (d *Declaration) rootFromPaths() string {
	var paths []string
	for _, g := range d.Grants {
		paths = append(paths, g.Principals.OUs...)
		paths = append(paths, g.Registries.OUs...)
	}
	if p := d.PullThroughCache; p != nil {
		paths = append(paths, p.Members.OUs...)
	}
	for _, p := range paths {
		for _, seg := range strings.Split(p, "/") {
			if strings.HasPrefix(seg, "r-") {
				return seg
			}
		}
	}
	return ""
}

// ouID accepts an OU id or an OU path and returns the id of the OU it names.
func ouID(s string) (string, error) {
	segs := strings.Split(strings.Trim(s, "/"), "/")
	id := segs[len(segs)-1]
	if strings.HasPrefix(id, "ou-") || strings.HasPrefix(id, "r-") {
		return id, nil
	}
	return "", fmt.Errorf("OU %q names neither an OU (ou-...) nor a root (r-...)", s)
}

func uniqueSorted(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	m := map[string]bool{}
	var out []string
	for _, s := range in {
		if !m[s] {
			m[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
