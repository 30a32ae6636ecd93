package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/organizations"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
)

// shareTag is the tag the example declaration's repository-placed grant
// (tagged-org-pull) matches; the other private grants live in registry
// policies, which a repository event does not touch.
var shareTag = map[string]string{"share": "org"}

// deliver replays one sample event to the repository function and prints
// what it decided and the writes it made.
func (d *demo) deliver(ctx context.Context, fn, label, file string, event []byte) (response, error) {
	resp, _, writes, err := d.invoke(ctx, fn, event)
	if err != nil {
		return resp, fmt.Errorf("%s (events/%s): %w", label, file, err)
	}
	d.res.Writes[label] = writes
	if resp.Rejected != "" {
		d.res.Rejected[label] = resp.Rejected
		d.p.line("events/%s -> rejected (%s), AWS writes: %d", file, resp.Rejected, writes)
		d.p.line("  why: %s", resp.Detail)
		return resp, nil
	}
	d.p.line("events/%s -> %s: %d changed, %d unchanged; AWS writes: %s", file, fn, resp.Changed, resp.Unchanged, d.writesByOp())
	return resp, nil
}

// showRepositoryPolicy reads a repository policy back from AWS and prints it.
func (d *demo) showRepositoryPolicy(ctx context.Context, label, account, name string) error {
	text, err := d.w.repositoryPolicy(ctx, account, name)
	if err != nil {
		return err
	}
	d.res.Policies[label] = text
	d.p.document(fmt.Sprintf("repository policy of %s in %s", name, account), text)
	return nil
}

// (a) repositories created by API in the hub and in a member.
func (d *demo) stepCreated(ctx context.Context) error {
	d.p.heading("(a)", "repositories created by API: shared/base in the hub, team-a/app in member team-a")
	d.p.line("both are tagged share=org, which the declaration's repository-level grant tagged-org-pull matches")
	for _, c := range []struct{ label, account, name, file string }{
		{"hub shared/base", d.w.hub, "shared/base", "ecr-create-repository-api.json"},
		{"team-a team-a/app", d.w.teamA, "team-a/app", "ecr-create-repository-api-member.json"},
	} {
		if err := d.w.createRepository(ctx, c.account, c.name, shareTag); err != nil {
			return err
		}
		ev, err := d.w.event(d.opt.Root, c.file, "")
		if err != nil {
			return err
		}
		if _, err := d.deliver(ctx, "repository", c.label, c.file, ev); err != nil {
			return err
		}
		if err := d.showRepositoryPolicy(ctx, c.label, c.account, c.name); err != nil {
			return err
		}
	}
	return nil
}

// (b) a repository ECR itself created through a pull-through-cache rule.
func (d *demo) stepService(ctx context.Context) error {
	d.p.heading("(b)", "a repository created by ECR itself (pull-through cache, AWS Service Event) in team-a")
	d.p.line("ecr-public/library/nginx, tagged share=org as a creation template for PULL_THROUGH_CACHE would tag it")
	const name, file = "ecr-public/library/nginx", "ecr-create-repository-service.json"
	if err := d.w.createRepository(ctx, d.w.teamA, name, shareTag); err != nil {
		return err
	}
	ev, err := d.w.event(d.opt.Root, file, "")
	if err != nil {
		return err
	}
	if _, err := d.deliver(ctx, "repository", "team-a "+name, file, ev); err != nil {
		return err
	}
	text, err := d.w.repositoryPolicy(ctx, d.w.teamA, name)
	if err != nil {
		return err
	}
	d.res.Policies["team-a "+name] = text
	if text == "" {
		d.p.line("repository policy of %s: (none)", name)
	} else {
		d.p.line("repository policy of %s: statements %s (the same grant as team-a/app)", name, strings.Join(sids(text), ", "))
	}
	return nil
}

