package lease

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// A mailbox lets writers of one document hand their change to whoever holds
// the document's lease, instead of queueing for the lease one by one: every
// such writer posts its change first, and one of them takes the lease and
// applies every change waiting. It is one item in the lease table next to
// the lease ("mailbox/<key>"): one entry per subject (e.g. the account an
// event is about, the latest post winning), a count of posts ("posts"), a
// count of holders' reads ("takes": each take and each re-read under a held
// lease), and, while a holder drains it, that holder's mark ("open") with its
// lease's expiry.
//
// The protocol, which makes a hand-off cost a poster one call, taking over
// cost no more calls than taking a lease and opening the mailbox, and never
// loses an entry:
//
//   - A writer posts its change first (Post: one call, which returns the
//     mailbox as the post left it). If the mailbox is open under an unexpired
//     lease, its entry is handed off: the open holder either read it or will
//     fail its close and read it.
//   - Otherwise it takes the lease and marks the mailbox open in one
//     transaction (AcquireOpen), on condition that no holder took the lease
//     or read the mailbox under it since its read, and drains the mailbox as
//     that read returned it, its own entry included. When the lease is busy without a usable mark (a
//     holder that does not drain, such as a backfill unit, or a mark near
//     its lapse), it looks again after a pause (Peek) until its entry is
//     applied, handed off, or the lease is free.
//   - A holder applies every entry (entries must be idempotent, like
//     "account X is a member at OU path P"), then CloseAndRelease: one
//     transaction that removes the applied entries and the mark and deletes
//     the lease, on condition that nothing was posted since the holder's read
//     (the post count) and that it still owns the lease. (More than
//     closeChunk applied entries are removed a chunk at a time, on the same
//     post count, the last chunk in that transaction: DynamoDB refuses an
//     expression over 4 KB.) When something was posted meanwhile the
//     transaction changes nothing, the holder reads again and drains again:
//     no post can land after a holder's last read and before its release.
//     A transaction that met a concurrent write or throttling does the
//     same, because the SDK does not retry a canceled transaction.
//
// The mailbox is one item, and DynamoDB refuses an item over 400 KB: each
// post adds its entry's size (EntrySize) to a count (Box.Size), on condition
// that it stays within MailboxBound, and each close sets the count to what
// it leaves. A post over the bound is not made (ErrMailboxFull); its poster
// keeps its change, and either posts it once a close made room or takes the
// lease and applies it itself with the waiting entries
// (shared/reconcile/hubmailbox.go).
//
// Writers that do not drain the mailbox (a backfill unit holding the
// registry's lease) take the lease with Acquire and never open it: to a
// poster their hold is busy without a mark, so it waits for the release.
//
// A holder that cannot apply an entry (its change is refused, or left out
// of a write for size) leaves it waiting for a later holder, which plans it
// again and applies it once it fits. So that the refusal is recorded once,
// not by every later holder, the holder marks the entry refused
// (MarkRefused: Entry.Refused, what was refused and the record that says
// so); a later holder that reaches the same refusal finds the mark and
// records nothing more for it. A newer post for the subject clears the
// mark, and so does the close that applies the entry.
//
// A holder that dies leaves its mark and its unapplied entries (its own
// among them). Until the mark is within the hand-off margin of lapsing,
// posters hand off to it and their entries wait too; then the next writer
// takes the lease and applies them all, because entries leave the mailbox
// only in the close that follows their write and its audit outcome. Nothing
// else drains a mailbox (a sweep converges the document from its source).

// mailboxKey is the item holding key's mailbox.
func mailboxKey(key string) string { return "mailbox/" + key }

const (
	entryPrefix   = "e#" // entry body (S)
	timePrefix    = "t#" // when it was posted (N, Unix nanoseconds)
	refusedPrefix = "r#" // the holder's refusal mark of that post (S): Entry.Refused
	attrPosts     = "posts"
	attrOpen      = "open"      // owner token of the draining holder (S)
	attrOpenUntil = "openUntil" // that holder's lease expiry (N, Unix seconds)
	attrTakes     = "takes"     // count of holders' reads (N): takes and re-reads
	attrSize      = "size"      // the entries' size as MailboxBound counts it (N): EntrySize of every post, recounted by each close
)

