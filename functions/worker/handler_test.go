package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/bigorg"
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/workqueue"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// The worker's end-to-end tests (real binary, SQS from the local AWS, a
// member whose role cannot be assumed) are in functions/backfill; these pin
// the batch semantics with a fake engine.

type fakeEngine struct {
	mu    sync.Mutex
	fail  string // account whose units fail
	works []reconcile.Work
	cause []reconcile.Cause
}

func (f *fakeEngine) Converge(_ context.Context, c reconcile.Cause, w reconcile.Work) (reconcile.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.works = append(f.works, w)
	f.cause = append(f.cause, c)
	if w.Account == f.fail {
		return reconcile.Report{Examined: 1, Failed: 1}, errors.New("assuming role in " + w.Account + ": AccessDenied")
	}
	return reconcile.Report{Examined: 2, Changed: 1}, nil
}

type fakeTrail struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (f *fakeTrail) Record(_ context.Context, r audit.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recs = append(f.recs, r)
	return nil
}

func TestBatch(t *testing.T) {
	d, err := config.Load("../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	e, tr := &fakeEngine{fail: "333333333333"}, &fakeTrail{}
	var logs strings.Builder
	h := &handler{decl: d, engine: e, trail: tr, log: slog.New(slog.NewJSONHandler(&logs, nil))}
	unit := func(account string) string {
		return `{"runId":"sweep-1","account":"` + account + `","region":"eu-west-1","accounts":[{"ID":"` + account + `","Status":"ACTIVE","OUPath":"o-a1b2c3d4e5/r-ab12/"}],"sweep":true}`
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{
		{MessageId: "m1", Body: unit("222222222222")},
		{MessageId: "m2", Body: unit("333333333333")},
		{MessageId: "m3", Body: `{"runId":"x","account":"222222222222","region":"eu-west-1","accounts":[],"extra":1}`},
		{MessageId: "m4", Body: `{"runId":"x","account":"222222222222","region":"ap-south-1","accounts":[{"ID":"1"}]}`},
		{MessageId: "m5", Body: unit("444444444444")},
	}}
	resp, err := h.handle(t.Context(), ev)
	if err != nil {
		t.Fatal(err)
	}
	// m2 failed in the engine; m3 has a field this worker does not know (a
	// newer producer's unit), kept through SQS's retries into the dead-letter
	// queue; m4 can never be read and is dropped after its record.
	if len(resp.BatchItemFailures) != 2 || resp.BatchItemFailures[0].ItemIdentifier != "m2" || resp.BatchItemFailures[1].ItemIdentifier != "m3" {
		t.Fatalf("want m2 and m3 retried, got %+v", resp.BatchItemFailures)
	}
	if len(e.works) != 3 {
		t.Fatalf("converged %d units, want the 3 valid ones", len(e.works))
	}
	for _, c := range e.cause {
		if c.Trigger.EventType != "sweep" || c.Trigger.EventID != "sweep-1" {
			t.Errorf("cause %+v", c)
		}
	}
	if len(tr.recs) != 2 || tr.recs[0].Decision != audit.DecisionRejected {
		t.Fatalf("malformed messages need a rejected record each: %+v", tr.recs)
	}
	for _, want := range []string{`"driftRepaired":1`, `"unit failed; SQS will deliver it again`, "AccessDenied"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}
}

// A unit whose own bytes say it can never converge (the management account,
// a member missing from or inactive in the unit's accounts, a member the
// declaration configures nothing in, a malformed account list) is rejected
// with the field named and dropped, not retried into the dead-letter queue;
// it never reaches the engine.
func TestUnitsThatCanNeverSucceedAreRejected(t *testing.T) {
	d, err := config.Load("../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	// Nothing lives in members' registries: PTC for 222222222222 only, and no
	// grant placed in all members.
	d.PullThroughCache.Members.All = false
	d.PullThroughCache.Members.Accounts = []string{"222222222222"}
	for i := range d.Grants {
		d.Grants[i].Registries.AllMembers = false
		d.Grants[i].Registries.OUs, d.Grants[i].Registries.Accounts = nil, nil
	}
	e, tr := &fakeEngine{}, &fakeTrail{}
	h := &handler{decl: d, engine: e, trail: tr, log: slog.New(slog.DiscardHandler)}
	unit := func(account, accounts string) string {
		return `{"runId":"r","account":"` + account + `","region":"us-east-1","accounts":` + accounts + `}`
	}
	active := func(id string) string { return `{"ID":"` + id + `","Status":"ACTIVE","OUPath":"o-a1b2c3d4e5/r-ab12/"}` }
	cases := map[string]struct{ body, want string }{
		"management": {unit("999999999999", "["+active("999999999999")+"]"), "account: 999999999999 is the management account"},
		"not listed": {unit("222222222222", "["+active("333333333333")+"]"), "account: 222222222222 is not among the unit's accounts"},
		"suspended": {unit("222222222222", `[{"ID":"222222222222","Status":"SUSPENDED","OUPath":"o-a1b2c3d4e5/r-ab12/"}]`),
			`account: 222222222222 is not an active member of the organization (status "SUSPENDED"`},
		"departed":       {unit("222222222222", `[{"ID":"222222222222"}]`), "account: 222222222222 is not an active member"},
		"not configured": {unit("333333333333", "["+active("333333333333")+"]"), "account: 333333333333 is a member the declaration configures nothing in"},
		"bad account id": {unit("111111111111", `[{"ID":"12345678901x"}]`), `accounts[0].ID: "12345678901x" is not a 12-digit account id`},
		"hub bad region": {`{"runId":"r","account":"111111111111","region":"../../","accounts":[` + active("111111111111") + `]}`, `region: "../../" is not a declared region`},
		"json null":      {`null`, "runId: missing"},
		"json string":    {`"unit"`, "body is not a work unit"},
	}
	var ev events.SQSEvent
	for id, c := range cases {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: id, Body: c.body})
	}
	ev.Records = append(ev.Records, events.SQSMessage{MessageId: "ok", Body: unit("222222222222", "["+active("222222222222")+"]")})
	// A move's unit is the exception: it removes what ecr-warden wrote in a
	// member that has just left what the declaration configures.
	moved := strings.Replace(unit("333333333333", "["+active("333333333333")+"]"), `"runId"`, `"moved":true,"runId"`, 1)
	ev.Records = append(ev.Records, events.SQSMessage{MessageId: "moved", Body: moved})
	// So is a retired member's: the backfill's last full run configured it.
	retired := strings.Replace(unit("444444444444", "["+active("444444444444")+"]"), `"runId"`, `"retired":true,"runId"`, 1)
	ev.Records = append(ev.Records, events.SQSMessage{MessageId: "retired", Body: retired})
	resp, err := h.handle(t.Context(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle = %+v, %v; want every message settled", resp, err)
	}
	slices.SortFunc(e.works, func(a, b reconcile.Work) int { return strings.Compare(a.Account, b.Account) })
	if len(e.works) != 3 || e.works[0].Account != "222222222222" || e.works[1].Account != "333333333333" || !e.works[1].Moved ||
		e.works[2].Account != "444444444444" || !e.works[2].Retired {
		t.Fatalf("engine ran %+v, want the configured member's unit, the moved member's and the retired member's", e.works)
	}
	got := map[string]string{}
	for _, r := range tr.recs {
		if r.Decision != audit.DecisionRejected {
			t.Errorf("record %+v, want rejected", r)
		}
		got[r.Trigger.EventID] = r.Error
	}
	for id, c := range cases {
		if !strings.Contains(got[id], c.want) {
			t.Errorf("%s: rejection %q, want it to contain %q", id, got[id], c.want)
		}
	}
}

// A rejected unit's record names what its bytes say of it (run, account,
// region) and every problem at once, with the start of the body; a key
// twice, a walk in the future, a repository pattern the backfill would
// refuse and a cursor that is no repository name are problems too.
func TestRejectedUnitNamesItsRunAndEveryProblem(t *testing.T) {
	h, e, tr := fakeHandler(t)
	acct := `{"ID":"222222222222","Status":"ACTIVE","OUPath":"o-a1b2c3d4e5/r-ab12/"}`
	cases := map[string]struct {
		body string
		want []string
	}{
		"several": {`{"runId":"backfill-7","account":"222222222222","region":"ap-south-1","accounts":[` + acct + `,{"ID":"x"}],"walkedAt":"2999-01-01T00:00:00Z","repositories":["Team A"],"after":"apps/*"}`,
			[]string{`region: "ap-south-1" is not a declared region`, `accounts[1].ID: "x"`, "walkedAt: 2999-01-01T00:00:00Z is in the future", `repositories[0]: "Team A"`, `after: "apps/*" is not a repository name`, `body: {"runId":"backfill-7"`}},
		"bad cursor": {`{"runId":"backfill-7","account":"222222222222","region":"eu-west-1","accounts":[` + acct + `],"after":"apps//b-"}`,
			[]string{`after: "apps//b-" is not a repository name`}},
		"key twice": {`{"runId":"backfill-7","account":"222222222222","account":"333333333333","region":"eu-west-1","accounts":[` + acct + `]}`,
			[]string{"account", "more than once"}},
	}
	var ev events.SQSEvent
	for id, c := range cases {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: id, Body: c.body})
	}
	resp, err := h.handle(t.Context(), ev)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.BatchItemFailures) != 0 || len(e.works) != 0 {
		t.Fatalf("retried %+v, converged %d: want both dropped after their records", resp.BatchItemFailures, len(e.works))
	}
	byID := map[string]audit.Record{}
	for _, r := range tr.recs {
		byID[r.Trigger.EventID] = r
	}
	for id, c := range cases {
		r, ok := byID[id]
		if !ok || r.Decision != audit.DecisionRejected {
			t.Errorf("%s: record %+v, want rejected", id, r)
			continue
		}
		if r.Trigger.EventType != "work backfill-7" || r.Target.AccountID == "" {
			t.Errorf("%s: record trigger %q, target %+v: want the run and the account named", id, r.Trigger.EventType, r.Target)
		}
		for _, w := range c.want {
			if !strings.Contains(r.Error, w) {
				t.Errorf("%s: error %q lacks %q", id, r.Error, w)
			}
		}
	}
}

