// Package reconcile is the level-triggered engine every function shares: a
// trigger only says where to look; the engine reads what AWS holds there
// (shared/inventory), computes what the declaration wants (shared/desired),
// plans the difference (shared/plan) and applies it under the write protocol
// (shared/apply: lease, re-read, write-ahead audit, write, outcome).
//
// Because the desired documents are always computed from the whole declaration
// and the current AWS state, duplicate, late or out-of-order events converge to
// the same result, and the backfill, the sweep and drift repair are the same
// code run over a wider or narrower target.
//
// The package has one room per document kind, each with the same shape
// (read what exists, compute what must exist, plan, apply): repository.go
// (private repository policies), registry.go (registry policies), ptcrules.go
// (pull-through-cache rules), role.go (the PTC role), public.go (ECR Public
// repository policies). converge.go is the one entry point for a parsed
// trigger target, account.go follows one account through the organization,
// unit.go converges a backfill unit (one account and region), resource.go
// names every document in the audit trail.
package reconcile

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// Engine converges targets. It is safe for concurrent use; a Lambda keeps one
// per execution environment.
type Engine struct {
	Decl    *config.Declaration
	Clients Clients
	Exec    *apply.Executor
	// Org reads the organization (nil when the function has no access; then
	// OU-based selection sees accounts without OU paths).
	Org OrgReader
	// Self identifies ecr-warden's own sessions (full role ARN, account,
	// session name): an event caused by one of them is ecr-warden's own
	// write coming back, and is recorded as ignored instead of converged
	// (drift sets it; the zero value recognises nothing).
	Self trigger.SelfWriters
	Log  *slog.Logger
	// RepositoryWait bounds the retry of RepositoryNotFoundException right
	// after a repository was created (default 20s).
	RepositoryWait time.Duration
	// PrincipalWait bounds the retry of policies AWS rejects because a
	// principal was just created (default 30s).
	PrincipalWait time.Duration
	// Concurrency bounds per-repository work in a registry (default 8).
	Concurrency int
	// Region is the region the function runs in. Account events reach every
	// hub region's function, so each converges only its region's documents
	// (and the first region's also the global IAM role). Empty: all regions.
	Region string
	// RevokeOnly converges revocations only: every document is written
	// only shrunk (what it holds of ecr-warden's kept as far as the
	// declaration still wants it, nothing added or widened), no PTC rule is
	// created or updated, no registry scope switched; what is left out is
	// recorded as refused. A backfill whose clean plan was required and
	// refused runs its units so (Work.RevokeOnly): revocations never wait
	// behind growth that an operator has to look at first.
	RevokeOnly bool
	// Queue hands units to the worker (shared/workqueue): an account move
	// sends the account's repositories there (moved.go). nil converges them
	// within the call instead (tests, tools, a local invoke without a queue).
	Queue UnitQueue
	// Views keeps the organization walked under one lease for the next hold
	// while no account event has changed it since (orgview.go); account
	// events mark every change through it. nil walks under every hold that
	// plans a document listing accounts (tests, tools).
	Views *OrgViews
	// UnitReserve lets a unit stop early and resume (Work.After): before
	// each next chunk of its registry, a unit whose context has less than
	// max(UnitReserve, twice its longest chunk so far) left before its
	// deadline stops after the chunk it finished and returns the rest as
	// Report.Continue, for the caller to send on. Zero, or a context
	// without a deadline (tests, tools, an event's own units), never stops
	// early. The worker sets it (DefaultUnitReserve).
	UnitReserve time.Duration
	// VerifyUnits makes Converge read a member unit's own account from the
	// organization instead of trusting the unit's entry for it (one
	// DescribeAccount per member unit; verify.go). The worker sets it: its
	// units come from outside the process (the work queue, or a direct
	// invoke by a principal allowed lambda:InvokeFunction), and the entry's
	// OU path decides the member's own documents.
	VerifyUnits bool
	// CountsOnly keeps a unit's Report to its counts and its first
	// keptErrors errors, then one saying how many more there were
	// (moreErrors): no ReportedChange per write. The worker sets it:
	// it logs and records counts only, and a hub unit of 50,000 repositories
	// held about 60 MB of diffs until its try ended (BenchmarkHubUnitAtScale),
	// four such units per batch beside the rest in 512 MB.
	CountsOnly bool
	// clock and chunk are tests' handles on the early stop: the time a
	// chunk starts and ends (default time.Now), and the repositories per
	// chunk (default unitChunk).
	clock func() time.Time
	chunk int
}

// DefaultUnitReserve is the worker's UnitReserve: time enough after the
// last chunk to write the summary, send the continuation and return, with
// room for a chunk slower than the ones before it.
const DefaultUnitReserve = 90 * time.Second

// UnitQueue hands units of work (one account in one region) to the worker,
// which converges each with Converge, retried and dead-lettered alone.
type UnitQueue interface {
	Send(ctx context.Context, units []Work) (int, error)
}

// OrgReader reads the organization: one account with its OU path (a few
// calls, bounded by OU depth), a walk of its tree, or the path under an OU
// or root (a moved account's former place).
type OrgReader interface {
	Account(ctx context.Context, id string) (inventory.Account, error)
	Walk(ctx context.Context, scope inventory.WalkScope) (inventory.WalkResult, error)
	ParentPath(ctx context.Context, parent string) (string, error)
}

