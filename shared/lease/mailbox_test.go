package lease

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A busy lease does not make TryAcquire wait; the mailbox keeps the latest
// post per subject, lists entries oldest first, and a holder's Settle leaves
// an entry that was replaced after it read the mailbox.
func TestMailbox(t *testing.T) {
	ctx := context.Background()
	db := setup(t)
	clk := &fakeTime{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	a := leaser(t, db, "a", clk, time.Minute)
	b := leaser(t, db, "b", clk, time.Minute)
	key := RegistryKey("111111111111", "us-east-1")
	held, err := a.TryAcquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryAcquire(ctx, key, time.Minute); !errors.Is(err, ErrBusy) || len(clk.slept) != 0 {
		t.Fatalf("TryAcquire on a held lease: %v after sleeping %v; want ErrBusy at once", err, clk.slept)
	}
	for _, p := range []struct{ subject, body string }{{"222", "join 222"}, {"333", "join 333"}, {"222", "leave 222"}} {
		clk.advance(time.Millisecond)
		if err := b.Post(ctx, key, p.subject, p.body); err != nil {
			t.Fatal(err)
		}
	}
	got, err := a.Mailbox(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Subject != "333" || got[1].Subject != "222" || got[1].Body != "leave 222" {
		t.Fatalf("mailbox = %+v; want 333 then the latest post for 222", got)
	}
	// A newer post for 333 arrives after the holder read the mailbox.
	clk.advance(time.Millisecond)
	if err := b.Post(ctx, key, "333", "moved 333"); err != nil {
		t.Fatal(err)
	}
	if err := a.Settle(ctx, key, got); err != nil {
		t.Fatal(err)
	}
	left, err := a.Mailbox(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 || left[0].Body != "moved 333" {
		t.Fatalf("after Settle: %+v; want only the newer post for 333", left)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
