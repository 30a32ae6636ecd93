package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// mailboxes is what coalescing account events needs of the lease table
// (*lease.Leaser).
type mailboxes interface {
	Post(ctx context.Context, key, subject, body string) (lease.Box, error)
	AcquireOpen(ctx context.Context, key string, ttl time.Duration, takes int64) (*lease.Lease, lease.Box, error)
	Peek(ctx context.Context, key string) (lease.Box, error)
	CloseAndRelease(ctx context.Context, ls *lease.Lease, applied []lease.Entry, read lease.Box) (lease.Box, error)
	Abandon(ctx context.Context, ls *lease.Lease) error
	MarkRefused(ctx context.Context, key string, marked []lease.Entry) error
	Want(ctx context.Context, busy *lease.BusyError, until time.Time) error
}

var (
	_ mailboxes = (*lease.Leaser)(nil)
	_ mailboxes = (*lease.Regional)(nil)
)

// hubChange is one account event's change to the hub's registry policy, as
// posted to the policy's mailbox: the account as the organization showed it
// when the event was processed, and the event it came from.
type hubChange struct {
	Account desired.Account `json:"account"`
	Present bool            `json:"present"`
	Cause   apply.Cause     `json:"cause"`
}

const (
	// hubWaitMax bounds how long an account event tries to either take the
	// hub registry policy's lease or hand its change to a draining holder
	// before the invocation fails (and is retried).
	hubWaitMax = 20 * time.Second
	// hubHandOffMargin is how much of a draining holder's lease must be
	// left for a change to be handed to it.
	hubHandOffMargin = 5 * time.Second
	// hubRounds bounds how often one holder drains the mailbox again
	// because changes kept arriving while it wrote.
	hubRounds = 8
	// hubEntryFresh is how old a mailbox entry may be and still be applied
	// as posted. A change normally leaves the mailbox within seconds; an
	// older one was left by a holder that died or was refused, and the
	// account may have moved or left since (its own event failing before
	// it posted), so the holder reads the account from the organization
	// again instead of granting what the entry said.
	hubEntryFresh = 5 * time.Minute
	// hubRereadBudget bounds a round's re-reads of stale entries, far
	// inside the lease: Organizations throttling (the SDK retries for up to
	// minutes) must not hold the lease past its expiry, which would hand
	// the same stale entries to the next holder to stall on. Entries not
	// read again within it wait for a later holder.
	hubRereadBudget = 10 * time.Second
)

