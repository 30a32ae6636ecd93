package apply

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/plan"
)

// batchAuditor is the part of audit.Trail a unit's batched write path needs.
type batchAuditor interface {
	BeginBatch(ctx context.Context, recs []audit.Record) ([]*audit.Pending, error)
	FinishBatch(ctx context.Context, outs []audit.Outcome) error
	RecordBatch(ctx context.Context, recs []audit.Record) error
}

var _ batchAuditor = (*audit.Trail)(nil)

// RecordAll stores decisions that write nothing to AWS (validations,
// principals left out, ...) in as few calls as the trail allows: one
// BatchWriteItem per 25, or one by one when it cannot batch.
func (x *Executor) RecordAll(ctx context.Context, recs []audit.Record) error {
	if len(recs) == 0 || x.Trail == nil {
		return nil
	}
	if b, ok := x.Trail.(batchAuditor); ok {
		return b.RecordBatch(ctx, recs)
	}
	var errs []error
	for _, rec := range recs {
		errs = append(errs, x.Trail.Record(ctx, rec))
	}
	return errors.Join(errs...)
}

// HeldLease is the lease a unit holds over the documents it read: when it
// lapses and how to extend it.
type HeldLease = lease.Held

// HeldChange is one document a unit read and planned while holding the lease
// that covers it (so no writer can have changed it since: no re-read).
type HeldChange struct {
	Step   Step
	Change Change
	// Err is the plan's error: a *RefusedError is recorded as refused,
	// anything else fails the document (and the unit).
	Err error
	// Wave orders writes that depend on each other (a role before its
	// policy): every write of a lower wave finishes before a higher one starts.
	Wave int
	// Also are further causes the same change answers (account events
	// coalesced into one write of the hub's registry policy): each gets its
	// own record, intent and outcome, for the one AWS write.
	Also []Cause
	// Needs are the targets (audit.Target.ARN) of documents of the same
	// batch, in lower waves, that this change relies on (a pull-through-cache
	// rule's customRoleArn names the PTC role, which needs its trust and
	// inline policy): when AWS refuses one of their writes, this change is
	// not written either and is refused, saying which and why; when one of
	// them fails (its write, its intent, its lease or its read), this change
	// is not written either and fails, naming it (see ApplyHeld).
	Needs []string
}

// Cause is a trigger and actor a change is recorded for.
type Cause struct {
	Trigger audit.Trigger
	Actor   audit.Actor
}

// withCause is rec for another cause.
func withCause(rec audit.Record, c Cause) audit.Record {
	rec.Trigger, rec.Actor = c.Trigger, c.Actor
	return rec
}

// appendRefusals appends the refused record rec under its own cause and
// under each of also, each with its id set here (so the caller can name
// them: Result.RefusalIDs; the trail keeps a set id), and returns those ids
// in that order.
func (x *Executor) appendRefusals(records []audit.Record, rec audit.Record, also []Cause) ([]audit.Record, []string) {
	ids := make([]string, 0, 1+len(also))
	for i := -1; i < len(also); i++ {
		r := rec
		if i >= 0 {
			r = withCause(rec, also[i])
		}
		r.ID = audit.NewID(x.now())
		records = append(records, r)
		ids = append(ids, r.ID)
	}
	return records, ids
}

// unitWrites bounds the AWS writes of one ApplyHeld in flight.
const unitWrites = 8