// MailboxBound is how many bytes a mailbox's entries may take, as EntrySize
// counts them, before a post is refused (ErrMailboxFull) instead of made.
// DynamoDB refuses any write that would take an item past 400 KB (409,600
// bytes, attribute names and values), and a refused post failed its event
// into Lambda's retries: the hub's changes take 401 to 631 bytes of the item
// each (a departure to a move with a long name; shared/reconcile's
// TestHubChangeSizes measures them), so 649 to 1,021 waiting at once reached
// it. The bound keeps the item well under the limit, so that what is not
// counted always fits: the holder's mark, the counters and the key (under
// 300 bytes), and posts the count missed (a mailbox whose entries were
// posted before the count existed). 300,000 bytes hold 417 to 613 waiting
// changes (EntrySize counts 489 to 719 bytes for them), and keep a post's
// cost (a write unit per KB of the item) and a look's under three quarters
// of what a full item costs.
const MailboxBound = 300_000

// refusalMarkRoom is the room EntrySize reserves for an entry's refusal mark
// (MarkRefused): a holder marks entries after they were counted, and the
// mark it sets (a 32-character digest, a space and an audit record id of 26)
// must fit.
const refusalMarkRoom = 64

// numberRoom is the most bytes DynamoDB counts for a post's time (a number
// of 19 digits: about one byte per two digits, plus one).
const numberRoom = 21

// EntrySize is the bytes an entry for subject with body adds to a mailbox
// item as DynamoDB counts them (the UTF-8 bytes of each attribute's name and
// value): its body, its time and room for its refusal mark. A mailbox's count
// (Box.Size) sums it over the posts since the last close, so it is never
// below what its entries take.
func EntrySize(subject, body string) int64 {
	return int64(len(entryPrefix+subject) + len(body) + len(timePrefix+subject) + numberRoom + len(refusedPrefix+subject) + refusalMarkRoom)
}

// Entry is one change waiting in a mailbox.
type Entry struct {
	Subject string
	Body    string
	Posted  time.Time
	// Refused is a holder's mark on this post of the entry (MarkRefused):
	// its change was refused or left out, and the refusal is recorded.
	// Opaque to the mailbox; "" when none.
	Refused string
}

// Box is a mailbox as one call left it.
type Box struct {
	// Entries are the waiting changes, oldest first.
	Entries []Entry
	// Posts counts every post ever made; a holder's close is conditional
	// on it.
	Posts int64
	// Takes counts every read a holder drains from: each take
	// (AcquireOpen) and each re-read under a held lease (Open). A take is
	// conditional on it.
	Takes int64
	// Open is the draining holder's owner token, "" when none.
	Open string
	// OpenUntil is when that holder's lease lapses unless renewed.
	OpenUntil time.Time
	// Size is the entries' size as EntrySize counts them: every post since
	// the last close added its entry's, and a close sets what it leaves. A
	// post that would take it past MailboxBound is refused.
	Size int64
}

// Fits reports whether a post of body for subject would be made, going by
// the size this read shows (a post in between may still fill the mailbox).
func (b Box) Fits(subject, body string) bool {
	return b.Size+EntrySize(subject, body) <= MailboxBound
}

// Has reports whether subject has an entry waiting.
func (b Box) Has(subject string) bool {
	for _, e := range b.Entries {
		if e.Subject == subject {
			return true
		}
	}
	return false
}

// Draining reports whether a holder has the mailbox open under a lease that
// is still good at now plus margin, so an entry waiting in it will be
// applied without its poster's help.
func (b Box) Draining(now time.Time, margin time.Duration) bool {
	return b.Open != "" && b.OpenUntil.After(now.Add(margin))
}

// TryAcquire takes the lease on key if it is free, without waiting: a
// *BusyError when someone holds it.
func (l *Leaser) TryAcquire(ctx context.Context, key string, ttl time.Duration) (*Lease, error) {
	c := *l
	c.maxWait = time.Nanosecond
	return c.Acquire(ctx, key, ttl)
}

