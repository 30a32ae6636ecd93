package apply_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/smithy-go"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/lease"
)

// batchTable adds DynamoDB's BatchWriteItem to the fake audit table: puts
// that may overwrite (an outcome replaces its intent), in one call, and with
// failAfter set every call after the first failAfter fails, as when the
// process dies in the middle of a batched write.
type batchTable struct {
	*table
	calls     int
	failAfter int
}

func (b *batchTable) BatchWriteItem(_ context.Context, in *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	var n int
	for _, reqs := range in.RequestItems {
		n += len(reqs)
	}
	if b.failAfter > 0 && b.calls > b.failAfter {
		b.ev.add(fmt.Sprintf("audit batch of %d failed", n))
		return nil, errors.New("connection reset by peer")
	}
	d := ""
	for _, reqs := range in.RequestItems {
		for _, r := range reqs {
			it := r.PutRequest.Item
			key := attrS(it, audit.AttrPK) + "|" + attrS(it, audit.AttrSK)
			if _, ok := b.items[key]; !ok {
				b.keys = append(b.keys, key)
			}
			b.items[key] = it
			d = attrS(it, "decision")
		}
	}
	b.ev.add(fmt.Sprintf("audit batch of %d %s", n, d))
	return &dynamodb.BatchWriteItemOutput{UnprocessedItems: map[string][]ddbtypes.WriteRequest{}}, nil
}

// unitLease is a unit's lease: it expires at exp; Renew fails with renewErr.
type unitLease struct {
	mu       sync.Mutex
	exp      time.Time
	renewErr error
	renewals int
}

func (h *unitLease) Expires() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.exp
}

func (h *unitLease) Renew(_ context.Context, ttl time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.renewals++
	if h.renewErr != nil {
		return h.renewErr
	}
	h.exp = time.Now().Add(ttl)
	return nil
}

// unitHarness is a harness whose trail stores batches.
func unitHarness(t *testing.T, failAfter int) (*harness, *batchTable) {
	t.Helper()
	h := newHarness(t)
	bt := &batchTable{table: h.table, failAfter: failAfter}
	trail, err := audit.New(bt, "audit", audit.Options{Function: "apply-test"})
	if err != nil {
		t.Fatal(err)
	}
	h.exec = &apply.Executor{Trail: trail, Leases: h.leases, QuietNoops: true}
	return h, bt
}

// changes is n documents to create and m already converged, as a unit plans
// them from its one read under its lease.
func (h *harness) changes(t *testing.T, n, m int) []apply.HeldChange {
	var out []apply.HeldChange
	for i := range n + m {
		s := h.step(nil, nil)
		s.Target.ARN = fmt.Sprintf("%s-%02d", repoARN, i)
		c := createChange(t)
		if i >= n {
			c = noneChange(t)
		}
		out = append(out, apply.HeldChange{Step: s, Change: c})
	}
	return out
}

// A unit's 30 writes cost 2 intent batches before the first write and 2
// outcome batches after the last; its 5 unchanged documents cost nothing.
func TestApplyHeldBatchesIntentsBeforeWrites(t *testing.T) {
	h, bt := unitHarness(t, 0)
	res, err := h.exec.ApplyHeld(context.Background(), &unitLease{exp: time.Now().Add(time.Minute)}, h.changes(t, 30, 5))
	if err != nil {
		t.Fatal(err)
	}
	changed, unchanged := 0, 0
	for _, r := range res {
		switch r.Outcome {
		case apply.Changed:
			changed++
		case apply.Unchanged:
			unchanged++
		}
	}
	if changed != 30 || unchanged != 5 || h.writes != 30 || bt.calls != 4 {
		t.Fatalf("changed %d unchanged %d writes %d batch calls %d; want 30, 5, 30, 4", changed, unchanged, h.writes, bt.calls)
	}
	ev := h.ev.list()
	if ev[0] != "audit batch of 25 pending" || ev[1] != "audit batch of 5 pending" ||
		ev[len(ev)-2] != "audit batch of 25 applied" || ev[len(ev)-1] != "audit batch of 5 applied" {
		t.Fatalf("protocol order: %v", ev)
	}
	for _, r := range h.table.records(t) {
		if r.Decision != "applied" || r.Pending != "" || r.After == "" {
			t.Fatalf("record %s: decision %s pending %q", r.PK, r.Decision, r.Pending)
		}
	}
	if n := len(h.table.records(t)); n != 30 {
		t.Fatalf("%d records, want 30 (none for unchanged documents)", n)
	}
}

