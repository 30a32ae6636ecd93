package apply_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// events is the one ordered log every fake writes to, so a test can assert
// the protocol's order across the lease, the audit table and the AWS write.
type events struct {
	mu  sync.Mutex
	all []string
}

func (e *events) add(s string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, s)
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.all...)
}

// table is an in-memory DynamoDB audit table behind a real audit.Trail. It
// honours the two conditions the trail relies on (put never overwrites;
// outcome only over a pending item) and answers with the real SDK error
// types.
type table struct {
	ev      *events
	mu      sync.Mutex
	items   map[string]map[string]ddbtypes.AttributeValue
	keys    []string // insertion order
	putErr  error    // returned by every PutItem when set
	updErr  error    // returned by every UpdateItem when set
	updates int
	queries int
}

func newTable(ev *events) *table {
	return &table{ev: ev, items: map[string]map[string]ddbtypes.AttributeValue{}}
}

func attrS(it map[string]ddbtypes.AttributeValue, k string) string {
	if v, ok := it[k].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func (t *table) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := attrS(in.Item, "decision")
	if t.putErr != nil {
		t.ev.add("audit put " + d + " failed")
		return nil, t.putErr
	}
	key := attrS(in.Item, audit.AttrPK) + "|" + attrS(in.Item, audit.AttrSK)
	if _, ok := t.items[key]; ok {
		return nil, &ddbtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	}
	t.items[key] = in.Item
	t.keys = append(t.keys, key)
	t.ev.add("audit " + d)
	return &dynamodb.PutItemOutput{}, nil
}

func (t *table) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.updates++
	d := attrS(in.ExpressionAttributeValues, ":d")
	if t.updErr != nil {
		t.ev.add("audit update " + d + " failed")
		return nil, t.updErr
	}
	key := attrS(in.Key, audit.AttrPK) + "|" + attrS(in.Key, audit.AttrSK)
	it, ok := t.items[key]
	// The trail's condition is "#d = :pending OR #d = :unknown".
	if cur := attrS(it, "decision"); !ok || (cur != attrS(in.ExpressionAttributeValues, ":pending") && cur != attrS(in.ExpressionAttributeValues, ":unknown")) {
		return nil, &ddbtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	}
	it["decision"] = in.ExpressionAttributeValues[":d"]
	it["decidedAt"] = in.ExpressionAttributeValues[":at"]
	if e, ok := in.ExpressionAttributeValues[":e"]; ok {
		it["error"] = e
	}
	if strings.Contains(aws.ToString(in.UpdateExpression), "REMOVE") {
		delete(it, audit.AttrPending)
	}
	t.ev.add("audit " + d)
	return &dynamodb.UpdateItemOutput{}, nil
}

// Query answers the one query apply makes: a document's history by
// partition key, newest first.
func (t *table) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if in.IndexName != nil {
		return nil, errors.New("fake audit table: only partition-key queries are used by apply")
	}
	pk := attrS(in.ExpressionAttributeValues, ":v")
	var out []map[string]ddbtypes.AttributeValue
	for i := len(t.keys) - 1; i >= 0; i-- {
		it := t.items[t.keys[i]]
		if attrS(it, audit.AttrPK) == pk {
			out = append(out, it)
		}
	}
	if in.Limit != nil && int(*in.Limit) < len(out) {
		out = out[:*in.Limit]
	}
	t.queries++
	return &dynamodb.QueryOutput{Items: out}, nil
}

// stored is an audit item as the table holds it.
type stored struct {
	Decision  string `dynamodbav:"decision"`
	Op        string `dynamodbav:"op"`
	PK        string `dynamodbav:"pk"`
	Kind      string `dynamodbav:"kind"`
	EventID   string `dynamodbav:"eventId"`
	ActorARN  string `dynamodbav:"actorArn"`
	Before    string `dynamodbav:"before"`
	After     string `dynamodbav:"after"`
	Diff      string `dynamodbav:"diff"`
	Error     string `dynamodbav:"error"`
	Pending   string `dynamodbav:"pending"`
	DecidedAt string `dynamodbav:"decidedAt"`
	ExpiresAt int64  `dynamodbav:"expiresAt"`
	DryRun    bool   `dynamodbav:"dryRun"`
}