// AcquireOpen takes the lease on key if it is free and marks key's mailbox
// open under it, in one transaction and without waiting, on condition that
// no holder took the lease or read the mailbox under it since the caller's
// read (its own Post, or Peek), whose count of such reads is takes. The
// holder then drains that read, and no holder can have written anything
// newer than it: every entry is still waiting in that version or a newer
// one (a newer post fails the holder's close, which reads and writes it),
// and whatever a holder before it wrote came from an older read. Posts
// since the read do not refuse the take: in a burst every event posts at
// once. A *BusyError when someone holds the lease; ErrMailboxChanged when a
// holder took or read since, with the mailbox as the refusal found it (a
// read for the next try, at no extra call). A conflict with a concurrent
// write to either item, or throttling of either (the SDK does not retry a
// canceled transaction), counts as busy.
func (l *Leaser) AcquireOpen(ctx context.Context, key string, ttl time.Duration, takes int64) (*Lease, Box, error) {
	holder, owner := l.identity(ctx)
	put, expires := l.takePut(key, holder, owner, ttl)
	cond, values := countSeen("#takes", takes)
	values[":o"] = &types.AttributeValueMemberS{Value: owner}
	values[":u"] = seconds(expires)
	values[":one"] = &types.AttributeValueMemberN{Value: "1"}
	_, err := l.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{
			TableName:                           put.TableName,
			Item:                                put.Item,
			ConditionExpression:                 put.ConditionExpression,
			ExpressionAttributeNames:            put.ExpressionAttributeNames,
			ExpressionAttributeValues:           put.ExpressionAttributeValues,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		{Update: &types.Update{
			TableName:                           aws.String(l.table),
			Key:                                 map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(key)}},
			UpdateExpression:                    aws.String("SET #o = :o, #u = :u ADD #takes :one"),
			ConditionExpression:                 aws.String(cond),
			ExpressionAttributeNames:            map[string]string{"#o": attrOpen, "#u": attrOpenUntil, "#takes": attrTakes},
			ExpressionAttributeValues:           values,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
	}})
	if err == nil {
		return &Lease{Key: key, Owner: owner, holder: holder, expires: expires, leaser: l, opened: true}, Box{}, nil
	}
	var canceled *types.TransactionCanceledException
	if errors.As(err, &canceled) && len(canceled.CancellationReasons) == 2 {
		reasons := canceled.CancellationReasons
		lease, box := aws.ToString(reasons[0].Code), aws.ToString(reasons[1].Code)
		switch {
		case lease == "ConditionalCheckFailed" || transient(lease) || transient(box):
			return nil, Box{}, busyOf(key, reasons[0].Item, 0)
		case box == "ConditionalCheckFailed":
			return nil, boxOf(reasons[1].Item), fmt.Errorf("lease: taking %s: %w", key, ErrMailboxChanged)
		}
	}
	return nil, Box{}, fmt.Errorf("lease: taking %s and opening its mailbox in table %s: %w", key, l.table, err)
}

// transient reports whether a transaction cancellation reason says nothing
// about an item's condition, only that this attempt met a concurrent write
// to it (TransactionConflict) or was throttled on it (ThrottlingError,
// ProvisionedThroughputExceeded). The SDK retries neither inside a
// TransactionCanceledException, so AcquireOpen reports it as a busy lease
// and CloseAndRelease as a changed mailbox, and the caller tries again.
func transient(code string) bool {
	switch code {
	case "TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded":
		return true
	}
	return false
}

// countSeen is the condition that a mailbox's counter (name, "#posts" or
// "#takes") is still seen (absent when seen is 0), with its values.
func countSeen(name string, seen int64) (string, map[string]types.AttributeValue) {
	if seen == 0 {
		return "attribute_not_exists(" + name + ")", map[string]types.AttributeValue{}
	}
	return name + " = :seen", map[string]types.AttributeValue{":seen": &types.AttributeValueMemberN{Value: strconv.FormatInt(seen, 10)}}
}

// ErrMailboxFull means a post was not made: it would have taken the
// mailbox's entries past MailboxBound (or DynamoDB refused the item's size).
// The poster's change is not in the mailbox; the Box returned with it is the
// mailbox as the refusal found it.
var ErrMailboxFull = errors.New("mailbox full")

