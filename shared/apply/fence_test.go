package apply_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

var server *localaws.Server

func TestMain(m *testing.M) { localaws.Main(m, &server) }

// registry is one registry policy as AWS holds it, written whole (as
// PutRegistryPolicy does) with no revision check. Writes by the writer named
// slow are throttled: they land only after slowFor, unless the caller's
// context ends first (then, like an SDK retry loop cut by its deadline, the
// request is never sent).
type registry struct {
	mu      sync.Mutex
	text    string
	slow    string
	slowFor time.Duration
	writes  []string
}

func (r *registry) read() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.text
}

func (r *registry) write(ctx context.Context, who, text string) error {
	r.mu.Lock()
	slow := who == r.slow
	if slow {
		r.slow = "" // only the first write of that writer is throttled
	}
	r.mu.Unlock()
	if slow {
		select {
		case <-time.After(r.slowFor):
		case <-ctx.Done():
			return fmt.Errorf("putting registry policy: throttled until the deadline: %w", ctx.Err())
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.text = text
	r.writes = append(r.writes, who)
	return nil
}

const (
	fenceRegistry = "arn:aws:ecr:us-east-1:111111111111:registry"
	fencePrefix   = "EcrWarden"
)

func root(id string) string { return "arn:aws:iam::" + id + ":root" }

// principals returns the accounts the owned pull statement names.
func principals(t *testing.T, text string) []string {
	t.Helper()
	if text == "" {
		return nil
	}
	doc, err := policy.Parse(text)
	if err != nil {
		t.Fatalf("parsing %s: %v", text, err)
	}
	var out []string
	for _, s := range doc.Statements {
		if s.Sid == fencePrefix+"Pull" && s.Principal != nil {
			for _, p := range s.Principal.AWS {
				out = append(out, strings.TrimSuffix(strings.TrimPrefix(p, "arn:aws:iam::"), ":root"))
			}
		}
	}
	slices.Sort(out)
	return out
}

func pullStatement(accounts []string) []policy.Statement {
	if len(accounts) == 0 {
		return nil
	}
	slices.Sort(accounts)
	roots := make(policy.StringList, len(accounts))
	for i, a := range accounts {
		roots[i] = root(a)
	}
	return []policy.Statement{{Sid: fencePrefix + "Pull", Effect: "Allow", Principal: &policy.Principal{AWS: roots},
		Action: policy.StringList{"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"}, Resource: policy.StringList{"arn:aws:ecr:us-east-1:111111111111:repository/*"}}}
}

// accountStep is what an account event does to the hub's registry policy in
// enumerate mode: add (join) or remove (departure) one account's root to
// what the policy holds now, as reconcile's incremental plan does.
func accountStep(t *testing.T, reg *registry, who, account string, join bool) apply.Step {
	return apply.Step{
		LeaseKey: lease.RegistryKey("111111111111", "us-east-1"),
		Target:   audit.Target{ARN: fenceRegistry, AccountID: "111111111111", Region: "us-east-1", Kind: "ECRRegistryPolicy"},
		Trigger:  audit.Trigger{EventID: who, EventType: "account"},
		Plan: func(context.Context) (apply.Change, error) {
			cur := reg.read()
			set := principals(t, cur)
			set = slices.DeleteFunc(set, func(a string) bool { return a == account })
			if join {
				set = append(set, account)
			}
			c, err := plan.Document(policy.ECRRegistryPolicy, fenceRegistry, cur, pullStatement(set), fencePrefix)
			if err != nil {
				return apply.Change{}, err
			}
			return apply.FromDocument(c), nil
		},
		Write: func(ctx context.Context, c apply.Change) error { return reg.write(ctx, who, c.After) },
		// A fenced write got no answer: the executor reads the policy again
		// to record what AWS holds.
		Reread: apply.DocumentReread(func(context.Context) (string, error) { return reg.read(), nil }),
	}
}

// fenceExecutor is one invocation's executor: its own leaser (holder name)
// over the shared lease table, and a real audit trail over the shared audit
// table, both DynamoDB on the local AWS.
func fenceExecutor(t *testing.T, db *dynamodb.Client, holder string, ttl time.Duration) *apply.Executor {
	t.Helper()
	ls, err := lease.New(db, "fence-leases", lease.Options{Holder: holder, MaxWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	trail, err := audit.New(db, "fence-audit", audit.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Function: holder})
	if err != nil {
		t.Fatal(err)
	}
	return &apply.Executor{Trail: trail, Leases: ls, LeaseTTL: ttl}
}

// Finding 1: writer A holds the registry policy's lease and its write is
// throttled for longer than the lease lives (70 s against 60 s in AWS; here
// 5.5 s against 2 s). Writer B takes the lapsed lease, re-reads and writes.
// Without a fence A's write lands after B's and undoes it: for a join, B's
// account loses its grant; for a departure, the departed account keeps its
// access. Both audit records said applied. With the fence, A's write stops
// before its lease lapses, A re-plans under a new lease, and the document
// ends with both changes.
func TestSlowWriteAgainstLapsedLease(t *testing.T) {
	localaws.Need(t)
	cases := []struct {
		name       string
		initial    []string
		a, b       string // accounts of writer A's and writer B's events
		aJoin      bool
		bJoin      bool
		want       []string
		lostReason string
	}{
		{name: "grant-add", a: "222222222222", aJoin: true, b: "333333333333", bJoin: true,
			want: []string{"222222222222", "333333333333"}, lostReason: "account 333333333333's grant was lost"},
		{name: "departure", initial: []string{"444444444444", "555555555555"}, a: "222222222222", aJoin: true, b: "444444444444", bJoin: false,
			want: []string{"222222222222", "555555555555"}, lostReason: "account 444444444444 left the organization and kept its access"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := server.Reset(); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			db := dynamodb.NewFromConfig(server.Config("us-east-1"))
			if err := lease.CreateTable(ctx, db, "fence-leases"); err != nil {
				t.Fatal(err)
			}
			if err := audit.CreateTable(ctx, db, "fence-audit"); err != nil {
				t.Fatal(err)
			}
			const ttl = 2 * time.Second
			reg := &registry{slow: "A", slowFor: 5500 * time.Millisecond}
			if len(tc.initial) > 0 {
				doc := policy.Document{Version: policy.VersionCurrent, Statements: pullStatement(tc.initial)}
				text, err := doc.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				reg.text = text
			}
			a := fenceExecutor(t, db, "account/A", ttl)
			b := fenceExecutor(t, db, "account/B", ttl)

			var wg sync.WaitGroup
			var resA, resB apply.Result
			var errA, errB error
			wg.Add(2)
			go func() {
				defer wg.Done()
				resA, errA = a.Run(ctx, accountStep(t, reg, "A", tc.a, tc.aJoin))
			}()
			go func() {
				defer wg.Done()
				// B's event arrives while A's write is in flight.
				time.Sleep(300 * time.Millisecond)
				resB, errB = b.Run(ctx, accountStep(t, reg, "B", tc.b, tc.bJoin))
			}()
			wg.Wait()
			got := principals(t, reg.read())
			if !slices.Equal(got, tc.want) {
				t.Fatalf("registry policy grants %v, want %v (%s); writes in order: %v", got, tc.want, tc.lostReason, reg.writes)
			}
			if errA != nil || errB != nil {
				t.Fatalf("runs failed: A %v (%s), B %v (%s)", errA, resA.Outcome, errB, resB.Outcome)
			}
			if resA.Outcome != apply.Changed || resB.Outcome != apply.Changed {
				t.Errorf("outcomes: A %s, B %s; want both changed", resA.Outcome, resB.Outcome)
			}
			// Every applied record's document is what AWS held after it, in
			// order: the last applied record is what AWS holds now.
			trail, _ := audit.New(db, "fence-audit", audit.Options{Logger: slog.New(slog.DiscardHandler)})
			recs, err := trail.History(ctx, fenceRegistry, 0)
			if err != nil {
				t.Fatal(err)
			}
			var applied []audit.Record
			var fenced int
			for _, r := range recs {
				switch {
				case r.Decision == audit.DecisionApplied:
					applied = append(applied, r)
				case r.Decision == audit.DecisionFailed && strings.Contains(r.Error, "fenced by lease"):
					fenced++
				}
			}
			if len(applied) == 0 || !slices.Equal(principals(t, applied[len(applied)-1].After), tc.want) {
				t.Errorf("the last applied record does not say what AWS holds (%v): %+v", tc.want, applied)
			}
			if fenced != 1 {
				t.Errorf("want exactly one write recorded as fenced (A's first), got %d: %+v", fenced, recs)
			}
		})
	}
}

func fenceTables(t *testing.T) *dynamodb.Client {
	t.Helper()
	localaws.Need(t)
	if err := server.Reset(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db := dynamodb.NewFromConfig(server.Config("us-east-1"))
	if err := lease.CreateTable(ctx, db, "fence-leases"); err != nil {
		t.Fatal(err)
	}
	if err := audit.CreateTable(ctx, db, "fence-audit"); err != nil {
		t.Fatal(err)
	}
	return db
}

func docOf(t *testing.T, accounts ...string) string {
	t.Helper()
	doc := policy.Document{Version: policy.VersionCurrent, Statements: pullStatement(accounts)}
	text, err := doc.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// A write whose process died between its intent and its outcome leaves a
// pending record. The next writer of the document settles it once it is
// older than the function timeout: applied when AWS holds its document,
// failed otherwise, each noting what was found. A fresh pending record (its
// writer may still be running) is left alone.
func TestNextWriterSettlesStalePending(t *testing.T) {
	localaws.Need(t)
	db := fenceTables(t)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	past, err := audit.New(db, "fence-audit", audit.Options{Logger: quiet, Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	target := audit.Target{ARN: fenceRegistry, AccountID: "111111111111", Region: "us-east-1", Kind: "ECRRegistryPolicy"}
	held := docOf(t, "222222222222")
	landed, err := past.Begin(ctx, audit.Record{Op: "create", Target: target, After: held})
	if err != nil {
		t.Fatal(err)
	}
	lost, err := past.Begin(ctx, audit.Record{Op: "update", Target: target, After: docOf(t, "999999999999")})
	if err != nil {
		t.Fatal(err)
	}
	now, _ := audit.New(db, "fence-audit", audit.Options{Logger: quiet})
	fresh, err := now.Begin(ctx, audit.Record{Op: "update", Target: target, After: docOf(t, "888888888888")})
	if err != nil {
		t.Fatal(err)
	}

	reg := &registry{text: held}
	x := fenceExecutor(t, db, "account/C", 10*time.Second)
	if _, err := x.Run(ctx, accountStep(t, reg, "C", "333333333333", true)); err != nil {
		t.Fatal(err)
	}
	recs, err := now.History(ctx, fenceRegistry, 0)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]audit.Record{}
	for _, r := range recs {
		byID[r.ID] = r
	}
	if r := byID[landed.Record().ID]; r.Decision != audit.DecisionApplied || !strings.Contains(r.Error, "AWS holds this write's document") {
		t.Errorf("pending write whose document AWS holds: %s %q, want applied with a note", r.Decision, r.Error)
	}
	if r := byID[lost.Record().ID]; r.Decision != audit.DecisionFailed || !strings.Contains(r.Error, "does not hold") || !strings.Contains(r.Error, "222222222222") {
		t.Errorf("pending write whose document AWS does not hold: %s %q, want failed naming what AWS held", r.Decision, r.Error)
	}
	if r := byID[fresh.Record().ID]; r.Decision != audit.DecisionPending {
		t.Errorf("a pending record younger than the function timeout was settled: %s", r.Decision)
	}
}

// A writer that finds AWS not holding what the document's last applied
// record wrote (a late write, or a hand edit) records it as diverged, with
// both documents, and plans the document's full desired state instead of
// an incremental change on top of what AWS holds.
func TestDivergenceFromLastAppliedPlansFullState(t *testing.T) {
	localaws.Need(t)
	db := fenceTables(t)
	ctx := context.Background()
	x := fenceExecutor(t, db, "account/D", 10*time.Second)
	reg := &registry{}
	// A backfill wrote the full picture: 222 and 333.
	full := func(ctx context.Context) (apply.Change, error) {
		c, err := plan.Document(policy.ECRRegistryPolicy, fenceRegistry, reg.read(), pullStatement([]string{"222222222222", "333333333333", "444444444444"}), fencePrefix)
		return apply.FromDocument(c), err
	}
	first := accountStep(t, reg, "D", "333333333333", true)
	reg.text = docOf(t, "222222222222")
	if _, err := x.Run(ctx, first); err != nil {
		t.Fatal(err)
	}
	// Then something outside the protocol put 999 there and dropped 333.
	reg.text = docOf(t, "222222222222", "999999999999")
	step := accountStep(t, reg, "D", "444444444444", true)
	step.FullPlan = full
	res, err := x.Run(ctx, step)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := principals(t, reg.read()), []string{"222222222222", "333333333333", "444444444444"}; !slices.Equal(got, want) {
		t.Fatalf("after divergence the document grants %v, want the full desired state %v", got, want)
	}
	if res.Outcome != apply.Changed {
		t.Errorf("outcome %s", res.Outcome)
	}
	trail, _ := audit.New(db, "fence-audit", audit.Options{Logger: slog.New(slog.DiscardHandler)})
	recs, _ := trail.History(ctx, fenceRegistry, 0)
	var diverged []audit.Record
	for _, r := range recs {
		if r.Decision == audit.DecisionDiverged {
			diverged = append(diverged, r)
		}
	}
	if len(diverged) != 1 || !slices.Equal(principals(t, diverged[0].Before), []string{"222222222222", "333333333333"}) ||
		!slices.Equal(principals(t, diverged[0].After), []string{"222222222222", "999999999999"}) {
		t.Fatalf("want one diverged record with the recorded and the found document, got %+v", diverged)
	}
}

// A write that landed while its outcome is still being stored (a hub
// mailbox holder stores a round's outcomes while it releases the lease, so
// the next writer can take the lease first) is the document's last write:
// the next writer finds AWS holding that young pending record's document,
// records no divergence and plans on top of it.
func TestYoungPendingRecordThatAWSHoldsIsTheLastWrite(t *testing.T) {
	localaws.Need(t)
	db := fenceTables(t)
	ctx := context.Background()
	x := fenceExecutor(t, db, "account/F", 10*time.Second)
	reg := &registry{text: docOf(t, "222222222222")}
	if _, err := x.Run(ctx, accountStep(t, reg, "F", "333333333333", true)); err != nil {
		t.Fatal(err)
	}
	trail, _ := audit.New(db, "fence-audit", audit.Options{Logger: slog.New(slog.DiscardHandler)})
	landed := docOf(t, "222222222222", "333333333333", "555555555555")
	if _, err := trail.Begin(ctx, audit.Record{Op: "update", Trigger: audit.Trigger{EventID: "holder", EventType: "account"},
		Target: audit.Target{ARN: fenceRegistry, AccountID: "111111111111", Region: "us-east-1", Kind: "ECRRegistryPolicy"},
		Before: reg.read(), After: landed}); err != nil {
		t.Fatal(err)
	}
	reg.text = landed
	step := accountStep(t, reg, "G", "444444444444", true)
	step.FullPlan = func(context.Context) (apply.Change, error) {
		t.Error("the full desired state was planned: the landed write was taken for a divergence")
		return apply.Change{}, errors.New("no full plan expected")
	}
	if _, err := x.Run(ctx, step); err != nil {
		t.Fatal(err)
	}
	if got, want := principals(t, reg.read()), []string{"222222222222", "333333333333", "444444444444", "555555555555"}; !slices.Equal(got, want) {
		t.Fatalf("document grants %v, want %v", got, want)
	}
	recs, _ := trail.History(ctx, fenceRegistry, 0)
	for _, r := range recs {
		if r.Decision == audit.DecisionDiverged {
			t.Fatalf("diverged record %+v for a write that landed", r)
		}
	}
}

// A foreign statement the guard cannot vouch for is recorded as
// foreign-unsafe (its Sid and why) while the write that removes
// ecr-warden's statement next to it goes ahead.
func TestForeignUnsafeIsAuditedNotBlocking(t *testing.T) {
	localaws.Need(t)
	db := fenceTables(t)
	ctx := context.Background()
	foreign := `{"Sid":"VpceOnly","Effect":"Allow","Principal":"*","Action":"ecr:BatchGetImage","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}`
	owned := docOf(t, "222222222222")
	reg := &registry{text: strings.Replace(owned, `"Statement":[`, `"Statement":[`+foreign+`,`, 1)}
	step := accountStep(t, reg, "E", "222222222222", false) // the last grant is revoked
	step.Plan = func(context.Context) (apply.Change, error) {
		c, err := plan.Owner{Prefix: fencePrefix, OrgID: "o-a1b2c3d4e5"}.Document(policy.ECRRegistryPolicy, fenceRegistry, reg.read(), nil)
		return apply.FromDocument(c), err
	}
	x := fenceExecutor(t, db, "account/E", 10*time.Second)
	res, err := x.Run(ctx, step)
	if err != nil || res.Outcome != apply.Changed {
		t.Fatalf("revocation: %s %v", res.Outcome, err)
	}
	if got := reg.read(); strings.Contains(got, fencePrefix) || !strings.Contains(got, foreign) {
		t.Fatalf("after revocation: %s", got)
	}
	trail, _ := audit.New(db, "fence-audit", audit.Options{Logger: slog.New(slog.DiscardHandler)})
	recs, _ := trail.History(ctx, fenceRegistry, 0)
	var unsafe []audit.Record
	for _, r := range recs {
		if r.Decision == audit.DecisionForeignUnsafe {
			unsafe = append(unsafe, r)
		}
	}
	if len(unsafe) != 1 || !strings.Contains(unsafe[0].Error, `Sid "VpceOnly"`) || !strings.Contains(unsafe[0].Error, "no aws:PrincipalOrgID") {
		t.Fatalf("foreign-unsafe records: %+v", unsafe)
	}
}
