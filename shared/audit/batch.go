package audit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// batchAPI is DynamoDB's BatchWriteItem: up to 25 puts in one call. It is
// optional (checked at run time) so an in-memory table that lacks it still
// works: the trail then stores a batch one PutItem at a time.
type batchAPI interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

var _ batchAPI = (*dynamodb.Client)(nil)

// MaxBatch is DynamoDB's limit of items in one BatchWriteItem.
const MaxBatch = 25

// unprocessedAttempts bounds the retries of items BatchWriteItem handed back
// unprocessed (it does so under throttling); the pause doubles from 25 ms.
const unprocessedAttempts = 8

// BeginBatch stores the write intents of a group of changes, 25 to a
// BatchWriteItem call, before any of their AWS writes. It returns one
// Pending per record, in order; a nil Pending means that intent is not
// known to be stored and its write must not happen (no record, no write).
// The error says why some (or all) were not stored; intents that were stored
// stay pending until FinishBatch, so a crash at any point leaves every
// intended write visible as pending or settled.
//
// BatchWriteItem puts carry no condition, so unlike Begin this relies on
// record ids being unique (80 random bits per millisecond), which NewID
// guarantees; a batch never overwrites another invocation's record.
func (t *Trail) BeginBatch(ctx context.Context, recs []Record) ([]*Pending, error) {
	out := make([]*Pending, len(recs))
	items := make([]map[string]types.AttributeValue, 0, len(recs))
	idx := make([]int, 0, len(recs))
	var errs []error
	for i := range recs {
		rec := recs[i]
		rec.Decision = DecisionPending
		if err := t.fill(ctx, &rec); err != nil {
			errs = append(errs, err)
			continue
		}
		it, err := attributevalue.MarshalMap(t.toItem(rec))
		if err != nil {
			errs = append(errs, fmt.Errorf("audit: encoding pending record for %s: %w", rec.Target.ARN, err))
			continue
		}
		recs[i] = rec
		items = append(items, it)
		idx = append(idx, i)
	}
	stored, err := t.putBatch(ctx, items)
	errs = append(errs, err)
	for k, ok := range stored {
		if !ok {
			continue
		}
		i := idx[k]
		t.emit(ctx, recs[i])
		out[i] = &Pending{trail: t, rec: recs[i]}
	}
	return out, errors.Join(errs...)
}

// Outcome is one write's result for FinishBatch: Err nil means applied,
// else failed, unless Decision says otherwise.
type Outcome struct {
	Pending *Pending
	Err     error
	// Decision, when set, is the outcome recorded instead of the one Err
	// implies, with Err as its note: a write whose call answered an error
	// is applied when reading the document again found it written.
	Decision Decision
}

// decision is the outcome o records and its note.
func (o Outcome) decision() (Decision, string) {
	d, msg := o.Decision, ""
	if o.Err != nil {
		msg = o.Err.Error()
	}
	if d == "" {
		d = DecisionApplied
		if o.Err != nil {
			d = DecisionFailed
		}
	}
	return d, msg
}

// FinishBatch stores the outcomes of writes begun with BeginBatch (or
// Begin), 25 to a call: each item is replaced by its settled form (applied
// or failed, the pending marker removed from the sparse index). Log lines
// come first: a write that happened is logged even if the table then fails,
// and the error says which outcomes were not stored (their records stay
// pending, and `make audit -stale` shows them).
func (t *Trail) FinishBatch(ctx context.Context, outs []Outcome) error {
	var errs []error
	if _, ok := t.db.(batchAPI); !ok {
		// One conditional update per outcome, as Applied and Failed do.
		for _, o := range outs {
			d, msg := o.decision()
			errs = append(errs, o.Pending.finish(ctx, d, msg))
		}
		return errors.Join(errs...)
	}
	items := make([]map[string]types.AttributeValue, 0, len(outs))
	recs := make([]Record, 0, len(outs))
	for _, o := range outs {
		p := o.Pending
		if p == nil || p.trail == nil {
			errs = append(errs, errors.New("audit: outcome recorded on a nil pending record"))
			continue
		}
		if p.done {
			errs = append(errs, fmt.Errorf("audit: record %s (%s) already has its outcome %s", p.rec.ID, p.rec.Target.ARN, p.rec.Decision))
			continue
		}
		p.done = true
		d, msg := o.decision()
		p.rec.Decision, p.rec.DecidedAt, p.rec.Error = d, t.now().UTC().Round(0), msg
		t.emit(ctx, p.rec)
		it, err := attributevalue.MarshalMap(t.toItem(p.rec))
		if err != nil {
			errs = append(errs, fmt.Errorf("audit: encoding outcome of %s: %w", p.rec.Target.ARN, err))
			continue
		}
		items = append(items, it)
		recs = append(recs, p.rec)
	}
	stored, err := t.putBatch(ctx, items)
	errs = append(errs, err)
	for k, ok := range stored {
		if !ok {
			errs = append(errs, fmt.Errorf("audit: outcome %s of %s %s (%s) not stored in table %s", recs[k].Decision, recs[k].Op, recs[k].Target.Kind, recs[k].Target.ARN, t.table))
		}
	}
	return errors.Join(errs...)
}

