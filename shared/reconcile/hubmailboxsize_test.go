package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// dynamoItemLimit is DynamoDB's item size limit: 400 KB, attribute names
// and values.
const dynamoItemLimit = 400 * 1024

// hubChangeOf is the change an account event posts to the hub registry
// policy's mailbox, as hubRegistryForAccount builds it: the event read from
// events/<file> (its cause: event id, type, source and actor) and the
// account as the organization shows it.
func hubChangeOf(t testing.TB, file string, acct desired.Account, present bool) hubChange {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", file))
	if err != nil {
		t.Fatal(err)
	}
	tg, err := trigger.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	c := CauseOf(tg)
	return hubChange{Account: acct, Present: present, Cause: apply.Cause{Trigger: c.Trigger, Actor: c.Actor}}
}

// entryBytes is what one posted change adds to the mailbox item as
// DynamoDB counts it (the UTF-8 bytes of attribute names and values): the
// entry's name and body and its time's name and number (19 digits: 11
// bytes). lease.EntrySize counts that plus room for a refusal mark.
func entryBytes(subject, body string) int {
	return len("e#"+subject) + len(body) + len("t#"+subject) + 11
}

// The size of one posted change for a join, a move and a departure, with
// the events' own causes (their CloudTrail actors) and the account as the
// organization shows it at an OU path three levels deep (the deepest the
// examples use) and five (Organizations' limit), and how many such changes
// fit in the mailbox item: before the bound, up to DynamoDB's 400 KB; with
// it, up to lease.MailboxBound. The numbers are in the README (Coalesced hub
// changes).
func TestHubChangeSizes(t *testing.T) {
	shallow := "o-a1b2c3d4e5/r-a1b2/ou-a1b2-11111111/ou-a1b2-22222222/ou-a1b2-33333333/"
	deep := shallow + "ou-a1b2-44444444/ou-a1b2-55555555/"
	name := "acme-payments-prod-eu" // 21 characters; Organizations allows 50
	cases := []struct {
		what, file string
		acct       desired.Account
		present    bool
	}{
		{"join (CreateAccountResult)", "org-create-account-result-succeeded.json", desired.Account{ID: "123456789012", Name: name, Status: "ACTIVE", OUPath: shallow}, true},
		{"join (Control Tower)", "controltower-create-managed-account.json", desired.Account{ID: "123456789012", Name: name, Status: "ACTIVE", OUPath: shallow}, true},
		{"join (InviteAccount accepted)", "org-account-joined.json", desired.Account{ID: "123456789012", Name: name, Status: "ACTIVE", OUPath: shallow}, true},
		{"move", "org-move-account.json", desired.Account{ID: "123456789012", Name: name, Status: "ACTIVE", OUPath: shallow}, true},
		{"move, 5 OUs deep, 50-character name", "org-move-account.json", desired.Account{ID: "123456789012", Name: strings.Repeat("n", 50), Status: "ACTIVE", OUPath: deep}, true},
		{"departure (RemoveAccountFromOrganization)", "org-remove-account.json", desired.Account{ID: "123456789012", Name: name, Status: "NOT_IN_ORGANIZATION"}, false},
		{"departure (AccountDeparted)", "org-account-departed.json", desired.Account{ID: "123456789012", Name: name, Status: "NOT_IN_ORGANIZATION"}, false},
	}
	var most int64
	for _, c := range cases {
		body, err := json.Marshal(hubChangeOf(t, c.file, c.acct, c.present))
		if err != nil {
			t.Fatal(err)
		}
		n := entryBytes(c.acct.ID, string(body))
		counted := lease.EntrySize(c.acct.ID, string(body))
		most = max(most, counted)
		t.Logf("%-42s body %4d B, in the item %4d B (counted %4d B): %3d fit under 400 KB, %3d under the bound %d",
			c.what, len(body), n, counted, dynamoItemLimit/n, lease.MailboxBound/counted, lease.MailboxBound)
		if int64(n) > counted {
			t.Errorf("%s: the entry takes %d bytes of the item, more than lease.EntrySize counts (%d)", c.what, n, counted)
		}
	}
	if fit := lease.MailboxBound / most; fit < 300 {
		t.Errorf("the bound holds %d of the largest change (%d bytes); want room for a burst of 300", fit, most)
	}
	fmt.Fprintln(os.Stderr) // keep -v output readable
}

