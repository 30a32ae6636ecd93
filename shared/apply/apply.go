// Package apply performs planned changes under ecr-warden's write protocol:
// take the document's lease, re-read and re-plan under it (so two writers
// never lose each other's statements), store the write-ahead audit record,
// write to AWS, and record the outcome. A change that plans to nothing writes
// nothing and leaves a short "noop" record; a dry run records "planned".
//
// The package knows nothing about ECR or IAM: the caller hands it closures
// that read, plan and write one document. That keeps the protocol in one
// place for registry policies, repository policies, role policies, PTC rules
// and ECR Public policies alike.
package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// auditor is the part of audit.Trail the protocol needs.
type auditor interface {
	Begin(ctx context.Context, rec audit.Record) (*audit.Pending, error)
	Record(ctx context.Context, rec audit.Record) error
	History(ctx context.Context, resource string, limit int) ([]audit.Record, error)
	Resume(rec audit.Record) *audit.Pending
}

// leaser is the part of lease.Leaser the protocol needs: hold a document's
// lease and hand it to the code that writes.
type leaser interface {
	Hold(ctx context.Context, key string, ttl time.Duration, fn func(ctx context.Context, h lease.Held) error) error
}

var (
	_ auditor = (*audit.Trail)(nil)
	_ leaser  = (*lease.Leaser)(nil)
	_ leaser  = (*lease.Regional)(nil)
)

// Outcome is what became of one change.
type Outcome string

// Outcomes, counted by the backfill summary.
const (
	Unchanged Outcome = "unchanged"
	Changed   Outcome = "changed"
	Planned   Outcome = "planned"
	Refused   Outcome = "refused"
	Failed    Outcome = "failed"
)

// Step is one document to converge. Read and Plan are called again under the
// lease before a write; Write performs the change the second plan returned.
type Step struct {
	// LeaseKey serialises writers of this document (lease.RegistryKey, ...).
	LeaseKey string
	// Target and Trigger describe the change for the audit trail.
	Target  audit.Target
	Trigger audit.Trigger
	Actor   audit.Actor
	// Plan reads what AWS holds now and plans the change. It is called once
	// without the lease and, if that plan writes, once more under it.
	Plan func(ctx context.Context) (Change, error)
	// FullPlan, when set, plans the document's full desired state (Plan may
	// be incremental: an account event adds or removes one principal to
	// what the document holds). It replaces Plan when a write lost its lease
	// or when AWS does not hold what the last applied record wrote: then
	// what the document holds can no longer be trusted as a base. nil means
	// Plan is already the full desired state.
	FullPlan func(ctx context.Context) (Change, error)
	// Write performs the change.
	Write func(ctx context.Context, c Change) error
	// PrincipalWait bounds retries of writes AWS rejects because a principal
	// was just created (awsapi.PrincipalNotReady); 0 means no such retry.
	PrincipalWait time.Duration
	// Reread reads the document again and says whether AWS holds the
	// change's After, its Before, or neither. The executor calls it after a
	// write whose error does not say what AWS holds (see settleWrite), so
	// the record says what AWS holds rather than what the call answered.
	// nil: the document is not read again, and the write is recorded as
	// its call answered.
	Reread func(ctx context.Context, c Change) (Holding, error)
}

// Holds is what a document in AWS is, compared with a change.
type Holds int

// What AWS can hold, compared with a change.
const (
	HoldsOther  Holds = iota // neither the change's Before nor its After
	HoldsAfter               // what the change writes
	HoldsBefore              // what the change was planned from
)

// Holding is what reading a document again found.
type Holding struct {
	Holds Holds
	// Text is what AWS holds, in the form of Change.Before ("" for no
	// document), for the record's note.
	Text string
}

// Compare compares a document's text (as Change.Before renders it; "" for
// none) with the change, by meaning for policies (policy.Equivalent).
func Compare(text string, c Change) Holding {
	switch {
	case sameDocument(text, c.After):
		return Holding{Holds: HoldsAfter, Text: text}
	case sameDocument(text, c.Before):
		return Holding{Holds: HoldsBefore, Text: text}
	}
	return Holding{Holds: HoldsOther, Text: text}
}

