package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/metrics"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// staleLister finds writes whose outcome was never recorded.
type staleLister interface {
	Stale(ctx context.Context, cutoff time.Time) ([]audit.Record, error)
}

// staleSettler settles stale write records from what AWS holds now.
type staleSettler interface {
	SettleStale(ctx context.Context, recs []audit.Record) (left []audit.Record, err error)
}

var _ staleSettler = (*reconcile.Engine)(nil)

// staleAfter is older than any invocation: a pending record this old belongs
// to a process that died mid-write. It is the age past which a document's
// next writer settles such a record too (apply.DefaultStaleAfter).
const staleAfter = apply.DefaultStaleAfter

// settleStale is the sweep's look at the trail's stale write records
// (pending, or unknown): one query of the sparse by-pending index per run.
// A real sweep settles each from what AWS holds of its document now (one
// read each; a dry run only counts them), so a write whose process died
// after it landed is recorded applied even when no later event writes that
// document. One StalePending metric line counts the records left unsettled
// (the hub's alarm watches it), with one warning each naming its target. A
// failure is logged, never fatal: the sweep's own work matters more.
func (h *handler) settleStale(ctx context.Context, runID string, dryRun bool) {
	if h.stale == nil {
		return
	}
	recs, err := h.stale.Stale(ctx, h.now().Add(-staleAfter))
	if err != nil {
		h.log.WarnContext(ctx, "listing stale pending audit records failed", "runId", runID, "error", err.Error())
		return
	}
	left := recs
	if h.settler != nil && !dryRun && len(recs) > 0 {
		if left, err = h.settler.SettleStale(ctx, recs); err != nil {
			h.log.WarnContext(ctx, "settling stale audit records failed for some", "runId", runID, "error", err.Error())
		}
		h.log.InfoContext(ctx, "stale audit records settled from what AWS holds", "runId", runID,
			"settled", len(recs)-len(left), "left", len(left))
	}
	for _, r := range left {
		h.log.WarnContext(ctx, "stale pending audit record: a write may or may not have happened; this sweep converges its target",
			"runId", runID, "target", r.Target.ARN, "recordId", r.ID, "since", r.Time)
	}
	metrics.Line(h.log, "stale pending records", metrics.MetricStalePending, "Count", float64(len(left)))
}

// converger is the part of the reconcile engine a dry run drives inline.
type converger interface {
	Converge(ctx context.Context, cause reconcile.Cause, w reconcile.Work) (reconcile.Report, error)
}

// walker reads the organization's accounts.
type walker interface {
	Walk(ctx context.Context, scope inventory.WalkScope) (inventory.WalkResult, error)
}

var (
	_ converger = (*reconcile.Engine)(nil)
	_ walker    = (*inventory.Org)(nil)
)

const (
	// defaultConcurrency bounds the units a dry run plans at once: each unit
	// already reads its registry with the engine's own bounded concurrency.
	defaultConcurrency = 4
	// maxResponseBytes keeps a dry run's answer under Lambda's 6 MB
	// synchronous response limit; beyond it the plan is cut (the full plan
	// is in the audit trail as "planned" records of the run).
	maxResponseBytes = 5 * 1024 * 1024
)

// handler plans or fans out one backfill. It holds only what lives for the
// execution environment, so tests can build it around a local AWS.
type handler struct {
	decl        *config.Declaration
	engine      converger
	org         walker
	queue       reconcile.UnitQueue // nil when WARDEN_WORK_QUEUE_URL is unset
	log         *slog.Logger
	now         func() time.Time
	concurrency int
	// trail records rejected payloads; nil only logs them.
	trail function.Recorder
	// stale lists stale pending audit records (the sweep settles and counts
	// them); nil skips both.
	stale staleLister
	// settler settles them from what AWS holds; nil only counts them.
	settler staleSettler
	// members remembers, per region, the members a full run configured,
	// so the next one retires those the declaration no longer configures
	// (retire.go); nil retires nothing.
	members rememberer
}

