package lease

// The lease table's items that are no document's lease, each key (or key
// prefix) named once here. None starts like a lease key (registry/,
// repository/, public#, mailbox/), so RegionOf routes each to the table of
// the function that uses it (TestItemKeysAreNoLeaseKeys).
const (
	// GenerationKey is the item account events change before they write
	// anything: a unit that walked the organization under one lease may plan
	// a later hold from that walk while the item still holds the token it
	// read before walking (shared/reconcile/orgview.go), instead of walking
	// again under every lease it takes.
	GenerationKey = "generation/organization"
	// configuredKeyPrefix, followed by a hub region, is the item in which
	// the backfill's full runs remember the members the declaration
	// configured in that region's units (remembered.go): the next full run
	// retires those the declaration no longer configures.
	configuredKeyPrefix = "configured-members/"
)

// itemKeys are the keys above as they are stored (the configured members'
// with a region), for the test that keeps them apart from lease keys.
func itemKeys(region string) []string {
	return []string{GenerationKey, configuredKey(region)}
}
