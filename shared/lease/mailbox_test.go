package lease

import (
	"context"
	"errors"
	"testing"
	"time"

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
	again, err := a.CloseAndRelease(ctx, held, got, box.Posts)
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
	if _, err := a.CloseAndRelease(ctx, old, nil, box.Posts); !errors.Is(err, ErrNotHeld) {
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
	again, err := a.CloseAndRelease(ctx, held, mine.Entries, mine.Posts)
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

// closeEmpty closes holder's mailbox on its read box (which must be
// everything posted) and checks, through other, that the close emptied it.
func closeEmpty(t *testing.T, holder, other *Leaser, held *Lease, box Box) {
	t.Helper()
	ctx := context.Background()
	if _, err := holder.CloseAndRelease(ctx, held, box.Entries, box.Posts); err != nil {
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