func (t *table) records(tb testing.TB) []stored {
	tb.Helper()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]stored, 0, len(t.keys))
	for _, k := range t.keys {
		var s stored
		if err := attributevalue.UnmarshalMap(t.items[k], &s); err != nil {
			tb.Fatalf("decoding audit item %s: %v", k, err)
		}
		out = append(out, s)
	}
	return out
}

// leases is a lease table that is free unless busy is set.
type leases struct {
	ev   *events
	busy error
	keys []string
	ttls []time.Duration
}

func (l *leases) Hold(ctx context.Context, key string, ttl time.Duration, fn func(ctx context.Context, h lease.Held) error) error {
	l.keys = append(l.keys, key)
	l.ttls = append(l.ttls, ttl)
	if l.busy != nil {
		l.ev.add("lease busy")
		return l.busy
	}
	l.ev.add("lease acquired")
	err := fn(ctx, &held{ev: l.ev, expires: time.Now().Add(ttl)})
	l.ev.add("lease released")
	return err
}

// held is a lease that stays held; Renew extends it.
type held struct {
	ev      *events
	expires time.Time
}

func (h *held) Expires() time.Time { return h.expires }
func (h *held) Renew(_ context.Context, ttl time.Duration) error {
	h.expires = time.Now().Add(ttl)
	h.ev.add("lease renewed")
	return nil
}

// harness wires an Executor to a real audit.Trail over the fake table.
type harness struct {
	ev     *events
	table  *table
	leases *leases
	exec   *apply.Executor
	// writes counts Write calls; a unit's writes run concurrently, so they
	// count under mu (tests read it after the executor returned).
	mu     sync.Mutex
	writes int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ev := &events{}
	h := &harness{ev: ev, table: newTable(ev), leases: &leases{ev: ev}}
	trail, err := audit.New(h.table, "audit", audit.Options{
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Function: "apply-test",
	})
	if err != nil {
		t.Fatalf("audit.New: %v", err)
	}
	h.exec = &apply.Executor{Trail: trail, Leases: h.leases}
	return h
}

const (
	repoARN = "arn:aws:ecr:us-east-1:111111111111:repository/shared/base"
	prefix  = "EcrWarden"
)

// step plans each call with the next of plans (the last one repeats) and
// writes with write (nil = succeed).
func (h *harness) step(plans []func() (apply.Change, error), write func() error) apply.Step {
	n := 0
	return apply.Step{
		LeaseKey: lease.RepositoryKey(repoARN),
		Target:   audit.Target{ARN: repoARN, AccountID: "111111111111", Region: "us-east-1", Kind: "ECRRepositoryPolicy", Name: "shared/base"},
		Trigger:  audit.Trigger{EventID: "evt-1", EventType: "ECR API Call via CloudTrail/CreateRepository", Source: "aws.ecr"},
		Actor:    audit.Actor{ARN: "arn:aws:iam::111111111111:role/dev", Type: "AssumedRole"},
		Plan: func(context.Context) (apply.Change, error) {
			h.ev.add("plan")
			p := plans[min(n, len(plans)-1)]
			n++
			return p()
		},
		Write: func(_ context.Context, c apply.Change) error {
			h.ev.add("write " + string(c.Op))
			h.mu.Lock()
			h.writes++
			h.mu.Unlock()
			if write == nil {
				return nil
			}
			return write()
		},
	}
}

func ret(c apply.Change, err error) func() (apply.Change, error) {
	return func() (apply.Change, error) { return c, err }
}

