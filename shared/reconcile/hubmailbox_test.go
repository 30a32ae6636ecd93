package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// A poster that finds nobody draining leaves the lease to another event only
// when that event posted just before it; a later poster, an entry a dead
// holder left long ago, or its own entry never make it wait, so the earliest
// poster of a burst takes the lease.
func TestRacing(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	entry := func(subject string, age time.Duration) lease.Entry {
		return lease.Entry{Subject: subject, Body: "{}", Posted: now.Add(-age)}
	}
	for name, c := range map[string]struct {
		entries []lease.Entry
		want    bool
	}{
		"alone":                       {[]lease.Entry{entry("222", 0)}, false},
		"another posted just before":  {[]lease.Entry{entry("333", 20*time.Millisecond), entry("222", 0)}, true},
		"another posted just after":   {[]lease.Entry{entry("222", 20*time.Millisecond), entry("333", 0)}, false},
		"another's entry long left":   {[]lease.Entry{entry("333", time.Minute), entry("222", 0)}, false},
		"just at the bound":           {[]lease.Entry{entry("333", hubRacing), entry("222", 0)}, false},
		"own entry older, none other": {[]lease.Entry{entry("222", time.Minute)}, false},
	} {
		if got := racing(lease.Box{Entries: c.entries}, "222", now); got != c.want {
			t.Errorf("%s: racing = %v, want %v", name, got, c.want)
		}
	}
	// In a burst every poster but the earliest waits for it.
	burst := lease.Box{Entries: []lease.Entry{entry("111", 30*time.Millisecond), entry("222", 20*time.Millisecond), entry("333", 10*time.Millisecond)}}
	for subject, want := range map[string]bool{"111": false, "222": true, "333": true} {
		if got := racing(burst, subject, now); got != want {
			t.Errorf("burst, %s: racing = %v, want %v", subject, got, want)
		}
	}
}

// lateAbandon is the lease table with one event's post landing while the
// holder still has the mailbox open, just before it abandons the mailbox:
// that event handed its change off after the holder's last read.
type lateAbandon struct {
	*lease.Leaser
	post func(ctx context.Context)
}

func (l lateAbandon) Abandon(ctx context.Context, ls *lease.Lease) error {
	l.post(ctx)
	return l.Leaser.Abandon(ctx, ls)
}

// mailboxWorld is the fake organization (hub, members A and B and a third
// member in the OU "workloads", whose OU path it returns) under a
// declaration granting that OU's accounts in the hub registry (scope, when
// set, is the registryPolicyScope JSON), with the lease table (and so the
// mailbox) on the local AWS.
func mailboxWorld(t *testing.T, scope string) (*world, *lease.Leaser, string) {
	t.Helper()
	localaws.Need(t)
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	const ou = "o-a1b2c3d4e5/r-a1b2/ou-a1b2-00000001/" // fakeaws's first OU, "workloads"
	if scope != "" {
		scope = `"registryPolicyScope": ` + scope + `, `
	}
	w := newWorld(t, scope+`"grants": [{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "principals": {"ous": ["`+ou+`"]},
	    "placement": "registry", "principalMode": "enumerate"}]`)
	path := w.aws.Join(fThird, "workloads")
	return w, leaseTable(t, w), path
}

// leaseTable puts w's leases (and so the hub registry policy's mailbox) in
// a lease table on the local AWS, reset by the caller.
func leaseTable(t *testing.T, w *world) *lease.Leaser {
	t.Helper()
	db := dynamodb.NewFromConfig(server.Config(region))
	if err := lease.CreateTable(context.Background(), db, "leases"); err != nil {
		t.Fatal(err)
	}
	leases, err := lease.New(db, "leases", lease.Options{Holder: "test"})
	if err != nil {
		t.Fatal(err)
	}
	w.engine.Exec.Leases = leases
	return leases
}

// fThird is the third member mailboxWorld adds to the OU.
const fThird = "444444444444"