// (c) events that must change nothing.
func (d *demo) stepRejected(ctx context.Context) error {
	d.p.heading("(c)", "a failed CreateRepository call and an unrelated S3 event: rejected, audited, nothing written")
	for _, c := range []struct{ label, file string }{
		{"rejected failed-call", "ecr-create-repository-failed.json"},
		{"rejected unrelated", "unrelated-s3-put-object.json"},
	} {
		ev, err := d.w.event(d.opt.Root, c.file, "")
		if err != nil {
			return err
		}
		if _, err := d.deliver(ctx, "repository", c.label, c.file, ev); err != nil {
			return err
		}
	}
	return nil
}

// (d) the same event delivered again.
func (d *demo) stepDuplicate(ctx context.Context) error {
	d.p.heading("(d)", "the same event delivered twice (EventBridge delivers at least once)")
	const file = "ecr-create-repository-api.json"
	ev, err := d.w.event(d.opt.Root, file, "")
	if err != nil {
		return err
	}
	if _, err := d.deliver(ctx, "repository", "duplicate", file, ev); err != nil {
		return err
	}
	d.p.line("first delivery in (a) wrote %d time(s); this one %d: the policy already says what the declaration says",
		d.res.Writes["hub shared/base"], d.res.Writes["duplicate"])
	return nil
}

// foreignStatement is a statement someone else wrote; ecr-warden must keep it.
const foreignStatement = `{"Sid":"LegacyBuildFarmPull","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:role/build-farm"},"Action":["ecr:BatchGetImage","ecr:GetDownloadUrlForLayer"]}`

// (e) a repository whose policy already holds a foreign statement.
func (d *demo) stepForeign(ctx context.Context) error {
	d.p.heading("(e)", "a repository whose policy already holds someone else's statement keeps it")
	const name, file = "shared/tools", "ecr-create-repository-api.json"
	if err := d.w.createRepository(ctx, d.w.hub, name, shareTag); err != nil {
		return err
	}
	// The statement's author has the role it names (AWS refuses policies naming missing roles).
	teamA, err := d.w.config(ctx, d.w.teamA)
	if err != nil {
		return err
	}
	if err := localaws.CreateRole(ctx, teamA, "build-farm"); err != nil {
		return fmt.Errorf("creating role build-farm in team-a: %w", err)
	}
	stmt := fmt.Sprintf(foreignStatement, d.w.teamA)
	if err := d.w.setRepositoryPolicy(ctx, d.w.hub, name, `{"Version":"2012-10-17","Statement":[`+stmt+`]}`); err != nil {
		return err
	}
	d.res.ForeignBefore = stmt
	d.p.line("shared/tools created in the hub with a hand-written statement LegacyBuildFarmPull")
	ev, err := d.w.event(d.opt.Root, file, "6f87d04b-9f74-4f04-a780-000000000e01", "shared/base", name)
	if err != nil {
		return err
	}
	if _, err := d.deliver(ctx, "repository", "hub "+name, file+" (renamed to "+name+")", ev); err != nil {
		return err
	}
	if err := d.showRepositoryPolicy(ctx, "hub "+name, d.w.hub, name); err != nil {
		return err
	}
	d.res.ForeignAfter = statement(d.res.Policies["hub "+name], "LegacyBuildFarmPull")
	kept := "kept byte for byte"
	if d.res.ForeignAfter != d.res.ForeignBefore {
		kept = "CHANGED (this is a bug)"
	}
	d.p.line("LegacyBuildFarmPull: %s", kept)
	return nil
}

// statement returns the compacted JSON of the statement with sid in text.
func statement(text, sid string) string {
	var doc struct{ Statement []json.RawMessage }
	if json.Unmarshal([]byte(text), &doc) != nil {
		return ""
	}
	for _, raw := range doc.Statement {
		var s struct{ Sid string }
		if json.Unmarshal(raw, &s) == nil && s.Sid == sid {
			var b bytes.Buffer
			if json.Compact(&b, raw) == nil {
				return b.String()
			}
		}
	}
	return ""
}

