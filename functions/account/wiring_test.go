package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/lambdalocal"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// TestBadWiringFailsInitClearly: a missing declaration or a malformed
// WARDEN_ORG_ROLE_ARN stops the execution environment at init with a message
// naming the variable or file, rather than failing later per event.
func TestBadWiringFailsInitClearly(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	for _, c := range []struct {
		name, key, value, want string
	}{
		{"missing declaration", "WARDEN_DECLARATION_FILE", "/nonexistent/declaration.json", "/nonexistent/declaration.json"},
		{"org role not a role", "WARDEN_ORG_ROLE_ARN", "arn:aws:iam::999999999999:user/reader", "WARDEN_ORG_ROLE_ARN"},
		{"bad attempt budget", "AWS_MAX_ATTEMPTS", "many", "AWS_MAX_ATTEMPTS"},
	} {
		env := w.env()
		env[c.key] = c.value
		inst, err := lambdalocal.Start(w.ctx, lambdalocal.Function{Name: "ecr-warden-account", Binary: accountBin, Env: env, AccountID: hubAccount})
		if err != nil {
			t.Fatal(err)
		}
		res, err := inst.Invoke(w.ctx, w.event("org-account-joined.json", "444444444444"))
		inst.Close()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		logs := strings.Join(res.Logs, "\n")
		if res.Err == nil || !strings.Contains(logs, "init failed") || !strings.Contains(logs, c.want) {
			t.Errorf("%s: want an init failure naming %q; error %v, logs:\n%s", c.name, c.want, res.Err, logs)
		}
	}
}

// TestOutOfOrderMovesFollowTheOrganization: move events that arrive late or
// out of order only say where to look; the OU the account is in now decides.
func TestOutOfOrderMovesFollowTheOrganization(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	foreign := foreignStatement("210987654321")
	w.seedHub("210987654321")
	a := w.createAccount("wanderer", w.ouA)
	fn := w.start()
	w.invoke(fn, w.event("org-account-joined.json", a))
	aToB := w.event("org-move-account.json", a)
	w.move(a, w.ouA, w.ouB)
	w.move(a, w.ouB, w.ouA)
	// Only the stale A -> B event arrives: the account is in A again.
	w.invoke(fn, aToB)
	w.assertHub(foreign, roots(a), roots(a), nil)
}

// TestAccountEventsAreAudited: each hub and member write is recorded with
// the organization event that caused it, so `make audit` answers "why does
// the hub grant this account".
func TestAccountEventsAreAudited(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a := w.createAccount("audited", w.ouA)
	fn := w.start()
	w.invoke(fn, w.event("org-account-joined.json", a))
	trail, err := audit.New(dbOf(w), auditTable, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{
		"arn:aws:ecr:us-east-1:" + hubAccount + ":repository/*",
		"arn:aws:ecr:us-east-1:" + a + ":repository/*",
		"arn:aws:iam::" + a + ":role/" + ptcRoleName,
	} {
		recs, err := trail.History(w.ctx, target, 0)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, r := range recs {
			if r.Decision == audit.DecisionApplied && r.Trigger.EventType == "AWS Service Event via CloudTrail/AccountJoinedOrganization" && r.After != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no applied record caused by AccountJoinedOrganization; have %s", target, summary(recs))
		}
	}
}

func summary(recs []audit.Record) string {
	var b strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&b, "[%s %s %s] ", r.Decision, r.Op, r.Trigger.EventType)
	}
	return b.String()
}

// BenchmarkAccountJoin is one AccountJoinedOrganization for a new account
// in a warm execution environment: member role, rules and registry policy
// created, hub registry policy updated (about 15 AWS writes and reads on the
// local AWS). Account creation is outside the timer.
func BenchmarkAccountJoin(b *testing.B) {
	w := newWorld(b, nil)
	fn := w.start()
	w.invoke(fn, w.event("org-account-joined.json", w.createAccount("warmup", w.ouA)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ev := w.event("org-account-joined.json", w.createAccount(fmt.Sprintf("bench-%04d", i), w.ouA))
		b.StartTimer()
		res, err := fn.Invoke(w.ctx, ev)
		if err != nil || res.Err != nil {
			b.Fatalf("invoke: %v %v", err, res.Err)
		}
	}
}

// TestUnreadableShapeIsLoggedRawAndAudited: an AccountJoinedOrganization
// whose (unconfirmed) shape carries no account id is not guessed at: the
// audit trail records an organization walk with the reason, and the hub's
// grants are converged from the organization (here: nothing changes, the
// account it names is not in the organization).
func TestUnreadableShapeIsLoggedRawAndAudited(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	fn := w.start()
	ev := strings.Replace(string(w.event("org-account-joined.json", "444444444444")), `"accountId":"444444444444"`, `"account":"elsewhere"`, 1)
	proxy.Reset()
	res, err := fn.Invoke(w.ctx, []byte(ev))
	if err != nil || res.Err != nil {
		t.Fatalf("invoke: %v %v", err, res.Err)
	}
	var r response
	if err := json.Unmarshal(res.Payload, &r); err != nil || r.Rejected != "" {
		t.Fatalf("response %s: want a convergence, not a rejection", res.Payload)
	}
	w.assertAudited("arn:aws:organizations::"+mgmtAccount+":organization/"+w.orgID, audit.DecisionOrganizationWalk, "names no account ecr-warden can read")
}