// postChange posts account's change (present at path) to the hub registry
// policy's mailbox under event, through l.
func postChange(t *testing.T, l *lease.Leaser, account, path, event string) {
	t.Helper()
	body, err := json.Marshal(hubChange{Account: desired.Account{ID: account, Status: "ACTIVE", OUPath: path}, Present: true,
		Cause: apply.Cause{Trigger: audit.Trigger{EventID: event}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Post(context.Background(), lease.RegistryKey(fHub, fRegion), account, string(body)); err != nil {
		t.Fatal(err)
	}
}

// A hub registry plan the declaration refuses (a V1 registry it may not
// switch) leaves every change in the mailbox for a later holder, stops
// hand-offs, frees the lease and records the refusal under each event whose
// change it held: the holder's own, one left waiting before it took the
// lease, and one handed off after its last read, which was told nothing
// else.
func TestRefusedHubPlanIsRecordedUnderEveryHandedOffEvent(t *testing.T) {
	ctx := context.Background()
	w, leases, path := mailboxWorld(t, `{"allowSwitchToV2": false}`)
	w.aws.SetScope(fHub, fRegion, "V1")
	const late = fThird
	key := lease.RegistryKey(fHub, fRegion)
	post := func(_ context.Context, account, event string) { postChange(t, leases, account, path, event) }
	post(ctx, fTeamB, "evt-waiting")
	w.engine.Exec.Leases = lateAbandon{Leaser: leases, post: func(ctx context.Context) { post(ctx, late, "evt-late") }}

	ca := Cause{Trigger: audit.Trigger{EventID: "evt-holder"}}
	rep, err := w.engine.HubForAccount(ctx, ca, desired.Account{ID: fTeamA, Status: "ACTIVE", OUPath: path}, true)
	if err != nil {
		t.Fatalf("HubForAccount: %v", err)
	}
	if rep.Refused == 0 || w.aws.Calls("ECR", "PutRegistryPolicy") != 0 {
		t.Errorf("report %+v, %d registry writes: want the refusal and no write", rep, w.aws.Calls("ECR", "PutRegistryPolicy"))
	}
	box, err := leases.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{fTeamA, fTeamB, late} {
		if !box.Has(a) {
			t.Errorf("mailbox %+v: want %s's change still waiting", box, a)
		}
	}
	if box.Open != "" {
		t.Errorf("mailbox still open by %s after the refusal; posters would keep handing off to it", box.Open)
	}
	ls, err := leases.TryAcquire(ctx, key, time.Minute)
	if err != nil {
		t.Fatalf("the lease is still held after the refusal: %v", err)
	}
	_ = ls.Release(ctx)
	refused := map[string]bool{}
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionRefused && r.Target.ARN == registryResource("aws", fHub, fRegion).ARN {
			refused[r.Trigger.EventID] = true
		}
	}
	for _, ev := range []string{"evt-holder", "evt-waiting", "evt-late"} {
		if !refused[ev] {
			t.Errorf("no refused record of the hub registry policy under %s; refused under %v", ev, refused)
		}
	}
}

// A stale entry (left by a holder that died ten minutes ago) whose account
// cannot be read again from the organization waits for a later holder; the
// holder's own change and a fresh waiting one are written and leave the
// mailbox, and the lease is released.
func TestUnreadableStaleEntryWaitsAndTheRestGoOn(t *testing.T) {
	ctx := context.Background()
	w, leases, path := mailboxWorld(t, "")
	past, err := lease.New(dynamodb.NewFromConfig(server.Config(region)), "leases",
		lease.Options{Holder: "dead", Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	postChange(t, past, fThird, path, "evt-stale")
	postChange(t, leases, fTeamB, path, "evt-waiting")
	w.aws.Fail(func(c fakeaws.Call) error {
		if in, ok := c.Input.(*organizations.DescribeAccountInput); ok && aws.ToString(in.AccountId) == fThird {
			return fakeaws.APIError("AccessDeniedException", "not allowed")
		}
		return nil
	})

	ca := Cause{Trigger: audit.Trigger{EventID: "evt-holder"}}
	if _, err := w.engine.HubForAccount(ctx, ca, desired.Account{ID: fTeamA, Status: "ACTIVE", OUPath: path}, true); err != nil {
		t.Fatalf("HubForAccount: %v", err)
	}
	doc := w.aws.RegistryPolicy(fHub, fRegion)
	hasAll(t, "hub registry policy", doc, "arn:aws:iam::"+fTeamA+":root", "arn:aws:iam::"+fTeamB+":root")
	hasNone(t, "hub registry policy", doc, "arn:aws:iam::"+fThird+":root")
	box, err := leases.Peek(ctx, lease.RegistryKey(fHub, fRegion))
	if err != nil {
		t.Fatal(err)
	}
	if len(box.Entries) != 1 || !box.Has(fThird) || box.Open != "" {
		t.Errorf("mailbox %+v: want only %s's stale entry waiting, closed", box, fThird)
	}
	ls, err := leases.TryAcquire(ctx, lease.RegistryKey(fHub, fRegion), time.Minute)
	if err != nil {
		t.Fatalf("the lease is still held: %v", err)
	}
	_ = ls.Release(ctx)
}

// lateClose is the lease table with one event's post landing just before
// the holder's first close, which then fails and makes the holder drain a
// second round.
type lateClose struct {
	*lease.Leaser
	post func(ctx context.Context)
	once bool
}

func (l *lateClose) CloseAndRelease(ctx context.Context, ls *lease.Lease, applied []lease.Entry, read lease.Box) (lease.Box, error) {
	if !l.once {
		l.once = true
		l.post(ctx)
	}
	return l.Leaser.CloseAndRelease(ctx, ls, applied, read)
}

// A holder that drains a second round (a change posted while it wrote)
// plans that round on the text its first round wrote and on the scope it
// read, instead of reading both again (nobody else of ecr-warden writes the
// policy while it holds the lease): one registry policy read and one scope
// read for both rounds, two writes, every account granted, the foreign
// statement kept byte for byte, and the late change recorded under its own
// event.
func TestLaterHubRoundPlansOnWhatTheEarlierOneWrote(t *testing.T) {
	ctx := context.Background()
	w, leases, path := mailboxWorld(t, "")
	foreign := `{"Sid":"TeamReplication","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"ecr:ReplicateImage","Resource":"arn:aws:ecr:` + fRegion + `:` + fHub + `:repository/*"}`
	w.aws.SetRegistryPolicy(fHub, fRegion, `{"Version":"2012-10-17","Statement":[`+foreign+`]}`)
	postChange(t, leases, fTeamB, path, "evt-waiting")
	late := &lateClose{Leaser: leases, post: func(context.Context) { postChange(t, leases, fThird, path, "evt-late") }}
	w.engine.Exec.Leases = late

	ca := Cause{Trigger: audit.Trigger{EventID: "evt-holder"}}
	if _, err := w.engine.HubForAccount(ctx, ca, desired.Account{ID: fTeamA, Status: "ACTIVE", OUPath: path}, true); err != nil {
		t.Fatalf("HubForAccount: %v", err)
	}
	if !late.once {
		t.Fatal("the holder never closed the mailbox")
	}
	doc := w.aws.RegistryPolicy(fHub, fRegion)
	hasAll(t, "hub registry policy", doc, "arn:aws:iam::"+fTeamA+":root", "arn:aws:iam::"+fTeamB+":root", "arn:aws:iam::"+fThird+":root", foreign)
	if got := w.aws.Calls("ECR", "PutRegistryPolicy"); got != 2 {
		t.Errorf("%d registry policy writes, want 2 (one per round)", got)
	}
	if got := w.aws.Calls("ECR", "GetRegistryPolicy"); got != 1 {
		t.Errorf("%d registry policy reads, want 1: the second round plans on what the first wrote", got)
	}
	if got := w.aws.Calls("ECR", "GetAccountSetting"); got != 1 {
		t.Errorf("%d registry policy scope reads, want 1: the second round trusts the V2 the first read", got)
	}
	applied := map[string]bool{}
	for _, r := range w.records(t) {
		if r.Decision == audit.DecisionApplied && r.Target.ARN == registryResource("aws", fHub, fRegion).ARN {
			applied[r.Trigger.EventID] = true
		}
	}
	for _, ev := range []string{"evt-holder", "evt-waiting", "evt-late"} {
		if !applied[ev] {
			t.Errorf("no applied record of the hub registry policy under %s; applied under %v", ev, applied)
		}
	}
	box, err := leases.Peek(ctx, lease.RegistryKey(fHub, fRegion))
	if err != nil {
		t.Fatal(err)
	}
	if len(box.Entries) != 0 || box.Open != "" {
		t.Errorf("mailbox %+v: want it drained and closed", box)
	}
}

// fakeRenewer counts renewals and fails from the failFrom-th on.
type fakeRenewer struct {
	mu       sync.Mutex
	n        int
	failFrom int
}

func (f *fakeRenewer) Renew(context.Context, time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n++
	if f.failFrom > 0 && f.n >= f.failFrom {
		return lease.ErrNotHeld
	}
	return nil
}

// A read under the hub lease that outlasts it keeps the lease: keepHeld
// renews it every third of its ttl until stopped, and a lost lease (a
// renewal refused) is reported, so what was read is not written.
func TestKeepHeldRenewsALongReadAndReportsALostLease(t *testing.T) {
	ctx := context.Background()
	r := &fakeRenewer{}
	stop := keepHeld(ctx, r, 90*time.Millisecond)
	time.Sleep(200 * time.Millisecond)
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	r.mu.Lock()
	n := r.n
	r.mu.Unlock()
	if n < 3 {
		t.Fatalf("%d renewals over a read of more than twice the ttl, want at least 3 (every third of it)", n)
	}
	time.Sleep(60 * time.Millisecond)
	r.mu.Lock()
	after := r.n
	r.mu.Unlock()
	if after != n {
		t.Fatalf("renewed %d more times after stop", after-n)
	}

	lost := &fakeRenewer{failFrom: 2}
	stop = keepHeld(ctx, lost, 60*time.Millisecond)
	time.Sleep(100 * time.Millisecond)
	if err := stop(); !errors.Is(err, lease.ErrNotHeld) {
		t.Fatalf("stop after a refused renewal: %v, want ErrNotHeld", err)
	}
}

// The reviewer's first scenario: the hub registry policy is a few
// characters under its limit; two joins wait in the mailbox when a
// departure's event takes the lease. Folded together the document would
// pass the limit, and before, the whole write was refused and the departed
// account kept its grant. Now the departure is written (the document only
// shrinks: the departed account leaves, nobody is added, the foreign
// statement stays byte for byte) and leaves the mailbox; the joins stay in
// it for a later holder, and the refusal of what was left out (the size,
// the accounts not added) is recorded under their events.
func TestDepartureFoldedWithJoinsOverTheLimitIsWritten(t *testing.T) {
	departureFoldedWithJoins(t, "")
}

// The same on a registry of policy scope V1 that the declaration lets
// ecr-warden switch to V2: the switch carries what the shrunk write left
// out, so the joins stay in the mailbox and their refusal is recorded (a
// switch once dropped it, and the joins left the mailbox as if written).
func TestDepartureFoldedWithJoinsOverTheLimitSwitchesScope(t *testing.T) {
	w := departureFoldedWithJoins(t, `{"allowSwitchToV2": true}`)
	if got := w.aws.Scope(fHub, fRegion); got != "V2" {
		t.Errorf("registry policy scope %s after the write, want V2", got)
	}
}

// departureFoldedWithJoins runs the scenario with the registryPolicyScope
// JSON scope (a V1 registry when set).
func departureFoldedWithJoins(t *testing.T, scope string) *world {
	ctx := context.Background()
	w, leases, path := mailboxWorld(t, scope)
	if _, err := w.engine.Reconcile(ctx, target(trigger.KindRegistryPolicy, fHub)); err != nil {
		t.Fatal(err)
	}
	root := func(a string) string { return "arn:aws:iam::" + a + ":root" }
	doc, err := policy.Parse(w.aws.RegistryPolicy(fHub, fRegion))
	if err != nil || len(doc.Statements) != 1 {
		t.Fatalf("hub registry policy %v: %v", doc, err)
	}
	foreign := `{"Sid":"TeamReplication","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"ecr:ReplicateImage","Resource":"arn:aws:ecr:` + fRegion + `:` + fHub + `:repository/*"}`
	var f policy.Statement
	if err := json.Unmarshal([]byte(foreign), &f); err != nil {
		t.Fatal(err)
	}
	// Held: the departing account and padding, as close under the limit
	// as one more account allows.
	st := doc.Statements[0].WithoutRaw()
	pr := *st.Principal
	pr.AWS = policy.StringList{root(fTeamA)}
	var text string
	for i := 0; ; i++ {
		pr.AWS = append(pr.AWS, root(fmt.Sprintf("%012d", 700000000000+i)))
		st.Principal = &pr
		next, err := (&policy.Document{Version: doc.Version, Statements: []policy.Statement{f, st}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if len(next) > 10240 {
			break
		}
		text = next
	}
	if len(text)+33 <= 10240 {
		t.Fatalf("held policy is %d characters: one more account would still fit", len(text))
	}
	w.aws.SetRegistryPolicy(fHub, fRegion, text)
	if scope != "" {
		w.aws.SetScope(fHub, fRegion, "V1")
	}
	postChange(t, leases, fTeamB, path, "evt-join-b")
	postChange(t, leases, fThird, path, "evt-join-third")

	ca := Cause{Trigger: audit.Trigger{EventID: "evt-departure"}}
	rep, err := w.engine.HubForAccount(ctx, ca, desired.Account{ID: fTeamA, Status: "SUSPENDED", OUPath: path}, false)
	if err != nil {
		t.Fatalf("HubForAccount: %v", err)
	}
	after := w.aws.RegistryPolicy(fHub, fRegion)
	hasNone(t, "hub registry policy", after, root(fTeamA), root(fTeamB), root(fThird))
	hasAll(t, "hub registry policy", after, foreign, root("700000000000"))
	if rep.Changed != 1 || rep.Refused != 1 {
		t.Errorf("report %+v: want the departure written and the joins refused", rep)
	}
	reg := registryResource("aws", fHub, fRegion).ARN
	applied, refused := map[string]bool{}, map[string]bool{}
	for _, r := range w.records(t) {
		if r.Target.ARN != reg {
			continue
		}
		switch r.Decision {
		case audit.DecisionApplied:
			if r.After == after {
				applied[r.Trigger.EventID] = true
			}
		case audit.DecisionRefused:
			refused[r.Trigger.EventID] = true
			hasAll(t, "refused record", r.Error, "over the 10240-character limit", "2 principal(s) not added", root(fTeamB), root(fThird))
		}
	}
	if !applied["evt-departure"] {
		t.Errorf("no applied record of what AWS holds under the departure; applied under %v", applied)
	}
	for _, ev := range []string{"evt-join-b", "evt-join-third"} {
		if !refused[ev] {
			t.Errorf("no refused record under %s; refused under %v", ev, refused)
		}
	}
	box, err := leases.Peek(ctx, lease.RegistryKey(fHub, fRegion))
	if err != nil {
		t.Fatal(err)
	}
	if box.Has(fTeamA) || !box.Has(fTeamB) || !box.Has(fThird) || box.Open != "" {
		t.Errorf("mailbox %+v: want the departure gone, both joins waiting, closed", box)
	}
	ls, err := leases.TryAcquire(ctx, lease.RegistryKey(fHub, fRegion), time.Minute)
	if err != nil {
		t.Fatalf("the lease is still held: %v", err)
	}
	_ = ls.Release(ctx)
	return w
}

// A round whose hub registry policy is refused (a V1 registry the
// declaration may not switch) still wrote the enumerating hub repository
// policies beside it: their outcomes are stored (applied), not left pending
// as if the holder had died, although the holder abandons the round.
func TestRefusedHubRoundKeepsTheOutcomesOfWritesThatLanded(t *testing.T) {
	ctx := context.Background()
	w, _, path := enumeratingHubWorld(t)
	repo := w.aws.CreateRepository(fHub, fRegion, "apps/web", nil)
	w.aws.SetScope(fHub, fRegion, "V1")

	ca := Cause{Trigger: audit.Trigger{EventID: "evt-join"}}
	rep, err := w.engine.HubForAccount(ctx, ca, desired.Account{ID: fThird, Status: "ACTIVE", OUPath: path}, true)
	if err != nil {
		t.Fatalf("HubForAccount: %v", err)
	}
	if rep.Refused == 0 {
		t.Fatalf("report %+v: want the registry policy refused", rep)
	}
	hasAll(t, "hub repository policy", w.aws.RepositoryPolicy(fHub, fRegion, "apps/web"), "arn:aws:iam::"+fThird+":root")
	got := w.decisions(t, repo)
	if !slices.Contains(got, string(audit.DecisionApplied)) || slices.Contains(got, string(audit.DecisionPending)) {
		t.Errorf("decisions on %s: %v, want its write applied, nothing pending", repo, got)
	}
}

// enumeratingHubWorld is mailboxWorld with a second grant that enumerates
// the OU's accounts in the hub's apps/* repository policies, so account
// events change those policies under the registry's lease too.
func enumeratingHubWorld(t *testing.T) (*world, *lease.Leaser, string) {
	t.Helper()
	localaws.Need(t)
	ctx := context.Background()
	const ou = "o-a1b2c3d4e5/r-a1b2/ou-a1b2-00000001/"
	w := newWorld(t, `"registryPolicyScope": {"allowSwitchToV2": false}, "grants": [
	    {"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "principals": {"ous": ["`+ou+`"]}, "placement": "registry", "principalMode": "enumerate"},
	    {"name": "apps-repo", "repositories": ["apps/*"], "access": "pull", "principals": {"ous": ["`+ou+`"]}, "placement": "repository", "principalMode": "enumerate"}]`)
	db := dynamodb.NewFromConfig(server.Config(region))
	if err := lease.CreateTable(ctx, db, "leases"); err != nil {
		t.Fatal(err)
	}
	leases, err := lease.New(db, "leases", lease.Options{Holder: "test"})
	if err != nil {
		t.Fatal(err)
	}
	w.engine.Exec.Leases = leases
	return w, leases, w.aws.Join(fThird, "workloads")
}

// A departure folded with two joins: the registry policy takes them, but the
// enumerating hub repository policy (a large foreign statement beside it)
// can only be written shrunk (the departed account removed, the join
// withheld, its refusal recorded). The join's grant is in the registry
// policy, so its entry leaves the mailbox, instead of staying to be planned
// and refused again by every later holder; the repository follows at the
// sweep once it fits.
func TestJoinWrittenInTheRegistryLeavesTheMailboxWhenARepositoryIsShrunk(t *testing.T) {
	ctx := context.Background()
	w, leases, path := enumeratingHubWorld(t)
	w.aws.CreateRepository(fHub, fRegion, "apps/web", nil)
	root := func(a string) string { return "arn:aws:iam::" + a + ":root" }
	tg := target(trigger.KindRepository, fHub)
	tg.Repository = "apps/web"
	if _, err := w.engine.Reconcile(ctx, tg); err != nil {
		t.Fatal(err)
	}
	doc, err := policy.Parse(w.aws.RepositoryPolicy(fHub, fRegion, "apps/web"))
	if err != nil || len(doc.Statements) != 1 {
		t.Fatalf("hub repository policy %v: %v", doc, err)
	}
	owned := doc.Statements[0].WithoutRaw()
	pr := *owned.Principal
	pr.AWS = policy.StringList{root(fTeamA)}
	owned.Principal = &pr
	var big policy.Statement
	pad := strings.Repeat("x", 10240-420)
	if err := json.Unmarshal([]byte(`{"Sid":"Big","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"ecr:BatchGetImage","Condition":{"StringEquals":{"aws:PrincipalTag/team":"`+pad+`"}}}`), &big); err != nil {
		t.Fatal(err)
	}
	text, err := (&policy.Document{Version: doc.Version, Statements: []policy.Statement{big, owned}}).Marshal()
	if err != nil || len(text) > 10240 || len(text)+len(root(fThird))+3 <= 10240 {
		t.Fatalf("repository policy of %d characters (%v): want one more account not to fit", len(text), err)
	}
	w.aws.SetRepositoryPolicy(fHub, fRegion, "apps/web", text)
	postChange(t, leases, fThird, path, "evt-join")
	postChange(t, leases, fTeamB, path, "evt-join-b")

	ca := Cause{Trigger: audit.Trigger{EventID: "evt-departure"}}
	rep, err := w.engine.HubForAccount(ctx, ca, desired.Account{ID: fTeamA, Status: "SUSPENDED", OUPath: path}, false)
	if err != nil {
		t.Fatalf("HubForAccount: %v", err)
	}
	hasAll(t, "hub registry policy", w.aws.RegistryPolicy(fHub, fRegion), root(fThird), root(fTeamB))
	repoDoc := w.aws.RepositoryPolicy(fHub, fRegion, "apps/web")
	hasNone(t, "hub repository policy", repoDoc, root(fTeamA), root(fThird), root(fTeamB))
	if rep.Refused == 0 {
		t.Errorf("report %+v: want the repository policy's growth refused", rep)
	}
	box, err := leases.Peek(ctx, lease.RegistryKey(fHub, fRegion))
	if err != nil {
		t.Fatal(err)
	}
	if box.Has(fThird) || box.Has(fTeamB) || box.Has(fTeamA) || box.Open != "" {
		t.Errorf("mailbox %+v: want the joins gone (their registry grants are written), closed", box)
	}
}
