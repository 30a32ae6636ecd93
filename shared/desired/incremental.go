package desired

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Incremental computes the owned statements of one document after a single
// account's place in the organization changed (it joined, moved or left),
// without reading the rest of the organization: an account event must cost a
// number of Organizations calls that does not grow with the organization.
//
// Statements that enumerate accounts (enumerate-mode grants, the hub's
// upstream grant for pull-through cache) keep the accounts they name now (an
// enumeration names nothing else, so other principals are dropped); only the
// changed account is added or removed, according to whether the
// declaration selects it at its new OU path. Every other owned statement is
// rendered from the declaration as usual. The full picture (accounts listed in
// a grant that was since edited, accounts whose events were lost) is restored
// by the backfill and the sweep, which walk the organization.
//
// render produces the document's owned statements from a desired state.
// current holds the document's owned statements as AWS has them now. changed
// is the account; present is false when it left the organization.
func Incremental(d *config.Declaration, render func(*State) []policy.Statement, current []policy.Statement, changed Account, present bool) []policy.Statement {
	probes := probeAccounts(d)
	fake := map[string]bool{}
	for _, a := range probes {
		fake[policy.AccountRootARN(d.Hub.Partition, a.ID)] = true
	}
	// Members listed by id (pullThroughCache.members.accounts) enumerate
	// too, but only the ones in the organization: render with them so their
	// statements exist, and treat a statement naming one as enumerating.
	listed := listedAccounts(d)
	enumerated := maps.Clone(fake)
	for _, a := range listed {
		enumerated[policy.AccountRootARN(d.Hub.Partition, a.ID)] = true
	}
	universal := render(New(d, append(probes, listed...)))
	base := bySid(render(New(d, nil)))
	var withA map[string]policy.Statement
	if present && changed.Active() {
		withA = bySid(render(New(d, []Account{changed})))
	} else {
		withA = base
	}
	now := bySid(current)
	root := policy.AccountRootARN(d.Hub.Partition, changed.ID)

	var out []policy.Statement
	seen := map[string]bool{}
	for _, u := range universal {
		seen[u.Sid] = true
		if !enumerating(u, enumerated) {
			// A statement that names no account but exists only while some
			// member does (the condition-mode upstream grant) is kept when
			// the changed account alone would not produce it: the others
			// are still there.
			if s, ok := withA[u.Sid]; ok {
				out = append(out, s)
			} else {
				out = append(out, u)
			}
			continue
		}
		set := map[string]bool{}
		if c, ok := now[u.Sid]; ok && c.Principal != nil {
			for _, p := range c.Principal.AWS {
				// Only accounts are kept: an enumeration names nothing else,
				// so anything else under its Sid ("*", a role or user) was
				// written by hand and is not carried as if it were an
				// account this event does not know about.
				if r, ok := accountRoot(d.Hub.Partition, p); ok {
					set[r] = true
				}
			}
		}
		delete(set, root)
		if s, ok := base[u.Sid]; ok && s.Principal != nil {
			for _, p := range s.Principal.AWS {
				set[p] = true
			}
		}
		if s, ok := withA[u.Sid]; ok && s.Principal != nil && slices.Contains(s.Principal.AWS, root) {
			set[root] = true
		}
		for f := range fake {
			delete(set, f)
		}
		if len(set) == 0 {
			continue
		}
		principals := make(policy.StringList, 0, len(set))
		for p := range set {
			principals = append(principals, p)
		}
		slices.Sort(principals)
		s := u
		p := *u.Principal
		p.AWS = principals
		s.Principal = &p
		out = append(out, s)
	}
	// Statements only the changed account brings (none today; kept for safety).
	for _, s := range render(New(d, []Account{changed})) {
		if !seen[s.Sid] && present {
			out = append(out, s)
			seen[s.Sid] = true
		}
	}
	return out
}

// listedAccounts are the PTC members the declaration lists by id, placed at
// a probe root so that rendering with them yields the statements that
// enumerate listed members.
func listedAccounts(d *config.Declaration) []Account {
	if d.PullThroughCache == nil {
		return nil
	}
	root := d.Hub.OrganizationID + "/r-probe/"
	var out []Account
	for _, id := range d.PullThroughCache.Members.Accounts {
		out = append(out, Account{ID: id, Status: "ACTIVE", OUPath: root})
	}
	return out
}

// probeAccounts are synthetic accounts, one at the root and one inside each OU
// the declaration names, so that rendering with them produces every statement
// an enumeration could produce. Their ids are never valid member ids of a real
// organization (they start with 0000000000) and are stripped afterwards.
func probeAccounts(d *config.Declaration) []Account {
	var ous []string
	add := func(list []string) { ous = append(ous, list...) }
	for _, g := range d.Grants {
		add(g.Principals.OUs)
		add(g.Registries.OUs)
	}
	if d.PullThroughCache != nil {
		add(d.PullThroughCache.Members.OUs)
	}
	slices.Sort(ous)
	ous = slices.Compact(ous)
	root := d.Hub.OrganizationID + "/r-probe/"
	out := []Account{{ID: "000000000001", Status: "ACTIVE", OUPath: root}}
	for i, ou := range ous {
		out = append(out, Account{ID: fmt.Sprintf("00000001%04d", i), Status: "ACTIVE", OUPath: ou})
	}
	return out
}

func enumerating(s policy.Statement, fake map[string]bool) bool {
	if s.Principal == nil {
		return false
	}
	for _, p := range s.Principal.AWS {
		if fake[p] {
			return true
		}
	}
	return false
}

func bySid(sts []policy.Statement) map[string]policy.Statement {
	m := make(map[string]policy.Statement, len(sts))
	for _, s := range sts {
		m[s.Sid] = s
	}
	return m
}

// accountRoot returns the root ARN (the form ecr-warden renders, so set
// arithmetic on principals is exact) of a principal that names an account: a
// bare account id or a root ARN of the partition. ok is false for anything
// else.
func accountRoot(partition, p string) (string, bool) {
	if policy.ValidAccountID(p) {
		return policy.AccountRootARN(partition, p), true
	}
	rest, isIAM := strings.CutPrefix(p, "arn:"+partition+":iam::")
	id, isRoot := strings.CutSuffix(rest, ":root")
	if isIAM && isRoot && policy.ValidAccountID(id) {
		return p, true
	}
	return "", false
}
