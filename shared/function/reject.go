package function

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// Recorder is the part of the audit trail a handler's own records need
// (rejections here; drift's "ignored" records too).
type Recorder interface {
	Record(ctx context.Context, rec audit.Record) error
}

var _ Recorder = (*audit.Trail)(nil)

// Reject settles an event that retrying cannot help (malformed, foreign,
// out of scope): it stores a short "rejected" record on target, whose log
// line is the decision's one line, and logs the raw input when its shape was
// not understood, for whoever reads the log. It returns an error only when
// the record cannot be stored, so the invocation fails and no decision goes
// unaudited; otherwise the handler answers success.
func Reject(ctx context.Context, trail Recorder, log *slog.Logger, target audit.Target, rej *trigger.Rejection) error {
	tr, actor := reconcile.AuditTrigger(rej.Trigger)
	if tr.EventType == "" {
		tr.EventType = "unreadable"
	}
	if rej.Raw != "" {
		log.WarnContext(ctx, "rejected input", "reason", string(rej.Reason), "raw", rej.Raw)
	}
	rec := audit.Record{Decision: audit.DecisionRejected, Trigger: tr, Actor: actor, Target: target,
		Error: fmt.Sprintf("%s: %s", rej.Reason, rej.Detail)}
	if err := trail.Record(ctx, rec); err != nil {
		return fmt.Errorf("recording the rejection of event %q (%s): %w", tr.EventID, rej.Reason, err)
	}
	return nil
}

// EventTarget is the audit target of a rejected event that names no
// resource a handler can read: a synthetic "event/<id>" key (the EventBridge
// id, or a hash of the bytes when not even that could be read), so the
// audit table's per-resource history still finds it.
func EventTarget(raw []byte, rej *trigger.Rejection) audit.Target {
	id := rej.Trigger.EventID
	if id == "" {
		sum := sha256.Sum256(raw)
		id = "sha256-" + hex.EncodeToString(sum[:8])
	}
	return audit.Target{ARN: "event/" + id, AccountID: rej.Trigger.EventAccount, Region: rej.Trigger.EventRegion, Kind: "Event"}
}

// Response is what the event functions (repository, account, drift)
// return: the engine's report, plus the target they converged or why the
// event was rejected or ignored, so `make invoke` and tests read the decision
// without parsing logs.
type Response struct {
	// Target is the converged resource (an ARN or the account), or
	// event/<id> for an event whose target could not be read.
	Target   string `json:"target,omitempty"`
	Rejected string `json:"rejected,omitempty"`
	// Ignored says why nothing was converged (ecr-warden's own write, a role
	// or account ecr-warden does not manage).
	Ignored string `json:"ignored,omitempty"`
	Detail  string `json:"detail,omitempty"`
	// Actor is who made the change an event reports (drift).
	Actor string `json:"actor,omitempty"`
	reconcile.Report
}

// Rejected settles a rejected event (Reject) and answers it. The record is
// filed under what the event names, as far as the parser read it
// (rej.Target), when the route table sends such events to this function
// (fn); otherwise under event/<id>.
func Rejected(ctx context.Context, trail Recorder, log *slog.Logger, partition string, raw []byte, rej *trigger.Rejection, fn string) (Response, error) {
	target, ok := reconcile.Resource(partition, rej.Target)
	if route, _, routed := trigger.RouteOf(rej.Trigger); !ok || !routed || route.Function != fn {
		target = EventTarget(raw, rej)
	}
	if err := Reject(ctx, trail, log, target, rej); err != nil {
		return Response{}, err
	}
	return Response{Target: target.ARN, Rejected: string(rej.Reason), Detail: rej.Detail}, nil
}

// Accept parses one event for function fn running in region own: every
// error is a *trigger.Rejection (malformed or foreign input, a region the
// declaration does not cover or another hub region serves, an event the
// route table sends to another function).
func Accept(raw []byte, regions []string, fn, own string) (trigger.Target, error) {
	t, err := trigger.ParseIn(raw, regions)
	if err == nil {
		err = t.CheckServedRegion(own)
	}
	if err != nil {
		return t, err
	}
	if what, handler := trigger.HandledBy(t); handler != fn {
		detail := fmt.Sprintf("%s is handled by the %s function, not %s", what, handler, fn)
		if handler == "" {
			detail = fmt.Sprintf("%s is handled by no function (no route of trigger.Routes carries it), not %s", what, fn)
		}
		return t, &trigger.Rejection{Reason: trigger.ReasonUnknownEvent, Trigger: t.Trigger, Target: t, Detail: detail}
	}
	return t, nil
}
