package localaws

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// expression is a condition of exactly n bytes that holds for an item
// without attribute "x": "attribute_not_exists(x)", repeated with AND as
// often as it fits, padded with spaces.
func expression(n int) string {
	const term = "attribute_not_exists(x)"
	s := term
	for len(s)+len(" AND "+term) <= n {
		s += " AND " + term
	}
	return s + strings.Repeat(" ", n-len(s))
}

// TestDynamoDBRefusesLongExpressions: as in AWS, an expression string over
// 4 KB (4096 bytes) is refused with a ValidationException (HTTP 400) naming
// the expression and its size, in a plain write and inside a transaction;
// one of 4096 bytes or less is taken.
func TestDynamoDBRefusesLongExpressions(t *testing.T) {
	cfg := fresh(t, "us-east-1")
	ctx := context.Background()
	db := dynamodb.NewFromConfig(cfg)
	createLeaseLikeTable(t, db)
	key := func(pk string) map[string]dbtypes.AttributeValue {
		return map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: pk}}
	}
	put := func(pk, condition string) error {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: key(pk), ConditionExpression: aws.String(condition)})
		return err
	}
	refused := func(err error, name, size string) {
		t.Helper()
		wantCode(t, err, "ValidationException")
		var resp *awshttp.ResponseError
		if !errors.As(err, &resp) || resp.HTTPStatusCode() != 400 {
			t.Errorf("refusal %v: want HTTP 400", err)
		}
		for _, f := range []string{"Invalid " + name + ": Expression size has exceeded the maximum allowed size", "expression size: " + size} {
			if !strings.Contains(err.Error(), f) {
				t.Errorf("refusal %q does not mention %q", err, f)
			}
		}
	}

	refused(put("long", expression(5000)), "ConditionExpression", "5000")
	refused(put("long", expression(4097)), "ConditionExpression", "4097")
	if out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("leases"), Key: key("long"), ConsistentRead: aws.Bool(true)}); err != nil || out.Item != nil {
		t.Fatalf("after the refused puts: %v (%v); want no item", out, err)
	}
	if err := put("fits", expression(4000)); err != nil {
		t.Fatalf("put with a 4000-byte condition: %v; want it taken", err)
	}
	if err := put("limit", expression(4096)); err != nil {
		t.Fatalf("put with a 4096-byte condition: %v; want it taken", err)
	}
	// The condition is still evaluated: a 4000-byte one that fails fails.
	var ccf *dbtypes.ConditionalCheckFailedException
	if err := put("fits", "attribute_not_exists(pk) AND "+expression(3000)); !errors.As(err, &ccf) {
		t.Fatalf("put over an existing item with a failing 3 KB condition: %v; want ConditionalCheckFailedException", err)
	}

	// An UpdateExpression (REMOVE of many attributes), plain and in a
	// transaction.
	paths := make([]string, 0, 1000)
	for len(strings.Join(paths, ", ")) <= 4096 {
		paths = append(paths, "x")
	}
	long := "REMOVE " + strings.Join(paths, ", ")
	_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("leases"), Key: key("fits"), UpdateExpression: aws.String(long)})
	refused(err, "UpdateExpression", "")
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []dbtypes.TransactWriteItem{
		{Update: &dbtypes.Update{TableName: aws.String("leases"), Key: key("fits"), UpdateExpression: aws.String("REMOVE x")}},
		{ConditionCheck: &dbtypes.ConditionCheck{TableName: aws.String("leases"), Key: key("limit"), ConditionExpression: aws.String(expression(4500))}},
	}})
	refused(err, "ConditionExpression", "4500")
	if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []dbtypes.TransactWriteItem{
		{Update: &dbtypes.Update{TableName: aws.String("leases"), Key: key("fits"), UpdateExpression: aws.String("REMOVE x")}},
		{ConditionCheck: &dbtypes.ConditionCheck{TableName: aws.String("leases"), Key: key("limit"), ConditionExpression: aws.String(expression(4000))}},
	}}); err != nil {
		t.Fatalf("transaction with a 4000-byte condition: %v; want it taken", err)
	}
	_, err = db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("leases"),
		KeyConditionExpression:    aws.String("pk = :pk" + strings.Repeat(" ", 4200)),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":pk": &dbtypes.AttributeValueMemberS{Value: "fits"}}})
	refused(err, "KeyConditionExpression", "4208")
}

