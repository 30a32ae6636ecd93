package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ecr-warden/ecr-warden/shared/install"
)

// dynamoAPI is the part of DynamoDB the trail uses: put a record, update its
// outcome, query histories.
type dynamoAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ dynamoAPI = (*dynamodb.Client)(nil)

// DefaultTable is the audit table's name in an installation without a name
// prefix (infra/app: Names.Resource(install.AuditTable)): what make audit
// reads unless told otherwise, and the table the local runs create.
const DefaultTable = install.Base + "-" + install.AuditTable

// DefaultShortRetention is how long noop and rejected records live: they
// prove the warden looked, and are numerous, so they expire via DynamoDB TTL.
const DefaultShortRetention = 90 * 24 * time.Hour

// Options tune a Trail. The zero value is usable.
type Options struct {
	// Logger receives one JSON line per decision; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests set it); nil means time.Now.
	Now func() time.Time
	// ShortRetention is the TTL of noop and rejected records; 0 means
	// DefaultShortRetention, negative keeps them forever.
	ShortRetention time.Duration
	// Function names the writer in records; "" means the Lambda function
	// name from the environment.
	Function string
	// Writer is the ARN ecr-warden acts as (the function's role), stored in
	// every record as Record.Writer.
	Writer string
	// DeclarationSHA256 is the hex SHA-256 of the declaration in force,
	// stored in every record.
	DeclarationSHA256 string
}

// Trail stores audit records in one DynamoDB table. It is safe for
// concurrent use.
type Trail struct {
	db     dynamoAPI
	table  string
	log    *slog.Logger
	now    func() time.Time
	retain time.Duration
	fn     string
	writer string
	declSH string
}

// New returns a Trail writing to table. The table must have the key schema
// CreateTable builds.
func New(db dynamoAPI, table string, opt Options) (*Trail, error) {
	if table == "" {
		return nil, errors.New("audit: table name is empty (set WARDEN_AUDIT_TABLE)")
	}
	if db == nil {
		return nil, fmt.Errorf("audit: no DynamoDB client for table %s", table)
	}
	t := &Trail{db: db, table: table, log: opt.Logger, now: opt.Now, retain: opt.ShortRetention, fn: opt.Function,
		writer: opt.Writer, declSH: opt.DeclarationSHA256}
	if t.log == nil {
		t.log = slog.Default()
	}
	if t.now == nil {
		t.now = time.Now
	}
	if t.retain == 0 {
		t.retain = DefaultShortRetention
	}
	if t.fn == "" {
		t.fn = lambdacontext.FunctionName
	}
	return t, nil
}

// Table is the table name the trail writes to.
func (t *Trail) Table() string { return t.table }

// Pending is a stored write intent. Exactly one of Applied or Failed should
// follow the AWS write; if neither does, the record stays visibly pending.
type Pending struct {
	trail *Trail
	rec   Record
	done  bool
}

// Record is a copy of the stored intent.
func (p *Pending) Record() Record { return p.rec }

// Begin stores rec as a pending write intent, before the AWS write. The put is
// conditional on the item not existing, so a record is never overwritten. If
// Begin returns an error the caller must not write to AWS: an unaudited
// write is worse than a retried invocation.
func (t *Trail) Begin(ctx context.Context, rec Record) (*Pending, error) {
	rec.Decision = DecisionPending
	if err := t.fill(ctx, &rec); err != nil {
		return nil, err
	}
	if err := t.put(ctx, rec); err != nil {
		return nil, err
	}
	t.emit(ctx, rec)
	return &Pending{trail: t, rec: rec}, nil
}

// Resume returns the stored pending record rec (read back with History or
// Stale) as a Pending, so a later writer of the same document can settle a
// write whose process died between intent and outcome.
func (t *Trail) Resume(rec Record) *Pending {
	return &Pending{trail: t, rec: rec}
}

// Settle records the outcome of a pending write from what AWS holds:
// applied when it holds the intended document, failed otherwise; note says
// who settled it and what AWS held. A later writer settles a write whose
// process died (see Resume); a writer settles its own write whose call
// answered an error, after reading the document again (shared/apply).
// A write whose own writer could not tell settles as unknown, which a
// later Settle may settle again; one AWS refused for the document it
// carries settles as refused.
func (p *Pending) Settle(ctx context.Context, d Decision, note string) error {
	if d != DecisionApplied && d != DecisionFailed && d != DecisionUnknown && d != DecisionRefused {
		return fmt.Errorf("audit: a pending write settles as applied, failed, unknown or refused, not %q", d)
	}
	return p.finish(ctx, d, note)
}

// Applied records that the write succeeded, on the same item (pending ->
// applied). The log line is emitted first: the write happened even if the
// table update then fails, and the error is returned so the caller can say so.
func (p *Pending) Applied(ctx context.Context) error {
	return p.finish(ctx, DecisionApplied, "")
}

