package localaws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

func str(v string) dbtypes.AttributeValue { return &dbtypes.AttributeValueMemberS{Value: v} }

// stored is the item with key pk in the leases table, nil when none.
func stored(t *testing.T, db *dynamodb.Client, pk string) map[string]dbtypes.AttributeValue {
	t.Helper()
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String("leases"),
		Key: map[string]dbtypes.AttributeValue{"pk": str(pk)}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Item
}

// refusedWith asserts err is a ValidationException whose message holds each fragment.
func refusedWith(t *testing.T, err error, fragments ...string) {
	t.Helper()
	wantCode(t, err, "ValidationException")
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("refusal %q does not mention %q", err, f)
		}
	}
}

// TestDynamoDBBatchWriteRefusesWhatAWSRefuses: as the BatchWriteItem API
// reference says, DynamoDB rejects the entire batch when two requests name
// the same item (two puts of one key with different attributes, or a put and
// a delete), when it holds more than 25 requests, or when an item is over
// 400 KB; nothing of a refused batch is written. moto took the first two and
// wrote the items before an oversized one.
func TestDynamoDBBatchWriteRefusesWhatAWSRefuses(t *testing.T) {
	cfg := fresh(t, "us-east-1")
	ctx := context.Background()
	db := dynamodb.NewFromConfig(cfg)
	createLeaseLikeTable(t, db)
	put := func(pk string, attrs ...string) dbtypes.WriteRequest {
		it := map[string]dbtypes.AttributeValue{"pk": str(pk)}
		for i, a := range attrs {
			it[fmt.Sprintf("a%d", i)] = str(a)
		}
		return dbtypes.WriteRequest{PutRequest: &dbtypes.PutRequest{Item: it}}
	}
	del := func(pk string) dbtypes.WriteRequest {
		return dbtypes.WriteRequest{DeleteRequest: &dbtypes.DeleteRequest{Key: map[string]dbtypes.AttributeValue{"pk": str(pk)}}}
	}
	batch := func(reqs ...dbtypes.WriteRequest) error {
		_, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]dbtypes.WriteRequest{"leases": reqs}})
		return err
	}

	refusedWith(t, batch(put("first"), put("dup", "one"), put("dup", "two")), "Provided list of item keys contains duplicates")
	refusedWith(t, batch(put("first"), put("dup"), del("dup")), "Provided list of item keys contains duplicates")
	many := make([]dbtypes.WriteRequest, 26)
	for i := range many {
		many[i] = put(fmt.Sprintf("k%d", i))
	}
	refusedWith(t, batch(many...), "Member must have length less than or equal to 25")
	refusedWith(t, batch(put("first"), put("big", strings.Repeat("x", 410*1024))), "Item size has exceeded the maximum allowed size")
	for _, pk := range []string{"first", "dup", "k0", "big"} {
		if it := stored(t, db, pk); it != nil {
			t.Errorf("item %s written by a refused batch: %v", pk, it)
		}
	}
	// What AWS takes is still taken: 25 distinct puts, a put and a delete of other items.
	if err := batch(many[:25]...); err != nil {
		t.Fatalf("25 distinct puts: %v", err)
	}
	if err := batch(put("first"), del("k0")); err != nil {
		t.Fatalf("a put and a delete of two items: %v", err)
	}
	if stored(t, db, "first") == nil || stored(t, db, "k0") != nil {
		t.Error("the accepted batch did not put first and delete k0")
	}
}

