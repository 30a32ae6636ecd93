package main

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// movedWorld is an organization in which only OU A's member registries hold
// anything of the declaration (a repository grant, the member-scan registry
// grant, the pull-through cache), and one member in OU B with repositories
// and a registry policy carrying foreign statements.
func movedWorld(t *testing.T) (w *world, account string, foreignRepo, foreignRegistry string) {
	w = newWorld(t, nil)
	account = w.createAccount("mover", w.ouB)
	ouA := w.ouPath(w.ouA)
	w.rewriteDeclaration(func(s string) string {
		s = strings.Replace(s, `"registries": {"allMembers": true}`, `"registries": {"ous": ["`+ouA+`"]}`, 1)
		s = strings.Replace(s, `"members": {"all": true}`, `"members": {"ous": ["`+ouA+`"]}`, 1)
		return strings.Replace(s, `"grants": [`, `"grants": [{"name": "team-push", "repositories": ["team/*"], "access": "push",
      "principals": {"accounts": ["`+hubAccount+`"]}, "placement": "repository", "registries": {"ous": ["`+ouA+`"]}},`, 1)
	})
	mem := w.member(account)
	foreignRepo = `{"Sid":"KeepMe","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":"ecr:BatchGetImage"}`
	foreignRegistry = `{"Sid":"Replication","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::210987654321:root"},"Action":["ecr:CreateRepository","ecr:ReplicateImage"],"Resource":"arn:aws:ecr:us-east-1:` + account + `:repository/*"}`
	w.createRepository(mem, "team/app", `{"Version":"2012-10-17","Statement":[`+foreignRepo+`]}`)
	w.createRepository(mem, "team/bare", "")
	w.createRepository(mem, "other/x", "")
	w.putRegistryPolicy(mem, `{"Version":"2012-10-17","Statement":[`+foreignRegistry+`]}`)
	return w, account, foreignRepo, foreignRegistry
}