// DocumentReread is the Reread of a document whose text read returns, as
// Change.Before holds it ("" for none).
func DocumentReread(read func(ctx context.Context) (string, error)) func(context.Context, Change) (Holding, error) {
	return func(ctx context.Context, c Change) (Holding, error) {
		text, err := read(ctx)
		if err != nil {
			return Holding{}, err
		}
		return Compare(text, c), nil
	}
}

// Change is a planned change of any document kind, in the form the audit
// trail and the backfill report need.
type Change struct {
	Op     plan.Op
	Before string
	After  string
	Diff   string
	Reason string
	// Detail carries the typed plan (plan.Change or plan.RuleChange) for Write.
	Detail any
	// Document marks a policy document whose Before is the text AWS holds
	// now, read under the lease: the executor compares it with the last
	// applied record and settles stale pending records of it.
	Document bool
	// ForeignUnsafe lists foreign statements the guard cannot vouch for
	// (plan.Change.ForeignUnsafe); each run that plans the document records
	// them as one foreign-unsafe audit record.
	ForeignUnsafe []string
	// Withheld says what the declaration wants of the document that this
	// change leaves out, and why (plan.Change.Withheld: the document was
	// over its size limit, so only its shrinking is written). The change
	// is applied; what it leaves out is recorded as refused beside it, and
	// counted as a refusal.
	Withheld string
	// Dropped lists statements without the Sid prefix that the change
	// removes from a document ecr-warden owns wholly (plan.Change.Dropped):
	// recorded as foreign-unsafe, removed.
	Dropped []string
}

// FromDocument wraps a document plan.
func FromDocument(c plan.Change) Change {
	return Change{Op: c.Op, Before: c.Before, After: c.After, Diff: c.Diff(), Reason: c.Reason, Detail: c, Document: true,
		ForeignUnsafe: c.ForeignUnsafe, Withheld: c.Withheld, Dropped: c.Dropped}
}

// Writes reports whether the change needs an AWS call.
func (c Change) Writes() bool {
	switch c.Op {
	case plan.OpNone, plan.OpConflict, "":
		return false
	}
	return true
}

// Executor runs steps. The zero value is not usable: Trail and Leases are required.
type Executor struct {
	Trail  auditor
	Leases leaser
	// DryRun records plans as "planned" and writes nothing to AWS.
	DryRun bool
	// LeaseTTL is how long one document's lease is held at most; default 60s.
	// The lease is renewed to LeaseTTL right before each write.
	LeaseTTL time.Duration
	// FenceMargin is how long before the lease's expiry the write's context
	// ends, so no SDK retry or principal-propagation retry starts after it
	// and an attempt in flight has time to finish; default LeaseTTL/6, at
	// most 10s.
	FenceMargin time.Duration
	// Replans bounds how often a write that lost its fence is re-planned
	// (full desired state, new lease) before the run fails; default 2.
	Replans int
	// StaleAfter is the age past which a pending record can only belong to
	// an invocation that died (the longest function timeout); the next
	// writer of the document settles it. Default DefaultStaleAfter.
	StaleAfter time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// QuietNoops leaves documents that need no change unrecorded: a
	// backfill or sweep unit counts them in its summary record instead.
	// Events keep one noop record per document.
	QuietNoops bool
}

// historyDepth is how many of a document's newest audit records a writer
// reads to find its last applied write and stale pending ones.
const historyDepth = 20

func (x *Executor) now() time.Time {
	if x.Now != nil {
		return x.Now()
	}
	return time.Now()
}

func (x *Executor) ttl() time.Duration {
	if x.LeaseTTL > 0 {
		return x.LeaseTTL
	}
	return 60 * time.Second
}