// (f) an account joins the organization.
func (d *demo) stepJoin(ctx context.Context) error {
	d.p.heading("(f)", "an account joins: its pull-through-cache role, rules and registry policy, and the hub's grant")
	if d.fns["account"] == nil {
		d.res.Skipped = append(d.res.Skipped, "account")
		d.p.line("skipped: functions/account is not in this tree yet")
		return nil
	}
	org := organizations.NewFromConfig(d.w.srv.Config(region))
	joined, err := createAccount(ctx, org, "team-c")
	if err != nil {
		return err
	}
	if err := moveAccount(ctx, org, joined, d.w.rootID, d.w.workloadsOU); err != nil {
		return err
	}
	d.res.Joined = joined
	// Account vending provisions what the declaration expects in every PTC
	// member (the Docker Hub secret, the PTC user role), as for team-a.
	if err := d.w.seedMember(ctx, joined); err != nil {
		return err
	}
	d.p.line("CreateAccount team-c -> %s, placed in OU workloads (%s), with the declared PTC secret and role", joined, d.w.workloadsOU)
	const file = "org-create-account-result-succeeded.json"
	ev, err := d.w.event(d.opt.Root, file, "", exampleSecurity, joined)
	if err != nil {
		return err
	}
	if _, err := d.deliver(ctx, "account", "join", file+" (account "+joined+")", ev); err != nil {
		return err
	}
	ptc := d.w.decl.PullThroughCache
	if ptc != nil && ptc.Role.Name != "" {
		trust, inline, err := d.w.role(ctx, joined, ptc.Role.Name)
		if err != nil {
			return err
		}
		d.res.Policies["join role trust"] = trust
		d.p.document("role "+ptc.Role.Name+" trust policy", trust)
		names := make([]string, 0, len(inline))
		for n := range inline {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			d.res.Policies["join role policy "+n] = inline[n]
			d.p.document("role "+ptc.Role.Name+" permission policy "+n, inline[n])
		}
	}
	rules, err := d.w.ptcRules(ctx, joined)
	if err != nil {
		return err
	}
	if len(d.w.decl.Hub.Regions) > 1 {
		d.p.line("the declaration names regions %s: each got the same; shown here is %s", strings.Join(d.w.decl.Hub.Regions, ", "), region)
	}
	d.p.line("pull-through-cache rules in %s (%s):", joined, region)
	var prefixes []string
	for _, r := range rules {
		prefixes = append(prefixes, aws.ToString(r.EcrRepositoryPrefix))
		extra := ""
		if r.CustomRoleArn != nil {
			extra += " role=" + aws.ToString(r.CustomRoleArn)
		}
		if r.UpstreamRepositoryPrefix != nil {
			extra += " upstreamPrefix=" + aws.ToString(r.UpstreamRepositoryPrefix)
		}
		if r.CredentialArn != nil {
			extra += " credential=" + aws.ToString(r.CredentialArn)
		}
		d.p.line("  %-11s <- %s%s", aws.ToString(r.EcrRepositoryPrefix), aws.ToString(r.UpstreamRegistryUrl), extra)
	}
	d.res.Policies["join rules"] = strings.Join(prefixes, ",")
	reg, err := d.w.registryPolicy(ctx, joined)
	if err != nil {
		return err
	}
	d.res.Policies["join registry"] = reg
	d.p.document("registry policy of "+joined, reg)
	hub, err := d.w.registryPolicy(ctx, d.w.hub)
	if err != nil {
		return err
	}
	d.res.Policies["hub registry"] = hub
	d.p.document("hub registry policy, the statements naming "+joined, statementsMentioning(hub, joined))
	return nil
}

