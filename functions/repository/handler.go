package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// converger is the part of the reconcile engine this function drives.
type converger interface {
	Repository(ctx context.Context, cause reconcile.Cause, account, region, name string) (reconcile.Report, error)
	PublicRepository(ctx context.Context, cause reconcile.Cause, account, name string, known *string) (reconcile.Report, error)
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
	t, err := trigger.Parse(raw)
	if err == nil {
		err = t.CheckRegion(h.decl.Hub.Regions)
	}
	if err == nil && t.Kind != trigger.KindRepository && t.Kind != trigger.KindPublicRepository {
		err = &trigger.Rejection{Reason: trigger.ReasonUnknownEvent, Trigger: t.Trigger,
			Detail: fmt.Sprintf("a %s target belongs to another ecr-warden function; the repository function converges repository and public-repository targets", t.Kind)}
	}
	if rej, ok := trigger.AsRejection(err); ok {
		return h.reject(ctx, raw, t, rej)
	}
	if err != nil {
		return response{}, err
	}
	cause := reconcile.CauseOf(t)
	var rep reconcile.Report
	var arn string
	if t.Kind == trigger.KindPublicRepository {
		arn = policy.PublicRepositoryARN(t.AccountID, t.Repository)
		rep, err = h.engine.PublicRepository(ctx, cause, t.AccountID, t.Repository, nil)
	} else {
		arn = policy.RepositoryARN(h.decl.Hub.Partition, t.Region, t.AccountID, t.Repository)
		rep, err = h.engine.Repository(ctx, cause, t.AccountID, t.Region, t.Repository)
	}
	if err != nil {
		if awsapi.Classify(err) == awsapi.Permanent {
			return h.drop(ctx, t, arn, rep, err)
		}
		return response{}, fmt.Errorf("converging %s: %w", t, err)
	}
	return response{Target: arn, Report: rep}, nil
}

// drop settles an engine error that retrying cannot fix (access denied, for
// instance a member without the execution role, or input AWS calls invalid):
// it is recorded and the invocation succeeds, so Lambda does not redeliver
// the same failure twice more. A failed write already has its audit record
// (pending -> failed); a failed read gets a "refused" one here.
func (h *handler) drop(ctx context.Context, t trigger.Target, arn string, rep reconcile.Report, cause error) (response, error) {
	if len(rep.Changes) == 0 {
		tr, actor := reconcile.AuditTrigger(t.Trigger)
		target := audit.Target{ARN: arn, AccountID: t.AccountID, Region: t.Region, Kind: "ECRRepositoryPolicy", Name: t.Repository}
		if t.Kind == trigger.KindPublicRepository {
			target.Kind = "ECRPublicRepositoryPolicy"
		}
		rec := audit.Record{Decision: audit.DecisionRefused, Trigger: tr, Actor: actor, Target: target,
			Error: fmt.Sprintf("not retried (%s): %v", awsapi.Permanent, cause)}
		if err := h.trail.Record(ctx, rec); err != nil {
			return response{}, errors.Join(fmt.Errorf("converging %s: %w", t, cause), err)
		}
	}
	if rep.Failed == 0 {
		rep.Examined, rep.Failed = rep.Examined+1, 1
	}
	return response{Target: arn, Detail: cause.Error(), Report: rep}, nil
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
// repository ARN when the event names one (a failed CreateRepository, an
// unconfigured region), else a synthetic "event/<id>" key (the EventBridge id,
// or a hash of the bytes when not even that could be read).
func rejectedTarget(partition string, raw []byte, t trigger.Target, rej *trigger.Rejection) audit.Target {
	account, region, name := t.AccountID, t.Region, t.Repository
	if name == "" {
		var ev struct {
			Account string `json:"account"`
			Region  string `json:"region"`
			Detail  struct {
				AWSRegion         string `json:"awsRegion"`
				RecipientAccount  string `json:"recipientAccountId"`
				RequestParameters struct {
					RepositoryName string `json:"repositoryName"`
					RegistryID     string `json:"registryId"`
				} `json:"requestParameters"`
			} `json:"detail"`
		}
		// Best effort: any field of the wrong type just leaves it unread.
		_ = json.Unmarshal(raw, &ev)
		d := ev.Detail
		account = cmp.Or(d.RequestParameters.RegistryID, d.RecipientAccount, ev.Account)
		region = cmp.Or(d.AWSRegion, ev.Region)
		name = d.RequestParameters.RepositoryName
	}
	if policy.ValidRepositoryName(name) && policy.ValidAccountID(account) {
		if rej.Trigger.Source == trigger.SourceECRPublic || t.Kind == trigger.KindPublicRepository {
			return audit.Target{ARN: policy.PublicRepositoryARN(account, name), AccountID: account, Region: region, Kind: "ECRPublicRepositoryPolicy", Name: name}
		}
		if policy.ValidRegion(region) {
			return audit.Target{ARN: policy.RepositoryARN(partition, region, account, name), AccountID: account, Region: region, Kind: "ECRRepositoryPolicy", Name: name}
		}
	}
	return function.EventTarget(raw, rej)
}
