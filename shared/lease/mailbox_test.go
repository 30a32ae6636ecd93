package lease

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// A busy lease does not make TryAcquire wait; the mailbox keeps the latest
// post per subject and lists entries oldest first; a post tells whether a
// holder is draining; a holder's close fails (and re-reads) when something
// was posted after its read, and succeeds (releasing the lease) once it has
// read everything.
func TestMailbox(t *testing.T) {
	ctx := context.Background()
	clk, a, b := twoHolders(t)
	key := RegistryKey("111111111111", "us-east-1")
	held, err := a.TryAcquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryAcquire(ctx, key, time.Minute); !errors.Is(err, ErrBusy) || len(clk.slept) != 0 {
		t.Fatalf("TryAcquire on a held lease: %v after sleeping %v; want ErrBusy at once", err, clk.slept)
	}
	// Posted before the holder opened: not yet draining.
	for _, p := range []struct{ subject, body string }{{"222", "join 222"}, {"333", "join 333"}, {"222", "leave 222"}} {
		clk.advance(time.Millisecond)
		box, err := b.Post(ctx, key, p.subject, p.body)
		if err != nil {
			t.Fatal(err)
		}
		if box.Draining(clk.now(), time.Second) || !box.Has(p.subject) {
			t.Fatalf("post of %s before the holder opened: %+v; want its entry and no draining holder", p.subject, box)
		}
	}
	box, err := a.Open(ctx, held)
	if err != nil {
		t.Fatal(err)
	}
	got := box.Entries
	if len(got) != 2 || got[0].Subject != "333" || got[1].Subject != "222" || got[1].Body != "leave 222" || box.Posts != 3 {
		t.Fatalf("mailbox = %+v; want 333 then the latest post for 222, 3 posts", box)
	}
	// A newer post for 333 arrives after the holder read the mailbox: the
	// poster sees a draining holder, and the holder's close fails and
	// re-reads.
	clk.advance(time.Millisecond)
	pb, err := b.Post(ctx, key, "333", "moved 333")
	if err != nil {
		t.Fatal(err)
	}
	if !pb.Draining(clk.now(), time.Second) {
		t.Fatalf("post while the holder drains: %+v; want draining", pb)
	}
	again, err := a.CloseAndRelease(ctx, held, got, box)
	if !errors.Is(err, ErrMailboxChanged) {
		t.Fatalf("close after a newer post: %v; want ErrMailboxChanged", err)
	}
	if len(again.Entries) != 2 || again.Entries[1].Body != "moved 333" || again.Posts != 4 {
		t.Fatalf("re-read after the failed close: %+v; want both entries with the newer 333", again)
	}
	if _, err := b.TryAcquire(ctx, key, time.Minute); !errors.Is(err, ErrBusy) {
		t.Fatalf("a failed close released the lease: %v", err)
	}
	closeEmpty(t, a, b, held, again)
	if err := held.Release(ctx); err != nil {
		t.Fatalf("releasing after the close: %v; want a no-op", err)
	}
	if _, err := b.TryAcquire(ctx, key, time.Minute); err != nil {
		t.Fatalf("the close did not release the lease: %v", err)
	}
}