// ApplyHeld records and performs the changes a unit planned under the held
// lease h, with the fewest calls the write-ahead audit allows:
//
//   - unchanged documents get no record when QuietNoops is set (the unit's
//     summary counts them), else one noop record each; a document whose
//     plan failed (not refused) gets a failed record (op read) and fails
//     the batch, while the others are still written;
//   - in a dry run, the planned changes are stored as "planned", 25 to a call;
//   - otherwise every intent is stored ("pending", BeginBatch) before any of
//     the writes, each write runs fenced by h (its context ends FenceMargin
//     before h expires; h is renewed first once less than half its ttl is
//     left; a lost lease stops every write not yet started), and the outcomes
//     are stored after the writes (FinishBatch). An intent not stored is never
//     written. A crash anywhere leaves each write visible as pending or
//     settled;
//   - a write AWS refuses for the document it carries (awsapi.DocumentRefused)
//     is settled refused, with AWS's answer (see Executor.settleRefusal), and
//     so is every change of a higher wave that needs it (HeldChange.Needs),
//     not written; neither fails the batch;
//   - so is a change whose needed document ecr-warden's own plan refused (a
//     RefusedError, a conflict), its message naming that refusal without
//     AWS's prefix;
//   - a change whose needed document failed instead (read, intent, lease or
//     write: anything but applied, unchanged or refused) is not written
//     either: its intent is settled failed, naming what it needs and that
//     document's error. Failed, not refused: a refusal is for what no retry
//     changes and does not fail the batch, while this one is time-fixable,
//     fails the batch with its dependency (SQS or Lambda retries it, and the
//     retry writes both in order) and is counted by the failed-writes alarm.
//
// It returns one Result per item and an error when the unit must fail: a
// write failed, the audit trail failed, or the lease was lost.
func (x *Executor) ApplyHeld(ctx context.Context, h HeldLease, items []HeldChange) ([]Result, error) {
	trail, ok := x.Trail.(batchAuditor)
	if !ok {
		return nil, errors.New("apply: the audit trail cannot store batches (BeginBatch, FinishBatch, RecordBatch)")
	}
	results := make([]Result, len(items))
	// withheldIDs are the refused records of what each change leaves out;
	// its result, whatever its outcome, names them.
	withheldIDs := make([][]string, len(items))
	defer func() {
		for i, ids := range withheldIDs {
			if ids != nil {
				results[i].RefusalIDs = ids
			}
		}
	}()
	var (
		records            []audit.Record // decisions without writes, stored in one batch
		writes             []int          // items to write, in order
		errs               []error
		outcomesNotWritten []audit.Outcome
		// failedOut are the targets whose read, intent or write failed,
		// with why, for the changes that need them (HeldChange.Needs):
		// those are not written and fail too. Guarded by mu below once
		// the writes start.
		failedOut = map[string]error{}
		// refusedOut are the targets ecr-warden's own plan refused (a
		// RefusedError, a conflict), with why: a change that needs one is
		// refused with it, not written (no retry changes a refusal).
		refusedOut = map[string]error{}
	)
	for i, it := range items {
		s, c := it.Step, it.Change
		if it.Err == nil && len(c.Dropped) > 0 {
			rec := x.droppedRecord(s, c)
			records = append(records, rec)
			for _, a := range it.Also {
				records = append(records, withCause(rec, a))
			}
		}
		if it.Err == nil && len(c.ForeignUnsafe) > 0 && (c.Writes() || !x.QuietNoops) {
			// Foreign statements the guard cannot vouch for, kept beside
			// what this change writes or plans (a unit's unchanged
			// documents are counted in its summary, with no record).
			rec := x.foreignUnsafeRecord(s, c)
			records = append(records, rec)
			for _, a := range it.Also {
				records = append(records, withCause(rec, a))
			}
		}
		if it.Err == nil && c.Withheld != "" {
			// What the change leaves out is refused, under every cause.
			records, withheldIDs[i] = x.appendRefusals(records, x.withheldRecord(s, c), it.Also)
		}
		switch {
		case it.Err != nil:
			var refused *RefusedError
			if !errors.As(it.Err, &refused) {
				// The document could not be read or planned: recorded on
				// its own (the rest of the batch is still written), and
				// the batch fails so the unit or event is retried. What
				// needs it is not written (failedOut).
				rec := audit.Record{Decision: audit.DecisionFailed, Op: audit.OpRead, Trigger: s.Trigger, Actor: s.Actor, Target: s.Target, Error: it.Err.Error(), DryRun: x.DryRun}
				records = append(records, rec)
				for _, a := range it.Also {
					records = append(records, withCause(rec, a))
				}
				results[i] = Result{Outcome: Failed, Target: s.Target, Err: it.Err}
				errs = append(errs, it.Err)
				failedOut[s.Target.ARN] = fmt.Errorf("reading it failed: %w", it.Err)
				continue
			}
			rec := audit.Record{Decision: audit.DecisionRefused, Trigger: s.Trigger, Actor: s.Actor, Target: s.Target, Error: it.Err.Error(), DryRun: x.DryRun}
			// Coalesced causes learn of the refusal under their own event.
			var ids []string
			records, ids = x.appendRefusals(records, rec, it.Also)
			results[i] = Result{Outcome: Refused, Target: s.Target, Err: it.Err, RefusalIDs: ids}
			refusedOut[s.Target.ARN] = it.Err
		case c.Op == plan.OpConflict:
			rec := x.record(s, c, audit.DecisionRefused)
			rec.Error = c.Reason
			records = append(records, rec)
			for _, a := range it.Also {
				records = append(records, withCause(rec, a))
			}
			results[i] = Result{Outcome: Refused, Change: c, Target: s.Target, Err: errors.New(c.Reason)}
			refusedOut[s.Target.ARN] = errors.New(c.Reason)
		case !c.Writes():
			if !x.QuietNoops {
				rec := x.record(s, c, audit.DecisionNoop)
				rec.Before, rec.After, rec.Diff = "", "", ""
				records = append(records, rec)
				for _, a := range it.Also {
					records = append(records, withCause(rec, a))
				}
			}
			results[i] = Result{Outcome: Unchanged, Change: c, Target: s.Target}
		case x.DryRun:
			records = append(records, x.record(s, c, audit.DecisionPlanned))
			results[i] = Result{Outcome: Planned, Change: c, Target: s.Target}
		default:
			writes = append(writes, i)
		}
	}
	if len(records) > 0 {
		if err := trail.RecordBatch(ctx, records); err != nil {
			errs = append(errs, err)
		}
	}
	if len(writes) == 0 {
		// Whatever needs a failed document is in writes: nothing to hold.
		return results, errors.Join(errs...)
	}

	// Write-ahead: every intent first (with those of coalesced causes).
	var intents []audit.Record
	first := make([]int, len(writes)) // writes[k]'s first intent
	for k, i := range writes {
		first[k] = len(intents)
		rec := x.record(items[i].Step, items[i].Change, audit.DecisionPending)
		intents = append(intents, rec)
		for _, a := range items[i].Also {
			intents = append(intents, withCause(rec, a))
		}
	}
	stored, err := trail.BeginBatch(ctx, intents)
	if err != nil {
		errs = append(errs, fmt.Errorf("storing audit intents of %d writes: %w", len(writes), err))
	}
	// A write happens only when every intent it answers is stored.
	pending := make([][]*audit.Pending, len(writes))
	for k, i := range writes {
		for j := first[k]; j < first[k]+1+len(items[i].Also); j++ {
			if stored[j] == nil {
				for _, p := range pending[k] {
					outcomesNotWritten = append(outcomesNotWritten, audit.Outcome{Pending: p, Err: errors.New("not written: another intent of the same write was not stored")})
				}
				pending[k] = nil
				break
			}
			pending[k] = append(pending[k], stored[j])
		}
	}

	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		sem      = make(chan struct{}, unitWrites)
		outcomes = outcomesNotWritten
		lost     error
		// leftOut are the targets whose writes AWS refused (or that were
		// left out with one they need), with why, for the changes that
		// need them (HeldChange.Needs).
		leftOut = map[string]error{}
	)
	// refuse settles write k (items[i]) as refused by err without
	// writing it, and leaves its target out for the changes that need it.
	// Called with mu held.
	refuse := func(k, i int, err error) {
		s, c := items[i].Step, items[i].Change
		ids := make([]string, 0, len(pending[k]))
		for _, p := range pending[k] {
			outcomes = append(outcomes, audit.Outcome{Pending: p, Err: err, Decision: audit.DecisionRefused})
			ids = append(ids, p.Record().ID)
		}
		results[i] = Result{Outcome: Refused, Change: c, Target: s.Target, Err: err, RefusalIDs: ids}
		leftOut[s.Target.ARN] = err
	}
	// fail settles write k (items[i]) as failed by err, written or not,
	// fails the batch, and holds back the changes that need its target.
	// Called with mu held.
	fail := func(k, i int, err error, decision audit.Decision) {
		s, c := items[i].Step, items[i].Change
		for _, p := range pending[k] {
			outcomes = append(outcomes, audit.Outcome{Pending: p, Err: err, Decision: decision})
		}
		results[i] = Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}
		errs = append(errs, err)
		failedOut[s.Target.ARN] = err
	}
	ttl, margin := x.ttl(), x.margin()
	// fence renews h when less than half its ttl is left and returns the
	// deadline of the next write, or an error once the lease is lost.
	fence := func() (time.Time, error) {
		mu.Lock()
		defer mu.Unlock()
		if lost != nil {
			return time.Time{}, lost
		}
		if time.Until(h.Expires()) < ttl/2 {
			if err := h.Renew(ctx, ttl); err != nil {
				lost = fmt.Errorf("lease lost before a write, no further write of this unit starts: %w", err)
				return time.Time{}, lost
			}
		}
		return h.Expires().Add(-margin), nil
	}
	waves := map[int][]int{} // wave -> positions in writes
	var order []int
	for k, i := range writes {
		w := items[i].Wave
		if _, ok := waves[w]; !ok {
			order = append(order, w)
		}
		waves[w] = append(waves[w], k)
	}
	slices.Sort(order)
	for _, wave := range order {
		for _, k := range waves[wave] {
			i := writes[k]
			s, c := items[i].Step, items[i].Change
			if pending[k] == nil {
				// The batch already fails for the intent (BeginBatch's error).
				results[i] = Result{Outcome: Failed, Change: c, Target: s.Target, Err: errors.New("audit intent not stored: not written")}
				mu.Lock()
				failedOut[s.Target.ARN] = errors.New("its audit intent was not stored, so it was not written")
				mu.Unlock()
				continue
			}
			// Every lower wave has finished: what it left out or failed
			// is known. A refusal comes first: it is what a retry will
			// meet again.
			mu.Lock()
			need, why := neededLeftOut(items[i].Needs, leftOut)
			if why != nil {
				refuse(k, i, fmt.Errorf("aws-refused: not written: it needs %s, which is left out (%w)", need, why))
			} else if need, why = neededLeftOut(items[i].Needs, refusedOut); why != nil {
				refuse(k, i, fmt.Errorf("not written: it needs %s, which ecr-warden refused to write (%w)", need, why))
			} else if need, why = neededLeftOut(items[i].Needs, failedOut); why != nil {
				fail(k, i, fmt.Errorf("not written: it needs %s, which failed in this run (%w); it is written after it, when the unit or event is retried", need, why), "")
			}
			mu.Unlock()
			if why != nil {
				continue
			}
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				deadline, werr := fence()
				var decision audit.Decision // "": as werr says
				if werr == nil {
					wctx, cancel := context.WithDeadline(ctx, deadline)
					werr = x.write(wctx, s, c)
					if werr != nil && wctx.Err() != nil && ctx.Err() == nil {
						werr = fmt.Errorf("the write to %s did not finish %s before the unit's lease expired: %w", s.Target.ARN, margin, werr)
					}
					cancel()
					if werr != nil {
						decision, werr = x.settleWrite(ctx, s, c, werr)
					}
				}
				if decision == audit.DecisionApplied {
					// The write landed (read again): its note stays on the record.
					mu.Lock()
					defer mu.Unlock()
					for _, p := range pending[k] {
						outcomes = append(outcomes, audit.Outcome{Pending: p, Err: werr, Decision: decision})
					}
					results[i] = Result{Outcome: Changed, Change: c, Target: s.Target}
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if decision == audit.DecisionRefused {
					// AWS refused this document: left out, the rest of the
					// batch is written and the unit does not fail for it.
					refuse(k, i, werr)
					return
				}
				if werr != nil {
					// Failed, unknown, or not sent (the lease was lost):
					// what needs it is held back.
					fail(k, i, werr, decision)
					return
				}
				for _, p := range pending[k] {
					outcomes = append(outcomes, audit.Outcome{Pending: p, Err: werr, Decision: decision})
				}
				results[i] = Result{Outcome: Changed, Change: c, Target: s.Target}
			}()
		}
		wg.Wait()
	}
	wg.Wait()
	if d := deferredOf(ctx); d != nil && len(errs) == 0 && len(leftOut) == 0 {
		// Every write landed: the caller stores these outcomes with its
		// next step (see DeferOutcomes).
		d.add(trail, outcomes)
		return results, nil
	}
	if err := trail.FinishBatch(ctx, outcomes); err != nil {
		errs = append(errs, err)
	}
	return results, errors.Join(errs...)
}