// response is what an invocation returns. A bad payload gets only Error,
// naming the field; a dry run gets the summary and the full plan; a real
// run gets the run id and the number of units queued.
type response struct {
	Error    string    `json:"error,omitempty"`
	RunID    string    `json:"runId,omitempty"`
	Request  string    `json:"request,omitempty"`
	DryRun   bool      `json:"dryRun,omitempty"`
	Sweep    bool      `json:"sweep,omitempty"`
	Regions  []string  `json:"regions,omitempty"`
	Accounts int       `json:"accounts"`
	Units    int       `json:"units"`
	Queued   int       `json:"queued,omitempty"`
	Skipped  []skipped `json:"skipped,omitempty"`
	Missing  []string  `json:"missing,omitempty"`
	// Retired are the members the declaration no longer configures whose
	// owned statements the run removes (each has a retire unit per region).
	Retired []string `json:"retired,omitempty"`
	// RetireError says why a dry run could not plan the retirements of
	// some regions (a real run fails with it once its units are sent).
	RetireError string `json:"retireError,omitempty"`
	// Summary counts the documents a dry run examined, by outcome.
	Summary *reconcile.Report `json:"summary,omitempty"`
	// Plan is every change a dry run would make: per document, its
	// statements added, changed and removed as a readable diff.
	Plan          []planned     `json:"plan,omitempty"`
	PlanTruncated string        `json:"planTruncated,omitempty"`
	Failures      []unitFailure `json:"failures,omitempty"`
}

// planned is one document change of a dry run.
type planned struct {
	Target string `json:"target"`
	Kind   string `json:"kind"`
	Op     string `json:"op"`
	Diff   string `json:"diff"`
}

// unitFailure is one account and region whose unit failed (in a dry run;
// a real run's failures surface in the worker and its dead-letter queue).
type unitFailure struct {
	Account string `json:"account"`
	Region  string `json:"region"`
	Error   string `json:"error"`
}

// handle is the Lambda handler. Bad input is answered with an error naming
// the field and makes no AWS call: the same bytes would fail every time.
// Failures to read the organization or to queue fail the invocation, and a
// retry is safe because every unit is level-triggered.
func (h *handler) handle(ctx context.Context, raw json.RawMessage) (response, error) {
	req, rej := h.request(raw)
	if rej != nil {
		h.log.WarnContext(ctx, "backfill payload rejected", "error", rej.Detail)
		// Recorded like every function's rejections: an asynchronous invoke
		// with a bad payload leaves its trace in the audit trail.
		if h.trail != nil {
			if err := function.Reject(ctx, h.trail, h.log, function.EventTarget(raw, rej), rej); err != nil {
				return response{Error: rej.Detail}, err
			}
		}
		return response{Error: rej.Detail}, nil
	}
	resp, sel, err := h.decide(ctx, req)
	if err != nil || resp.Error != "" {
		return resp, err
	}
	return h.dispatch(ctx, req, sel, resp)
}

// request parses a backfill request or the sweep schedule's event; rej says
// why a payload was rejected. The payload's regions are judged against the
// declaration in the same pass as its other fields, so one answer names
// every problem.
func (h *handler) request(raw json.RawMessage) (req trigger.BackfillRequest, rej *trigger.Rejection) {
	t, err := trigger.ParseIn(raw, h.decl.Hub.Regions)
	if err == nil && t.Kind != trigger.KindBackfill {
		return req, &trigger.Rejection{Reason: trigger.ReasonUnknownEvent, Trigger: t.Trigger,
			Detail: fmt.Sprintf("payload: a %s event is not a backfill request ({\"action\":\"backfill\",...}) or the sweep schedule's Scheduled Event", t.Kind)}
	}
	if err != nil {
		if r, ok := trigger.AsRejection(err); ok {
			return req, r
		}
		return req, &trigger.Rejection{Reason: trigger.ReasonInvalidField, Trigger: t.Trigger, Detail: err.Error()}
	}
	return *t.Backfill, nil
}

// decide names the run, walks the part of the organization the targets
// need, and selects the units (one per account and region).
func (h *handler) decide(ctx context.Context, req trigger.BackfillRequest) (response, selection, error) {
	kind := "backfill"
	if req.Sweep {
		kind = "sweep"
	}
	runID := kind + "-" + audit.NewID(h.now())
	resp := response{RunID: runID, Request: req.String(), DryRun: req.DryRun, Sweep: req.Sweep}
	if req.Sweep {
		h.settleStale(ctx, runID, req.DryRun)
	}
	var walk inventory.WalkResult
	walkedAt := h.now()
	if scope := walkScope(h.decl, req.Targets); scope.All || len(scope.AccountIDs) > 0 {
		var err error
		if walk, err = h.org.Walk(ctx, scope); err != nil {
			return response{}, selection{}, fmt.Errorf("backfill %s: walking the organization: %w", runID, err)
		}
	}
	sel, err := selectUnits(h.decl, req, runID, walk)
	if err != nil {
		return response{Error: err.Error()}, selection{}, nil
	}
	if sel.RetireErr = h.retirements(ctx, req, runID, walk, &sel); sel.RetireErr != nil {
		h.log.ErrorContext(ctx, "backfill retires nothing where it cannot read the remembered members", "runId", runID, "error", sel.RetireErr.Error())
		resp.RetireError = sel.RetireErr.Error()
	}
	for i := range sel.Units {
		sel.Units[i].WalkedAt = walkedAt // a unit run much later reads the organization again
	}
	resp.Regions, resp.Accounts, resp.Units = sel.Regions, len(sel.Accounts), len(sel.Units)
	resp.Skipped, resp.Missing, resp.Retired = sel.Skipped, sel.Missing, sel.Retired
	h.log.InfoContext(ctx, "backfill units decided", "runId", runID, "request", resp.Request,
		"accounts", resp.Accounts, "units", resp.Units, "skipped", len(sel.Skipped), "missing", sel.Missing, "retired", sel.Retired)
	return resp, sel, nil
}

