package fakeaws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/lease"
)

// Table is an in-memory DynamoDB table for audit.New: the three calls the
// trail makes one record at a time (it stores batches with PutItem when the
// table has no BatchWriteItem). It honours the two conditions the trail
// relies on (a conditional put never overwrites; an outcome updates only a
// pending or unknown item) and answers ConditionalCheckFailedException as DynamoDB
// does. Query matches the key condition's first equality (the partition
// key, or an index's key) and ignores range conditions.
type Table struct {
	mu    sync.Mutex
	items map[string]map[string]ddbtypes.AttributeValue
	puts  int
}

// NewTable returns an empty table.
func NewTable() *Table { return &Table{items: map[string]map[string]ddbtypes.AttributeValue{}} }

// NewTrail returns an audit trail over a new in-memory table.
func NewTrail() (*audit.Trail, *Table, error) {
	t := NewTable()
	tr, err := audit.New(t, "audit", audit.Options{Function: "fakeaws", Logger: slog.New(slog.DiscardHandler)})
	return tr, t, err
}

func s(it map[string]ddbtypes.AttributeValue, k string) string {
	if v, ok := it[k].(*ddbtypes.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func conditionFailed(op string) error {
	return wrap("DynamoDB", op, http.StatusBadRequest, 0, &ddbtypes.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")})
}

// PutItem stores an item; with a condition it never overwrites one.
func (t *Table) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := s(in.Item, audit.AttrPK) + "\x00" + s(in.Item, audit.AttrSK)
	if _, ok := t.items[key]; ok && in.ConditionExpression != nil {
		return nil, conditionFailed("PutItem")
	}
	t.items[key] = in.Item
	t.puts++
	return &dynamodb.PutItemOutput{}, nil
}

// UpdateItem applies "SET a = :x, ... REMOVE b" when the item exists and
// meets the condition, equalities joined by OR (the trail's "#d = :pending
// OR #d = :unknown": the write's outcome is still open).
func (t *Table) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := s(in.Key, audit.AttrPK) + "\x00" + s(in.Key, audit.AttrSK)
	it, ok := t.items[key]
	if !ok {
		return nil, conditionFailed("UpdateItem")
	}
	name := func(n string) string {
		if v, ok := in.ExpressionAttributeNames[n]; ok {
			return v
		}
		return n
	}
	if c := aws.ToString(in.ConditionExpression); c != "" {
		met := false
		for _, eq := range strings.Split(c, " OR ") {
			lhs, rhs, ok := strings.Cut(eq, " = ")
			if !ok {
				return nil, fmt.Errorf("fakeaws table: unsupported condition %q", c)
			}
			met = met || s(it, name(strings.TrimSpace(lhs))) == s(in.ExpressionAttributeValues, strings.TrimSpace(rhs))
		}
		if !met {
			return nil, conditionFailed("UpdateItem")
		}
	}
	expr := aws.ToString(in.UpdateExpression)
	set, remove, _ := strings.Cut(expr, " REMOVE ")
	for _, a := range strings.Split(strings.TrimPrefix(set, "SET "), ",") {
		lhs, rhs, ok := strings.Cut(a, "=")
		if !ok {
			return nil, fmt.Errorf("fakeaws table: unsupported update expression %q", expr)
		}
		it[name(strings.TrimSpace(lhs))] = in.ExpressionAttributeValues[strings.TrimSpace(rhs)]
	}
	for _, a := range strings.Split(remove, ",") {
		if a = strings.TrimSpace(a); a != "" {
			delete(it, name(a))
		}
	}
	return &dynamodb.UpdateItemOutput{}, nil
}

// Query answers the items whose key (first equality of the key condition)
// matches, in sort-key order (newest first when ScanIndexForward is false).
func (t *Table) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	first, _, _ := strings.Cut(aws.ToString(in.KeyConditionExpression), " AND ")
	lhs, rhs, ok := strings.Cut(first, " = ")
	if !ok {
		return nil, errors.New("fakeaws table: the key condition needs an equality")
	}
	attr := strings.TrimSpace(lhs)
	if v, ok := in.ExpressionAttributeNames[attr]; ok {
		attr = v
	}
	want := s(in.ExpressionAttributeValues, strings.TrimSpace(rhs))
	var out []map[string]ddbtypes.AttributeValue
	for _, it := range t.items {
		if s(it, attr) == want {
			out = append(out, it)
		}
	}
	sort.Slice(out, func(i, j int) bool { return s(out[i], audit.AttrSK) < s(out[j], audit.AttrSK) })
	if in.ScanIndexForward != nil && !*in.ScanIndexForward {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	if in.Limit != nil && int(*in.Limit) < len(out) {
		out = out[:*in.Limit]
	}
	return &dynamodb.QueryOutput{Items: out, Count: int32(len(out))}, nil
}

// Len is how many items the table holds.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.items)
}

// Leases is an in-memory lease table for apply.Executor: one holder per key
// at a time (others wait), never lost.
type Leases struct {
	mu    sync.Mutex
	held  map[string]*sync.Mutex
	holds map[string]int
}

// NewLeases returns a lease table with no holders.
func NewLeases() *Leases { return &Leases{held: map[string]*sync.Mutex{}, holds: map[string]int{}} }

// Hold runs fn while holding key's lease.
func (l *Leases) Hold(ctx context.Context, key string, ttl time.Duration, fn func(ctx context.Context, h lease.Held) error) error {
	l.mu.Lock()
	m, ok := l.held[key]
	if !ok {
		m = &sync.Mutex{}
		l.held[key] = m
	}
	l.holds[key]++
	l.mu.Unlock()
	m.Lock()
	defer m.Unlock()
	h := newHeld(ttl)
	return fn(lease.WithHeld(ctx, h), h)
}

// Holds is how often key's lease was taken.
func (l *Leases) Holds(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.holds[key]
}

// held is a lease that stays held; Renew extends it.
type held struct{ expires atomic.Int64 }

func newHeld(ttl time.Duration) *held {
	h := &held{}
	h.expires.Store(time.Now().Add(ttl).UnixNano())
	return h
}

func (h *held) Expires() time.Time { return time.Unix(0, h.expires.Load()) }

func (h *held) Renew(_ context.Context, ttl time.Duration) error {
	h.expires.Store(time.Now().Add(ttl).UnixNano())
	return nil
}
