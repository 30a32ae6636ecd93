package reconcile

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/smithy-go"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/fakeaws"
)

// roleGoneError is what the SDK returns for a call whose cached credentials
// were renewed after the execution role was deleted: STS refuses the
// AssumeRole (as fakeaws.Unassumable answers, built here because a Fail
// hook may not call back into the fake).
func roleGoneError(c fakeaws.Call) error {
	sts := &smithy.OperationError{ServiceID: "STS", OperationName: "AssumeRole", Err: &smithy.GenericAPIError{Code: "AccessDenied", Fault: smithy.FaultClient,
		Message: "User: arn:aws:sts::" + fHub + ":assumed-role/ecr-warden-function/ecr-warden is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::" + c.Account + ":role/ecr-warden-execution"}}
	return &smithy.OperationError{ServiceID: c.Service, OperationName: c.Operation,
		Err: fmt.Errorf("get identity: get credentials: failed to refresh cached credentials, %w", sts)}
}

// The retirement race: a backfill unit converges a retired member (the
// declaration configures nothing in it any more) to nothing configured
// while the member StackSet removes the account's execution role. The role
// goes after the unit's 7th repository write, with 30 repositories in
// chunks of 5:
//
//   - STS refusing the role (the credentials renewed): the unit stops after
//     the chunk it was in instead of reading and failing every repository
//     left (before: one failed record per repository, all 30 tried), is
//     settled left in place (not retried: the role is not coming back) and
//     says how many documents it converged before the role went;
//   - the member refusing the role's calls (its policy deleted before the
//     role, the credentials held still valid): the unit stops the same
//     way and fails, so SQS delivers it again; that delivery finds the role
//     gone and is settled left in place.
//
// Either way the other member's unit converges, every write record says
// what AWS holds (applied ones removed ecr-warden's statement, failed ones
// did not) and none stays pending.
func TestARetiredUnitWhoseRoleGoesMidUnitStopsAndSaysWhatItLeft(t *testing.T) {
	for _, how := range []string{"assume-role-refused", "calls-refused"} {
		t.Run(how, func(t *testing.T) {
			grant := func(accounts string) string {
				return `"grants": [{"name": "apps-pull", "repositories": ["apps/*"], "access": "pull", "placement": "repository",
				 "principals": {"accounts": ["` + fHub + `"]}, "registries": {"accounts": [` + accounts + `]}}]`
			}
			w := newWorld(t, grant(`"`+fTeamA+`", "`+fTeamB+`"`))
			const repos = 30
			for i := range repos {
				for _, acct := range []string{fTeamA, fTeamB} {
					name := fmt.Sprintf("apps/r%02d", i)
					w.aws.CreateRepository(acct, fRegion, name, nil)
					w.aws.SetRepositoryPolicy(acct, fRegion, name, `{"Version":"2012-10-17","Statement":[{"Sid":"Scanner","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::`+fTeamA+`:root"},"Action":"ecr:DescribeImages"}]}`)
				}
			}
			ctx := context.Background()
			unit := func(account string, retired bool) Work {
				return Work{RunID: "sweep-" + account, Sweep: true, Account: account, Region: fRegion, Retired: retired,
					Accounts: []desired.Account{{ID: account, Status: "ACTIVE", OUPath: w.ouPath(t, account)}}}
			}
			for _, acct := range []string{fTeamA, fTeamB} {
				if _, err := w.engine.Converge(ctx, Cause{}, unit(acct, false)); err != nil {
					t.Fatal(err)
				}
			}
			// The edit: fTeamB is configured by nothing now.
			w.engine.Decl = newWorld(t, grant(`"`+fTeamA+`"`)).engine.Decl
			w.engine.chunk = 5

			var mu sync.Mutex
			writes, gone, callsAfter := 0, false, 0
			w.aws.Fail(func(c fakeaws.Call) error {
				if c.Account != fTeamB || c.Service != "ECR" {
					return nil
				}
				mu.Lock()
				defer mu.Unlock()
				if gone {
					callsAfter++
					if how == "assume-role-refused" {
						return roleGoneError(c)
					}
					return fakeaws.APIError("AccessDeniedException", "User: arn:aws:sts::"+fTeamB+":assumed-role/ecr-warden-execution/ecr-warden-worker is not authorized to perform: ecr:"+c.Operation+" because no identity-based policy allows the ecr:"+c.Operation+" action")
				}
				if c.Operation == "SetRepositoryPolicy" || c.Operation == "DeleteRepositoryPolicy" {
					if writes++; writes == 7 {
						gone = true
					}
				}
				return nil
			})
			retired := unit(fTeamB, true)
			rep, err := w.engine.Converge(ctx, retired.Cause(), retired)
			converged := rep.Changed
			if how == "calls-refused" {
				if err == nil || !strings.Contains(err.Error(), "AccessDenied") {
					t.Fatalf("retired unit whose calls are refused mid-unit: %v, want it failed (SQS delivers it again)", err)
				}
				// SQS's next delivery: the role is gone by then.
				w.aws.Unassumable(fTeamB, "arn:aws:iam::"+fTeamB+":role/ecr-warden-execution")
				rep, err = w.engine.Converge(ctx, retired.Cause(), retired)
			}
			if err != nil {
				t.Fatalf("retired unit whose role went mid-unit: %v, want it settled, left in place", err)
			}
			if callsAfter > 5 {
				t.Errorf("%d calls into %s after its role went; want at most the rest of that chunk (5): the unit goes on trying what cannot succeed", callsAfter, fTeamB)
			}
			if converged < 6 {
				t.Errorf("the unit converged %d documents before the role went, want at least 6", converged)
			}
			// The other member is untouched by the race.
			if _, err := w.engine.Converge(ctx, Cause{}, unit(fTeamA, false)); err != nil {
				t.Errorf("the other member's unit: %v", err)
			}
			for i := range repos {
				name := fmt.Sprintf("apps/r%02d", i)
				hasAll(t, fTeamA+" "+name, w.aws.RepositoryPolicy(fTeamA, fRegion, name), "arn:aws:iam::"+fHub+":root", `"Scanner"`)
				hasAll(t, fTeamB+" "+name, w.aws.RepositoryPolicy(fTeamB, fRegion, name), `"Scanner"`)
			}
			var refused []audit.Record
			for _, r := range w.records(t) {
				if r.Target.AccountID != fTeamB {
					continue
				}
				doc := w.aws.RepositoryPolicy(fTeamB, fRegion, r.Target.Name)
				owned := strings.Contains(doc, "EcrWarden")
				switch {
				case r.Decision == audit.DecisionPending || r.Decision == audit.DecisionUnknown:
					t.Errorf("record %s of %s left %s", r.ID, r.Target.ARN, r.Decision)
				case r.Decision == audit.DecisionApplied && r.Trigger.EventID == retired.RunID && owned:
					t.Errorf("%s: applied, but AWS still holds ecr-warden's statement: %s", r.Target.ARN, doc)
				case r.Decision == audit.DecisionFailed && r.Target.Kind == KindRepositoryPolicy && r.Op != "read" && !owned:
					t.Errorf("%s: failed, but AWS no longer holds ecr-warden's statement", r.Target.ARN)
				case r.Decision == audit.DecisionRefused && r.Trigger.EventID == retired.RunID:
					refused = append(refused, r)
				}
			}
			// The try that met the role going says how much it converged
			// first; a later delivery that finds the role gone converged
			// nothing itself.
			says := "documents converged before the role went"
			if len(refused) != 1 || !strings.Contains(refused[0].Error, "left-in-place") || strings.Contains(refused[0].Error, says) != (how == "assume-role-refused") {
				t.Errorf("want one left-in-place record (saying %q only when the role went in that try), got %+v", says, refused)
			}
		})
	}
}