// Post puts body in key's mailbox as subject's entry, unless a newer entry
// for subject is already there (then the newer one stands), and returns the
// mailbox as the post left it. A new post is a new change: it clears a
// refusal mark the subject's earlier post carried. A post that would take
// the mailbox's entries past MailboxBound is not made (ErrMailboxFull, with
// the mailbox as it is): the poster applies its change itself, or posts
// again once a close made room.
func (l *Leaser) Post(ctx context.Context, key, subject, body string) (Box, error) {
	now := l.now()
	at := strconv.FormatInt(now.UnixNano(), 10)
	size := EntrySize(subject, body)
	// Newer than the subject's entry, and room for this one: written out
	// as an OR of ANDs (the size absent until the mailbox's first post).
	cond := "attribute_not_exists(#t) AND attribute_not_exists(#size) OR attribute_not_exists(#t) AND #size <= :room OR " +
		"#t < :t AND attribute_not_exists(#size) OR #t < :t AND #size <= :room"
	out, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(l.table),
		Key:                      map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(key)}},
		UpdateExpression:         aws.String("SET #e = :e, #t = :t REMOVE #r ADD #posts :one, #size :size"),
		ConditionExpression:      aws.String(cond),
		ExpressionAttributeNames: map[string]string{"#e": entryPrefix + subject, "#t": timePrefix + subject, "#r": refusedPrefix + subject, "#posts": attrPosts, "#size": attrSize},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":e":    &types.AttributeValueMemberS{Value: body},
			":t":    &types.AttributeValueMemberN{Value: at},
			":one":  &types.AttributeValueMemberN{Value: "1"},
			":size": &types.AttributeValueMemberN{Value: strconv.FormatInt(size, 10)},
			":room": &types.AttributeValueMemberN{Value: strconv.FormatInt(MailboxBound-size, 10)},
		},
		ReturnValues:                        types.ReturnValueAllNew,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		box := boxOf(ccf.Item)
		if t, ok := ccf.Item[timePrefix+subject].(*types.AttributeValueMemberN); ok {
			if ns, err := strconv.ParseInt(t.Value, 10, 64); err == nil && ns >= now.UnixNano() {
				return box, nil // a newer entry for the same subject stands
			}
		}
		return box, fmt.Errorf("lease: posting %d bytes for %s to the mailbox of %s (%d bytes waiting, bound %d): %w", size, subject, key, box.Size, MailboxBound, ErrMailboxFull)
	}
	if isItemTooLarge(err) {
		// A mailbox whose count missed posts (made before it existed).
		return Box{}, fmt.Errorf("lease: posting to the mailbox of %s in table %s: %w: %w", key, l.table, ErrMailboxFull, err)
	}
	if err != nil {
		return Box{}, fmt.Errorf("lease: posting to the mailbox of %s in table %s: %w", key, l.table, err)
	}
	return boxOf(out.Attributes), nil
}

// isItemTooLarge reports whether err is DynamoDB's refusal of a write that
// would take an item past 400 KB.
func isItemTooLarge(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && api.ErrorCode() == "ValidationException" && strings.Contains(api.ErrorMessage(), "Item size")
}

// Open marks key's mailbox as drained by the holder of ls and returns it,
// counting the read (Takes). It refuses (ErrNotHeld) when another holder's
// mark stands unexpired: that holder took the lease over from ls.
func (l *Leaser) Open(ctx context.Context, ls *Lease) (Box, error) {
	out, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(l.table),
		Key:                      map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(ls.Key)}},
		UpdateExpression:         aws.String("SET #o = :o, #u = :u ADD #takes :one"),
		ConditionExpression:      aws.String("attribute_not_exists(#o) OR #o = :o OR #u < :now"),
		ExpressionAttributeNames: map[string]string{"#o": attrOpen, "#u": attrOpenUntil, "#takes": attrTakes},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":o": &types.AttributeValueMemberS{Value: ls.Owner}, ":u": seconds(ls.expires),
			":one": &types.AttributeValueMemberN{Value: "1"}, ":now": seconds(l.now()),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return Box{}, fmt.Errorf("lease: opening the mailbox of %s (held as %s): another holder's mark stands: %w", ls.Key, ls.holder, ErrNotHeld)
	}
	if err != nil {
		return Box{}, fmt.Errorf("lease: opening the mailbox of %s in table %s: %w", ls.Key, l.table, err)
	}
	ls.opened = true
	return boxOf(out.Attributes), nil
}

// Peek returns key's mailbox with a strongly consistent read, so a poster
// sees every post, take and close made before it. A waiting poster peeks
// again after every pause: a read costs a read unit per 4 KB of the
// mailbox, where an update of the item (this was one once) costs a write
// unit per 1 KB of it and serialises with the posts. A mailbox nobody has
// posted to reads as empty (takes 0, which AcquireOpen accepts).
func (l *Leaser) Peek(ctx context.Context, key string) (Box, error) {
	out, err := l.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(l.table),
		Key:            map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(key)}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Box{}, fmt.Errorf("lease: reading the mailbox of %s in table %s: %w", key, l.table, err)
	}
	return boxOf(out.Item), nil
}

