package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
	"github.com/ecr-warden/ecr-warden/shared/workqueue"
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
	// queue sends on the rest of a unit that stopped before its deadline
	// (reconcile.Report.Continue): the work queue the unit came from.
	queue reconcile.UnitQueue
	trail function.Recorder
	log   *slog.Logger
}

// lambdaHandler is what the runtime calls: the raw payload reaches invoke
// untouched (function.Raw), so bytes that are not an SQS batch become an
// audited rejection rather than a decoding error raised before any of our
// code runs (nothing recorded, and an asynchronous invoke retried twice).
func lambdaHandler(h *handler) lambda.Handler { return function.Raw(h.invoke) }

// sqsSource is the eventSource of every record Lambda's SQS event source
// mapping delivers.
const sqsSource = "aws:sqs"

// invoke converges an SQS batch of work units (handle). Any other input (not
// JSON, truncated, an EventBridge event or a backfill payload invoked on the
// worker by hand, a batch without records) is not work: it is recorded as
// rejected under event/<id> and answered with success, as the event
// functions answer input that is not theirs, since the same bytes would be
// refused on every retry.
func (h *handler) invoke(ctx context.Context, raw json.RawMessage) (events.SQSEventResponse, error) {
	ev, why := sqsBatch(raw)
	if why == "" {
		return h.handle(ctx, ev)
	}
	rej := &trigger.Rejection{Reason: trigger.ReasonMalformed, Detail: "worker: " + why}
	// What else the bytes are, so the record is filed under the event's id
	// and says which function they belong to.
	t, err := trigger.Parse(raw)
	if r, ok := trigger.AsRejection(err); ok {
		rej.Trigger, rej.Raw = r.Trigger, r.Raw
		if r.Reason == trigger.ReasonMalformed || r.Reason == trigger.ReasonTooLarge {
			rej.Reason, rej.Detail = r.Reason, "worker: "+r.Detail
		}
	} else if err == nil {
		what, fn := trigger.HandledBy(t)
		if fn == "" {
			fn = "no"
		}
		rej.Reason, rej.Trigger = trigger.ReasonUnknownEvent, t.Trigger
		rej.Detail = fmt.Sprintf("worker: %s is handled by the %s function, not worker (which converges SQS batches of work units)", what, fn)
	}
	if rej.Raw == "" {
		rej.Raw = trigger.Clip(string(raw))
	}
	if err := function.Reject(ctx, h.trail, h.log, function.EventTarget(raw, rej), rej); err != nil {
		return events.SQSEventResponse{}, err
	}
	return events.SQSEventResponse{}, nil
}

// sqsBatch decodes raw as an SQS event with at least one record, every one
// from SQS; why says what it is not.
func sqsBatch(raw []byte) (ev events.SQSEvent, why string) {
	if err := json.Unmarshal(raw, &ev); err != nil {
		return ev, "the input is not an SQS batch of work units: " + trigger.Clip(err.Error())
	}
	if len(ev.Records) == 0 {
		return ev, "the input is not an SQS batch of work units: it has no Records"
	}
	for i, m := range ev.Records {
		if m.EventSource != sqsSource {
			return ev, fmt.Sprintf("the input is not an SQS batch of work units: Records[%d].eventSource is %q, want %q", i, trigger.Clip(m.EventSource), sqsSource)
		}
	}
	return ev, ""
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
		// The record names the unit as far as its bytes say (run, account,
		// region), so `make audit RUN=...` and backfill-status find it, and
		// carries the start of the body. Everything it keeps of the body is
		// bounded (decodeWork's problems too): a record DynamoDB refuses (a
		// key over 2,048 bytes, an item over 400 KB) would fail the message,
		// which SQS would deliver again for nothing, unaudited.
		id := messageKey(m.MessageId)
		rec := audit.Record{Decision: audit.DecisionRejected,
			Trigger: audit.Trigger{EventID: id, EventType: "work " + trigger.Clip(w.RunID), Source: "aws.sqs"},
			Target:  audit.Target{ARN: "event/" + id, Kind: "Event"},
			Error:   "invalid-payload: " + err.Error() + "; body: " + trigger.Clip(m.Body)}
		if policy.ValidAccountID(w.Account) {
			rec.Target.AccountID = w.Account
		}
		if slices.Contains(h.decl.Hub.Regions, w.Region) {
			rec.Target.Region = w.Region
		}
		if aerr := h.trail.Record(ctx, rec); aerr != nil {
			return fmt.Errorf("recording the rejection of message %s: %w", id, aerr)
		}
		var newer *unknownFieldError
		if errors.As(err, &newer) {
			// A newer producer (a deploy in progress, a rollback) may have
			// sent it: kept, through SQS's retries into the dead-letter
			// queue, where it says which account a backfill must converge
			// once the worker understands it (the work queue refuses a
			// redrive: only ecr-warden's functions send to it).
			return err
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
	if w.After != "" {
		attrs = append(attrs, "resumedAfter", w.After)
	}
	if err == nil && rep.Continue != nil {
		// The unit stopped before its deadline: the rest goes back to the
		// queue as the same unit with its cursor, and this message is done.
		err = h.continueUnit(ctx, *rep.Continue)
		attrs = append(attrs, "continuesAfter", rep.Continue.After)
		if err == nil {
			h.log.InfoContext(ctx, "unit continues after "+rep.Continue.After+" in another try", attrs...)
			return nil
		}
	}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
		h.log.ErrorContext(ctx, "unit failed; SQS will deliver it again, then dead-letter it", attrs...)
		return err
	}
	h.log.InfoContext(ctx, "unit converged", attrs...)
	return nil
}

