package main

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/function"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
)

// inProcess builds the handler with the function's own setup (the same
// environment the binary gets), for tests that must tune the engine.
func (w *world) inProcess() *handler {
	w.t.Helper()
	for k, v := range w.env() {
		w.t.Setenv(k, v)
	}
	w.t.Setenv("AWS_REGION", region)
	w.t.Setenv("AWS_MAX_ATTEMPTS", "1")
	env, err := function.Load(w.ctx, spec, slog.New(slog.DiscardHandler))
	if err != nil {
		w.t.Fatalf("setup: %v", err)
	}
	return handlerFor(env)
}

// TestInvalidPrincipalFailsAfterTheBound: when AWS keeps rejecting the
// principal, the retry gives up after its bound, the invocation fails (so
// Lambda retries it and then dead-letters it) and the write-ahead record of
// the attempted write says why.
func TestInvalidPrincipalFailsAfterTheBound(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a := w.createAccount("never-ready", w.ouA)
	h := w.inProcess()
	h.engine.(*reconcile.Engine).PrincipalWait = 1500 * time.Millisecond
	proxy.Reset()
	proxy.Inject("PutRegistryPolicy", invalidRegistryPolicy(1000))
	defer proxy.Reset() // drop the faults left over
	_, err := h.handle(context.Background(), w.event("org-account-joined.json", a))
	attempts := proxy.Count("ecr", "PutRegistryPolicy")
	if err == nil {
		t.Fatal("the invocation succeeded although every PutRegistryPolicy was rejected")
	}
	for _, want := range []string{"Invalid registry policy provided", "attempts", "putting registry policy (arn:aws:ecr:us-east-1:" + a} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if attempts < 2 || attempts > 10 {
		t.Errorf("PutRegistryPolicy attempted %d times, want a few bounded retries", attempts)
	}
	if p := w.registryPolicy(w.member(a)); p != "" {
		t.Errorf("the member registry policy was written: %s", p)
	}
	w.assertAudited("arn:aws:ecr:us-east-1:"+a+":repository/*", audit.DecisionFailed, "Invalid registry policy provided")
	t.Logf("gave up after %d attempts: %v", attempts, err)
}

// TestConditionModeLeavesTheHubAlone: when every hub grant, and the
// upstream grant, use org/OU conditions, no hub document names the account,
// so an account event writes only in the member and the audit says why the
// hub did not change.
func TestConditionModeLeavesTheHubAlone(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, func(d string) string {
		d = strings.ReplaceAll(d, `"principalMode": "enumerate"`, `"principalMode": "condition"`)
		return strings.Replace(d, `"upstreamGrantMode": "enumerate"`, `"upstreamGrantMode": "condition"`, 1)
	})
	seed := w.seedHub("210987654321")
	a := w.createAccount("quiet", w.ouA)
	fn := w.start()
	proxy.Reset()
	r := w.invoke(fn, w.event("org-account-joined.json", a))
	if r.Changed == 0 {
		t.Errorf("report %+v: want the member converged", r.Report)
	}
	w.assertMember(a)
	if got := w.registryPolicy(w.hub); got != seed {
		t.Errorf("condition mode changed the hub registry policy:\n%s", got)
	}
	for op := range proxy.CountsByAccount()[hubAccount] {
		if op == "PutRegistryPolicy" || op == "SetRepositoryPolicy" || op == "GetRegistryPolicy" {
			t.Errorf("condition mode called %s in the hub", op)
		}
	}
	w.assertAudited(root(a), audit.DecisionNoop, "condition mode")
}

// TestForeignRuleWithTheSamePrefixIsReported: a member already has a rule
// under a declared prefix pointing elsewhere; ecr-warden reports the clash
// and leaves the rule, and everything else still converges.
func TestForeignRuleWithTheSamePrefixIsReported(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, nil)
	a := w.createAccount("has-rules", w.ouA)
	m := ecr.NewFromConfig(w.member(a))
	if _, err := m.CreatePullThroughCacheRule(w.ctx, &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String("docker-hub"),
		UpstreamRegistryUrl: aws.String("quay.io"), UpstreamRegistry: ecrtypes.UpstreamRegistryQuay}); err != nil {
		t.Fatal(err)
	}
	fn := w.start()
	r := w.invoke(fn, w.event("org-account-joined.json", a))
	msg := strings.Join(r.Errors, "\n")
	if r.Refused != 1 || !strings.Contains(msg, "docker-hub") {
		t.Errorf("report %+v: want the docker-hub clash refused and named", r.Report)
	}
	rules := w.rules(w.member(a))
	if got := aws.ToString(rules["docker-hub"].UpstreamRegistryUrl); got != "quay.io" {
		t.Errorf("the foreign docker-hub rule was repointed to %s", got)
	}
	if len(rules) != 3 || rules["hub"].CustomRoleArn == nil || rules["ecr-public"].UpstreamRegistryUrl == nil {
		t.Errorf("the other declared rules were not created: %v", rules)
	}
	w.assertAudited("arn:aws:ecr:us-east-1:"+a+":repository/*/pull-through-cache-rule/docker-hub", audit.DecisionRefused, "")
}