// A script moves hundreds of accounts at once while a holder of the hub
// registry policy's lease has its mailbox open and dies there (the worst
// case for the mailbox: every change waits in it): a third of the accounts
// move out of the enumerated OU, a third into it, a third between other
// OUs. Their changes are posted as the events post them (the move event's
// cause, the account with a 50-character name) until the mailbox refuses
// one: today DynamoDB's 400 KB item limit, with the bound the mailbox's own
// (lease.MailboxBound, well under it). Then the next events run whole,
// concurrently, while the dead holder's mark stands, and the holder gives
// up. No event is dead-lettered (on a quiet machine none even fails into
// Lambda's retries; on a loaded one a few outwait hubWaitMax behind the
// holder's drain and land when delivered again), the hub registry policy names exactly the accounts in
// the enumerated OU (no change lost), and the mailbox is empty and the
// lease free afterwards.
func TestFullHubMailboxLosesNoChange(t *testing.T) {
	w, leases, workloads := mailboxWorld(t, "")
	ctx := context.Background()
	const accounts, tail = 750, 24
	name := strings.Repeat("n", 50)
	ids := make([]string, accounts)
	paths := make([]string, accounts) // where each account moves to
	sandbox := w.aws.Join("299999999999", "sandbox")
	w.aws.Leave("299999999999")
	for i := range ids {
		ids[i] = fmt.Sprintf("%012d", 300000000000+i)
		switch i % 3 {
		case 0: // in the enumerated OU (granted below), moves out
			w.aws.Join(ids[i], "workloads")
		default: // in another OU: moves into the enumerated OU, or within the other
			w.aws.Join(ids[i], "sandbox", "old")
		}
	}
	for i := range ids {
		paths[i] = sandbox
		if i%3 == 1 {
			paths[i] = workloads
		}
	}
	// Only the accounts that move out are granted before the moves.
	if _, err := w.engine.Reconcile(ctx, target(trigger.KindRegistryPolicy, fHub)); err != nil {
		t.Fatal(err)
	}
	before := rootsIn(w.aws.RegistryPolicy(fHub, fRegion))
	if len(before) < accounts/3 {
		t.Fatalf("hub registry policy before the moves grants %d accounts; want the %d in the enumerated OU", len(before), accounts/3)
	}

	key := lease.RegistryKey(fHub, fRegion)
	dead, err := lease.New(dynamodb.NewFromConfig(server.Config(region)), "leases", lease.Options{Holder: "dead-holder"})
	if err != nil {
		t.Fatal(err)
	}
	held, err := dead.TryAcquire(ctx, key, 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dead.Open(ctx, held); err != nil {
		t.Fatal(err)
	}
	move := hubChangeOf(t, "org-move-account.json", desired.Account{}, true)
	change := func(i int) (Cause, desired.Account) {
		c := Cause{Trigger: move.Cause.Trigger, Actor: move.Cause.Actor}
		c.Trigger.EventID = fmt.Sprintf("b4c5d6e7-f809-412a-9db4-%012d", i)
		return c, desired.Account{ID: ids[i], Name: name, Status: "ACTIVE", OUPath: paths[i]}
	}
	// The events that hand their change to the dead holder: their post is
	// all they do.
	posted := 0
	var refused error
	for ; posted < accounts-tail; posted++ {
		c, acct := change(posted)
		w.aws.Join(acct.ID, map[bool]string{true: "workloads", false: "sandbox"}[acct.OUPath == workloads])
		body, err := json.Marshal(hubChange{Account: acct, Present: true, Cause: apply.Cause{Trigger: c.Trigger, Actor: c.Actor}})
		if err != nil {
			t.Fatal(err)
		}
		if _, refused = leases.Post(ctx, key, acct.ID, string(body)); refused != nil {
			break
		}
	}
	if refused == nil {
		t.Fatalf("%d posts all landed; want the mailbox to refuse one", posted)
	}
	box, err := leases.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the mailbox refused post %d (%v); it holds %d entries", posted+1, refused, len(box.Entries))
	if len(box.Entries) != posted {
		t.Fatalf("mailbox holds %d entries after %d posts", len(box.Entries), posted)
	}

	// The next events, whole and at once: the mailbox is full.
	errs := make([]error, tail)
	var wg sync.WaitGroup
	for k := range tail {
		wg.Go(func() {
			c, acct := change(posted + k)
			w.aws.Join(acct.ID, map[bool]string{true: "workloads", false: "sandbox"}[acct.OUPath == workloads])
			_, errs[k] = w.engine.HubForAccount(ctx, c, acct, true)
		})
	}
	time.Sleep(time.Second)
	if err := dead.Abandon(ctx, held); err != nil {
		t.Fatal(err)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	// On a quiet machine every one of them lands on its first attempt. On
	// a loaded one the holder's drain of several hundred changes can
	// outlast an event's wait (hubWaitMax) and the event fails into
	// Lambda's retries, as it would in AWS: Lambda delivers a failed
	// asynchronous event twice more, so each failed event is delivered
	// again (at once here), and only an event that fails all three
	// attempts, for the dead-letter queue, loses its change.
	retried := 0
	for attempt := 2; attempt <= 3; attempt++ {
		var again sync.WaitGroup
		for k := range errs {
			if errs[k] == nil {
				continue
			}
			if attempt == 2 {
				retried++
				t.Logf("event %d (account %s) failed its first attempt, delivered again: %v", posted+k, ids[posted+k], errs[k])
			}
			again.Go(func() {
				c, acct := change(posted + k)
				_, errs[k] = w.engine.HubForAccount(ctx, c, acct, true)
			})
		}
		again.Wait()
	}
	for k, err := range errs {
		if err != nil {
			t.Errorf("event %d (account %s) failed all three attempts (dead-lettered): %v", posted+k, ids[posted+k], err)
		}
	}
	t.Logf("%d of %d events that found the mailbox full needed Lambda's retry", retried, tail)

	// Every change is in the hub registry policy: the accounts that moved
	// into the enumerated OU are granted, those that moved out are not,
	// the others never were.
	want := map[string]bool{fTeamA: true, fTeamB: true, fThird: true}
	for i := range posted + tail {
		if i%3 == 1 {
			want[ids[i]] = true
		}
	}
	for i := posted + tail; i < accounts; i++ {
		if i%3 == 0 {
			want[ids[i]] = true // did not move
		}
	}
	got := rootsIn(w.aws.RegistryPolicy(fHub, fRegion))
	var missing, extra []string
	for id := range want {
		if !got[id] {
			missing = append(missing, id)
		}
	}
	for id := range got {
		if !want[id] {
			extra = append(extra, id)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("hub registry policy after %d moves: %d accounts missing (%v), %d granted that moved out (%v)", posted+tail, len(missing), missing, len(extra), extra)
	}
	box, err = leases.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(box.Entries) != 0 || box.Open != "" {
		t.Errorf("mailbox after the events: %d entries, open %q; want empty and closed", len(box.Entries), box.Open)
	}
	if _, err := leases.TryAcquire(ctx, key, time.Minute); err != nil {
		t.Errorf("the hub registry policy's lease after the events: %v; want it free", err)
	}
}

// rootsIn is the accounts whose root a policy document names.
func rootsIn(doc string) map[string]bool {
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`arn:aws:iam::(\d{12}):root`).FindAllStringSubmatch(doc, -1) {
		out[m[1]] = true
	}
	return out
}

// fillHubMailbox posts departures of accounts the hub never granted (their
// changes change nothing) to w's hub registry policy mailbox until it
// refuses one as full, after the changes of first; the bodies carry a long
// account name so that a few hundred posts fill it. It returns how many
// it posted.
func fillHubMailbox(t *testing.T, leases *lease.Leaser, first []hubChange) int {
	t.Helper()
	ctx := context.Background()
	key := lease.RegistryKey(fHub, fRegion)
	long := strings.Repeat("n", 2000)
	for i := 0; ; i++ {
		c := hubChange{Account: desired.Account{ID: fmt.Sprintf("%012d", 500000000000+i), Name: long, Status: "NOT_IN_ORGANIZATION"},
			Cause: apply.Cause{Trigger: audit.Trigger{EventID: fmt.Sprintf("evt-fill-%d", i)}}}
		if i < len(first) {
			c = first[i]
		}
		body, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		_, err = leases.Post(ctx, key, c.Account.ID, string(body))
		if errors.Is(err, lease.ErrMailboxFull) {
			return i
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// An event that finds the mailbox full and nobody draining it takes the
// lease and writes its change with the waiting ones. When that write leaves
// its join out (the hub registry policy is at its size limit: a departure
// among the waiting changes is written shrunk, the joins are not), its
// refusal is recorded under its event, and once the close has made room its
// change waits in the mailbox as the other joins do; the event succeeds.
// When the plan is refused whole (nothing to remove), every entry stays and
// the mailbox is still full: the event still succeeds, its refusal recorded.
func TestFullMailboxJoinLeftOutWaitsInTheMailbox(t *testing.T) {
	ctx := context.Background()
	w, leases, path := mailboxWorld(t, "")
	nearLimitHub(t, w)
	key := lease.RegistryKey(fHub, fRegion)
	const joiner, waiting = "600000000001", "600000000002"
	w.aws.Join(joiner, "workloads")
	w.aws.Join(waiting, "workloads")
	refusedUnder := func(id string) int {
		n := 0
		for _, r := range w.records(t) {
			if r.Trigger.EventID == id && r.Decision == audit.DecisionRefused && r.Target.ARN == registryResource("aws", fHub, fRegion).ARN {
				n++
			}
		}
		return n
	}

	// Refused whole: the joins do not fit and nothing is removed.
	n := fillHubMailbox(t, leases, []hubChange{{Account: desired.Account{ID: waiting, Status: "ACTIVE", OUPath: path}, Present: true,
		Cause: apply.Cause{Trigger: audit.Trigger{EventID: "evt-waiting"}}}})
	if _, err := w.engine.HubForAccount(ctx, Cause{Trigger: audit.Trigger{EventID: "evt-join-1"}}, desired.Account{ID: joiner, Status: "ACTIVE", OUPath: path}, true); err != nil {
		t.Fatalf("join that found the mailbox full (%d posts) and its plan refused: %v; want it to end as a refused one", n, err)
	}
	if refusedUnder("evt-join-1") != 1 {
		t.Errorf("%d refused records of the hub registry policy under evt-join-1; want 1", refusedUnder("evt-join-1"))
	}
	box, err := leases.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if len(box.Entries) != n || box.Has(joiner) || box.Open != "" {
		t.Fatalf("mailbox after the refused plan: %d entries, %s's %v, open %q; want the %d waiting, closed", len(box.Entries), joiner, box.Has(joiner), box.Open, n)
	}
	// Empty it for the second case.
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	leases = leaseTable(t, w)

	// Written shrunk: a departure among the waiting changes is written, the
	// joins wait, and the close makes room for this event's join.
	n = fillHubMailbox(t, leases, []hubChange{
		{Account: desired.Account{ID: fTeamA, Status: "NOT_IN_ORGANIZATION"}, Cause: apply.Cause{Trigger: audit.Trigger{EventID: "evt-leave-a"}}},
		{Account: desired.Account{ID: waiting, Status: "ACTIVE", OUPath: path}, Present: true, Cause: apply.Cause{Trigger: audit.Trigger{EventID: "evt-waiting"}}},
		{Account: desired.Account{ID: "600000000003", Status: "ACTIVE", OUPath: path}, Present: true, Cause: apply.Cause{Trigger: audit.Trigger{EventID: "evt-waiting-3"}}},
	})
	w.aws.Join("600000000003", "workloads")
	w.aws.Leave(fTeamA)
	if _, err := w.engine.HubForAccount(ctx, Cause{Trigger: audit.Trigger{EventID: "evt-join-2"}}, desired.Account{ID: joiner, Status: "ACTIVE", OUPath: path}, true); err != nil {
		t.Fatalf("join that found the mailbox full (%d posts): %v", n, err)
	}
	if rootsIn(w.aws.RegistryPolicy(fHub, fRegion))[fTeamA] {
		t.Errorf("the departure of %s waiting in the full mailbox was not written", fTeamA)
	}
	box, err = leases.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !box.Has(joiner) || box.Open != "" {
		t.Fatalf("mailbox after the shrunk write: %d entries, %s's %v, open %q; want its join waiting, closed", len(box.Entries), joiner, box.Has(joiner), box.Open)
	}
	if refusedUnder("evt-join-2") != 1 {
		t.Errorf("%d refused records of the hub registry policy under evt-join-2; want 1", refusedUnder("evt-join-2"))
	}
	if _, err := leases.TryAcquire(ctx, key, time.Minute); err != nil {
		t.Errorf("the hub registry policy's lease after the event: %v; want it free", err)
	}
}
