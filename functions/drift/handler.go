package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// converger is the part of the reconcile engine drift repair drives.
type converger interface {
	Reconcile(ctx context.Context, t trigger.Target) (reconcile.Outcome, error)
}

var _ converger = (*reconcile.Engine)(nil)

// handler re-converges the one resource a policy-change event names. Its
// engine ignores (and records) ecr-warden's own writes, roles other than the
// PTC role and accounts ecr-warden keeps nothing in.
type handler struct {
	decl   *config.Declaration
	engine converger
	trail  function.Recorder
	log    *slog.Logger
	// region is the region the function runs in: it converges only that
	// region's regional documents (function.Accept). Empty in unit tests.
	region string
}

// response is the shared event-function answer (function.Response), with
// the actor who made the edit and why an ignored event changed nothing.
type response = function.Response

// handle is the Lambda handler. Rejected and ignored events are recorded and
// answer success (a retry would decide the same); engine errors fail the
// invocation so Lambda retries and then dead-letters the event.
func (h *handler) handle(ctx context.Context, raw json.RawMessage) (response, error) {
	t, err := function.Accept(raw, h.decl.Hub.Regions, trigger.FnDrift, h.region)
	if rej, ok := trigger.AsRejection(err); ok {
		return function.Rejected(ctx, h.trail, h.log, h.decl.Hub.Partition, raw, rej, trigger.FnDrift)
	}
	if err != nil {
		return response{}, err
	}
	actor := t.Trigger.Actor.String()
	out, err := h.engine.Reconcile(ctx, t)
	if err != nil {
		return response{}, fmt.Errorf("repairing drift on %s (changed by %s): %w", out.Resource.ARN, actor, err)
	}
	if out.Ignored == "" {
		h.log.InfoContext(ctx, "drift: re-converged", "target", out.Resource.ARN, "kind", string(t.Kind), "changedBy", actor, "event", t.Trigger.EventName)
	}
	return response{Target: out.Resource.ARN, Ignored: out.Ignored, Actor: actor, Report: out.Report}, nil
}