// neededLeftOut is the first of needs that is in leftOut (refused, or
// failed), and why (nil: none is).
func neededLeftOut(needs []string, leftOut map[string]error) (string, error) {
	for _, n := range needs {
		if why, ok := leftOut[n]; ok {
			return n, why
		}
	}
	return "", nil
}

// Deferred holds the outcomes of held writes that all landed, for the
// caller to store at the same time as its next step instead of before it.
// Only the hub registry policy's mailbox holder uses it: it stores a round's
// outcomes while it closes the mailbox and releases the lease, two calls
// that need not wait for each other, because the outcomes say what AWS
// already holds and the lease guards only writes. Should the holder die
// between the two, the writes stay visible as pending intents (`make audit
// -stale`), which the next writer of the document, or else the next sweep
// (reconcile.Engine.SettleStale), settles from what AWS holds; a write that failed is never deferred: ApplyHeld stores its
// outcome at once, as without a Deferred.
type Deferred struct {
	mu    sync.Mutex
	trail batchAuditor
	outs  []audit.Outcome
}

type deferredKey struct{}

// DeferOutcomes returns ctx carrying d: ApplyHeld under it leaves the
// outcomes of a batch whose writes all landed in d.
func DeferOutcomes(ctx context.Context, d *Deferred) context.Context {
	return context.WithValue(ctx, deferredKey{}, d)
}