// hubRegistryForAccount applies one account's membership to the hub's
// registry policy in region, coalescing with concurrent account events
// through the policy's mailbox (shared/lease/mailbox.go). The event posts
// its change first: when a holder is draining the mailbox the change is
// handed to it and the event is done (one call); otherwise the event takes
// the lease and opens the mailbox in one transaction and drains every
// waiting change with its own in one read-merge-write. The holder writes
// each change with an intent and an outcome recorded under that change's
// event too (apply.HeldChange.Also). A posted change whose holder dies stays
// in the mailbox until the next holder (a later account event, or that
// holder's retried invocation once the dead holder's mark is within
// hubHandOffMargin of lapsing) applies it; the sweep converges the policy
// from the organization meanwhile.
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
	box, err := mb.Post(ctx, key, acct.ID, string(body))
	// posted is false while the mailbox is too full for this change
	// (lease.MailboxBound): nobody can apply it but this event, which takes
	// the lease once it is free and applies it as a holder does, or posts
	// it once a holder's close has made room.
	posted := true
	at := time.Now()
	if errors.Is(err, lease.ErrMailboxFull) {
		posted = false
		e.log().Info("hub registry policy mailbox full; the change waits for the lease or for room", "account", acct.ID, "region", region, "key", key, "error", err.Error())
	} else if err != nil {
		return rep, err
	}
	start := time.Now()
	pause := 50 * time.Millisecond
	first := true
	var seen, marked *lease.BusyError // the hold this poster last met, and the one it marked as wanted
	for {
		switch {
		case !posted:
		case !box.Has(acct.ID):
			// A holder applied it (and recorded it under this event).
			e.log().Info("hub registry policy change applied by a concurrent holder of its lease", "account", acct.ID, "region", region)
			rep.Examined++
			rep.Changed++
			return rep, nil
		case box.Draining(time.Now(), hubHandOffMargin):
			e.log().Info("hub registry policy change handed to the holder draining its mailbox", "account", acct.ID, "region", region, "key", key)
			rep.Examined++
			rep.Changed++
			return rep, nil
		}
		busy := lease.ErrBusy
		switch {
		case !posted && box.Draining(time.Now(), hubHandOffMargin):
			// A holder drains the full mailbox: its close makes room, and
			// its lease would refuse a take. Look again.
			busy = fmt.Errorf("%w while a holder drains it", lease.ErrMailboxFull)
		case first && posted && racing(box, acct.ID, time.Now()):
			// Another event posted just before this one and is taking
			// the lease: look again after a pause instead of failing to
			// take it.
		default:
			ls, now, err := mb.AcquireOpen(ctx, key, e.leaseTTL(), box.Takes)
			switch {
			case err == nil:
				// The holder's writes carry the lease that fences them,
				// as a Hold's do (lease.WithHeld).
				return e.hubHolder(lease.WithHeld(ctx, ls), mb, ls, region, hubPost{cause: cause, change: me, body: string(body), unposted: !posted, at: at}, box)
			case errors.Is(err, lease.ErrMailboxChanged):
				// A holder took or read since this read: decide again on
				// the mailbox as the refusal found it.
				box = now
				if time.Since(start) <= hubWaitMax {
					continue
				}
				busy = err
			case !errors.Is(err, lease.ErrBusy):
				return rep, err
			default:
				busy = err
				// A holder that does not drain (a unit taking the lease
				// chunk after chunk) lets a marked waiter in between two
				// chunks (lease.Leaser.Want). Marked when met twice: a
				// racing taker opens the mailbox at once, and a burst of
				// joins pays nothing.
				var held *lease.BusyError
				if errors.As(err, &held) {
					if held.SameHolder(seen) && !held.SameHolder(marked) {
						marked = held
						if werr := mb.Want(ctx, held, start.Add(hubWaitMax)); werr != nil {
							e.log().Warn("cannot mark the hub registry policy's lease as wanted; waiting without it", "key", key, "error", werr.Error())
						}
					}
					seen = held
				}
			}
		}
		first = false
		// A holder that does not drain (a backfill unit), one whose lease is
		// within hubHandOffMargin of lapsing, a racing taker, or a full
		// mailbox's holder: look again.
		if time.Since(start) > hubWaitMax && !posted {
			return rep, fmt.Errorf("hub registry policy (%s): its mailbox stayed full (%d bytes waiting, bound %d) and its lease held for %s; the change for %s was not applied: %w", key, box.Size, lease.MailboxBound, hubWaitMax, acct.ID, busy)
		}
		if time.Since(start) > hubWaitMax {
			return rep, fmt.Errorf("hub registry policy (%s) stayed leased for %s without a holder draining its mailbox for %s: %w", key, hubWaitMax, acct.ID, busy)
		}
		select {
		case <-ctx.Done():
			return rep, ctx.Err()
		case <-time.After(pause/2 + rand.N(pause/2+1)):
		}
		pause = min(pause*2, 400*time.Millisecond)
		if box, err = mb.Peek(ctx, key); err != nil {
			return rep, err
		}
		if !posted && box.Fits(acct.ID, string(body)) {
			// A close made room: post, and go on as any poster.
			at = time.Now()
			box, err = mb.Post(ctx, key, acct.ID, string(body))
			switch {
			case errors.Is(err, lease.ErrMailboxFull):
			case err != nil:
				return rep, err
			default:
				posted = true
			}
		}
	}
}

// hubRacing is how recent another event's post must be for a poster to
// expect that event to take the lease: about one post and one take apart.
const hubRacing = time.Second

// racing reports whether box holds another subject's entry posted before
// subject's own and within hubRacing before now: an event that posted just
// before this one, found nobody draining and is taking the lease itself.
// The earliest of a burst of posters sees none and takes the lease; an
// older entry is one a dead holder left, which nobody is coming for.
func racing(box lease.Box, subject string, now time.Time) bool {
	var mine time.Time
	for _, en := range box.Entries {
		if en.Subject == subject {
			mine = en.Posted
		}
	}
	for _, en := range box.Entries {
		if en.Subject != subject && en.Posted.Before(mine) && now.Sub(en.Posted) < hubRacing {
			return true
		}
	}
	return false
}

// hubPost is the event that took the lease, as it posted: its cause, its
// change, and the body it posted. Its holder's round 0 is written under the
// cause, and finds its own entry among the waiting ones by that body (a
// newer post for the same account is another event's change).
//
// An unposted change (the mailbox was full, lease.ErrMailboxFull) has no
// entry: round 0 writes it anyway, after the entries, unless an entry for
// the same account posted after at (a newer change) stands; it is never
// removed, withheld or marked in the mailbox, and when its write leaves it
// out (the document's size limit, a refused plan) the holder posts it once
// it has closed or released, so that it waits there as a posted change
// would (hubHolder).
type hubPost struct {
	cause    Cause
	change   hubChange
	body     string
	unposted bool
	at       time.Time
}