var owned = []policy.Statement{{
	Sid: prefix + "OrgPullAccounts", Effect: "Allow",
	Principal: &policy.Principal{AWS: policy.StringList{"arn:aws:iam::222222222222:root"}},
	Action:    policy.StringList{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"},
}}

// createChange is a real document plan: no policy yet, one statement wanted.
func createChange(t *testing.T) apply.Change {
	t.Helper()
	c, err := plan.Document(policy.ECRRepositoryPolicy, repoARN, "", owned, prefix)
	if err != nil || c.Op != plan.OpCreate {
		t.Fatalf("setup: plan.Document = %s, %v; want create", c.Op, err)
	}
	return apply.FromDocument(c)
}

// noneChange is a real document plan against a policy that already holds
// the wanted statement.
func noneChange(t *testing.T) apply.Change {
	t.Helper()
	c := createChange(t)
	n, err := plan.Document(policy.ECRRepositoryPolicy, repoARN, c.After, owned, prefix)
	if err != nil || n.Op != plan.OpNone {
		t.Fatalf("setup: plan.Document = %s, %v; want none", n.Op, err)
	}
	return apply.FromDocument(n)
}

func wantEvents(t *testing.T, h *harness, want ...string) {
	t.Helper()
	got := h.ev.list()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n got: %q\nwant: %q", got, want)
	}
}

func wantDecisions(t *testing.T, h *harness, want ...string) []stored {
	t.Helper()
	recs := h.table.records(t)
	var got []string
	for _, r := range recs {
		got = append(got, r.Decision)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("audit records = %v, want %v", got, want)
	}
	return recs
}

func TestNoopRecordsShortWithoutLeaseOrWrite(t *testing.T) {
	h := newHarness(t)
	res, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(noneChange(t), nil)}, nil))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Outcome != apply.Unchanged || res.Err != nil {
		t.Errorf("result = %s (%v), want unchanged", res.Outcome, res.Err)
	}
	wantEvents(t, h, "plan", "audit noop")
	recs := wantDecisions(t, h, "noop")
	if r := recs[0]; r.Op != "none" || r.Before != "" || r.After != "" || r.Diff != "" || r.ExpiresAt == 0 || r.DryRun {
		t.Errorf("noop record = %+v, want op none, no documents, an expiry, not a dry run", r)
	}
	if h.writes != 0 || len(h.leases.keys) != 0 {
		t.Errorf("writes = %d, leases taken = %v; want none", h.writes, h.leases.keys)
	}
}

func TestChangeFollowsTheWriteProtocol(t *testing.T) {
	h := newHarness(t)
	c := createChange(t)
	res, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(c, nil)}, nil))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Outcome != apply.Changed || res.Change.Op != plan.OpCreate || res.Target.ARN != repoARN {
		t.Errorf("result = %+v, want changed create of %s", res, repoARN)
	}
	wantEvents(t, h, "plan", "lease acquired", "plan", "audit pending", "write create", "audit applied", "lease released")
	recs := wantDecisions(t, h, "applied")
	r := recs[0]
	if r.Op != "create" || r.PK != repoARN || r.Kind != "ECRRepositoryPolicy" || r.EventID != "evt-1" ||
		r.ActorARN != "arn:aws:iam::111111111111:role/dev" {
		t.Errorf("record = %+v, want create of %s by the step's trigger and actor", r, repoARN)
	}
	if r.Before != "" || r.After != c.After || !strings.Contains(r.Diff, prefix+"OrgPullAccounts") {
		t.Errorf("record documents: before %q, after %q, diff %q; want none, the plan's after, a diff naming the Sid", r.Before, r.After, r.Diff)
	}
	if r.Pending != "" || r.DecidedAt == "" || r.Error != "" || r.ExpiresAt != 0 {
		t.Errorf("applied record = %+v, want no pending marker, a decision time, no error, no expiry", r)
	}
	if want := []string{lease.RepositoryKey(repoARN)}; len(h.leases.keys) != 1 || h.leases.keys[0] != want[0] || h.leases.ttls[0] != 60*time.Second {
		t.Errorf("lease keys %v ttls %v, want %v for the default 60s", h.leases.keys, h.leases.ttls, want)
	}
}