// (g) an ECR Public repository.
func (d *demo) stepPublic(ctx context.Context) error {
	d.p.heading("(g)", "an ECR Public repository created in the hub (us-east-1): who may push to it")
	const name, file = "tools/scanner", "ecr-public-create-repository.json"
	if err := d.w.createPublic(ctx, name); err != nil {
		return err
	}
	ev, err := d.w.event(d.opt.Root, file, "")
	if err != nil {
		return err
	}
	if _, err := d.deliver(ctx, "repository", "public "+name, file, ev); err != nil {
		return err
	}
	text, err := d.w.publicPolicy(ctx, name)
	if err != nil {
		return err
	}
	d.res.Policies["public "+name] = text
	d.p.document("public repository policy of "+name, text)
	return nil
}

// backfillAnswer is the part of the backfill function's answer the demo
// prints: the run's size, its counts and the plan.
type backfillAnswer struct {
	Error    string `json:"error"`
	RunID    string `json:"runId"`
	Accounts int    `json:"accounts"`
	Units    int    `json:"units"`
	Summary  *struct {
		Examined, Unchanged, Changed, Planned, Refused, Failed int
	} `json:"summary"`
	Plan []struct {
		Target, Kind, Op, Diff string
	} `json:"plan"`
}

// (h) a backfill dry run: the plan before anything is written.
func (d *demo) stepBackfill(ctx context.Context) error {
	d.p.heading("(h)", "backfill dry run of everything: the plan, before anything is written")
	if d.fns["backfill"] == nil {
		d.res.Skipped = append(d.res.Skipped, "backfill")
		d.p.line("skipped: functions/backfill is not in this tree yet")
		return nil
	}
	const file = "backfill-all-dryrun.json"
	ev, err := d.w.event(d.opt.Root, file, "")
	if err != nil {
		return err
	}
	_, raw, writes, err := d.invoke(ctx, "backfill", ev)
	if err != nil {
		return fmt.Errorf("backfill dry run (events/%s): %w", file, err)
	}
	d.res.Writes["backfill dry run"] = writes
	var a backfillAnswer
	if err := json.Unmarshal(raw, &a); err != nil || a.Summary == nil {
		return fmt.Errorf("backfill dry run answered %s (%v)", raw, err)
	}
	if a.Error != "" {
		return fmt.Errorf("backfill dry run refused its payload: %s", a.Error)
	}
	s := a.Summary
	d.res.Planned = len(a.Plan)
	d.p.line("events/%s -> %d accounts, %d account+region units; AWS writes: %d", file, a.Accounts, a.Units, writes)
	d.p.line("examined %d documents: %d unchanged, %d would change, %d refused, %d failed", s.Examined, s.Unchanged, s.Planned+s.Changed, s.Refused, s.Failed)
	byKind := map[string]int{}
	accounts := map[string]bool{}
	for _, c := range a.Plan {
		byKind[c.Op+" "+c.Kind]++
		if arn, err := policyAccount(c.Target); err == nil {
			accounts[arn] = true
		}
	}
	var kinds []string
	for k, n := range byKind {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Strings(kinds)
	d.p.line("plan by change: %s", strings.Join(kinds, "; "))
	var accts []string
	for a := range accounts {
		accts = append(accts, d.name(a))
	}
	sort.Strings(accts)
	d.p.line("accounts the plan touches: %s (team-a and security predate ecr-warden: no PTC setup yet)", strings.Join(accts, ", "))
	hubRegistry := fmt.Sprintf("arn:aws:ecr:%s:%s:repository/*", region, d.w.hub)
	for _, c := range a.Plan {
		if c.Target == hubRegistry && c.Diff != "" {
			d.p.line("the hub registry policy (%s) change it plans, statement by statement (= same, ~ changed, +/- lines):", region)
			for _, l := range diffSummary(c.Diff) {
				d.p.line("  %s", l)
			}
		}
	}
	return nil
}

// diffSummary keeps the lines of a plan diff that say what changes: the
// header, the reason, one line per statement, and the added and removed
// lines; the unchanged context of a changed statement is left out.
func diffSummary(diff string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(diff, "\n"), "\n") {
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		switch {
		case strings.HasPrefix(l, "update "), strings.HasPrefix(l, "create "), strings.HasPrefix(t, "reason:"),
			strings.HasPrefix(t, "= "), strings.HasPrefix(t, "~ "), strings.HasPrefix(t, "+"), strings.HasPrefix(t, "-"):
			out = append(out, l)
		}
	}
	return out
}

