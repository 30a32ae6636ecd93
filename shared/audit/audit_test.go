package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

var server *localaws.Server

func TestMain(m *testing.M) { localaws.Main(m, &server) }

const table = "audit-test"

// lines is a concurrency-safe log sink that splits JSON lines.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lines) all(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, ln := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		if ln == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(ln), &m); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, ln)
		}
		out = append(out, m)
	}
	return out
}

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// setup resets moto, creates the table and returns a trail, its client,
// its log sink and its clock.
func setup(t *testing.T) (*Trail, *dynamodb.Client, *lines, *clock) {
	t.Helper()
	localaws.Need(t)
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db := dynamodb.NewFromConfig(server.Config("us-east-1"))
	if err := CreateTable(ctx, db, table); err != nil {
		t.Fatal(err)
	}
	sink := &lines{}
	c := &clock{t: time.Date(2025, 3, 1, 23, 59, 58, 0, time.UTC)}
	tr, err := New(db, table, Options{Logger: slog.New(slog.NewJSONHandler(sink, nil)), Now: c.now, Function: "warden-test"})
	if err != nil {
		t.Fatal(err)
	}
	return tr, db, sink, c
}

const repoARN = "arn:aws:ecr:us-east-1:222222222222:repository/shared/app"

func writeIntent() Record {
	return Record{
		Op:      "update",
		Trigger: Trigger{EventID: "ev-1", EventType: "AWS API Call via CloudTrail/CreateRepository", Source: "aws.ecr"},
		Actor:   Actor{ARN: "arn:aws:sts::222222222222:assumed-role/dev/alice", PrincipalID: "AROA:alice", Type: "AssumedRole", AccountID: "222222222222"},
		Target:  Target{ARN: repoARN, AccountID: "222222222222", Region: "us-east-1", Kind: "ECRRepositoryPolicy", Name: "shared/app"},
		Before:  `{"Version":"2012-10-17","Statement":[]}`,
		After:   `{"Version":"2012-10-17","Statement":[{"Sid":"EcrWardenPull"}]}`,
		Diff:    "+ EcrWardenPull",
	}
}

