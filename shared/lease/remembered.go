package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The members a backfill's full run configured, per hub region. The
// declaration alone cannot say which members an edit of it stopped
// configuring: a member no grant, public grant or pull-through-cache
// selector names any more has no trace in it, and the member StackSet stops
// targeting it, yet the statements ecr-warden wrote in its policies keep
// granting. So each full run remembers the members it configured, and the
// next full run retires those the declaration no longer configures
// (functions/backfill).

// Item attributes of a configured-members item.
const (
	// attrMembers (S) is the sorted account ids joined by ",": 13 bytes an
	// account, so DynamoDB's 400 KB item holds MaxRememberedAccounts.
	attrMembers = "members"
	// attrWrittenAt (N, Unix seconds) is when the run wrote it.
	attrWrittenAt = "writtenAt"
	// attrVersion (S) is a token new at every write: a run replaces the set
	// only if it is still the one the run read (Remember).
	attrVersion = "version"
)

// MaxItemBytes is DynamoDB's item size limit (attribute names and values).
const MaxItemBytes = 400 * 1024

// MaxRememberedAccounts is about how many members one item holds
// (TestRememberedAccountsIsMeasured measures it).
const MaxRememberedAccounts = 31_000

// Remembered is what the last full run remembered for one region.
type Remembered struct {
	// Found is false when no full run has written the item yet.
	Found bool
	// Accounts are the members that run configured, sorted.
	Accounts []string
	// At is when it was written.
	At time.Time
	// Version is the write's token ("" for an item written without one).
	Version string
}

func configuredKey(region string) string { return configuredKeyPrefix + region }

// Remembered reads the configured members region's units had at the last
// full run, with a strongly consistent read (the last run's write is seen
// however soon the next run follows).
func (l *Leaser) Remembered(ctx context.Context, region string) (Remembered, error) {
	key := configuredKey(region)
	out, err := l.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(l.table),
		Key:            map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: key}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Remembered{}, fmt.Errorf("lease: reading the configured members (%s) in table %s: %w", key, l.table, err)
	}
	if len(out.Item) == 0 {
		return Remembered{}, nil
	}
	r := Remembered{Found: true}
	m, ok := out.Item[attrMembers].(*types.AttributeValueMemberS)
	if !ok {
		return Remembered{}, fmt.Errorf("lease: the configured members (%s) in table %s have no %s string%s", key, l.table, attrMembers, l.corrupt(key))
	}
	if m.Value != "" {
		r.Accounts = strings.Split(m.Value, ",")
	}
	for _, id := range r.Accounts {
		if !accountID(id) {
			return Remembered{}, fmt.Errorf("lease: the configured members (%s) in table %s list %q, not a 12-digit account id%s", key, l.table, clip(id), l.corrupt(key))
		}
	}
	if v, ok := out.Item[attrVersion].(*types.AttributeValueMemberS); ok {
		r.Version = v.Value
	}
	if at, ok := out.Item[attrWrittenAt].(*types.AttributeValueMemberN); ok {
		if secs, err := strconv.ParseInt(at.Value, 10, 64); err == nil {
			r.At = time.Unix(secs, 0)
		}
	}
	return r, nil
}

// corrupt says what an unreadable configured-members item costs and how to
// recover: nothing but Remember writes it, and it is replaced only by a run
// that could read it, so it fails every full run the same way until changed.
func (l *Leaser) corrupt(key string) string {
	return fmt.Sprintf(": ecr-warden did not write this (only the backfill writes the item, as sorted ids joined by \",\"), and every full run fails reading it until it is changed; correct it, or delete it (aws dynamodb delete-item --table-name %s --key '{\"%s\":{\"S\":\"%s\"}}'): the next full run then retires nothing in that region and remembers the members it configures, so a member an edit stopped configuring before then is retired only by a backfill naming its account",
		l.table, AttrPK, key)
}