func (x *Executor) margin() time.Duration {
	if x.FenceMargin > 0 {
		return x.FenceMargin
	}
	return min(x.ttl()/6, 10*time.Second)
}

func (x *Executor) replans() int {
	if x.Replans > 0 {
		return x.Replans
	}
	return 2
}

// DefaultStaleAfter is older than any invocation (Lambda's limit is 15
// minutes, the longest function timeout the CDK app may set): a pending
// record this old belongs to a process that died mid-write. A document's next
// writer (Executor.StaleAfter) and the sweep (functions/backfill) both settle
// records past it; infra's tests keep every function timeout within it.
const DefaultStaleAfter = 15 * time.Minute

func (x *Executor) staleAfter() time.Duration {
	if x.StaleAfter > 0 {
		return x.StaleAfter
	}
	return DefaultStaleAfter
}

// FenceError is a write stopped because its lease lapsed or was lost: it may
// not have happened, and someone else may have written the document since.
// The executor re-plans the document's full desired state under a new lease.
type FenceError struct {
	Key string
	Err error
}

func (e *FenceError) Error() string {
	return fmt.Sprintf("write fenced by lease %s: %v", e.Key, e.Err)
}
func (e *FenceError) Unwrap() error { return e.Err }

// Result is one step's outcome with the change that produced it.
type Result struct {
	Outcome Outcome
	Change  Change
	Target  audit.Target
	Err     error
	// RefusalIDs are the ids of the refused records ApplyHeld stored for a
	// held change that was refused or left something out (Withheld): [0]
	// under its step's own cause, [1+j] under Also[j]. A coalescing holder
	// names them where the refused changes wait (lease.MarkRefused).
	RefusalIDs []string
}

// RefusedError marks a change that a guardrail stopped (size, public
// principal, scope): retrying cannot help, so callers record and move on.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// Run converges one document. It returns an error only when the invocation
// must fail (audit unavailable, AWS write failed, lease busy); refusals and
// conflicts are reported in the Result and recorded, not returned.
func (x *Executor) Run(ctx context.Context, s Step) (Result, error) {
	c, err := s.Plan(ctx)
	if err != nil {
		return x.planError(ctx, s, err)
	}
	if !c.Writes() {
		return x.settle(ctx, s, c)
	}
	if x.DryRun {
		if err := x.reportForeign(ctx, s, c); err != nil {
			return Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}, err
		}
		rec := x.record(s, c, audit.DecisionPlanned)
		rec.DryRun = true
		if err := x.Trail.Record(ctx, rec); err != nil {
			return Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}, err
		}
		return Result{Outcome: Planned, Change: c, Target: s.Target}, nil
	}
	var res Result
	full := false
	// unsettled are this run's fenced writes whose outcome stayed unknown
	// (the re-read after the fence failed too): the next attempt settles
	// them under its own lease, so a run that answers success leaves no
	// record open.
	var unsettled []audit.Record
	for attempt := 0; ; attempt++ {
		var fenced *FenceError
		err = x.Leases.Hold(ctx, s.LeaseKey, x.ttl(), func(ctx context.Context, h lease.Held) error {
			var err error
			res, err = x.underLease(ctx, s, h, full, &unsettled)
			return err
		})
		if err == nil || !errors.As(err, &fenced) || attempt >= x.replans() {
			break
		}
		// The write may or may not have landed, and another writer may
		// have written since: what the document holds is no base for an
		// incremental change. Plan the full desired state under a new lease.
		full = true
	}
	if err != nil && res.Outcome == "" {
		res = Result{Outcome: Failed, Target: s.Target, Err: err}
	}
	if err == nil && len(unsettled) > 0 {
		// Converged, but an earlier attempt's write stays unknown: the
		// invocation fails so it is not taken for settled (its retry finds
		// the document converged; the sweep settles the record).
		ids := make([]string, len(unsettled))
		for i, r := range unsettled {
			ids[i] = r.ID
		}
		err = fmt.Errorf("%s converged, but the outcome of its earlier fenced write (record %s) is still unknown: reading it again under the new lease failed; the sweep settles it", s.Target.ARN, strings.Join(ids, ", "))
	}
	return res, err
}

