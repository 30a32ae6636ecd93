package reconcile

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// These tests pin what the entry point decides before any document is read:
// what it reads of the organization, and which events it ignores (the
// end-to-end drift tests against the local AWS are in functions/backfill).

type fakeOrg struct{ calls []string }

// notInOrg is an account the fake organization does not hold.
const notInOrg = "555555555555"

func (f *fakeOrg) Account(_ context.Context, id string) (inventory.Account, error) {
	f.calls = append(f.calls, "account "+id)
	if id == notInOrg {
		return inventory.Account{ID: id, Status: inventory.NotInOrganization}, nil
	}
	return inventory.Account{ID: id, Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"}, nil
}

func (f *fakeOrg) ParentPath(_ context.Context, parent string) (string, error) {
	f.calls = append(f.calls, "parent path "+parent)
	return "o-a1b2c3d4e5/r-ab12/" + parent + "/", nil
}

func (f *fakeOrg) Walk(_ context.Context, _ inventory.WalkScope) (inventory.WalkResult, error) {
	f.calls = append(f.calls, "walk")
	return inventory.WalkResult{Accounts: []inventory.Account{
		{ID: "222222222222", Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/"},
		{ID: "444444444444", Status: "ACTIVE", OUPath: "o-a1b2c3d4e5/r-ab12/"},
	}}, nil
}

// recorder keeps the records the entry point stores itself (ignored
// events); the nil trail it embeds makes any write protocol call panic.
type recorder struct {
	*audit.Trail
	recs []audit.Record
}

func (r *recorder) Record(_ context.Context, rec audit.Record) error {
	r.recs = append(r.recs, rec)
	return nil
}

func exampleDecl(t *testing.T, mutate func(*config.Declaration)) *config.Declaration {
	t.Helper()
	d, err := config.Load("../../infra/declaration.json")
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(d)
	}
	return d
}

func sampleTarget(t *testing.T, name string, pairs ...string) trigger.Target {
	t.Helper()
	b, err := os.ReadFile("../../events/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(pairs); i += 2 {
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	tg, err := trigger.Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func sidsOf(sts []policy.Statement) []string {
	var out []string
	for _, s := range sts {
		out = append(out, s.Sid)
	}
	return out
}

func allCondition(d *config.Declaration) {
	for i := range d.Grants {
		d.Grants[i].PrincipalMode = config.ModeCondition
	}
}

// stateFor reads exactly what a registry-level document depends on.
func TestStateForReadsWhatTheDocumentNeeds(t *testing.T) {
	memberSids := "EcrWardenSecurityScanRoles,EcrWardenPtcEcrPublic,EcrWardenPtcQuay,EcrWardenPtcK8s,EcrWardenPtcDockerHub,EcrWardenPtcHub"
	for _, c := range []struct {
		name   string
		event  string
		mutate func(*config.Declaration)
		org    []string
		sids   string
	}{
		{name: "member registry policy with enumerating grants walks the organization", event: "ecr-delete-registry-policy.json", org: []string{"walk"}, sids: memberSids},
		{name: "member registry policy without enumeration reads one account", event: "ecr-delete-registry-policy.json", mutate: allCondition, org: []string{"account 222222222222"}, sids: memberSids},
		{name: "PTC role reads one account", event: "iam-delete-role-policy.json", org: []string{"account 222222222222"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			org := &fakeOrg{}
			e := &Engine{Decl: exampleDecl(t, c.mutate), Org: org}
			tg := sampleTarget(t, c.event)
			state, why, err := e.stateFor(t.Context(), tg)
			if err != nil || why != "" {
				t.Fatalf("not managed (%s), %v", why, err)
			}
			if !slices.Equal(org.calls, c.org) {
				t.Errorf("org calls %v, want %v", org.calls, c.org)
			}
			if got := strings.Join(sidsOf(state.RegistryStatements(tg.AccountID, "us-east-1")), ","); c.sids != "" && got != c.sids {
				t.Errorf("statements %s\nwant %s", got, c.sids)
			}
		})
	}
}

// Events that change nothing ecr-warden keeps are recorded as ignored, with
// the actor, and converge nothing.
func TestReconcileIgnores(t *testing.T) {
	self := trigger.SelfWriters{Partition: "aws", HubAccount: "111111111111", MemberRole: "ecr-warden-execution", HubRoles: []string{"EcrWardenHub-DriftFn", "EcrWardenHub-WorkerFn"}}
	for _, c := range []struct {
		name    string
		target  trigger.Target
		org     []string
		ignored string
	}{
		{name: "own write by the member role", target: sampleTarget(t, "ecr-set-repository-policy-by-warden.json"), ignored: "own write"},
		{name: "own write by a hub function role", target: sampleTarget(t, "ecr-set-repository-policy-by-warden.json", "ecr-warden-execution", "EcrWardenHub-WorkerFn", "222222222222", "111111111111"), ignored: "own write"},
		{name: "another role", target: sampleTarget(t, "iam-delete-role-policy.json", `"roleName": "ecr-warden-ptc"`, `"roleName": "app"`), ignored: "not ecr-warden's pull-through-cache role"},
		{name: "PTC rule in the management account", target: sampleTarget(t, "ecr-delete-ptc-rule.json", "222222222222", "999999999999"),
			org: []string{"account 999999999999"}, ignored: "not a managed member"},
		// Repository kinds are held to the same check, before any call into
		// the account (the engine here has no clients: one would panic).
		{name: "repository policy in the management account", target: sampleTarget(t, "ecr-set-repository-policy.json", "111111111111", "999999999999"),
			org: []string{"account 999999999999"}, ignored: "account 999999999999 is not a managed member: it is the organization's management account"},
		{name: "repository created outside the organization", target: sampleTarget(t, "ecr-create-repository-api.json", "111111111111", notInOrg),
			org: []string{"account " + notInOrg}, ignored: "account " + notInOrg + " is not a managed member: it is not an ACTIVE account of organization o-a1b2c3d4e5 (NOT_IN_ORGANIZATION)"},
		{name: "public repository policy outside the organization", target: sampleTarget(t, "ecr-public-set-repository-policy.json", "111111111111", notInOrg),
			org: []string{"account " + notInOrg}, ignored: "not an ACTIVE account"},
	} {
		t.Run(c.name, func(t *testing.T) {
			org, rec := &fakeOrg{}, &recorder{}
			e := &Engine{Decl: exampleDecl(t, nil), Org: org, Self: self, Exec: &apply.Executor{Trail: rec}}
			out, err := e.Reconcile(t.Context(), c.target)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.Ignored, c.ignored) {
				t.Errorf("ignored %q, want %q", out.Ignored, c.ignored)
			}
			if !slices.Equal(org.calls, c.org) {
				t.Errorf("org calls %v, want %v", org.calls, c.org)
			}
			want, _ := Resource("aws", c.target)
			if len(rec.recs) != 1 || rec.recs[0].Decision != audit.DecisionNoop || rec.recs[0].Actor.ARN == "" || rec.recs[0].Target != want || out.Resource != want {
				t.Errorf("ignored events need one noop record on %s naming the actor: %+v", want.ARN, rec.recs)
			}
		})
	}
}