// moveEvent is a MoveAccount event for account from one parent to another.
func (w *world) moveEvent(account, from, to string) []byte {
	w.t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(w.event("org-move-account.json", account), &ev); err != nil {
		w.t.Fatal(err)
	}
	params := ev["detail"].(map[string]any)["requestParameters"].(map[string]any)
	params["sourceParentId"], params["destinationParentId"] = from, to
	out, err := json.Marshal(ev)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// owned lists the Sids of ecr-warden's statements in a policy.
func (w *world) owned(text string) []string {
	var out []string
	for sid := range w.statements(text) {
		if strings.HasPrefix(sid, "EcrWarden") {
			out = append(out, sid)
		}
	}
	slices.Sort(out)
	return out
}

// unitSummary is the newest summary record of account's unit in us-east-1.
func (w *world) unitSummary(account string) audit.Record {
	w.t.Helper()
	recs := w.history(audit.UnitARN(account, region))
	for i := len(recs) - 1; i >= 0; i-- {
		if recs[i].Decision == audit.DecisionSummary {
			return recs[i]
		}
	}
	w.t.Fatalf("no unit summary record for %s/%s; have %s", account, region, summary(recs))
	return audit.Record{}
}

// TestMoveConvergesTheAccountsOwnRepositories: a grant's registries select
// OUs, so moving an account changes what its own repositories must hold.
// Moved into OU A, its matching repositories get the repository grant and
// its registry policy the member grant, in the one event; moved out of
// everything the declaration configures, every statement ecr-warden wrote
// there is removed again while foreign statements stay byte for byte, and
// the pull-through-cache rules stay (only retiredPrefixes deletes rules).
func TestMoveConvergesTheAccountsOwnRepositories(t *testing.T) {
	localaws.Need(t)
	w, a, foreignRepo, foreignRegistry := movedWorld(t)
	mem := w.member(a)
	fn := w.start()

	w.move(a, w.ouB, w.ouA)
	r := w.invoke(fn, w.moveEvent(a, w.ouB, w.ouA))
	if r.Changed == 0 {
		t.Fatalf("move into OU A: report %+v, want changes", r.Report)
	}
	for _, name := range []string{"team/app", "team/bare"} {
		if got := w.owned(w.repositoryPolicy(mem, name)); len(got) != 1 {
			t.Errorf("%s after the move into OU A: owned statements %v, want the team-push grant", name, got)
		}
	}
	if p := w.repositoryPolicy(mem, "team/app"); !strings.Contains(p, foreignRepo) {
		t.Errorf("team/app lost its foreign statement:\n%s", p)
	}
	if p := w.repositoryPolicy(mem, "other/x"); p != "" {
		t.Errorf("other/x matches no grant but got a policy:\n%s", p)
	}
	if got := w.owned(w.registryPolicy(mem)); len(got) == 0 {
		t.Errorf("registry policy after the move into OU A: no owned statement (member-scan, PTC)")
	}
	if n := len(w.rules(mem)); n != 3 {
		t.Errorf("PTC rules after the move into OU A: %d, want 3", n)
	}
	if s := w.unitSummary(a); !strings.HasSuffix(s.Trigger.EventType, "/MoveAccount") || s.Counts == nil || s.Counts.Changed < 2 {
		t.Errorf("unit summary after the move in: %+v, want the MoveAccount event as cause and the repository writes counted", s)
	}

	w.move(a, w.ouA, w.ouB)
	proxy.Reset()
	w.invoke(fn, w.moveEvent(a, w.ouA, w.ouB))
	if got := w.repositoryPolicy(mem, "team/app"); got == "" || len(w.statements(got)) != 1 || !strings.Contains(got, foreignRepo) {
		t.Errorf("team/app after the move out: want only the foreign statement, got:\n%s", got)
	}
	if got := w.repositoryPolicy(mem, "team/bare"); got != "" {
		t.Errorf("team/bare after the move out: its only statement was ecr-warden's, so the policy goes; got:\n%s", got)
	}
	if got := w.registryPolicy(mem); len(w.statements(got)) != 1 || !strings.Contains(got, foreignRegistry) {
		t.Errorf("registry policy after the move out: want only the foreign statement, got:\n%s", got)
	}
	if n := len(w.rules(mem)); n != 3 {
		t.Errorf("PTC rules after the move out: %d, want the 3 kept", n)
	}
	if got := writes(); got["ecr:DeletePullThroughCacheRule"] != 0 || got["iam:DeleteRole"] != 0 {
		t.Errorf("the move out deleted rules or the role: %v", got)
	}
	if s := w.unitSummary(a); s.Error != "" || s.Counts == nil || s.Counts.Changed != 3 {
		t.Errorf("unit summary after the move out: %+v, want 3 changed (two repositories, the registry policy), no error", s)
	}
}

// TestMoveOutWithTheRoleGoneIsLeftInPlace: the member StackSet may remove
// the execution role before the move event is handled. STS then refuses
// AssumeRole; the event still succeeds (the hub's half is done, retrying
// cannot bring the role back), the statements stay, and the unit's summary
// says what was left in place and why.
func TestMoveOutWithTheRoleGoneIsLeftInPlace(t *testing.T) {
	localaws.Need(t)
	w, a, _, _ := movedWorld(t)
	mem := w.member(a)
	w.move(a, w.ouB, w.ouA)
	w.invoke(w.start(), w.moveEvent(a, w.ouB, w.ouA))
	before := w.repositoryPolicy(mem, "team/app")
	if len(w.owned(before)) != 1 {
		t.Fatalf("setup: team/app holds no grant after the move in:\n%s", before)
	}

	w.move(a, w.ouA, w.ouB)
	w.deleteMemberRole(a)                             // STS now refuses AssumeRole into it, as AWS does
	w.invoke(w.start(), w.moveEvent(a, w.ouA, w.ouB)) // a fresh process: no cached member credentials
	if got := w.repositoryPolicy(mem, "team/app"); got != before {
		t.Errorf("team/app changed although the role could not be assumed:\n%s", got)
	}
	s := w.unitSummary(a)
	if !strings.Contains(s.Error, "left in place") || !strings.Contains(s.Error, "OrganizationAccountAccessRole") || !strings.Contains(s.Error, "EcrWarden") {
		t.Errorf("unit summary: %q, want it to say the statements were left in place, naming the role and the Sid prefix", s.Error)
	}
}

// TestMoveHandsTheRepositoriesToTheWorker: with a work queue, the account
// function converges the registry documents itself and sends the
// repositories to the worker as one unit per region, marked as a move,
// carrying the account and the event's id.
func TestMoveHandsTheRepositoriesToTheWorker(t *testing.T) {
	localaws.Need(t)
	w, a, _, _ := movedWorld(t)
	q := sqs.NewFromConfig(w.hub)
	created, err := q.CreateQueue(w.ctx, &sqs.CreateQueueInput{QueueName: aws.String("moved-work")})
	if err != nil {
		t.Fatal(err)
	}
	env := w.env()
	env["WARDEN_WORK_QUEUE_URL"] = aws.ToString(created.QueueUrl)
	fn := w.startWith(env)

	w.move(a, w.ouB, w.ouA)
	w.invoke(fn, w.moveEvent(a, w.ouB, w.ouA))
	if got := w.owned(w.repositoryPolicy(w.member(a), "team/app")); len(got) != 0 {
		t.Errorf("team/app was converged by the account function itself (%v); it is the worker's", got)
	}
	if got := w.owned(w.registryPolicy(w.member(a))); len(got) == 0 {
		t.Errorf("the registry policy was left to the worker; the account function converges it")
	}
	msgs, err := q.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs.Messages) != 1 {
		t.Fatalf("queued %d messages, want one unit", len(msgs.Messages))
	}
	var unit reconcile.Work
	if err := json.Unmarshal([]byte(aws.ToString(msgs.Messages[0].Body)), &unit); err != nil {
		t.Fatal(err)
	}
	if !unit.Moved || unit.Account != a || unit.Region != region || unit.RunID == "" || unit.WalkedAt.IsZero() ||
		!slices.ContainsFunc(unit.Accounts, func(x desired.Account) bool { return x.ID == a }) {
		t.Errorf("queued unit %+v: want a moved unit of %s/%s carrying the account", unit, a, region)
	}
	// The same unit again, held back for as long as a unit walked before
	// the move may still run on its old view.
	attrs, err := q.GetQueueAttributes(w.ctx, &sqs.GetQueueAttributesInput{QueueUrl: created.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}})
	if err != nil {
		t.Fatal(err)
	}
	if got := attrs.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed)]; got != "1" {
		t.Errorf("%s delayed messages, want the moved unit once more, after reconcile.WorkFreshFor", got)
	}
}

// TestMoveBetweenUnconfiguredPlacesTouchesNothing: an account moved from one
// part of the organization the declaration configures nothing in to
// another (OU B to the root) has no execution role and nothing of
// ecr-warden's: no unit, and no call in the account.
func TestMoveBetweenUnconfiguredPlacesTouchesNothing(t *testing.T) {
	localaws.Need(t)
	w, a, _, _ := movedWorld(t)
	fn := w.start()
	w.move(a, w.ouB, w.rootID)
	proxy.Reset()
	w.invoke(fn, w.moveEvent(a, w.ouB, w.rootID))
	for op, n := range proxy.CountsByAccount()[a] {
		t.Errorf("the move called %s %d times in account %s, which the declaration configures nowhere", op, n, a)
	}
	if recs := w.history(audit.UnitARN(a, region)); len(recs) != 0 {
		t.Errorf("a unit ran for the account: %s", summary(recs))
	}
}