// continuingEngine stops every unit of account stop before its deadline,
// as a registry too large for one try does, and hands back its rest.
type continuingEngine struct {
	mu    sync.Mutex
	stop  string
	works []reconcile.Work
}

func (f *continuingEngine) Converge(_ context.Context, _ reconcile.Cause, w reconcile.Work) (reconcile.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.works = append(f.works, w)
	rep := reconcile.Report{Examined: 400, Unchanged: 400}
	if w.Account == f.stop {
		next := w
		next.After = "apps/r0399"
		rep.Continue = &next
	}
	return rep, nil
}

type fakeQueue struct {
	mu   sync.Mutex
	err  error
	sent []reconcile.Work
}

func (q *fakeQueue) Send(_ context.Context, units []reconcile.Work) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return 0, q.err
	}
	q.sent = append(q.sent, units...)
	return len(units), nil
}

// A unit that stopped before its deadline is sent back to the work queue
// as the same unit with its cursor, and its message is acknowledged; a
// unit resumed from a cursor reaches the engine with it. When the rest
// cannot be sent, the message fails and SQS delivers it again.
func TestAUnitThatStoppedEarlyContinuesThroughTheQueue(t *testing.T) {
	d, err := config.Load("../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"runId":"sweep-1","account":"222222222222","region":"eu-west-1","accounts":[{"ID":"222222222222","Status":"ACTIVE","OUPath":"o-a1b2c3d4e5/r-ab12/"}],"sweep":true,"after":"apps/r0199"}`
	e, q := &continuingEngine{stop: "222222222222"}, &fakeQueue{}
	var logs strings.Builder
	h := &handler{decl: d, engine: e, queue: q, trail: &fakeTrail{}, log: slog.New(slog.NewJSONHandler(&logs, nil))}
	resp, err := h.handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: body}}})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle = %+v, %v; want the message acknowledged", resp, err)
	}
	if len(e.works) != 1 || e.works[0].After != "apps/r0199" {
		t.Fatalf("engine ran %+v, want the unit with its cursor", e.works)
	}
	if len(q.sent) != 1 || q.sent[0].After != "apps/r0399" || q.sent[0].RunID != "sweep-1" || q.sent[0].Account != "222222222222" || !q.sent[0].Sweep {
		t.Fatalf("sent %+v, want the same unit continuing after apps/r0399", q.sent)
	}
	for _, want := range []string{`"msg":"unit continues after apps/r0399 in another try"`, `"continuesAfter":"apps/r0399"`, `"resumedAfter":"apps/r0199"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %s:\n%s", want, logs.String())
		}
	}

	for name, h := range map[string]*handler{
		"send fails": {decl: d, engine: e, queue: &fakeQueue{err: errors.New("AccessDenied")}, trail: &fakeTrail{}, log: slog.New(slog.DiscardHandler)},
		"no queue":   {decl: d, engine: e, trail: &fakeTrail{}, log: slog.New(slog.DiscardHandler)},
	} {
		resp, err := h.handle(t.Context(), events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: body}}})
		if err != nil || len(resp.BatchItemFailures) != 1 {
			t.Errorf("%s: handle = %+v, %v; want the message delivered again", name, resp, err)
		}
	}
}

// The deployed worker sends the rest of a stopped unit to the queue its
// environment built, and its engine stops early; the environment's own
// engine (shared by nothing else here, but a copy is taken) is left as it is.
func TestHandlerForResumesThroughTheWorkQueue(t *testing.T) {
	q := &fakeQueue{}
	env := &function.Env{Engine: &reconcile.Engine{Queue: q}, Log: slog.New(slog.DiscardHandler)}
	h := handlerFor(env)
	if h.queue != reconcile.UnitQueue(q) {
		t.Errorf("handler queue %v, want the environment's work queue", h.queue)
	}
	if eng, ok := h.engine.(*reconcile.Engine); !ok || eng.UnitReserve != reconcile.DefaultUnitReserve || !eng.VerifyUnits || !eng.CountsOnly {
		t.Errorf("handler engine %#v, want a *reconcile.Engine that stops %v before its deadline, verifies its units' accounts and keeps counts only", h.engine, reconcile.DefaultUnitReserve)
	}
	if env.Engine.UnitReserve != 0 || env.Engine.VerifyUnits || env.Engine.CountsOnly {
		t.Errorf("the environment's engine was changed: reserve %v, verify %v, counts only %v", env.Engine.UnitReserve, env.Engine.VerifyUnits, env.Engine.CountsOnly)
	}
}

// Input that is not an SQS batch of work units (bytes that are not JSON, a
// truncated batch, an event or payload of another function invoked on the
// worker by hand, a batch without records or from another source) never
// reaches the engine: it is recorded as rejected under event/<id>, saying
// what it is, and the invocation succeeds, so it is not retried for nothing.
// Before, the runtime decoded the payload itself: bytes that were not JSON
// failed the invocation unaudited, and anything else JSON was a batch of no
// units, answered with success and recorded nowhere.
func TestInputThatIsNotABatchIsRejected(t *testing.T) {
	d, err := config.Load("../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	event, err := os.ReadFile("../../events/ecr-create-repository-api.json")
	if err != nil {
		t.Fatal(err)
	}
	unit := `{"runId":"r","account":"111111111111","region":"us-east-1","accounts":[{"ID":"111111111111","Status":"ACTIVE"}]}`
	batch, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m1", Body: unit, EventSource: "aws:sqs"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, payload, target, want string
	}{
		{"not JSON", `not json`, "event/sha256-", "malformed: worker: not valid JSON"},
		{"empty", ``, "event/sha256-", "malformed: worker: not valid JSON"},
		{"truncated batch", string(batch[:len(batch)/2]), "event/sha256-", "malformed: worker: not valid JSON"},
		{"an event of another function", string(event), "event/6f87d04b-9f74-4f04-a780-7acf4b0a9b38",
			"unknown-event: worker: the aws.ecr CreateRepository event is handled by the repository function, not worker"},
		{"a backfill payload", `{"action":"backfill","targets":{"all":true}}`, "event/sha256-", "unknown-event: worker: a backfill payload is handled by the backfill function"},
		{"no records", `{}`, "event/sha256-", "malformed: worker: the input is not an SQS batch of work units: it has no Records"},
		{"another source", `{"Records":[{"messageId":"m","body":"x","eventSource":"aws:sns"}]}`, "event/sha256-",
			`malformed: worker: the input is not an SQS batch of work units: Records[0].eventSource is "aws:sns", want "aws:sqs"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, tr := &fakeEngine{}, &fakeTrail{}
			h := &handler{decl: d, engine: e, trail: tr, log: slog.New(slog.DiscardHandler)}
			out, err := lambdaHandler(h).Invoke(t.Context(), []byte(c.payload))
			if err != nil {
				t.Fatalf("invocation failed: %v (Lambda would retry the same bytes)", err)
			}
			if string(out) != `{"batchItemFailures":null}` {
				t.Errorf("answer %s, want no item failures", out)
			}
			if len(e.works) != 0 {
				t.Errorf("engine ran %+v", e.works)
			}
			if len(tr.recs) != 1 {
				t.Fatalf("%d audit records, want one rejection: %+v", len(tr.recs), tr.recs)
			}
			r := tr.recs[0]
			if r.Decision != audit.DecisionRejected || !strings.HasPrefix(r.Target.ARN, c.target) || !strings.HasPrefix(r.Error, c.want) {
				t.Errorf("record %s on %s: %q, want rejected on %s...: %q...", r.Decision, r.Target.ARN, r.Error, c.target, c.want)
			}
		})
	}
	// A batch still reaches the engine.
	e, tr := &fakeEngine{}, &fakeTrail{}
	h := &handler{decl: d, engine: e, trail: tr, log: slog.New(slog.DiscardHandler)}
	if _, err := lambdaHandler(h).Invoke(t.Context(), batch); err != nil || len(e.works) != 1 || len(tr.recs) != 0 {
		t.Errorf("a batch of one unit: err %v, engine ran %d units, %d records; want one unit converged and nothing rejected", err, len(e.works), len(tr.recs))
	}
}

