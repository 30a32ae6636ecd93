// Package lease serialises writers to one AWS document with a DynamoDB lease
// that expires. An ECR registry policy is a single document per account and
// region, written whole by PutRegistryPolicy with no revision check; two
// invocations that each read it, merge their statement and write it back
// would silently drop one another's statement. Holding the document's lease
// across read-merge-write makes those writers take turns, whichever function
// (repository events, account events, backfill, drift) they run in.
//
// A lease expires so a crashed holder cannot block the document forever. A
// holder stalled past its expiry could then write after another took over, so
// writers fence their writes (shared/apply): Hold hands the write its lease,
// the write's context ends a margin before the lease expires (no SDK or
// propagation retry starts after that), the lease is renewed right before a
// write that may be slow, and a writer that lost its lease re-plans the
// document's full desired state under a new one.
package lease

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ecr-warden/ecr-warden/shared/metrics"
)

// dynamoAPI is the part of DynamoDB a lease needs: conditional put (take),
// conditional update (renew), conditional delete (release), a
// transaction (a mailbox's close together with the release), and a
// consistent read (a waiting poster's look at a mailbox).
type dynamoAPI interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ dynamoAPI = (*dynamodb.Client)(nil)

// Lease table attribute names (the CDK table must use AttrPK as its only key).
const (
	// AttrPK (S) is the document key, e.g. "registry/111111111111/us-east-1".
	AttrPK = "pk"
	// AttrOwner (S) is the holder's unique token; release and renew are
	// conditional on it.
	AttrOwner = "owner"
	// AttrHolder (S) is the holder's readable name (function/request id),
	// reported by ErrBusy.
	AttrHolder = "holder"
	// AttrExpiresAt (N, Unix seconds, rounded up) is when the lease lapses; a
	// put succeeds over a lapsed lease. It doubles as the table's DynamoDB
	// TTL attribute: a lapsed lease is free anyway, so TTL may delete it.
	AttrExpiresAt = "expiresAt"
	// AttrWanted (N, Unix seconds) is set on a held lease by a writer that
	// waits for it, until when it waits (Want); the holder's release
	// returns it, and the holder's next take of the same key yields.
	AttrWanted = "wantedUntil"
)

// Defaults for Options.
const (
	DefaultMaxWait    = 20 * time.Second
	DefaultMinBackoff = 25 * time.Millisecond
	DefaultMaxBackoff = time.Second
)

// ErrBusy is matched (errors.Is) by a *BusyError: the document stayed leased
// by someone else for the whole wait. Let the invocation fail so Lambda (or
// SQS) retries it later.
var ErrBusy = errors.New("lease busy")

// ErrNotHeld means a release or renew found the lease gone or owned by
// someone else: it expired and was taken over (or never existed).
var ErrNotHeld = errors.New("lease not held")

