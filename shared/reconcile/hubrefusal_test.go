package reconcile

import (
	"context"
	"encoding/json"
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
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// hubEvent is an account event's hub half under event id: account joins at
// path (present) or leaves (suspended).
func (w *world) hubEvent(t *testing.T, id, account, path string, present bool) Report {
	t.Helper()
	status := "ACTIVE"
	if !present {
		status = "SUSPENDED"
	}
	rep, err := w.engine.HubForAccount(context.Background(), Cause{Trigger: audit.Trigger{EventID: id}}, desired.Account{ID: account, Status: status, OUPath: path}, present)
	if err != nil {
		t.Fatalf("%s: %v", id, err)
	}
	return rep
}

// nearLimitHub sets w's hub registry policy to a foreign statement and the
// enumerating statement listing padding accounts 700000000000, ... so that
// one more account does not fit under the 10,240-character limit.
func nearLimitHub(t *testing.T, w *world) {
	t.Helper()
	if _, err := w.engine.Reconcile(context.Background(), target(trigger.KindRegistryPolicy, fHub)); err != nil {
		t.Fatal(err)
	}
	doc, err := policy.Parse(w.aws.RegistryPolicy(fHub, fRegion))
	if err != nil || len(doc.Statements) != 1 {
		t.Fatalf("hub registry policy %v: %v", doc, err)
	}
	var f policy.Statement
	if err := json.Unmarshal([]byte(`{"Sid":"TeamReplication","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::999999999999:root"},"Action":"ecr:ReplicateImage","Resource":"*"}`), &f); err != nil {
		t.Fatal(err)
	}
	st := doc.Statements[0].WithoutRaw()
	pr := *st.Principal
	pr.AWS = nil
	var text string
	for i := 0; ; i++ {
		pr.AWS = append(pr.AWS, "arn:aws:iam::"+fmt.Sprintf("%012d", 700000000000+i)+":root")
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
	w.aws.SetRegistryPolicy(fHub, fRegion, text)
}

// A join that does not fit an over-limit hub registry policy waits in the
// mailbox, and every later holder of the lease plans it again (so it is
// applied once there is room), but its refusal is recorded once: a later
// holder that reaches the same refusal on the same policy text records
// nothing under the waiting join's event and names it, with the id of the
// record that refused it, in its own refusal. Once departures make room,
// the waiting joins are written under their own events and leave the
// mailbox.
func TestWaitingJoinRefusalIsRecordedOnceAndAppliedWhenRoomAppears(t *testing.T) {
	ctx := context.Background()
	w, leases, path := mailboxWorld(t, "")
	nearLimitHub(t, w)
	root := func(a string) string { return "arn:aws:iam::" + a + ":root" }
	reg := registryResource("aws", fHub, fRegion).ARN
	key := lease.RegistryKey(fHub, fRegion)
	event := func(id, account string, present bool) Report {
		t.Helper()
		return w.hubEvent(t, id, account, path, present)
	}
	// decisions are the registry policy's records under each event.
	decisions := func() map[string][]audit.Record {
		out := map[string][]audit.Record{}
		for _, r := range w.records(t) {
			if r.Target.ARN == reg {
				out[r.Trigger.EventID] = append(out[r.Trigger.EventID], r)
			}
		}
		return out
	}
	// summary is records as "decision op" lines, for failure messages.
	summary := func(recs []audit.Record) []string {
		var out []string
		for _, r := range recs {
			out = append(out, string(r.Decision)+" "+r.Op)
		}
		return out
	}
	refusedUnder := func(id string) []audit.Record {
		var out []audit.Record
		for _, r := range decisions()[id] {
			if r.Decision == audit.DecisionRefused {
				out = append(out, r)
			}
		}
		return out
	}

	// 1. Team B joins: refused (nothing to remove, the growth refused whole).
	if rep := event("evt-join-b", fTeamB, true); rep.Refused == 0 {
		t.Fatalf("join of %s: report %+v, want it refused", fTeamB, rep)
	}
	first := refusedUnder("evt-join-b")
	if len(first) != 1 {
		t.Fatalf("%d refused records under evt-join-b, want 1", len(first))
	}
	box, err := leases.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !box.Has(fTeamB) || len(box.Entries) != 1 || !strings.HasSuffix(box.Entries[0].Refused, " "+first[0].ID) {
		t.Fatalf("mailbox %+v: want %s's join waiting, marked refused by record %s", box, fTeamB, first[0].ID)
	}

	// 2. The third member joins: both refused, B's refusal not recorded
	// again but named in the new one.
	event("evt-join-third", fThird, true)
	if got := refusedUnder("evt-join-b"); len(got) != 1 {
		t.Errorf("%d refused records under evt-join-b after a second holder, want still 1", len(got))
	}
	third := refusedUnder("evt-join-third")
	if len(third) != 1 {
		t.Fatalf("%d refused records under evt-join-third, want 1", len(third))
	}
	hasAll(t, "the second holder's refusal", third[0].Error, "over the 10240-character limit", "still waiting in the mailbox", fTeamB+" (record "+first[0].ID+")")

	// 3. A padding account departs: its removal is written (shrunk), the
	// joins still do not fit on the same text: nothing more under them.
	if rep := event("evt-departure-1", "700000000000", false); rep.Changed != 1 {
		t.Errorf("first departure: report %+v, want its removal written", rep)
	}
	hasNone(t, "hub registry policy", w.aws.RegistryPolicy(fHub, fRegion), root("700000000000"), root(fTeamB), root(fThird))
	for _, id := range []string{"evt-join-b", "evt-join-third"} {
		if got := decisions()[id]; len(got) != 1 {
			t.Errorf("%d records under %s after the departure's shrunk write, want only its one refusal: %v", len(got), id, summary(got))
		}
	}
	dep := refusedUnder("evt-departure-1")
	if len(dep) != 1 {
		t.Fatalf("%d refused records under evt-departure-1, want 1 (what its write left out)", len(dep))
	}
	hasAll(t, "the departure's refusal", dep[0].Error, "still waiting in the mailbox", fTeamB+" (record "+first[0].ID+")", fThird+" (record "+third[0].ID+")")
	box, err = leases.Peek(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !box.Has(fTeamB) || !box.Has(fThird) || box.Has("700000000000") {
		t.Fatalf("mailbox %+v: want both joins waiting, the departure gone", box)
	}

	// 4. A second departure makes room for both: they are written under
	// their own events and leave the mailbox.
	event("evt-departure-2", "700000000001", false)
	hasAll(t, "hub registry policy", w.aws.RegistryPolicy(fHub, fRegion), root(fTeamB), root(fThird))
	for _, id := range []string{"evt-join-b", "evt-join-third"} {
		applied := false
		for _, r := range decisions()[id] {
			applied = applied || r.Decision == audit.DecisionApplied
		}
		if !applied || len(refusedUnder(id)) != 1 {
			t.Errorf("records under %s: %v, want its one refusal and the write that granted it", id, summary(decisions()[id]))
		}
	}
	if box, err = leases.Peek(ctx, key); err != nil || len(box.Entries) != 0 || box.Open != "" {
		t.Errorf("mailbox %+v (%v): want it empty and closed", box, err)
	}
	all := decisions()
	t.Logf("registry policy records: %d under evt-join-b, %d under evt-join-third, %d in all",
		len(all["evt-join-b"]), len(all["evt-join-third"]), len(all["evt-join-b"])+len(all["evt-join-third"])+len(all["evt-departure-1"])+len(all["evt-departure-2"]))
}

// quietStaleRound runs a holder whose round 1 plans a waiting join that an
// earlier holder refused and marked, as that round's first change: the
// third member's join, posted ten minutes ago (a stale entry), is refused
// with team B's join and marked; then team B leaves (nothing to remove:
// unchanged), the stale entry's account cannot be read again in that
// holder's round 0, and late posts before its first close, so a round 1
// reads the stale entry again and plans it (with what late posted) on the
// same text. It returns the leaves' report, the registry policy's refused
// records under an event, and the first refusal under evt-stale.
func quietStaleRound(t *testing.T, late func(ctx context.Context, leases *lease.Leaser, path string)) (*lease.Leaser, Report, func(string) []audit.Record, audit.Record) {
	t.Helper()
	w, leases, path := mailboxWorld(t, "")
	nearLimitHub(t, w)
	reg := registryResource("aws", fHub, fRegion).ARN
	past, err := lease.New(dynamodb.NewFromConfig(server.Config(region)), "leases",
		lease.Options{Holder: "dead", Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }})
	if err != nil {
		t.Fatal(err)
	}
	postChange(t, past, fThird, path, "evt-stale")
	event := func(id, account string, present bool) Report {
		t.Helper()
		return w.hubEvent(t, id, account, path, present)
	}
	refusedUnder := func(id string) []audit.Record {
		var out []audit.Record
		for _, r := range w.records(t) {
			if r.Target.ARN == reg && r.Trigger.EventID == id && r.Decision == audit.DecisionRefused {
				out = append(out, r)
			}
		}
		return out
	}

	event("evt-join-b", fTeamB, true)
	first := refusedUnder("evt-stale")
	if len(first) != 1 {
		t.Fatalf("%d refused records under evt-stale, want 1", len(first))
	}

	var mu sync.Mutex
	failed := false
	w.aws.Fail(func(c fakeaws.Call) error {
		if in, ok := c.Input.(*organizations.DescribeAccountInput); ok && aws.ToString(in.AccountId) == fThird {
			mu.Lock()
			defer mu.Unlock()
			if !failed {
				failed = true
				return fakeaws.APIError("AccessDeniedException", "not allowed")
			}
		}
		return nil
	})
	lc := &lateClose{Leaser: leases, post: func(ctx context.Context) { late(ctx, leases, path) }}
	w.engine.Exec.Leases = lc
	rep := event("evt-b-leaves", fTeamB, false)
	if !lc.once || !failed {
		t.Fatalf("closed %v, stale re-read refused %v: the scenario did not happen", lc.once, failed)
	}
	if got := refusedUnder("evt-stale"); len(got) != 1 {
		for _, r := range got {
			t.Logf("refused under evt-stale: %s", r.Error)
		}
		t.Errorf("%d refused records under evt-stale, want still 1: its refusal was recorded before on the same text", len(got))
	}
	return leases, rep, refusedUnder, first[0]
}

// A waiting join whose refusal was recorded (and marked) by an earlier
// holder, back as the first change of a later round beside a new join,
// does not lead that round's refused record (which would record its
// refusal again, under its own event, with a note saying it was not
// recorded again): the new join leads, and its record names the waiting
// join with the id of its first refusal.
func TestQuietStaleJoinDoesNotLeadALaterRound(t *testing.T) {
	leases, _, refusedUnder, first := quietStaleRound(t, func(_ context.Context, l *lease.Leaser, path string) {
		postChange(t, l, fTeamA, path, "evt-join-a")
	})
	joinA := refusedUnder("evt-join-a")
	if len(joinA) != 1 {
		t.Fatalf("%d refused records under evt-join-a, want 1", len(joinA))
	}
	hasAll(t, "team A's refusal", joinA[0].Error, "over the 10240-character limit", "still waiting in the mailbox", fThird+" (record "+first.ID+")")
	hasNone(t, "team A's refusal", joinA[0].Error, fTeamA+" (record")
	box, err := leases.Peek(context.Background(), lease.RegistryKey(fHub, fRegion))
	if err != nil {
		t.Fatal(err)
	}
	if !box.Has(fThird) || !box.Has(fTeamA) {
		t.Errorf("mailbox %+v: want both joins waiting", box)
	}
	for _, en := range box.Entries {
		switch en.Subject {
		case fThird:
			if !strings.HasSuffix(en.Refused, " "+first.ID) {
				t.Errorf("stale entry's mark %q, want still the first refusal %s", en.Refused, first.ID)
			}
		case fTeamA:
			if !strings.HasSuffix(en.Refused, " "+joinA[0].ID) {
				t.Errorf("team A's mark %q, want its refusal %s", en.Refused, joinA[0].ID)
			}
		}
	}
}

// When every change of a later round is a waiting join refused before the
// same way on the same text (here the post that made the holder drain again
// is a repeat of its own, already written), nothing new is recorded: the
// plan is refused again, unrecorded, and the entry keeps its mark.
func TestAllQuietLaterRoundRecordsNothingNew(t *testing.T) {
	leases, rep, _, first := quietStaleRound(t, func(ctx context.Context, l *lease.Leaser, path string) {
		// team B's departure delivered again: the same body as the holder's own post
		body, err := json.Marshal(hubChange{Account: desired.Account{ID: fTeamB, Status: "SUSPENDED", OUPath: path}, Present: false,
			Cause: apply.Cause{Trigger: audit.Trigger{EventID: "evt-b-leaves"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Post(ctx, lease.RegistryKey(fHub, fRegion), fTeamB, string(body)); err != nil {
			t.Fatal(err)
		}
	})
	if rep.Refused == 0 {
		t.Errorf("report %+v: want the round's refusal counted", rep)
	}
	box, err := leases.Peek(context.Background(), lease.RegistryKey(fHub, fRegion))
	if err != nil {
		t.Fatal(err)
	}
	if !box.Has(fThird) || box.Open != "" {
		t.Errorf("mailbox %+v: want the stale join waiting, closed", box)
	}
	for _, en := range box.Entries {
		if en.Subject == fThird && !strings.HasSuffix(en.Refused, " "+first.ID) {
			t.Errorf("stale entry's mark %q, want still the first refusal %s", en.Refused, first.ID)
		}
	}
}

// The refusal mark only keeps a waiting join's registry policy refusal from
// being recorded again: a hub repository policy write of a later round that
// grants the waiting join's account (a repository created since its
// refusal) is recorded under the join's event too, like any write that
// answers it. One that does not touch its account (a repository that
// already grants it) is not.
func TestQuietJoinIsRecordedUnderARepositoryWriteThatGrantsIt(t *testing.T) {
	ctx := context.Background()
	w, leases, path := enumeratingHubWorld(t)
	w.aws.SetScope(fHub, fRegion, "V1")
	reg := registryResource("aws", fHub, fRegion).ARN
	root := func(a string) string { return "arn:aws:iam::" + a + ":root" }
	web := w.aws.CreateRepository(fHub, fRegion, "apps/web", nil)
	event := func(id, account string) {
		t.Helper()
		if _, err := w.engine.HubForAccount(ctx, Cause{Trigger: audit.Trigger{EventID: id}}, desired.Account{ID: account, Status: "ACTIVE", OUPath: path}, true); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	// under is the decisions of records on resource under event id.
	under := func(id, resource string) []string {
		var out []string
		for _, r := range w.records(t) {
			if r.Target.ARN == resource && r.Trigger.EventID == id {
				out = append(out, string(r.Decision))
			}
		}
		return out
	}

	// 1. The third member joins: the registry policy is refused (a V1
	// registry the declaration may not switch), apps/web grants it.
	event("evt-join-third", fThird)
	if got := under("evt-join-third", reg); len(got) != 1 || got[0] != string(audit.DecisionRefused) {
		t.Fatalf("registry records under evt-join-third: %v, want one refusal", got)
	}
	hasAll(t, "apps/web policy", w.aws.RepositoryPolicy(fHub, fRegion, "apps/web"), root(fThird))
	box, err := leases.Peek(ctx, lease.RegistryKey(fHub, fRegion))
	if err != nil || !box.Has(fThird) {
		t.Fatalf("mailbox %+v (%v): want the third member's join waiting", box, err)
	}
	webBefore := len(under("evt-join-third", web))

	// 2. A repository is created; team B joins: the registry policy is
	// refused the same way (the waiting join is not recorded again), and
	// both repositories are written.
	api := w.aws.CreateRepository(fHub, fRegion, "apps/api", nil)
	event("evt-join-b", fTeamB)
	if got := under("evt-join-third", reg); len(got) != 1 {
		t.Errorf("registry records under evt-join-third: %v, want still its one refusal", got)
	}
	hasAll(t, "apps/api policy", w.aws.RepositoryPolicy(fHub, fRegion, "apps/api"), root(fThird), root(fTeamB))
	hasAll(t, "apps/web policy", w.aws.RepositoryPolicy(fHub, fRegion, "apps/web"), root(fThird), root(fTeamB))
	if got := under("evt-join-third", api); !slices.Contains(got, string(audit.DecisionApplied)) {
		t.Errorf("apps/api records under evt-join-third: %v, want the write that granted its account", got)
	}
	if got := under("evt-join-b", api); !slices.Contains(got, string(audit.DecisionApplied)) {
		t.Errorf("apps/api records under evt-join-b: %v, want the write", got)
	}
	if got := under("evt-join-third", web); len(got) != webBefore {
		t.Errorf("apps/web records under evt-join-third: %v, want none new: the write added only team B", got)
	}
	if got := under("evt-join-b", web); !slices.Contains(got, string(audit.DecisionApplied)) {
		t.Errorf("apps/web records under evt-join-b: %v, want the write", got)
	}
}
