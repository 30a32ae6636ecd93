package reconcile

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/lease"
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

// A hub registry plan the declaration refuses (a V1 registry it may not
// switch) leaves every change in the mailbox for a later holder, stops
// hand-offs, frees the lease and records the refusal under each event whose
// change it held: the holder's own, one left waiting before it took the
// lease, and one handed off after its last read, which was told nothing
// else.
func TestRefusedHubPlanIsRecordedUnderEveryHandedOffEvent(t *testing.T) {
	localaws.Need(t)
	ctx := context.Background()
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	const ou = "o-a1b2c3d4e5/r-a1b2/ou-a1b2-00000001/" // fakeaws's first OU, "workloads"
	w := newWorld(t, `"registryPolicyScope": {"allowSwitchToV2": false},
	  "grants": [{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "principals": {"ous": ["`+ou+`"]},
	    "placement": "registry", "principalMode": "enumerate"}]`)
	w.aws.SetScope(fHub, fRegion, "V1")
	const late = "444444444444"
	path := w.aws.Join(late, "workloads")
	db := dynamodb.NewFromConfig(server.Config(region))
	if err := lease.CreateTable(ctx, db, "leases"); err != nil {
		t.Fatal(err)
	}
	leases, err := lease.New(db, "leases", lease.Options{Holder: "test"})
	if err != nil {
		t.Fatal(err)
	}
	key := lease.RegistryKey(fHub, fRegion)
	post := func(ctx context.Context, account, event string) {
		body, err := json.Marshal(hubChange{Account: desired.Account{ID: account, Status: "ACTIVE", OUPath: path}, Present: true,
			Cause: apply.Cause{Trigger: audit.Trigger{EventID: event}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := leases.Post(ctx, key, account, string(body)); err != nil {
			t.Fatal(err)
		}
	}
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