// BusyError names the contended document and who held it.
type BusyError struct {
	Key    string
	Holder string
	// Until is when the holder's lease lapses unless renewed.
	Until  time.Time
	Waited time.Duration
	// owner is the holder's owner token, which Want's mark is conditional
	// on ("" when the refusal did not carry it).
	owner string
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("lease %s is held by %s until %s; gave up after waiting %s (the invocation should be retried)",
		e.Key, e.Holder, e.Until.UTC().Format(time.RFC3339Nano), e.Waited.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrBusy) true for a *BusyError.
func (e *BusyError) Is(target error) bool { return target == ErrBusy }

// Options tune a Leaser. The zero value is usable.
type Options struct {
	// Holder is a readable name for this process in ErrBusy messages; ""
	// means the Lambda function name (plus the request id at Acquire).
	Holder string
	// MaxWait bounds how long Acquire waits for a busy lease; 0 means
	// DefaultMaxWait. Keep it well under the function timeout.
	MaxWait time.Duration
	// MinBackoff and MaxBackoff bound the jittered, doubling pause between
	// attempts; 0 means the defaults.
	MinBackoff, MaxBackoff time.Duration
	// Logger receives the lease metrics (conflicts and waits, as EMF lines);
	// nil means none.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. Lease expiry compares clocks of
	// different hosts, so ttl must dwarf clock skew (NTP keeps Lambda's
	// within milliseconds).
	Now func() time.Time
}

// Leaser takes leases in one DynamoDB table. It is safe for concurrent use.
type Leaser struct {
	db       dynamoAPI
	table    string
	holder   string
	maxWait  time.Duration
	min, max time.Duration
	now      func() time.Time
	log      *slog.Logger
	// sleep waits d or until ctx ends; tests replace it to step time.
	sleep func(ctx context.Context, d time.Duration) error
	// yields holds, per key, until when this process's next take of a
	// lease it released while someone waited for it holds back.
	yields *yields
}

// yields is Leaser.yields.
type yields struct {
	mu    sync.Mutex
	until map[string]time.Time
}

// yieldFor is how long a holder that released a wanted lease holds back
// its next take of the same key: longer than the longest pause of any
// waiter between two looks (Acquire's DefaultMaxBackoff; the hub mailbox's
// posters pause less), so the waiter's next look finds the lease free.
const yieldFor = DefaultMaxBackoff + 100*time.Millisecond

// New returns a Leaser over table, whose only key is AttrPK (S).
func New(db dynamoAPI, table string, opt Options) (*Leaser, error) {
	if table == "" {
		return nil, errors.New("lease: table name is empty (set WARDEN_LEASE_TABLE)")
	}
	if db == nil {
		return nil, fmt.Errorf("lease: no DynamoDB client for table %s", table)
	}
	l := &Leaser{db: db, table: table, holder: opt.Holder, maxWait: opt.MaxWait,
		min: opt.MinBackoff, max: opt.MaxBackoff, now: opt.Now, sleep: sleepCtx, log: opt.Logger,
		yields: &yields{until: map[string]time.Time{}}}
	if l.holder == "" {
		l.holder = lambdacontext.FunctionName
	}
	if l.maxWait <= 0 {
		l.maxWait = DefaultMaxWait
	}
	if l.min <= 0 {
		l.min = DefaultMinBackoff
	}
	if l.max <= 0 {
		l.max = DefaultMaxBackoff
	}
	if l.max < l.min {
		l.max = l.min
	}
	if l.now == nil {
		l.now = time.Now
	}
	return l, nil
}

// Lease is a held lease on one key.
type Lease struct {
	// Key is the leased document key.
	Key string
	// Owner is this holder's unique token.
	Owner    string
	holder   string
	expires  time.Time
	leaser   *Leaser
	released bool
	// opened says this holder marked the key's mailbox open (AcquireOpen,
	// Open): a renewal moves the mark's expiry with the lease's, so posters
	// keep handing off to a holder whose hold runs long.
	opened bool
}

// Expires is when the lease lapses unless renewed. Check it before a write
// that must not happen after another holder could have taken over.
func (l *Lease) Expires() time.Time { return l.expires }

// Acquire takes the lease on key for ttl, waiting with jittered exponential
// backoff while someone else holds it. After MaxWait it returns a
// *BusyError (errors.Is ErrBusy) naming the key and the holder. A lease is
// not re-entrant: acquiring a key this process already holds waits too.
func (l *Leaser) Acquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error) {
	if key == "" {
		return nil, errors.New("lease: empty key")
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("lease %s: ttl %s must be positive", key, ttl)
	}
	holder, owner := l.identity(ctx)
	if err := l.yieldBefore(ctx, key); err != nil {
		return nil, fmt.Errorf("lease: taking %s: %w", key, err)
	}
	start := l.now()
	backoff := l.min
	conflicts := 0
	wanted := "" // the holder this Acquire marked
	for {
		put, expires := l.takePut(key, holder, owner, ttl)
		_, err := l.db.PutItem(ctx, put)
		if err == nil {
			l.record(conflicts, l.now().Sub(start))
			return &Lease{Key: key, Owner: owner, holder: holder, expires: expires, leaser: l}, nil
		}
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			return nil, fmt.Errorf("lease: taking %s in table %s: %w", key, l.table, err)
		}
		if ownedBy(ccf.Item, owner) {
			// The SDK retried a put whose first attempt took the lease
			// but whose answer was lost (a 5xx, a dropped connection):
			// the retry finds the lease held by this very Acquire (the
			// owner token is new per Acquire). Waiting for it would
			// block every writer of the document, this one included,
			// until it lapsed. The retry sent the same item, so the
			// stored expiry is expires.
			l.record(conflicts, l.now().Sub(start))
			return &Lease{Key: key, Owner: owner, holder: holder, expires: expires, leaser: l}, nil
		}
		conflicts++
		busy := busyOf(key, ccf.Item, l.now().Sub(start))
		// Full-range jitter around the doubling step spreads out the
		// waiters that a release wakes together.
		pause := backoff/2 + rand.N(backoff/2+1)
		if busy.Waited+pause > l.maxWait {
			l.record(conflicts, busy.Waited)
			return nil, busy
		}
		if busy.owner != wanted {
			// Tell the holder this take waits: one that takes the lease
			// again at once (a unit's next chunk) lets it go first.
			wanted = busy.owner
			l.want(ctx, busy, start.Add(l.maxWait))
		}
		if err := l.sleep(ctx, pause); err != nil {
			return nil, fmt.Errorf("%w (%w)", busy, err)
		}
		backoff = min(backoff*2, l.max)
	}
}