func TestLeaseTTLIsConfigurable(t *testing.T) {
	h := newHarness(t)
	h.exec.LeaseTTL = 7 * time.Second
	if _, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(createChange(t), nil)}, nil)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(h.leases.ttls) != 1 || h.leases.ttls[0] != 7*time.Second {
		t.Errorf("lease ttls = %v, want [7s]", h.leases.ttls)
	}
}

func TestBeginFailsNoWrite(t *testing.T) {
	h := newHarness(t)
	h.table.putErr = &ddbtypes.ResourceNotFoundException{Message: aws.String("Requested resource not found")}
	res, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(createChange(t), nil)}, nil))
	var rnf *ddbtypes.ResourceNotFoundException
	if !errors.As(err, &rnf) || !strings.Contains(err.Error(), repoARN) {
		t.Fatalf("Run error = %v, want the table's ResourceNotFoundException naming %s", err, repoARN)
	}
	if res.Outcome != apply.Failed || res.Err == nil {
		t.Errorf("result = %s (%v), want failed with the error", res.Outcome, res.Err)
	}
	if h.writes != 0 {
		t.Errorf("AWS written %d times without an audit record", h.writes)
	}
	wantEvents(t, h, "plan", "lease acquired", "plan", "audit put pending failed", "lease released")
	wantDecisions(t, h)
}

// deniedWrite is AWS refusing the writer (not the document): the write
// fails and the invocation with it.
func deniedWrite() error {
	return &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User is not authorized to perform: ecr:SetRepositoryPolicy"}
}

func TestWriteFailsRecordsFailed(t *testing.T) {
	h := newHarness(t)
	werr := deniedWrite()
	res, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(createChange(t), nil)}, func() error { return werr }))
	if !errors.Is(err, werr) {
		t.Fatalf("Run error = %v, want the write's error", err)
	}
	if res.Outcome != apply.Failed || !errors.Is(res.Err, werr) {
		t.Errorf("result = %s (%v), want failed with the write's error", res.Outcome, res.Err)
	}
	wantEvents(t, h, "plan", "lease acquired", "plan", "audit pending", "write create", "audit failed", "lease released")
	recs := wantDecisions(t, h, "failed")
	if r := recs[0]; !strings.Contains(r.Error, "not authorized") || r.Pending != "" || r.After == "" {
		t.Errorf("failed record = %+v, want the write's error, no pending marker, the intended document", r)
	}
}

func TestWriteAndOutcomeBothFail(t *testing.T) {
	h := newHarness(t)
	werr := deniedWrite()
	h.table.updErr = &ddbtypes.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	res, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(createChange(t), nil)}, func() error { return werr }))
	var pt *ddbtypes.ProvisionedThroughputExceededException
	if !errors.Is(err, werr) || !errors.As(err, &pt) {
		t.Fatalf("Run error = %v, want both the write's and the audit table's errors", err)
	}
	if res.Outcome != apply.Failed {
		t.Errorf("result = %s, want failed", res.Outcome)
	}
	// The intent stays visibly pending: the by-pending index finds it.
	if recs := wantDecisions(t, h, "pending"); recs[0].Pending != "pending" {
		t.Errorf("record = %+v, want it still marked pending", recs[0])
	}
}

func TestAppliedOutcomeNotStored(t *testing.T) {
	h := newHarness(t)
	h.table.updErr = &ddbtypes.InternalServerError{Message: aws.String("boom")}
	res, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(createChange(t), nil)}, nil))
	var ise *ddbtypes.InternalServerError
	if !errors.As(err, &ise) {
		t.Fatalf("Run error = %v, want the audit table's error (the invocation must fail)", err)
	}
	// The write did happen: the result says so, and the retry will find nothing to do.
	if res.Outcome != apply.Changed || h.writes != 1 {
		t.Errorf("result = %s after %d writes, want changed after 1", res.Outcome, h.writes)
	}
	wantDecisions(t, h, "pending")
}