// Failed records that the write returned werr, on the same item (pending ->
// failed).
func (p *Pending) Failed(ctx context.Context, werr error) error {
	msg := "unknown error"
	if werr != nil {
		msg = werr.Error()
	}
	return p.finish(ctx, DecisionFailed, msg)
}

func (p *Pending) finish(ctx context.Context, d Decision, msg string) error {
	if p == nil || p.trail == nil {
		return errors.New("audit: outcome recorded on a nil pending record")
	}
	if p.done {
		return fmt.Errorf("audit: record %s (%s) already has its outcome %s", p.rec.ID, p.rec.Target.ARN, p.rec.Decision)
	}
	t := p.trail
	p.rec.Decision, p.rec.DecidedAt, p.rec.Error = d, t.now().UTC().Round(0), msg
	p.done = true
	t.emit(ctx, p.rec)
	names := map[string]string{"#d": attrDecision, "#at": attrDecidedAt}
	values := map[string]types.AttributeValue{
		":d":       &types.AttributeValueMemberS{Value: string(d)},
		":at":      &types.AttributeValueMemberS{Value: p.rec.DecidedAt.Format(sortKeyLayout)},
		":pending": &types.AttributeValueMemberS{Value: string(DecisionPending)},
		":unknown": &types.AttributeValueMemberS{Value: string(DecisionUnknown)},
	}
	update := "SET #d = :d, #at = :at"
	if msg != "" {
		names["#e"] = attrError
		values[":e"] = &types.AttributeValueMemberS{Value: msg}
		update += ", #e = :e"
	}
	if !d.open() {
		names["#p"] = attrPending
		update += " REMOVE #p"
	}
	_, err := t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(t.table),
		Key: map[string]types.AttributeValue{
			attrPK: &types.AttributeValueMemberS{Value: p.rec.Target.ARN},
			attrSK: &types.AttributeValueMemberS{Value: sortKey(p.rec.Time, p.rec.ID)},
		},
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String("#d = :pending OR #d = :unknown"),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) && attrString(ccf.Item, attrDecision) == string(d) && attrString(ccf.Item, attrDecidedAt) == p.rec.DecidedAt.Format(sortKeyLayout) {
		// The SDK retried an update whose first attempt stored this
		// very outcome (its decision and decision time) but whose answer
		// was lost: the outcome is stored.
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit: recording outcome %s of %s %s (%s) in table %s: %w",
			d, p.rec.Op, p.rec.Target.Kind, p.rec.Target.ARN, t.table, inTable(t.table, err))
	}
	return nil
}

// Record stores a decision that writes nothing to AWS: planned (dry run),
// noop, rejected or refused. Noop and rejected records are kept short: their
// documents and diff are dropped and they expire after the short retention.
func (t *Trail) Record(ctx context.Context, rec Record) error {
	if err := rec.checkWithoutWrite(); err != nil {
		return err
	}
	if rec.Decision.short() {
		rec.Before, rec.After, rec.Diff = "", "", ""
	}
	if err := t.fill(ctx, &rec); err != nil {
		return err
	}
	// Log first: a decision that was taken is worth a log line even when
	// the table is unavailable.
	t.emit(ctx, rec)
	return t.put(ctx, rec)
}

// fill sets the id, time and invocation fields and checks what the key needs.
func (t *Trail) fill(ctx context.Context, rec *Record) error {
	if rec.Time.IsZero() {
		rec.Time = t.now()
	}
	rec.Time = rec.Time.UTC().Round(0)
	if rec.ID == "" {
		rec.ID = NewID(rec.Time)
	}
	if rec.Function == "" {
		rec.Function = t.fn
	}
	if rec.Writer == "" {
		rec.Writer = t.writer
	}
	if rec.DeclarationSHA256 == "" {
		rec.DeclarationSHA256 = t.declSH
	}
	if rec.RequestID == "" {
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			rec.RequestID = lc.AwsRequestID
		}
	}
	if rec.Target.ARN == "" {
		if rec.Decision != DecisionRejected {
			return fmt.Errorf("audit: %s record for %s %s has no target ARN", rec.Decision, rec.Op, rec.Target.Kind)
		}
		// A rejected event may name no resource; key it by the event so
		// the window query still finds it.
		ref := rec.Trigger.EventID
		if ref == "" {
			ref = rec.ID
		}
		rec.Target.ARN = "event/" + ref
	}
	if (rec.Decision == DecisionPending || rec.Decision == DecisionPlanned) && rec.Op == "" {
		return fmt.Errorf("audit: %s record for %s (%s) has no op", rec.Decision, rec.Target.ARN, rec.Target.Kind)
	}
	return nil
}