// putBatch stores items with BatchWriteItem, 25 at a time, retrying what
// DynamoDB hands back unprocessed. stored[i] reports whether items[i] is
// known to be stored.
func (t *Trail) putBatch(ctx context.Context, items []map[string]types.AttributeValue) ([]bool, error) {
	stored := make([]bool, len(items))
	db, ok := t.db.(batchAPI)
	if !ok {
		var errs []error
		for i, it := range items {
			_, err := t.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(t.table), Item: it})
			if err != nil {
				errs = append(errs, fmt.Errorf("audit: storing a record in table %s: %w", t.table, inTable(t.table, err)))
				continue
			}
			stored[i] = true
		}
		return stored, errors.Join(errs...)
	}
	var errs []error
	for lo := 0; lo < len(items); lo += MaxBatch {
		hi := min(lo+MaxBatch, len(items))
		if err := t.putChunk(ctx, db, items[lo:hi], stored[lo:hi]); err != nil {
			errs = append(errs, err)
		}
	}
	return stored, errors.Join(errs...)
}

// putChunk stores at most 25 items. Items come back unprocessed by key, so
// they are matched to their positions by the table key.
func (t *Trail) putChunk(ctx context.Context, db batchAPI, items []map[string]types.AttributeValue, stored []bool) error {
	key := func(it map[string]types.AttributeValue) string {
		pk, _ := it[attrPK].(*types.AttributeValueMemberS)
		sk, _ := it[attrSK].(*types.AttributeValueMemberS)
		if pk == nil || sk == nil {
			return ""
		}
		return pk.Value + "\x00" + sk.Value
	}
	pos := make(map[string]int, len(items))
	reqs := make([]types.WriteRequest, len(items))
	for i, it := range items {
		pos[key(it)] = i
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
	}
	pause := 25 * time.Millisecond
	for attempt := 1; ; attempt++ {
		out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{t.table: reqs}})
		if err != nil {
			return fmt.Errorf("audit: storing %d records in table %s: %w", len(reqs), t.table, inTable(t.table, err))
		}
		left := out.UnprocessedItems[t.table]
		pending := map[int]bool{}
		for _, r := range left {
			if r.PutRequest != nil {
				pending[pos[key(r.PutRequest.Item)]] = true
			}
		}
		for _, r := range reqs {
			if i := pos[key(r.PutRequest.Item)]; !pending[i] {
				stored[i] = true
			}
		}
		if len(left) == 0 {
			return nil
		}
		if attempt == unprocessedAttempts {
			return fmt.Errorf("audit: %d of the records stayed unprocessed in table %s after %d attempts (throttled)", len(left), t.table, attempt)
		}
		reqs = left
		d := pause/2 + rand.N(pause/2+1)
		tm := time.NewTimer(d)
		select {
		case <-ctx.Done():
			tm.Stop()
			return fmt.Errorf("audit: storing records in table %s: %w", t.table, ctx.Err())
		case <-tm.C:
		}
		pause = min(pause*2, time.Second)
	}
}

// RecordBatch stores decisions that write nothing to AWS (every decision
// Record takes), 25 to a BatchWriteItem call, as Record does one at a time. A dry run of a unit records its planned changes this way.
func (t *Trail) RecordBatch(ctx context.Context, recs []Record) error {
	items := make([]map[string]types.AttributeValue, 0, len(recs))
	var errs []error
	for _, rec := range recs {
		if err := rec.checkWithoutWrite(); err != nil {
			errs = append(errs, err)
			continue
		}
		if rec.Decision.short() {
			rec.Before, rec.After, rec.Diff = "", "", ""
		}
		if err := t.fill(ctx, &rec); err != nil {
			errs = append(errs, err)
			continue
		}
		t.emit(ctx, rec)
		it, err := attributevalue.MarshalMap(t.toItem(rec))
		if err != nil {
			errs = append(errs, fmt.Errorf("audit: encoding %s record for %s: %w", rec.Decision, rec.Target.ARN, err))
			continue
		}
		items = append(items, it)
	}
	_, err := t.putBatch(ctx, items)
	return errors.Join(append(errs, err)...)
}
