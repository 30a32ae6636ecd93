package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// converger is the part of the reconcile engine this function drives.
type converger interface {
	Reconcile(ctx context.Context, t trigger.Target) (reconcile.Outcome, error)
}

var _ converger = (*reconcile.Engine)(nil)

// handler turns one delivered event into one converged repository policy (or
// one recorded rejection). It holds only what lives for the whole execution
// environment, so tests can build it around a local AWS.
type handler struct {
	decl   *config.Declaration
	engine converger
	trail  function.Recorder
	log    *slog.Logger
	// region is the region the function runs in: it converges only that
	// region's regional documents (function.Accept). Empty in unit tests.
	region string
}

// response is the shared event-function answer (function.Response).
type response = function.Response

// Invoke makes handler a lambda.Handler, so the runtime hands it the raw
// payload: bytes that are not even JSON must reach trigger.Parse and become
// an audited rejection, not a decoding error raised before any of our code
// runs (which Lambda would retry as a function failure).
func (h *handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	resp, err := h.handle(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// handle decides what one event means. Rejections (malformed, foreign,
// failed-call, out-of-scope events) are recorded and return success: the same
// bytes would be rejected on every retry. So are engine errors of the
// Permanent class (access denied, invalid input). Every other engine error
// (throttling, 5xx, audit or lease unavailable) fails the invocation so
// Lambda retries and then dead-letters.
func (h *handler) handle(ctx context.Context, raw []byte) (response, error) {
	t, err := function.Accept(raw, h.decl.Hub.Regions, trigger.FnRepository, h.region)
	if rej, ok := trigger.AsRejection(err); ok {
		return function.Rejected(ctx, h.trail, h.log, h.decl.Hub.Partition, raw, rej, trigger.FnRepository)
	}
	if err != nil {
		return response{}, err
	}
	out, err := h.engine.Reconcile(ctx, t)
	if err != nil && awsapi.Classify(err) == awsapi.Permanent {
		return h.drop(ctx, t, out, err)
	}
	if err != nil {
		return response{}, fmt.Errorf("converging %s: %w", t, err)
	}
	return response{Target: out.Resource.ARN, Ignored: out.Ignored, Report: out.Report}, nil
}

// drop settles an engine error that retrying cannot fix (access denied, for
// instance a member without the execution role, or input AWS calls invalid):
// it is recorded and the invocation succeeds, so Lambda does not redeliver
// the same failure twice more. A failed write already has its audit record
// (pending -> failed); a failed read gets a "refused" one here.
func (h *handler) drop(ctx context.Context, t trigger.Target, out reconcile.Outcome, cause error) (response, error) {
	rep := out.Report
	if len(rep.Changes) == 0 {
		tr, actor := reconcile.AuditTrigger(t.Trigger)
		rec := audit.Record{Decision: audit.DecisionRefused, Trigger: tr, Actor: actor, Target: out.Resource,
			Error: fmt.Sprintf("not retried (%s): %v", awsapi.Permanent, cause)}
		if err := h.trail.Record(ctx, rec); err != nil {
			return response{}, errors.Join(fmt.Errorf("converging %s: %w", t, cause), err)
		}
	}
	if rep.Failed == 0 {
		rep.Examined, rep.Failed = rep.Examined+1, 1
	}
	return response{Target: out.Resource.ARN, Detail: cause.Error(), Report: rep}, nil
}