// A holder whose lease lapsed and was taken over (AcquireOpen) cannot close
// (ErrNotHeld), and its Abandon does not remove the new holder's mark.
func TestMailboxCloseAfterTakeover(t *testing.T) {
	ctx := context.Background()
	clk, a, b := twoHolders(t)
	key := RegistryKey("111111111111", "eu-west-1")
	old, err := a.TryAcquire(ctx, key, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	box, err := a.Open(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Minute)
	if box.Draining(clk.now(), 0) {
		t.Fatalf("an expired holder's mark still counts as draining: %+v", box)
	}
	if _, _, err := b.AcquireOpen(ctx, key, time.Minute, box.Takes-1); !errors.Is(err, ErrMailboxChanged) {
		t.Fatalf("AcquireOpen on a read from before the old holder's open: %v; want ErrMailboxChanged", err)
	}
	cur, _, err := b.AcquireOpen(ctx, key, time.Minute, box.Takes)
	if err != nil {
		t.Fatalf("AcquireOpen over a lapsed lease: %v", err)
	}
	if _, err := a.Open(ctx, old); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("re-open by the holder that lost its lease: %v; want ErrNotHeld (the new holder's mark stands)", err)
	}
	if _, err := a.CloseAndRelease(ctx, old, nil, box); !errors.Is(err, ErrNotHeld) {
		t.Fatalf("close by a holder that lost its lease: %v; want ErrNotHeld", err)
	}
	if err := a.Abandon(ctx, old); err != nil {
		t.Fatal(err)
	}
	now, err := b.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if now.Open != cur.Owner {
		t.Fatalf("mark after the old holder's Abandon: %q; want the new holder's %q", now.Open, cur.Owner)
	}
}

