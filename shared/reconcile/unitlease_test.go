package reconcile

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/lease"
)

// A unit's chunk reads its repositories' policies under the registry's
// lease before it writes any; ECR throttling can stretch those reads past
// the lease's life (here 40 reads of 300 ms, two at a time, 6 s, against a
// 2 s lease on the local DynamoDB, which lapses within 4 s). Another writer of the registry waits
// for the lease meanwhile. Before, nothing renewed the lease during the
// reads: it lapsed, the waiting writer took it, the unit's renewal before
// its writes found it lost, and the unit wrote nothing and failed (on
// every retry, while events keep the registry busy). Now the lease is
// renewed between reads: the other writer gets it only after the unit's
// release, and the unit converges every repository in one try.
func TestAChunkWhoseReadsOutlastTheLeaseKeepsIt(t *testing.T) {
	localaws.Need(t)
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, resumeDeclaration)
	const repos = 40
	for i := range repos {
		w.aws.CreateRepository(fTeamA, fRegion, fmt.Sprintf("apps/r%02d", i), nil)
	}
	leaseTable(t, w)
	w.engine.Exec.LeaseTTL = 2 * time.Second
	w.engine.Concurrency = 2
	w.aws.Latency(func(c fakeaws.Call) time.Duration {
		if c.Operation == "GetRepositoryPolicy" {
			return 300 * time.Millisecond
		}
		return 0
	})
	other, err := lease.New(dynamodb.NewFromConfig(server.Config(region)), "leases", lease.Options{Holder: "event"})
	if err != nil {
		t.Fatal(err)
	}
	key := lease.RegistryKey(fTeamA, fRegion)
	took := make(chan time.Time, 1)
	go func() {
		time.Sleep(500 * time.Millisecond) // the unit holds the lease by now
		l, err := other.Acquire(context.Background(), key, time.Second)
		if err != nil {
			took <- time.Time{}
			return
		}
		took <- time.Now()
		_ = l.Release(context.Background())
	}()
	u := Work{RunID: "sweep-1", Sweep: true, Account: fTeamA, Region: fRegion, WalkedAt: time.Now().Add(-time.Minute),
		Accounts: []desired.Account{{ID: fTeamA, Status: "ACTIVE", OUPath: w.ouPath(t, fTeamA)}}}
	rep, err := w.engine.Converge(context.Background(), u.Cause(), u)
	done := time.Now()
	if err != nil {
		t.Fatalf("unit failed: %v (changed %d, failed %d)", err, rep.Changed, rep.Failed)
	}
	if rep.Changed != repos+1 {
		t.Errorf("unit changed %d documents, want the registry policy and %d repositories", rep.Changed, repos)
	}
	if at := <-took; at.IsZero() || at.Before(done.Add(-time.Second)) {
		t.Errorf("the other writer took the registry's lease at %s, while the unit (done at %s) still read under it", at.Format(time.StampMilli), done.Format(time.StampMilli))
	}
	for i := range repos {
		name := fmt.Sprintf("apps/r%02d", i)
		hasAll(t, "repository policy of "+name, w.aws.RepositoryPolicy(fTeamA, fRegion, name), "arn:aws:iam::"+fTeamB+":root")
	}
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionFailed || r.Decision == audit.DecisionPending || strings.Contains(r.Error, "lease lost") {
			t.Errorf("record %s %s: %s", r.Decision, r.Target.ARN, r.Error)
		}
	}
}
