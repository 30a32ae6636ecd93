package workqueue

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/bigorg"
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
	// keep records every body and its whole decoded unit.
	keep   bool
	bodies []string
	whole  []reconcile.Work
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
		if n := len(aws.ToString(e.MessageBody)); n > MaxMessageBytes {
			f.t.Errorf("message of %d bytes, SQS takes at most %d", n, MaxMessageBytes)
		}
		var m Message
		if err := json.Unmarshal([]byte(aws.ToString(e.MessageBody)), &m); err != nil {
			f.t.Fatal(err)
		}
		w, err := m.Unit()
		if err != nil {
			f.t.Fatal(err)
		}
		if f.keep {
			f.bodies = append(f.bodies, aws.ToString(e.MessageBody))
			f.whole = append(f.whole, w)
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
	big := reconcile.Work{RunID: "backfill-1", Account: "111111111111", Region: "us-east-1", Accounts: bigorg.Accounts(2*FitAccounts, 1)}
	f := &sqsFake{t: t}
	n, err := Queue{Client: f, URL: "https://sqs.us-east-1.amazonaws.com/111111111111/work"}.Send(context.Background(), []reconcile.Work{small, small, big})
	if err == nil || n != 0 || f.calls != 0 {
		t.Fatalf("sent %d in %d calls, error %v; want nothing sent and the unit refused", n, f.calls, err)
	}
	for _, want := range []string{"unit 111111111111/us-east-1", "with its 20000 accounts compressed, over the SQS message limit of 262144",
		fmt.Sprintf("an organization of up to about %d accounts", FitAccounts), "use condition-mode grants"} {
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

// A unit carrying an organization of 5,000 accounts (random ids, names,
// OU paths two to four levels deep) is sent, its accounts compressed, and
// decodes to the very unit the backfill built; a small unit in the same
// run is sent as before, byte for byte json.Marshal of its Work. Before,
// the send refused the run: the unit was about 650 KB, over SQS's 256 KiB.
func TestSendCarriesALargeOrganizationCompressed(t *testing.T) {
	org := bigorg.Accounts(5000, 7)
	walked := time.Date(2024, 6, 1, 10, 0, 0, 0, time.UTC)
	units := []reconcile.Work{
		{RunID: "backfill-1", Account: "111111111111", Region: "us-east-1", Accounts: organization(1), WalkedAt: walked},
	}
	for _, a := range org[:12] {
		units = append(units, reconcile.Work{RunID: "backfill-1", Account: a.ID, Region: "eu-west-1", Accounts: org, Role: true, WalkedAt: walked})
	}
	f := &sqsFake{t: t, keep: true}
	n, err := Queue{Client: f, URL: "https://sqs.us-east-1.amazonaws.com/111111111111/work"}.Send(context.Background(), units)
	if err != nil || n != len(units) {
		t.Fatalf("sent %d of %d: %v", n, len(units), err)
	}
	plain, _ := json.Marshal(units[0])
	if f.bodies[0] != string(plain) {
		t.Errorf("small unit's body changed:\n%s\nwant json.Marshal of its Work:\n%s", f.bodies[0], plain)
	}
	for i, w := range f.whole {
		if !reflect.DeepEqual(w, units[i]) {
			t.Errorf("unit %d decodes to %s/%s with %d accounts, want the unit sent (%s/%s with %d accounts)", i, w.Account, w.Region, len(w.Accounts), units[i].Account, units[i].Region, len(units[i].Accounts))
		}
	}
	plainBig, _ := json.Marshal(units[1])
	t.Logf("a unit of %d accounts: %d bytes plain, %d bytes sent; %d units in %d calls", len(org), len(plainBig), len(f.bodies[1]), n, f.calls)
	if !strings.Contains(f.bodies[1], `"accountsGz":"`) || len(plainBig) <= MaxMessageBytes {
		t.Errorf("the 5,000-account unit (%d bytes plain) was not sent compressed", len(plainBig))
	}
}

// FitAccounts, the limit the refusal and the README state, is what fits:
// the largest organization (random ids, names, OU paths two to four levels
// deep) whose unit is sent, measured here, is FitAccounts or a little more.
// Names are counted although the backfill's units carry none (about 19,500
// accounts fit then): an account event's units carry them.
func TestFitAccountsIsMeasured(t *testing.T) {
	largest := func(fits func(reconcile.Work) bool) int {
		lo, hi := 1, 4*FitAccounts
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if fits(reconcile.Work{RunID: "backfill-2024-06-01T10:00:00Z", Account: "123456789012", Region: "eu-west-1", Accounts: bigorg.Accounts(mid, 1), Role: true, WalkedAt: time.Now()}) {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		return lo
	}
	before := largest(func(w reconcile.Work) bool { b, _ := json.Marshal(w); return len(b) <= MaxMessageBytes })
	after := largest(func(w reconcile.Work) bool { var e encoder; _, err := e.encode(w); return err == nil })
	t.Logf("largest organization whose unit fits one message: %d accounts plain, %d compressed", before, after)
	if after < FitAccounts || after > FitAccounts*5/4 {
		t.Errorf("%d accounts fit, FitAccounts says about %d: measure again and update it and the README", after, FitAccounts)
	}
}

// A compressed field that inflates past MaxAccountsJSON (a gzip bomb: 4 MiB
// of one byte is about 4 KB of gzip) is refused by name, not inflated whole.
func TestUnitRefusesAnAccountsBomb(t *testing.T) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(bytes.Repeat([]byte(" "), MaxAccountsJSON+1))
	_ = zw.Close()
	m := Message{Work: reconcile.Work{RunID: "r", Account: "222222222222", Region: "eu-west-1"}, AccountsGz: base64.StdEncoding.EncodeToString(buf.Bytes())}
	_, err := m.Unit()
	if err == nil || !strings.Contains(err.Error(), `accountsGz of unit "222222222222"/"eu-west-1" inflates past 4194304 bytes`) {
		t.Errorf("Unit() = %v; want the bomb refused by name", err)
	}
}
