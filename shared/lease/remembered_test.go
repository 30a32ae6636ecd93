package lease

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The item holds the configured members of the largest organizations a
// backfill walks: the largest set that fits DynamoDB's item is measured, and
// MaxRememberedAccounts (which the README quotes) must be about it.
func TestRememberedAccountsIsMeasured(t *testing.T) {
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%012d", 100000000000+i*7919)
		}
		return out
	}
	at := time.Date(2026, 12, 3, 17, 0, 0, 0, time.UTC)
	lo, hi := 1, 4*MaxRememberedAccounts
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if itemBytes(configuredItem("ap-southeast-2", ids(mid), at)) <= MaxItemBytes {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	t.Logf("largest set of configured members one item holds: %d accounts", lo)
	if lo < 20_000 {
		t.Errorf("only %d accounts fit one item; an organization of 20,000 must", lo)
	}
	if lo < MaxRememberedAccounts || lo > MaxRememberedAccounts*11/10 {
		t.Errorf("%d accounts fit, MaxRememberedAccounts says about %d: measure again and update it and the README", lo, MaxRememberedAccounts)
	}
}

// The items that are no lease never route like one: RegionOf gives none a
// region, so each lives in the table of the function that uses it.
func TestItemKeysAreNoLeaseKeys(t *testing.T) {
	for _, k := range itemKeys("eu-west-1") {
		if r := RegionOf(k); r != "" {
			t.Errorf("RegionOf(%q) = %q; an item that is no lease must stay in its function's own table", k, r)
		}
		for _, p := range []string{"registry/", "repository/", "public#", "mailbox/"} {
			if strings.HasPrefix(k, p) {
				t.Errorf("item key %q starts like a lease key (%s)", k, p)
			}
		}
	}
}

// No item: not found (the first full run). A written set reads back sorted
// and without repeats, per region, and an empty set is a set (found, no
// accounts), not the first run. A set DynamoDB would refuse is refused by
// name before any call, and the old one stays.
func TestRememberedMembersRoundTrip(t *testing.T) {
	ctx := context.Background()
	db := setup(t)
	l := leaser(t, db, "backfill", &fakeTime{t: time.Now()}, time.Second)
	if r, err := l.Remembered(ctx, "eu-west-1"); err != nil || r.Found {
		t.Fatalf("Remembered before any run = %+v, %v; want not found", r, err)
	}
	if err := l.Remember(ctx, "eu-west-1", Remembered{}, []string{"333333333333", "222222222222", "333333333333"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Remember(ctx, "us-east-1", Remembered{}, nil); err != nil {
		t.Fatal(err)
	}
	if r, err := l.Remembered(ctx, "eu-west-1"); err != nil || !r.Found || !slices.Equal(r.Accounts, []string{"222222222222", "333333333333"}) {
		t.Errorf("Remembered(eu-west-1) = %+v, %v; want the two members, sorted once each", r, err)
	}
	if r, err := l.Remembered(ctx, "us-east-1"); err != nil || !r.Found || len(r.Accounts) != 0 {
		t.Errorf("Remembered(us-east-1) = %+v, %v; want found and empty", r, err)
	}
	big := make([]string, MaxRememberedAccounts*2)
	for i := range big {
		big[i] = fmt.Sprintf("%012d", i)
	}
	if err := l.Remember(ctx, "eu-west-1", Remembered{}, big); err == nil || !strings.Contains(err.Error(), "over DynamoDB's 409600") {
		t.Errorf("Remember(%d accounts) = %v; want it refused, naming DynamoDB's limit", len(big), err)
	}
	if r, err := l.Remembered(ctx, "eu-west-1"); err != nil || len(r.Accounts) != 2 {
		t.Errorf("after a refused set, Remembered = %+v, %v; want the old set", r, err)
	}
}

// A set item that is not what Remember writes (a value that is no account
// id, no members string) fails every full run the same way until someone
// changes it: the error says so, names the item and the table, and says how
// to recover (correct or delete it) and what deleting costs.
func TestCorruptRememberedMembersSayHowToRecover(t *testing.T) {
	ctx := context.Background()
	db := setup(t)
	l := leaser(t, db, "backfill", &fakeTime{t: time.Now()}, time.Second)
	for name, item := range map[string]map[string]types.AttributeValue{
		"not an account id": {AttrPK: &types.AttributeValueMemberS{Value: configuredKey("eu-west-1")}, attrMembers: &types.AttributeValueMemberS{Value: "222222222222,x"}},
		"no members string": {AttrPK: &types.AttributeValueMemberS{Value: configuredKey("eu-west-1")}, attrMembers: &types.AttributeValueMemberN{Value: "1"}},
	} {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
		_, err := l.Remembered(ctx, "eu-west-1")
		if err == nil {
			t.Fatalf("%s: read without an error", name)
		}
		for _, want := range []string{configuredKey("eu-west-1"), table, "every full run", "delete-item", "retires nothing"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: %q does not say %q", name, err, want)
			}
		}
	}
}

// Two full runs that overlap (a sweep started under the old declaration, the
// deploy's backfill under the new one) each read the set, then write. The
// later write does not drop what the earlier one wrote: the set becomes the
// union, so a member the old declaration's run configured (and may have
// granted again) stays remembered, and the next full run retires it if the
// declaration configures nothing in it.
func TestOverlappingRunsRememberTheUnion(t *testing.T) {
	ctx := context.Background()
	db := setup(t)
	l := leaser(t, db, "backfill", &fakeTime{t: time.Now()}, time.Second)
	if err := l.Remember(ctx, "eu-west-1", Remembered{}, []string{"222222222222", "333333333333"}); err != nil {
		t.Fatal(err)
	}
	sweep, err := l.Remembered(ctx, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	deploy, err := l.Remembered(ctx, "eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Remember(ctx, "eu-west-1", sweep, []string{"222222222222", "444444444444"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Remember(ctx, "eu-west-1", deploy, []string{"222222222222"}); err != nil {
		t.Fatal(err)
	}
	got, err := l.Remembered(ctx, "eu-west-1")
	if err != nil || !slices.Equal(got.Accounts, []string{"222222222222", "444444444444"}) {
		t.Fatalf("after the overlapping runs: %+v, %v; want the union of both runs' members", got, err)
	}
	// Two first runs (no item yet) overlap the same way.
	if err := l.Remember(ctx, "us-east-1", Remembered{}, []string{"555555555555"}); err != nil {
		t.Fatal(err)
	}
	if err := l.Remember(ctx, "us-east-1", Remembered{}, []string{"666666666666"}); err != nil {
		t.Fatal(err)
	}
	if got, err := l.Remembered(ctx, "us-east-1"); err != nil || !slices.Equal(got.Accounts, []string{"555555555555", "666666666666"}) {
		t.Fatalf("after two first runs: %+v, %v; want both", got, err)
	}
}
