package reconcile

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// An account event plans the hub registry policy from the statements it
// holds (policy.OwnedOf, hubRound). When AWS holds one ecr-warden refuses
// to read (here a foreign statement giving Effect twice), the plan is a
// refusal naming the registry policy and the problem, as the full plan and
// the repository step make it: recorded under every coalesced event and not
// retried, instead of an unnamed error that fails the event on every retry.
func TestUnreadableHubRegistryPolicyIsRefusedNamingIt(t *testing.T) {
	w := newWorld(t, `"grants": [{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "principals": {"accounts": ["`+fTeamA+`"]},
	    "placement": "registry", "principalMode": "enumerate"}]`)
	ctx := context.Background()
	held := `{"Version":"2012-10-17","Statement":[{"Sid":"Theirs","Effect":"Allow","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::` + fTeamB + `:root"},"Action":"ecr:BatchGetImage","Resource":"*"}]}`
	if _, err := w.aws.ECR(fHub, fRegion).PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(held)}); err != nil {
		t.Fatal(err)
	}
	step := w.engine.heldRegistryStep(Cause{Trigger: audit.Trigger{EventID: "evt-join"}}, fHub, fRegion,
		func(_ context.Context, current string) ([]policy.Statement, error) {
			return policy.OwnedOf(current, w.engine.Decl.SidPrefix)
		}, nil)
	_, err := step.Plan(ctx)
	var refused *apply.RefusedError
	if !errors.As(err, &refused) {
		t.Fatalf("plan error %v (%T): want a refusal", err, err)
	}
	for _, want := range []string{registryResource("aws", fHub, fRegion).ARN, `key "Effect" appears twice`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not name %q", err, want)
		}
	}
}

// The same through an account event's mailbox: the refusal is recorded
// under the event, naming the hub registry policy and the problem, the
// event does not fail (a retry would meet the same policy), and nothing is
// written.
func TestAccountEventRefusesAnUnreadableHubRegistryPolicy(t *testing.T) {
	ctx := context.Background()
	w, _, path := mailboxWorld(t, "")
	held := `{"Version":"2012-10-17","Statement":[{"Sid":"Theirs","Effect":"Allow","Effect":"Deny","Principal":{"AWS":"arn:aws:iam::` + fTeamB + `:root"},"Action":"ecr:BatchGetImage","Resource":"*"}]}`
	if _, err := w.aws.ECR(fHub, fRegion).PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(held)}); err != nil {
		t.Fatal(err)
	}
	writes := len(w.aws.Writes())
	rep, err := w.engine.HubForAccount(ctx, Cause{Trigger: audit.Trigger{EventID: "evt-join"}}, desired.Account{ID: fThird, Status: "ACTIVE", OUPath: path}, true)
	if err != nil {
		t.Fatalf("HubForAccount: %v; want the refusal recorded, not a failed event", err)
	}
	if rep.Refused == 0 || len(w.aws.Writes()) != writes {
		t.Errorf("report %+v, writes %v: want a refusal and no write", rep, w.aws.Writes()[writes:])
	}
	found := false
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionRefused && r.Trigger.EventID == "evt-join" && r.Target.ARN == registryResource("aws", fHub, fRegion).ARN {
			found = strings.Contains(r.Error, `key "Effect" appears twice`)
		}
	}
	if !found {
		t.Errorf("no refused record of the hub registry policy naming the problem under evt-join: %+v", w.records(t))
	}
}

// An account leaving while the hub registry policy holds a statement
// carrying the Sid prefix that ecr-warden cannot read (a Deny whose
// Principal is a bare account id): the event's plan used to refuse the
// whole policy (policy.OwnedOf refused it), so the departed account kept
// its grant. Now its grant is removed, the unreadable Deny is kept byte for
// byte and recorded with its Sid, and the write is recorded under the
// event.
func TestAccountDepartureIsWrittenBesideAnUnreadablePrefixedStatement(t *testing.T) {
	ctx := context.Background()
	w, _, path := mailboxWorld(t, "")
	gone := desired.Account{ID: fThird, Status: "ACTIVE", OUPath: path}
	if _, err := w.engine.HubForAccount(ctx, Cause{Trigger: audit.Trigger{EventID: "evt-join"}}, gone, true); err != nil {
		t.Fatal(err)
	}
	held := w.aws.RegistryPolicy(fHub, fRegion)
	hasAll(t, "hub registry policy after the join", held, "arn:aws:iam::"+fThird+":root")
	const hold = `{"Sid":"EcrWardenHold","Effect":"Deny","Principal":"777788889999","Action":"ecr:BatchGetImage","Resource":"*"}`
	doc, err := policy.Parse(held)
	if err != nil {
		t.Fatal(err)
	}
	var sts []string
	for _, s := range doc.Statements {
		b, _ := s.MarshalJSON()
		sts = append(sts, string(b))
	}
	edited := `{"Version":"2012-10-17","Statement":[` + strings.Join(append(sts, hold), ",") + `]}`
	if _, err := w.aws.ECR(fHub, fRegion).PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(edited)}); err != nil {
		t.Fatal(err)
	}
	gone.Status = "SUSPENDED"
	rep, err := w.engine.HubForAccount(ctx, Cause{Trigger: audit.Trigger{EventID: "evt-leave"}}, gone, false)
	if err != nil {
		t.Fatalf("HubForAccount: %v", err)
	}
	after := w.aws.RegistryPolicy(fHub, fRegion)
	hasNone(t, "hub registry policy after the departure", after, fThird)
	hasAll(t, "hub registry policy after the departure", after, hold)
	if rep.Refused != 0 || rep.Changed == 0 {
		t.Errorf("report %+v: want the departure written, nothing refused", rep)
	}
	reg := registryResource("aws", fHub, fRegion).ARN
	var applied, named bool
	for _, r := range w.records(t) {
		if r.Target.ARN != reg || r.Trigger.EventID != "evt-leave" {
			continue
		}
		applied = applied || r.Decision == audit.DecisionApplied && r.After == after
		named = named || r.Decision == audit.DecisionForeignUnsafe && strings.Contains(r.Error, `Sid "EcrWardenHold"`) && strings.Contains(r.Error, "kept as written")
	}
	if !applied || !named {
		t.Errorf("records under evt-leave: write applied %v, unreadable statement named %v; want both", applied, named)
	}
}