// identity is a new holder's readable name (the function and, in Lambda,
// the request id) and its unique owner token.
func (l *Leaser) identity(ctx context.Context) (holder, owner string) {
	holder = l.holder
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		holder += "/" + lc.AwsRequestID
	}
	if holder == "" {
		holder = "unnamed"
	}
	return holder, holder + "#" + token()
}

// takePut is the conditional put that takes the lease on key for ttl: it
// succeeds when nobody holds the lease or the holder's lapsed. On failure
// the answer carries the holder's item (for BusyError).
func (l *Leaser) takePut(key, holder, owner string, ttl time.Duration) (*dynamodb.PutItemInput, time.Time) {
	now := l.now()
	expires := ceilSecond(now.Add(ttl))
	return &dynamodb.PutItemInput{
		TableName: aws.String(l.table),
		Item: map[string]types.AttributeValue{
			AttrPK:        &types.AttributeValueMemberS{Value: key},
			AttrOwner:     &types.AttributeValueMemberS{Value: owner},
			AttrHolder:    &types.AttributeValueMemberS{Value: holder},
			AttrExpiresAt: seconds(expires),
		},
		ConditionExpression:                 aws.String("attribute_not_exists(#pk) OR #exp < :now"),
		ExpressionAttributeNames:            map[string]string{"#pk": AttrPK, "#exp": AttrExpiresAt},
		ExpressionAttributeValues:           map[string]types.AttributeValue{":now": seconds(now)},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, expires
}

// ownedBy reports whether a lease item (as a refused condition returned it)
// is owner's.
func ownedBy(item map[string]types.AttributeValue, owner string) bool {
	v, ok := item[AttrOwner].(*types.AttributeValueMemberS)
	return ok && v.Value == owner
}

// busyOf is the BusyError for key from the holder's item as a failed take
// returned it (nil or partial: "unknown" holder, zero Until).
func busyOf(key string, item map[string]types.AttributeValue, waited time.Duration) *BusyError {
	busy := &BusyError{Key: key, Holder: "unknown", Waited: waited}
	if v, ok := item[AttrOwner].(*types.AttributeValueMemberS); ok {
		busy.owner = v.Value
	}
	if v, ok := item[AttrHolder].(*types.AttributeValueMemberS); ok {
		busy.Holder = v.Value
	}
	if v, ok := item[AttrExpiresAt].(*types.AttributeValueMemberN); ok {
		if sec, err := strconv.ParseInt(v.Value, 10, 64); err == nil {
			busy.Until = time.Unix(sec, 0)
		}
	}
	return busy
}

// record prints the lease metrics of one Acquire that met another holder:
// how many attempts found the lease held, and how long it waited.
func (l *Leaser) record(conflicts int, waited time.Duration) {
	if l.log == nil || conflicts == 0 {
		return
	}
	fn := lambdacontext.FunctionName
	if fn == "" {
		fn = "local"
	}
	metrics.Line(l.log, "lease conflict", metrics.MetricLeaseConflicts, "Count", float64(conflicts), metrics.DimFunction, fn)
	metrics.Line(l.log, "lease wait", metrics.MetricLeaseWait, "Milliseconds", float64(waited.Milliseconds()), metrics.DimFunction, fn)
}

// Renew extends a held lease to ttl from now, for holds longer than the
// first ttl. It fails with ErrNotHeld when the lease was lost.
func (l *Lease) Renew(ctx context.Context, ttl time.Duration) error {
	if l.released {
		return fmt.Errorf("lease %s: renew after release: %w", l.Key, ErrNotHeld)
	}
	if ttl <= 0 {
		return fmt.Errorf("lease %s: ttl %s must be positive", l.Key, ttl)
	}
	expires := ceilSecond(l.leaser.now().Add(ttl))
	_, err := l.leaser.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(l.leaser.table),
		Key:                      map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: l.Key}},
		UpdateExpression:         aws.String("SET #exp = :exp"),
		ConditionExpression:      aws.String("#owner = :me"),
		ExpressionAttributeNames: map[string]string{"#exp": AttrExpiresAt, "#owner": AttrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":exp": seconds(expires),
			":me":  &types.AttributeValueMemberS{Value: l.Owner},
		},
	})
	if err != nil {
		return l.ownerErr("renewing", err)
	}
	l.expires = expires
	if l.opened {
		l.leaser.extendMark(ctx, l)
	}
	return nil
}

