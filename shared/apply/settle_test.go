package apply_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/ecr-warden/ecr-warden/shared/apply"
)

// A write whose call gets no definite answer (the lease's deadline, a dropped
// connection, a 5xx after the SDK's retries) may or may not have landed: its
// record says what reading the document again found, not what the call said.

// serverError is what the SDK returns for a 500 after its retries.
func serverError() error {
	return &smithy.OperationError{ServiceID: "ECR", OperationName: "SetRepositoryPolicy", Err: &awshttp.ResponseError{
		RequestID: "req-1", ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 500}},
			Err: &ecrtypes.ServerException{Message: aws.String("internal failure")}}}}
}

// document is one repository policy as AWS holds it; Write lands (or not)
// and then returns err, Reread reads it (or fails with readErr).
type document struct {
	text    string
	land    bool
	err     error
	readErr error
	reads   int
}

func (d *document) step(h *harness, c apply.Change) apply.Step {
	s := h.step([]func() (apply.Change, error){ret(c, nil)}, nil)
	s.Write = func(ctx context.Context, c apply.Change) error {
		h.ev.add("write " + string(c.Op))
		if d.land {
			d.text = c.After
		}
		return d.err
	}
	s.Reread = apply.DocumentReread(func(ctx context.Context) (string, error) {
		d.reads++
		if ctx.Err() != nil {
			return "", fmt.Errorf("re-read with an ended context: %w", ctx.Err())
		}
		h.ev.add("reread")
		return d.text, d.readErr
	})
	return s
}

func TestUnansweredWriteIsSettledFromWhatAWSHolds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		land     bool
		err      error
		readErr  error
		decision string
		outcome  apply.Outcome
		note     []string
	}{
		{"landed, cut by the fence's deadline", true, fmt.Errorf("setting repository policy: %w", context.DeadlineExceeded), nil,
			"applied", apply.Changed, []string{"applied: AWS holds what the change writes", "deadline exceeded"}},
		{"landed, 500 after the SDK's retries", true, serverError(), nil,
			"applied", apply.Changed, []string{"applied", "internal failure"}},
		{"not landed, 500", false, serverError(), nil,
			"failed", apply.Failed, []string{"internal failure", "still holds the document the change was planned from"}},
		{"cannot tell: the re-read fails", true, serverError(), errors.New("GetRepositoryPolicy: connection refused"),
			"unknown", apply.Failed, []string{"outcome unknown", "internal failure", "connection refused"}},
		{"AWS refuses the document: refused, from what AWS still holds", false, &ecrtypes.LimitExceededException{Message: aws.String("too large")}, nil,
			"refused", apply.Refused, []string{"aws-refused: ", "too large", "still holds the document the change was planned from"}},
		{"AWS refuses the document, the re-read fails: still refused", false, &ecrtypes.LimitExceededException{Message: aws.String("too large")}, errors.New("GetRepositoryPolicy: connection refused"),
			"refused", apply.Refused, []string{"aws-refused: ", "too large", "connection refused"}},
		{"AWS refuses what an earlier attempt of the call wrote: applied", true, &ecrtypes.LimitExceededException{Message: aws.String("too large")}, nil,
			"applied", apply.Changed, []string{"applied: AWS holds what the change writes", "too large"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			d := &document{land: tc.land, err: tc.err, readErr: tc.readErr}
			// The write's context ends before the re-read: the re-read has its own.
			ctx, cancel := context.WithCancel(context.Background())
			s := d.step(h, createChange(t))
			write := s.Write
			s.Write = func(wctx context.Context, c apply.Change) error {
				err := write(wctx, c)
				cancel()
				return err
			}
			res, err := h.exec.Run(ctx, s)
			if res.Outcome != tc.outcome {
				t.Errorf("outcome %s (%v), want %s", res.Outcome, res.Err, tc.outcome)
			}
			if (err != nil) != (tc.outcome == apply.Failed) {
				t.Errorf("Run error = %v; want an error exactly when the write failed (not landed for sure, not refused by AWS for its document)", err)
			}
			recs := wantDecisions(t, h, tc.decision)
			for _, want := range tc.note {
				if !strings.Contains(recs[0].Error, want) {
					t.Errorf("%s record's note %q does not say %q", tc.decision, recs[0].Error, want)
				}
			}
			if open := recs[0].Pending != ""; open != (tc.decision == "unknown") {
				t.Errorf("record %s in the by-pending index = %v; only an unknown outcome stays there for the sweep", tc.decision, open)
			}
			if d.reads != 1 {
				t.Errorf("re-reads = %d, want 1", d.reads)
			}
		})
	}
}

// A unit's batch settles an unanswered write the same way.
func TestApplyHeldSettlesAnUnansweredWrite(t *testing.T) {
	h, _ := unitHarness(t, 0)
	d := &document{land: true, err: fmt.Errorf("the write did not finish before the unit's lease expired: %w", context.DeadlineExceeded)}
	c := createChange(t)
	results, err := h.exec.ApplyHeld(context.Background(), &unitLease{exp: time.Now().Add(time.Minute)}, []apply.HeldChange{{Step: d.step(h, c), Change: c}})
	if err != nil || len(results) != 1 || results[0].Outcome != apply.Changed {
		t.Fatalf("results %+v, error %v; want the write changed (AWS holds it)", results, err)
	}
	recs := wantDecisions(t, h, "applied")
	if !strings.Contains(recs[0].Error, "deadline exceeded") || recs[0].Pending != "" {
		t.Errorf("applied record %+v, want the call's error as its note and no pending marker", recs[0])
	}
}