// A cursor is a repository name as ECR gives it, "__" and runs of "-"
// included: a unit that resumes after "shared/base__debug" reaches the
// engine with its cursor. Before, the worker checked the cursor with ECR's
// older grammar, recorded the unit as rejected and dropped it, so the rest of
// the registry was not converged in that run.
func TestUnitResumesAfterAnOCIName(t *testing.T) {
	h, e, tr := fakeHandler(t)
	var ev events.SQSEvent
	for _, after := range []string{"shared/base__debug", "team-a/my--app"} {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: after, Body: `{"runId":"sweep-1","account":"222222222222","region":"eu-west-1","accounts":[{"ID":"222222222222","Status":"ACTIVE","OUPath":"o-a1b2c3d4e5/r-ab12/"}],"sweep":true,"after":"` + after + `"}`})
	}
	resp, err := h.handle(t.Context(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 || len(tr.recs) != 0 {
		t.Fatalf("handle = %+v, %v, records %+v; want both units converged", resp, err, tr.recs)
	}
	var got []string
	for _, w := range e.works {
		got = append(got, w.After)
	}
	slices.Sort(got)
	if strings.Join(got, ",") != "shared/base__debug,team-a/my--app" {
		t.Fatalf("engine ran units after %v, want both cursors", got)
	}
}

// dynamoTrail stores records as the audit table does, within DynamoDB's
// limits: a partition key of at most 2,048 bytes and an item of at most
// 400 KB (measured here as the record's JSON, which is close to DynamoDB's
// count of attribute names and values).
type dynamoTrail struct{ fakeTrail }

func (d *dynamoTrail) Record(ctx context.Context, r audit.Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if len(r.Target.ARN) > 2048 || len(b) > 400*1024 {
		return fmt.Errorf("ValidationException: key %d bytes, item %d bytes: over DynamoDB's limits", len(r.Target.ARN), len(b))
	}
	return d.fakeTrail.Record(ctx, r)
}

// A message whose unit can never be read is recorded as rejected and
// dropped however large or hostile its body: the record names the problems
// (the first of many, and how many more), keeps values short, and is keyed
// within DynamoDB's limits, so it is stored and the message is not retried.
// Before, the record carried every problem with every value whole (and the
// unit's account and region as its target, and the message id as its key):
// a 200 KB body made a record DynamoDB refused, so the message failed,
// came back five times and went to the dead-letter queue with no audit
// record of why.
func TestRejectedUnitRecordFitsTheAuditTable(t *testing.T) {
	d, err := config.Load("../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	acct := `{"ID":"222222222222","Status":"ACTIVE","OUPath":"o-a1b2c3d4e5/r-ab12/"}`
	huge := strings.Repeat("é", 50000) // 100 KB, printable: quoting keeps it whole
	many := strings.Repeat(`{"ID":"x"},`, 20000)
	dups := strings.Repeat(`"runId":"r",`, 10000)
	longID := strings.Repeat("m", 3000)
	records := []events.SQSMessage{
		{MessageId: "good", Body: `{"runId":"sweep-1","account":"222222222222","region":"eu-west-1","accounts":[` + acct + `],"sweep":true}`},
		{MessageId: "huge-values", Body: `{"runId":"` + huge + `","account":"` + huge + `","region":"` + huge + `","accounts":[` + acct + `]}`},
		{MessageId: "many-problems", Body: `{"runId":"sweep-1","account":"222222222222","region":"eu-west-1","accounts":[` + many + acct + `]}`},
		{MessageId: "many-duplicates", Body: `{` + dups + `"account":"222222222222","region":"eu-west-1","accounts":[` + acct + `]}`},
		{MessageId: longID, Body: `{"runId":"sweep-1","account":"222222222222","region":"ap-south-1","accounts":[` + acct + `]}`},
		{MessageId: "inactive", Body: `{"runId":"sweep-1","account":"222222222222","region":"eu-west-1","accounts":[{"ID":"222222222222","Status":"` + huge + `","OUPath":"` + huge + `"}]}`},
	}
	e, tr := &fakeEngine{}, &dynamoTrail{}
	h := &handler{decl: d, engine: e, trail: tr, log: slog.New(slog.DiscardHandler)}
	resp, err := h.handle(t.Context(), events.SQSEvent{Records: records})
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle = %+v, %v; want every message settled (the good one converged, the others rejected and dropped)", resp.BatchItemFailures, err)
	}
	if len(e.works) != 1 || e.works[0].RunID != "sweep-1" {
		t.Fatalf("engine ran %d units, want the good one", len(e.works))
	}
	want := map[string][]string{
		"huge-values":     {"account: ", "region: ", "(100000 bytes)"},
		"many-problems":   {`accounts[0].ID: "x" is not a 12-digit account id`, "and 19980 more problems"},
		"many-duplicates": {"runId", "more than once", "more problems"},
		longID[:64]:       {`region: "ap-south-1" is not a declared region`},
		"inactive":        {"account: 222222222222 is not an active member", "(100000 bytes)"},
	}
	if len(tr.recs) != len(want) {
		t.Fatalf("%d records stored, want %d (one rejection per bad message)", len(tr.recs), len(want))
	}
	for _, r := range tr.recs {
		key := r.Trigger.EventID
		if len(key) > 64 {
			key = key[:64]
		}
		words, ok := want[key]
		if !ok || r.Decision != audit.DecisionRejected {
			t.Errorf("record %.80q %s, want a rejection of one of %v", r.Trigger.EventID, r.Decision, want)
			continue
		}
		for _, w := range words {
			if !strings.Contains(r.Error, w) {
				t.Errorf("%s: error %.300q... lacks %q", key, r.Error, w)
			}
		}
		if n := len(r.Error); n > 16<<10 {
			t.Errorf("%s: error is %d bytes", key, n)
		}
	}
}

// bodySender keeps the bodies a workqueue.Queue sends, as SQS would
// deliver them.
type bodySender struct {
	mu     sync.Mutex
	bodies []string
}

func (s *bodySender) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		s.bodies = append(s.bodies, aws.ToString(e.MessageBody))
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	return out, nil
}

