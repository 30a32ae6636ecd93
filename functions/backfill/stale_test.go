package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
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
