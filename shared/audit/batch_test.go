package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// batchDB wraps the real client to count BatchWriteItem calls and, with
// failAfter, to fail every call after the first failAfter (a crash mid-batch).
type batchDB struct {
	*dynamodb.Client
	mu        sync.Mutex
	calls     int
	failAfter int // calls that succeed before every later one fails; 0 = never
}

func (b *batchDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	b.mu.Lock()
	b.calls++
	n := b.calls
	b.mu.Unlock()
	if b.failAfter > 0 && n > b.failAfter {
		return nil, errors.New("connection reset by peer (the process died)")
	}
	return b.Client.BatchWriteItem(ctx, in, opts...)
}

func intents(n int) []Record {
	out := make([]Record, n)
	for i := range out {
		r := writeIntent()
		r.Target.ARN = fmt.Sprintf("%s-%02d", repoARN, i)
		r.Target.Name = fmt.Sprintf("shared/app-%02d", i)
		out[i] = r
	}
	return out
}

// Thirty intents are stored pending in two calls (25 + 5) before any write,
// and their outcomes in two more; afterwards nothing is pending.
func TestBeginBatchThenFinishBatch(t *testing.T) {
	localaws.Need(t)
	tr, db, sink, c := setup(t)
	ctx := context.Background()
	bdb := &batchDB{Client: db}
	tr.db = bdb
	ps, err := tr.BeginBatch(ctx, intents(30))
	if err != nil {
		t.Fatal(err)
	}
	if bdb.calls != 2 {
		t.Fatalf("30 intents took %d BatchWriteItem calls, want 2", bdb.calls)
	}
	c.t = c.t.Add(time.Hour)
	stale, err := tr.Stale(ctx, c.t)
	if err != nil || len(stale) != 30 {
		t.Fatalf("pending before the writes: %d records (%v), want 30", len(stale), err)
	}
	outs := make([]Outcome, len(ps))
	for i, p := range ps {
		if p == nil {
			t.Fatalf("intent %d not stored", i)
		}
		outs[i] = Outcome{Pending: p}
	}
	outs[7].Err = errors.New("ThrottlingException: Rate exceeded")
	if err := tr.FinishBatch(ctx, outs); err != nil {
		t.Fatal(err)
	}
	if bdb.calls != 4 {
		t.Fatalf("30 outcomes took %d more BatchWriteItem calls, want 2", bdb.calls-2)
	}
	if stale, err := tr.Stale(ctx, c.t); err != nil || len(stale) != 0 {
		t.Fatalf("still pending after the outcomes: %d (%v)", len(stale), err)
	}
	for i, p := range ps {
		it := getItem(t, db, p.Record())
		want := "applied"
		if i == 7 {
			want = "failed"
		}
		if str(it, "decision") != want || str(it, "after") == "" || str(it, AttrPending) != "" {
			t.Fatalf("record %d: decision %q after %q pending %q, want %s with its documents", i, str(it, "decision"), str(it, "after"), str(it, AttrPending), want)
		}
		if i == 7 && !strings.Contains(str(it, "error"), "Throttling") {
			t.Fatalf("failed record lost its error: %q", str(it, "error"))
		}
	}
	// One log line per intent and one per outcome.
	if n := len(sink.all(t)); n != 60 {
		t.Fatalf("%d log lines, want 60", n)
	}
	if err := tr.FinishBatch(ctx, outs[:1]); err == nil {
		t.Fatal("a second outcome for the same record was accepted")
	}
}

// Items DynamoDB hands back unprocessed (throttling) are sent again until
// stored.
func TestBeginBatchRetriesUnprocessed(t *testing.T) {
	localaws.Need(t)
	tr, db, _, c := setup(t)
	ctx := context.Background()
	u := &unprocessedDB{Client: db, hold: 4}
	tr.db = u
	ps, err := tr.BeginBatch(ctx, intents(10))
	if err != nil {
		t.Fatal(err)
	}
	if u.calls != 2 {
		t.Fatalf("%d calls, want 2 (the second with the 4 unprocessed items)", u.calls)
	}
	for i, p := range ps {
		if p == nil {
			t.Fatalf("intent %d reported not stored", i)
		}
	}
	c.t = c.t.Add(time.Hour)
	if stale, err := tr.Stale(ctx, c.t); err != nil || len(stale) != 10 {
		t.Fatalf("%d pending records stored (%v), want 10", len(stale), err)
	}
}