// name is an account id with the demo's name for it.
func (d *demo) name(id string) string {
	names := map[string]string{d.w.management: "management", d.w.hub: "hub", d.w.teamA: "team-a", d.w.security: "security", d.res.Joined: "team-c"}
	if n := names[id]; n != "" {
		return n + " " + id
	}
	return id
}

// policyAccount is the account id inside an ARN target.
func policyAccount(target string) (string, error) {
	parts := strings.SplitN(target, ":", 6)
	if len(parts) < 6 || parts[4] == "" {
		return "", fmt.Errorf("not an account ARN: %s", target)
	}
	return parts[4], nil
}

// (i) the audit trail of the demo's time window.
func (d *demo) stepAudit(ctx context.Context) error {
	d.p.heading("(i)", "the audit trail (DynamoDB, by-day index, this demo's time window)")
	recs, err := d.w.trail.Window(ctx, d.start, time.Now().Add(time.Second))
	if err != nil {
		return fmt.Errorf("reading the audit trail: %w", err)
	}
	d.res.Trail = recs
	var shown []audit.Record
	dry := 0
	writers, hashes := map[string]bool{}, map[string]bool{}
	for _, r := range recs {
		if r.DryRun {
			dry++
			continue
		}
		// Every record of the demo carries the same few writers and one declaration hash: say them
		// once above the table instead of under every row, so the story stays one screen per step.
		if r.Writer != "" {
			writers[r.Writer] = true
		}
		if r.DeclarationSHA256 != "" {
			hashes[r.DeclarationSHA256] = true
		}
		r.Writer, r.DeclarationSHA256 = "", ""
		shown = append(shown, r)
	}
	d.p.printf("written by %s; declaration sha256 %s\n", strings.Join(slices.Sorted(maps.Keys(writers)), ", "),
		strings.Join(slices.Sorted(maps.Keys(hashes)), ", "))
	if err := audit.WriteTable(d.p.w, shown, false); err != nil {
		return err
	}
	// Every decision is counted, so the parts add up to the total.
	count := func(recs []audit.Record, dryRun bool) string {
		counts := map[audit.Decision]int{}
		for _, r := range recs {
			if r.DryRun == dryRun {
				counts[r.Decision]++
			}
		}
		var parts []string
		for _, dec := range audit.Decisions {
			if counts[dec] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", counts[dec], dec))
			}
		}
		return strings.Join(parts, ", ")
	}
	if dry > 0 {
		d.p.printf("(and %d dry-run records of (h): %s; `make audit RESOURCE=<arn>` shows any resource's history)\n", dry, count(recs, true))
	}
	var parts []string
	if live := count(recs, false); live != "" {
		parts = append(parts, live)
	}
	if dry > 0 {
		parts = append(parts, fmt.Sprintf("dry run: %s", count(recs, true)))
	}
	skipped := ""
	if len(d.res.Skipped) > 0 {
		skipped = "; not yet in this tree: " + strings.Join(d.res.Skipped, ", ")
	}
	writes := 0
	for _, n := range d.res.Writes {
		writes += n
	}
	w := d.res.Writes
	d.p.printf("\nsummary: %d AWS writes in all (duplicate delivery %d, rejected events %d, dry run %d); %d audit records (%s)%s; stopping the local AWS and the functions.\n",
		writes, w["duplicate"], w["rejected failed-call"]+w["rejected unrelated"], w["backfill dry run"], len(recs), strings.Join(parts, "; "), skipped)
	return nil
}