// TestDynamoDBRefusesUnusedExpressionAttributes: a placeholder in
// ExpressionAttributeNames or ExpressionAttributeValues that no expression of
// the request (or of its transaction action) uses is refused, as AWS refuses
// it ("Value provided in ExpressionAttributeValues unused in expressions:
// keys: {:x}"), and so is an empty map; moto took unused values on PutItem,
// DeleteItem, Query and in transactions.
func TestDynamoDBRefusesUnusedExpressionAttributes(t *testing.T) {
	cfg := fresh(t, "us-east-1")
	ctx := context.Background()
	db := dynamodb.NewFromConfig(cfg)
	createLeaseLikeTable(t, db)
	key := map[string]dbtypes.AttributeValue{"pk": str("k")}
	unusedValue := "Value provided in ExpressionAttributeValues unused in expressions: keys: {:extra}"

	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: key,
		ConditionExpression:       aws.String("attribute_not_exists(pk)"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":extra": str("x")}})
	refusedWith(t, err, unusedValue)
	if stored(t, db, "k") != nil {
		t.Fatal("the refused put wrote its item")
	}
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: key,
		ConditionExpression: aws.String("attribute_not_exists(pk)"), ExpressionAttributeValues: map[string]dbtypes.AttributeValue{}})
	refusedWith(t, err, "ExpressionAttributeValues must not be empty")
	_, err = db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: key,
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":extra": str("x")}})
	refusedWith(t, err, "ExpressionAttributeValues can only be specified when using expressions")
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"), Item: key,
		ConditionExpression:       aws.String("attribute_not_exists(pk) OR #o = :me"),
		ExpressionAttributeNames:  map[string]string{"#o": "owner"},
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":me": str("x")}}); err != nil {
		t.Fatalf("a put using every placeholder: %v", err)
	}
	_, err = db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("leases"), Key: key,
		ConditionExpression:       aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":extra": str("x")}})
	refusedWith(t, err, unusedValue)
	_, err = db.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("leases"), KeyConditionExpression: aws.String("pk = :k"),
		ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":k": str("k"), ":extra": str("x")}})
	refusedWith(t, err, unusedValue)
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []dbtypes.TransactWriteItem{
		{Update: &dbtypes.Update{TableName: aws.String("leases"), Key: key, UpdateExpression: aws.String("SET #a = :a"),
			ExpressionAttributeNames:  map[string]string{"#a": "a"},
			ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":a": str("1")}}},
		{Delete: &dbtypes.Delete{TableName: aws.String("leases"), Key: map[string]dbtypes.AttributeValue{"pk": str("other")},
			ConditionExpression:       aws.String("attribute_not_exists(#o)"),
			ExpressionAttributeNames:  map[string]string{"#o": "owner", "#unused": "x"},
			ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":extra": str("x")}}},
	}})
	refusedWith(t, err, "unused in expressions")
	if _, ok := stored(t, db, "k")["a"]; ok {
		t.Error("the refused transaction updated k")
	}
}

// TestDynamoDBRefusesInvalidAttributeValues: empty sets, sets with repeated
// members and numbers beyond DynamoDB's 38 digits or range are refused
// wherever a request carries attribute values (an update's values here,
// which moto did not check), as the developer guide's data types say.
func TestDynamoDBRefusesInvalidAttributeValues(t *testing.T) {
	cfg := fresh(t, "us-east-1")
	ctx := context.Background()
	db := dynamodb.NewFromConfig(cfg)
	createLeaseLikeTable(t, db)
	set := func(v dbtypes.AttributeValue) error {
		_, err := db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("leases"),
			Key: map[string]dbtypes.AttributeValue{"pk": str("k")}, UpdateExpression: aws.String("SET v = :v"),
			ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":v": v}})
		return err
	}
	refusedWith(t, set(&dbtypes.AttributeValueMemberSS{Value: []string{}}), "An string set  may not be empty")
	refusedWith(t, set(&dbtypes.AttributeValueMemberSS{Value: []string{"a", "b", "a"}}), "Input collection [a, b, a] contains duplicates")
	refusedWith(t, set(&dbtypes.AttributeValueMemberNS{Value: []string{"1", "1.0"}}), "contains duplicates")
	refusedWith(t, set(&dbtypes.AttributeValueMemberN{Value: "1" + strings.Repeat("2", 38)}), "more than 38 significant digits")
	refusedWith(t, set(&dbtypes.AttributeValueMemberN{Value: "1E+126"}), "Number overflow")
	refusedWith(t, set(&dbtypes.AttributeValueMemberM{Value: map[string]dbtypes.AttributeValue{"in": &dbtypes.AttributeValueMemberNS{Value: []string{}}}}), "An number set  may not be empty")
	if stored(t, db, "k") != nil {
		t.Fatal("a refused update wrote its item")
	}
	if err := set(&dbtypes.AttributeValueMemberSS{Value: []string{"a", "b"}}); err != nil {
		t.Fatalf("a set of distinct members: %v", err)
	}
}

