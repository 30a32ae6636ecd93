package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// mailboxes is what coalescing account events needs of the lease table
// (*lease.Leaser).
type mailboxes interface {
	TryAcquire(ctx context.Context, key string, ttl time.Duration) (*lease.Lease, error)
	Post(ctx context.Context, key, subject, body string) error
	Mailbox(ctx context.Context, key string) ([]lease.Entry, error)
	Settle(ctx context.Context, key string, applied []lease.Entry) error
}

var _ mailboxes = (*lease.Leaser)(nil)

// hubChange is one account event's change to the hub's registry policy, as
// posted to the policy's mailbox: the account as the organization showed it
// when the event was processed, and the event it came from.
type hubChange struct {
	Account desired.Account `json:"account"`
	Present bool            `json:"present"`
	Cause   apply.Cause     `json:"cause"`
}

// hubWaitMax bounds how long an account event waits for the hub's registry
// policy to take its change before the invocation fails (and is retried).
const hubWaitMax = 20 * time.Second

// hubRegistryForAccount applies one account's membership to the hub's
// registry policy in region, coalescing with concurrent account events:
// when the policy's lease is free, this event takes it, folds in every
// change waiting in the policy's mailbox, and writes the policy once; when
// it is busy, the event posts its change to the mailbox and waits until a
// holder has applied it (its entry is gone) or the lease is free again. So
// twenty joins at once cost a few writes of the hub policy instead of
// twenty turns at its lease, and no grant is lost: an entry leaves the
// mailbox only after the write that applied it and its audit outcome.
func (e *Engine) hubRegistryForAccount(ctx context.Context, cause Cause, region string, acct desired.Account, present bool) (Report, error) {
	var rep Report
	mb, ok := e.Exec.Leases.(mailboxes)
	if !ok {
		return rep, errors.New("reconcile: the lease table offers no mailbox for coalescing hub changes")
	}
	key := lease.RegistryKey(e.Decl.Hub.AccountID, region)
	me := hubChange{Account: acct, Present: present, Cause: apply.Cause{Trigger: cause.Trigger, Actor: cause.Actor}}
	body, err := json.Marshal(me)
	if err != nil {
		return rep, err
	}
	start := time.Now()
	pause := 20 * time.Millisecond
	posted := false
	for {
		ls, err := mb.TryAcquire(ctx, key, e.leaseTTL())
		if err == nil {
			return e.hubHolder(ctx, mb, ls, cause, region, me)
		}
		if !errors.Is(err, lease.ErrBusy) {
			return rep, err
		}
		if !posted {
			if err := mb.Post(ctx, key, acct.ID, string(body)); err != nil {
				return rep, err
			}
			posted = true
		} else {
			entries, err := mb.Mailbox(ctx, key)
			if err != nil {
				return rep, err
			}
			if !hasSubject(entries, acct.ID) {
				// A holder applied it (and recorded it under this event).
				e.log().Info("hub registry policy change applied by a concurrent holder of its lease", "account", acct.ID, "region", region)
				rep.Examined++
				rep.Changed++
				return rep, nil
			}
		}
		if time.Since(start) > hubWaitMax {
			return rep, fmt.Errorf("hub registry policy (%s) stayed leased for %s and no holder applied the change for %s: %w", key, hubWaitMax, acct.ID, err)
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(pause/2 + rand.N(pause/2+1)):
		}
		pause = min(pause*2, 200*time.Millisecond)
	}
}

func hasSubject(entries []lease.Entry, subject string) bool {
	for _, e := range entries {
		if e.Subject == subject {
			return true
		}
	}
	return false
}