// dispatch runs a dry run inline, or checks the plan when asked to and
// sends the units to the work queue.
func (h *handler) dispatch(ctx context.Context, req trigger.BackfillRequest, sel selection, resp response) (response, error) {
	if req.DryRun {
		h.runInline(ctx, sel.Units, &resp)
		return fitResponse(resp), nil
	}
	if req.RequireCleanPlan {
		if err := h.checkPlan(ctx, sel.Units, &resp); err != nil {
			// Revocations never wait behind growth an operator has to look
			// at first: the units go out converging revocations only.
			revoke := make([]reconcile.Work, len(sel.Units))
			for i, w := range sel.Units {
				w.RevokeOnly = true
				revoke[i] = w
			}
			n, serr := h.send(ctx, revoke)
			if serr != nil {
				return response{}, fmt.Errorf("backfill %s: %w; queueing the revocations: queued %d of %d units: %w", resp.RunID, err, n, len(revoke), serr)
			}
			h.log.InfoContext(ctx, "backfill queued revocations only", "runId", resp.RunID, "units", n)
			// Retire units only revoke: they went out, so the set is replaced.
			return response{}, errors.Join(fmt.Errorf("backfill %s: %w; revocations only were queued (%d unit(s): what the declaration no longer grants is removed, nothing is added or widened)", resp.RunID, err, n),
				h.remember(ctx, sel), sel.RetireErr)
		}
	}
	n, err := h.send(ctx, sel.Units)
	resp.Queued = n
	if err != nil {
		return response{}, fmt.Errorf("backfill %s: queued %d of %d units: %w", resp.RunID, n, len(sel.Units), err)
	}
	h.log.InfoContext(ctx, "backfill queued", "runId", resp.RunID, "units", n)
	if err := errors.Join(h.remember(ctx, sel), sel.RetireErr); err != nil {
		return response{}, fmt.Errorf("backfill %s: %w", resp.RunID, err)
	}
	return resp, nil
}

// checkPlan plans units (the same dry run a "dryRun":true request makes, so its "planned" records
// are in the audit trail under the run id) and refuses the run when the plan refuses any document.
// The error fails the invocation: the deploy-time backfill is invoked asynchronously, so the
// function's error alarm and the failed-events queue are where a refused deploy shows.
func (h *handler) checkPlan(ctx context.Context, units []reconcile.Work, resp *response) error {
	dry := make([]reconcile.Work, len(units))
	for i, w := range units {
		w.DryRun = true
		dry[i] = w
	}
	var plan response
	h.runInline(ctx, dry, &plan)
	resp.Summary = plan.Summary
	if plan.Summary == nil || plan.Summary.Refused == 0 {
		h.log.InfoContext(ctx, "backfill plan refuses nothing; applying", "runId", resp.RunID,
			"planned", plannedIn(plan.Summary))
		return nil
	}
	h.log.ErrorContext(ctx, "backfill plan refuses documents; nothing applied", "runId", resp.RunID,
		"refused", plan.Summary.Refused, "errors", plan.Summary.Errors)
	return fmt.Errorf("the plan refuses %d document(s), so nothing that adds access was applied (requireCleanPlan; deploy with -c allowRefusals=true, "+
		"or invoke without requireCleanPlan, to apply the rest): %s", plan.Summary.Refused, firstErrors(plan.Summary.Errors, resp.RunID))
}

// shownErrors is how many of a plan's errors a refused run's error names:
// the error is the invocation's answer and its log line, and a plan of
// 50,000 refused repositories would make it megabytes long.
const shownErrors = 20

