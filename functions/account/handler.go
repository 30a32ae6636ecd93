package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// converger is the part of the reconcile engine this function drives.
type converger interface {
	Account(ctx context.Context, t trigger.Target) (reconcile.Report, error)
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
}

// response is the shared event-function answer (function.Response).
type response = function.Response

// accountKinds are the targets this function converges.
var accountKinds = map[trigger.Kind]bool{
	trigger.KindAccount:         true,
	trigger.KindAccountMoved:    true,
	trigger.KindAccountDeparted: true,
}

// handle is the Lambda handler. Rejections (malformed or foreign events, a
// failed CreateAccountResult, an undocumented shape it cannot read) are
// audited and return success: the same bytes would be rejected on every
// retry. Engine errors (throttling, 5xx, a principal still not accepted after
// the bounded wait, audit or lease unavailable) fail the invocation so Lambda
// retries and then dead-letters. Guardrail refusals (a policy over the size
// limit, a V1 registry the declaration may not switch) are recorded by the
// engine and reported in the response; retrying cannot fix them.
func (h *handler) handle(ctx context.Context, raw json.RawMessage) (response, error) {
	t, err := trigger.Parse(raw)
	if err == nil && !accountKinds[t.Kind] {
		err = &trigger.Rejection{Reason: trigger.ReasonUnknownEvent, Trigger: t.Trigger,
			Detail: fmt.Sprintf("a %s target belongs to another ecr-warden function; the account function converges account, account-moved and account-departed targets", t.Kind)}
	}
	if rej, ok := trigger.AsRejection(err); ok {
		return h.reject(ctx, raw, t, rej)
	}
	if err != nil {
		return response{}, err
	}
	rep, err := h.engine.Account(ctx, t)
	if err != nil {
		return response{}, fmt.Errorf("converging %s: %w", t, err)
	}
	if rep.Refused > 0 {
		h.log.WarnContext(ctx, "refused changes", "target", t.String(), "refused", rep.Refused, "errors", rep.Errors)
	}
	return response{Target: t.String(), Report: rep}, nil
}

// reject records the rejection (function.Reject) and answers success.
func (h *handler) reject(ctx context.Context, raw []byte, t trigger.Target, rej *trigger.Rejection) (response, error) {
	target := rejectedTarget(h.decl.Hub.Partition, raw, t, rej)
	if err := function.Reject(ctx, h.trail, h.log, target, rej); err != nil {
		return response{}, err
	}
	return response{Target: target.ARN, Rejected: string(rej.Reason), Detail: rej.Detail}, nil
}

// rejectedTarget names what a rejected event was about, as precisely as it
// can be read, so the audit table's per-resource history shows it: the
// account's root ARN (the key the engine's hub-grant records use) when the
// event names an account, else a synthetic "event/<id>" key (the EventBridge
// id, or a hash of the bytes when not even that could be read). A failed
// CreateAccountResult names no account: there is none.
func rejectedTarget(partition string, raw []byte, t trigger.Target, rej *trigger.Rejection) audit.Target {
	account := t.AccountID
	if account == "" {
		var ev struct {
			Detail struct {
				RequestParameters struct {
					AccountID string `json:"accountId"`
				} `json:"requestParameters"`
				ServiceEventDetails struct {
					AccountID string `json:"accountId"`
				} `json:"serviceEventDetails"`
			} `json:"detail"`
		}
		// Best effort: any field of the wrong type just leaves it unread.
		_ = json.Unmarshal(raw, &ev)
		account = cmp.Or(ev.Detail.RequestParameters.AccountID, ev.Detail.ServiceEventDetails.AccountID)
	}
	if policy.ValidAccountID(account) {
		return audit.Target{ARN: policy.AccountRootARN(partition, account), AccountID: account, Kind: "Account", Name: account}
	}
	return function.EventTarget(raw, rej)
}