// hubHolder holds the hub registry policy's lease: it reads the mailbox,
// plans this event's change and every waiting one on one read of the policy,
// writes once (an intent and an outcome per event), removes the applied
// entries, and releases.
func (e *Engine) hubHolder(ctx context.Context, mb mailboxes, ls *lease.Lease, cause Cause, region string, me hubChange) (rep Report, err error) {
	key := ls.Key
	defer func() {
		err = errors.Join(err, ls.Release(context.WithoutCancel(ctx)))
	}()
	entries, err := mb.Mailbox(ctx, key)
	if err != nil {
		return rep, err
	}
	var changes []hubChange
	var also []apply.Cause
	for _, en := range entries {
		var c hubChange
		if err := json.Unmarshal([]byte(en.Body), &c); err != nil {
			e.log().Warn("unreadable hub mailbox entry dropped", "key", key, "subject", en.Subject, "error", err)
			continue
		}
		if c.Account.ID == me.Account.ID {
			continue // this event's own view is the freshest
		}
		changes = append(changes, c)
		also = append(also, c.Cause)
	}
	changes = append(changes, me)
	hub := e.Decl.Hub.AccountID
	step := e.registryStep(cause, hub, region, func(_ context.Context, current string) ([]policy.Statement, error) {
		owned, err := policy.OwnedOf(current, e.Decl.SidPrefix)
		if err != nil {
			return nil, err
		}
		for _, c := range changes {
			owned = desired.Incremental(e.Decl, func(s *desired.State) []policy.Statement { return s.RegistryStatements(hub, region) }, owned, c.Account, c.Present)
		}
		return owned, nil
	})
	c, perr := step.Plan(ctx)
	var refused *apply.RefusedError
	if perr != nil && !errors.As(perr, &refused) {
		return rep, perr
	}
	items := []apply.HeldChange{{Step: step, Change: c, Err: perr, Also: also}}
	if e.Decl.HubRepositoriesEnumerateAccounts() {
		// Hub repository policies whose grants enumerate accounts follow
		// the same changes, under the same lease (the registry's key).
		repos, err := e.hubRepositoryChanges(ctx, cause, region, changes, also)
		if err != nil {
			return rep, err
		}
		items = append(items, repos...)
	}
	results, err := e.Exec.ApplyHeld(ctx, ls, items)
	for _, res := range results {
		rep.count(res)
	}
	if err != nil {
		return rep, err
	}
	if len(results) > 0 && (results[0].Outcome == apply.Changed || results[0].Outcome == apply.Unchanged) {
		// Only now, with the write and its outcomes stored, leave the
		// applied entries; a refused plan leaves them to their own events.
		return rep, mb.Settle(ctx, key, entries)
	}
	return rep, nil
}

func (e *Engine) leaseTTL() time.Duration {
	if e.Exec.LeaseTTL > 0 {
		return e.Exec.LeaseTTL
	}
	return 60 * time.Second
}

// hubRepositoryChanges reads the hub's repositories under the registry's
// lease (held by the caller) and plans each policy's enumerating statements
// with every change folded in.
func (e *Engine) hubRepositoryChanges(ctx context.Context, cause Cause, region string, changes []hubChange, also []apply.Cause) ([]apply.HeldChange, error) {
	hub := e.Decl.Hub.AccountID
	reg := inventory.NewRegistry(e.Clients.ECR(hub, region), hub, region, inventory.RegistryOptions{Concurrency: e.Concurrency})
	snap, err := reg.Snapshot(ctx, inventory.SnapshotOptions{Tags: e.Decl.HasRepositoryTagGrants()})
	if err != nil {
		return nil, fmt.Errorf("reading hub repositories in %s: %w", region, err)
	}
	var items []apply.HeldChange
	for _, rs := range snap.Repositories {
		if rs.Err != nil {
			var gone *ecrtypes.RepositoryNotFoundException
			if errors.As(rs.Err, &gone) {
				continue
			}
			return nil, rs.Err
		}
		repo := desired.Repository{Account: hub, Region: region, Name: rs.Name, Tags: rs.Tags}
		owned := func(current string) ([]policy.Statement, error) {
			st, err := policy.OwnedOf(current, e.Decl.SidPrefix)
			if err != nil {
				return nil, err
			}
			for _, c := range changes {
				st = desired.Incremental(e.Decl, func(s *desired.State) []policy.Statement { return s.RepositoryStatements(repo) }, st, c.Account, c.Present)
			}
			return st, nil
		}
		step := e.repositoryStepFrom(cause, reg, repo, owned)
		want, err := owned(rs.Policy)
		if err != nil {
			items = append(items, apply.HeldChange{Step: step, Err: &apply.RefusedError{Err: fmt.Errorf("reading ecr-warden's statements in repository policy (%s): %w", rs.ARN, err)}})
			continue
		}
		c, err := e.planRepository(repo, rs.ARN, rs.Policy, want)
		items = append(items, apply.HeldChange{Step: step, Change: c, Err: err, Also: also})
	}
	return items, nil
}