// ErrMailboxChanged means the mailbox is not as the caller read it; the Box
// returned with it is the mailbox as it is now, for the next try.
//
//   - From AcquireOpen: a holder took the lease or read the mailbox under it
//     since the caller's read. Nothing was taken: the caller does not hold
//     the lease, and the Box is the mailbox as the refusal found it.
//   - From CloseAndRelease: something was posted since the holder's last
//     read, or the close met a concurrent write (TransactionConflict) or
//     throttling, when possibly nothing was posted. The lease is still held,
//     the Box was read again under it (Open, which marks the mailbox open
//     again), and entries an earlier chunk of the close removed are gone
//     from it (they were applied): the holder drains the Box and closes
//     again.
var ErrMailboxChanged = errors.New("mailbox changed since it was read")

// closeChunk is how many applied entries one write of a close removes (or
// one MarkRefused marks). Each entry adds three paths to the REMOVE
// expression (at most 18 bytes, ", #e99, #t99, #r99"), and DynamoDB refuses
// any expression over 4 KB: a chunk's stays under 2 KB whatever the
// subjects (they are in the attribute names, not in the expression). Without chunks a close of more than 307 entries
// would be refused every time, and the mailbox would never close.
const closeChunk = 100

// CloseAndRelease ends a holder's drain: it removes the applied entries and
// the holder's open mark and deletes the lease, on condition that the post
// count is still read's (nothing was posted since the holder read the
// mailbox as read) and that ls still owns the lease. Up to closeChunk applied
// entries that is one transaction. More are removed closeChunk at a time
// first, each chunk an update on the same post count (so it removes entries
// exactly as the holder read them; not on the lease's owner, deliberately:
// a holder that lost its lease removes only entries it wrote, and any newer
// post for their subjects changes the count), and the last chunk goes in
// the transaction, which also sets the mailbox's size (Box.Size) to what
// the entries of read that were not applied take: with the post count
// unchanged, they are exactly what is left. When something was posted
// meanwhile (before the transaction
// or any chunk) nothing more changes and it returns ErrMailboxChanged with
// the mailbox read again (and marked open again): the holder drains that and
// tries again; entries earlier chunks removed were applied, so they stay
// removed. A transaction that meets a concurrent write or throttling does
// the same. ErrNotHeld means the lease was lost.
func (l *Leaser) CloseAndRelease(ctx context.Context, ls *Lease, applied []Entry, read Box) (Box, error) {
	cond, values := countSeen("#posts", read.Posts)
	if len(values) == 0 {
		values = nil
	}
	done := map[string]bool{}
	for _, e := range applied {
		done[e.Subject] = true
	}
	var left int64
	for _, e := range read.Entries {
		if !done[e.Subject] {
			left += EntrySize(e.Subject, e.Body)
		}
	}
	// removing is the conditional update that removes entries (and, with
	// mark, the holder's open mark, setting the size of what is left).
	removing := func(entries []Entry, mark bool) *types.Update {
		names, remove := removal(entries)
		vals := values
		update := "REMOVE "
		if mark {
			names["#o"], names["#u"], names["#size"] = attrOpen, attrOpenUntil, attrSize
			remove = append([]string{"#o", "#u"}, remove...)
			vals = map[string]types.AttributeValue{":left": &types.AttributeValueMemberN{Value: strconv.FormatInt(left, 10)}}
			maps.Copy(vals, values)
			update = "SET #size = :left REMOVE "
		}
		return &types.Update{
			TableName:                 aws.String(l.table),
			Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(ls.Key)}},
			UpdateExpression:          aws.String(update + strings.Join(remove, ", ")),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: vals,
		}
	}
	for len(applied) > closeChunk {
		u := removing(applied[:closeChunk], false)
		_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: u.TableName, Key: u.Key, UpdateExpression: u.UpdateExpression,
			ConditionExpression: u.ConditionExpression, ExpressionAttributeNames: u.ExpressionAttributeNames, ExpressionAttributeValues: u.ExpressionAttributeValues})
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			return l.reread(ctx, ls)
		}
		if err != nil {
			return Box{}, fmt.Errorf("lease: closing the mailbox of %s in table %s: %w", ls.Key, l.table, err)
		}
		applied = applied[closeChunk:]
	}
	_, err := l.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: removing(applied, true)},
		{Delete: &types.Delete{
			TableName:                 aws.String(l.table),
			Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: ls.Key}},
			ConditionExpression:       aws.String("#owner = :me"),
			ExpressionAttributeNames:  map[string]string{"#owner": AttrOwner},
			ExpressionAttributeValues: map[string]types.AttributeValue{":me": &types.AttributeValueMemberS{Value: ls.Owner}},
		}},
	}})
	if err == nil {
		ls.released = true
		return Box{}, nil
	}
	var canceled *types.TransactionCanceledException
	if !errors.As(err, &canceled) {
		return Box{}, fmt.Errorf("lease: closing the mailbox of %s and releasing it in table %s: %w", ls.Key, l.table, err)
	}
	reasons := canceled.CancellationReasons
	if len(reasons) == 2 && aws.ToString(reasons[1].Code) == "ConditionalCheckFailed" {
		return Box{}, fmt.Errorf("lease: closing the mailbox of %s (held as %s): %w", ls.Key, ls.holder, ErrNotHeld)
	}
	// A post since the read, or a write to either item racing this one
	// (TransactionConflict) or throttling on either: read again and let the
	// holder drain again.
	if len(reasons) != 2 || aws.ToString(reasons[0].Code) != "ConditionalCheckFailed" &&
		!transient(aws.ToString(reasons[0].Code)) && !transient(aws.ToString(reasons[1].Code)) {
		return Box{}, fmt.Errorf("lease: closing the mailbox of %s and releasing it in table %s: %w", ls.Key, l.table, err)
	}
	return l.reread(ctx, ls)
}