// Remember replaces region's configured members with accounts, if the item
// is still prev, what the run read before it planned (Remembered). Two full
// runs can overlap (a sweep that started under the old declaration and the
// deploy's backfill under the new one): when another run wrote since, the
// set written is the union of both, so no run's members are forgotten. A
// member remembered once too often is harmless (a later full run retires it
// only if the declaration configures nothing in it, removing only what
// ecr-warden owns); one forgotten would keep its grants. A set whose item
// DynamoDB would refuse (over MaxItemBytes) is refused here, naming the
// count, before any call.
func (l *Leaser) Remember(ctx context.Context, region string, prev Remembered, accounts []string) error {
	for range 5 {
		item := configuredItem(region, accounts, l.now())
		if n := itemBytes(item); n > MaxItemBytes {
			return fmt.Errorf("lease: remembering %d configured members of %s in table %s: the item would be %d bytes, over DynamoDB's %d", len(accounts), region, l.table, n, MaxItemBytes)
		}
		in := &dynamodb.PutItemInput{TableName: aws.String(l.table), Item: item}
		switch {
		case !prev.Found:
			in.ConditionExpression = aws.String("attribute_not_exists(#pk)")
			in.ExpressionAttributeNames = map[string]string{"#pk": AttrPK}
		case prev.Version == "":
			in.ConditionExpression = aws.String("attribute_not_exists(#v)")
			in.ExpressionAttributeNames = map[string]string{"#v": attrVersion}
		default:
			in.ConditionExpression = aws.String("#v = :v")
			in.ExpressionAttributeNames = map[string]string{"#v": attrVersion}
			in.ExpressionAttributeValues = map[string]types.AttributeValue{":v": &types.AttributeValueMemberS{Value: prev.Version}}
		}
		_, err := l.db.PutItem(ctx, in)
		var ccf *types.ConditionalCheckFailedException
		if !errors.As(err, &ccf) {
			if err != nil {
				return fmt.Errorf("lease: remembering the configured members (%s) in table %s: %w", configuredKey(region), l.table, err)
			}
			return nil
		}
		// Another full run wrote since this one read: keep its members too.
		cur, rerr := l.Remembered(ctx, region)
		if rerr != nil {
			return rerr
		}
		prev, accounts = cur, slices.Concat(accounts, cur.Accounts)
	}
	return fmt.Errorf("lease: remembering the configured members (%s) in table %s: another run replaced them at each of 5 tries", configuredKey(region), l.table)
}

// configuredItem is the item Remember writes: the accounts sorted and
// without repeats, so two runs over the same members write the same value.
func configuredItem(region string, accounts []string, at time.Time) map[string]types.AttributeValue {
	ids := slices.Compact(slices.Sorted(slices.Values(accounts)))
	return map[string]types.AttributeValue{
		AttrPK:        &types.AttributeValueMemberS{Value: configuredKey(region)},
		attrMembers:   &types.AttributeValueMemberS{Value: strings.Join(ids, ",")},
		attrWrittenAt: seconds(at),
		attrVersion:   &types.AttributeValueMemberS{Value: token()},
	}
}

// itemBytes is the size DynamoDB counts for an item of string and number
// attributes: each name's and value's bytes (a number's digits overstate
// its stored size, which is what a bound wants).
func itemBytes(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name)
		switch v := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(v.Value)
		case *types.AttributeValueMemberN:
			n += len(v.Value) + 1
		}
	}
	return n
}

// accountID reports whether s is 12 decimal digits.
func accountID(s string) bool {
	if len(s) != 12 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// clip shortens a value read back from the table for an error.
func clip(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "…"
	}
	return s
}

// Remembered is Leaser.Remembered in the function's own table: the
// backfill that runs the units of every region remembers them in its own.
func (r *Regional) Remembered(ctx context.Context, region string) (Remembered, error) {
	return r.inRegion("").Remembered(ctx, region)
}

// Remember is Leaser.Remember in the function's own table.
func (r *Regional) Remember(ctx context.Context, region string, prev Remembered, accounts []string) error {
	return r.inRegion("").Remember(ctx, region, prev, accounts)
}
