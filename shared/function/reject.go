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

// Response is what the event functions (repository, account) return: the
// engine's report, plus the target they converged or why the event was
// rejected, so `make invoke` and tests read the decision without parsing logs.
type Response struct {
	// Target is the converged resource (an ARN or the account), or
	// event/<id> for an event whose target could not be read.
	Target   string `json:"target,omitempty"`
	Rejected string `json:"rejected,omitempty"`
	Detail   string `json:"detail,omitempty"`
	reconcile.Report
}