// hubHolder holds the hub registry policy's lease with its mailbox open: it
// plans every change in box (this event's own post among them) on one read
// of the policy, writes once (an intent and an outcome per event), and closes
// the mailbox with the release; changes posted since box was read make it
// drain again, writing only what it has not written yet. box is the mailbox
// as read just before the lease was taken (AcquireOpen fails when a holder
// took or read since).
//
// A round takes its changes from the mailbox (hubPick) and writes them
// (hubRound); the lease and mailbox calls around them (the refusal marks,
// the close with the outcomes stored meanwhile, the abandon of a failed
// round) stay here, in the order the mailbox's protocol needs.
func (e *Engine) hubHolder(ctx context.Context, mb mailboxes, ls *lease.Lease, region string, own hubPost, box lease.Box) (rep Report, err error) {
	closed := false
	// outcomes holds the outcomes of a round's writes (which all landed)
	// until the holder stores them while it closes.
	outcomes := &apply.Deferred{}
	defer func() {
		if closed {
			return
		}
		// A failed round: stop posters handing off to this holder; the
		// entries stay for the next one. What earlier writes of this
		// holder answered is stored first.
		bg := context.WithoutCancel(ctx)
		err = errors.Join(err, outcomes.Finish(bg), mb.Abandon(bg, ls), ls.Release(bg))
	}()
	written := map[string]string{}  // subject -> body of the entries written in earlier rounds
	withheld := map[string]string{} // subject -> body of the entries whose growth an earlier round left out
	held := &heldRegistry{}         // the policy as the last round left it, under this lease
	first := &own                   // the holding event's post: looked for in round 0 only
	ownWaits := false               // own is unposted and its write left it out: it is posted at the end
	for round := 0; ; round++ {
		p := e.hubPick(ctx, ls, box, first, written, withheld)
		first = nil
		applied := p.applied // what the close may remove
		if len(p.changes) > 0 {
			res, err := e.hubRound(ctx, ls, region, p.hubBatch, held, outcomes)
			rep.Add(res.rep)
			e.markRefused(ctx, mb, ls.Key, p.entries, res.refusals)
			for i, c := range p.changes {
				if unpostedEntry(p.entries[i]) {
					// Nothing to remove; left out, it is posted once the
					// holder is done.
					ownWaits = res.shrunk && c.Present || err == nil && !res.accepted
					continue
				}
				if res.shrunk && c.Present {
					// Written only shrunk (the document would pass its
					// size limit): a departure's removal is in AWS, a
					// join's grant is not. The join stays in the mailbox
					// for a later holder (room may be made by then; the
					// refusal is recorded under its event).
					withheld[p.entries[i].Subject] = p.entries[i].Body
					continue
				}
				applied = append(applied, p.entries[i])
			}
			if err == nil && !res.accepted {
				// A refused plan: the entries stay for a later holder.
				// Events that handed their change to this holder after its
				// last read are told nothing else, so the refusal is
				// recorded under them too.
				closed = true // abandoned and released here
				// Writes of the round that landed (hub repository
				// policies beside the refused registry policy) keep
				// their outcomes.
				ferr := outcomes.Finish(context.WithoutCancel(ctx))
				r, err := e.hubRefusedLate(ctx, mb, ls, region, box, written)
				rep.Add(r)
				err = errors.Join(ferr, err, ls.Release(context.WithoutCancel(ctx)))
				if ownWaits {
					err = errors.Join(err, e.postLeftOut(ctx, mb, ls.Key, own))
				}
				return rep, err
			}
			if err != nil {
				return rep, err
			}
			if round == 0 {
				ownHubChangeWritten(ctx) // the member's fromHub rules may be validated while this holder drains on
			}
		}
		for _, en := range applied {
			written[en.Subject] = en.Body
		}
		// The round's outcomes are stored while the mailbox closes: they
		// say what AWS already holds, and neither call waits for the other
		// (the close's re-read, when something was posted since, too).
		var finishErr error
		stored := make(chan struct{})
		go func() { defer close(stored); finishErr = outcomes.Finish(ctx) }()
		next, err := mb.CloseAndRelease(ctx, ls, applied, box)
		<-stored
		if err == nil {
			closed = true
			if ownWaits {
				finishErr = errors.Join(finishErr, e.postLeftOut(ctx, mb, ls.Key, own))
			}
			return rep, finishErr
		}
		if finishErr != nil {
			return rep, errors.Join(finishErr, err)
		}
		if !errors.Is(err, lease.ErrMailboxChanged) {
			return rep, err
		}
		if round+1 >= hubRounds {
			return rep, fmt.Errorf("hub registry policy (%s): changes kept arriving through %d rounds; the invocation is retried and the waiting changes stay in the mailbox", ls.Key, hubRounds)
		}
		box = next
	}
}