// A crash in the middle of a batched intent write: the first BatchWriteItem
// (25 intents) is stored, the second (5) and everything after fail. Exactly
// the 25 writes whose intents were stored happen; the 5 others are not
// written and have no record; the 25 stay visibly pending because their
// outcomes could not be stored either.
func TestApplyHeldCrashMidIntentBatch(t *testing.T) {
	h, _ := unitHarness(t, 1)
	res, err := h.exec.ApplyHeld(context.Background(), &unitLease{exp: time.Now().Add(time.Minute)}, h.changes(t, 30, 0))
	if err == nil {
		t.Fatal("the failed batches were not reported")
	}
	if h.writes != 25 {
		t.Fatalf("%d AWS writes, want the 25 with stored intents", h.writes)
	}
	notStored := 0
	for _, r := range res {
		if r.Outcome == apply.Failed && strings.Contains(fmt.Sprint(r.Err), "intent not stored") {
			notStored++
		}
	}
	if notStored != 5 {
		t.Fatalf("%d results say their intent was not stored, want 5", notStored)
	}
	recs := h.table.records(t)
	if len(recs) != 25 {
		t.Fatalf("%d records, want 25", len(recs))
	}
	for _, r := range recs {
		if r.Decision != "pending" || r.Pending != "pending" {
			t.Fatalf("record %s: %s, want pending (visible to make audit -stale)", r.PK, r.Decision)
		}
	}
}

// A unit whose lease was taken over writes nothing: the renewal before the
// first write fails, every stored intent is settled failed.
func TestApplyHeldStopsWhenTheLeaseIsLost(t *testing.T) {
	h, _ := unitHarness(t, 0)
	hl := &unitLease{exp: time.Now().Add(5 * time.Second), renewErr: lease.ErrNotHeld}
	_, err := h.exec.ApplyHeld(context.Background(), hl, h.changes(t, 3, 0))
	if !errors.Is(err, lease.ErrNotHeld) || h.writes != 0 {
		t.Fatalf("err %v, %d writes; want ErrNotHeld and none", err, h.writes)
	}
	for _, r := range h.table.records(t) {
		if r.Decision != "failed" || !strings.Contains(r.Error, "lease lost") {
			t.Fatalf("record %s: %s %q, want failed naming the lost lease", r.PK, r.Decision, r.Error)
		}
	}
}

// A dry run stores its plans in one batch and takes no lease.
func TestApplyHeldDryRunRecordsPlanned(t *testing.T) {
	h, bt := unitHarness(t, 0)
	h.exec.DryRun = true
	err := h.exec.HoldUnit(context.Background(), lease.RegistryKey("111111111111", "us-east-1"), func(ctx context.Context, hl apply.HeldLease) error {
		res, err := h.exec.ApplyHeld(ctx, hl, h.changes(t, 4, 2))
		for _, r := range res[:4] {
			if r.Outcome != apply.Planned {
				t.Errorf("outcome %s, want planned", r.Outcome)
			}
		}
		return err
	})
	if err != nil || h.writes != 0 || bt.calls != 1 || len(h.leases.keys) != 0 {
		t.Fatalf("err %v writes %d batch calls %d leases %v", err, h.writes, bt.calls, h.leases.keys)
	}
	for _, r := range h.table.records(t) {
		if r.Decision != "planned" || !r.DryRun {
			t.Fatalf("record %+v", r)
		}
	}
}