// rewriteDeclaration edits the declaration before a function starts (for
// edits that need the ids of accounts created after newWorld).
func (w *world) rewriteDeclaration(edit func(string) string) {
	w.t.Helper()
	b, err := os.ReadFile(w.declPath)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(w.declPath, []byte(edit(string(b))), 0o644); err != nil {
		w.t.Fatal(err)
	}
}

// TestConditionUpstreamSurvivesDepartures: with the upstream grant in
// condition mode and another grant enumerating, a departure updates the
// enumerated grant and keeps the organization-wide upstream statement (it
// does not depend on which account left).
func TestConditionUpstreamSurvivesDepartures(t *testing.T) {
	localaws.Need(t)
	w := newWorld(t, func(d string) string {
		return strings.Replace(d, `"upstreamGrantMode": "enumerate"`, `"upstreamGrantMode": "condition"`, 1)
	})
	foreign := foreignStatement("210987654321")
	w.seedHub("210987654321")
	a1 := w.createAccount("first", w.ouA)
	a2 := w.createAccount("second", w.ouA)
	fn := w.start()
	w.invoke(fn, w.event("org-account-joined.json", a1))
	w.invoke(fn, w.event("org-account-joined.json", a2))
	if _, err := w.org.RemoveAccountFromOrganization(w.ctx, &organizations.RemoveAccountFromOrganizationInput{AccountId: aws.String(a1)}); err != nil {
		t.Fatal(err)
	}
	w.invoke(fn, w.event("org-remove-account.json", a1))
	w.assertHub(foreign, nil, roots(a2), nil)
	if _, ok := w.statements(w.registryPolicy(w.hub))[sidUpstream+"Org"]; !ok {
		t.Errorf("the departure removed the condition-mode upstream grant %sOrg:\n%s", sidUpstream, w.registryPolicy(w.hub))
	}
}

// TestListedPTCMembersAccumulate: when the PTC members are listed one by
// one, the upstream grant names every listed member that joined, not only
// the one whose event came last, and a departure removes only that one.
func TestListedPTCMembersAccumulate(t *testing.T) {
	localaws.Need(t)
	for _, mode := range []string{"enumerate", "condition"} {
		t.Run(mode, func(t *testing.T) {
			w := newWorld(t, nil)
			a1 := w.createAccount("listed-1", w.ouB)
			a2 := w.createAccount("listed-2", w.ouB)
			a3 := w.createAccount("listed-3", w.ouB)
			w.rewriteDeclaration(func(d string) string {
				d = strings.Replace(d, `"members": {"all": true}`, `"members": {"accounts": ["`+a1+`", "`+a2+`", "`+a3+`"]}`, 1)
				return strings.Replace(d, `"upstreamGrantMode": "enumerate"`, `"upstreamGrantMode": "`+mode+`"`, 1)
			})
			sid := sidUpstream
			if mode == "condition" {
				sid += "Accounts"
			}
			fn := w.start()
			for _, a := range []string{a1, a2, a3} {
				w.invoke(fn, w.event("org-account-joined.json", a))
			}
			if got := w.principals(w.registryPolicy(w.hub), sid); !slices.Equal(got, roots(a1, a2, a3)) {
				t.Errorf("after three joins %s names %v, want %v", sid, got, roots(a1, a2, a3))
			}
			if _, err := w.org.RemoveAccountFromOrganization(w.ctx, &organizations.RemoveAccountFromOrganizationInput{AccountId: aws.String(a2)}); err != nil {
				t.Fatal(err)
			}
			w.invoke(fn, w.event("org-remove-account.json", a2))
			if got := w.principals(w.registryPolicy(w.hub), sid); !slices.Equal(got, roots(a1, a3)) {
				t.Errorf("after %s left %s names %v, want %v", a2, sid, got, roots(a1, a3))
			}
			if got := w.principals(w.registryPolicy(w.hub), sidTools); !slices.Equal(got, roots(a1, a3)) {
				t.Errorf("after %s left %s names %v, want %v", a2, sidTools, got, roots(a1, a3))
			}
		})
	}
}