func TestReplanUnderLeaseFindsNothingToDo(t *testing.T) {
	h := newHarness(t)
	// Another writer converged the document between the first read and the lease.
	res, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(createChange(t), nil), ret(noneChange(t), nil)}, nil))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Outcome != apply.Unchanged || h.writes != 0 {
		t.Errorf("result = %s after %d writes, want unchanged after none", res.Outcome, h.writes)
	}
	wantEvents(t, h, "plan", "lease acquired", "plan", "audit noop", "lease released")
	wantDecisions(t, h, "noop")
}

func TestReplanUnderLeaseWritesTheSecondPlan(t *testing.T) {
	h := newHarness(t)
	first := createChange(t)
	second := first
	second.Op = plan.OpUpdate
	var wrote apply.Change
	s := h.step([]func() (apply.Change, error){ret(first, nil), ret(second, nil)}, nil)
	inner := s.Write
	s.Write = func(ctx context.Context, c apply.Change) error { wrote = c; return inner(ctx, c) }
	if _, err := h.exec.Run(context.Background(), s); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if wrote.Op != plan.OpUpdate {
		t.Errorf("wrote the %s from the first plan, want the update from the plan made under the lease", wrote.Op)
	}
	if recs := wantDecisions(t, h, "applied"); recs[0].Op != "update" {
		t.Errorf("record op = %s, want update", recs[0].Op)
	}
}

func TestDryRunRecordsPlanned(t *testing.T) {
	h := newHarness(t)
	h.exec.DryRun = true
	c := createChange(t)
	res, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(c, nil)}, nil))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Outcome != apply.Planned || res.Change.After != c.After {
		t.Errorf("result = %s, want planned with the change", res.Outcome)
	}
	wantEvents(t, h, "plan", "audit planned")
	recs := wantDecisions(t, h, "planned")
	if r := recs[0]; !r.DryRun || r.Op != "create" || r.After != c.After || r.Diff != c.Diff || r.Diff == "" || r.ExpiresAt != 0 {
		t.Errorf("planned record = %+v, want a dry-run create with after and diff, kept", r)
	}
	if h.writes != 0 || len(h.leases.keys) != 0 {
		t.Errorf("dry run wrote %d times and took leases %v", h.writes, h.leases.keys)
	}
}

func TestDryRunUpdateKeepsBefore(t *testing.T) {
	h := newHarness(t)
	h.exec.DryRun = true
	current := createChange(t).After
	more := append([]policy.Statement(nil), owned...)
	more[0].Principal = &policy.Principal{AWS: policy.StringList{"arn:aws:iam::222222222222:root", "arn:aws:iam::333333333333:root"}}
	pc, err := plan.Document(policy.ECRRepositoryPolicy, repoARN, current, more, prefix)
	if err != nil || pc.Op != plan.OpUpdate {
		t.Fatalf("setup: plan.Document = %s, %v; want update", pc.Op, err)
	}
	if _, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(apply.FromDocument(pc), nil)}, nil)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	recs := wantDecisions(t, h, "planned")
	if r := recs[0]; r.Before != pc.Before || r.Before == "" || r.After != pc.After || !strings.Contains(r.Diff, "333333333333") {
		t.Errorf("planned record = %+v, want before, after and a diff naming the added principal", r)
	}
}

func TestDryRunNoopIsMarked(t *testing.T) {
	h := newHarness(t)
	h.exec.DryRun = true
	if _, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(noneChange(t), nil)}, nil)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if recs := wantDecisions(t, h, "noop"); !recs[0].DryRun {
		t.Errorf("noop record of a dry run = %+v, want dryRun true", recs[0])
	}
}