// underLease re-reads and re-plans the document under its lease h, settles
// what earlier writers left behind, and writes fenced by h.
func (x *Executor) underLease(ctx context.Context, s Step, h lease.Held, full bool, unsettled *[]audit.Record) (Result, error) {
	planFn := s.Plan
	if full && s.FullPlan != nil {
		planFn = s.FullPlan
	}
	x.settleEarlier(ctx, s, unsettled)
	// Re-read under the lease: another ecr-warden writer may have
	// changed the document since the first read.
	c, err := planFn(ctx)
	if err != nil {
		return x.planError(ctx, s, err)
	}
	if !c.Writes() {
		return x.settle(ctx, s, c)
	}
	// A document AWS does not hold yet (a new repository's policy, the hot
	// path) has nothing to compare or settle: no history read.
	if c.Document && c.Before != "" {
		diverged, err := x.reconcileHistory(ctx, s, c)
		if err != nil {
			return Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}, err
		}
		if diverged && !full && s.FullPlan != nil {
			if c, err = s.FullPlan(ctx); err != nil {
				return x.planError(ctx, s, err)
			}
			if !c.Writes() {
				return x.settle(ctx, s, c)
			}
		}
	}
	// Renew before a write that may be slow, so it gets the whole ttl; a
	// lease taken moments ago (the usual case) already has it.
	if h.Expires().Sub(x.now()) < x.ttl()-x.margin() {
		if err := h.Renew(ctx, x.ttl()); err != nil {
			if errors.Is(err, lease.ErrNotHeld) {
				ferr := &FenceError{Key: s.LeaseKey, Err: err}
				return Result{Outcome: Failed, Change: c, Target: s.Target, Err: ferr}, ferr
			}
			return Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}, err
		}
	}
	if err := x.reportForeign(ctx, s, c); err != nil {
		return Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}, err
	}
	pending, err := x.Trail.Begin(ctx, x.record(s, c, audit.DecisionPending))
	if err != nil {
		// Write-ahead: no record, no write.
		return Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}, fmt.Errorf("storing audit intent for %s: %w", s.Target.ARN, err)
	}
	fence := h.Expires().Add(-x.margin())
	wctx, cancel := context.WithTimeout(ctx, fence.Sub(x.now()))
	werr := x.write(wctx, s, c)
	fenceHit := wctx.Err() != nil && ctx.Err() == nil
	cancel()
	if werr != nil {
		if fenceHit {
			werr = &FenceError{Key: s.LeaseKey, Err: fmt.Errorf("the write to %s did not finish %s before the lease's expiry (%s): %w",
				s.Target.ARN, x.margin(), h.Expires().UTC().Format(time.RFC3339), werr)}
		}
		d, note := x.settleWrite(ctx, s, c, werr)
		switch d {
		case audit.DecisionApplied:
			// AWS holds what the change writes, read again inside the
			// lease: the write landed, whatever its call answered.
			return Result{Outcome: Changed, Change: c, Target: s.Target}, pending.Settle(ctx, d, note.Error())
		case audit.DecisionRefused:
			// AWS refused this document: left out, the event succeeds.
			return Result{Outcome: Refused, Change: c, Target: s.Target, Err: note, RefusalIDs: []string{pending.Record().ID}}, pending.Settle(ctx, d, note.Error())
		}
		res := Result{Outcome: Failed, Change: c, Target: s.Target, Err: note}
		if aerr := pending.Settle(ctx, d, note.Error()); aerr != nil {
			return res, errors.Join(note, aerr)
		}
		if d == audit.DecisionUnknown && s.Reread != nil {
			*unsettled = append(*unsettled, pending.Record())
		}
		return res, note
	}
	return Result{Outcome: Changed, Change: c, Target: s.Target}, pending.Applied(ctx)
}

