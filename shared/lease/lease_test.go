package lease

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

var server *localaws.Server

func TestMain(m *testing.M) { localaws.Main(m, &server) }

const table = "lease-test"

// fakeTime is a shared clock whose sleep advances it, so waits and expiry
// are tested without wall-clock time.
type fakeTime struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
	// onSleep runs (outside the lock) before each sleep returns.
	onSleep func()
}

func (f *fakeTime) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeTime) advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

func (f *fakeTime) sleep(ctx context.Context, d time.Duration) error {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.slept = append(f.slept, d)
	hook := f.onSleep
	f.mu.Unlock()
	if hook != nil {
		hook()
	}
	return ctx.Err()
}

func setup(t *testing.T) *dynamodb.Client {
	t.Helper()
	localaws.Need(t)
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(server.Config("us-east-1"))
	if err := CreateTable(context.Background(), db, table); err != nil {
		t.Fatal(err)
	}
	return db
}

func leaser(t *testing.T, db *dynamodb.Client, holder string, clk *fakeTime, maxWait time.Duration) *Leaser {
	t.Helper()
	l, err := New(db, table, Options{Holder: holder, MaxWait: maxWait, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	l.sleep = clk.sleep
	return l
}

func storedOwner(t *testing.T, db *dynamodb.Client, key string) string {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: key}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := out.Item[AttrOwner].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// Two holders exclude each other: the second waits its bounded time and gets
// a BusyError naming the key and the first holder; other keys are free.
func TestHoldersExcludeEachOther(t *testing.T) {
	localaws.Need(t)
	db := setup(t)
	ctx := context.Background()
	clk := &fakeTime{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := leaser(t, db, "fn-a/req-1", clk, 2*time.Second)
	b := leaser(t, db, "fn-b/req-2", clk, 2*time.Second)
	key := RegistryKey("111111111111", "us-east-1")

	la, err := a.Acquire(ctx, key, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Acquire(ctx, key, 30*time.Second)
	if lb != nil || !errors.Is(err, ErrBusy) {
		t.Fatalf("second holder: lease=%v err=%v, want ErrBusy", lb, err)
	}
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Key != key || busy.Holder != "fn-a/req-1" || !busy.Until.Equal(la.Expires()) {
		t.Fatalf("busy error = %#v, want key %s held by fn-a/req-1 until %s", busy, key, la.Expires())
	}
	if busy.Waited > 2*time.Second || len(clk.slept) < 3 {
		t.Fatalf("waited %s in %d sleeps; want several jittered sleeps within the 2s bound", busy.Waited, len(clk.slept))
	}
	for i := 1; i < len(clk.slept); i++ {
		if clk.slept[i] > DefaultMaxBackoff {
			t.Fatalf("sleep %d = %s exceeds the max backoff", i, clk.slept[i])
		}
	}
	if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "fn-a/req-1") {
		t.Fatalf("error text should name key and holder: %v", err)
	}
	if _, err := b.Acquire(ctx, RepositoryKey("arn:aws:ecr:us-east-1:111111111111:repository/x"), time.Minute); err != nil {
		t.Fatalf("another key should be free: %v", err)
	}
	if storedOwner(t, db, key) != la.Owner {
		t.Fatal("the failed attempts changed the stored owner")
	}
}

// A waiter gets the lease as soon as the holder releases it.
func TestWaiterTakesOverAfterRelease(t *testing.T) {
	localaws.Need(t)
	db := setup(t)
	ctx := context.Background()
	clk := &fakeTime{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := leaser(t, db, "a", clk, 5*time.Second)
	b := leaser(t, db, "b", clk, 5*time.Second)
	key := RegistryKey("222222222222", "eu-west-1")
	la, err := a.Acquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	var relErr error
	clk.onSleep = func() {
		if len(clk.slept) == 2 {
			relErr = la.Release(ctx)
		}
	}
	lb, err := b.Acquire(ctx, key, time.Minute)
	if err != nil || relErr != nil {
		t.Fatalf("acquire after release: %v (release: %v)", err, relErr)
	}
	if len(clk.slept) != 2 || storedOwner(t, db, key) != lb.Owner {
		t.Fatalf("b slept %d times (want 2) and owner is %q (want %q)", len(clk.slept), storedOwner(t, db, key), lb.Owner)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatalf("second release of a released lease: %v", err)
	}
}

// An expired lease can be taken over; the old holder then can neither
// renew nor release it, and its release does not remove the new lease.
func TestExpiryLetsSecondTakeOver(t *testing.T) {
	localaws.Need(t)
	db := setup(t)
	ctx := context.Background()
	clk := &fakeTime{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := leaser(t, db, "a", clk, time.Second)
	b := leaser(t, db, "b", clk, time.Second)
	key := RegistryKey("111111111111", "eu-west-1")
	la, err := a.Acquire(ctx, key, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(31 * time.Second) // a stalled past its ttl
	lb, err := b.Acquire(ctx, key, 30*time.Second)
	if err != nil {
		t.Fatalf("takeover of an expired lease: %v", err)
	}
	if len(clk.slept) != 0 {
		t.Fatalf("takeover waited %v; an expired lease should be taken at once", clk.slept)
	}
	if err := la.Renew(ctx, time.Minute); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("renew by the expired holder: %v, want ErrNotHeld", err)
	}
	if err := la.Release(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("release by the expired holder: %v, want ErrNotHeld", err)
	}
	if storedOwner(t, db, key) != lb.Owner {
		t.Fatal("the old holder's release removed the new holder's lease")
	}
}

// Release by someone who does not own the lease fails with ErrNotHeld and
// leaves the lease in place.
func TestReleaseByNonOwnerFails(t *testing.T) {
	localaws.Need(t)
	db := setup(t)
	ctx := context.Background()
	clk := &fakeTime{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := leaser(t, db, "a", clk, time.Second)
	key := RegistryKey("111111111111", "us-east-1")
	la, err := a.Acquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	forged := &Lease{Key: key, Owner: "intruder#0000", holder: "intruder", leaser: a}
	if err := forged.Release(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("non-owner release: %v, want ErrNotHeld", err)
	}
	if storedOwner(t, db, key) != la.Owner {
		t.Fatal("non-owner release removed the lease")
	}
	missing := &Lease{Key: "registry/none/none", Owner: "x", leaser: a}
	if err := missing.Release(ctx); err != nil {
		t.Fatalf("release of a lease that is gone (nobody holds it): %v, want it released", err)
	}
	releasedAll(t, db, la)
}

// Renew keeps a long hold: the lease outlives its first ttl.
func TestRenewExtendsTheHold(t *testing.T) {
	localaws.Need(t)
	db := setup(t)
	ctx := context.Background()
	clk := &fakeTime{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := leaser(t, db, "a", clk, time.Second)
	b := leaser(t, db, "b", clk, time.Second)
	key := RepositoryKey("arn:aws:ecr:us-east-1:111111111111:repository/shared/app")
	la, err := a.Acquire(ctx, key, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(5 * time.Second)
	if err := la.Renew(ctx, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	clk.advance(15 * time.Second) // 20s after acquire: past the first ttl
	if _, err := b.Acquire(ctx, key, time.Minute); !errors.Is(err, ErrBusy) {
		t.Fatalf("acquire during a renewed hold: %v, want ErrBusy", err)
	}
	clk.advance(30 * time.Second)
	if _, err := b.Acquire(ctx, key, time.Minute); err != nil {
		t.Fatalf("acquire after the renewed lease expired: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	localaws.Need(t)
	db := setup(t)
	if _, err := New(db, "", Options{}); err == nil || !strings.Contains(err.Error(), "WARDEN_LEASE_TABLE") {
		t.Fatalf("empty table: %v", err)
	}
	l, err := New(db, table, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(context.Background(), "", time.Second); err == nil {
		t.Fatal("empty key accepted")
	}
	if _, err := l.Acquire(context.Background(), "k", 0); err == nil || !strings.Contains(err.Error(), "ttl") {
		t.Fatalf("zero ttl: %v", err)
	}
	missing, _ := New(db, "no-such-table", Options{})
	if _, err := missing.Acquire(context.Background(), "k", time.Second); err == nil || errors.Is(err, ErrBusy) ||
		!strings.Contains(err.Error(), "no-such-table") {
		t.Fatalf("missing table: %v, want a plain error naming the table", err)
	}
}

// atomicDynamo serialises DynamoDB requests to moto. DynamoDB applies each
// conditional write atomically; moto's threaded server does not (measured:
// 20 racing conditional PutItems with `attribute_not_exists(pk) OR
// expiresAt < :now` let two writers win in 2 of 100 trials). One request at
// a time restores DynamoDB's per-request atomicity; ECR calls and the lease
// waits still interleave freely.
type atomicDynamo struct {
	mu   sync.Mutex
	next *http.Client
}

func (a *atomicDynamo) Do(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	resp, err := a.next.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// Twenty concurrent writers each add their own statement to one ECR registry
// policy in moto by read-merge-write (GetRegistryPolicy, PutRegistryPolicy,
// no revision check, as in AWS). Under the registry's lease every statement
// survives. Real clock and sleeps: this is the production path.
func TestTwentyConcurrentRegistryPolicyWriters(t *testing.T) {
	localaws.Need(t)
	setup(t)
	ctx := context.Background()
	cfg := server.Config("us-east-1")
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.HTTPClient = &atomicDynamo{next: &http.Client{}} })
	ecrc := ecr.NewFromConfig(cfg)
	l, err := New(db, table, Options{Holder: "writer", MaxWait: time.Minute, MinBackoff: 5 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	key := RegistryKey("123456789012", "us-east-1")
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			errs <- l.Do(ctx, key, 30*time.Second, func(ctx context.Context) error {
				return addStatement(ctx, ecrc, fmt.Sprintf("Writer%02d", i), nil)
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	out, err := ecrc.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	if err != nil {
		t.Fatal(err)
	}
	var doc policyDoc
	if err := json.Unmarshal([]byte(aws.ToString(out.PolicyText)), &doc); err != nil {
		t.Fatal(err)
	}
	var sids []string
	for _, s := range doc.Statement {
		sids = append(sids, s.Sid)
	}
	sort.Strings(sids)
	if len(sids) != n {
		t.Fatalf("registry policy has %d statements after %d writers, want all %d: %v", len(sids), n, n, sids)
	}
	for i, sid := range sids {
		if want := fmt.Sprintf("Writer%02d", i); sid != want {
			t.Fatalf("statement %d is %s, want %s (all: %v)", i, sid, want, sids)
		}
	}
	if owner := storedOwner(t, db, key); owner != "" {
		t.Fatalf("lease left behind by %s", owner)
	}
}

// The hazard the lease exists for, made deterministic: two writers both
// read the registry policy before either writes, and the second write drops
// the first writer's statement.
func TestWithoutLeaseAnUpdateIsLost(t *testing.T) {
	localaws.Need(t)
	setup(t)
	ctx := context.Background()
	ecrc := ecr.NewFromConfig(server.Config("us-east-1"))
	var read sync.WaitGroup
	read.Add(2)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, sid := range []string{"WriterA", "WriterB"} {
		wg.Go(func() {
			errs <- addStatement(ctx, ecrc, sid, func() { read.Done(); read.Wait() })
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	out, err := ecrc.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	if err != nil {
		t.Fatal(err)
	}
	var doc policyDoc
	if err := json.Unmarshal([]byte(aws.ToString(out.PolicyText)), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Statement) != 1 {
		t.Fatalf("unguarded interleaved writers left %d statements; the lost update did not happen", len(doc.Statement))
	}
}

type statement struct {
	Sid       string         `json:"Sid"`
	Effect    string         `json:"Effect"`
	Principal map[string]any `json:"Principal"`
	Action    []string       `json:"Action"`
	Resource  []string       `json:"Resource"`
}

type policyDoc struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

// addStatement is an unguarded read-merge-write of the registry policy, the
// pattern that loses updates without the lease.
func addStatement(ctx context.Context, c *ecr.Client, sid string, between func()) error {
	doc := policyDoc{Version: "2012-10-17"}
	out, err := c.GetRegistryPolicy(ctx, &ecr.GetRegistryPolicyInput{})
	var nf *ecrtypes.RegistryPolicyNotFoundException
	switch {
	case errors.As(err, &nf):
	case err != nil:
		return fmt.Errorf("getting registry policy: %w", err)
	default:
		if err := json.Unmarshal([]byte(aws.ToString(out.PolicyText)), &doc); err != nil {
			return err
		}
	}
	if between != nil {
		between()
	}
	doc.Statement = append(doc.Statement, statement{
		Sid: sid, Effect: "Allow",
		Principal: map[string]any{"AWS": "arn:aws:iam::210987654321:root"},
		Action:    []string{"ecr:CreateRepository", "ecr:ReplicateImage"},
		Resource:  []string{"arn:aws:ecr:us-east-1:123456789012:repository/*"},
	})
	text, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	if _, err := c.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(string(text))}); err != nil {
		return fmt.Errorf("putting registry policy (%s): %w", sid, err)
	}
	return nil
}

// Inside a Lambda invocation the holder named by ErrBusy carries the
// request id, so the blocking invocation can be found in the logs.
func TestBusyNamesLambdaRequest(t *testing.T) {
	localaws.Need(t)
	db := setup(t)
	clk := &fakeTime{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := leaser(t, db, "ecr-warden-account", clk, time.Second)
	b := leaser(t, db, "ecr-warden-repository", clk, time.Second)
	ctxA := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-a"})
	if _, err := a.Acquire(ctxA, RegistryKey("1", "r"), time.Minute); err != nil {
		t.Fatal(err)
	}
	_, err := b.Acquire(context.Background(), RegistryKey("1", "r"), time.Minute)
	var busy *BusyError
	if !errors.As(err, &busy) || busy.Holder != "ecr-warden-account/req-a" {
		t.Fatalf("busy = %v, want holder ecr-warden-account/req-a", err)
	}
}

func TestKeys(t *testing.T) {
	for got, want := range map[string]string{
		RegistryKey("111111111111", "us-east-1"):                                "registry/111111111111/us-east-1",
		RepositoryKey("arn:aws:ecr:us-east-1:111111111111:repository/shared/a"): "repository/arn:aws:ecr:us-east-1:111111111111:repository/shared/a",
	} {
		if got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
}

// BenchmarkAcquireRelease measures one uncontended lease cycle (two
// DynamoDB calls) against the local AWS.
func BenchmarkAcquireRelease(b *testing.B) {
	if err := server.Reset(); err != nil {
		b.Fatal(err)
	}
	db := dynamodb.NewFromConfig(server.Config("us-east-1"))
	if err := CreateTable(context.Background(), db, table); err != nil {
		b.Fatal(err)
	}
	l, err := New(db, table, Options{Holder: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for b.Loop() {
		if err := l.Do(ctx, RegistryKey("111111111111", "us-east-1"), time.Minute, func(context.Context) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}

// retryingClient is a DynamoDB client through a fault-injecting proxy in
// front of the local AWS, retrying as a function's client does (5xx and
// dropped connections; 3 attempts), and without the harness's call id, with
// which the local AWS would answer a retry from its first answer: DynamoDB
// has no idempotency token for PutItem, so a retried put is a new put.
func retryingClient(t *testing.T) (*dynamodb.Client, *localaws.Proxy) {
	t.Helper()
	p := localaws.NewServerProxy(server)
	t.Cleanup(p.Close)
	cfg := p.Config("us-east-1")
	cfg.APIOptions = nil
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = 3; o.MaxBackoff = 10 * time.Millisecond })
	}
	return dynamodb.NewFromConfig(cfg), p
}

// A take whose put landed but whose answer was lost (DynamoDB answered a
// 500 after storing the item) is retried by the SDK, and the retry's
// condition fails on the lease the first attempt took. That lease is this
// Acquire's own: it is held at once. Before, Acquire took its own lease for
// someone else's, waited MaxWait and failed as busy, and the lease it held
// without knowing kept every writer of the document out until it lapsed.
func TestTakeWhoseAnswerWasLostIsHeld(t *testing.T) {
	localaws.Need(t)
	setup(t)
	db, proxy := retryingClient(t)
	ctx := context.Background()
	clk := &fakeTime{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := leaser(t, db, "a", clk, 5*time.Second)
	key := RegistryKey("111111111111", "us-east-1")
	proxy.Inject("PutItem", localaws.LostAnswer(http.StatusInternalServerError, 1))

	la, err := a.Acquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatalf("acquire after a lost answer: %v, want the lease (its first attempt took it)", err)
	}
	if n := proxy.Count("dynamodb", "PutItem"); n != 2 {
		t.Errorf("PutItem calls = %d, want 2 (the put whose answer was lost and the SDK's retry)", n)
	}
	if len(clk.slept) != 0 {
		t.Errorf("waited %v for its own lease", clk.slept)
	}
	if got := storedOwner(t, db, key); got != la.Owner {
		t.Fatalf("stored owner %q, want the holder's %q", got, la.Owner)
	}
	b := leaser(t, db, "b", clk, time.Second)
	if _, err := b.Acquire(ctx, key, time.Minute); !errors.Is(err, ErrBusy) {
		t.Fatalf("another writer during the hold: %v, want ErrBusy", err)
	}
	releasedAll(t, db, la)
}

// A release whose delete DynamoDB performed but whose answer was lost is
// retried by the SDK, which finds the lease gone: released, not ErrNotHeld
// (which would fail a finished invocation, and Lambda or SQS would run it
// again). A lease someone else holds is still ErrNotHeld.
func TestReleaseWhoseAnswerWasLostIsReleased(t *testing.T) {
	localaws.Need(t)
	setup(t)
	db, proxy := retryingClient(t)
	ctx := context.Background()
	clk := &fakeTime{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	a := leaser(t, db, "a", clk, 5*time.Second)
	key := RegistryKey("111111111111", "us-east-1")
	la, err := a.Acquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	proxy.Inject("DeleteItem", localaws.LostAnswer(http.StatusInternalServerError, 1))
	if err := la.Release(ctx); err != nil {
		t.Fatalf("release after a lost answer: %v, want it released", err)
	}
	if n := proxy.Count("dynamodb", "DeleteItem"); n != 2 {
		t.Errorf("DeleteItem calls = %d, want 2 (the delete whose answer was lost and the SDK's retry)", n)
	}
	if storedOwner(t, db, key) != "" {
		t.Fatal("the release left the lease")
	}
	lb, err := a.Acquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	stale := &Lease{Key: key, Owner: la.Owner, holder: "a", leaser: a}
	if err := stale.Release(ctx); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("release of a lease another holder took: %v, want ErrNotHeld", err)
	}
	if storedOwner(t, db, key) != lb.Owner {
		t.Fatal("a stale release removed the new holder's lease")
	}
}

// A holder that takes a lease again right after each release (a backfill
// unit, chunk after chunk) lets a waiter in between two takes: the waiter
// marks the hold it meets, the release returns the mark, and the holder's
// next take yields one backoff. Without the mark the waiter's looks (every
// 200 ms here) land in the gap of one call between a release and the next
// take only by chance, and it gives up busy (after 10 s here, room for a
// loaded machine). Five waits in a row each get the lease; the holder goes
// on taking it between them (yielding about a second after each release a
// waiter marked).
func TestAWaiterGetsALeaseItsHolderTakesAgainAndAgain(t *testing.T) {
	db := setup(t)
	ctx := context.Background()
	key := RegistryKey("222222222222", "eu-west-1")
	unit, err := New(db, table, Options{Holder: "unit", MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	event, err := New(db, table, Options{Holder: "event", MaxWait: 10 * time.Second, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop, chunks := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				chunks <- n
				return
			default:
			}
			if err := unit.Do(ctx, key, time.Minute, func(context.Context) error { time.Sleep(100 * time.Millisecond); return nil }); err != nil {
				t.Errorf("unit chunk %d: %v", n, err)
			}
			n++
		}
	}()
	for i := range 5 {
		time.Sleep(150 * time.Millisecond)
		ls, err := event.Acquire(ctx, key, time.Minute)
		if err != nil {
			t.Errorf("wait %d: %v", i, err)
			continue
		}
		time.Sleep(20 * time.Millisecond)
		if err := ls.Release(ctx); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	if n := <-chunks; n < 2 {
		t.Errorf("the unit took the lease %d times, want it going on between the waits", n)
	}
}

// A process that releases wanted leases of many keys and never takes them
// again (a worker's sweep units, one per registry) keeps only the yields
// still to come: before, each key's entry stayed until that key's next
// take, so the map grew by one entry per registry for the life of the
// execution environment.
func TestYieldsKeepOnlyTheWaitsToCome(t *testing.T) {
	y := &yields{until: map[string]time.Time{}}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := range 1000 {
		now := t0.Add(time.Duration(i) * time.Second)
		y.set(RegistryKey(fmt.Sprintf("%012d", i), "us-east-1"), now.Add(yieldFor), now)
	}
	if len(y.until) > 2 {
		t.Errorf("%d yields kept after 1,000 releases a second apart, want the last ones only (yieldFor %s)", len(y.until), yieldFor)
	}
	if _, ok := y.until[RegistryKey("000000000999", "us-east-1")]; !ok {
		t.Error("the last release's yield was dropped")
	}
}

// releasedAll releases l as its owner and checks the release took the
// lease item away.
func releasedAll(t *testing.T, db *dynamodb.Client, l *Lease) {
	t.Helper()
	if err := l.Release(context.Background()); err != nil {
		t.Fatalf("owner release of %s: %v", l.Key, err)
	}
	if storedOwner(t, db, l.Key) != "" {
		t.Fatalf("the release of %s left the lease", l.Key)
	}
}