// TestDynamoDBTransactionItemSize: an update that would take an item past
// 400 KB cancels its transaction as AWS does (TransactionCanceledException,
// reason ValidationError for that action and None for the other), and Put
// items over 4 MB together are refused; moto answered the first with a bare
// ValidationException and took the second.
func TestDynamoDBTransactionItemSize(t *testing.T) {
	cfg := fresh(t, "us-east-1")
	ctx := context.Background()
	db := dynamodb.NewFromConfig(cfg)
	createLeaseLikeTable(t, db)
	big := strings.Repeat("x", 300*1024)
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("leases"),
		Item: map[string]dbtypes.AttributeValue{"pk": str("grows"), "a": str(big)}}); err != nil {
		t.Fatal(err)
	}
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []dbtypes.TransactWriteItem{
		{Put: &dbtypes.Put{TableName: aws.String("leases"), Item: map[string]dbtypes.AttributeValue{"pk": str("small")}}},
		{Update: &dbtypes.Update{TableName: aws.String("leases"), Key: map[string]dbtypes.AttributeValue{"pk": str("grows")},
			UpdateExpression: aws.String("SET b = :b"), ExpressionAttributeValues: map[string]dbtypes.AttributeValue{":b": str(big)}}},
	}})
	var canceled *dbtypes.TransactionCanceledException
	if !errors.As(err, &canceled) || len(canceled.CancellationReasons) != 2 {
		t.Fatalf("an update past 400 KB in a transaction: %v; want TransactionCanceledException with 2 reasons", err)
	}
	if c0, c1 := aws.ToString(canceled.CancellationReasons[0].Code), aws.ToString(canceled.CancellationReasons[1].Code); c0 != "None" || c1 != "ValidationError" {
		t.Errorf("cancellation reasons %q, %q; want None, ValidationError", c0, c1)
	}
	if !strings.Contains(aws.ToString(canceled.CancellationReasons[1].Message), "Item size") {
		t.Errorf("reason message %q does not say the item size", aws.ToString(canceled.CancellationReasons[1].Message))
	}
	if stored(t, db, "small") != nil {
		t.Error("the canceled transaction put small")
	}

	var puts []dbtypes.TransactWriteItem
	for i := range 11 {
		puts = append(puts, dbtypes.TransactWriteItem{Put: &dbtypes.Put{TableName: aws.String("leases"),
			Item: map[string]dbtypes.AttributeValue{"pk": str(fmt.Sprintf("p%d", i)), "a": str(strings.Repeat("y", 390*1024))}}})
	}
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: puts})
	refusedWith(t, err, "Transaction request size has exceeded the maximum allowed size")
	if stored(t, db, "p0") != nil {
		t.Error("the refused transaction put p0")
	}
	if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: puts[:10]}); err != nil {
		t.Fatalf("10 puts of 390 KB (under 4 MB): %v", err)
	}
}