// settleEarlier settles, under the lease the run holds now, the writes of
// its earlier attempts that stayed unknown: their fence cut them and the
// re-read that would have told what AWS holds failed too (a throttled
// read, a slow network). The earlier lease had lapsed before this one was
// taken, so no attempt of theirs can still land; what AWS holds now, read
// under this lease, settles each as the sweep would: applied when AWS
// holds its document, else failed, saying what AWS holds. One that cannot
// be settled stays in unsettled, unknown for the sweep, and Run fails (a
// run that answers success leaves no record open).
func (x *Executor) settleEarlier(ctx context.Context, s Step, unsettled *[]audit.Record) {
	left := (*unsettled)[:0]
	for _, r := range *unsettled {
		c := Change{Before: r.Before, After: r.After}
		rctx, cancel := context.WithTimeout(ctx, x.rereadTimeout())
		held, err := s.Reread(rctx, c)
		cancel()
		if err != nil {
			left = append(left, r)
			continue
		}
		d, note := audit.DecisionFailed, "settled by the same run's next attempt, under a new lease: AWS does not hold this write's document (it holds: "+orNone(held.Text)+")"
		if held.Holds == HoldsAfter {
			d, note = audit.DecisionApplied, "settled by the same run's next attempt, under a new lease: AWS holds this write's document"
		}
		if r.Error != "" {
			note += "; before: " + r.Error
		}
		if err := x.Trail.Resume(r).Settle(ctx, d, note); err != nil {
			left = append(left, r)
		}
	}
	*unsettled = left
}

// rereadTimeout bounds reading a document again after a write's error. The
// write's context ended at the latest FenceMargin before the lease expires,
// so a re-read within half the margin still happens under the lease.
func (x *Executor) rereadTimeout() time.Duration {
	return min(5*time.Second, x.margin()/2)
}

// settleWrite decides what a write whose call returned werr left in AWS,
// and the error that says so (kept as the record's note). Two kinds of
// error do not say it, so the document is read again (Step.Reread):
//
//   - AWS answering that what a create makes already exists, or what a
//     delete removes is gone (awsapi.AlreadyDone), may answer the SDK's
//     retry of our own call whose first answer was lost: applied when AWS
//     holds what the change writes, else failed as AWS answered;
//   - no definite answer (awsapi.Unanswered: the fence's deadline, a
//     cancelled context, a dropped connection, a 5xx after the SDK's
//     retries) may hide a write that landed: applied when AWS holds what
//     the change writes, failed when it holds what the change was planned
//     from, and unknown, with the error, when the read fails or AWS holds
//     neither (the sweep settles it later, see audit.DecisionUnknown).
//
// AWS refusing the document the write carries, for a limit or its content
// (awsapi.DocumentRefused), is refused (see settleRefusal): that document is
// left out and the rest converges; so is a write whose writer returns a
// *RefusedError (an answer it has read as one no retry changes, such as
// IAM's EntityAlreadyExists for a role name taken in another case). Any
// other error is AWS refusing the write: failed, as it answered. The note wraps werr, so a FenceError still
// reaches Run.
//
// The re-read gets a context of its own (ctx may be the one that ended the
// write) bounded by rereadTimeout, and only reads: nothing is written
// outside the lease.
func (x *Executor) settleWrite(ctx context.Context, s Step, c Change, werr error) (audit.Decision, error) {
	var refused *RefusedError
	if awsapi.DocumentRefused(werr) || errors.As(werr, &refused) {
		return x.settleRefusal(ctx, s, c, werr)
	}
	unanswered := awsapi.Unanswered(werr)
	if !unanswered && !awsapi.AlreadyDone(werr) {
		return audit.DecisionFailed, werr
	}
	undecided := audit.DecisionFailed // when the document cannot tell
	if unanswered {
		undecided = audit.DecisionUnknown
	}
	if s.Reread == nil {
		if unanswered {
			return undecided, fmt.Errorf("outcome unknown, %s is not read again: %w", s.Target.ARN, werr)
		}
		return undecided, werr
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.rereadTimeout())
	defer cancel()
	held, rerr := s.Reread(rctx, c)
	switch {
	case rerr != nil && unanswered:
		return undecided, fmt.Errorf("outcome unknown: %w; reading %s again to tell failed too: %v", werr, s.Target.ARN, rerr)
	case rerr != nil:
		return undecided, fmt.Errorf("%w (reading %s again to see whether an earlier attempt of the call did it failed too: %v)", werr, s.Target.ARN, rerr)
	case held.Holds == HoldsAfter && unanswered:
		return audit.DecisionApplied, fmt.Errorf("applied: AWS holds what the change writes, read again after the call got no definite answer: %w", werr)
	case held.Holds == HoldsAfter:
		return audit.DecisionApplied, fmt.Errorf("applied: AWS holds what the change writes, read again after the call answered: %w (an earlier attempt of the call, retried by the SDK after its answer was lost, did it)", werr)
	case held.Holds == HoldsBefore && unanswered:
		return audit.DecisionFailed, fmt.Errorf("%w (read again: AWS still holds the document the change was planned from)", werr)
	case unanswered:
		return undecided, fmt.Errorf("outcome unknown: %w; read again, AWS holds neither what the change writes nor what it was planned from: %s", werr, orNone(held.Text))
	}
	return undecided, fmt.Errorf("%w (read again: AWS holds %s, not what the change writes)", werr, orNone(held.Text))
}