func deferredOf(ctx context.Context) *Deferred {
	d, _ := ctx.Value(deferredKey{}).(*Deferred)
	return d
}

func (d *Deferred) add(trail batchAuditor, outs []audit.Outcome) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.trail = trail
	d.outs = append(d.outs, outs...)
}

// Finish stores the outcomes held (nothing when none) and empties d.
func (d *Deferred) Finish(ctx context.Context) error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	trail, outs := d.trail, d.outs
	d.outs = nil
	d.mu.Unlock()
	if len(outs) == 0 {
		return nil
	}
	return trail.FinishBatch(ctx, outs)
}

// HoldUnit runs fn holding the lease on key (the unit's registry scope: the
// same key every writer of a document in that registry takes) and releases
// it afterwards. fn reads the documents it plans under the lease, so nothing
// it read can change before ApplyHeld writes. A dry run writes nothing and
// takes no lease (fn gets a nil HeldLease, which ApplyHeld never touches in
// a dry run).
func (x *Executor) HoldUnit(ctx context.Context, key string, fn func(ctx context.Context, h HeldLease) error) error {
	if x.DryRun {
		return fn(ctx, nil)
	}
	return x.Leases.Hold(ctx, key, x.ttl(), func(ctx context.Context, h lease.Held) error { return fn(ctx, h) })
}