// Under DeferOutcomes a batch whose writes all landed stores its intents
// first and leaves its outcomes to the caller's Finish (the hub holder
// stores them while it closes its mailbox); a batch with a failed write
// stores every outcome at once, as without it.
func TestApplyHeldDefersOutcomesOnlyWhenEveryWriteLanded(t *testing.T) {
	h, bt := unitHarness(t, 0)
	d := &apply.Deferred{}
	ctx := apply.DeferOutcomes(context.Background(), d)
	if _, err := h.exec.ApplyHeld(ctx, &unitLease{exp: time.Now().Add(time.Minute)}, h.changes(t, 3, 0)); err != nil {
		t.Fatal(err)
	}
	if bt.calls != 1 || h.writes != 3 {
		t.Fatalf("%d audit batches, %d writes before Finish; want the intents' 1 and 3", bt.calls, h.writes)
	}
	for _, r := range h.table.records(t) {
		if r.Decision != "pending" {
			t.Fatalf("record %s is %s before Finish, want pending", r.PK, r.Decision)
		}
	}
	if err := d.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Finish(context.Background()); err != nil || bt.calls != 2 {
		t.Fatalf("a second Finish: %v, %d batches; want nothing more stored", err, bt.calls)
	}
	for _, r := range h.table.records(t) {
		if r.Decision != "applied" || r.Pending != "" {
			t.Fatalf("record %s is %s after Finish, want applied", r.PK, r.Decision)
		}
	}

	h, bt = unitHarness(t, 0)
	d = &apply.Deferred{}
	items := h.changes(t, 2, 0)
	items[1].Step = h.step(nil, func() error { return errors.New("ECR answered 400") })
	items[1].Step.Target.ARN += "-failing"
	if _, err := h.exec.ApplyHeld(apply.DeferOutcomes(context.Background(), d), &unitLease{exp: time.Now().Add(time.Minute)}, items); err == nil {
		t.Fatal("the failed write was not reported")
	}
	decisions := map[string]int{}
	for _, r := range h.table.records(t) {
		decisions[string(r.Decision)]++
	}
	if bt.calls != 2 || decisions["applied"] != 1 || decisions["failed"] != 1 {
		t.Fatalf("%d batches, decisions %v; want the outcomes stored at once: 1 applied, 1 failed", bt.calls, decisions)
	}
}

// A unit's write AWS refuses for its document (a role's inline policy past
// IAM's aggregate) is refused with AWS's answer, not failed: the batch does
// not fail for it, a change of a higher wave that needs it (a rule naming
// the role) is refused too without being written, and the others are
// written.
func TestApplyHeldLeavesOutWhatAWSRefusesAndWhatNeedsIt(t *testing.T) {
	h, _ := unitHarness(t, 0)
	items := h.changes(t, 3, 0)
	refusedARN := items[0].Step.Target.ARN
	items[0].Step.Write = func(context.Context, apply.Change) error {
		return &iamtypes.LimitExceededException{Message: aws.String("Maximum policy size of 10240 bytes exceeded for role ecr-warden-ptc")}
	}
	items[1].Wave, items[1].Needs = 1, []string{refusedARN}
	items[2].Wave = 1
	res, err := h.exec.ApplyHeld(context.Background(), &unitLease{exp: time.Now().Add(time.Minute)}, items)
	if err != nil {
		t.Fatalf("ApplyHeld: %v; a refusal of one document must not fail the batch", err)
	}
	if res[0].Outcome != apply.Refused || res[1].Outcome != apply.Refused || res[2].Outcome != apply.Changed || h.writes != 1 {
		t.Fatalf("outcomes %s, %s, %s after %d writes; want refused, refused (not written), changed after 1",
			res[0].Outcome, res[1].Outcome, res[2].Outcome, h.writes)
	}
	byARN := map[string]stored{}
	for _, r := range h.table.records(t) {
		byARN[r.PK] = r
	}
	if r := byARN[refusedARN]; r.Decision != "refused" || r.Pending != "" || !strings.Contains(r.Error, "aws-refused: ") || !strings.Contains(r.Error, "Maximum policy size") {
		t.Errorf("refused write's record %+v; want its intent settled refused with AWS's answer", r)
	}
	if r := byARN[items[1].Step.Target.ARN]; r.Decision != "refused" || r.Pending != "" || !strings.Contains(r.Error, "needs "+refusedARN) || !strings.Contains(r.Error, "Maximum policy size") {
		t.Errorf("dependent's record %+v; want its intent settled refused naming what it needs and why", r)
	}
	if r := byARN[items[2].Step.Target.ARN]; r.Decision != "applied" {
		t.Errorf("independent write's record %+v; want applied", r)
	}
	if len(res[0].RefusalIDs) != 1 || res[0].RefusalIDs[0] == "" {
		t.Errorf("refusal ids %v, want the refused record's id", res[0].RefusalIDs)
	}
}

