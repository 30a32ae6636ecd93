package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// History returns what happened to one resource, oldest first: the most
// recent limit records (limit <= 0 means all). resource is either an ARN
// (queried on the table's partition key) or a bare name such as a repository
// name (queried on the by-name index, which spans every account and region
// holding a resource of that name).
func (t *Trail) History(ctx context.Context, resource string, limit int) ([]Record, error) {
	resource = strings.TrimSpace(resource)
	if resource == "" {
		return nil, fmt.Errorf("audit: history needs a resource (an ARN or a repository name)")
	}
	in := &dynamodb.QueryInput{
		TableName:                aws.String(t.table),
		KeyConditionExpression:   aws.String("#k = :v"),
		ExpressionAttributeNames: map[string]string{"#k": AttrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":v": &types.AttributeValueMemberS{Value: resource},
		},
		ScanIndexForward: aws.Bool(false), // newest first, so limit keeps the latest
	}
	if !strings.HasPrefix(resource, "arn:") && !strings.HasPrefix(resource, "event/") && !strings.HasPrefix(resource, "unit/") {
		in.IndexName = aws.String(IndexByName)
		in.ExpressionAttributeNames["#k"] = AttrName
	}
	recs, err := t.query(ctx, in, limit)
	if err != nil {
		return nil, fmt.Errorf("audit: history of %s in table %s: %w", resource, t.table, inTable(t.table, err))
	}
	slices.Reverse(recs)
	return recs, nil
}

// Window returns every record whose decision time is in [from, to], oldest
// first, by querying the by-day index once per UTC day in the range.
func (t *Trail) Window(ctx context.Context, from, to time.Time) ([]Record, error) {
	from, to = from.UTC(), to.UTC()
	if to.Before(from) {
		return nil, fmt.Errorf("audit: window end %s is before its start %s", to.Format(time.RFC3339), from.Format(time.RFC3339))
	}
	lo := from.Format(sortKeyLayout)
	hi := to.Format(sortKeyLayout) + "#~" // '~' sorts after every id character
	var out []Record
	for day := from.Truncate(24 * time.Hour); !day.After(to); day = day.Add(24 * time.Hour) {
		recs, err := t.query(ctx, &dynamodb.QueryInput{
			TableName:                aws.String(t.table),
			IndexName:                aws.String(IndexByDay),
			KeyConditionExpression:   aws.String("#d = :d AND #s BETWEEN :lo AND :hi"),
			ExpressionAttributeNames: map[string]string{"#d": AttrDay, "#s": AttrSK},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":d":  &types.AttributeValueMemberS{Value: dayOf(day)},
				":lo": &types.AttributeValueMemberS{Value: lo},
				":hi": &types.AttributeValueMemberS{Value: hi},
			},
		}, 0)
		if err != nil {
			return nil, fmt.Errorf("audit: records of %s in table %s: %w", dayOf(day), t.table, inTable(t.table, err))
		}
		out = append(out, recs...)
	}
	return out, nil
}

// Summaries returns the unit summary records whose time is in [from, to],
// oldest first: what each backfill or sweep unit examined, changed, refused
// and failed, with its run id and duration.
func (t *Trail) Summaries(ctx context.Context, from, to time.Time) ([]Record, error) {
	recs, err := t.Window(ctx, from, to)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(recs, func(r Record) bool { return r.Decision != DecisionSummary }), nil
}

// Stale returns the writes still pending, or whose outcome is unknown, that
// began before cutoff, oldest first. A pending record older than any
// invocation's timeout means the process died between storing its intent
// and recording the outcome; an unknown one, that the write got no definite
// answer: either way the AWS write may or may not have happened, and what
// AWS holds settles it. The by-pending index is sparse (only such items
// carry the attribute), so this stays cheap however large the table.
func (t *Trail) Stale(ctx context.Context, cutoff time.Time) ([]Record, error) {
	recs, err := t.query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(t.table),
		IndexName:                aws.String(IndexByPending),
		KeyConditionExpression:   aws.String("#p = :p AND #s < :cut"),
		ExpressionAttributeNames: map[string]string{"#p": AttrPending, "#s": AttrSK},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":p":   &types.AttributeValueMemberS{Value: string(DecisionPending)},
			":cut": &types.AttributeValueMemberS{Value: cutoff.UTC().Format(sortKeyLayout)},
		},
	}, 0)
	if err != nil {
		return nil, fmt.Errorf("audit: pending records before %s in table %s: %w", cutoff.UTC().Format(time.RFC3339), t.table, inTable(t.table, err))
	}
	return recs, nil
}

// query pages through a query until limit records (0 = all) are read.
func (t *Trail) query(ctx context.Context, in *dynamodb.QueryInput, limit int) ([]Record, error) {
	var out []Record
	for {
		if limit > 0 {
			in.Limit = aws.Int32(int32(min(limit-len(out), 1000)))
		}
		page, err := t.db.Query(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, av := range page.Items {
			var it item
			if err := attributevalue.UnmarshalMap(av, &it); err != nil {
				return nil, fmt.Errorf("decoding an audit item: %w", err)
			}
			rec, err := it.record()
			if err != nil {
				return nil, err
			}
			out = append(out, rec)
		}
		if len(page.LastEvaluatedKey) == 0 || (limit > 0 && len(out) >= limit) {
			return out, nil
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
}