var _ OrgReader = (*inventory.Org)(nil)

// Report sums up what a run did, for responses and the backfill summary.
type Report struct {
	Examined  int              `json:"examined"`
	Unchanged int              `json:"unchanged"`
	Changed   int              `json:"changed"`
	Planned   int              `json:"planned"`
	Refused   int              `json:"refused"`
	Failed    int              `json:"failed"`
	Changes   []ReportedChange `json:"changes,omitempty"`
	Errors    []string         `json:"errors,omitempty"`
	// Continue is the rest of a unit that stopped before its deadline
	// (Engine.UnitReserve): the same Work with After set to the last
	// repository it converged. The caller sends it to the worker. Add does
	// not merge it; Converge sets it.
	Continue *Work `json:"-"`
}

// ReportedChange is one change that writes (or would write, in a dry run).
type ReportedChange struct {
	Target  string `json:"target"`
	Kind    string `json:"kind"`
	Op      string `json:"op"`
	Diff    string `json:"diff"`
	Outcome string `json:"outcome"`
}

// Add merges another report into r.
func (r *Report) Add(o Report) {
	r.Examined += o.Examined
	r.Unchanged += o.Unchanged
	r.Changed += o.Changed
	r.Planned += o.Planned
	r.Refused += o.Refused
	r.Failed += o.Failed
	r.Changes = append(r.Changes, o.Changes...)
	r.Errors = append(r.Errors, o.Errors...)
}

func (r *Report) count(res apply.Result) {
	r.Examined++
	switch res.Outcome {
	case apply.Unchanged:
		r.Unchanged++
	case apply.Changed:
		r.Changed++
	case apply.Planned:
		r.Planned++
	case apply.Refused:
		r.Refused++
	case apply.Failed:
		r.Failed++
	}
	if res.Err != nil {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", res.Target.ARN, res.Err))
	}
	if w := res.Change.Withheld; w != "" && res.Outcome != apply.Refused && res.Outcome != apply.Failed {
		// Written (or planned) only shrunk: what it left out is a refusal.
		r.Refused++
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %s", res.Target.ARN, w))
	}
	if res.Change.Writes() {
		r.Changes = append(r.Changes, ReportedChange{Target: res.Target.ARN, Kind: res.Target.Kind, Op: string(res.Change.Op), Diff: res.Change.Diff, Outcome: string(res.Outcome)})
	}
}

func (e *Engine) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

func (e *Engine) repoWait() time.Duration {
	if e.RepositoryWait > 0 {
		return e.RepositoryWait
	}
	return 20 * time.Second
}

func (e *Engine) principalWait() time.Duration {
	if e.PrincipalWait > 0 {
		return e.PrincipalWait
	}
	return 30 * time.Second
}

// AuditTrigger converts trigger metadata into the audit trail's form.
func AuditTrigger(t trigger.Trigger) (audit.Trigger, audit.Actor) {
	typ := t.DetailType
	if t.EventName != "" {
		typ += "/" + t.EventName
	}
	return audit.Trigger{EventID: t.EventID, EventType: typ, Source: t.Source},
		audit.Actor{ARN: t.Actor.ARN, PrincipalID: t.Actor.PrincipalID, Type: t.Actor.Type, AccountID: t.Actor.AccountID, InvokedBy: t.Actor.InvokedBy}
}

// Cause is why the engine is converging: the trigger for the audit trail.
type Cause struct {
	Trigger audit.Trigger
	Actor   audit.Actor
}

// CauseOf builds the audit cause of a parsed target.
func CauseOf(t trigger.Target) Cause {
	tr, ac := AuditTrigger(t.Trigger)
	return Cause{Trigger: tr, Actor: ac}
}

// WithDryRun returns a copy of the engine whose writes are recorded as
// planned and never made.
func (e *Engine) WithDryRun(dry bool) *Engine {
	c := *e
	x := *e.Exec
	x.DryRun = dry
	c.Exec = &x
	return &c
}

// run applies one step and counts its result into rep. A policy AWS
// refuses for a principal is retried once without the principals IAM could
// not confirm (runPolicyStep).
func (e *Engine) run(ctx context.Context, rep *Report, s apply.Step) error {
	res, err := e.runPolicyStep(ctx, s)
	rep.count(res)
	e.validateWrittenRules(ctx, Cause{Trigger: s.Trigger, Actor: s.Actor}, []apply.Result{res}, rep)
	return err
}

// step is the skeleton every document kind fills in: the lease on the
// document, its audit target and the cause.
func step(leaseKey string, target audit.Target, cause Cause) apply.Step {
	return apply.Step{LeaseKey: leaseKey, Target: target, Trigger: cause.Trigger, Actor: cause.Actor}
}

// refused marks a planning error as a guardrail refusal: recorded, never
// retried.
func refused(c apply.Change, err error) (apply.Change, error) {
	if err != nil {
		return apply.Change{}, &apply.RefusedError{Err: err}
	}
	return c, nil
}
