package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/ecr-warden/ecr-warden/shared/audit"
)

// The real worker, handed a unit directly (an SQS-shaped event from a
// principal allowed lambda:InvokeFunction, or a unit walked before its
// account moved) that places a sandbox member in the workloads OU, does not
// write the workloads OU's push grant into that member: it reads the
// member's entry from the organization before planning (one DescribeAccount)
// and records that the unit's entry was not the organization's. A member of
// the workloads OU gets the grant from the same kind of unit.
func TestWorkerConvergesAUnitsAccountWhereTheOrganizationHasIt(t *testing.T) {
	w := newWorld(t)
	workloads := w.org.OU("workloads").Path
	decl := strings.Replace(declarationFor(w.org), `"grants": [`, `"grants": [
    {"name": "workloads-push", "repositories": ["team/*"], "access": "push", "principals": {"accounts": ["`+hub+`"]},
     "placement": "repository", "registries": {"ous": ["`+workloads+`"]}},`, 1)
	if err := os.WriteFile(w.declaration, []byte(decl), 0o644); err != nil {
		t.Fatal(err)
	}
	var sandbox, member string
	for _, a := range w.org.Accounts {
		switch {
		case a.OU == "sandbox" && sandbox == "":
			sandbox = a.ID
		case a.OU == "workloads" && member == "":
			member = a.ID
		}
	}
	unit := func(account string) events.SQSMessage {
		body, err := json.Marshal(map[string]any{"runId": "direct-" + account, "account": account, "region": region,
			"accounts": []map[string]string{{"ID": account, "Status": "ACTIVE", "OUPath": workloads}}})
		if err != nil {
			t.Fatal(err)
		}
		return events.SQSMessage{MessageId: "m-" + account, EventSource: "aws:sqs", Body: string(body)}
	}
	ev, err := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{unit(sandbox), unit(member)}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.start("worker", nil).Invoke(w.ctx, ev)
	if err != nil || res.Err != nil {
		t.Fatalf("worker: %v %v\n%s", err, res.Err, strings.Join(res.Logs, "\n"))
	}
	var resp events.SQSEventResponse
	if err := json.Unmarshal(res.Payload, &resp); err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("worker answered %s (%v), want both units done\n%s", res.Payload, err, strings.Join(res.Logs, "\n"))
	}
	if p := w.policy(sandbox, region, "team/app"); strings.Contains(p, "EcrWardenWorkloadsPush") {
		t.Errorf("the worker wrote the workloads OU's grant into sandbox member %s:\n%s", sandbox, p)
	}
	if p := w.policy(member, region, "team/app"); !strings.Contains(p, `"Sid":"EcrWardenWorkloadsPush`) {
		t.Errorf("workloads member %s lacks the OU's grant:\n%s", member, p)
	}
	var corrected []string
	for _, r := range w.runRecords("direct-" + sandbox) {
		if r.Decision == audit.DecisionOrganizationWalk {
			corrected = append(corrected, r.Error)
		}
	}
	if len(corrected) != 1 || !strings.Contains(corrected[0], sandbox) || !strings.Contains(corrected[0], "is not the organization's") {
		t.Errorf("organization-walk records of the sandbox unit = %q, want one saying its entry was not the organization's", corrected)
	}
	for _, r := range w.runRecords("direct-" + member) {
		if r.Decision == audit.DecisionOrganizationWalk {
			t.Errorf("the workloads member's unit, whose entry is right, recorded an organization walk: %s", r.Error)
		}
	}
}
