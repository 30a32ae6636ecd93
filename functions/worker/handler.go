package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// converger is the part of the reconcile engine the worker drives.
type converger interface {
	Converge(ctx context.Context, cause reconcile.Cause, w reconcile.Work) (reconcile.Report, error)
}

var _ converger = (*reconcile.Engine)(nil)

// concurrency bounds the units of one SQS batch converged at once; each
// unit reads its registry with the engine's own bounded concurrency.
const concurrency = 4

// handler converges the units of one SQS batch.
type handler struct {
	decl   *config.Declaration
	engine converger
	trail  function.Recorder
	log    *slog.Logger
}

// handle is the Lambda handler. A unit that fails (a member role that
// cannot be assumed, throttling beyond the retry budget, an AWS write that
// failed) is returned as a batch item failure: SQS makes only that message
// visible again and moves it to the dead-letter queue after the queue's
// maxReceiveCount, while the batch's other units are deleted as done. A
// message that is not a unit at all is recorded as rejected and dropped:
// redelivering the same bytes cannot help.
func (h *handler) handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var (
		resp events.SQSEventResponse
		mu   sync.Mutex
		wg   sync.WaitGroup
		sem  = make(chan struct{}, concurrency)
	)
	for _, m := range ev.Records {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := h.unit(ctx, m); err != nil {
				mu.Lock()
				resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: m.MessageId})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Deterministic order for logs and tests.
	slices.SortFunc(resp.BatchItemFailures, func(a, b events.SQSBatchItemFailure) int {
		return cmpString(a.ItemIdentifier, b.ItemIdentifier)
	})
	return resp, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// unit converges one message's unit and logs its summary; the error says
// whether SQS should deliver it again.
func (h *handler) unit(ctx context.Context, m events.SQSMessage) error {
	w, err := decodeWork([]byte(m.Body), h.decl)
	if err != nil {
		rec := audit.Record{Decision: audit.DecisionRejected,
			Trigger: audit.Trigger{EventID: m.MessageId, EventType: "work", Source: "aws.sqs"},
			Target:  audit.Target{ARN: "event/" + m.MessageId, Kind: "Event"},
			Error:   "invalid-payload: " + err.Error()}
		if aerr := h.trail.Record(ctx, rec); aerr != nil {
			return fmt.Errorf("recording the rejection of message %s: %w", m.MessageId, aerr)
		}
		return nil
	}
	rep, err := h.engine.Converge(ctx, w.Cause(), w)
	attrs := []any{"runId", w.RunID, "messageId", m.MessageId, "account", w.Account, "region", w.Region,
		"dryRun", w.DryRun, "sweep", w.Sweep, "examined", rep.Examined, "unchanged", rep.Unchanged,
		"changed", rep.Changed, "planned", rep.Planned, "refused", rep.Refused, "failed", rep.Failed}
	if w.Sweep {
		// A sweep exists to find what events missed: every change it makes
		// is drift it repaired (each one also has its applied audit record).
		attrs = append(attrs, "driftRepaired", rep.Changed)
	}
	if len(rep.Errors) > 0 {
		attrs = append(attrs, "errors", rep.Errors)
	}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
		h.log.ErrorContext(ctx, "unit failed; SQS will deliver it again, then dead-letter it", attrs...)
		return err
	}
	h.log.InfoContext(ctx, "unit converged", attrs...)
	return nil
}

// decodeWork reads a message body strictly: unknown fields mean a producer
// this worker does not understand, which must not be half-applied.
func decodeWork(body []byte, d *config.Declaration) (reconcile.Work, error) {
	var w reconcile.Work
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return w, fmt.Errorf("body is not a work unit: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return w, errors.New("body: unexpected data after the work unit")
	}
	switch {
	case w.RunID == "":
		return w, errors.New("runId: missing")
	case !policy.ValidAccountID(w.Account):
		return w, fmt.Errorf("account: %q is not a 12-digit account id", w.Account)
	case !slices.Contains(d.Hub.Regions, w.Region):
		return w, fmt.Errorf("region: %q is not a declared region", w.Region)
	case len(w.Accounts) == 0:
		return w, errors.New("accounts: missing (the backfill always sends the accounts a unit depends on)")
	}
	for i, a := range w.Accounts {
		if !policy.ValidAccountID(a.ID) {
			return w, fmt.Errorf("accounts[%d].ID: %q is not a 12-digit account id", i, a.ID)
		}
	}
	// The unit carries the inventory it is converged against, so whether its
	// account is one ecr-warden configures is decided by these bytes alone:
	// a unit for the management account, a departed or suspended member, or
	// a member no selector names (which has no execution role to assume)
	// fails the same way on every delivery. It is rejected here rather than
	// retried into the dead-letter queue.
	if w.Account != d.Hub.AccountID {
		state := desired.New(d, w.Accounts)
		i := slices.IndexFunc(w.Accounts, func(a desired.Account) bool { return a.ID == w.Account })
		switch {
		case w.Account == d.Hub.ManagementAccountID:
			return w, fmt.Errorf("account: %s is the management account, which ecr-warden never configures", w.Account)
		case i < 0:
			return w, fmt.Errorf("account: %s is not among the unit's accounts", w.Account)
		case !state.ManagedMember(w.Accounts[i]):
			return w, fmt.Errorf("account: %s is not an active member of the organization (status %q, OU path %q)", w.Account, w.Accounts[i].Status, w.Accounts[i].OUPath)
		case !state.Configures(w.Account) && !w.Moved:
			// A moved account's unit is the one exception: it removes what
			// ecr-warden wrote there while the execution role may remain.
			return w, fmt.Errorf("account: %s is a member the declaration configures nothing in", w.Account)
		}
	}
	return w, nil
}