// A unit's write that fails (not refused: AccessDenied, from an SCP)
// holds back the change of a higher wave that needs it: not written, its
// intent settled failed naming what it needs and why, and the batch fails
// so the unit is retried; a change that needs nothing is written. The
// failed dependency is told apart from a refused one: failed, not
// refused, and no aws-refused reason. A change that needs a document whose
// read failed is held back the same way.
func TestApplyHeldHoldsBackWhatNeedsAFailedWrite(t *testing.T) {
	h, _ := unitHarness(t, 0)
	items := h.changes(t, 3, 0)
	failedARN := items[0].Step.Target.ARN
	items[0].Step.Write = func(context.Context, apply.Change) error {
		return &smithy.GenericAPIError{Code: "AccessDenied", Message: "explicit deny in a service control policy", Fault: smithy.FaultClient}
	}
	items[1].Wave, items[1].Needs = 1, []string{failedARN}
	items[2].Wave = 1
	res, err := h.exec.ApplyHeld(context.Background(), &unitLease{exp: time.Now().Add(time.Minute)}, items)
	if err == nil || !strings.Contains(err.Error(), "explicit deny") || !strings.Contains(err.Error(), "needs "+failedARN) {
		t.Fatalf("ApplyHeld: %v; want the batch failed, naming the failed write and what it held back", err)
	}
	if res[0].Outcome != apply.Failed || res[1].Outcome != apply.Failed || res[2].Outcome != apply.Changed || h.writes != 1 {
		t.Fatalf("outcomes %s, %s, %s after %d writes; want failed, failed (not written), changed after 1",
			res[0].Outcome, res[1].Outcome, res[2].Outcome, h.writes)
	}
	byARN := map[string]stored{}
	for _, r := range h.table.records(t) {
		byARN[r.PK] = r
	}
	if r := byARN[items[1].Step.Target.ARN]; r.Decision != "failed" || r.Pending != "" || strings.HasPrefix(r.Error, "aws-refused") ||
		!strings.Contains(r.Error, "not written: it needs "+failedARN+", which failed") || !strings.Contains(r.Error, "explicit deny in a service control policy") {
		t.Errorf("dependent's record %+v; want its intent settled failed naming what it needs and that write's error", r)
	}
	if r := byARN[failedARN]; r.Decision != "failed" || r.Pending != "" {
		t.Errorf("failed write's record %+v; want failed", r)
	}
	if r := byARN[items[2].Step.Target.ARN]; r.Decision != "applied" {
		t.Errorf("independent write's record %+v; want applied", r)
	}

	// A needed document ecr-warden's own plan refused holds back what needs
	// it as refused (no retry changes it), without failing the batch.
	h, _ = unitHarness(t, 0)
	items = h.changes(t, 3, 0)
	planned := items[0].Step.Target.ARN
	items[0].Err = &apply.RefusedError{Err: errors.New("the role's trust names a principal ecr-warden does not write")}
	items[1].Wave, items[1].Needs = 1, []string{planned}
	items[2].Wave = 1
	res, err = h.exec.ApplyHeld(context.Background(), &unitLease{exp: time.Now().Add(time.Minute)}, items)
	if err != nil || res[0].Outcome != apply.Refused || res[1].Outcome != apply.Refused || res[2].Outcome != apply.Changed || h.writes != 1 {
		t.Fatalf("error %v, outcomes %s, %s, %s after %d writes; want refused, refused (not written), changed after 1 write, the batch not failed",
			err, res[0].Outcome, res[1].Outcome, res[2].Outcome, h.writes)
	}
	byARN = map[string]stored{}
	for _, r := range h.table.records(t) {
		byARN[r.PK] = r
	}
	if r := byARN[items[1].Step.Target.ARN]; r.Decision != "refused" || r.Pending != "" || strings.HasPrefix(r.Error, "aws-refused") ||
		!strings.Contains(r.Error, "not written: it needs "+planned+", which ecr-warden refused to write") || !strings.Contains(r.Error, "names a principal") {
		t.Errorf("dependent's record %+v; want its intent settled refused naming what it needs and that refusal", r)
	}

	// A needed document that could not be read holds back the same way.
	h, _ = unitHarness(t, 0)
	items = h.changes(t, 2, 0)
	unread := items[0].Step.Target.ARN
	items[0].Err = errors.New("reading role: ServiceFailure")
	items[1].Wave, items[1].Needs = 1, []string{unread}
	res, err = h.exec.ApplyHeld(context.Background(), &unitLease{exp: time.Now().Add(time.Minute)}, items)
	if err == nil || res[1].Outcome != apply.Failed || h.writes != 0 || !strings.Contains(res[1].Err.Error(), "reading it failed") {
		t.Fatalf("error %v, dependent %s (%v) after %d writes; want the batch failed and the dependent held back, naming the failed read", err, res[1].Outcome, res[1].Err, h.writes)
	}
}