// put stores rec as a new item; it never overwrites an existing one.
func (t *Trail) put(ctx context.Context, rec Record) error {
	it, err := attributevalue.MarshalMap(t.toItem(rec))
	if err != nil {
		return fmt.Errorf("audit: encoding %s record for %s: %w", rec.Decision, rec.Target.ARN, err)
	}
	_, err = t.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                           aws.String(t.table),
		Item:                                it,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": attrPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) && attrString(ccf.Item, "id") == rec.ID {
		// The SDK retried a put whose first attempt stored this very
		// record (ids are unique: 80 random bits per millisecond) but
		// whose answer was lost: the record is stored. Refusing it as
		// not stored would stop the write it announces, and leave it
		// pending until the sweep settles it.
		return nil
	}
	if err != nil {
		return fmt.Errorf("audit: storing %s record for %s %s (%s) in table %s: %w",
			rec.Decision, rec.Op, rec.Target.Kind, rec.Target.ARN, t.table, inTable(t.table, err))
	}
	return nil
}

// attrString is item's string attribute name, "" when absent.
func attrString(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// emit writes the one slog line of a decision: info for the normal flow,
// warn for refusals and rejections, error for failed writes.
func (t *Trail) emit(ctx context.Context, rec Record) {
	level := slog.LevelInfo
	switch rec.Decision {
	case DecisionFailed, DecisionUnknown:
		level = slog.LevelError
	case DecisionRefused, DecisionRejected:
		level = slog.LevelWarn
	}
	attrs := append([]slog.Attr{slog.Any("audit", rec)}, metricAttrs(rec, t.now())...)
	t.log.LogAttrs(ctx, level, "audit "+string(rec.Decision), attrs...)
}

// DynamoDB attribute names. Exported names are the schema other packages
// (the CDK table definition) must match.
const (
	// AttrPK is the partition key (S): the target ARN.
	AttrPK = "pk"
	// AttrSK is the sort key (S): "<RFC3339 time, 9-digit fraction, UTC>#<id>".
	AttrSK = "sk"
	// AttrDay (S, YYYY-MM-DD UTC) partitions the by-day index.
	AttrDay = "day"
	// AttrName (S) is the target's short name; present only when known.
	AttrName = "name"
	// AttrPending (S, always "pending") exists only while a write is pending
	// or its outcome unknown, which makes the by-pending index sparse.
	AttrPending = "pending"
	// AttrExpiresAt (N, epoch seconds) is the TTL attribute; only noop and
	// rejected records carry it.
	AttrExpiresAt = "expiresAt"

	// IndexByDay answers "what happened in this time window".
	IndexByDay = "by-day"
	// IndexByName answers "what happened to the repository named X".
	IndexByName = "by-name"
	// IndexByPending lists writes that never got an outcome.
	IndexByPending = "by-pending"
)

const (
	attrPK        = AttrPK
	attrSK        = AttrSK
	attrPending   = AttrPending
	attrDecision  = "decision"
	attrDecidedAt = "decidedAt"
	attrError     = "error"
)

// item is the stored shape: the record flattened, plus the key attributes.
type item struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	Day       string `dynamodbav:"day"`
	Name      string `dynamodbav:"name,omitempty"`
	Pending   string `dynamodbav:"pending,omitempty"`
	ExpiresAt int64  `dynamodbav:"expiresAt,omitempty"`

	ID          string `dynamodbav:"id"`
	Time        string `dynamodbav:"time"`
	DecidedAt   string `dynamodbav:"decidedAt,omitempty"`
	Decision    string `dynamodbav:"decision"`
	Op          string `dynamodbav:"op,omitempty"`
	EventID     string `dynamodbav:"eventId,omitempty"`
	EventType   string `dynamodbav:"eventType,omitempty"`
	Source      string `dynamodbav:"source,omitempty"`
	ActorARN    string `dynamodbav:"actorArn,omitempty"`
	PrincipalID string `dynamodbav:"actorPrincipalId,omitempty"`
	ActorType   string `dynamodbav:"actorType,omitempty"`
	ActorAcct   string `dynamodbav:"actorAccountId,omitempty"`
	InvokedBy   string `dynamodbav:"actorInvokedBy,omitempty"`
	AccountID   string `dynamodbav:"accountId,omitempty"`
	Region      string `dynamodbav:"region,omitempty"`
	Kind        string `dynamodbav:"kind,omitempty"`
	Before      string `dynamodbav:"before,omitempty"`
	After       string `dynamodbav:"after,omitempty"`
	Diff        string `dynamodbav:"diff,omitempty"`
	Error       string `dynamodbav:"error,omitempty"`
	Function    string `dynamodbav:"function,omitempty"`
	RequestID   string `dynamodbav:"requestId,omitempty"`
	Writer      string `dynamodbav:"writer,omitempty"`
	DeclSHA256  string `dynamodbav:"declarationSha256,omitempty"`
	DryRun      bool   `dynamodbav:"dryRun"`
	// Summary records only.
	Examined   *int   `dynamodbav:"examined,omitempty"`
	Unchanged  *int   `dynamodbav:"unchanged,omitempty"`
	Changed    *int   `dynamodbav:"changed,omitempty"`
	Planned    *int   `dynamodbav:"planned,omitempty"`
	Refused    *int   `dynamodbav:"refused,omitempty"`
	Failed     *int   `dynamodbav:"failed,omitempty"`
	DurationMS int64  `dynamodbav:"durationMs,omitempty"`
	Resumed    string `dynamodbav:"resumedAfter,omitempty"`
	Continues  string `dynamodbav:"continuesAfter,omitempty"`
	Why        string `dynamodbav:"why,omitempty"`
}