// settleRefusal settles a write AWS refused for the document it carries
// (a role's inline policies past IAM's aggregate, a rule past ECR's count,
// a document ECR calls invalid): the same document is refused on every try,
// so failing the unit or event would only retry it into the dead-letter
// queue and hold back nothing else. It is refused instead, with AWS's
// answer: the writer converges everything else, and the next sweep tries
// again. The document is read again when the step can (Step.Reread), so the
// record says what AWS holds: what the change was planned from, as a
// refusal leaves it; or what the change writes, when an earlier attempt of
// the call, retried by the SDK after its answer was lost, wrote it
// (applied).
func (x *Executor) settleRefusal(ctx context.Context, s Step, c Change, werr error) (audit.Decision, error) {
	const left = "aws-refused: AWS refused this document, so ecr-warden left it out and converged the rest (the next sweep tries again; AWS's answer says what to change)"
	if s.Reread == nil {
		return audit.DecisionRefused, fmt.Errorf("%s: %w", left, werr)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), x.rereadTimeout())
	defer cancel()
	held, rerr := s.Reread(rctx, c)
	switch {
	case rerr != nil:
		return audit.DecisionRefused, fmt.Errorf("%s: %w (reading %s again to see what AWS holds failed: %v)", left, werr, s.Target.ARN, rerr)
	case held.Holds == HoldsAfter:
		return audit.DecisionApplied, fmt.Errorf("applied: AWS holds what the change writes, read again after the call answered: %w (an earlier attempt of the call, retried by the SDK after its answer was lost, did it)", werr)
	case held.Holds == HoldsBefore:
		return audit.DecisionRefused, fmt.Errorf("%s: %w (read again: AWS still holds the document the change was planned from)", left, werr)
	}
	return audit.DecisionRefused, fmt.Errorf("%s: %w (read again: AWS holds %s, neither what the change writes nor what it was planned from)", left, werr, orNone(held.Text))
}

