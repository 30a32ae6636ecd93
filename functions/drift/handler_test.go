package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// These tests pin the decisions the handler takes before the engine runs
// (the end-to-end drift tests against the local AWS are in
// functions/backfill, which converges an organization first).

type fakeEngine struct{ calls []string }

func (f *fakeEngine) Repository(_ context.Context, _ reconcile.Cause, account, region, name string) (reconcile.Report, error) {
	f.calls = append(f.calls, "repository "+account+"/"+region+"/"+name)
	return reconcile.Report{Examined: 1, Changed: 1}, nil
}

func (f *fakeEngine) PublicRepository(_ context.Context, _ reconcile.Cause, account, name string, _ *string) (reconcile.Report, error) {
	f.calls = append(f.calls, "public "+account+"/"+name)
	return reconcile.Report{}, nil
}

func (f *fakeEngine) Registry(_ context.Context, _ reconcile.Cause, s *desired.State, account, region string) (reconcile.Report, error) {
	f.calls = append(f.calls, "registry "+account+"/"+region+" statements="+strings.Join(sids(s.RegistryStatements(account, region)), ","))
	return reconcile.Report{}, nil
}

func (f *fakeEngine) PTCRules(_ context.Context, _ reconcile.Cause, _ *desired.State, account, region string) (reconcile.Report, error) {
	f.calls = append(f.calls, "rules "+account+"/"+region)
	return reconcile.Report{}, nil
}

func (f *fakeEngine) PTCRole(_ context.Context, _ reconcile.Cause, _ *desired.State, account string) (reconcile.Report, error) {
	f.calls = append(f.calls, "role "+account)
	return reconcile.Report{}, nil
}

type fakeOrg struct{ calls []string }

func (f *fakeOrg) Account(_ context.Context, id string) (inventory.Account, error) {
	f.calls = append(f.calls, "account "+id)
	return inventory.Account{ID: id, Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"}, nil
}

func (f *fakeOrg) Walk(_ context.Context, s inventory.WalkScope) (inventory.WalkResult, error) {
	f.calls = append(f.calls, "walk")
	return inventory.WalkResult{Accounts: []inventory.Account{
		{ID: "222222222222", Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"},
		{ID: "444444444444", Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/"},
	}}, nil
}

type fakeTrail struct{ recs []audit.Record }

func (f *fakeTrail) Record(_ context.Context, r audit.Record) error {
	f.recs = append(f.recs, r)
	return nil
}

func sids(sts []policy.Statement) []string {
	var out []string
	for _, s := range sts {
		out = append(out, s.Sid)
	}
	return out
}

func newHandler(t *testing.T, mutate func(*config.Declaration)) (*handler, *fakeEngine, *fakeOrg, *fakeTrail) {
	t.Helper()
	d, err := config.Load("../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(d)
	}
	e, o, tr := &fakeEngine{}, &fakeOrg{}, &fakeTrail{}
	h := &handler{decl: d, engine: e, org: o, trail: tr, log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		selfRoles: selfRoles(" EcrWardenHub-DriftFn ,,EcrWardenHub-WorkerFn", d.MemberRoleName)}
	return h, e, o, tr
}

func sample(t *testing.T, name string, pairs ...string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(pairs); i += 2 {
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return []byte(s)
}

func TestSelfRoles(t *testing.T) {
	got := selfRoles(" a, b ,,ecr-warden-execution", "ecr-warden-execution")
	if !slices.Equal(got, []string{"ecr-warden-execution", "a", "b"}) {
		t.Fatalf("%v", got)
	}
}

func TestDecisions(t *testing.T) {
	cases := []struct {
		name    string
		event   []byte
		mutate  func(*config.Declaration)
		engine  []string
		org     []string
		ignored string
	}{
		{name: "hand edit of a repository policy", event: sample(t, "ecr-set-repository-policy.json"),
			engine: []string{"repository 111111111111/us-east-1/shared/base"}},
		{name: "own write by the member role", event: sample(t, "ecr-set-repository-policy-by-warden.json"), ignored: "own write"},
		{name: "own write by a hub function role", event: sample(t, "ecr-set-repository-policy-by-warden.json", "ecr-warden-execution", "EcrWardenHub-WorkerFn"), ignored: "own write"},
		{name: "member registry policy with enumerating grants walks the organization",
			event: sample(t, "ecr-delete-registry-policy.json"), org: []string{"walk"},
			engine: []string{"registry 222222222222/us-east-1 statements=EcrWardenSecurityScanRoles,EcrWardenPtcEcrPublic,EcrWardenPtcQuay,EcrWardenPtcK8s,EcrWardenPtcDockerHub,EcrWardenPtcHub"}},
		{name: "member registry policy without enumeration reads one account",
			event: sample(t, "ecr-delete-registry-policy.json"), org: []string{"account 222222222222"},
			mutate: func(d *config.Declaration) {
				for i := range d.Grants {
					d.Grants[i].PrincipalMode = config.ModeCondition
				}
			},
			engine: []string{"registry 222222222222/us-east-1 statements=EcrWardenSecurityScanRoles,EcrWardenPtcEcrPublic,EcrWardenPtcQuay,EcrWardenPtcK8s,EcrWardenPtcDockerHub,EcrWardenPtcHub"}},
		{name: "PTC role policy", event: sample(t, "iam-delete-role-policy.json"), org: []string{"account 222222222222"}, engine: []string{"role 222222222222"}},
		{name: "another role", event: sample(t, "iam-delete-role-policy.json", `"roleName": "ecr-warden-ptc"`, `"roleName": "app"`), ignored: "not ecr-warden's pull-through-cache role"},
		{name: "PTC rule in the management account", event: sample(t, "ecr-delete-ptc-rule.json", "222222222222", "999999999999"),
			org: []string{"account 999999999999"}, ignored: "not a managed member"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, e, o, tr := newHandler(t, c.mutate)
			r, err := h.handle(t.Context(), c.event)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(r.Ignored, c.ignored) || (c.ignored == "") != (r.Ignored == "") {
				t.Fatalf("ignored %q, want %q", r.Ignored, c.ignored)
			}
			if !slices.Equal(e.calls, c.engine) {
				t.Errorf("engine calls %q\nwant %q", e.calls, c.engine)
			}
			if !slices.Equal(o.calls, c.org) {
				t.Errorf("org calls %v, want %v", o.calls, c.org)
			}
			if c.ignored != "" && (len(tr.recs) != 1 || tr.recs[0].Decision != audit.DecisionNoop || tr.recs[0].Actor.ARN == "") {
				t.Errorf("ignored events need one noop record naming the actor: %+v", tr.recs)
			}
		})
	}
}
