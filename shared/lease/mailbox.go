package lease

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// A mailbox lets writers that find a document's lease busy hand their change
// to whoever holds it, instead of queueing for the lease one by one. It is
// one item in the lease table next to the lease ("mailbox/<key>"): one entry
// per subject (e.g. the account an event is about), the latest posted
// winning. A holder reads the mailbox after taking the lease, folds every
// entry into one read-merge-write, and removes the entries it applied only
// after its write and audit outcome, so an entry is never lost with a holder
// that dies: the next holder applies it again (entries must be idempotent,
// like "account X is a member at OU path P"). A poster learns its change was
// applied when its entry is gone.

// mailboxKey is the item holding key's mailbox.
func mailboxKey(key string) string { return "mailbox/" + key }

const (
	entryPrefix = "e#" // entry body (S)
	timePrefix  = "t#" // when it was posted (N, Unix nanoseconds)
)

// Entry is one change waiting in a mailbox.
type Entry struct {
	Subject string
	Body    string
	Posted  time.Time
}

// TryAcquire takes the lease on key if it is free, without waiting: a
// *BusyError when someone holds it.
func (l *Leaser) TryAcquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error) {
	c := *l
	c.maxWait = time.Nanosecond
	return c.Acquire(ctx, key, ttl)
}

// Post puts body in key's mailbox as subject's entry, unless a newer entry
// for subject is already there (then the newer one stands).
func (l *Leaser) Post(ctx context.Context, key, subject, body string) error {
	now := l.now()
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(l.table),
		Key:                      map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(key)}},
		UpdateExpression:         aws.String("SET #e = :e, #t = :t"),
		ConditionExpression:      aws.String("attribute_not_exists(#t) OR #t < :t"),
		ExpressionAttributeNames: map[string]string{"#e": entryPrefix + subject, "#t": timePrefix + subject},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":e": &types.AttributeValueMemberS{Value: body},
			":t": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.UnixNano(), 10)},
		},
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return nil // a newer entry for the same subject stands
	}
	if err != nil {
		return fmt.Errorf("lease: posting to the mailbox of %s in table %s: %w", key, l.table, err)
	}
	return nil
}

// Mailbox returns key's entries, oldest first. It reads with an update that
// changes nothing but returns the whole item (the lease table's interface
// has no GetItem), which is strongly consistent.
func (l *Leaser) Mailbox(ctx context.Context, key string) ([]Entry, error) {
	out, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(key)}},
		UpdateExpression:          aws.String("SET #r = :r"),
		ExpressionAttributeNames:  map[string]string{"#r": "readAt"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":r": seconds(l.now())},
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		return nil, fmt.Errorf("lease: reading the mailbox of %s in table %s: %w", key, l.table, err)
	}
	var entries []Entry
	for name, v := range out.Attributes {
		subject, ok := strings.CutPrefix(name, entryPrefix)
		body, isS := v.(*types.AttributeValueMemberS)
		if !ok || !isS {
			continue
		}
		e := Entry{Subject: subject, Body: body.Value}
		if t, ok := out.Attributes[timePrefix+subject].(*types.AttributeValueMemberN); ok {
			if ns, err := strconv.ParseInt(t.Value, 10, 64); err == nil {
				e.Posted = time.Unix(0, ns)
			}
		}
		entries = append(entries, e)
	}
	sortEntries(entries)
	return entries, nil
}

// Settle removes the entries a holder applied, each only if it was not
// replaced by a newer post meanwhile (that one waits for the next holder).
// It must be called while holding key's lease, after the write and its
// audit outcome.
func (l *Leaser) Settle(ctx context.Context, key string, applied []Entry) error {
	if len(applied) == 0 {
		return nil
	}
	// One call for all, each removal conditional on its entry being the one
	// applied; if any was replaced meanwhile, one call per entry.
	names := map[string]string{}
	values := map[string]types.AttributeValue{}
	var remove, conds []string
	for i, e := range applied {
		en, tn, tv := fmt.Sprintf("#e%d", i), fmt.Sprintf("#t%d", i), fmt.Sprintf(":t%d", i)
		names[en], names[tn] = entryPrefix+e.Subject, timePrefix+e.Subject
		values[tv] = &types.AttributeValueMemberN{Value: strconv.FormatInt(e.Posted.UnixNano(), 10)}
		remove = append(remove, en, tn)
		conds = append(conds, tn+" = "+tv)
	}
	err := l.settle(ctx, key, "REMOVE "+strings.Join(remove, ", "), strings.Join(conds, " AND "), names, values)
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) {
		return err
	}
	if len(applied) == 1 {
		return nil // replaced by a newer post, which the next holder applies
	}
	for _, e := range applied {
		if err := l.Settle(ctx, key, []Entry{e}); err != nil {
			return err
		}
	}
	return nil
}

func (l *Leaser) settle(ctx context.Context, key, update, cond string, names map[string]string, values map[string]types.AttributeValue) error {
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(key)}},
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("lease: settling the mailbox of %s in table %s: %w", key, l.table, err)
	}
	return err
}

func sortEntries(es []Entry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].Posted.Before(es[j-1].Posted); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}
