package workqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// sqsFake answers SendMessageBatch as SQS does for the limits the sender
// keeps (10 entries, 256 KiB a call), records the bodies' units, and, when
// heap is set, the live heap at each call.
type sqsFake struct {
	t     *testing.T
	calls int
	units []reconcile.Work
	heap  bool
	peak  uint64
	// dedup holds the deduplication ids a FIFO queue has seen: SQS answers
	// a repeated one with success and delivers nothing.
	dedup map[string]bool
}

func (f *sqsFake) SendMessageBatch(_ context.Context, in *sqs.SendMessageBatchInput, _ ...func(*sqs.Options)) (*sqs.SendMessageBatchOutput, error) {
	f.calls++
	if len(in.Entries) > maxBatchEntries {
		f.t.Errorf("batch of %d entries, SQS takes at most %d", len(in.Entries), maxBatchEntries)
	}
	size := 0
	out := &sqs.SendMessageBatchOutput{}
	for _, e := range in.Entries {
		size += len(aws.ToString(e.MessageBody))
		var w reconcile.Work
		if err := json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &w); err != nil {
			f.t.Fatal(err)
		}
		if id := aws.ToString(e.MessageDeduplicationId); id != "" {
			if len(id) > 128 {
				f.t.Errorf("deduplication id of %d characters, SQS takes at most 128", len(id))
			}
			if f.dedup == nil {
				f.dedup = map[string]bool{}
			}
			if f.dedup[id] {
				out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
				continue
			}
			f.dedup[id] = true
		}
		f.units = append(f.units, reconcile.Work{Account: w.Account, Region: w.Region, After: w.After})
		out.Successful = append(out.Successful, sqstypes.SendMessageBatchResultEntry{Id: e.Id})
	}
	if size > MaxMessageBytes {
		f.t.Errorf("batch of %d bytes, SQS takes at most %d", size, MaxMessageBytes)
	}
	if f.heap {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		f.peak = max(f.peak, m.HeapAlloc)
	}
	return out, nil
}

// organization is n active accounts in OUs two levels deep, as a backfill
// walk returns them.
func organization(n int) []desired.Account {
	accounts := make([]desired.Account, n)
	for i := range accounts {
		accounts[i] = desired.Account{ID: fmt.Sprintf("%012d", 100000000000+i), Status: "ACTIVE",
			OUPath: fmt.Sprintf("o-a1b2c3d4e5/r-a1b2/ou-a1b2-%08d/ou-a1b2-%08d/", i%7, i%50)}
	}
	return accounts
}

// A backfill whose grants enumerate sends every member unit with the whole
// organization: at 1,000 accounts a unit is about 116 KB, and 1,000 members
// in 4 regions are 464 MB of bodies. The sender holds one batch at a time,
// not every body at once (which the backfill's 512 MB could not hold): here
// 400 such units, 46 MB of bodies, are sent with the heap never more than a
// few batches above where it started, two units a call.
func TestSendHoldsOneBatchAtATime(t *testing.T) {
	org := organization(1000)
	units := make([]reconcile.Work, 400)
	for i := range units {
		units[i] = reconcile.Work{RunID: "backfill-1", Account: org[i].ID, Region: "us-east-1", Accounts: org, WalkedAt: time.Now()}
	}
	one, err := json.Marshal(units[0])
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	f := &sqsFake{t: t, heap: true}
	n, err := Queue{Client: f, URL: "https://sqs.us-east-1.amazonaws.com/111111111111/work"}.Send(context.Background(), units)
	if err != nil || n != len(units) {
		t.Fatalf("sent %d of %d: %v", n, len(units), err)
	}
	perCall := MaxMessageBytes / len(one)
	if want := (len(units) + perCall - 1) / perCall; f.calls != want {
		t.Errorf("%d SendMessageBatch calls for %d units of %d bytes, want %d (%d a call)", f.calls, len(units), len(one), want, perCall)
	}
	grown := int64(f.peak) - int64(base.HeapAlloc)
	all := int64(len(units) * len(one))
	t.Logf("%d units of %d bytes (%d MB in all) in %d calls; the live heap grew by at most %d KB while sending", len(units), len(one), all>>20, f.calls, grown>>10)
	if grown > 8*MaxMessageBytes {
		t.Errorf("the live heap grew by %d bytes while sending %d bytes of units: every body is held until the last batch, want at most a few batches (%d bytes)", grown, all, 8*MaxMessageBytes)
	}
}

// A unit over SQS's message limit is refused by name before anything is
// sent: a run is queued whole or not at all.
func TestSendRefusesAnOversizedUnitBeforeSending(t *testing.T) {
	small := reconcile.Work{RunID: "backfill-1", Account: "222222222222", Region: "us-east-1", Accounts: organization(1)}
	big := reconcile.Work{RunID: "backfill-1", Account: "111111111111", Region: "us-east-1", Accounts: organization(3000)}
	f := &sqsFake{t: t}
	n, err := Queue{Client: f, URL: "https://sqs.us-east-1.amazonaws.com/111111111111/work"}.Send(context.Background(), []reconcile.Work{small, small, big})
	if err == nil || n != 0 || f.calls != 0 {
		t.Fatalf("sent %d in %d calls, error %v; want nothing sent and the unit refused", n, f.calls, err)
	}
	for _, want := range []string{"unit 111111111111/us-east-1", "over the SQS message limit of 262144"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

// A delayed unit is sent with its delay on a standard queue; a FIFO queue
// takes no delay and keeps a group's order, so the delayed copy is left out
// there.
func TestSendDelaysOnAStandardQueueOnly(t *testing.T) {
	units := []reconcile.Work{
		{RunID: "evt-1", Account: "222222222222", Region: "us-east-1", Accounts: organization(1)},
		{RunID: "evt-1", Account: "222222222222", Region: "us-east-1", Accounts: organization(1), Delay: 15 * time.Minute},
	}
	for _, url := range []string{"https://sqs.us-east-1.amazonaws.com/111111111111/work", "https://sqs.us-east-1.amazonaws.com/111111111111/work.fifo"} {
		f := &sqsFake{t: t}
		n, err := Queue{Client: f, URL: url}.Send(context.Background(), units)
		want := 2
		if strings.HasSuffix(url, ".fifo") {
			want = 1
		}
		if err != nil || n != want || len(f.units) != want {
			t.Errorf("%s: sent %d (%d received), %v; want %d", url, n, len(f.units), err, want)
		}
	}
}

// On a FIFO queue a continuation (the same unit with a cursor) is
// delivered: SQS drops a message whose deduplication id it saw in the last
// 5 minutes, and a continuation follows its first try within seconds.
func TestContinuationIsDeliveredOnAFIFOQueue(t *testing.T) {
	f := &sqsFake{t: t}
	q := Queue{Client: f, URL: "https://sqs.us-east-1.amazonaws.com/111111111111/work.fifo"}
	first := reconcile.Work{RunID: "run-1", Account: "222222222222", Region: "us-east-1", Accounts: organization(1)}
	next := first
	next.After = "team-a/" + strings.Repeat("x", 240)
	for _, w := range []reconcile.Work{first, next, first} {
		if _, err := q.Send(context.Background(), []reconcile.Work{w}); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.units) != 2 || f.units[0].After != "" || f.units[1].After != next.After {
		t.Errorf("delivered %+v; want the unit once (its duplicate dropped) and its continuation", f.units)
	}
}
