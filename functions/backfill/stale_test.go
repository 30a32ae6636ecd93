package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// A hub unit delivered two hours after the backfill walked the organization
// (the work queue retries an hour apart; a dead-letter queue is redriven
// later still) still names an account of the workloads OU that has left
// since. The worker binary reads the organization again instead of trusting
// the old walk: the hub's enumerating grant names every member there now and
// not the departed account, and the audit trail says why the unit walked.
func TestStaleUnitDoesNotGrantADepartedAccount(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	worker := w.start("worker", nil)
	const gone = "555555555555"
	workloads := w.org.OU("workloads")
	var accounts []desired.Account
	var stay []string
	for _, a := range w.org.Accounts {
		path := w.org.OU(a.OU).Path
		accounts = append(accounts, desired.Account{ID: a.ID, Status: "ACTIVE", OUPath: path})
		if a.OU == "workloads" {
			stay = append(stay, a.ID)
		}
	}
	accounts = append(accounts, desired.Account{ID: gone, Status: "ACTIVE", OUPath: workloads.Path})
	const run = "backfill-stale-unit"
	body, err := json.Marshal(reconcile.Work{RunID: run, Account: hub, Region: region, Accounts: accounts,
		WalkedAt: time.Now().Add(-2 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sqs.NewFromConfig(srv.Config(region)).SendMessage(w.ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(w.env.QueueURL), MessageBody: aws.String(string(body))}); err != nil {
		t.Fatal(err)
	}
	if dr := w.drain(worker); dr.Done != 1 || dr.Failures != 0 {
		t.Fatalf("drain = %+v, want the one unit done", dr)
	}

	text := w.registryPolicy(hub, region)
	if strings.Contains(text, gone) {
		t.Errorf("the hub registry policy grants the departed account %s:\n%s", gone, text)
	}
	for _, id := range stay {
		if !strings.Contains(text, "arn:aws:iam::"+id+":root") {
			t.Errorf("the hub registry policy does not grant workloads member %s:\n%s", id, text)
		}
	}
	var walked []string
	for _, r := range w.runRecords(run) {
		if r.Decision == audit.DecisionOrganizationWalk {
			walked = append(walked, r.Error)
		}
	}
	if len(walked) != 1 || !strings.Contains(walked[0], "2h0m0s before it ran") {
		t.Errorf("organization-walk records of the run = %q, want one giving the unit's age", walked)
	}
}

// TestSweepSettlesCrashLeftPendingRecords: an invocation died after its write
// landed and before it stored the outcome, on a document no later event
// writes (the next event finds a noop). The sweep, which queries the sparse
// pending index once per run anyway, reads each stale record's document and
// settles it from what AWS holds: applied where the policy is the one the
// write meant, failed where it is not. Nothing stays stale, so the
// stale-pending alarm does not fire for good.
func TestSweepSettlesCrashLeftPendingRecords(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t)
	const text = `{"Version":"2012-10-17","Statement":[{"Sid":"EcrWardenOrgPull","Effect":"Allow","Principal":"*",` +
		`"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"],"Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-crashed"}}}]}`
	if _, err := w.ecr(hub, region).SetRepositoryPolicy(w.ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String("shared/base"), PolicyText: aws.String(text)}); err != nil {
		t.Fatal(err)
	}
	crashed := func(name string) audit.Record {
		t.Helper()
		p, err := w.trail.Begin(w.ctx, audit.Record{Time: time.Now().Add(-20 * time.Minute), Op: "create", After: text,
			Trigger: audit.Trigger{EventID: "crashed-" + name, EventType: "test"},
			Target:  audit.Target{ARN: policy.RepositoryARN("aws", region, hub, name), AccountID: hub, Region: region, Kind: reconcile.KindRepositoryPolicy, Name: name}})
		if err != nil {
			t.Fatal(err)
		}
		return p.Record()
	}
	landed, lost := crashed("shared/base"), crashed("private/hub")

	sweep, err := os.ReadFile("../../events/scheduled-sweep.json")
	if err != nil {
		t.Fatal(err)
	}
	proxy.Reset()
	if run := w.backfill(w.start("backfill", nil), string(sweep)); !run.Sweep {
		t.Fatalf("sweep: %+v", run)
	}
	for _, c := range []struct {
		rec      audit.Record
		decision audit.Decision
		note     string
	}{
		{landed, audit.DecisionApplied, "settled by the sweep: AWS holds this write's document"},
		{lost, audit.DecisionFailed, "settled by the sweep: AWS does not hold this write's document"},
	} {
		if got := w.last(c.rec.Target.ARN); got.ID != c.rec.ID || got.Decision != c.decision || !strings.Contains(got.Error, c.note) {
			t.Errorf("%s: record %s is %s (%q), want %s (%q)", c.rec.Target.ARN, got.ID, got.Decision, got.Error, c.decision, c.note)
		}
	}
	if stale, err := w.trail.Stale(w.ctx, time.Now()); err != nil || len(stale) != 0 {
		t.Errorf("stale records after the sweep: %+v, %v; want none", stale, err)
	}
	if n := proxy.Count("dynamodb", "Query"); n != 1 {
		t.Errorf("DynamoDB queries of the sweep = %d, want 1 (the pending index, which it queried before)", n)
	}
}
