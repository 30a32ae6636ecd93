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
	"time"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/plan"
)

// auditor is the part of audit.Trail the protocol needs.
type auditor interface {
	Begin(ctx context.Context, rec audit.Record) (*audit.Pending, error)
	Record(ctx context.Context, rec audit.Record) error
}

// leaser is the part of lease.Leaser the protocol needs.
type leaser interface {
	Do(ctx context.Context, key string, ttl time.Duration, fn func(ctx context.Context) error) error
}

var (
	_ auditor = (*audit.Trail)(nil)
	_ leaser  = (*lease.Leaser)(nil)
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
	// Write performs the change.
	Write func(ctx context.Context, c Change) error
	// PrincipalWait bounds retries of writes AWS rejects because a principal
	// was just created (awsapi.PrincipalNotReady); 0 means no such retry.
	PrincipalWait time.Duration
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
}

// FromDocument wraps a document plan.
func FromDocument(c plan.Change) Change {
	return Change{Op: c.Op, Before: c.Before, After: c.After, Diff: c.Diff(), Reason: c.Reason, Detail: c}
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
	LeaseTTL time.Duration
}

// Result is one step's outcome with the change that produced it.
type Result struct {
	Outcome Outcome
	Change  Change
	Target  audit.Target
	Err     error
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
		rec := x.record(s, c, audit.DecisionPlanned)
		rec.DryRun = true
		if err := x.Trail.Record(ctx, rec); err != nil {
			return Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}, err
		}
		return Result{Outcome: Planned, Change: c, Target: s.Target}, nil
	}
	ttl := x.LeaseTTL
	if ttl == 0 {
		ttl = 60 * time.Second
	}
	var res Result
	err = x.Leases.Do(ctx, s.LeaseKey, ttl, func(ctx context.Context) error {
		// Re-read under the lease: another ecr-warden writer may have
		// changed the document since the first read.
		c, err := s.Plan(ctx)
		if err != nil {
			res, err = x.planError(ctx, s, err)
			return err
		}
		if !c.Writes() {
			res, err = x.settle(ctx, s, c)
			return err
		}
		pending, err := x.Trail.Begin(ctx, x.record(s, c, audit.DecisionPending))
		if err != nil {
			// Write-ahead: no record, no write.
			res = Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}
			return fmt.Errorf("storing audit intent for %s: %w", s.Target.ARN, err)
		}
		werr := x.write(ctx, s, c)
		if werr != nil {
			res = Result{Outcome: Failed, Change: c, Target: s.Target, Err: werr}
			if aerr := pending.Failed(ctx, werr); aerr != nil {
				return errors.Join(werr, aerr)
			}
			return werr
		}
		res = Result{Outcome: Changed, Change: c, Target: s.Target}
		return pending.Applied(ctx)
	})
	if err != nil && res.Outcome == "" {
		res = Result{Outcome: Failed, Target: s.Target, Err: err}
	}
	return res, err
}

func (x *Executor) write(ctx context.Context, s Step, c Change) error {
	if s.PrincipalWait <= 0 {
		return s.Write(ctx, c)
	}
	return awsapi.RetryFor(ctx, awsapi.PrincipalNotReady, s.PrincipalWait, func() error { return s.Write(ctx, c) })
}

// settle records a change that writes nothing: a no-op, or a rule conflict
// (reported as refused so an operator sees it).
func (x *Executor) settle(ctx context.Context, s Step, c Change) (Result, error) {
	if c.Op == plan.OpConflict {
		rec := x.record(s, c, audit.DecisionRefused)
		rec.Error = c.Reason
		if err := x.Trail.Record(ctx, rec); err != nil {
			return Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}, err
		}
		return Result{Outcome: Refused, Change: c, Target: s.Target, Err: errors.New(c.Reason)}, nil
	}
	rec := x.record(s, c, audit.DecisionNoop)
	rec.Before, rec.After, rec.Diff = "", "", ""
	rec.DryRun = x.DryRun
	if err := x.Trail.Record(ctx, rec); err != nil {
		return Result{Outcome: Failed, Change: c, Target: s.Target, Err: err}, err
	}
	return Result{Outcome: Unchanged, Change: c, Target: s.Target}, nil
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
