package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// fakeEngine records what the handler asked to converge.
type fakeEngine struct {
	calls []string
	err   error
}

func (f *fakeEngine) Reconcile(_ context.Context, t trigger.Target) (reconcile.Outcome, error) {
	res, _ := reconcile.Resource("aws", t)
	if t.Kind == trigger.KindPublicRepository {
		f.calls = append(f.calls, "public "+t.AccountID+"/"+t.Repository+" by "+t.Trigger.Actor.ARN)
		return reconcile.Outcome{Resource: res, Report: reconcile.Report{Examined: 1, Unchanged: 1}}, f.err
	}
	f.calls = append(f.calls, "repository "+t.AccountID+"/"+t.Region+"/"+t.Repository+" by "+t.Trigger.Actor.ARN)
	return reconcile.Outcome{Resource: res, Report: reconcile.Report{Examined: 1, Changed: 1}}, f.err
}

// fakeTrail keeps records in memory, or fails like an unavailable table.
type fakeTrail struct {
	recs []audit.Record
	err  error
}

func (f *fakeTrail) Record(_ context.Context, r audit.Record) error {
	if f.err != nil {
		return f.err
	}
	f.recs = append(f.recs, r)
	return nil
}

func unitHandler(t *testing.T) (*handler, *fakeEngine, *fakeTrail) {
	t.Helper()
	decl, err := config.Load(declaration)
	if err != nil {
		t.Fatal(err)
	}
	e, tr := &fakeEngine{}, &fakeTrail{}
	return &handler{decl: decl, engine: e, trail: tr, log: slog.New(slog.NewJSONHandler(io.Discard, nil))}, e, tr
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(string(b), "111111111111", hubAccount))
}

// Each kind goes to its engine path with the event's actor as the cause.
func TestHandlerRoutesKinds(t *testing.T) {
	h, e, tr := unitHandler(t)
	ctx := context.Background()
	r, err := h.handle(ctx, sample(t, "ecr-create-repository-api.json"))
	if err != nil || r.Target != hubARN("shared/base") || r.Changed != 1 {
		t.Errorf("private: %+v, %v", r, err)
	}
	r, err = h.handle(ctx, sample(t, "ecr-public-create-repository.json"))
	if err != nil || r.Target != "arn:aws:ecr-public::"+hubAccount+":repository/tools/scanner" || r.Unchanged != 1 {
		t.Errorf("public: %+v, %v", r, err)
	}
	want := []string{
		"repository " + hubAccount + "/us-east-1/shared/base by arn:aws:iam::" + hubAccount + ":user/platform-admin",
		"public " + hubAccount + "/tools/scanner by arn:aws:sts::" + hubAccount + ":assumed-role/release-publisher/release-2025-03-04",
	}
	if strings.Join(e.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("engine calls:\n%s\nwant:\n%s", strings.Join(e.calls, "\n"), strings.Join(want, "\n"))
	}
	if len(tr.recs) != 0 {
		t.Errorf("the handler recorded %d decisions itself; the engine records converged ones", len(tr.recs))
	}
}

// An engine failure fails the invocation (Lambda retries), naming the target.
func TestHandlerEngineErrorFailsInvocation(t *testing.T) {
	h, e, _ := unitHandler(t)
	e.err = errors.New("setting repository policy: ThrottlingException")
	_, err := h.handle(context.Background(), sample(t, "ecr-create-repository-api.json"))
	if err == nil || !strings.Contains(err.Error(), "repository "+hubAccount+"/us-east-1/shared/base") || !errors.Is(err, e.err) {
		t.Errorf("error = %v, want the engine's error naming the target", err)
	}
}

// A rejection that cannot be audited fails the invocation: no decision goes
// unrecorded; and a rejection never reaches the engine.
func TestHandlerRejectionNeedsItsRecord(t *testing.T) {
	h, e, tr := unitHandler(t)
	tr.err = errors.New("ResourceNotFoundException: table ecr-warden-audit")
	_, err := h.handle(context.Background(), sample(t, "unrelated-s3-put-object.json"))
	if err == nil || !strings.Contains(err.Error(), "recording the rejection") {
		t.Errorf("error = %v, want the failed audit write", err)
	}
	if len(e.calls) != 0 {
		t.Errorf("engine called for a rejected event: %v", e.calls)
	}
}

// The rejected record names the resource as precisely as the event allows.
func TestRejectedTargets(t *testing.T) {
	h, _, tr := unitHandler(t)
	for _, tc := range []struct {
		name   string
		event  []byte
		reason trigger.Reason
		arn    string
	}{
		{"failed call names its repository", sample(t, "ecr-create-repository-failed.json"), trigger.ReasonFailedCall, hubARN("shared/base")},
		{"public event in another region", []byte(strings.ReplaceAll(string(sample(t, "ecr-public-create-repository.json")), "us-east-1", "eu-west-1")), trigger.ReasonPublicRegion, "arn:aws:ecr-public::" + hubAccount + ":repository/tools/scanner"},
		{"a write claiming to be read-only names its repository", []byte(strings.Replace(string(sample(t, "ecr-create-repository-api.json")), `"readOnly": false`, `"readOnly": true`, 1)), trigger.ReasonInvalidField, hubARN("shared/base")},
		{"foreign event by its id", sample(t, "unrelated-s3-put-object.json"), trigger.ReasonUnknownSource, "event/"},
		{"another function's event", sample(t, "org-create-account-result-succeeded.json"), trigger.ReasonUnknownEvent, "event/"},
		{"not JSON", []byte("\x00\x01garbage"), trigger.ReasonMalformed, "event/sha256-"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr.recs = nil
			r, err := h.handle(context.Background(), tc.event)
			if err != nil {
				t.Fatal(err)
			}
			if trigger.Reason(r.Rejected) != tc.reason || !strings.HasPrefix(r.Target, tc.arn) {
				t.Errorf("response %+v, want %s on %s", r, tc.reason, tc.arn)
			}
			if len(tr.recs) != 1 || tr.recs[0].Decision != audit.DecisionRejected || tr.recs[0].Target.ARN != r.Target ||
				!strings.HasPrefix(tr.recs[0].Error, string(tc.reason)+": ") {
				t.Errorf("records = %+v, want one rejected record for %s", tr.recs, r.Target)
			}
		})
	}
}
