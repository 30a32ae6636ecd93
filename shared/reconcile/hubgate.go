package reconcile

import (
	"context"
	"errors"
	"sync"

	"github.com/ecr-warden/ecr-warden/shared/desired"
)

// joined converges an account that is (or stays) in the organization: the
// hub's grant to it and its own documents, at the same time.
func (e *Engine) joined(ctx context.Context, cause Cause, acct desired.Account, org []desired.Account) (Report, error) {
	var rep Report
	// The hub's grant comes before the member's fromHub rules are
	// validated: they cache from the hub registry, which must let the
	// member in when ValidatePullThroughCacheRule checks them. Nothing else
	// of the member's half depends on the hub (its role, rules and registry
	// policy are the member's own), so both halves start at once and only
	// that validation waits (awaitHubGrant), until the hub's half has
	// written this account's grant in every region, handed it to a
	// draining holder, or ended. A holder that goes on draining other
	// events' changes does so while its own member converges, so the first
	// event of a burst does not finish last. One half failing does not stop
	// the other.
	gate := newHubGate(len(e.accountRegions()))
	var hub Report
	var hubErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer gate.release()
		hub, hubErr = e.HubForAccount(context.WithValue(ctx, hubWriterKey{}, gate), cause, acct, true)
	}()
	member, memberErr := e.Member(context.WithValue(ctx, hubWaiterKey{}, gate), cause, acct, org)
	<-done
	rep.Add(hub)
	rep.Add(member)
	return rep, errors.Join(hubErr, memberErr)
}

// hubGate opens when the hub's half of an account event has written the
// account's own change in every region, or has ended.
type hubGate struct {
	mu      sync.Mutex
	pending int // regions whose grant is not written yet
	open    chan struct{}
	once    sync.Once
}

// hubWriterKey carries the gate in the hub's half (which opens it) and
// hubWaiterKey in the member's half (which waits on it), so neither half can
// take the other's part.
type (
	hubWriterKey struct{}
	hubWaiterKey struct{}
)

func newHubGate(regions int) *hubGate { return &hubGate{pending: regions, open: make(chan struct{})} }

// written counts one region whose holder wrote this event's own change.
func (g *hubGate) written() {
	g.mu.Lock()
	g.pending--
	all := g.pending <= 0
	g.mu.Unlock()
	if all {
		g.release()
	}
}

// release opens the gate (once).
func (g *hubGate) release() { g.once.Do(func() { close(g.open) }) }

// ownHubChangeWritten tells the account event waiting on ctx's gate that
// the hub holds its change in one more region.
func ownHubChangeWritten(ctx context.Context) {
	if g, ok := ctx.Value(hubWriterKey{}).(*hubGate); ok {
		g.written()
	}
}

// awaitHubGrant waits, in an account event's member half, until the hub's
// half holds the account's grant (or has handed it to a draining holder, or
// ended); outside an account event it returns at once. It reports false when
// ctx ended first.
func awaitHubGrant(ctx context.Context) bool {
	if g, ok := ctx.Value(hubWaiterKey{}).(*hubGate); ok {
		select {
		case <-g.open:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