// TestDynamoDBTakesLongRemove: a REMOVE of as many paths as 4 KB holds (over
// 1000) is taken, as AWS takes it; moto's parser, one level deeper
// per path, answered one of about 80 paths with HTTP 500 (a Python
// RecursionError), and its checks took seconds over a few hundred. A path
// removed twice is still refused.
func TestDynamoDBTakesLongRemove(t *testing.T) {
	cfg := fresh(t, "us-east-1")
	ctx := context.Background()
	db := dynamodb.NewFromConfig(cfg)
	createLeaseLikeTable(t, db)
	key := map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: "k"}}
	item := map[string]dbtypes.AttributeValue{"pk": key["pk"]}
	var paths []string
	letters := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for _, a := range letters {
		for _, b := range " " + letters {
			name := strings.TrimSpace("z" + string(a) + string(b))
			if len("REMOVE "+strings.Join(append(paths, name), ",")) > 4096 {
				break
			}
			paths = append(paths, name)
			item[name] = &dbtypes.AttributeValueMemberS{Value: "x"}
		}
	}
	if len(paths) < 1000 {
		t.Fatalf("only %d paths", len(paths))
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: item}); err != nil {
		t.Fatal(err)
	}
	remove := "REMOVE " + strings.Join(paths, ",")
	if _, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("leases"), Key: key, UpdateExpression: aws.String(remove)}); err != nil {
		t.Fatalf("REMOVE of %d paths (%d bytes): %v; want it taken", len(paths), len(remove), err)
	}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("leases"), Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Item) != 1 {
		t.Errorf("after the REMOVE the item has %d attributes; want the key alone", len(out.Item))
	}
	// A path removed twice is still refused, as moto and AWS refuse it.
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("leases"), Key: key,
		UpdateExpression: aws.String("REMOVE " + strings.Join(append(paths[:500:500], paths[7]), ","))})
	wantCode(t, err, "ValidationException")
	if !strings.Contains(err.Error(), "Two document paths overlap") {
		t.Errorf("REMOVE of a path twice: %v; want the overlap refusal", err)
	}
}

// createLeaseLikeTable creates an on-demand table "leases" keyed by a
// string "pk", the lease table's shape.
func createLeaseLikeTable(t *testing.T, db *dynamodb.Client) {
	t.Helper()
	if _, err := db.CreateTable(context.Background(), &dynamodb.CreateTableInput{
		TableName:            aws.String("leases"),
		BillingMode:          dbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []dbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: dbtypes.ScalarAttributeTypeS}},
		KeySchema:            []dbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: dbtypes.KeyTypeHash}},
	}); err != nil {
		t.Fatal(err)
	}
}

// TestDynamoDBTransactionTokenIsIdempotent: as in AWS, a TransactWriteItems
// repeated with the ClientRequestToken of one that succeeded (the SDK's
// retry of a call whose answer was lost carries it) answers success and
// changes nothing; the same token with other parameters is refused
// (IdempotentParameterMismatchException); a token whose transaction was
// cancelled changed nothing, so the call acts again.
func TestDynamoDBTransactionTokenIsIdempotent(t *testing.T) {
	cfg := fresh(t, "us-east-1")
	ctx := context.Background()
	db := dynamodb.NewFromConfig(cfg)
	createLeaseLikeTable(t, db)
	add := func(token, pk, condition string) error {
		u := &dbtypes.Update{TableName: aws.String("leases"),
			Key:                       map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: pk}},
			UpdateExpression:          aws.String("ADD n :one"),
			ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":one": &dbtypes.AttributeValueMemberN{Value: "1"}}}
		if condition != "" {
			u.ConditionExpression = aws.String(condition)
		}
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{ClientRequestToken: aws.String(token),
			TransactItems: []dbtypes.TransactWriteItem{{Update: u}}})
		return err
	}
	count := func(pk string) string {
		t.Helper()
		out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("leases"), ConsistentRead: aws.Bool(true),
			Key: map[string]dbtypes.AttributeValue{"pk": &dbtypes.AttributeValueMemberS{Value: pk}}})
		if err != nil {
			t.Fatal(err)
		}
		if n, ok := out.Item["n"].(*dbtypes.AttributeValueMemberN); ok {
			return n.Value
		}
		return "none"
	}
	for range 2 {
		if err := add("token-1", "a", ""); err != nil {
			t.Fatalf("transaction with token-1: %v", err)
		}
	}
	if got := count("a"); got != "1" {
		t.Errorf("after the same transaction twice with one token: n = %s, want 1", got)
	}
	wantCode(t, add("token-1", "b", ""), "IdempotentParameterMismatchException")
	if got := count("b"); got != "none" {
		t.Errorf("after a refused token reuse: n = %s, want no item", got)
	}
	var canceled *dbtypes.TransactionCanceledException
	if err := add("token-2", "a", "attribute_not_exists(n)"); !errors.As(err, &canceled) {
		t.Fatalf("conditional transaction on an existing counter: %v, want it cancelled", err)
	}
	if err := add("token-2", "a", "attribute_not_exists(n)"); !errors.As(err, &canceled) {
		t.Fatalf("the cancelled transaction again: %v, want it acting again and cancelled again", err)
	}
	if err := add("token-3", "a", ""); err != nil || count("a") != "2" {
		t.Fatalf("a new token: %v, n = %s; want it acting (n = 2)", err, count("a"))
	}
}
