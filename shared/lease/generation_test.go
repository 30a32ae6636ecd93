package lease

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The organization's generation token is created on first read, stays the
// same for every reader until an account event bumps it, carries no expiry
// (the table's TTL must never delete it), and a table whose item was deleted
// by hand never gives back a token it gave before.
func TestGenerationChangesOnlyWhenBumped(t *testing.T) {
	ctx := context.Background()
	db := setup(t)
	clk := &fakeTime{t: time.Now()}
	a, b := leaser(t, db, "a", clk, time.Second), leaser(t, db, "b", clk, time.Second)

	first, err := a.Generation(ctx)
	if err != nil || first.Token == "" || !first.ChangedAt.IsZero() {
		t.Fatalf("Generation = %+v, %v; want a token created on first read, never changed", first, err)
	}
	if again, err := b.Generation(ctx); err != nil || again != first {
		t.Fatalf("second reader's Generation = %+v, %v; want the same %+v", again, err, first)
	}
	if err := b.BumpGeneration(ctx); err != nil {
		t.Fatal(err)
	}
	bumped, err := a.Generation(ctx)
	if err != nil || bumped.Token == first.Token || bumped.ChangedAt.Before(clk.now().Truncate(time.Second)) {
		t.Fatalf("Generation after a bump = %+v, %v; want a token other than %q, changed at %s", bumped, err, first.Token, clk.now())
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: GenerationKey}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Item[AttrExpiresAt]; ok {
		t.Errorf("the generation item has %s, which the table's TTL would delete it by: %v", AttrExpiresAt, out.Item)
	}
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: GenerationKey}}}); err != nil {
		t.Fatal(err)
	}
	if fresh, err := a.Generation(ctx); err != nil || fresh.Token == first.Token || fresh.Token == bumped.Token {
		t.Errorf("Generation after the item was deleted = %+v, %v; want a token never given before (%+v, %+v)", fresh, err, first, bumped)
	}
}