// postLeftOut posts the holding event's unposted change, which its round
// left out (the document's size limit, a refused plan; its refusal is
// recorded under its event), once the holder closed the mailbox or released
// the lease: it waits there for a later holder as a posted change would. A
// mailbox still full (a refused plan leaves every entry in it) cannot hold
// it: the event ends as a refused one does, its refusal recorded, and the
// sweep converges the policy from the organization once it fits, as it
// would for the waiting entries.
func (e *Engine) postLeftOut(ctx context.Context, mb mailboxes, key string, own hubPost) error {
	_, err := mb.Post(context.WithoutCancel(ctx), key, own.change.Account.ID, own.body)
	if errors.Is(err, lease.ErrMailboxFull) {
		e.log().Warn("hub registry policy change left out of its write cannot wait in the mailbox, which is still full; its refusal is recorded and the sweep converges it once it fits",
			"key", key, "account", own.change.Account.ID, "error", err.Error())
		return nil
	}
	return err
}

// hubPicked is what one round of a holder takes from the mailbox.
type hubPicked struct {
	// hubBatch is what the round writes: its changes, their refusal
	// marks, and the causes its records go under.
	hubBatch
	// entries[i] is the mailbox entry changes[i] came from: the close
	// removes it once the change is written, a shrunk write withholds it,
	// and markRefused marks it.
	entries []lease.Entry
	// applied are the entries the close may remove without this round
	// writing them: unreadable ones (dropped) and ones an earlier round of
	// this holder wrote (a failed close read them again).
	applied []lease.Entry
}

// hubPick reads box for one round of a holder: it skips what the holder
// wrote or withheld in earlier rounds (written, withheld), drops unreadable
// entries, and reads the accounts of stale entries again from the
// organization (within hubRereadBudget; one that cannot be read waits).
// own is the holding event's post in round 0 (nil later): round 0 is led by
// its cause, its change among the others when its entry is still in box; a
// later round is led by its first change's event (ledBy).
func (e *Engine) hubPick(ctx context.Context, ls *lease.Lease, box lease.Box, own *hubPost, written, withheld map[string]string) hubPicked {
	p := hubPicked{applied: make([]lease.Entry, 0, len(box.Entries))}
	found := false
	var ownEntry lease.Entry
	rereadCtx, cancelRereads := context.WithTimeout(ctx, min(hubRereadBudget, time.Until(ls.Expires())/4))
	for _, en := range box.Entries {
		if own != nil && en.Subject == own.change.Account.ID && en.Body == own.body {
			found = true // this event's own post: written under its cause
			ownEntry = en
			continue
		}
		if b, ok := written[en.Subject]; ok && b == en.Body {
			p.applied = append(p.applied, en)
			continue // a failed close read it again; its write stands
		}
		if b, ok := withheld[en.Subject]; ok && b == en.Body {
			continue // left out of this holder's write for size: waits for a later holder
		}
		var c hubChange
		if err := json.Unmarshal([]byte(en.Body), &c); err != nil {
			e.log().Warn("unreadable hub mailbox entry dropped", "key", ls.Key, "subject", en.Subject, "error", err)
			p.applied = append(p.applied, en)
			continue
		}
		if time.Since(en.Posted) > hubEntryFresh {
			fresh, err := e.reread(rereadCtx, c, en)
			if err != nil {
				// Left waiting for a later holder (or the sweep); the
				// other changes go on.
				e.log().Warn("stale hub mailbox entry left waiting: its account could not be read again", "key", ls.Key, "subject", en.Subject, "posted", en.Posted, "error", err.Error())
				continue
			}
			c = fresh
		}
		p.changes = append(p.changes, c)
		p.entries = append(p.entries, en)
	}
	cancelRereads()
	// In round 0 the write is this event's, the waiting changes' events
	// recorded beside it (when a newer post for this event's account
	// stands instead of its own, that post is among them); later rounds
	// write for the changes that arrived meanwhile.
	switch {
	case own != nil:
		p.cause, p.also = own.cause, causesOf(p.changes)
		switch {
		case found:
			p.changes = append(p.changes, own.change)
			p.entries = append(p.entries, ownEntry)
		case own.unposted && !newerPost(box, own.change.Account.ID, own.at):
			// No entry: written after the entries, over an older one
			// for the same account.
			p.changes = append(p.changes, own.change)
			p.entries = append(p.entries, lease.Entry{Subject: own.change.Account.ID, Body: own.body})
		}
	case len(p.changes) > 0:
		p.cause, p.also = ledBy(p.changes)
	}
	p.marks = refusalMarks(p.entries)
	return p
}

// newerPost reports whether box holds an entry for subject posted after at:
// a newer change for the account, which stands over an unposted one.
func newerPost(box lease.Box, subject string, at time.Time) bool {
	return slices.ContainsFunc(box.Entries, func(en lease.Entry) bool { return en.Subject == subject && en.Posted.After(at) })
}

// unpostedEntry reports whether en stands for the holding event's unposted
// change (hubPost.unposted): it has no post, so no time.
func unpostedEntry(en lease.Entry) bool { return en.Posted.IsZero() }