func TestRefusedPlanIsRecordedNotReturned(t *testing.T) {
	guard := errors.New("statement EcrWardenX grants ecr:* to Principal *")
	for _, tc := range []struct {
		name  string
		plans []func() (apply.Change, error)
		ev    []string
	}{
		{"first plan", []func() (apply.Change, error){ret(apply.Change{}, &apply.RefusedError{Err: guard})},
			[]string{"plan", "audit refused"}},
		{"plan under the lease", []func() (apply.Change, error){ret(createChange(t), nil), ret(apply.Change{}, fmt.Errorf("planning (%s): %w", repoARN, &apply.RefusedError{Err: guard}))},
			[]string{"plan", "lease acquired", "plan", "audit refused", "lease released"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			res, err := h.exec.Run(context.Background(), h.step(tc.plans, nil))
			if err != nil {
				t.Fatalf("Run error = %v, want nil (refusals are recorded, not retried)", err)
			}
			if res.Outcome != apply.Refused || !errors.Is(res.Err, guard) {
				t.Errorf("result = %s (%v), want refused with the guardrail's error", res.Outcome, res.Err)
			}
			wantEvents(t, h, tc.ev...)
			recs := wantDecisions(t, h, "refused")
			if r := recs[0]; !strings.Contains(r.Error, "grants ecr:* to Principal *") || r.PK != repoARN {
				t.Errorf("refused record = %+v, want the reason and the target", r)
			}
			if h.writes != 0 {
				t.Errorf("refused change written %d times", h.writes)
			}
		})
	}
}

func TestPlanErrorIsReturned(t *testing.T) {
	readErr := &ecrtypes.ServerException{Message: aws.String("internal")}
	for _, tc := range []struct {
		name  string
		plans []func() (apply.Change, error)
		ev    []string
	}{
		{"first plan", []func() (apply.Change, error){ret(apply.Change{}, readErr)}, []string{"plan"}},
		{"plan under the lease", []func() (apply.Change, error){ret(createChange(t), nil), ret(apply.Change{}, readErr)},
			[]string{"plan", "lease acquired", "plan", "lease released"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			res, err := h.exec.Run(context.Background(), h.step(tc.plans, nil))
			if !errors.Is(err, readErr) {
				t.Fatalf("Run error = %v, want the read error", err)
			}
			if res.Outcome != apply.Failed || !errors.Is(res.Err, readErr) {
				t.Errorf("result = %s (%v), want failed", res.Outcome, res.Err)
			}
			wantEvents(t, h, tc.ev...)
			wantDecisions(t, h)
			if h.writes != 0 {
				t.Errorf("written %d times after a failed read", h.writes)
			}
		})
	}
}

func TestRuleConflictIsRecordedAsRefused(t *testing.T) {
	h := newHarness(t)
	reason := "rule hub exists with upstream registry-1.docker.io, declared ECR hub; not overwritten"
	res, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(apply.Change{Op: plan.OpConflict, Reason: reason}, nil)}, nil))
	if err != nil {
		t.Fatalf("Run error = %v, want nil", err)
	}
	if res.Outcome != apply.Refused || res.Err == nil || res.Err.Error() != reason {
		t.Errorf("result = %s (%v), want refused with the reason", res.Outcome, res.Err)
	}
	wantEvents(t, h, "plan", "audit refused")
	if recs := wantDecisions(t, h, "refused"); recs[0].Error != reason || recs[0].Op != "conflict" {
		t.Errorf("record = %+v, want op conflict with the reason", recs[0])
	}
	if h.writes != 0 || len(h.leases.keys) != 0 {
		t.Errorf("conflict wrote %d times, took leases %v", h.writes, h.leases.keys)
	}
}

func TestLeaseBusyFailsWithoutRecord(t *testing.T) {
	h := newHarness(t)
	h.leases.busy = &lease.BusyError{Key: lease.RepositoryKey(repoARN), Holder: "drift/req-9", Until: time.Now().Add(time.Minute), Waited: 20 * time.Second}
	res, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(createChange(t), nil)}, nil))
	if !errors.Is(err, lease.ErrBusy) {
		t.Fatalf("Run error = %v, want lease.ErrBusy", err)
	}
	if res.Outcome != apply.Failed || res.Target.ARN != repoARN {
		t.Errorf("result = %+v, want failed for %s", res, repoARN)
	}
	wantEvents(t, h, "plan", "lease busy")
	wantDecisions(t, h)
	if h.writes != 0 {
		t.Errorf("written %d times without the lease", h.writes)
	}
}

