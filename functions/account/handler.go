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

// converger is the part of the reconcile engine this function drives.
type converger interface {
	Reconcile(ctx context.Context, t trigger.Target) (reconcile.Outcome, error)
}

var _ converger = (*reconcile.Engine)(nil)

// handler turns one organization or Control Tower event into one converged
// account (its member setup and the hub's grants to it), or one recorded
// rejection. It holds only what lives for the whole execution environment, so
// tests can build it around a local AWS.
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

// handle is the Lambda handler. Rejections (malformed or foreign events, a
// failed CreateAccountResult, an undocumented shape it cannot read) are
// audited and return success: the same bytes would be rejected on every
// retry. Engine errors (throttling, 5xx, a principal still not accepted after
// the bounded wait, audit or lease unavailable) fail the invocation so Lambda
// retries and then dead-letters. Guardrail refusals (a policy over the size
// limit, a V1 registry the declaration may not switch) are recorded by the
// engine and reported in the response; retrying cannot fix them.
func (h *handler) handle(ctx context.Context, raw json.RawMessage) (response, error) {
	t, err := function.Accept(raw, h.decl.Hub.Regions, trigger.FnAccount, h.region)
	err = trigger.WithOrigins(t, err, h.decl.Hub.ManagementAccountID, h.decl.Hub.ControlTowerRegion())
	if rej, ok := trigger.AsRejection(err); ok {
		return function.Rejected(ctx, h.trail, h.log, h.decl.Hub.Partition, raw, rej, trigger.FnAccount)
	}
	if err != nil {
		return response{}, err
	}
	out, err := h.engine.Reconcile(ctx, t)
	if err != nil {
		return response{}, fmt.Errorf("converging %s: %w", t, err)
	}
	if out.Refused > 0 {
		h.log.WarnContext(ctx, "refused changes", "target", t.String(), "refused", out.Refused, "errors", out.Errors)
	}
	return response{Target: t.String(), Report: out.Report}, nil
}