// reread is a stale mailbox entry's change as the organization shows its
// account now (present when it is in the organization and active), under
// the cause that posted it. Without organization access the entry is taken
// at its word, as a departure event is (and so is the hub's own account,
// which the organization read does not place).
func (e *Engine) reread(ctx context.Context, c hubChange, en lease.Entry) (hubChange, error) {
	if e.Org == nil || c.Account.ID == e.Decl.Hub.AccountID {
		return c, nil
	}
	acct, err := e.accountInfo(ctx, c.Account.ID)
	if err != nil {
		return c, err
	}
	if acct.Active() != c.Present || acct.OUPath != c.Account.OUPath {
		e.log().Info("stale hub mailbox entry read again from the organization", "subject", en.Subject, "posted", en.Posted,
			"posted_present", c.Present, "present", acct.Active(), "posted_ouPath", c.Account.OUPath, "ouPath", acct.OUPath)
	}
	c.Account, c.Present = acct, acct.Active()
	return c, nil
}

// hubRefusedLate follows a refused round: it stops posters handing off to
// this holder (Abandon: a later poster takes the lease itself once it is
// released), then records the refusal under every event that handed its
// change off after the holder's last read (box), by planning their changes
// once more; the caller releases the lease. Their entries stay in the
// mailbox, as the refused ones do. Should their smaller plan pass, it is
// written and recorded as such, and the next holder finds it unchanged.
func (e *Engine) hubRefusedLate(ctx context.Context, mb mailboxes, ls *lease.Lease, region string, box lease.Box, written map[string]string) (Report, error) {
	var rep Report
	if err := mb.Abandon(context.WithoutCancel(ctx), ls); err != nil {
		return rep, err
	}
	now, err := mb.Peek(ctx, ls.Key)
	if err != nil {
		return rep, err
	}
	// Entries read before the refusal (recorded under their events) or
	// written in an earlier round are not late.
	seen := map[string]string{}
	maps.Copy(seen, written)
	for _, en := range box.Entries {
		seen[en.Subject] = en.Body
	}
	var changes []hubChange
	var entries []lease.Entry
	for _, en := range now.Entries {
		var c hubChange
		if b, ok := seen[en.Subject]; (ok && b == en.Body) || json.Unmarshal([]byte(en.Body), &c) != nil {
			continue
		}
		changes = append(changes, c)
		entries = append(entries, en)
	}
	if len(changes) == 0 {
		return rep, nil
	}
	cause, also := ledBy(changes)
	res, err := e.hubRound(ctx, ls, region, hubBatch{cause: cause, changes: changes, marks: refusalMarks(entries), also: also}, nil, nil)
	rep.Add(res.rep)
	e.markRefused(ctx, mb, ls.Key, entries, res.refusals)
	return rep, err
}

// refusalMarks is each entry's refusal mark (lease.Entry.Refused).
func refusalMarks(entries []lease.Entry) []string {
	marks := make([]string, len(entries))
	for i, en := range entries {
		marks[i] = en.Refused
	}
	return marks
}

// markRefused marks the entries whose refusal a round recorded (marks:
// subject -> mark, from hubRound), so later holders that reach the same
// refusal do not record it again. A mark that cannot be set (the entry was
// posted again since, or the call failed) costs one more record of the same
// refusal by a later holder, never a change: it is logged, not returned.
func (e *Engine) markRefused(ctx context.Context, mb mailboxes, key string, entries []lease.Entry, marks map[string]string) {
	if len(marks) == 0 {
		return
	}
	var marked []lease.Entry
	for _, en := range entries {
		if m, ok := marks[en.Subject]; ok && !unpostedEntry(en) {
			en.Refused = m
			marked = append(marked, en)
		}
	}
	if err := mb.MarkRefused(context.WithoutCancel(ctx), key, marked); err != nil {
		e.log().Warn("marking refused hub mailbox entries failed; a later holder records their refusal again", "key", key, "entries", len(marked), "error", err.Error())
	}
}