// getItem reads the raw stored item of a record.
func getItem(t *testing.T, db *dynamodb.Client, r Record) map[string]types.AttributeValue {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table),
		Key: map[string]types.AttributeValue{
			AttrPK: &types.AttributeValueMemberS{Value: r.Target.ARN},
			AttrSK: &types.AttributeValueMemberS{Value: sortKey(r.Time, r.ID)},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

func str(it map[string]types.AttributeValue, k string) string {
	if v, ok := it[k].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// The intent is in the table before the caller's write runs, and the same
// item moves pending -> applied, losing its pending-index attribute.
func TestBeginStoresIntentBeforeWriteThenApplied(t *testing.T) {
	localaws.Need(t)
	tr, db, sink, _ := setup(t)
	ctx := context.Background()
	p, err := tr.Begin(ctx, writeIntent())
	if err != nil {
		t.Fatal(err)
	}
	// The "AWS write" happens here; the record must already be visible.
	it := getItem(t, db, p.Record())
	if got := str(it, "decision"); got != "pending" {
		t.Fatalf("before the write: decision %q, want pending", got)
	}
	if str(it, AttrPending) != "pending" || str(it, "after") == "" || str(it, "diff") != "+ EcrWardenPull" {
		t.Fatalf("pending item lacks the pending flag or documents: %v", it)
	}
	if err := p.Applied(ctx); err != nil {
		t.Fatal(err)
	}
	it = getItem(t, db, p.Record())
	if got := str(it, "decision"); got != "applied" {
		t.Fatalf("after Applied: decision %q, want applied", got)
	}
	if _, ok := it[AttrPending]; ok {
		t.Fatalf("applied item still carries %q: it would show up as a crashed write", AttrPending)
	}
	if str(it, "decidedAt") == "" {
		t.Fatal("applied item has no decidedAt")
	}
	if err := p.Applied(ctx); err == nil {
		t.Fatal("a second outcome on the same record was accepted")
	}
	hist, err := tr.History(ctx, repoARN, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Decision != DecisionApplied || hist[0].After != writeIntent().After {
		t.Fatalf("history = %+v, want one applied record with the after document", hist)
	}
	var decisions []string
	for _, l := range sink.all(t) {
		decisions = append(decisions, l["audit"].(map[string]any)["decision"].(string))
	}
	if want := []string{"pending", "applied"}; !reflect.DeepEqual(decisions, want) {
		t.Fatalf("log decisions = %v, want %v", decisions, want)
	}
}

func TestPendingThenFailedKeepsError(t *testing.T) {
	localaws.Need(t)
	tr, db, sink, _ := setup(t)
	ctx := context.Background()
	p, err := tr.Begin(ctx, writeIntent())
	if err != nil {
		t.Fatal(err)
	}
	werr := errors.New("setting repository policy (" + repoARN + "): ThrottlingException: Rate exceeded")
	if err := p.Failed(ctx, werr); err != nil {
		t.Fatal(err)
	}
	it := getItem(t, db, p.Record())
	if str(it, "decision") != "failed" || str(it, "error") != werr.Error() {
		t.Fatalf("failed item = %v", it)
	}
	stale, err := tr.Stale(ctx, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 0 {
		t.Fatalf("a failed write is listed as stale pending: %+v", stale)
	}
	l := sink.all(t)
	if last := l[len(l)-1]; last["level"] != "ERROR" || last["audit"].(map[string]any)["error"] != werr.Error() {
		t.Fatalf("failed log line = %v", last)
	}
}

// If the record cannot be stored (table missing), Begin fails, so the
// caller never writes to AWS unaudited.
func TestBeginFailsWhenTableMissing(t *testing.T) {
	localaws.Need(t)
	_, db, _, c := setup(t)
	tr, err := New(db, "no-such-table", Options{Now: c.now, Logger: slog.New(slog.NewJSONHandler(&lines{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	p, err := tr.Begin(context.Background(), writeIntent())
	if err == nil || p != nil {
		t.Fatalf("Begin on a missing table: pending=%v err=%v, want an error", p, err)
	}
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) || !strings.Contains(err.Error(), "no-such-table") || !strings.Contains(err.Error(), repoARN) {
		t.Fatalf("error should wrap ResourceNotFound and name table and target: %v", err)
	}
	// And say where the name comes from and what creates the table.
	for _, want := range []string{"no audit table no-such-table in this account and region", "WARDEN_AUDIT_TABLE", "EcrWarden-Hub-<region>",
		"in the hub account (the declaration's hub.accountId"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if _, err := tr.History(context.Background(), repoARN, 0); err == nil || !strings.Contains(err.Error(), "no audit table no-such-table") {
		t.Errorf("History on a missing table: %v", err)
	}
}

func TestBeginRejectsIncompleteRecords(t *testing.T) {
	localaws.Need(t)
	tr, _, _, _ := setup(t)
	ctx := context.Background()
	r := writeIntent()
	r.Target.ARN = ""
	if _, err := tr.Begin(ctx, r); err == nil || !strings.Contains(err.Error(), "no target ARN") {
		t.Fatalf("Begin without target: %v", err)
	}
	r = writeIntent()
	r.Op = ""
	if _, err := tr.Begin(ctx, r); err == nil || !strings.Contains(err.Error(), "no op") {
		t.Fatalf("Begin without op: %v", err)
	}
	r = writeIntent()
	r.Decision = DecisionApplied
	if err := tr.Record(ctx, r); err == nil || !strings.Contains(err.Error(), "use Begin") {
		t.Fatalf("Record(applied): %v", err)
	}
}

// A stale pending record (a crash between intent and outcome) is listed by
// Stale; fresh ones are not.
func TestStaleFindsCrashedWrites(t *testing.T) {
	localaws.Need(t)
	tr, _, _, c := setup(t)
	ctx := context.Background()
	crashed, err := tr.Begin(ctx, writeIntent())
	if err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Hour)
	if _, err := tr.Begin(ctx, writeIntent()); err != nil {
		t.Fatal(err)
	}
	stale, err := tr.Stale(ctx, c.t.Add(-15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 1 || stale[0].ID != crashed.Record().ID || stale[0].Decision != DecisionPending {
		t.Fatalf("stale = %+v, want only the crashed record %s", stale, crashed.Record().ID)
	}
}

// A write recorded unknown (no definite answer, not settled by a re-read)
// stays in the by-pending index until a later writer or the sweep settles it
// from what AWS holds, on DynamoDB's condition "pending or unknown".
func TestUnknownOutcomeStaysStaleUntilSettled(t *testing.T) {
	localaws.Need(t)
	tr, _, _, c := setup(t)
	ctx := context.Background()
	p, err := tr.Begin(ctx, writeIntent())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Settle(ctx, DecisionUnknown, "outcome unknown: connection reset"); err != nil {
		t.Fatal(err)
	}
	c.t = c.t.Add(time.Hour)
	stale, err := tr.Stale(ctx, c.t.Add(-15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 1 || stale[0].Decision != DecisionUnknown || !strings.Contains(stale[0].Error, "connection reset") {
		t.Fatalf("stale = %+v, want the unknown record with its error", stale)
	}
	if err := tr.Resume(stale[0]).Settle(ctx, DecisionApplied, "settled by the sweep"); err != nil {
		t.Fatalf("settling the unknown record: %v", err)
	}
	if stale, err = tr.Stale(ctx, c.t); err != nil || len(stale) != 0 {
		t.Fatalf("stale after settling = %+v, %v; want none", stale, err)
	}
}

// Noop and rejected records are short (no documents) and expire; refused
// ones keep their documents.
func TestRecordShortDecisions(t *testing.T) {
	localaws.Need(t)
	tr, db, _, c := setup(t)
	ctx := context.Background()
	noop := writeIntent()
	noop.Decision, noop.Op = DecisionNoop, "none"
	if err := tr.Record(ctx, noop); err != nil {
		t.Fatal(err)
	}
	rej := Record{Decision: DecisionRejected, Trigger: Trigger{EventID: "ev-bad", EventType: "AWS API Call via CloudTrail/CreateRepository", Source: "aws.ecr"},
		Error: "event ev-bad: errorCode RepositoryAlreadyExistsException: the call failed", Before: "x"}
	if err := tr.Record(ctx, rej); err != nil {
		t.Fatal(err)
	}
	ref := writeIntent()
	ref.Decision, ref.Error = DecisionRefused, "policy is 10301 characters, over the 10240 limit: use principalMode condition"
	if err := tr.Record(ctx, ref); err != nil {
		t.Fatal(err)
	}
	hist, err := tr.History(ctx, repoARN, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Decision != DecisionNoop || hist[1].Decision != DecisionRefused {
		t.Fatalf("history = %+v, want noop then refused", hist)
	}
	if hist[0].Before != "" || hist[0].After != "" || hist[0].Diff != "" {
		t.Fatalf("noop record kept documents: %+v", hist[0])
	}
	if hist[1].After == "" || hist[1].Error == "" {
		t.Fatalf("refused record lost its document or error: %+v", hist[1])
	}
	it := getItem(t, db, hist[0])
	exp, ok := it[AttrExpiresAt].(*types.AttributeValueMemberN)
	if !ok || exp.Value != fmt.Sprint(c.t.Add(DefaultShortRetention).Unix()) {
		t.Fatalf("noop expiresAt = %v, want %d", it[AttrExpiresAt], c.t.Add(DefaultShortRetention).Unix())
	}
	if _, ok := getItem(t, db, hist[1])[AttrExpiresAt]; ok {
		t.Fatal("refused record expires; it should be kept")
	}
	byEvent, err := tr.History(ctx, "event/ev-bad", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(byEvent) != 1 || byEvent[0].Before != "" || byEvent[0].Error != rej.Error {
		t.Fatalf("rejected record by event = %+v", byEvent)
	}
}

// History answers by ARN and by bare repository name; the name spans
// accounts; limit keeps the latest records in time order.
func TestHistoryByARNAndByName(t *testing.T) {
	localaws.Need(t)
	tr, _, _, c := setup(t)
	ctx := context.Background()
	other := writeIntent()
	other.Target.ARN = "arn:aws:ecr:us-east-1:333333333333:repository/shared/app"
	other.Target.AccountID = "333333333333"
	unrelated := writeIntent()
	unrelated.Target.ARN = "arn:aws:ecr:us-east-1:222222222222:repository/shared/other"
	unrelated.Target.Name = "shared/other"
	for i, r := range []Record{writeIntent(), other, unrelated, writeIntent()} {
		c.t = c.t.Add(time.Second)
		r.Trigger.EventID = fmt.Sprint("ev-", i)
		p, err := tr.Begin(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Applied(ctx); err != nil {
			t.Fatal(err)
		}
	}
	byARN, err := tr.History(ctx, repoARN, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := events(byARN); !reflect.DeepEqual(got, []string{"ev-0", "ev-3"}) {
		t.Fatalf("history by ARN = %v", got)
	}
	byName, err := tr.History(ctx, "shared/app", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := events(byName); !reflect.DeepEqual(got, []string{"ev-0", "ev-1", "ev-3"}) {
		t.Fatalf("history by name = %v", got)
	}
	latest, err := tr.History(ctx, "shared/app", 2)
	if err != nil {
		t.Fatal(err)
	}
	if got := events(latest); !reflect.DeepEqual(got, []string{"ev-1", "ev-3"}) {
		t.Fatalf("history by name, limit 2 = %v", got)
	}
	if _, err := tr.History(ctx, " ", 0); err == nil {
		t.Fatal("empty resource accepted")
	}
}

func events(rs []Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Trigger.EventID)
	}
	return out
}

// A window across midnight reads both days' partitions and nothing outside.
func TestWindowAcrossTwoDays(t *testing.T) {
	localaws.Need(t)
	tr, _, _, c := setup(t)
	ctx := context.Background()
	start := c.t // 2025-03-01T23:59:58Z
	for i, off := range []time.Duration{-time.Hour, 0, time.Second, 3 * time.Second, 26 * time.Hour} {
		c.t = start.Add(off)
		r := writeIntent()
		r.Decision, r.Op, r.Trigger.EventID = DecisionNoop, "none", fmt.Sprint("ev-", i)
		if err := tr.Record(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	got, err := tr.Window(ctx, start, start.Add(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if ev := events(got); !reflect.DeepEqual(ev, []string{"ev-1", "ev-2", "ev-3"}) {
		t.Fatalf("window = %v, want ev-1..ev-3 (two on 03-01, one on 03-02)", ev)
	}
	if dayOf(got[0].Time) == dayOf(got[2].Time) {
		t.Fatal("test does not cross midnight")
	}
	if _, err := tr.Window(ctx, start, start.Add(-time.Second)); err == nil {
		t.Fatal("reversed window accepted")
	}
}

// The slog line's audit group holds exactly the stored record's fields.
func TestLogLineEqualsRecord(t *testing.T) {
	localaws.Need(t)
	tr, _, sink, _ := setup(t)
	ctx := context.Background()
	r := writeIntent()
	r.RequestID, r.DryRun = "req-1", false
	p, err := tr.Begin(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Failed(ctx, errors.New("boom")); err != nil {
		t.Fatal(err)
	}
	plan := writeIntent()
	plan.Decision, plan.DryRun = DecisionPlanned, true
	if err := tr.Record(ctx, plan); err != nil {
		t.Fatal(err)
	}
	hist, err := tr.History(ctx, repoARN, 0)
	if err != nil {
		t.Fatal(err)
	}
	ls := sink.all(t)
	if len(ls) != 3 || len(hist) != 2 {
		t.Fatalf("%d log lines and %d records, want 3 and 2", len(ls), len(hist))
	}
	// Line 2 is the failed outcome of record 0; line 3 is the planned record.
	for i, pair := range [][2]int{{1, 0}, {2, 1}} {
		raw, _ := json.Marshal(ls[pair[0]]["audit"])
		var logged Record
		if err := json.Unmarshal(raw, &logged); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(logged, hist[pair[1]]) {
			t.Fatalf("case %d: log line record\n%+v\nstored record\n%+v", i, logged, hist[pair[1]])
		}
		if logged.Function != "warden-test" {
			t.Fatalf("function not filled: %+v", logged)
		}
	}
	if hist[1].Decision != DecisionPlanned || !hist[1].DryRun || hist[1].Diff == "" {
		t.Fatalf("planned record = %+v", hist[1])
	}
}

func TestNewIDSortsByTimeAndIsUnique(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	seen := map[string]bool{}
	prev := ""
	for i := range 1000 {
		id := NewID(t0.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 26 || seen[id] || id <= prev {
			t.Fatalf("id %d = %q (prev %q): want 26 chars, unique, increasing", i, id, prev)
		}
		seen[id], prev = true, id
	}
}

func TestNewRequiresTable(t *testing.T) {
	localaws.Need(t)
	if _, err := New(dynamodb.NewFromConfig(server.Config("us-east-1")), "", Options{}); err == nil ||
		!strings.Contains(err.Error(), "WARDEN_AUDIT_TABLE") {
		t.Fatalf("New with empty table: %v", err)
	}
}

// BenchmarkBeginApplied measures the audit cost of one write (PutItem then
// UpdateItem) against the local AWS.
func BenchmarkBeginApplied(b *testing.B) {
	if err := server.Reset(); err != nil {
		b.Fatal(err)
	}
	db := dynamodb.NewFromConfig(server.Config("us-east-1"))
	ctx := context.Background()
	if err := CreateTable(ctx, db, table); err != nil {
		b.Fatal(err)
	}
	tr, err := New(db, table, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		p, err := tr.Begin(ctx, writeIntent())
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Applied(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// A stored intent or outcome whose answer was lost (DynamoDB answered a 500
// after storing it; the SDK retried, and the retry's condition failed on
// what the first attempt stored) is stored: Begin hands back the pending
// record, so its write may go ahead, and Applied succeeds. Before, Begin
// failed (no write, the intent left pending until the sweep) and Applied
// failed an invocation whose write and outcome were both stored. A record
// that is not the caller's still refuses.
func TestLostAnswersOfStoredRecords(t *testing.T) {
	localaws.Need(t)
	_, _, _, c := setup(t)
	p := localaws.NewServerProxy(server)
	defer p.Close()
	cfg := p.Config("us-east-1")
	// Retry 5xx as a function's client does, without the harness's call
	// id (with it the local AWS would answer the retry from its first
	// answer; DynamoDB has no idempotency token for these calls).
	cfg.APIOptions = nil
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 3; o.MaxBackoff = 10 * time.Millisecond })
	}
	db := dynamodb.NewFromConfig(cfg)
	tr, err := New(db, table, Options{Logger: slog.New(slog.DiscardHandler), Now: c.now, Function: "warden-test"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	p.Inject("PutItem", localaws.LostAnswer(http.StatusInternalServerError, 1))
	pend, err := tr.Begin(ctx, writeIntent())
	if err != nil {
		t.Fatalf("Begin after a lost answer: %v, want the stored intent", err)
	}
	if n := p.Count("dynamodb", "PutItem"); n != 2 {
		t.Errorf("PutItem calls = %d, want 2 (the lost answer and the SDK's retry)", n)
	}
	if got := str(getItem(t, db, pend.Record()), "decision"); got != "pending" {
		t.Fatalf("stored decision %q, want pending", got)
	}

	p.Inject("UpdateItem", localaws.LostAnswer(http.StatusInternalServerError, 1))
	if err := pend.Applied(ctx); err != nil {
		t.Fatalf("Applied after a lost answer: %v, want nil (the outcome is stored)", err)
	}
	it := getItem(t, db, pend.Record())
	if got := str(it, "decision"); got != "applied" {
		t.Fatalf("stored decision %q, want applied", got)
	}
	if _, ok := it[AttrPending]; ok {
		t.Fatal("the applied record is still in the pending index")
	}

	// An outcome someone else stored still refuses another.
	other, err := tr.Begin(ctx, writeIntent())
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Resume(other.Record()).Failed(ctx, errors.New("settled by another writer")); err != nil {
		t.Fatal(err)
	}
	if err := other.Applied(ctx); err == nil {
		t.Fatal("Applied over another writer's failed outcome was accepted")
	}
}
