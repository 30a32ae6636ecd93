package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// An event's document that lists accounts one by one is planned under its
// lease from the organization as it is then. A drift event on the hub
// registry policy (deleted by hand) plans its re-creation with fGone still a
// member; before it takes the lease, fGone leaves and the departure's event
// (another function) converges. Under the lease the drift event writes the
// policy without fGone: planned from its earlier walk, it wrote the
// departed account's grant back. A repository event of an enumerating
// repository grant does the same.
func TestEventPlansUnderTheLeaseFromTheOrganizationAsItIsThen(t *testing.T) {
	ctx := context.Background()
	gone := "arn:aws:iam::" + fGone + ":root"

	w, leases, hubUnit, _ := sweptWorld(t)
	if _, err := w.engine.Converge(ctx, hubUnit.Cause(), hubUnit); err != nil {
		t.Fatal(err)
	}
	hasAll(t, "hub registry policy before the departure", w.hubPolicy(t), gone)
	if _, err := w.aws.ECR(fHub, fRegion).DeleteRegistryPolicy(ctx, &ecr.DeleteRegistryPolicyInput{}); err != nil {
		t.Fatal(err)
	}
	if _, err := departsBeforeHold(t, w, leases).Reconcile(ctx, target(trigger.KindRegistryPolicy, fHub)); err != nil {
		t.Fatal(err)
	}
	policy := w.hubPolicy(t)
	hasAll(t, "hub registry policy the drift event wrote", policy, "arn:aws:iam::"+fTeamA+":root")
	hasNone(t, "hub registry policy the drift event wrote", policy, gone)

	// A repository event (its policy deleted by hand) of a repository
	// grant that enumerates the OU.
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	w = newWorld(t, `"grants": [{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "principals": {"ous": ["o-a1b2c3d4e5/r-a1b2/ou-a1b2-00000001/"]},
	    "placement": "repository", "principalMode": "enumerate"}]`)
	leases = leaseTable(t, w)
	w.aws.Join(fGone, "workloads")
	w.aws.CreateRepository(fHub, fRegion, "apps/web", nil)
	tg := target(trigger.KindRepository, fHub)
	tg.Repository = "apps/web"
	if _, err := w.engine.Reconcile(ctx, tg); err != nil {
		t.Fatal(err)
	}
	hasAll(t, "apps/web policy before the departure", w.aws.RepositoryPolicy(fHub, fRegion, "apps/web"), gone)
	if _, err := w.aws.ECR(fHub, fRegion).DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: aws.String("apps/web")}); err != nil {
		t.Fatal(err)
	}
	if _, err := departsBeforeHold(t, w, leases).Reconcile(ctx, tg); err != nil {
		t.Fatal(err)
	}
	policy = w.aws.RepositoryPolicy(fHub, fRegion, "apps/web")
	hasAll(t, "apps/web policy the repository event wrote", policy, "arn:aws:iam::"+fTeamA+":root")
	hasNone(t, "apps/web policy the repository event wrote", policy, gone)
}

// departsBeforeHold is a copy of w's engine (another invocation) on which,
// just before its first lease, fGone leaves the organization and the
// departure's event converges on w's own engine (the account function).
func departsBeforeHold(t *testing.T, w *world, leases *lease.Leaser) *Engine {
	departure, event := *w.engine, *w.engine
	exec := *w.engine.Exec
	exec.Leases = &holdAfter{leases: leases, first: func() {
		w.aws.Leave(fGone)
		if _, err := departure.Account(context.Background(), target(trigger.KindAccountDeparted, fGone)); err != nil {
			t.Errorf("departure: %v", err)
		}
	}}
	event.Exec = &exec
	return &event
}

// An account event whose hub change waits behind a holder that does not
// drain the mailbox (a backfill or sweep unit, which takes the hub
// registry's lease again after every chunk) marks that hold as wanted, so
// the unit's next take yields and the change gets the lease between two
// chunks (lease.Leaser.Want): when the unit holds the lease again, the
// change is written. Without the yield the unit's next take follows its
// release at once, and the change waits behind the next chunk too.
func TestAHubChangeWaitingBehindAUnitMarksItsHold(t *testing.T) {
	ctx := context.Background()
	w, leases, path := mailboxWorld(t, "")
	key := lease.RegistryKey(fHub, fRegion)
	chunk, err := leases.Acquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := w.engine.HubForAccount(ctx, Cause{Trigger: audit.Trigger{EventID: "evt-join"}}, desired.Account{ID: fTeamA, Status: "ACTIVE", OUPath: path}, true)
		done <- err
	}()
	db := dynamodb.NewFromConfig(server.Config(region))
	marked := func() bool {
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("leases"), ConsistentRead: aws.Bool(true),
			Key: map[string]ddbtypes.AttributeValue{lease.AttrPK: &ddbtypes.AttributeValueMemberS{Value: key}}})
		if err != nil {
			t.Fatal(err)
		}
		_, ok := out.Item[lease.AttrWanted]
		return ok
	}
	for deadline := time.Now().Add(5 * time.Second); !marked(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			chunk.Release(ctx)
			t.Fatalf("the waiting hub change did not mark the unit's hold as wanted: %v", <-done)
		}
	}
	if err := chunk.Release(ctx); err != nil {
		t.Fatal(err)
	}
	// The unit's next chunk, taken right after the release as a unit does.
	next, err := leases.Acquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatalf("the unit's next chunk: %v", err)
	}
	hasAll(t, "hub registry policy when the unit holds its next chunk", w.aws.RegistryPolicy(fHub, fRegion), "arn:aws:iam::"+fTeamA+":root")
	if err := next.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("HubForAccount: %v", err)
	}
}