// firstErrors joins the first shownErrors errors and says how many more
// there are and where they are.
func firstErrors(errs []string, runID string) string {
	if len(errs) <= shownErrors {
		return strings.Join(errs, "; ")
	}
	return strings.Join(errs[:shownErrors], "; ") + fmt.Sprintf("; and %d more (%s)", len(errs)-shownErrors, audit.RunCommand(runID, audit.DecisionRefused, audit.DecisionFailed))
}

// plannedIn is the number of documents a plan would write (0 for no summary).
func plannedIn(s *reconcile.Report) int {
	if s == nil {
		return 0
	}
	return s.Planned
}

// runInline converges (plans, in a dry run) every unit in this invocation
// with bounded concurrency and adds the summary, plan and failures to resp.
func (h *handler) runInline(ctx context.Context, units []reconcile.Work, resp *response) {
	limit := h.concurrency
	if limit <= 0 {
		limit = defaultConcurrency
	}
	reports := make([]reconcile.Report, len(units))
	errs := make([]error, len(units))
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, w := range units {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			reports[i], errs[i] = h.engine.Converge(ctx, w.Cause(), w)
		}()
	}
	wg.Wait()
	var total reconcile.Report
	for i, w := range units {
		total.Add(reports[i])
		if errs[i] != nil {
			resp.Failures = append(resp.Failures, unitFailure{Account: w.Account, Region: w.Region, Error: errs[i].Error()})
			h.log.ErrorContext(ctx, "unit failed", "runId", w.RunID, "account", w.Account, "region", w.Region, "error", errs[i].Error())
		}
	}
	counts := total
	counts.Changes = nil // listed as the plan
	resp.Summary = &counts
	for _, c := range total.Changes {
		resp.Plan = append(resp.Plan, planned{Target: c.Target, Kind: c.Kind, Op: c.Op, Diff: c.Diff})
	}
	sort.Slice(resp.Plan, func(i, j int) bool {
		if resp.Plan[i].Target != resp.Plan[j].Target {
			return resp.Plan[i].Target < resp.Plan[j].Target
		}
		return resp.Plan[i].Kind < resp.Plan[j].Kind
	})
}

// fitResponse cuts the plan until the response fits Lambda's synchronous
// payload limit, and says so: the audit trail holds every planned change.
// The summary's errors (one per refused or failed document) are cut first
// to half the limit: a grant that no repository policy can hold refuses
// every repository it matches, 50,000 errors of about 400 characters each
// (20 MB), and a response over the limit is no answer at all
// (TestDryRunAnswerFitsLambdasLimit).
func fitResponse(resp response) response {
	if s := resp.Summary; s != nil && len(s.Errors) > 0 {
		total, errs := len(s.Errors), s.Errors
		for len(errs) > 0 && jsonSize(errs) > maxResponseBytes/2 {
			errs = errs[:len(errs)/2]
		}
		if len(errs) < total {
			counts := *s
			counts.Errors = append(errs[:len(errs):len(errs)], fmt.Sprintf("… and %d more refusals and failures (Lambda's response limit); every one is in the audit trail of run %s (%s)", total-len(errs), resp.RunID, audit.RunCommand(resp.RunID, audit.DecisionRefused, audit.DecisionFailed)))
			resp.Summary = &counts
		}
	}
	total := len(resp.Plan)
	for {
		b, err := json.Marshal(resp)
		if err != nil || len(b) <= maxResponseBytes || len(resp.Plan) == 0 {
			return resp
		}
		resp.Plan = resp.Plan[:len(resp.Plan)/2]
		resp.PlanTruncated = fmt.Sprintf("%d changes planned; the first %d are shown (Lambda's response limit); every one is in the audit trail as a planned record of run %s (%s)", total, len(resp.Plan), resp.RunID, audit.RunCommand(resp.RunID, audit.DecisionPlanned))
	}
}

// jsonSize is the length of v's JSON encoding (0 when it has none).
func jsonSize(v any) int {
	b, _ := json.Marshal(v)
	return len(b)
}

// send queues one message per unit on the work queue (shared/workqueue).
func (h *handler) send(ctx context.Context, units []reconcile.Work) (int, error) {
	if h.queue == nil {
		return 0, errors.New("WARDEN_WORK_QUEUE_URL is not set: a real run fans out through the work queue (set it, or run with \"dryRun\": true; on a local AWS, make backfill LOCAL=1 PAYLOAD=<file> runs the worker too)")
	}
	return h.queue.Send(ctx, units)
}