// A needed write that answered an error but landed (an earlier attempt,
// retried by the SDK after its answer was lost, wrote it: the re-read finds
// what the change writes) is applied, and what needs it is written after it,
// not held back; the batch does not fail. One that answered the same error
// and did not land holds the dependent back, failed.
func TestApplyHeldWritesWhatNeedsAWriteThatLanded(t *testing.T) {
	for _, tc := range []struct {
		name      string
		land      bool
		wantFirst apply.Outcome
		wantDep   apply.Outcome
		writes    int
	}{
		{"landed", true, apply.Changed, apply.Changed, 2},
		{"did not land", false, apply.Failed, apply.Failed, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := unitHarness(t, 0)
			items := h.changes(t, 2, 0)
			first := items[0].Step.Target.ARN
			held := ""
			items[0].Step.Write = func(_ context.Context, c apply.Change) error {
				h.writes++
				if tc.land {
					held = c.After
				}
				return serverError()
			}
			items[0].Step.Reread = apply.DocumentReread(func(context.Context) (string, error) { return held, nil })
			items[1].Wave, items[1].Needs = 1, []string{first}
			res, err := h.exec.ApplyHeld(context.Background(), &unitLease{exp: time.Now().Add(time.Minute)}, items)
			if res[0].Outcome != tc.wantFirst || res[1].Outcome != tc.wantDep || h.writes != tc.writes {
				t.Fatalf("outcomes %s, %s after %d writes (error %v); want %s, %s after %d", res[0].Outcome, res[1].Outcome, h.writes, err,
					tc.wantFirst, tc.wantDep, tc.writes)
			}
			if tc.land != (err == nil) {
				t.Errorf("ApplyHeld error %v; want the batch to fail only when the needed write did not land", err)
			}
			byARN := map[string]stored{}
			for _, r := range h.table.records(t) {
				byARN[r.PK] = r
			}
			want := map[bool][2]string{true: {"applied", "applied"}, false: {"failed", "failed"}}[tc.land]
			if r := byARN[first]; r.Decision != want[0] || r.Pending != "" {
				t.Errorf("needed write's record %+v; want %s", r, want[0])
			}
			if r := byARN[items[1].Step.Target.ARN]; r.Decision != want[1] || r.Pending != "" {
				t.Errorf("dependent's record %+v; want %s", r, want[1])
			}
		})
	}
}