// removal is the attribute names and REMOVE paths of applied entries, with
// "#posts" for the close's condition.
func removal(applied []Entry) (map[string]string, []string) {
	names := map[string]string{"#posts": attrPosts}
	remove := make([]string, 0, 3*len(applied)+2)
	for i, e := range applied {
		en, tn, rn := fmt.Sprintf("#e%d", i), fmt.Sprintf("#t%d", i), fmt.Sprintf("#r%d", i)
		names[en], names[tn], names[rn] = entryPrefix+e.Subject, timePrefix+e.Subject, refusedPrefix+e.Subject
		remove = append(remove, en, tn, rn)
	}
	return names, remove
}

// ErrEntryChanged means MarkRefused marked nothing in a chunk because one of
// its entries was posted again (or applied) since the caller read it: the
// newer post is a new change, and a mark meant for the older one must not
// stand on it.
var ErrEntryChanged = errors.New("mailbox entry posted again or applied since it was read")

// MarkRefused sets each entry's refusal mark (Entry.Refused) on key's
// mailbox, on condition that every entry is still the post the caller read
// (its posted time): a holder marks the entries whose change it could not
// apply, once it has recorded why, so later holders that reach the same
// refusal do not record it again. closeChunk entries are marked per call;
// a chunk with an entry posted again since is left unmarked
// (ErrEntryChanged, after the other chunks): its refusal is recorded again
// by the next holder that reaches it, nothing is lost. It needs no lease:
// the mark is about the post, which the condition pins.
func (l *Leaser) MarkRefused(ctx context.Context, key string, marked []Entry) error {
	var changed bool
	for len(marked) > 0 {
		n := min(len(marked), closeChunk)
		chunk := marked[:n]
		marked = marked[n:]
		names := map[string]string{}
		values := map[string]types.AttributeValue{}
		set := make([]string, 0, n)
		cond := make([]string, 0, n)
		for i, e := range chunk {
			rn, tn, mv, tv := fmt.Sprintf("#r%d", i), fmt.Sprintf("#t%d", i), fmt.Sprintf(":m%d", i), fmt.Sprintf(":t%d", i)
			names[rn], names[tn] = refusedPrefix+e.Subject, timePrefix+e.Subject
			values[mv] = &types.AttributeValueMemberS{Value: e.Refused}
			values[tv] = &types.AttributeValueMemberN{Value: strconv.FormatInt(e.Posted.UnixNano(), 10)}
			set = append(set, rn+" = "+mv)
			cond = append(cond, tn+" = "+tv)
		}
		_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(l.table),
			Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(key)}},
			UpdateExpression:          aws.String("SET " + strings.Join(set, ", ")),
			ConditionExpression:       aws.String(strings.Join(cond, " AND ")),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case errors.As(err, &ccf):
			changed = true
		case err != nil:
			return fmt.Errorf("lease: marking %d refused entries of the mailbox of %s in table %s: %w", n, key, l.table, err)
		}
	}
	if changed {
		return fmt.Errorf("lease: marking refused entries of the mailbox of %s: %w", key, ErrEntryChanged)
	}
	return nil
}

