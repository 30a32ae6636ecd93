package iamsim

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// The hub documents after one account event, in the same truth table. An
// account event does not render the hub from a walk of the organization: it
// adds or removes the one account in what AWS holds (desired.Incremental). So
// the rows evaluate the documents an event writes on top of the documents the
// whole organization rendered before it, with every caller as the
// organization places it after the event (a departed account is in no
// organization), against the model over the organization after the event.

// accountEvent is one row group: the account whose place changed, and where
// it is now ("" path: it left the organization).
type accountEvent struct {
	name    string
	account string
	path    string
}

var accountEvents = []accountEvent{
	{"member of the granted OU leaves", grantedA, ""},
	{"member of the granted OU moves to the other OU", grantedA, ouB},
	{"member of the other OU moves into the granted OU", otherB, ouA},
	{"member of the OU whose id extends the granted OU's moves into the granted parent OU", sibling, ouParent},
	{"member of the OU below the granted OU moves to the root", nested, rootPath},
}

// after returns the callers as the organization places them after e.
func (e accountEvent) after() []caller {
	out := slices.Clone(callers)
	for i, c := range out {
		if c.account != e.account {
			continue
		}
		c.name += " (" + e.name + ")"
		if e.path == "" {
			c.org, c.path = "", ""
		} else {
			c.path = e.path
		}
		out[i] = c
	}
	return out
}

// ownedAsHeld is what AWS holds of statements ecr-warden wrote: their text
// read back, as an event reads the document before changing it.
func ownedAsHeld(t testing.TB, kind policy.DocumentKind, sts []policy.Statement, prefix string) []policy.Statement {
	t.Helper()
	if len(sts) == 0 {
		return nil
	}
	text, err := desired.Render(kind, sts).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	owned, err := policy.OwnedOf(text, prefix)
	if err != nil {
		t.Fatal(err)
	}
	return owned
}

// eventContext is contextOf for a caller that may be in no organization.
func eventContext(c caller, r repo) map[string]any {
	ctx := contextOf(c, r)
	if c.org == "" {
		delete(ctx, "aws:PrincipalOrgID")
		delete(ctx, "aws:PrincipalOrgPaths")
	}
	return ctx
}

// eventCases: for each account event, every caller (as placed after it) x
// action x hub repository against the hub registry policy and repository
// policy the event writes.
func eventCases(t testing.TB, d *config.Declaration, decl int) ([]Case, []row) {
	before := desired.New(d, organization())
	var cs []Case
	var rows []row
	for _, e := range accountEvents {
		changed := desired.Account{ID: e.account, Status: "ACTIVE", OUPath: e.path}
		present := e.path != ""
		registry := desired.Incremental(d, func(s *desired.State) []policy.Statement { return s.RegistryStatements(hubID, region) },
			ownedAsHeld(t, policy.ECRRegistryPolicy, before.RegistryStatements(hubID, region), d.SidPrefix), changed, present)
		repos := reposFor(d)
		if d.HasFromHubRules() {
			repos = append(repos, ptcRepos(d)[len(repos):]...)
		}
		for _, r := range repos {
			dr := desired.Repository{Account: hubID, Region: region, Name: r.name, Tags: r.tags}
			repository := desired.Incremental(d, func(s *desired.State) []policy.Statement { return s.RepositoryStatements(dr) },
				ownedAsHeld(t, policy.ECRRepositoryPolicy, before.RepositoryStatements(dr), d.SidPrefix), changed, present)
			sts := slices.Concat(registry, repository)
			var rp any
			if len(sts) > 0 {
				for i := range sts {
					sts[i].Sid = fmt.Sprintf("S%d", i)
				}
				rp = asJSON(t, &policy.Document{Version: policy.VersionCurrent, Statements: sts})
			}
			for _, c := range e.after() {
				for _, col := range columns {
					cs = append(cs, Case{Principal: c.arn(), Action: col.action, Resource: policy.RepositoryARN("aws", region, hubID, r.name),
						ResourceAccount: hubID, Context: eventContext(c, r), ResourcePolicy: rp, IdentityPolicy: identityOf(c)})
					rows = append(rows, row{decl: decl, caller: c, column: col.name, repo: r, want: granted(d, c, col.action, r)})
				}
			}
			if !d.HasFromHubRules() || !underUpstream(d, r) {
				continue
			}
			// A role named like the PTC role in every account, as the
			// organization places it after the event: the upstream grant
			// the event writes admits it only where the account is now a
			// PTC member (not after it left, not after it moved out of the
			// selected OUs).
			for _, c := range e.after() {
				if c.account == "" {
					continue
				}
				arn := policy.RoleARN("aws", c.account, d.PullThroughCache.Role.Name)
				ctx := eventContext(c, r)
				ctx["aws:PrincipalArn"] = arn
				for _, col := range columns {
					// The upstream grant's actions, and push, which it never gives.
					if col.name != "pull" && col.name != "push" && col.name != "BatchImportUpstreamImage" {
						continue
					}
					cs = append(cs, Case{Principal: arn, Action: col.action, Resource: policy.RepositoryARN("aws", region, hubID, r.name),
						ResourceAccount: hubID, Context: ctx, ResourcePolicy: rp, IdentityPolicy: identityOf(c)})
					pc := c
					pc.name = "role named like the PTC role in the " + c.name
					rows = append(rows, row{decl: decl, caller: pc, column: col.name, repo: r, want: ptcNamedAfter(d, c, arn, col.action, r)})
				}
			}
		}
	}
	return cs, rows
}

// ptcNamedAfter is the model for a role named like the PTC role of caller c
// (placed in the organization as after an event): what a hub grant gives
// it, and the upstream grant's actions on the upstream prefixes only while
// its account is a PTC member in the organization.
func ptcNamedAfter(d *config.Declaration, c caller, arn, action string, r repo) bool {
	if grantedBy(d, c, arn, action, r, func(g config.Grant) bool { return g.Registries.Hub }) {
		return true
	}
	return c.org == orgID && c.path != "" && ptcMemberAccount(d, c.account, c.path) &&
		slices.Contains(desired.UpstreamActions, action) && underUpstream(d, r)
}