// A writer that posts first and finds nobody draining takes the lease and
// opens the mailbox in one call; posts since its read do not refuse the
// take, a holder's take or read since its read does (nothing is taken, and
// the refusal returns the mailbox as it is). Later posters see the holder
// draining (their hand-off is their post alone), a second taker finds the
// lease busy and learns the holder, and the holder's close on its read fails
// once something was posted after it.
func TestMailboxAcquireOpen(t *testing.T) {
	ctx := context.Background()
	clk, a, b := twoHolders(t)
	key := RegistryKey("111111111111", "us-west-2")
	// post has l post "join <subject>" a millisecond after the last post.
	post := func(l *Leaser, subject string) Box {
		t.Helper()
		clk.advance(time.Millisecond)
		box, err := l.Post(ctx, key, subject, "join "+subject)
		if err != nil {
			t.Fatal(err)
		}
		return box
	}
	mine := post(a, "222")
	if mine.Draining(clk.now(), time.Second) {
		t.Fatalf("first post: %+v; want nobody draining", mine)
	}
	stale := post(b, "333")
	held, _, err := a.AcquireOpen(ctx, key, time.Minute, mine.Takes)
	if err != nil {
		t.Fatalf("AcquireOpen after another post: %v; want the lease", err)
	}
	var busy *BusyError
	if _, _, err := b.AcquireOpen(ctx, key, time.Minute, mine.Takes+1); !errors.As(err, &busy) || busy.Holder != "a" || !busy.Until.Equal(held.Expires()) {
		t.Fatalf("AcquireOpen on a held lease: %v; want a BusyError naming holder a until %s", err, held.Expires())
	}
	if _, err := b.TryAcquire(ctx, key, time.Minute); !errors.Is(err, ErrBusy) {
		t.Fatalf("TryAcquire after AcquireOpen: %v; want ErrBusy", err)
	}
	theirs := post(b, "444")
	if !theirs.Draining(clk.now(), time.Second) || theirs.Open != held.Owner {
		t.Fatalf("post after AcquireOpen: %+v; want draining by %s", theirs, held.Owner)
	}
	again, err := a.CloseAndRelease(ctx, held, mine.Entries, mine)
	if !errors.Is(err, ErrMailboxChanged) || !again.Has("222") || !again.Has("333") || !again.Has("444") {
		t.Fatalf("close on the read before the last posts: %v, %+v; want ErrMailboxChanged with all three entries", err, again)
	}
	closeEmpty(t, a, b, held, again)

	// b's read (its post of 333) came before a's take and a's re-read:
	// a take on it is refused, and nothing is taken or marked.
	_, now, err := b.AcquireOpen(ctx, key, time.Minute, stale.Takes)
	if !errors.Is(err, ErrMailboxChanged) || len(now.Entries) != 0 || now.Open != "" || now.Takes != stale.Takes+2 {
		t.Fatalf("AcquireOpen on a read a holder made stale: %v, %+v; want ErrMailboxChanged with the empty, closed mailbox, two reads more", err, now)
	}
	// A take on a fresh read succeeds (the counter compared, not absent),
	// also after a holder that abandoned its drain.
	fresh := post(b, "555")
	gaveUp, _, err := b.AcquireOpen(ctx, key, time.Minute, fresh.Takes)
	if err != nil {
		t.Fatalf("AcquireOpen on a fresh read after %d reads: %v", fresh.Takes, err)
	}
	if err := b.Abandon(ctx, gaveUp); err != nil {
		t.Fatal(err)
	}
	if err := gaveUp.Release(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := a.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Has("555") || after.Open != "" {
		t.Fatalf("after the abandoned drain: %+v; want 555 waiting and no mark", after)
	}
	last, _, err := a.AcquireOpen(ctx, key, time.Minute, after.Takes)
	if err != nil {
		t.Fatalf("AcquireOpen after an abandoned drain: %v", err)
	}
	closeEmpty(t, a, b, last, after)
}

// A holder whose hold outlasts half its lease renews it, and the renewal
// moves its mailbox mark's expiry too: a poster after the first expiry's
// hand-off margin still hands off to it instead of waiting for the release.
// After Abandon a renewal leaves the mailbox unmarked.
func TestMailboxRenewMovesTheMark(t *testing.T) {
	ctx := context.Background()
	clk, a, b := twoHolders(t)
	key := RegistryKey("111111111111", "us-west-2")
	mine, err := a.Post(ctx, key, "222", "join 222")
	if err != nil {
		t.Fatal(err)
	}
	held, _, err := a.AcquireOpen(ctx, key, time.Minute, mine.Takes)
	if err != nil {
		t.Fatal(err)
	}
	first := held.Expires()
	clk.advance(58 * time.Second)
	if err := held.Renew(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	theirs, err := b.Post(ctx, key, "333", "join 333")
	if err != nil {
		t.Fatal(err)
	}
	if !theirs.OpenUntil.Equal(held.Expires()) || !theirs.Draining(clk.now(), 5*time.Second) {
		t.Fatalf("post after the renewal: %+v; want the mark until %s (was %s), draining", theirs, held.Expires(), first)
	}
	if err := a.Abandon(ctx, held); err != nil {
		t.Fatal(err)
	}
	if err := held.Renew(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	after, err := b.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if after.Open != "" || !after.OpenUntil.IsZero() {
		t.Fatalf("mailbox after Abandon and a renewal: %+v; want no mark", after)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// closeEmpty closes holder's mailbox on its read box (which must be
// everything posted) and checks, through other, that the close emptied it.
func closeEmpty(t *testing.T, holder, other *Leaser, held *Lease, box Box) {
	t.Helper()
	ctx := context.Background()
	if _, err := holder.CloseAndRelease(ctx, held, box.Entries, box); err != nil {
		t.Fatal(err)
	}
	left, err := other.Peek(ctx, held.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Entries) != 0 || left.Open != "" {
		t.Fatalf("after the close: %+v; want an empty, closed mailbox", left)
	}
}

// twoHolders resets the lease table and returns a stepped clock and two
// holders, "a" and "b", that share it.
func twoHolders(t *testing.T) (*fakeTime, *Leaser, *Leaser) {
	t.Helper()
	localaws.Need(t)
	db := setup(t)
	clk := &fakeTime{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return clk, leaser(t, db, "a", clk, time.Minute), leaser(t, db, "b", clk, time.Minute)
}

// A holder that applied more entries than one expression can remove
// (DynamoDB refuses an expression over 4 KB; 400 entries need about 5.4 KB)
// closes in chunks, and the mailbox is empty and the lease free afterwards;
// a close of one chunk or less stays one call.
func TestMailboxCloseManyEntries(t *testing.T) {
	ctx := context.Background()
	clk, db, a, b := hookedHolders(t)
	key := RegistryKey("111111111111", "us-east-1")
	box := fillMailbox(t, clk, db, b, key, 400)
	held, _, err := a.AcquireOpen(ctx, key, time.Minute, box.Takes)
	if err != nil {
		t.Fatal(err)
	}
	db.calls = map[string]int{}
	closeEmpty(t, a, b, held, box)
	if db.calls["UpdateItem"] != 3 || db.calls["TransactWriteItems"] != 1 {
		t.Errorf("close of 400 entries made %v; want 3 UpdateItem (chunks of %d) and the closing transaction", db.calls, closeChunk)
	}
	if _, err := b.TryAcquire(ctx, key, time.Minute); err != nil {
		t.Fatalf("the close did not release the lease: %v", err)
	}

	// One chunk: one call, as a close always was.
	key = RegistryKey("111111111111", "eu-west-1")
	box = fillMailbox(t, clk, db, b, key, closeChunk)
	held, _, err = a.AcquireOpen(ctx, key, time.Minute, box.Takes)
	if err != nil {
		t.Fatal(err)
	}
	db.calls = map[string]int{}
	closeEmpty(t, a, b, held, box)
	if db.calls["UpdateItem"] != 0 || db.calls["TransactWriteItems"] != 1 {
		t.Errorf("close of %d entries made %v; want the closing transaction alone", closeChunk, db.calls)
	}
}

// A post that lands between two chunks of a close fails the next chunk's
// condition: the close returns ErrMailboxChanged with the mailbox read
// again (the new post kept, the chunk already removed gone, the rest
// waiting), the lease stays held, and the next close empties it.
func TestMailboxPostBetweenCloseChunks(t *testing.T) {
	ctx := context.Background()
	clk, db, a, b := hookedHolders(t)
	key := RegistryKey("111111111111", "us-east-1")
	box := fillMailbox(t, clk, db, b, key, 2*closeChunk+50)
	held, _, err := a.AcquireOpen(ctx, key, time.Minute, box.Takes)
	if err != nil {
		t.Fatal(err)
	}
	late := false
	db.afterUpdate = func(in *dynamodb.UpdateItemInput) {
		if late || !strings.HasPrefix(aws.ToString(in.UpdateExpression), "REMOVE") {
			return
		}
		late = true
		clk.advance(time.Millisecond)
		if _, err := b.Post(ctx, key, "late", "join late"); err != nil {
			t.Error(err)
		}
	}
	again, err := a.CloseAndRelease(ctx, held, box.Entries, box)
	db.afterUpdate = nil
	if !late {
		t.Fatal("the close removed no chunk before its transaction")
	}
	if !errors.Is(err, ErrMailboxChanged) {
		t.Fatalf("close with a post between its chunks: %v; want ErrMailboxChanged", err)
	}
	if !again.Has("late") || again.Posts != box.Posts+1 || len(again.Entries) != closeChunk+50+1 || again.Has(box.Entries[0].Subject) ||
		!again.Has(box.Entries[closeChunk].Subject) || again.Open != held.Owner {
		t.Fatalf("re-read after the failed chunk: %d entries, %d posts, late %v, open %q; want the late post, the %d entries after the first chunk, %d posts, marked open by the holder",
			len(again.Entries), again.Posts, again.Has("late"), again.Open, closeChunk+50, box.Posts+1)
	}
	if _, err := b.TryAcquire(ctx, key, time.Minute); !errors.Is(err, ErrBusy) {
		t.Fatalf("a failed close released the lease: %v", err)
	}
	closeEmpty(t, a, b, held, again)
}

// A transaction canceled for throttling (ThrottlingError or
// ProvisionedThroughputExceeded on either item; the SDK does not retry a
// TransactionCanceledException) is not a hard error: AcquireOpen reports
// the lease busy, and CloseAndRelease reads the mailbox again and returns
// ErrMailboxChanged with the lease still held. Other reasons stay errors.
func TestMailboxThrottledTransaction(t *testing.T) {
	ctx := context.Background()
	waiting := map[string]types.AttributeValue{
		attrPosts:           &types.AttributeValueMemberN{Value: "4"},
		entryPrefix + "222": &types.AttributeValueMemberS{Value: "join 222"},
		timePrefix + "222":  &types.AttributeValueMemberN{Value: "1"},
		attrOpen:            &types.AttributeValueMemberS{Value: "a#1"},
	}
	for _, codes := range [][2]string{
		{"None", "ThrottlingError"}, {"ThrottlingError", "None"},
		{"None", "ProvisionedThroughputExceeded"}, {"ProvisionedThroughputExceeded", "None"},
		{"ThrottlingError", "ThrottlingError"},
	} {
		db := &canceledDB{codes: codes, box: waiting}
		l, err := New(db, table, Options{Holder: "a"})
		if err != nil {
			t.Fatal(err)
		}
		key := RegistryKey("111111111111", "us-east-1")
		var busy *BusyError
		if ls, _, err := l.AcquireOpen(ctx, key, time.Minute, 3); !errors.As(err, &busy) || ls != nil {
			t.Errorf("AcquireOpen canceled with %v: %v, %v; want a BusyError and no lease", codes, ls, err)
		}
		ls := &Lease{Key: key, Owner: "a#1", holder: "a", expires: time.Now().Add(time.Minute), leaser: l}
		box, err := l.CloseAndRelease(ctx, ls, []Entry{{Subject: "111"}}, Box{Posts: 3})
		if !errors.Is(err, ErrMailboxChanged) || !box.Has("222") || box.Posts != 4 || ls.released {
			t.Errorf("close canceled with %v: %v, %+v, released %v; want ErrMailboxChanged with the mailbox read again, the lease kept", codes, err, box, ls.released)
		}
		if db.opens != 1 {
			t.Errorf("close canceled with %v read the mailbox %d times; want once (Open)", codes, db.opens)
		}
	}
	for _, codes := range [][2]string{{"None", "ValidationError"}, {"ItemCollectionSizeLimitExceeded", "None"}} {
		db := &canceledDB{codes: codes, box: waiting}
		l, err := New(db, table, Options{Holder: "a"})
		if err != nil {
			t.Fatal(err)
		}
		key := RegistryKey("111111111111", "us-east-1")
		if _, _, err := l.AcquireOpen(ctx, key, time.Minute, 3); err == nil || errors.Is(err, ErrBusy) || errors.Is(err, ErrMailboxChanged) {
			t.Errorf("AcquireOpen canceled with %v: %v; want a plain error", codes, err)
		}
		ls := &Lease{Key: key, Owner: "a#1", holder: "a", leaser: l}
		if _, err := l.CloseAndRelease(ctx, ls, nil, Box{Posts: 3}); err == nil || errors.Is(err, ErrMailboxChanged) || errors.Is(err, ErrNotHeld) {
			t.Errorf("close canceled with %v: %v; want a plain error", codes, err)
		}
	}
}

// canceledDB is a lease table whose every transaction DynamoDB cancels with
// codes (one per item), as the SDK returns that, and whose UpdateItem (an
// Open) answers box. Other calls are not expected.
type canceledDB struct {
	dynamoAPI
	codes [2]string
	box   map[string]types.AttributeValue
	opens int
}

func (f *canceledDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	reasons := make([]types.CancellationReason, len(f.codes))
	for i, c := range f.codes {
		reasons[i] = types.CancellationReason{Code: aws.String(c)}
		switch c { // AWS's texts (API reference, TransactWriteItems)
		case "ThrottlingError":
			reasons[i].Message = aws.String("Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling your table or index so please try again shortly.")
		case "ProvisionedThroughputExceeded":
			reasons[i].Message = aws.String("The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.")
		}
	}
	return nil, &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "TransactWriteItems", Err: &types.TransactionCanceledException{
		Message:             aws.String(fmt.Sprintf("Transaction cancelled, please refer cancellation reasons for specific reasons [%s, %s]", f.codes[0], f.codes[1])),
		CancellationReasons: reasons,
	}}
}

func (f *canceledDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if !strings.HasPrefix(aws.ToString(in.UpdateExpression), "SET #o = :o") {
		return nil, fmt.Errorf("unexpected UpdateItem %s", aws.ToString(in.UpdateExpression))
	}
	f.opens++
	return &dynamodb.UpdateItemOutput{Attributes: f.box}, nil
}

// hookedDB is the lease table's client counting calls by operation and
// running afterUpdate after each UpdateItem.
type hookedDB struct {
	dynamoAPI
	calls       map[string]int
	afterUpdate func(in *dynamodb.UpdateItemInput)
}

func (h *hookedDB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	h.calls["UpdateItem"]++
	out, err := h.dynamoAPI.UpdateItem(ctx, in, opts...)
	if h.afterUpdate != nil {
		h.afterUpdate(in)
	}
	return out, err
}

func (h *hookedDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	h.calls["TransactWriteItems"]++
	return h.dynamoAPI.TransactWriteItems(ctx, in, opts...)
}

// hookedHolders is twoHolders where holder "a" calls through a hookedDB.
func hookedHolders(t *testing.T) (*fakeTime, *hookedDB, *Leaser, *Leaser) {
	t.Helper()
	clk, _, b := twoHolders(t)
	db := &hookedDB{dynamoAPI: b.db, calls: map[string]int{}}
	a, err := New(db, table, Options{Holder: "a", MaxWait: time.Minute, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	a.sleep = clk.sleep
	return clk, db, a, b
}

// fillMailbox stores key's mailbox with n entries waiting (subjects
// 000000000000, 000000000001, ..., posted a millisecond apart) and n posts
// counted, as n posts would leave it (posting them one by one costs a
// second per 25 here), and returns it as a holder's read (Peek) sees it.
func fillMailbox(t *testing.T, clk *fakeTime, db dynamoAPI, l *Leaser, key string, n int) Box {
	t.Helper()
	ctx := context.Background()
	item := map[string]types.AttributeValue{
		AttrPK:    &types.AttributeValueMemberS{Value: mailboxKey(key)},
		attrPosts: &types.AttributeValueMemberN{Value: strconv.Itoa(n)},
	}
	for i := range n {
		clk.advance(time.Millisecond)
		subject := fmt.Sprintf("%012d", i)
		item[entryPrefix+subject] = &types.AttributeValueMemberS{Value: "join " + subject}
		item[timePrefix+subject] = &types.AttributeValueMemberN{Value: strconv.FormatInt(clk.now().UnixNano(), 10)}
	}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	box, err := l.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(box.Entries) != n || box.Posts != int64(n) {
		t.Fatalf("filled mailbox: %d entries, %d posts; want %d of each", len(box.Entries), box.Posts, n)
	}
	return box
}

// A holder marks the entries it could not apply as refused: the mark is on
// that post (a later read returns it), a newer post for the subject is a new
// change and clears it, a mark for a post that was replaced since is not
// set (ErrEntryChanged) while the rest of the mailbox is untouched, marks of
// more entries than one expression holds are set in chunks, and the close
// that applies an entry removes its mark with it.
func TestMailboxMarkRefused(t *testing.T) {
	ctx := context.Background()
	clk, a, b := twoHolders(t)
	key := RegistryKey("111111111111", "us-east-1")
	for _, s := range []string{"222", "333"} {
		clk.advance(time.Millisecond)
		if _, err := b.Post(ctx, key, s, "join "+s); err != nil {
			t.Fatal(err)
		}
	}
	box, err := a.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	marked := make([]Entry, len(box.Entries))
	for i, e := range box.Entries {
		e.Refused = "fp-" + e.Subject + " rec-" + e.Subject
		marked[i] = e
	}
	if err := a.MarkRefused(ctx, key, marked); err != nil {
		t.Fatal(err)
	}
	box, err = a.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range box.Entries {
		if e.Refused != "fp-"+e.Subject+" rec-"+e.Subject {
			t.Errorf("entry %+v: want its mark", e)
		}
	}
	// 333 posts again: a new change, unmarked; the old post's mark cannot
	// land on it.
	clk.advance(time.Millisecond)
	if _, err := b.Post(ctx, key, "333", "moved 333"); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkRefused(ctx, key, marked[1:]); !errors.Is(err, ErrEntryChanged) {
		t.Fatalf("marking a replaced post: %v, want ErrEntryChanged", err)
	}
	box, err = a.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(box.Entries) != 2 || box.Entries[0].Refused == "" || box.Entries[1].Subject != "333" || box.Entries[1].Refused != "" {
		t.Fatalf("mailbox %+v: want 222 still marked and the new post of 333 unmarked", box)
	}
	// The close that applies them removes entries and marks alike.
	held, _, err := a.AcquireOpen(ctx, key, time.Minute, box.Takes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.CloseAndRelease(ctx, held, box.Entries, box); err != nil {
		t.Fatal(err)
	}
	item, err := a.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String(a.table),
		Key:              map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(key)}},
		UpdateExpression: aws.String("SET readAt = :r"), ExpressionAttributeValues: map[string]types.AttributeValue{":r": &types.AttributeValueMemberN{Value: "1"}},
		ReturnValues: types.ReturnValueAllNew})
	if err != nil {
		t.Fatal(err)
	}
	for name := range item.Attributes {
		if strings.HasPrefix(name, refusedPrefix) || strings.HasPrefix(name, entryPrefix) {
			t.Errorf("attribute %s left after the close", name)
		}
	}
	// More marks than one chunk: every one set.
	var many []Entry
	for i := range 250 {
		clk.advance(time.Microsecond)
		s := strconv.Itoa(100000 + i)
		if _, err := b.Post(ctx, key, s, "join"); err != nil {
			t.Fatal(err)
		}
	}
	if box, err = a.Peek(ctx, key); err != nil {
		t.Fatal(err)
	}
	for _, e := range box.Entries {
		e.Refused = "m " + e.Subject
		many = append(many, e)
	}
	if err := a.MarkRefused(ctx, key, many); err != nil {
		t.Fatalf("marking %d entries: %v", len(many), err)
	}
	if box, err = a.Peek(ctx, key); err != nil {
		t.Fatal(err)
	}
	for _, e := range box.Entries {
		if e.Refused != "m "+e.Subject {
			t.Fatalf("entry %s unmarked after marking %d", e.Subject, len(many))
		}
	}
}

// A mailbox counts its entries' size (EntrySize) and refuses a post that
// would take the count past MailboxBound (ErrMailboxFull, nothing changed)
// while the item is still far under DynamoDB's 400 KB: posts of 560-byte
// bodies (a move's change) land until then. The holder can still take and
// open it, mark every entry refused (the marks were counted), and close;
// the close sets the count to what it leaves, and a post lands again. A
// mailbox whose count missed posts is refused by DynamoDB instead, and that
// refusal is ErrMailboxFull too.
func TestMailboxBound(t *testing.T) {
	ctx := context.Background()
	clk, a, b := twoHolders(t)
	key := RegistryKey("111111111111", "us-east-1")
	body := func(subject string) string { return subject + strings.Repeat("m", 548) }
	// Most posts at once, as posts would leave the mailbox (posting each
	// costs 40 ms here); the last ones posted.
	size := EntrySize("300000000000", body("300000000000"))
	prefill := int(MailboxBound/size) - 5
	item := map[string]types.AttributeValue{
		AttrPK:    &types.AttributeValueMemberS{Value: mailboxKey(key)},
		attrPosts: &types.AttributeValueMemberN{Value: strconv.Itoa(prefill)},
		attrSize:  &types.AttributeValueMemberN{Value: strconv.FormatInt(int64(prefill)*size, 10)},
	}
	for i := range prefill {
		clk.advance(time.Millisecond)
		s := fmt.Sprintf("%012d", 300000000000+i)
		item[entryPrefix+s] = &types.AttributeValueMemberS{Value: body(s)}
		item[timePrefix+s] = &types.AttributeValueMemberN{Value: strconv.FormatInt(clk.now().UnixNano(), 10)}
	}
	if _, err := b.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	posted := prefill
	var last Box
	for ; ; posted++ {
		clk.advance(time.Millisecond)
		s := fmt.Sprintf("%012d", 300000000000+posted)
		box, err := b.Post(ctx, key, s, body(s))
		if errors.Is(err, ErrMailboxFull) {
			if box.Size != last.Size || len(box.Entries) != posted || box.Has(s) {
				t.Fatalf("refused post: %d entries, count %d, its own entry %v; want the mailbox as the last post left it (%d entries, count %d)",
					len(box.Entries), box.Size, box.Has(s), posted, last.Size)
			}
			break
		}
		if err != nil {
			t.Fatalf("post %d: %v; want it made or refused as full", posted+1, err)
		}
		last = box
	}
	if posted != prefill+5 || last.Size != int64(posted)*size || last.Size > MailboxBound {
		t.Fatalf("%d posts of %d counted bytes landed, count %d; want %d (the bound %d)", posted, size, last.Size, prefill+5, MailboxBound)
	}
	got, err := b.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(key)}}})
	if err != nil {
		t.Fatal(err)
	}
	if n := itemBytes(got.Item); int64(n) > MailboxBound {
		t.Fatalf("the full mailbox item takes %d bytes; want it within the bound %d", n, MailboxBound)
	}
	t.Logf("%d posts of %d bytes (%d counted) landed; the item takes %d bytes", posted, len(body("300000000000")), size, itemBytes(got.Item))

	// The holder takes it, marks every entry refused, and closes but for
	// the last entry.
	held, _, err := a.AcquireOpen(ctx, key, time.Minute, last.Takes)
	if err != nil {
		t.Fatalf("taking a full mailbox: %v", err)
	}
	marked := slices.Clone(last.Entries)
	for i := range marked {
		marked[i].Refused = strings.Repeat("f", 32) + " 01JEXAMPLE0000000000000000"
	}
	if err := a.MarkRefused(ctx, key, marked); err != nil {
		t.Fatalf("marking every entry of a full mailbox refused: %v", err)
	}
	keep := last.Entries[len(last.Entries)-1]
	if _, err := a.CloseAndRelease(ctx, held, last.Entries[:len(last.Entries)-1], last); err != nil {
		t.Fatalf("closing a full mailbox: %v", err)
	}
	left, err := b.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(left.Entries) != 1 || !left.Has(keep.Subject) || left.Size != EntrySize(keep.Subject, keep.Body) {
		t.Fatalf("after the close: %d entries, count %d; want %s's alone, counted %d", len(left.Entries), left.Size, keep.Subject, EntrySize(keep.Subject, keep.Body))
	}
	clk.advance(time.Millisecond)
	if _, err := b.Post(ctx, key, "late", body("late")); err != nil {
		t.Fatalf("post after the close: %v; want it made", err)
	}

	// A mailbox whose entries were posted before the count existed:
	// DynamoDB's own refusal is ErrMailboxFull.
	key = RegistryKey("111111111111", "eu-west-1")
	big := map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: mailboxKey(key)}}
	for i := range 8 {
		big[fmt.Sprintf("%s%012d", entryPrefix, i)] = &types.AttributeValueMemberS{Value: strings.Repeat("x", 45_000)}
	}
	if _, err := b.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: big}); err != nil {
		t.Fatal(err)
	}
	clk.advance(time.Millisecond)
	if _, err := b.Post(ctx, key, "333333333333", strings.Repeat("y", 60_000)); !errors.Is(err, ErrMailboxFull) {
		t.Fatalf("post over DynamoDB's item limit: %v; want ErrMailboxFull", err)
	}
}
