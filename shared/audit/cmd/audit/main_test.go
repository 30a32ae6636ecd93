package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"

	// Defines -update, so `go test ./... -update` (regenerating golden files) runs this package too.
	_ "github.com/ecr-warden/ecr-warden/shared/devtools/golden"
)

// The command reads a resource's history by ARN and by name through the
// default credential chain pointed at the local AWS by AWS_ENDPOINT_URL,
// exactly as `make audit RESOURCE=...` runs it.
func TestAuditCommandPrintsHistory(t *testing.T) {
	ctx := context.Background()
	s := commandEnv(t, "audit-cli")

	db := dynamodb.NewFromConfig(s.Config("us-east-1"))
	if err := audit.CreateTable(ctx, db, "audit-cli"); err != nil {
		t.Fatal(err)
	}
	tr, err := audit.New(db, "audit-cli", audit.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Writer: "arn:aws:sts::111111111111:assumed-role/ecr-warden-repository/repository", DeclarationSHA256: strings.Repeat("ab", 32)})
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:ecr:us-east-1:222222222222:repository/shared/app"
	p, err := tr.Begin(ctx, audit.Record{
		Op:      "update",
		Trigger: audit.Trigger{EventID: "6f1c2a90-aaaa", EventType: "AWS API Call via CloudTrail/CreateRepository", Source: "aws.ecr"},
		Actor:   audit.Actor{ARN: "arn:aws:sts::222222222222:assumed-role/dev/alice"},
		Target:  audit.Target{ARN: arn, Kind: "ECRRepositoryPolicy", Name: "shared/app"},
		After:   "{}", Diff: "+ EcrWardenPull: allow pull to o-a1b2c3d4e5",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Failed(ctx, errors.New("ThrottlingException: Rate exceeded")); err != nil {
		t.Fatal(err)
	}

	for _, res := range []string{arn, "shared/app"} {
		var out bytes.Buffer
		if err := run(ctx, []string{"-resource", res, "-v"}, &out, io.Discard); err != nil {
			t.Fatalf("audit -resource %s: %v", res, err)
		}
		got := out.String()
		t.Logf("audit -resource %s -v:\n%s", res, got)
		for _, want := range []string{"DECISION", "failed", "update ECRRepositoryPolicy", "CreateRepository (6f1c2a90)",
			"222222222222:assumed-role/dev/alice", arn, "error: ThrottlingException: Rate exceeded", "+ EcrWardenPull",
			"by 111111111111:assumed-role/ecr-warden-repository/repository, declaration sha256 abababababab"} {
			if !strings.Contains(got, want) {
				t.Fatalf("audit -resource %s output lacks %q:\n%s", res, want, got)
			}
		}
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"-resource", "shared/none"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "no audit records") {
		t.Fatalf("unknown resource: err=%v out=%q", err, out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"-since", "1h"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "failed") {
		t.Fatalf("-since 1h: err=%v out=%q", err, out.String())
	}
	if err := tr.Record(ctx, audit.Record{Decision: audit.DecisionSummary, Op: "none",
		Trigger: audit.Trigger{EventID: "run-7", EventType: "backfill"},
		Target:  audit.Target{ARN: audit.UnitARN("222222222222", "us-east-1"), Kind: "Unit"},
		Counts:  &audit.Counts{Examined: 12, Unchanged: 10, Changed: 2}}); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := run(ctx, []string{"-summaries"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "backfill run-7") || !strings.Contains(out.String(), "222222222222/us-east-1") {
		t.Fatalf("-summaries: err=%v out=%q", err, out.String())
	}
	if err := run(ctx, []string{"-resource", ""}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "RESOURCE") {
		t.Fatalf("empty resource: %v", err)
	}
}

// The flags an operator needs: JSON lines, decision and run filters, a time
// window, several regions merged; and one line naming the exports when the
// region or the credentials are missing.
func TestAuditCommandFilters(t *testing.T) {
	ctx := context.Background()
	s := commandEnv(t, "audit-f")
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	run1 := "backfill-" + audit.NewID(time.Now())
	for _, region := range []string{"us-east-1", "eu-west-1"} {
		db := dynamodb.NewFromConfig(s.Config(region))
		if err := audit.CreateTable(ctx, db, "audit-f"); err != nil {
			t.Fatal(err)
		}
		tr, _ := audit.New(db, "audit-f", audit.Options{Logger: quiet, DeclarationSHA256: "cafe"})
		arn := "arn:aws:ecr:" + region + ":111111111111:repository/shared/app"
		tgt := audit.Target{ARN: arn, Kind: "ECRRepositoryPolicy", Name: "shared/app", Region: region}
		if err := tr.Record(ctx, audit.Record{Decision: audit.DecisionNoop, Op: "none", Target: tgt, Trigger: audit.Trigger{EventID: run1}}); err != nil {
			t.Fatal(err)
		}
		if err := tr.Record(ctx, audit.Record{Decision: audit.DecisionRefused, Op: "update", Target: tgt, Error: "too large", Trigger: audit.Trigger{EventID: "other"}}); err != nil {
			t.Fatal(err)
		}
		if region == "us-east-1" {
			for i, c := range []audit.Counts{{Examined: 3, Unchanged: 3}, {Examined: 2, Failed: 1}} {
				if err := tr.Record(ctx, audit.Record{Decision: audit.DecisionSummary, Op: "none", Counts: &c,
					Trigger: audit.Trigger{EventID: run1, EventType: "backfill"},
					Target:  audit.Target{ARN: audit.UnitARN(fmt.Sprintf("22222222222%d", i), region), Kind: "Unit"}}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	lines := func(args ...string) []audit.Record {
		t.Helper()
		var out bytes.Buffer
		if err := run(ctx, append(args, "-json"), &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		var recs []audit.Record
		dec := json.NewDecoder(&out)
		for dec.More() {
			var r audit.Record
			if err := dec.Decode(&r); err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		return recs
	}
	if got := lines("-resource", "shared/app"); len(got) != 2 {
		t.Errorf("one region: %d records, want 2", len(got))
	}
	got := lines("-resource", "shared/app", "-regions", "us-east-1,eu-west-1", "-decision", "refused")
	if len(got) != 2 || got[0].Decision != audit.DecisionRefused || got[0].Target.Region == got[1].Target.Region || got[0].DeclarationSHA256 != "cafe" {
		t.Errorf("refused across regions: %+v", got)
	}
	if got := lines("-run", run1, "-regions", "us-east-1,eu-west-1", "-decision", "noop"); len(got) != 2 || got[0].Trigger.EventID != run1 {
		t.Errorf("-run: %+v", got)
	}
	if got := lines("-from", time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "-to", time.Now().Add(2*time.Hour).UTC().Format(time.RFC3339)); len(got) != 0 {
		t.Errorf("future window: %+v", got)
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"-run", run1, "-units", "5"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "run "+run1+": units: 1 done, 1 failed, 3 left of 5; 3 records: noop 1, summary 2") {
		t.Errorf("-run table: %v\n%s", err, out.String())
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-decision", "aplied", "-since", "1h"}, `-decision "aplied": not a decision`},
		{[]string{"-run", "nonsense"}, "not a run id"},
		{[]string{"-since", "1h", "extra"}, `unexpected argument "extra"`},
		{[]string{"-bogus"}, `audit: flag provided but not defined: -bogus (its flags: -account`},
		{[]string{"-since", "1h", "-regions", "us-east-1, xx-bad-1,eu-west-9"}, `-region/-regions: "xx-bad-1", "eu-west-9": not a region`},
		{[]string{"-since", "1h", "-region", "Ireland"}, `"Ireland": not a region`},
	} {
		err := run(ctx, c.args, io.Discard, io.Discard)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a usage error containing %q", c.args, err, c.want)
		}
	}

	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	err := run(ctx, []string{"-since", "1h"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no AWS region: export AWS_REGION=") {
		t.Errorf("missing region: %v", err)
	}
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	err = run(ctx, []string{"-since", "1h"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "no AWS credentials: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") || strings.Contains(err.Error(), "\n") {
		t.Errorf("missing credentials: %v", err)
	}
}

// A table name that is not the installation's (a name prefix forgotten, a
// wrong region) is answered with what to set, and -regions over tables that
// all do not exist fails instead of answering "no audit records found", which
// would read as a clean trail.
func TestAuditCommandMissingTable(t *testing.T) {
	ctx := context.Background()
	commandEnv(t, "staging-ecr-warden-audt")
	for _, args := range [][]string{{"-resource", "team-a/app"}, {"-since", "1h"}, {"-since", "1h", "-regions", "us-east-1,eu-west-1"}} {
		var out, errOut bytes.Buffer
		err := run(ctx, args, &out, &errOut)
		if err == nil {
			t.Errorf("%v: no error; printed %q", args, out.String())
			continue
		}
		for _, want := range []string{"staging-ecr-warden-audt", "WARDEN_AUDIT_TABLE", "-regions hub", "<namePrefix>-ecr-warden-audit"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: error lacks %q: %v", args, want, err)
			}
		}
		if strings.Contains(out.String(), "no audit records") {
			t.Errorf("%v: answered as if the trail were empty: %q", args, out.String())
		}
	}
}

// What a first-day operator asks of a trail of thousands: one account's
// records (-account, also for records that carry only an ARN), a history cut
// at -limit that says so and how to read the rest, and a long listing that
// ends with its count and how to narrow it, since its header has scrolled away.
func TestAuditCommandAccountAndLongListings(t *testing.T) {
	ctx := context.Background()
	s := commandEnv(t, "audit-long")
	db := dynamodb.NewFromConfig(s.Config("us-east-1"))
	if err := audit.CreateTable(ctx, db, "audit-long"); err != nil {
		t.Fatal(err)
	}
	tr, _ := audit.New(db, "audit-long", audit.Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	run1 := "sweep-" + audit.NewID(time.Now())
	var recs []audit.Record
	for i := range 120 {
		acct := []string{"222222222222", "333333333333"}[i%2]
		d := audit.DecisionNoop
		if i%10 == 0 {
			d = audit.DecisionRefused
		}
		recs = append(recs, audit.Record{Decision: d, Op: "none", Error: map[bool]string{true: "too large"}[d == audit.DecisionRefused],
			Trigger: audit.Trigger{EventID: run1, EventType: "sweep"},
			Target: audit.Target{ARN: "arn:aws:ecr:us-east-1:" + acct + ":repository/team/app", AccountID: acct, Region: "us-east-1",
				Kind: "ECRRepositoryPolicy", Name: "team/app"}})
	}
	// A unit summary names its account only in its ARN.
	recs = append(recs, audit.Record{Decision: audit.DecisionSummary, Op: "none", Counts: &audit.Counts{Examined: 60},
		Trigger: audit.Trigger{EventID: run1, EventType: "sweep"}, Target: audit.Target{ARN: audit.UnitARN("333333333333", "us-east-1"), Kind: "Unit"}})
	if err := tr.RecordBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
	out := func(args ...string) string {
		t.Helper()
		var b bytes.Buffer
		if err := run(ctx, args, &b, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		return b.String()
	}

	got := out("-account", "333333333333", "-json")
	if n := strings.Count(got, "\n"); n != 61 || strings.Contains(got, "222222222222") || !strings.Contains(got, "unit/333333333333/us-east-1") {
		t.Errorf("-account 333333333333 (alone: the last 24h): %d records, want its 60 and its unit summary:\n%.400s", n, got)
	}
	if got := out("-account", "222222222222", "-decision", "refused", "-since", "1h", "-json"); strings.Count(got, "\n") != 12 {
		t.Errorf("-account with -decision: %q", got)
	}

	got = out("-resource", "team/app", "-limit", "30")
	if n := strings.Count(got, "  noop  ") + strings.Count(got, "  refused  "); n != 30 {
		t.Errorf("-limit 30 printed %d records", n)
	}
	if !strings.Contains(got, "only the latest 30 records of team/app were read") || !strings.Contains(got, "older ones exist; -limit 0 reads them all") {
		t.Errorf("a history cut at -limit does not say so:\n%s", got)
	}
	if got := out("-resource", "team/app", "-limit", "0"); strings.Contains(got, "only the latest") || !strings.Contains(got, "120 records from ") {
		t.Errorf("-limit 0: cut or no footer:\n%.300s", got[max(0, len(got)-300):])
	}

	got = out("-since", "1h")
	last := got[strings.LastIndex(strings.TrimSuffix(got, "\n"), "\n")+1:]
	if !strings.HasPrefix(last, "121 records from ") || !strings.Contains(last, "noop 108, refused 12, summary 1") || !strings.Contains(last, "narrow with -decision, -account") {
		t.Errorf("a long listing's last line: %q", last)
	}
	if got := out("-since", "1h", "-decision", "summary"); strings.Contains(got, " records from ") {
		t.Errorf("a short listing has a footer:\n%s", got)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-resource", "333333333333"}, "is an account id, not a document: -account 333333333333 (make audit ACCOUNT=333333333333"},
		{[]string{"-account", "33333333333"}, `-account "33333333333": want a 12-digit account id`},
	} {
		err := run(ctx, c.args, io.Discard, io.Discard)
		var u usageError
		if !errors.As(err, &u) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want a usage error containing %q", c.args, err, c.want)
		}
	}
}

func TestRunTime(t *testing.T) {
	at := time.Date(2026, 12, 2, 3, 4, 5, 6e6, time.UTC)
	got, ok := runTime("backfill-" + audit.NewID(at))
	if !ok || !got.Equal(at) {
		t.Fatalf("runTime = %v %v, want %v", got, ok, at)
	}
}

// -decision takes every decision a record can carry, including the ones the
// README's runbook filters on (ptc-validation-failed, principal-missing).
func TestDecisionFilterTakesEveryDecision(t *testing.T) {
	for _, d := range append([]string{"ptc-validation-failed,principal-missing", "refused, failed"}, joinDecisions()) {
		q, err := parse([]string{"-since", "1h", "-decision", d}, io.Discard)
		if err != nil || len(q.decisions) == 0 {
			t.Errorf("-decision %q: %v", d, err)
		}
	}
}

// Every -decision filter the README tells an operator to run (the runbook's
// alarms, the replay) is one this command accepts.
func TestREADMEDecisionFiltersParse(t *testing.T) {
	readme, err := os.ReadFile("../../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	found := regexp.MustCompile(`-decision ([a-z,-]+)`).FindAllStringSubmatch(string(readme), -1)
	if len(found) < 5 {
		t.Fatalf("found only %d -decision filters in the README", len(found))
	}
	for _, m := range found {
		if _, err := parse([]string{"-since", "1h", "-decision", m[1]}, io.Discard); err != nil {
			t.Errorf("README's -decision %s: %v", m[1], err)
		}
	}
}

// A query that finds nothing says what it looked for.
func TestNoneFound(t *testing.T) {
	regions := []string{"us-east-1"}
	for _, c := range []struct {
		q    query
		want string
	}{
		{query{table: "t", stale: 15 * time.Minute}, "no write pending for longer than 15m0s in table t (us-east-1): nothing to settle"},
		{query{table: "t", resource: "team-a/ap"}, "no audit records for team-a/ap in table t (us-east-1) (an ARN, or a repository name such as team-a/app)"},
		{query{table: "t", run: "backfill-01M8"}, "no audit records of run backfill-01M8 in table t (us-east-1) yet"},
		{query{table: "t"}, "no audit records found in table t (us-east-1)"},
	} {
		if got := noneFound(c.q, regions); got != c.want {
			t.Errorf("noneFound(%+v) = %q, want %q", c.q, got, c.want)
		}
	}
}

// commandEnv starts the local AWS and points the command at it as `make
// audit` runs it: the default credential chain through AWS_ENDPOINT_URL, the
// region, and table as WARDEN_AUDIT_TABLE. The table is not created.
func commandEnv(t *testing.T, table string) *localaws.Server {
	t.Helper()
	localaws.Need(t)
	s, err := localaws.Start(context.Background(), localaws.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	t.Setenv("AWS_ENDPOINT_URL", s.URL)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("WARDEN_AUDIT_TABLE", table)
	return s
}