// Keeper keeps a unit's lease while the unit reads the documents it plans
// under it. ApplyHeld renews the lease before its writes, but a chunk's
// reads come first and can take longer than the lease lives (a throttled
// registry: each read retried by the SDK for seconds): the lease lapsed
// under them, a waiting writer took it and wrote, ApplyHeld's renewal
// then found it lost, and the unit failed, on every try while events kept
// the registry busy. Renewing between reads is sound because the lease is
// held without a gap: nothing read under it can have been written by
// another writer.
type Keeper struct {
	x   *Executor
	h   HeldLease
	mu  sync.Mutex
	err error
}

// Keeper returns the keeper of h (nil h, a dry run's: Keep does nothing).
func (x *Executor) Keeper(h HeldLease) *Keeper { return &Keeper{x: x, h: h} }

// Keep renews the lease when less than half of its ttl is left, and
// returns an error once it is lost: the caller reads nothing more under it
// (what it read already is still planned; ApplyHeld then writes none of
// it). Safe for concurrent use by a chunk's readers.
func (k *Keeper) Keep(ctx context.Context) error {
	if k == nil || k.h == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.err != nil {
		return k.err
	}
	if ttl := k.x.ttl(); time.Until(k.h.Expires()) < ttl/2 {
		if err := k.h.Renew(ctx, ttl); err != nil {
			k.err = fmt.Errorf("lease lost while reading the documents it covers, not read: %w", err)
		}
	}
	return k.err
}
