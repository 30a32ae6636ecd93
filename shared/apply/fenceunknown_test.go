package apply_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
)

// A write cut by its fence whose re-read fails too is recorded unknown; the
// run re-plans under a new lease and converges. Before, it answered
// success with that record still unknown (the sweep settled it up to a day
// later), so an event Lambda dropped as done left an open write record:
// TestWriteFaultMatrix's lease-lost case met it whenever the re-read was
// slower than its bound. Now the next attempt, under its own lease (the
// first one lapsed, so the cut write can no longer land), reads the
// document and settles the earlier record from what AWS holds: failed when
// the write never landed, applied when it landed and only its answer was
// lost. No record stays open, and AWS holds the join.
func TestFencedWriteWithUnknownOutcomeIsSettledByTheNextAttempt(t *testing.T) {
	for _, landed := range []bool{false, true} {
		t.Run(fmt.Sprintf("landed=%v", landed), func(t *testing.T) {
			db := fenceTables(t)
			ctx := context.Background()
			reg := &registry{text: docOf(t, "222222222222")}
			x := fenceExecutor(t, db, "account/U", 2*time.Second)
			step := accountStep(t, reg, "U", "333333333333", true)
			write := step.Write
			var calls atomic.Int32
			step.Write = func(ctx context.Context, c apply.Change) error {
				if calls.Add(1) > 1 {
					return write(ctx, c)
				}
				// The first write hangs past its fence (throttled): it
				// lands before the cut, or never.
				if landed {
					if err := write(context.Background(), c); err != nil {
						return err
					}
				}
				<-ctx.Done()
				return fmt.Errorf("putting registry policy: %w", ctx.Err())
			}
			reread := step.Reread
			var reads atomic.Int32
			step.Reread = func(ctx context.Context, c apply.Change) (apply.Holding, error) {
				if reads.Add(1) == 1 {
					// The re-read after the fence fails too: the outcome is unknown.
					return apply.Holding{}, errors.New("getting registry policy: throttled")
				}
				return reread(ctx, c)
			}
			res, err := x.Run(ctx, step)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if got, want := principals(t, reg.read()), []string{"222222222222", "333333333333"}; !slices.Equal(got, want) {
				t.Fatalf("AWS grants %v, want %v", got, want)
			}
			trail, _ := audit.New(db, "fence-audit", audit.Options{Logger: slog.New(slog.DiscardHandler)})
			recs, err := trail.History(ctx, fenceRegistry, 0)
			if err != nil {
				t.Fatal(err)
			}
			var fenced []audit.Record
			applied := 0
			for _, r := range recs {
				if r.Decision == audit.DecisionPending || r.Decision == audit.DecisionUnknown {
					t.Errorf("the run answered success (%s) with record %s open: %s %q", res.Outcome, r.ID, r.Decision, r.Error)
				}
				if strings.Contains(r.Error, "fenced by lease") {
					fenced = append(fenced, r)
				}
				if r.Decision == audit.DecisionApplied {
					applied++
				}
			}
			if len(fenced) != 1 {
				t.Fatalf("want one fenced write record, got %d: %+v", len(fenced), recs)
			}
			wantDecision, wantNote := audit.DecisionFailed, "AWS does not hold this write's document"
			if landed {
				wantDecision, wantNote = audit.DecisionApplied, "AWS holds this write's document"
			}
			if f := fenced[0]; f.Decision != wantDecision || !strings.Contains(f.Error, "next attempt, under a new lease: "+wantNote) {
				t.Errorf("fenced write settled %s %q; want %s saying %q", f.Decision, f.Error, wantDecision, wantNote)
			}
			if applied != 1 {
				t.Errorf("want exactly one applied record (the write that put the join in AWS), got %d: %+v", applied, recs)
			}
		})
	}
}
