package lease

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A holder that takes the same lease again right after releasing it (a
// backfill or sweep unit takes its registry's lease once per chunk of 200
// repositories, for minutes on a large registry) would leave a waiting
// writer (a repository event, a drift event, an account event's hub change)
// only the gap of one DynamoDB call between its release and its next take.
// A waiter looks again after a pause of up to a second, so it would find the
// lease free only by chance, give up after MaxWait and fail its invocation,
// again at each of Lambda's retries, into the dead-letter queue, while the
// unit goes on. So a waiter marks the lease it waits for (Want: one
// conditional UpdateItem per holder it meets), the holder's release returns
// the mark with the deleted item (no extra call), and the holder's next
// take of the same key waits yieldFor first: the waiter's next look finds
// the lease free and takes it. The holder then waits for it as any waiter
// does. A waiter is thus served within one chunk and one pause, for one
// pause of the unit's time.

// Want marks busy's lease as wanted until until, for its holder's release
// to see (see above). It is conditional on the holder named by busy: a
// lease released or taken over since is not marked (nil). A mark that
// cannot be written costs the waiter only its chance of being let in.
func (l *Leaser) Want(ctx context.Context, busy *BusyError, until time.Time) error {
	if busy == nil || busy.owner == "" {
		return nil
	}
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(l.table),
		Key:                      map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: busy.Key}},
		UpdateExpression:         aws.String("SET #w = :until"),
		ConditionExpression:      aws.String("#owner = :holder"),
		ExpressionAttributeNames: map[string]string{"#w": AttrWanted, "#owner": AttrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":until":  seconds(ceilSecond(until)),
			":holder": &types.AttributeValueMemberS{Value: busy.owner},
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil
	}
	return err
}

// want is Want for Acquire, which waits whatever the mark's fate.
func (l *Leaser) want(ctx context.Context, busy *BusyError, until time.Time) {
	if err := l.Want(ctx, busy, until); err != nil && l.log != nil {
		l.log.Warn("cannot mark a busy lease as wanted; waiting without it", "key", busy.Key, "holder", busy.Holder, "error", err.Error())
	}
}

// set makes the next take of key wait until until. Entries whose time has
// passed by now are dropped first: only the next take of a key removes its
// entry, and a warm execution environment that released wanted leases of
// many registries it never takes again (a worker's sweep units, an
// account function's enumerations) would otherwise keep one per key for
// its lifetime. What is left is the keys released in the last yieldFor.
func (y *yields) set(key string, until, now time.Time) {
	y.mu.Lock()
	defer y.mu.Unlock()
	for k, u := range y.until {
		if !u.After(now) {
			delete(y.until, k)
		}
	}
	y.until[key] = until
}

// yieldBefore holds a take of key back while this process yields the key
// to a waiter (see above).
func (l *Leaser) yieldBefore(ctx context.Context, key string) error {
	l.yields.mu.Lock()
	until, ok := l.yields.until[key]
	delete(l.yields.until, key)
	l.yields.mu.Unlock()
	if !ok {
		return nil
	}
	if d := until.Sub(l.now()); d > 0 {
		return l.sleep(ctx, d)
	}
	return nil
}

// SameHolder reports whether two refusals met the same hold of a lease (a
// waiter marks each hold it meets once).
func (e *BusyError) SameHolder(o *BusyError) bool {
	return e != nil && o != nil && e.Key == o.Key && e.owner != "" && e.owner == o.owner
}