// reconcileHistory compares the document AWS holds now (c.Before, read under
// the lease) with the document's audit history. Pending records older than
// StaleAfter belong to invocations that died mid-write, and unknown ones to
// writes that got no definite answer: they are settled as
// applied when AWS holds their document, else failed, noting what was found.
// When the newest applied record's document is not what AWS holds, someone
// wrote since (by hand, or a write that landed after its lease lapsed): that
// is recorded as diverged, and diverged reports it so the caller plans the
// full desired state.
func (x *Executor) reconcileHistory(ctx context.Context, s Step, c Change) (diverged bool, err error) {
	recs, err := x.Trail.History(ctx, s.Target.ARN, historyDepth)
	if err != nil {
		return false, fmt.Errorf("reading the audit history of %s before a write: %w", s.Target.ARN, err)
	}
	cutoff := x.now().Add(-x.staleAfter())
	var last *audit.Record
	for i := len(recs) - 1; i >= 0; i-- { // newest first
		r := recs[i]
		if r.DryRun {
			continue
		}
		switch r.Decision {
		case audit.DecisionPending, audit.DecisionUnknown:
			if !r.Time.Before(cutoff) {
				// Possibly still in flight elsewhere (it would hold the
				// lease), or landed with its outcome not stored yet (a hub
				// mailbox holder stores a round's outcomes while it
				// releases): when AWS holds its document it is the last
				// write, not a divergence.
				if last == nil && sameDocument(r.After, c.Before) {
					last = &recs[i]
				}
				continue
			}
			d, note := audit.DecisionFailed, "settled by a later writer: AWS does not hold this write's document (it holds: "+orNone(c.Before)+")"
			if sameDocument(r.After, c.Before) {
				d, note = audit.DecisionApplied, "settled by a later writer: AWS holds this write's document"
			}
			if err := x.Trail.Resume(r).Settle(ctx, d, note); err != nil {
				return false, fmt.Errorf("settling stale pending record %s of %s: %w", r.ID, s.Target.ARN, err)
			}
			if d == audit.DecisionApplied && last == nil {
				last = &recs[i]
			}
		case audit.DecisionApplied:
			if last == nil {
				last = &recs[i]
			}
		}
	}
	if last == nil || sameDocument(last.After, c.Before) {
		return false, nil
	}
	rec := audit.Record{Decision: audit.DecisionDiverged, Op: "none", Trigger: s.Trigger, Actor: s.Actor, Target: s.Target,
		Before: last.After, After: c.Before,
		Error: fmt.Sprintf("AWS does not hold what the last applied write (%s at %s) wrote: changed since by hand or by a write that landed late; planning the full desired state",
			last.ID, last.Time.UTC().Format(time.RFC3339))}
	if err := x.Trail.Record(ctx, rec); err != nil {
		return false, err
	}
	return true, nil
}

// sameDocument compares two documents by meaning (policy.Equivalent), or as
// text when either is not a policy.
func sameDocument(a, b string) bool {
	if a == b {
		return true
	}
	if a == "" || b == "" {
		return false
	}
	eq, err := policy.Equivalent(a, b)
	return err == nil && eq
}

func orNone(s string) string {
	if s == "" {
		return "no document"
	}
	return s
}

// write performs the change within ctx, whose deadline is the lease's
// fence: no attempt (the principal-propagation retry's, or the SDK's own,
// which honour ctx) starts after it.
func (x *Executor) write(ctx context.Context, s Step, c Change) error {
	once := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return s.Write(ctx, c)
	}
	if s.PrincipalWait <= 0 {
		return once()
	}
	wait := s.PrincipalWait
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d))
	}
	return awsapi.RetryFor(ctx, awsapi.PrincipalNotReady, wait, once)
}

// settle records a change that writes nothing: a no-op, or a rule conflict
// (reported as refused so an operator sees it).
func (x *Executor) settle(ctx context.Context, s Step, c Change) (Result, error) {
	if err := x.reportForeign(ctx, s, c); err != nil {
		return Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}, err
	}
	if c.Op == plan.OpConflict {
		rec := x.record(s, c, audit.DecisionRefused)
		rec.Error = c.Reason
		if err := x.Trail.Record(ctx, rec); err != nil {
			return Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}, err
		}
		return Result{Outcome: Refused, Change: c, Target: s.Target, Err: errors.New(c.Reason)}, nil
	}
	if x.QuietNoops {
		return Result{Outcome: Unchanged, Change: c, Target: s.Target}, nil
	}
	rec := x.record(s, c, audit.DecisionNoop)
	rec.Before, rec.After, rec.Diff = "", "", ""
	rec.DryRun = x.DryRun
	if err := x.Trail.Record(ctx, rec); err != nil {
		return Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}, err
	}
	return Result{Outcome: Unchanged, Change: c, Target: s.Target}, nil
}