// continueUnit sends the rest of a unit to the work queue. When it cannot,
// the message fails and SQS delivers it again from its own cursor (what
// this try converged is found unchanged then, one read each).
func (h *handler) continueUnit(ctx context.Context, next reconcile.Work) error {
	if h.queue == nil {
		return fmt.Errorf("unit %s/%s stopped before its deadline after %s, and the worker has no work queue to send the rest to", next.Account, next.Region, next.After)
	}
	if _, err := h.queue.Send(ctx, []reconcile.Work{next}); err != nil {
		return fmt.Errorf("sending the rest of unit %s/%s (after %s) to the work queue: %w", next.Account, next.Region, next.After, err)
	}
	return nil
}

// problems joins a rejected unit's problems, the first
// workqueue.MaxProblemsNamed and how many more.
func problems(list []string) error {
	return errors.New(trigger.JoinProblems(list, workqueue.MaxProblemsNamed))
}

// quote prints a value from a message body for a rejection, cut on a UTF-8
// boundary (trigger.Clip) when it is long.
func quote(v string) string { return strconv.Quote(trigger.Clip(v)) }

// messageKey is a message id fit for an audit key: SQS's ids are UUIDs,
// but a batch invoked on the worker by hand may carry any string, and a
// key over 2,048 bytes is refused. A long or unprintable id keeps its start
// and a hash of the whole.
func messageKey(id string) string {
	if len(id) <= 128 && !strings.ContainsFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	start := strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, strings.ToValidUTF8(id[:min(len(id), 64)], ""))
	return start + "...sha256-" + hex.EncodeToString(sum[:8])
}

// decodeWork reads a message body strictly: unknown fields mean a producer
// this worker does not understand, which must not be half-applied. Its
// errors name every problem (the first workqueue.MaxProblemsNamed, then how many
// more) with the values cut short, so the record of a rejection fits the
// audit table however large the body.
func decodeWork(body []byte, d *config.Declaration) (reconcile.Work, error) {
	var w reconcile.Work
	if dups := config.DuplicateKeys(body); len(dups) > 0 {
		_ = json.Unmarshal(body, &w) // for the record's run, account and region
		msgs := make([]string, len(dups))
		for i, p := range dups {
			msgs[i] = trigger.Clip(p.String())
		}
		return w, problems(msgs)
	}
	var m workqueue.Message
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			_ = json.Unmarshal(body, &w)
			return w, &unknownFieldError{field: trigger.Clip(f)}
		}
		return m.Work, fmt.Errorf("body is not a work unit: %s", trigger.Clip(err.Error()))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return m.Work, errors.New("body: unexpected data after the work unit")
	}
	// A large unit carries its accounts compressed (workqueue.Message);
	// what they inflate to is checked below like any unit's accounts.
	w, err := m.Unit()
	if err != nil {
		return w, err
	}
	// Every problem of the unit's fields at once.
	var list []string
	bad := func(format string, args ...any) { list = append(list, fmt.Sprintf(format, args...)) }
	if w.RunID == "" {
		bad("runId: missing")
	}
	if !policy.ValidAccountID(w.Account) {
		bad("account: %s is not a 12-digit account id", quote(w.Account))
	}
	if !slices.Contains(d.Hub.Regions, w.Region) {
		bad("region: %s is not a declared region", quote(w.Region))
	}
	if len(w.Accounts) == 0 {
		bad("accounts: missing (the backfill always sends the accounts a unit depends on)")
	}
	for i, a := range w.Accounts {
		if !policy.ValidAccountID(a.ID) {
			bad("accounts[%d].ID: %s is not a 12-digit account id", i, quote(a.ID))
		}
	}
	if w.WalkedAt.After(time.Now().Add(5 * time.Minute)) {
		// A unit walked in the future would never be read again as stale.
		bad("walkedAt: %s is in the future", w.WalkedAt.UTC().Format(time.RFC3339))
	}
	for i, p := range w.Repositories {
		if !trigger.ValidRepositoryGlob(p) {
			bad("repositories[%d]: %s is not a repository name or glob (lowercase letters, digits, . _ - / and the wildcard *)", i, quote(p))
		}
	}
	if w.After != "" && !policy.ValidRepositoryName(w.After) {
		bad("after: %s is not a repository name (2 to 256 characters: lowercase letters and digits separated by . _ __ or dashes, and / between parts)", quote(w.After))
	}
	if len(list) > 0 {
		return w, problems(list)
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
			return w, fmt.Errorf("account: %s is not an active member of the organization (status %s, OU path %s)", w.Account, quote(w.Accounts[i].Status), quote(w.Accounts[i].OUPath))
		case !state.Configures(w.Account) && !w.Moved && !w.Retired:
			// A moved account's unit, and a retired member's (one the
			// backfill's last full run configured), are the exceptions:
			// they remove what ecr-warden wrote there while the execution
			// role may remain.
			return w, fmt.Errorf("account: %s is a member the declaration configures nothing in", w.Account)
		}
	}
	return w, nil
}

// unknownFieldError is a unit with a field this worker does not know.
type unknownFieldError struct{ field string }

func (e *unknownFieldError) Error() string {
	return "unknown field " + e.field + ": a newer producer's unit, kept (SQS delivers it again, then dead-letters it; backfill its account once the worker understands it)"
}