// TestSQSSendMessageBatchRefusesWhatAWSRefuses: entry ids outside ASCII
// letters, digits, '-' and '_', FIFO tokens over 128 characters or outside
// letters, digits and punctuation, and bodies whose UTF-8 bytes (not
// characters) pass the limits are refused before anything is queued.
func TestSQSSendMessageBatchRefusesWhatAWSRefuses(t *testing.T) {
	cfg := fresh(t, "us-east-1")
	ctx := context.Background()
	q := sqs.NewFromConfig(cfg)
	fifo := must[*sqs.CreateQueueOutput](t)(q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("work.fifo"),
		Attributes: map[string]string{"FifoQueue": "true"}}))
	std := must[*sqs.CreateQueueOutput](t)(q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("work")}))
	send := func(url *string, entries ...sqstypes.SendMessageBatchRequestEntry) error {
		_, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: url, Entries: entries})
		return err
	}
	entry := func(id, body, group, dedup string) sqstypes.SendMessageBatchRequestEntry {
		e := sqstypes.SendMessageBatchRequestEntry{Id: aws.String(id), MessageBody: aws.String(body)}
		if group != "" {
			e.MessageGroupId, e.MessageDeduplicationId = aws.String(group), aws.String(dedup)
		}
		return e
	}
	wantCode(t, send(std.QueueUrl, entry("ünit", "b", "", "")), "AWS.SimpleQueueService.InvalidBatchEntryId")
	wantCode(t, send(fifo.QueueUrl, entry("u1", "b", "g", strings.Repeat("d", 129))), "InvalidParameterValue")
	wantCode(t, send(fifo.QueueUrl, entry("u1", "b", "a group", "d")), "InvalidParameterValue")
	wantCode(t, send(std.QueueUrl, entry("u1", strings.Repeat("é", 600_000), "", "")), "InvalidParameterValue")
	var five []sqstypes.SendMessageBatchRequestEntry
	for i := range 5 {
		five = append(five, entry(fmt.Sprintf("u%d", i), strings.Repeat("é", 150_000), "", ""))
	}
	wantCode(t, send(std.QueueUrl, five...), "AWS.SimpleQueueService.BatchRequestTooLong")
	for _, url := range []*string{std.QueueUrl, fifo.QueueUrl} {
		out := must[*sqs.GetQueueAttributesOutput](t)(q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url,
			AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages}}))
		if n := out.Attributes["ApproximateNumberOfMessages"]; n != "0" {
			t.Errorf("queue %s holds %s messages after refused batches; want 0", aws.ToString(url), n)
		}
	}
	if err := send(fifo.QueueUrl, entry("u-1_a", "b", "123456789012-eu-west-1", strings.Repeat("f", 64)+"!#~")); err != nil {
		t.Fatalf("a valid FIFO entry: %v", err)
	}
}

// TestSTSAssumeRoleRefusesWhatAWSRefuses: a role session name outside 2-64
// characters of [\w+=,.@-], a DurationSeconds outside 900-43200 or over the
// role's maximum session duration, and more than an hour for a chained
// session (an assumed role assuming another) are refused with
// ValidationError, as the STS API reference documents.
func TestSTSAssumeRoleRefusesWhatAWSRefuses(t *testing.T) {
	cfg := fresh(t, "us-east-1")
	ctx := context.Background()
	arn := createRole(t, cfg, "target")
	if _, err := iam.NewFromConfig(cfg).UpdateRole(ctx, &iam.UpdateRoleInput{RoleName: aws.String("target"), MaxSessionDuration: aws.Int32(7200)}); err != nil {
		t.Fatal(err)
	}
	c := sts.NewFromConfig(cfg)
	assume := func(client *sts.Client, session string, seconds int32) (*sts.AssumeRoleOutput, error) {
		in := &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String(session)}
		if seconds != 0 {
			in.DurationSeconds = aws.Int32(seconds)
		}
		return client.AssumeRole(ctx, in)
	}
	for _, tc := range []struct {
		session string
		seconds int32
		want    string
	}{
		{"a", 0, "have length greater than or equal to 2"},
		{"ecr warden", 0, "regular expression pattern"},
		{"ecr-warden", 899, "greater than or equal to 900"},
		{"ecr-warden", 43201, "less than or equal to 43200"},
		{"ecr-warden", 7201, "exceeds the MaxSessionDuration set for this role"},
	} {
		_, err := assume(c, tc.session, tc.seconds)
		wantCode(t, err, "ValidationError")
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("session %q for %d s: %v; want it to say %q", tc.session, tc.seconds, err, tc.want)
		}
	}
	out, err := assume(c, "ecr-warden-worker", 7200)
	if err != nil {
		t.Fatalf("a valid AssumeRole: %v", err)
	}
	chained := cfg.Copy()
	chained.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		k := out.Credentials
		return aws.Credentials{AccessKeyID: aws.ToString(k.AccessKeyId), SecretAccessKey: aws.ToString(k.SecretAccessKey), SessionToken: aws.ToString(k.SessionToken)}, nil
	})
	_, err = assume(sts.NewFromConfig(chained), "ecr-warden-chained", 3601)
	wantCode(t, err, "ValidationError")
	if !strings.Contains(err.Error(), "1 hour session limit for roles assumed by role chaining") {
		t.Errorf("chained session over an hour: %v", err)
	}
	if _, err := assume(sts.NewFromConfig(chained), "ecr-warden-chained", 3600); err != nil {
		t.Fatalf("a chained session of an hour: %v", err)
	}
}