// reportForeign records the foreign statements of the document that the
// guard cannot vouch for (kept, never blocking, never co-signed as safe),
// and what the change leaves out of what the declaration wants (refused).
func (x *Executor) reportForeign(ctx context.Context, s Step, c Change) error {
	var errs []error
	if len(c.ForeignUnsafe) > 0 {
		errs = append(errs, x.Trail.Record(ctx, x.foreignUnsafeRecord(s, c)))
	}
	if c.Withheld != "" {
		errs = append(errs, x.Trail.Record(ctx, x.withheldRecord(s, c)))
	}
	if len(c.Dropped) > 0 {
		errs = append(errs, x.Trail.Record(ctx, x.droppedRecord(s, c)))
	}
	return errors.Join(errs...)
}

// foreignUnsafeRecord is the record of the foreign statements of c's
// document that the guard cannot vouch for.
func (x *Executor) foreignUnsafeRecord(s Step, c Change) audit.Record {
	return audit.Record{Decision: audit.DecisionForeignUnsafe, Op: string(c.Op), Trigger: s.Trigger, Actor: s.Actor, Target: s.Target,
		Before: c.Before, DryRun: x.DryRun,
		Error: "kept as written, not vouched for by ecr-warden's guard: " + strings.Join(c.ForeignUnsafe, "; ")}
}

// droppedRecord is the foreign-unsafe record of the statements a change
// removes from a document ecr-warden owns wholly.
func (x *Executor) droppedRecord(s Step, c Change) audit.Record {
	return audit.Record{Decision: audit.DecisionForeignUnsafe, Op: string(c.Op), Trigger: s.Trigger, Actor: s.Actor, Target: s.Target,
		Before: c.Before, After: c.After, DryRun: x.DryRun,
		Error: "removed: the trust policy of ecr-warden's own role is wholly owned, and a statement without the Sid prefix would let someone else assume it: " + strings.Join(c.Dropped, "; ")}
}

// withheldRecord is the refused record of what change c leaves out.
func (x *Executor) withheldRecord(s Step, c Change) audit.Record {
	return audit.Record{Decision: audit.DecisionRefused, Op: string(c.Op), Trigger: s.Trigger, Actor: s.Actor, Target: s.Target,
		Before: c.Before, After: c.After, DryRun: x.DryRun, Error: c.Withheld}
}

// planError records a refusal (a guardrail or a malformed document found in
// AWS) and returns it in the result; other errors (reads failing) fail the run.
func (x *Executor) planError(ctx context.Context, s Step, err error) (Result, error) {
	var refused *RefusedError
	if !errors.As(err, &refused) {
		return Result{Outcome: Failed, Target: s.Target, Err: err}, err
	}
	rec := audit.Record{Decision: audit.DecisionRefused, Trigger: s.Trigger, Actor: s.Actor, Target: s.Target, Error: err.Error(), DryRun: x.DryRun}
	if aerr := x.Trail.Record(ctx, rec); aerr != nil {
		return Result{Outcome: Failed, Target: s.Target, Err: aerr}, aerr
	}
	return Result{Outcome: Refused, Target: s.Target, Err: err}, nil
}

func (x *Executor) record(s Step, c Change, d audit.Decision) audit.Record {
	return audit.Record{
		Decision: d,
		Op:       string(c.Op),
		Trigger:  s.Trigger,
		Actor:    s.Actor,
		Target:   s.Target,
		Before:   c.Before,
		After:    c.After,
		Diff:     c.Diff,
		DryRun:   x.DryRun,
	}
}
