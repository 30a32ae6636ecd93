package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/functest"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// TestHandedOffChangeSurvivesADeadHolder: an account event finds the hub
// registry policy's lease held by a holder that opened the mailbox and then
// died (its lease and its open mark stay until they lapse). The event
// converges the member, hands its hub change to that holder and ends
// successfully; nothing is written to the hub for it, and its entry waits in
// the mailbox. The next account event, after the dead holder's lease lapsed,
// takes the lease and applies both accounts in one hub write, and the
// mailbox is empty afterwards: a handed-off change is never lost.
func TestHandedOffChangeSurvivesADeadHolder(t *testing.T) {
	w, foreign, fn, joiners := handOffWorld(t, "handed-off", "next")
	a, b := joiners[0], joiners[1]

	leases, err := lease.New(dynamodb.NewFromConfig(w.hub), functest.LeaseTable, lease.Options{Holder: "dead-holder"})
	if err != nil {
		t.Fatal(err)
	}
	key := lease.RegistryKey(hubAccount, region)
	dead, err := leases.TryAcquire(w.ctx, key, 8*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leases.Open(w.ctx, dead); err != nil {
		t.Fatal(err)
	}

	proxy.Reset()
	joinA := w.event("org-account-joined.json", a)
	r := w.invoke(fn, joinA)
	if r.Failed != 0 {
		t.Fatalf("the handing-off event failed: %+v", r.Report)
	}
	w.assertMember(a)
	if got := w.principals(w.registryPolicy(w.hub), sidApps); len(got) != 0 {
		t.Errorf("hub statement %s names %v while the dead holder's lease stood", sidApps, got)
	}
	if n := proxy.CountsByAccount()[hubAccount]["PutRegistryPolicy"]; n != 0 {
		t.Errorf("the hub registry policy was written %d times while the dead holder's lease stood", n)
	}
	box, err := leases.Peek(w.ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !box.Has(a) {
		t.Fatalf("mailbox after the hand-off: %+v; want %s's entry waiting", box, a)
	}

	time.Sleep(time.Until(dead.Expires()) + 1100*time.Millisecond)
	if r := w.invoke(fn, w.event("org-account-joined.json", b)); r.Failed != 0 {
		t.Fatalf("the next event failed: %+v", r.Report)
	}
	w.assertHub(foreign, roots(a, b), roots(a, b), nil)
	box, err = leases.Peek(w.ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(box.Entries) != 0 || box.Open != "" {
		t.Errorf("mailbox after the next holder: %+v; want empty and closed", box)
	}
	// The write is recorded under the handed-off event too.
	var ev struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(joinA, &ev); err != nil {
		t.Fatal(err)
	}
	trail, err := audit.New(dynamodb.NewFromConfig(w.hub), auditTable, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	target := policy.RegistryARN("aws", region, hubAccount)
	recs, err := trail.History(w.ctx, target, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(recs, func(r audit.Record) bool {
		return r.Decision == audit.DecisionApplied && r.Trigger.EventID == ev.ID
	}) {
		t.Errorf("no applied record of %s under the handed-off event %s; have %+v", target, ev.ID, recs)
	}
}

// TestStaleMailboxEntryIsReadAgain: a holder that died ten minutes ago left
// an entry saying an account is a member of the enumerated OU; the account
// has left the organization since (its departure never reached the
// mailbox). The next account event's holder does not grant it as the entry
// said: it reads the account from the organization again, applies what it
// finds (absent), and the mailbox is empty afterwards.
func TestStaleMailboxEntryIsReadAgain(t *testing.T) {
	w, foreign, fn, joiners := handOffWorld(t, "next")
	b := joiners[0]

	const gone = "999988887777" // not in the organization
	body, err := json.Marshal(map[string]any{
		"account": desired.Account{ID: gone, Status: "ACTIVE", OUPath: w.ouPath(w.ouA)},
		"present": true,
		"cause":   apply.Cause{},
	})
	if err != nil {
		t.Fatal(err)
	}
	past := func() time.Time { return time.Now().Add(-10 * time.Minute) }
	leases, err := lease.New(dynamodb.NewFromConfig(w.hub), functest.LeaseTable, lease.Options{Holder: "dead-holder", Now: past})
	if err != nil {
		t.Fatal(err)
	}
	key := lease.RegistryKey(hubAccount, region)
	if _, err := leases.Post(w.ctx, key, gone, string(body)); err != nil {
		t.Fatal(err)
	}

	if r := w.invoke(fn, w.event("org-account-joined.json", b)); r.Failed != 0 {
		t.Fatalf("the join failed: %+v", r.Report)
	}
	w.assertHub(foreign, roots(b), roots(b), nil)
	box, err := leases.Peek(w.ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(box.Entries) != 0 || box.Open != "" {
		t.Errorf("mailbox after the holder: %+v; want empty and closed", box)
	}
}

// TestLostAnswersAtTheHubMailboxAreHeld: DynamoDB takes the hub registry
// policy's lease and opens its mailbox (one transaction), or closes it and
// releases the lease, but its answer is lost (a 500), and the SDK retries
// the call with the same client request token. AWS answers such a retry
// with the first attempt's success: the event holds the lease it took and
// writes its grant, and its close is done. Before the local AWS kept to that,
// the retried take found the event's own lease, the event took it for
// another holder draining the mailbox, handed its change to itself and
// ended successfully with nothing written (the grant waited for the next
// account event or the sweep); a retried close found the lease gone and
// failed a finished event.
func TestLostAnswersAtTheHubMailboxAreHeld(t *testing.T) {
	w, foreign, fn, joiners := handOffWorld(t, "lost-take", "lost-close")
	a, b := joiners[0], joiners[1]
	key := lease.RegistryKey(hubAccount, region)
	leases, err := lease.New(dynamodb.NewFromConfig(w.hub), functest.LeaseTable, lease.Options{Holder: "test"})
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		account, call, body string
		want                []string
	}{
		{a, "the take", "ADD #takes", roots(a)},
		{b, "the close", "REMOVE #o, #u", roots(a, b)},
	} {
		proxy.Reset()
		proxy.Inject("TransactWriteItems", localaws.LostAnswer(http.StatusInternalServerError, 1).For(c.body))
		r := w.invoke(fn, w.event("org-account-joined.json", c.account))
		if r.Failed != 0 {
			t.Fatalf("join of %s with the answer of %s lost: %+v", c.account, c.call, r.Report)
		}
		if n := proxy.Count("dynamodb", "TransactWriteItems"); n < 2 {
			t.Fatalf("join of %s: %d transactions, want the lost one and its retry", c.account, n)
		}
		w.assertHub(foreign, c.want, c.want, nil)
		box, err := leases.Peek(w.ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if len(box.Entries) != 0 || box.Open != "" {
			t.Errorf("mailbox after %s's answer was lost: %+v; want empty and closed", c.call, box)
		}
		ls, err := leases.TryAcquire(w.ctx, key, time.Second)
		if err != nil {
			t.Fatalf("hub lease after %s's answer was lost: %v; want it free", c.call, err)
		}
		if err := ls.Release(w.ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// handOffWorld is the hand-off tests' world: a hub registry policy holding
// a foreign statement (returned, for assertHub), a new account in ouA for
// each name (returned in order), and the account function started.
func handOffWorld(t *testing.T, names ...string) (*world, string, *lambdalocal.Instance, []string) {
	t.Helper()
	localaws.Need(t)
	w := newWorld(t, nil)
	foreign := foreignStatement("210987654321")
	w.seedHub("210987654321")
	var accounts []string
	for _, n := range names {
		accounts = append(accounts, w.createAccount(n, w.ouA))
	}
	return w, foreign, w.start(), accounts
}