// principalNotReady is what ECR answers while a principal the policy names
// is still propagating.
func principalNotReady() error {
	return &ecrtypes.InvalidParameterException{Message: aws.String("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Invalid registry policy provided'")}
}

func TestPrincipalWaitRetriesTheWrite(t *testing.T) {
	h := newHarness(t)
	calls := 0
	s := h.step([]func() (apply.Change, error){ret(createChange(t), nil)}, func() error {
		calls++
		if calls <= 2 {
			return principalNotReady()
		}
		return nil
	})
	// Large enough that two back-offs (at most 250ms + 500ms) fit; the
	// test sleeps only those.
	s.PrincipalWait = 10 * time.Second
	res, err := h.exec.Run(context.Background(), s)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Outcome != apply.Changed || h.writes != 3 {
		t.Errorf("result = %s after %d writes, want changed after 3", res.Outcome, h.writes)
	}
	wantEvents(t, h, "plan", "lease acquired", "plan", "audit pending",
		"write create", "write create", "write create", "audit applied", "lease released")
	wantDecisions(t, h, "applied")
}

func TestWithoutPrincipalWaitTheWriteIsNotRetried(t *testing.T) {
	h := newHarness(t)
	res, err := h.exec.Run(context.Background(), h.step([]func() (apply.Change, error){ret(createChange(t), nil)}, principalNotReady))
	var ipe *ecrtypes.InvalidParameterException
	if !errors.As(err, &ipe) {
		t.Fatalf("Run error = %v, want the InvalidParameterException", err)
	}
	if res.Outcome != apply.Failed || h.writes != 1 {
		t.Errorf("result = %s after %d writes, want failed after 1", res.Outcome, h.writes)
	}
	if recs := wantDecisions(t, h, "failed"); !strings.Contains(recs[0].Error, "Invalid registry policy provided") {
		t.Errorf("failed record error = %q", recs[0].Error)
	}
}

// A document AWS refuses for what it says is not retried as a principal
// still propagating: it is refused after one write, with AWS's answer, and
// the invocation succeeds (it would be refused again on every retry).
func TestPrincipalWaitDoesNotRetryOtherErrors(t *testing.T) {
	h := newHarness(t)
	invalid := &ecrtypes.InvalidParameterException{Message: aws.String("Invalid parameter at 'PolicyText' failed to satisfy constraint: 'Action not allowed'")}
	s := h.step([]func() (apply.Change, error){ret(createChange(t), nil)}, func() error { return invalid })
	s.PrincipalWait = 10 * time.Second
	res, err := h.exec.Run(context.Background(), s)
	if err != nil || res.Outcome != apply.Refused || !errors.Is(res.Err, invalid) || h.writes != 1 {
		t.Errorf("Run = %s (%v), error %v after %d writes; want refused with AWS's answer after 1, no error", res.Outcome, res.Err, err, h.writes)
	}
	if recs := wantDecisions(t, h, "refused"); !strings.Contains(recs[0].Error, "aws-refused: ") || !strings.Contains(recs[0].Error, "Action not allowed") || recs[0].Pending != "" {
		t.Errorf("refused record %+v, want AWS's answer and no pending marker", recs[0])
	}
}

func TestChangeWrites(t *testing.T) {
	for op, want := range map[plan.Op]bool{
		plan.OpCreate: true, plan.OpUpdate: true, plan.OpDeleteOwned: true, plan.OpDeleteDocument: true, plan.OpDelete: true,
		plan.OpNone: false, plan.OpConflict: false, "": false,
	} {
		if got := (apply.Change{Op: op}).Writes(); got != want {
			t.Errorf("Change{Op: %q}.Writes() = %v, want %v", op, got, want)
		}
	}
}

func TestRefusedErrorUnwraps(t *testing.T) {
	inner := errors.New("document is 10241 bytes, over the 10240 limit")
	var err error = &apply.RefusedError{Err: inner}
	if err.Error() != inner.Error() || !errors.Is(err, inner) {
		t.Errorf("RefusedError = %q, unwraps to inner: %v", err, errors.Is(err, inner))
	}
}
