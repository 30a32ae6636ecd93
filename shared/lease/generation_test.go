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
	if err != nil || first == "" {
		t.Fatalf("Generation = %q, %v; want a token created on first read", first, err)
	}
	if again, err := b.Generation(ctx); err != nil || again != first {
		t.Fatalf("second reader's Generation = %q, %v; want the same %q", again, err, first)
	}
	if err := b.BumpGeneration(ctx); err != nil {
		t.Fatal(err)
	}
	bumped, err := a.Generation(ctx)
	if err != nil || bumped == first {
		t.Fatalf("Generation after a bump = %q, %v; want a token other than %q", bumped, err, first)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), ConsistentRead: aws.Bool(true),
		Key: map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: generationKey}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := out.Item[AttrExpiresAt]; ok {
		t.Errorf("the generation item has %s, which the table's TTL would delete it by: %v", AttrExpiresAt, out.Item)
	}
	if _, err := db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(table),
		Key: map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: generationKey}}}); err != nil {
		t.Fatal(err)
	}
	if fresh, err := a.Generation(ctx); err != nil || fresh == first || fresh == bumped {
		t.Errorf("Generation after the item was deleted = %q, %v; want a token never given before (%q, %q)", fresh, err, first, bumped)
	}
}
