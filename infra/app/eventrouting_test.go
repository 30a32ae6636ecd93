package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// matcher loads synthesized EventBridge rules into the local AWS's EventBridge (moto), each with
// its own SQS queue as target, and reports which rules an event matches: the real matcher, over
// HTTP, instead of a reimplementation of EventBridge's pattern language. (moto's TestEventPattern
// is a stub, so events are put on the buses and the queues read.) PutEvents stamps the caller's
// account as the envelope account, and patterns filter on it (Organizations and Control Tower
// events only from the management account), so each sample is put by its own envelope account,
// into which the rules are loaded the first time that account puts one.
type matcher struct {
	t       *testing.T
	srv     *localaws.Server
	rules   []loadedRule
	clients map[string]*accountRules // envelope account -> its copy of the rules
}

type loadedRule struct {
	bus, key string
	pattern  interface{}
}

type accountRules struct {
	eb     *eventbridge.Client
	sqs    *sqs.Client
	queues map[string]string // rule key -> queue URL
}

func newMatcher(t *testing.T) *matcher {
	t.Helper()
	srv, err := localaws.Start(context.Background(), localaws.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })
	return &matcher{t: t, srv: srv, clients: map[string]*accountRules{}}
}

// add registers one rule with pattern on bus, loaded (with a fresh queue as its target) into
// every account that puts a sample.
func (m *matcher) add(bus, key string, pattern interface{}) {
	m.rules = append(m.rules, loadedRule{bus: bus, key: key, pattern: pattern})
}

// in returns account's copy of the rules, loading them on first use.
func (m *matcher) in(account string) *accountRules {
	m.t.Helper()
	if a, ok := m.clients[account]; ok {
		return a
	}
	ctx := context.Background()
	cfg, err := localaws.AccountConfig(ctx, m.srv.Config("us-east-1"), account, "ecr-warden-routing-test")
	if err != nil {
		m.t.Fatal(err)
	}
	a := &accountRules{eb: eventbridge.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), queues: map[string]string{}}
	buses := map[string]bool{"default": true}
	for i, r := range m.rules {
		if !buses[r.bus] {
			if _, err := a.eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(r.bus)}); err != nil {
				m.t.Fatal(err)
			}
			buses[r.bus] = true
		}
		b, err := json.Marshal(r.pattern)
		if err != nil {
			m.t.Fatal(err)
		}
		name := fmt.Sprintf("r%d", i)
		q, err := a.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			m.t.Fatal(err)
		}
		if _, err := a.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String(r.bus), EventPattern: aws.String(string(b))}); err != nil {
			m.t.Fatalf("rule %s: %v\n%s", r.key, err, b)
		}
		_, err = a.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String(r.bus),
			Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String("arn:aws:sqs:us-east-1:" + account + ":" + name)}}})
		if err != nil {
			m.t.Fatal(err)
		}
		a.queues[r.key] = *q.QueueUrl
	}
	m.clients[account] = a
	return a
}