// refusalMark is what identifies one refusal of a waiting change: the
// account and what the change says of it, why it was refused (the size
// limit, whatever sizes a round's other changes add, or the refusal's
// text), and the policy text the plan started from. A later holder that
// plans the same change on the same text and is refused the same way finds
// the same mark, and records nothing more; any change of the text (a
// departure made room, a hand edit) or of the reason is a new refusal,
// recorded once again. The mark stored is this, a space and the id of the
// refused record (lease.Entry.Refused).
func refusalMark(c hubChange, reason, text string) string {
	h := sha256.New()
	for _, part := range []string{c.Account.ID, strconv.FormatBool(c.Present), c.Account.OUPath, c.Account.Status, reason, text} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// refusalReason is why a hub registry plan leaves changes out ("" when it
// does not): "size limit" for a document that would pass its size limit
// (refused whole, or written only shrunk: plan.Change.Withheld), else the
// refusal's text (a V1 registry it may not switch, a guardrail).
func refusalReason(c apply.Change, perr error) string {
	var size *policy.SizeError
	switch {
	case perr != nil && errors.As(perr, &size), perr == nil && c.Withheld != "":
		return "size limit"
	case perr != nil:
		return perr.Error()
	}
	return ""
}

// causesOf is the events that posted changes.
func causesOf(changes []hubChange) []apply.Cause {
	causes := make([]apply.Cause, len(changes))
	for i, c := range changes {
		causes[i] = c.Cause
	}
	return causes
}

// ledBy is the cause of a write for changes that are not the writing
// event's own: the first change's event, the others' recorded beside it.
func ledBy(changes []hubChange) (Cause, []apply.Cause) {
	return Cause{Trigger: changes[0].Cause.Trigger, Actor: changes[0].Cause.Actor}, causesOf(changes[1:])
}

// hubBatch is what one round of a holder writes: the changes it plans on
// one read, and the events its records go under.
type hubBatch struct {
	// cause leads the round: the holding event's in its round 0, else the
	// first change's event (ledBy). The round's records go under it, unless
	// its change is quiet (hubRound).
	cause Cause
	// changes are the account changes folded into the policies together,
	// one per event.
	changes []hubChange
	// marks[i] is changes[i]'s refusal mark as its entry carries it (""
	// none; lease.Entry.Refused): a refusal an earlier holder recorded is
	// not recorded again.
	marks []string
	// also are the other changes' events, recorded beside cause: every
	// event whose change the round carries gets its records (a write's
	// intent and outcome, or its refusal).
	also []apply.Cause
}

// hubRoundResult is what a round of hubRound did.
type hubRoundResult struct {
	// rep counts the round's results.
	rep Report
	// accepted is true when the registry policy's plan was written or
	// found unchanged: only then may the round's entries leave the
	// mailbox. It is false when the plan was refused or its write failed:
	// the changes then stay in the mailbox.
	accepted bool
	// shrunk is true when the registry policy was written only shrunk
	// because the changes would take it over its size limit
	// (plan.Change.Withheld): the removals were written, the additions
	// were not, so the holder leaves the joins in the mailbox.
	shrunk bool
	// refusals are the marks of the changes whose refusal this round
	// recorded (subject -> mark), for the caller to store on their entries
	// (markRefused).
	refusals map[string]string
}

// hubRound plans b's changes on one read of the hub registry policy (and of
// the hub repository policies whose grants enumerate accounts) and writes
// them under ls. held, when set, carries the policy from one round to the
// next under the same lease: a later round plans on the text the earlier
// one left instead of reading it again.
//
// With d set, the outcomes of a round whose writes all landed are left in d
// for the holder to store while it closes the mailbox (apply.Deferred).
//
// A change the plan refuses or leaves out again, the same way on the same
// text as its mark says (refusalMark), was recorded by an earlier holder:
// it is quiet. Its event gets no record of the registry policy this round
// (it is not among also, and a quiet cause does not lead the round: the
// first change that is not quiet does; when none is, the registry policy's
// refusal is not recorded at all), and the round's refused record names it
// as still waiting, with the earlier record's id. A hub repository policy
// write that grants or removes a quiet change's account is still recorded
// under its event (hubRepositoryChanges): the mark is only about the
// registry policy's refusal. Changes are told apart by their event
// (Trigger): each event posts one account's change.
func (e *Engine) hubRound(ctx context.Context, ls *lease.Lease, region string, b hubBatch, held *heldRegistry, d *apply.Deferred) (res hubRoundResult, err error) {
	// The lead and the causes beside it, as the round records them: a
	// quiet lead gives way below.
	cause, also := b.cause, b.also
	hub := e.Decl.Hub.AccountID
	var planned string // the policy text the plan started from
	step := e.heldRegistryStep(cause, hub, region, func(_ context.Context, current string) ([]policy.Statement, error) {
		planned = current
		owned, err := policy.OwnedOf(current, e.Decl.SidPrefix)
		if err != nil {
			return nil, err
		}
		for _, c := range b.changes {
			owned = desired.Incremental(e.Decl, func(s *desired.State) []policy.Statement { return s.RegistryStatements(hub, region) }, owned, c.Account, c.Present)
		}
		return owned, nil
	}, held)
	c, perr := step.Plan(ctx)
	var refused *apply.RefusedError
	if perr != nil && !errors.As(perr, &refused) {
		return res, perr
	}
	// Which changes the plan refuses (all, or the joins of a shrunk
	// write), and which of those an earlier holder recorded already.
	reason := refusalReason(c, perr)
	type refusal struct {
		change      hubChange
		mark, prior string // its mark now, and as its entry carries it
	}
	var refusedNow []refusal
	quiet := map[audit.Trigger]bool{} // causes whose refusal an earlier holder recorded
	for i, ch := range b.changes {
		if reason == "" || perr == nil && !ch.Present {
			continue // written (a departure's removal is in a shrunk write)
		}
		r := refusal{change: ch, mark: refusalMark(ch, reason, planned)}
		if i < len(b.marks) {
			r.prior = b.marks[i]
		}
		if was, _, _ := strings.Cut(r.prior, " "); was == r.mark {
			quiet[ch.Cause.Trigger] = true
		}
		refusedNow = append(refusedNow, r)
	}
	// The round's records are the lead's (the step's cause) and also's. A
	// quiet lead (in a later round, the first change can be one: a stale
	// entry read again only now) gives the lead to the first change that is
	// not quiet. When every change is quiet, nothing new is recorded of the
	// registry policy, unless its plan writes (what it removes): a write is
	// recorded under the lead, and so its refusal is recorded again.
	recordRegistry := true
	if quiet[cause.Trigger] {
		if j := slices.IndexFunc(also, func(a apply.Cause) bool { return !quiet[a.Trigger] }); j >= 0 {
			cause = Cause{Trigger: also[j].Trigger, Actor: also[j].Actor}
			step.Trigger, step.Actor = cause.Trigger, cause.Actor
		} else if perr == nil && c.Writes() {
			delete(quiet, cause.Trigger)
		} else {
			recordRegistry = false
		}
	}
	fresh := map[audit.Trigger]string{} // cause -> subject of a change refused now, to be recorded
	newMarks := map[string]string{}     // subject -> its mark, without the record id
	var waiting []string                // changes refused before, as the round's record names them
	var quietChanges []hubChange
	for _, r := range refusedNow {
		if quiet[r.change.Cause.Trigger] {
			_, id, _ := strings.Cut(r.prior, " ")
			waiting = append(waiting, fmt.Sprintf("%s (record %s)", r.change.Account.ID, id))
			quietChanges = append(quietChanges, r.change)
			continue
		}
		fresh[r.change.Cause.Trigger] = r.change.Account.ID
		newMarks[r.change.Account.ID] = r.mark
	}
	// The registry policy's records go under the lead and the causes that
	// are not quiet (the new lead leaves also, the quiet ones are named in
	// the note instead).
	also = slices.DeleteFunc(slices.Clone(also), func(a apply.Cause) bool { return quiet[a.Trigger] || a.Trigger == cause.Trigger })
	if len(quiet) > 0 {
		note := fmt.Sprintf("still waiting in the mailbox for room, refused before on this same policy text and not recorded again: %s", strings.Join(waiting, ", "))
		if perr != nil {
			perr = &apply.RefusedError{Err: fmt.Errorf("%w; %s", refused.Err, note)}
		} else {
			c.Withheld += "; " + note
		}
	}
	var items []apply.HeldChange
	if recordRegistry {
		items = append(items, apply.HeldChange{Step: step, Change: c, Err: perr, Also: also})
	} else {
		e.log().Info("hub registry policy refused again the same way on the same text; the waiting changes' refusals were recorded before and are not recorded again",
			"key", ls.Key, "waiting", strings.Join(waiting, ", "))
	}
	if e.Decl.HubRepositoriesEnumerateAccounts() {
		// Hub repository policies whose grants enumerate accounts follow
		// the same changes, under the same lease (the registry's key).
		// Reading every hub repository can take longer than the lease
		// (thousands of repositories, ECR throttling), so the lease (and
		// with it the mailbox's mark) is renewed while they are read.
		stop := keepHeld(ctx, ls, e.leaseTTL())
		repos, err := e.hubRepositoryChanges(ctx, cause, region, b.changes, also, quietChanges)
		if lerr := stop(); lerr != nil {
			return res, errors.Join(err, lerr)
		}
		if err != nil {
			return res, err
		}
		for _, it := range repos {
			var rf *apply.RefusedError
			switch {
			case recordRegistry:
			case it.Err != nil && errors.As(it.Err, &rf):
				// Nothing new is recorded of a round whose every change
				// is quiet but its writes (and its failures).
				res.rep.count(apply.Result{Outcome: apply.Refused, Target: it.Step.Target, Err: it.Err})
				continue
			case it.Err == nil && !it.Change.Writes():
				res.rep.count(apply.Result{Outcome: apply.Unchanged, Change: it.Change, Target: it.Step.Target})
				continue
			}
			items = append(items, it)
		}
	}
	actx := ctx
	if d != nil {
		actx = apply.DeferOutcomes(ctx, d)
	}
	results, err := e.applyHeld(actx, ls, items)
	if !recordRegistry {
		// The registry policy's result, unrecorded: refused as before.
		results = append([]apply.Result{{Outcome: apply.Refused, Target: step.Target, Err: perr}}, results...)
	}
	for _, r := range results {
		res.rep.count(r)
	}
	if len(results) > 0 {
		held.settle(results[0])
		// The refused records' ids, by cause: [0] the round's, [1+j] also[j].
		ids := results[0].RefusalIDs
		for k, id := range ids {
			tr := cause.Trigger
			if k > 0 && k-1 < len(also) {
				tr = also[k-1].Trigger
			}
			if subject, ok := fresh[tr]; ok && id != "" {
				if res.refusals == nil {
					res.refusals = map[string]string{}
				}
				res.refusals[subject] = newMarks[subject] + " " + id
			}
		}
	}
	if err != nil {
		return res, err
	}
	// Only the registry policy decides whether a join's grant is in AWS;
	// an enumerating hub repository policy written shrunk records its own
	// refusal and is converged in full by the sweep once it fits.
	res.shrunk = len(results) > 0 && results[0].Change.Withheld != ""
	// Only with the write and its outcomes stored may the applied entries
	// leave the mailbox; a refused plan leaves them to the next holder.
	res.accepted = len(results) > 0 && (results[0].Outcome == apply.Changed || results[0].Outcome == apply.Unchanged)
	return res, nil
}

func (e *Engine) leaseTTL() time.Duration {
	if e.Exec.LeaseTTL > 0 {
		return e.Exec.LeaseTTL
	}
	return 60 * time.Second
}

// hubRepositoryChanges reads the hub's repositories under the registry's
// lease (held by the caller) and plans each policy's enumerating statements
// with every change folded in, each recorded under cause and also.
//
// quiet are the changes whose registry policy refusal an earlier holder
// recorded (left out of also): the mark only keeps that refusal from being
// recorded again, so a repository policy write that grants or removes a
// quiet change's account (a repository created since, a hand edit reverted)
// is recorded under its event too. Other records of a repository (no
// change, refused, a write for other accounts) are not theirs.
func (e *Engine) hubRepositoryChanges(ctx context.Context, cause Cause, region string, changes []hubChange, also []apply.Cause, quiet []hubChange) ([]apply.HeldChange, error) {
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
		owned := func(_ context.Context, current string) ([]policy.Statement, error) {
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
		want, err := owned(ctx, rs.Policy)
		if err != nil {
			items = append(items, apply.HeldChange{Step: step, Err: &apply.RefusedError{Err: fmt.Errorf("reading ecr-warden's statements in repository policy (%s): %w", rs.ARN, err)}})
			continue
		}
		c, err := e.planRepository(repo, rs.ARN, rs.Policy, want)
		it := apply.HeldChange{Step: step, Change: c, Err: err, Also: also}
		if err == nil && c.Writes() {
			for _, q := range quiet {
				if q.Cause.Trigger != cause.Trigger && e.changesGrantOf(c, q.Account.ID) {
					it.Also = append(slices.Clip(it.Also), q.Cause)
				}
			}
		}
		items = append(items, it)
	}
	return items, nil
}

// changesGrantOf reports whether the write c changes which of ecr-warden's
// statements name account (its root) as a principal. A document it cannot
// read counts as changed, and so does an owned statement it cannot read
// (Statement.Unreadable) that the write removes or replaces: it may name
// the account. A record too many rather than a write missing under the
// event it answers.
func (e *Engine) changesGrantOf(c apply.Change, account string) bool {
	root := policy.AccountRootARN(e.Decl.Hub.Partition, account)
	naming := func(text string) ([]string, error) {
		st, err := policy.OwnedOf(text, e.Decl.SidPrefix)
		var sids []string
		for _, s := range st {
			switch {
			case s.Unreadable() != "":
				sids = append(sids, "unreadable "+string(s.Raw()))
			case s.Principal != nil && slices.Contains(s.Principal.AWS, root):
				sids = append(sids, s.Sid)
			}
		}
		return sids, err
	}
	before, berr := naming(c.Before)
	after, aerr := naming(c.After)
	return berr != nil || aerr != nil || !slices.Equal(before, after)
}

// renewer is the part of a held lease keepHeld renews.
type renewer interface {
	Renew(ctx context.Context, ttl time.Duration) error
}

// keepHeld renews h every third of ttl until the returned stop is called,
// for a read under the lease that may outlast it; stop waits for a renewal
// in flight and returns the first renewal error (the lease was lost: what
// was read may no longer be written). Nothing else may renew h meanwhile.
func keepHeld(ctx context.Context, h renewer, ttl time.Duration) (stop func() error) {
	done := make(chan struct{})
	finished := make(chan error, 1)
	go func() {
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				finished <- nil
				return
			case <-ctx.Done():
				finished <- nil
				return
			case <-tick.C:
				if err := h.Renew(ctx, ttl); err != nil {
					finished <- fmt.Errorf("renewing the lease while reading under it: %w", err)
					return
				}
			}
		}
	}()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			close(done)
			err = <-finished
		})
		return err
	}
}