func (t *Trail) toItem(r Record) item {
	it := item{
		PK: r.Target.ARN, SK: sortKey(r.Time, r.ID), Day: dayOf(r.Time), Name: r.Target.Name,
		ID: r.ID, Time: r.Time.UTC().Format(sortKeyLayout), Decision: string(r.Decision), Op: r.Op,
		EventID: r.Trigger.EventID, EventType: r.Trigger.EventType, Source: r.Trigger.Source,
		ActorARN: r.Actor.ARN, PrincipalID: r.Actor.PrincipalID, ActorType: r.Actor.Type,
		ActorAcct: r.Actor.AccountID, InvokedBy: r.Actor.InvokedBy,
		AccountID: r.Target.AccountID, Region: r.Target.Region, Kind: r.Target.Kind,
		Before: r.Before, After: r.After, Diff: r.Diff, Error: r.Error,
		Function: r.Function, RequestID: r.RequestID, DryRun: r.DryRun,
		Writer: r.Writer, DeclSHA256: r.DeclarationSHA256,
	}
	if !r.DecidedAt.IsZero() {
		it.DecidedAt = r.DecidedAt.UTC().Format(sortKeyLayout)
	}
	if r.Decision.open() {
		it.Pending = string(DecisionPending)
	}
	if c := r.Counts; c != nil {
		it.Examined, it.Unchanged, it.Changed = &c.Examined, &c.Unchanged, &c.Changed
		it.Planned, it.Refused, it.Failed = &c.Planned, &c.Refused, &c.Failed
		it.DurationMS = r.Duration.Milliseconds()
		it.Resumed, it.Continues, it.Why = c.ResumedAfter, c.ContinuesAfter, c.Why
	}
	if r.Decision.short() && t.retain > 0 {
		it.ExpiresAt = r.Time.Add(t.retain).Unix()
	}
	return it
}

func (it item) record() (Record, error) {
	r := Record{
		ID: it.ID, Decision: Decision(it.Decision), Op: it.Op,
		Trigger: Trigger{EventID: it.EventID, EventType: it.EventType, Source: it.Source},
		Actor: Actor{ARN: it.ActorARN, PrincipalID: it.PrincipalID, Type: it.ActorType,
			AccountID: it.ActorAcct, InvokedBy: it.InvokedBy},
		Target: Target{ARN: it.PK, AccountID: it.AccountID, Region: it.Region, Kind: it.Kind, Name: it.Name},
		Before: it.Before, After: it.After, Diff: it.Diff, Error: it.Error,
		Function: it.Function, RequestID: it.RequestID, DryRun: it.DryRun,
		Writer: it.Writer, DeclarationSHA256: it.DeclSHA256,
	}
	if it.Examined != nil {
		v := func(p *int) int {
			if p == nil {
				return 0
			}
			return *p
		}
		r.Counts = &Counts{Examined: v(it.Examined), Unchanged: v(it.Unchanged), Changed: v(it.Changed),
			Planned: v(it.Planned), Refused: v(it.Refused), Failed: v(it.Failed),
			ResumedAfter: it.Resumed, ContinuesAfter: it.Continues, Why: it.Why}
		r.Duration = time.Duration(it.DurationMS) * time.Millisecond
	}
	var err error
	if r.Time, err = time.Parse(time.RFC3339Nano, it.Time); err != nil {
		return r, fmt.Errorf("audit: item %s/%s has a bad time %q: %w", it.PK, it.SK, it.Time, err)
	}
	if it.DecidedAt != "" {
		if r.DecidedAt, err = time.Parse(time.RFC3339Nano, it.DecidedAt); err != nil {
			return r, fmt.Errorf("audit: item %s/%s has a bad decidedAt %q: %w", it.PK, it.SK, it.DecidedAt, err)
		}
	}
	return r, nil
}