// Release gives the lease up so the next writer need not wait for expiry.
// It deletes the item only if this holder still owns it; ErrNotHeld means
// the lease had lapsed and someone else holds it now, so the caller's write
// may have raced with theirs (the next reconcile repairs that). A lease that
// is gone altogether is released: the SDK's retry of a delete whose first
// attempt removed it (its answer lost) finds nothing, and failing the
// invocation for it would make Lambda or SQS run a finished event or unit
// again. Releasing twice is a no-op.
func (l *Lease) Release(ctx context.Context) error {
	if l.released {
		return nil
	}
	out, err := l.leaser.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(l.leaser.table),
		Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: l.Key}},
		ConditionExpression:       aws.String("#owner = :me"),
		ExpressionAttributeNames:  map[string]string{"#owner": AttrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": &types.AttributeValueMemberS{Value: l.Owner}},
		// The item as it was: whether someone waits for the lease
		// (AttrWanted), at no extra call.
		ReturnValues: types.ReturnValueAllOld,
		// On refusal, the item as it is: someone else's, or none.
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) && len(ccf.Item) == 0 {
		l.released = true
		return nil
	}
	if err != nil {
		return l.ownerErr("releasing", err)
	}
	l.released = true
	if v, ok := out.Attributes[AttrWanted].(*types.AttributeValueMemberN); ok {
		if sec, err := strconv.ParseInt(v.Value, 10, 64); err == nil && time.Unix(sec, 0).After(l.leaser.now()) {
			now := l.leaser.now()
			l.leaser.yields.set(l.Key, now.Add(yieldFor), now)
		}
	}
	return nil
}

func (l *Lease) ownerErr(op string, err error) error {
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return fmt.Errorf("lease: %s %s (held as %s): %w", op, l.Key, l.holder, ErrNotHeld)
	}
	return fmt.Errorf("lease: %s %s in table %s: %w", op, l.Key, l.leaser.table, err)
}

// Held is a lease as the code holding it sees it: when it lapses, and how to
// extend it. A writer fences its AWS write with it: the write's context ends
// a margin before Expires, and a Renew that fails with ErrNotHeld means
// another writer may have taken the document over.
type Held interface {
	Expires() time.Time
	Renew(ctx context.Context, ttl time.Duration) error
}

var _ Held = (*Lease)(nil)

type heldKey struct{}

// WithHeld returns ctx carrying h, so a write several calls long (create a
// role, then its policy) can renew the lease between calls.
func WithHeld(ctx context.Context, h Held) context.Context {
	return context.WithValue(ctx, heldKey{}, h)
}

// FromContext returns the lease the context's write is fenced by, if any.
func FromContext(ctx context.Context) (Held, bool) {
	h, ok := ctx.Value(heldKey{}).(Held)
	return h, ok
}

// Hold runs fn while holding the lease on key, hands fn the lease (so the
// write can be fenced by its expiry and renewed before a slow call), and
// releases it afterwards (also when fn fails). A failed release is reported
// with fn's own error.
func (l *Leaser) Hold(ctx context.Context, key string, ttl time.Duration, fn func(ctx context.Context, h Held) error) error {
	ls, err := l.Acquire(ctx, key, ttl)
	if err != nil {
		return err
	}
	ferr := fn(WithHeld(ctx, ls), ls)
	// Release even when ctx is done: a lease left behind blocks others
	// until it expires.
	rerr := ls.Release(context.WithoutCancel(ctx))
	return errors.Join(ferr, rerr)
}

// Do is Hold for callers that do not need the lease itself.
func (l *Leaser) Do(ctx context.Context, key string, ttl time.Duration, fn func(ctx context.Context) error) error {
	return l.Hold(ctx, key, ttl, func(ctx context.Context, _ Held) error { return fn(ctx) })
}

// RegistryKey is the lease key of an ECR registry policy (and the registry's
// pull-through-cache setup and repository policies): one per account and
// region. A member's PTC role (IAM is global) is under the key of the hub's
// first region, whose function converges it.
func RegistryKey(accountID, region string) string {
	return "registry/" + accountID + "/" + region
}

// RepositoryKey is the lease key of one repository's policy.
func RepositoryKey(repositoryARN string) string { return "repository/" + repositoryARN }

func seconds(t time.Time) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(t.Unix(), 10)}
}

// ceilSecond rounds t up to a whole second, so storing whole seconds never
// shortens a lease.
func ceilSecond(t time.Time) time.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		return r.Add(time.Second)
	}
	return t
}

// token is 16 random hex characters, unique per Acquire.
func token() string {
	var b [8]byte
	_, _ = crand.Read(b[:]) // never fails since Go 1.24 (it crashes instead)
	return hex.EncodeToString(b[:])
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