// A unit carrying an organization of 5,000 accounts reaches the worker
// with its accounts compressed (workqueue.Message) and converges with all
// of them, and the rest it sends on when it stops early is compressed the
// same way. A compressed field that is hostile (a gzip bomb, not base64,
// not gzip, not a list of accounts, or beside a plain list) is rejected by
// name, recorded and dropped, while the good unit in the same batch
// converges. Before, the worker knew no compressed field: the unit could
// not be sent at all, and such a body was a newer producer's, retried into
// the dead-letter queue.
func TestCompressedUnitsConvergeAndHostileOnesAreRejected(t *testing.T) {
	d, err := config.Load("../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	org := bigorg.Accounts(5000, 3)
	org[1234] = desired.Account{ID: "222222222222", Name: "team-a-workloads-prod", Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/ou-ab12-22222222/"}
	unit := reconcile.Work{RunID: "sweep-1", Account: "222222222222", Region: "eu-west-1", Accounts: org, Sweep: true}
	from := &bodySender{}
	if _, err := (workqueue.Queue{Client: from, URL: "https://sqs.eu-west-1.amazonaws.com/111111111111/work"}).Send(t.Context(), []reconcile.Work{unit}); err != nil {
		t.Fatal(err)
	}
	good := from.bodies[0]
	if !strings.Contains(good, `"accountsGz":"`) {
		t.Fatalf("the 5,000-account unit was sent plain (%d bytes)", len(good))
	}
	with := func(accountsGz string, accounts any) string {
		var m map[string]any
		if err := json.Unmarshal([]byte(good), &m); err != nil {
			t.Fatal(err)
		}
		m["accountsGz"], m["accounts"] = accountsGz, accounts
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	gz := func(b []byte) string {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		_, _ = zw.Write(b)
		_ = zw.Close()
		return base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	gzBytes, _ := base64.StdEncoding.DecodeString(strings.SplitN(strings.SplitN(good, `"accountsGz":"`, 2)[1], `"`, 2)[0])
	const name = `unit "222222222222"/"eu-west-1"`
	cases := map[string]struct{ body, want string }{
		// 16 MiB of "[" is about 16 KB of gzip: inflated whole it would
		// hold the worker's memory many times over.
		"bomb":        {with(gz(bytes.Repeat([]byte("["), 16<<20)), nil), "accountsGz of " + name + " inflates past 4194304 bytes"},
		"not base64":  {with("H4sI!!!not base64", nil), "accountsGz of " + name + " is not base64"},
		"not gzip":    {with(base64.StdEncoding.EncodeToString([]byte("plain text, no gzip header")), nil), "accountsGz of " + name + " is not gzip"},
		"cut short":   {with(base64.StdEncoding.EncodeToString(gzBytes[:len(gzBytes)/2]), nil), "accountsGz of " + name + " is not valid gzip: unexpected EOF"},
		"not a list":  {with(gz([]byte(`{"ID":"222222222222"}`)), nil), "accountsGz of " + name + " is not a list of accounts"},
		"bad account": {with(gz([]byte(`[{"ID":"222222222222","Status":"ACTIVE","OUPath":"o-a1b2c3d4e5/r-ab12/","Admin":true}]`)), nil), `accountsGz of ` + name + ` is not a list of accounts: json: unknown field "Admin"`},
		"both":        {with(gz([]byte(`[]`)), []map[string]string{{"ID": "222222222222"}}), name + " carries both accounts and accountsGz"},
		// The outer body's keys are checked for duplicates (decodeWork); so
		// are the accounts it carries compressed: encoding/json keeps the
		// last ID, and another reader the first.
		"key twice": {with(gz([]byte(`[{"ID":"222222222222","Status":"ACTIVE","OUPath":"o-a1b2c3d4e5/r-ab12/"},{"ID":"333333333333","ID":"222222222222","OUPath":"o-a1b2c3d4e5/r-ab12/"}]`)), nil),
			"accountsGz of " + name + ": accountsGz[1].ID: appears more than once in the same object"},
	}
	ev := events.SQSEvent{Records: []events.SQSMessage{{MessageId: "good", Body: good, EventSource: "aws:sqs"}}}
	for id, c := range cases {
		ev.Records = append(ev.Records, events.SQSMessage{MessageId: id, Body: c.body, EventSource: "aws:sqs"})
	}
	e, tr, to := &continuingEngine{stop: "222222222222"}, &fakeTrail{}, &bodySender{}
	h := &handler{decl: d, engine: e, trail: tr, queue: workqueue.Queue{Client: to, URL: "https://sqs.eu-west-1.amazonaws.com/111111111111/work"}, log: slog.New(slog.DiscardHandler)}
	resp, err := h.handle(t.Context(), ev)
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("handle = %+v, %v; want every message settled", resp, err)
	}
	if len(e.works) != 1 || !reflect.DeepEqual(e.works[0], unit) {
		t.Fatalf("engine ran %d units, want the good one with its 5,000 accounts", len(e.works))
	}
	if len(to.bodies) != 1 || !strings.Contains(to.bodies[0], `"accountsGz":"`) || !strings.Contains(to.bodies[0], `"after":"apps/r0399"`) {
		t.Fatalf("sent on %d bodies, want the rest of the unit, compressed", len(to.bodies))
	}
	var rest workqueue.Message
	if err := json.Unmarshal([]byte(to.bodies[0]), &rest); err != nil {
		t.Fatal(err)
	}
	if w, err := rest.Unit(); err != nil || !reflect.DeepEqual(w.Accounts, org) {
		t.Errorf("the rest sent on decodes to %d accounts, %v; want the unit's 5,000", len(w.Accounts), err)
	}
	got := map[string]string{}
	for _, r := range tr.recs {
		if r.Decision != audit.DecisionRejected || r.Target.AccountID != "222222222222" || r.Target.Region != "eu-west-1" {
			t.Errorf("record %+v, want a rejection of 222222222222/eu-west-1", r)
		}
		got[r.Trigger.EventID] = r.Error
	}
	for id, c := range cases {
		if !strings.Contains(got[id], c.want) {
			t.Errorf("%s: rejection %q, want it to contain %q", id, got[id], c.want)
		}
	}
}

// fakeHandler is the worker's handler around the deployed declaration, a
// fake engine and a fake audit trail (returned for the test's assertions).
func fakeHandler(t *testing.T) (*handler, *fakeEngine, *fakeTrail) {
	t.Helper()
	d, err := config.Load("../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	e, tr := &fakeEngine{}, &fakeTrail{}
	return &handler{decl: d, engine: e, trail: tr, log: slog.New(slog.DiscardHandler)}, e, tr
}