// match puts the sample event, as its envelope account, on every bus and returns the keys of the
// rules it reached.
func (m *matcher) match(raw []byte) []string {
	m.t.Helper()
	ctx := context.Background()
	var ev struct {
		Source     string          `json:"source"`
		DetailType string          `json:"detail-type"`
		Account    string          `json:"account"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil || ev.Source == "" {
		return nil // a payload, not an event
	}
	a := m.in(ev.Account)
	var buses []string
	for _, r := range m.rules {
		buses = append(buses, r.bus)
	}
	for _, bus := range slices.Compact(slices.Sorted(slices.Values(buses))) {
		out, err := a.eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			Source: aws.String(ev.Source), DetailType: aws.String(ev.DetailType), Detail: aws.String(string(ev.Detail)), EventBusName: aws.String(bus)}}})
		if err != nil || out.FailedEntryCount != 0 {
			m.t.Fatalf("PutEvents on %s: %v %+v", bus, err, out)
		}
	}
	var hit []string
	for key, url := range a.queues {
		got, err := a.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			m.t.Fatal(err)
		}
		for _, msg := range got.Messages {
			hit = append(hit, key)
			if _, err := a.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: msg.ReceiptHandle}); err != nil {
				m.t.Fatal(err)
			}
		}
	}
	sort.Strings(hit)
	return hit
}

// sample is one file of events/ with what the route table says about it.
type sample struct {
	name  string
	raw   []byte
	route trigger.Route // zero when no route carries it (or it must wake nothing)
}

// samples reads events/ and decides, from the route table alone, where each must go: the route
// its source and event name name, unless the call failed (detail.errorCode) or it is ecr-warden's
// own write to a document drift watches.
func samples(t *testing.T, d *Declaration) []sample {
	t.Helper()
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	var out []sample
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := sample{name: filepath.Base(f), raw: raw}
		tg, err := trigger.Parse(raw)
		tr := tg.Trigger
		if rej, ok := trigger.AsRejection(err); ok {
			tr = rej.Trigger
		}
		var probe struct {
			Detail struct {
				ErrorCode string `json:"errorCode"`
			} `json:"detail"`
		}
		_ = json.Unmarshal(raw, &probe)
		r, _, ok := trigger.RouteOf(tr)
		if p, declared := patternOf(r, d); ok && declared && slices.Contains(r.Roles, trigger.RoleDeclared) && !slices.Contains(p.Parameters["roleName"], tg.RoleName) {
			// A sample of the example declaration's roles: name one this declaration declares.
			s.raw = []byte(strings.ReplaceAll(string(raw), `"`+tg.RoleName+`"`, `"`+p.Parameters["roleName"][0]+`"`))
		}
		if ok && probe.Detail.ErrorCode == "" && !(r.Function == trigger.FnDrift && OwnWriter(d, tr.Actor)) {
			s.route = r
		}
		out = append(out, s)
	}
	return out
}

// TestEveryEventReachesExactlyItsFunction: every rule of the synthesized hub (both buses), the
// management account and the member template is loaded into the local AWS's EventBridge; every
// sample event in events/ is put on it. Each must reach exactly the function the route table
// names (one rule per hub bus), failed calls and ecr-warden's own writes reach nothing, the
// forwarding rules carry exactly what the hub routes from where they sit, and every route is
// exercised by a sample.
func TestEveryEventReachesExactlyItsFunction(t *testing.T) {
	localaws.NeedCDK(t)
	d := built.Decl
	m := newMatcher(t)
	hub := built.Hubs["us-east-1"]
	fnOf := map[string]string{}
	for fn, f := range hub.Functions.ByName {
		fnOf[logicalID(f.Node().DefaultChild())] = fn
	}
	ruleFn := map[string]string{}
	for name, r := range rulesByName(t, hubUS) {
		if _, scheduled := r["ScheduleExpression"]; scheduled {
			continue
		}
		bus := "default"
		if _, custom := r["EventBusName"]; custom {
			bus = "ecr-warden"
		}
		arn := asList(r["Targets"])[0].(map[string]interface{})["Arn"].(map[string]interface{})["Fn::GetAtt"].([]interface{})
		ruleFn["hub/"+name] = fnOf[arn[0].(string)]
		m.add(bus, "hub/"+name, r["EventPattern"])
	}
	for name, r := range rulesByName(t, mgmt) {
		m.add("management", "management/"+name, r["EventPattern"])
	}
	for id, r := range resourcesOf(member, "AWS::Events::Rule") {
		m.add("member", "member/"+id, props(r)["EventPattern"])
	}

	covered := map[string]bool{}
	for _, s := range samples(t, d) {
		hits := m.match(s.raw)
		var want []string
		if s.route.ID != "" {
			covered[s.route.ID] = true
			want = []string{"hub/ecr-warden-custom-" + s.route.ID, "hub/ecr-warden-default-" + s.route.ID}
			switch s.route.Origin {
			case trigger.FromManagement:
				want = append(want, "management/ecr-warden-forward-"+s.route.ID)
			case trigger.FromRegistries:
				want = append(want, "member/Forward"+s.route.ID)
			}
			sort.Strings(want)
		}
		if !slices.Equal(hits, want) {
			t.Errorf("%s reached %v\nwant %v", s.name, hits, want)
			continue
		}
		for _, h := range hits {
			if fn, ok := ruleFn[h]; ok && fn != s.route.Function {
				t.Errorf("%s: rule %s invokes %s, the route table says %s", s.name, h, fn, s.route.Function)
			}
		}
	}
	for _, r := range trigger.Routes {
		if _, ok := patternOf(r, d); ok && !covered[r.ID] {
			t.Errorf("route %s: no sample in events/ reaches it", r.ID)
		}
	}
	// Organizations and Control Tower events come only from the management account: the same
	// samples put by a member (which may put events on the hub bus) reach no rule.
	for _, s := range samples(t, d) {
		if s.route.Origin != trigger.FromManagement {
			continue
		}
		if hits := m.match(fromAccount(t, s.raw, "222222222222")); len(hits) != 0 {
			t.Errorf("%s put by member 222222222222 reached %v, want no rule", s.name, hits)
		}
	}
	// ecr-warden's own writes wake nothing: every drift sample, made by a session of the member
	// execution role (in the sample's account) or of a hub function role (in the hub account,
	// where those roles live), reaches no rule at all. A role of a member that merely shares a hub
	// function role's name is anyone else: its edit reaches drift like the sample's own caller's.
	worker := d.Names.FunctionRole(FnWorker, "eu-west-1")
	for _, s := range samples(t, d) {
		if s.route.Function != trigger.FnDrift {
			continue
		}
		own := map[string][]byte{
			d.MemberRoleName: asSessionOf(t, s.raw, d.MemberRoleName, ""),
			worker:           asSessionOf(t, s.raw, worker, d.Hub.AccountID),
		}
		for role, raw := range own {
			if hits := m.match(raw); len(hits) != 0 {
				t.Errorf("%s written by ecr-warden's role %s reached %v: a loop", s.name, role, hits)
			}
		}
		if acct := accountOf(t, s.raw); acct != d.Hub.AccountID {
			lookAlike := asSessionOf(t, s.raw, worker, acct)
			if hits, want := m.match(lookAlike), m.match(s.raw); len(want) == 0 || !slices.Equal(hits, want) {
				t.Errorf("%s written by %s's own role named %s reached %v, want %v (drift, as any other caller)", s.name, acct, worker, hits, want)
			}
		}
	}
}

// accountOf is the account a sample's API call was made in.
func accountOf(t *testing.T, raw []byte) string {
	t.Helper()
	var ev struct {
		Detail struct {
			RecipientAccountID string `json:"recipientAccountId"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev.Detail.RecipientAccountID
}

// asSessionOf rewrites a sample's caller into a session of role in account roleAccount (the
// sample's own account when empty).
func asSessionOf(t *testing.T, raw []byte, role, roleAccount string) []byte {
	t.Helper()
	var ev map[string]interface{}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	detail := ev["detail"].(map[string]interface{})
	acct := roleAccount
	if acct == "" {
		acct = fmt.Sprint(detail["recipientAccountId"])
	}
	detail["userIdentity"] = map[string]interface{}{"type": "AssumedRole", "arn": "arn:aws:sts::" + acct + ":assumed-role/" + role + "/ecr-warden-worker",
		"sessionContext": map[string]interface{}{"sessionIssuer": map[string]interface{}{"type": "Role", "arn": "arn:aws:iam::" + acct + ":role/" + role, "userName": role}}}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fromAccount rewrites a sample's envelope account.
func fromAccount(t *testing.T, raw []byte, account string) []byte {
	t.Helper()
	var ev map[string]interface{}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	ev["account"] = account
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