// A crash in the middle of a batched intent write (the second call of two
// fails): the first 25 intents are stored and reported, the last 5 are not,
// so their writes must not happen; the stored ones stay visibly pending.
func TestBeginBatchCrashMidway(t *testing.T) {
	localaws.Need(t)
	tr, db, _, c := setup(t)
	ctx := context.Background()
	tr.db = &batchDB{Client: db, failAfter: 1}
	ps, err := tr.BeginBatch(ctx, intents(30))
	if err == nil || !strings.Contains(err.Error(), "storing 5 records") {
		t.Fatalf("err = %v, want the failed second call named", err)
	}
	for i, p := range ps {
		if (p != nil) != (i < 25) {
			t.Fatalf("intent %d: stored=%v, want %v", i, p != nil, i < 25)
		}
	}
	c.t = c.t.Add(time.Hour)
	stale, err := tr.Stale(ctx, c.t)
	if err != nil || len(stale) != 25 {
		t.Fatalf("%d pending records (%v), want the 25 stored", len(stale), err)
	}
}

// unprocessedDB stores all but the last hold items of its first call and
// returns those as UnprocessedItems, as DynamoDB does under throttling.
type unprocessedDB struct {
	*dynamodb.Client
	hold  int
	calls int
}

func (u *unprocessedDB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	u.calls++
	if u.calls > 1 || u.hold == 0 {
		return u.Client.BatchWriteItem(ctx, in, opts...)
	}
	send := &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{}}
	left := map[string][]types.WriteRequest{}
	for tbl, reqs := range in.RequestItems {
		k := max(len(reqs)-u.hold, 0)
		send.RequestItems[tbl], left[tbl] = reqs[:k], reqs[k:]
	}
	if _, err := u.Client.BatchWriteItem(ctx, send, opts...); err != nil {
		return nil, err
	}
	return &dynamodb.BatchWriteItemOutput{UnprocessedItems: left}, nil
}

// A unit's summary is stored with its counts, run and duration, found by
// Summaries (and not by other decisions' queries), and printed as a table.
func TestSummaryRecords(t *testing.T) {
	localaws.Need(t)
	tr, _, _, c := setup(t)
	ctx := context.Background()
	rec := Record{Decision: DecisionSummary, Op: "none",
		Trigger: Trigger{EventID: "run-42", EventType: "sweep", Source: "aws.events"},
		Target:  Target{ARN: UnitARN("222222222222", "us-east-1"), AccountID: "222222222222", Region: "us-east-1", Kind: "Unit"},
		Counts:  &Counts{Examined: 103, Unchanged: 100, Changed: 2, Refused: 1}, Duration: 1500 * time.Millisecond}
	if err := tr.Record(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := tr.Record(ctx, Record{Decision: DecisionSummary, Target: rec.Target}); err == nil {
		t.Fatal("a summary without counts was stored")
	}
	if _, err := tr.Begin(ctx, writeIntent()); err != nil {
		t.Fatal(err)
	}
	got, err := tr.Summaries(ctx, c.t.Add(-time.Minute), c.t.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || *got[0].Counts != *rec.Counts || got[0].Duration != rec.Duration || got[0].Trigger.EventID != "run-42" {
		t.Fatalf("summaries = %+v", got)
	}
	hist, err := tr.History(ctx, "unit/222222222222/us-east-1", 0)
	if err != nil || len(hist) != 1 {
		t.Fatalf("history of the unit: %d records (%v)", len(hist), err)
	}
	var buf bytes.Buffer
	if err := WriteSummaries(&buf, got); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"EXAMINED", "sweep run-42", "222222222222/us-east-1", "103", "1.5s"} {
		if !strings.Contains(buf.String(), want) {
			t.Fatalf("summary table lacks %q:\n%s", want, buf.String())
		}
	}
}
