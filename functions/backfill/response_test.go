package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// A dry run of a grant that no repository policy can hold (an enumeration
// of an OU of 400 accounts, matched by 50,000 repositories) refuses every
// repository: 50,000 summary errors of about 400 characters, 20 MB beside
// the plan. Lambda refuses a synchronous answer over 6 MB, so the operator
// would get no answer at all; the errors are cut to half the limit and the
// plan to the rest, and both say how many more there are and where.
func TestDryRunAnswerFitsLambdasLimit(t *testing.T) {
	const n = 50000
	summary := &reconcile.Report{Examined: n, Refused: n}
	resp := response{RunID: "backfill-01J", DryRun: true, Summary: summary}
	for i := range n {
		arn := fmt.Sprintf("arn:aws:ecr:us-east-1:111111111111:repository/team/img-%05d", i)
		summary.Errors = append(summary.Errors, arn+": ecr-repository-policy "+arn+" is 13542 characters, over the 10240-character limit: ecr-warden's 1 statement(s) take 13300 characters, 0 foreign statement(s) (not ecr-warden's) take 0; use principalMode \"condition\" (aws:PrincipalOrgID / aws:PrincipalOrgPaths) instead of enumerating accounts, or split the grants")
		resp.Plan = append(resp.Plan, planned{Target: arn, Kind: "RepositoryPolicy", Op: "update", Diff: strings.Repeat("+ arn:aws:iam::222222222222:root\n", 3)})
	}
	out := fitResponse(resp)
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > maxResponseBytes {
		t.Fatalf("the answer is %d bytes, over Lambda's limit (%d)", len(b), maxResponseBytes)
	}
	errs := out.Summary.Errors
	if len(errs) == 0 || len(errs) == n+1 || !strings.Contains(errs[len(errs)-1], fmt.Sprintf("and %d more", n-len(errs)+1)) || !strings.Contains(errs[len(errs)-1], "make audit RUN=backfill-01J") {
		t.Errorf("%d errors shown, last %q; want a part of them and a line saying how many more and where", len(errs), errs[len(errs)-1])
	}
	if out.Summary.Refused != n || summary.Errors == nil || len(summary.Errors) != n {
		t.Errorf("counts %+v; the counts stay whole, and the report the answer was cut from is not changed", out.Summary.Refused)
	}
	if len(out.Plan) == 0 || !strings.Contains(out.PlanTruncated, `make audit RUN=backfill-01J`) {
		t.Errorf("%d planned changes shown, truncated %q; want part of the plan and the note naming the command that lists the rest", len(out.Plan), out.PlanTruncated)
	}
	t.Logf("%d bytes: %d of %d errors, %d of %d planned changes", len(b), len(errs)-1, n, len(out.Plan), n)
}

// A refused clean plan names its first errors and how many more there are:
// the error is the invocation's answer and its log line.
func TestRefusedPlanNamesItsFirstErrors(t *testing.T) {
	var errs []string
	for i := range 5000 {
		errs = append(errs, fmt.Sprintf("arn:aws:ecr:us-east-1:111111111111:repository/r%d: over the limit", i))
	}
	got := firstErrors(errs, "backfill-1")
	if strings.Count(got, "over the limit") != shownErrors || !strings.Contains(got, "and 4980 more (make audit RUN=backfill-1") {
		t.Errorf("got %d bytes: %.300s...", len(got), got)
	}
	if got := firstErrors(errs[:2], "backfill-1"); got != errs[0]+"; "+errs[1] {
		t.Errorf("two errors: %q", got)
	}
}