// reread is a close's answer when the mailbox changed since the holder's
// read: the mailbox read again under ls, and ErrMailboxChanged.
func (l *Leaser) reread(ctx context.Context, ls *Lease) (Box, error) {
	box, err := l.Open(ctx, ls)
	if err != nil {
		return Box{}, err
	}
	return box, ErrMailboxChanged
}

// Abandon removes a holder's open mark without applying anything (a holder
// that gives up on a failed write), so posters stop handing off to it; its
// entries stay for the next holder. The caller releases the lease.
func (l *Leaser) Abandon(ctx context.Context, ls *Lease) error {
	err := l.onOwnMark(ctx, ls, "REMOVE #o, #u", nil)
	var ccf *types.ConditionalCheckFailedException
	if err != nil && !errors.As(err, &ccf) {
		return fmt.Errorf("lease: abandoning the mailbox of %s in table %s: %w", ls.Key, l.table, err)
	}
	ls.opened = false
	return nil
}

// onOwnMark applies update (over #o, the mark's owner, and #u, its expiry,
// and values) to ls's mailbox on condition that ls's mark stands; a
// ConditionalCheckFailedException says it does not.
func (l *Leaser) onOwnMark(ctx context.Context, ls *Lease, update string, values map[string]types.AttributeValue) error {
	vals := map[string]types.AttributeValue{":me": &types.AttributeValueMemberS{Value: ls.Owner}}
	maps.Copy(vals, values)
	_, err := l.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(l.table),
		Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(ls.Key)}},
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String("#o = :me"),
		ExpressionAttributeNames:  map[string]string{"#o": attrOpen, "#u": attrOpenUntil},
		ExpressionAttributeValues: vals,
	})
	return err
}

// extendMark moves the expiry of ls's open mark to the lease's (after a
// renewal), unless another holder's mark stands. A failure is logged, not
// returned: the lease itself is renewed, and a mark that lapses early only
// makes posters wait for the release instead of handing off.
func (l *Leaser) extendMark(ctx context.Context, ls *Lease) {
	err := l.onOwnMark(ctx, ls, "SET #u = :u", map[string]types.AttributeValue{":u": seconds(ls.expires)})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		ls.opened = false
		return
	}
	if err != nil && l.log != nil {
		l.log.WarnContext(ctx, "extending the mailbox mark with the renewed lease", "key", ls.Key, "error", err.Error())
	}
}

func boxOf(item map[string]types.AttributeValue) Box {
	var b Box
	for name, v := range item {
		switch {
		case name == attrPosts:
			if n, ok := v.(*types.AttributeValueMemberN); ok {
				b.Posts, _ = strconv.ParseInt(n.Value, 10, 64)
			}
		case name == attrTakes:
			if n, ok := v.(*types.AttributeValueMemberN); ok {
				b.Takes, _ = strconv.ParseInt(n.Value, 10, 64)
			}
		case name == attrSize:
			if n, ok := v.(*types.AttributeValueMemberN); ok {
				b.Size, _ = strconv.ParseInt(n.Value, 10, 64)
			}
		case name == attrOpen:
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				b.Open = s.Value
			}
		case name == attrOpenUntil:
			if n, ok := v.(*types.AttributeValueMemberN); ok {
				if sec, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
					b.OpenUntil = time.Unix(sec, 0)
				}
			}
		}
		subject, ok := strings.CutPrefix(name, entryPrefix)
		body, isS := v.(*types.AttributeValueMemberS)
		if !ok || !isS {
			continue
		}
		e := Entry{Subject: subject, Body: body.Value}
		if r, ok := item[refusedPrefix+subject].(*types.AttributeValueMemberS); ok {
			e.Refused = r.Value
		}
		if t, ok := item[timePrefix+subject].(*types.AttributeValueMemberN); ok {
			if ns, err := strconv.ParseInt(t.Value, 10, 64); err == nil {
				e.Posted = time.Unix(0, ns)
			}
		}
		b.Entries = append(b.Entries, e)
	}
	sortEntries(b.Entries)
	return b
}

func sortEntries(es []Entry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].Posted.Before(es[j-1].Posted); j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}
