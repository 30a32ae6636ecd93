package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// These tests pin the handler's part: parse, converge, respond. The
// decisions the engine takes on drift events (own writes, other roles,
// unmanaged accounts, what is read of the organization) are pinned in
// shared/reconcile; the end-to-end drift tests against the local AWS are in
// functions/backfill, which converges an organization first.

type fakeEngine struct {
	calls []string
	out   reconcile.Outcome
	err   error
}

func (f *fakeEngine) Reconcile(_ context.Context, t trigger.Target) (reconcile.Outcome, error) {
	f.calls = append(f.calls, t.String())
	out := f.out
	out.Resource, _ = reconcile.Resource("aws", t)
	return out, f.err
}

type fakeTrail struct{ recs []audit.Record }

func (f *fakeTrail) Record(_ context.Context, r audit.Record) error {
	f.recs = append(f.recs, r)
	return nil
}

func newHandler(t *testing.T) (*handler, *fakeEngine, *fakeTrail) {
	t.Helper()
	d, err := config.Load("../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	e, tr := &fakeEngine{}, &fakeTrail{}
	return &handler{decl: d, engine: e, trail: tr, log: slog.New(slog.NewTextHandler(io.Discard, nil))}, e, tr
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestHubRoles(t *testing.T) {
	got := hubRoles(" a, b ,,a")
	if !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("%v", got)
	}
}

// Every drift kind reaches the engine; the answer names the resource, the
// actor and, for an ignored event, why.
func TestHandlerConvergesWhatTheEventNames(t *testing.T) {
	for _, c := range []struct{ event, call, target string }{
		{"ecr-set-repository-policy.json", "repository 111111111111/us-east-1/shared/base", "arn:aws:ecr:us-east-1:111111111111:repository/shared/base"},
		{"ecr-delete-registry-policy.json", "registry-policy 222222222222/us-east-1", "arn:aws:ecr:us-east-1:222222222222:repository/*"},
		{"ecr-delete-ptc-rule.json", "ptc-rule 222222222222/us-east-1/docker-hub", "arn:aws:ecr:us-east-1:222222222222:repository/*/pull-through-cache-rule/docker-hub"},
		{"iam-delete-role-policy.json", "role 222222222222/ecr-warden-ptc", "arn:aws:iam::222222222222:role/ecr-warden-ptc"},
		{"ecr-public-set-repository-policy.json", "public-repository 111111111111/us-east-1/tools/scanner", "arn:aws:ecr-public::111111111111:repository/tools/scanner"},
	} {
		h, e, _ := newHandler(t)
		e.out.Ignored = "because"
		r, err := h.handle(t.Context(), sample(t, c.event))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(e.calls, []string{c.call}) || r.Target != c.target || r.Ignored != "because" || r.Actor == "" {
			t.Errorf("%s: calls %v, response %+v; want %s on %s", c.event, e.calls, r, c.call, c.target)
		}
	}
}

// An engine error fails the invocation, naming the resource and the actor;
// a rejected event never reaches the engine and is filed under its id.
func TestHandlerErrorsAndRejections(t *testing.T) {
	h, e, tr := newHandler(t)
	e.err = errors.New("ThrottlingException")
	_, err := h.handle(t.Context(), sample(t, "ecr-set-repository-policy.json"))
	if err == nil || !strings.Contains(err.Error(), "repository/shared/base (changed by") || !errors.Is(err, e.err) {
		t.Errorf("error %v", err)
	}
	e.calls = nil
	r, err := h.handle(t.Context(), sample(t, "ecr-create-repository-failed.json"))
	if err != nil || r.Rejected != string(trigger.ReasonFailedCall) || !strings.HasPrefix(r.Target, "event/") || len(e.calls) != 0 || len(tr.recs) != 1 {
		t.Errorf("response %+v, %v, engine calls %v, records %d", r, err, e.calls, len(tr.recs))
	}
}
