package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

func TestRegionOf(t *testing.T) {
	for key, want := range map[string]string{
		RegistryKey("111111111111", "eu-west-1"):                                 "eu-west-1",
		RepositoryKey("arn:aws:ecr:ap-south-1:111111111111:repository/team/app"): "ap-south-1",
		"public#arn:aws:ecr-public::111111111111:repository/tools":               "us-east-1",
		"registry/111111111111":                                                  "",
		"something/else":                                                         "",
		RepositoryKey("not-an-arn"):                                              "",
	} {
		if got := RegionOf(key); got != want {
			t.Errorf("RegionOf(%q) = %q, want %q", key, got, want)
		}
	}
}

// The primary region's worker (its Regional) and eu-west-1's own function
// (a plain Leaser on eu-west-1's table) writing the same eu-west-1 registry
// exclude each other: the worker's lease is in eu-west-1's table, not in
// its own region's, and so is an account event's hand-off to the mailbox.
func TestRegionalTakesEachLeaseInItsDocumentsRegion(t *testing.T) {
	localaws.Need(t)
	setup(t)
	ctx := context.Background()
	tableIn := func(region string) *dynamodb.Client {
		db := dynamodb.NewFromConfig(server.Config(region))
		if err := CreateTable(ctx, db, table); err != nil {
			t.Fatal(err)
		}
		return db
	}
	us, eu := tableIn("us-east-1"), tableIn("eu-west-1")
	newLeaser := func(db *dynamodb.Client, holder string) *Leaser {
		l, err := New(db, table, Options{Holder: holder, MaxWait: time.Nanosecond})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	worker, err := NewRegional("us-east-1", map[string]*Leaser{"us-east-1": newLeaser(us, "worker-us-east-1"), "eu-west-1": newLeaser(eu, "worker-us-east-1")})
	if err != nil {
		t.Fatal(err)
	}
	euFunction, usFunction := newLeaser(eu, "drift-eu-west-1"), newLeaser(us, "drift-us-east-1")
	key := RegistryKey("222222222222", "eu-west-1")

	err = worker.Hold(ctx, key, 30*time.Second, func(ctx context.Context, _ Held) error {
		if l, err := euFunction.TryAcquire(ctx, key, 30*time.Second); l != nil || !errors.Is(err, ErrBusy) {
			t.Errorf("eu-west-1's function took %s while the primary region's worker held it: lease=%v err=%v", key, l, err)
		}
		l, err := usFunction.TryAcquire(ctx, key, 30*time.Second)
		if err != nil {
			t.Errorf("the worker's hold of %s is in us-east-1's table: %v", key, err)
			return nil
		}
		return l.Release(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}

	if _, err := worker.Post(ctx, key, "333333333333", "change"); err != nil {
		t.Fatal(err)
	}
	box, err := euFunction.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(box.Entries) != 1 {
		t.Errorf("eu-west-1's mailbox of %s holds %d entries, want the one posted through the Regional", key, len(box.Entries))
	}

	if _, err := NewRegional("us-east-1", map[string]*Leaser{"eu-west-1": euFunction}); err == nil {
		t.Error("NewRegional accepted no leaser for the function's own region")
	}
}
