// Package install holds the names one installation of ecr-warden is built
// with that the product's messages also name: the stack ids and the
// physical names derived from the base name. The CDK app builds its stacks
// and resources from them (infra/app: Names, with an installation's name
// prefix), and the functions and tools use the same constants to tell an
// operator which stack creates a missing role or table, so a renamed stack
// or resource cannot leave a message naming the old one.
package install

// Stack ids of the default installation; a name prefix p makes them
// "p-<id>" (infra/app Names.StackID).
const (
	ManagementStackID = "EcrWarden-Management"
	MembersStackID    = "EcrWarden-Members"
	// HubStackIDPrefix is followed by the hub region: one stack per region.
	HubStackIDPrefix = "EcrWarden-Hub-"
)

// Base starts every physical name of the default installation, "<Base>-<what>";
// a name prefix p makes it "p-<Base>-<what>" (infra/app Names.Resource).
const Base = "ecr-warden"

// What, in "<Base>-<what>", of the physical names the product's messages name.
const (
	// AuditTable is the audit table of each hub region.
	AuditTable = "audit"
	// OrgReaderRole is the organization reader in the management account.
	OrgReaderRole = "organization-reader"
)

// Name is the physical name of what in the default installation, e.g.
// Name(AuditTable) is "ecr-warden-audit".
func Name(what string) string { return Base + "-" + what }
