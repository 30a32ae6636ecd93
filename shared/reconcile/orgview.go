package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
)

// OrgGenerations is where account events mark the organization changed: a
// token per region in that region's lease table (lease.Regional), replaced
// by every account event before it writes.
type OrgGenerations interface {
	GenerationIn(ctx context.Context, region string) (lease.Generation, error)
	BumpGenerationIn(ctx context.Context, region string) error
}

// OrgViews keeps, per region, the last organization walk this execution
// environment made under a registry's lease, with the generation token read
// before that walk. Documents that list accounts one by one are planned from
// the organization as it is once their registry's lease is held, so that a
// unit never undoes an account event that wrote since the unit's own walk
// (TestUnitDoesNotUndoAnAccountEventSinceItsWalk). Walking again under every
// lease costs 1 + 2 × (OUs + 1) Organizations calls per hold: about 41,000
// per sweep of 200 enumerated members in 2 regions at 50 OUs, and 250 walks
// for one hub unit of 50,000 repositories that an enumerating repository
// grant matches. The token says when that walk is unnecessary: every account
// event replaces it before its first write, so an unchanged token read under
// a lease means no account event has written anything since the walk (it
// would have replaced the token before, and its writes in this registry
// would have needed the lease held now); one that writes later waits for the
// release and wins, as it does against a fresh walk. One read of the token
// per hold replaces the walk.
//
// A view is used only when it is at least as new as the unit's own walk
// (Work.WalkedAt): a sweep, the net for events that never arrived, is never
// planned from a view older than its own walk. And never after
// WorkFreshFor. A walk made within orgSettle of the token's last change is
// used for its own hold and not kept: Organizations' listings may lag the
// change an event reports (AWS documents no window), and a walk that missed
// the event's own account, kept under the token the event set, would undo
// the event's grant at every later hold; walked again later, it does not.
type OrgViews struct {
	gens OrgGenerations
	now  func() time.Time

	mu       sync.Mutex
	byRegion map[string]orgView
}

// orgSettle is how long after an account event's change a walk is not kept
// (see OrgViews).
const orgSettle = 2 * time.Minute

type orgView struct {
	token    string
	walkedAt time.Time
	accounts []inventory.Account
}

// NewOrgViews keeps walks checked against gens' tokens.
func NewOrgViews(gens OrgGenerations) *OrgViews {
	return &OrgViews{gens: gens, now: time.Now, byRegion: map[string]orgView{}}
}

// accounts returns the organization's accounts for a hold of a lease in
// region: the view kept from an earlier walk when region's token has not
// changed since and the view is not older than notBefore, else a new walk,
// kept for the next hold. A token that cannot be read means a walk (and
// nothing is kept): the walk is always correct, the token only saves it.
func (v *OrgViews) accounts(ctx context.Context, log *slog.Logger, region string, notBefore time.Time, walk func(context.Context) ([]inventory.Account, error)) ([]inventory.Account, error) {
	gen, terr := v.gens.GenerationIn(ctx, region)
	started := v.now()
	if terr != nil {
		log.Warn("cannot read the organization's generation token; walking under every hold", "region", region, "error", terr.Error())
	} else {
		v.mu.Lock()
		kept, ok := v.byRegion[region]
		v.mu.Unlock()
		if ok && kept.token == gen.Token && !kept.walkedAt.Before(notBefore) && started.Sub(kept.walkedAt) < WorkFreshFor {
			return kept.accounts, nil
		}
	}
	accts, err := walk(ctx)
	if err != nil || terr != nil || started.Sub(gen.ChangedAt) < orgSettle {
		return accts, err
	}
	v.mu.Lock()
	if kept, ok := v.byRegion[region]; !ok || kept.walkedAt.Before(started) {
		v.byRegion[region] = orgView{token: gen.Token, walkedAt: started, accounts: accts}
	}
	v.mu.Unlock()
	return accts, nil
}

// organizationChanged replaces the generation token of each region before
// an account event writes there: walks kept in every execution environment
// are then no longer trusted for a hold taken after this.
func (v *OrgViews) organizationChanged(ctx context.Context, regions []string) error {
	for _, r := range regions {
		if err := v.gens.BumpGenerationIn(ctx, r); err != nil {
			return fmt.Errorf("marking the organization changed in %s before converging the account event: %w", r, err)
		}
	}
	return nil
}
