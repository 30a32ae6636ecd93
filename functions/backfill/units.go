package main

import (
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/reconcile"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// skipped is a selected account that gets no work unit, and why, so the
// operator sees every account the request touched.
type skipped struct {
	Account string `json:"account"`
	Reason  string `json:"reason"`
}

// selection is what a backfill request selects: the work units (one account
// in one region each) and the accounts it could not act on.
type selection struct {
	Units    []reconcile.Work
	Accounts []string // selected accounts that got units (hub first)
	Regions  []string
	Skipped  []skipped
	Missing  []string // requested accounts or OUs that selected nothing
	// Retired are the members a full run retires (retire.go): remembered
	// as configured by the last full run, configured by nothing now.
	Retired []string
	// Configured are the members the units configure, sorted; Remember
	// the regions whose remembered members a full run replaces with them
	// once every unit is sent; RetireErr says which regions' sets could
	// not be read (nothing retired there, their sets kept).
	Configured []string
	Remember   []string
	// Read are the sets the run read, per region in Remember: each is
	// replaced only if no other run wrote it since (lease.Leaser.Remember).
	Read map[string]lease.Remembered
	// Kept are, per region, the remembered members the organization holds
	// but not as ACTIVE: remembered again with Configured (retire.go).
	Kept      map[string][]string
	RetireErr error
}

// enumerates reports whether some grant lists the organization's accounts
// one by one (enumerate mode with the organization or OUs as principals):
// then a document's owned statements depend on the whole organization, not
// only on the account that holds it.
func enumerates(d *config.Declaration) bool {
	for _, g := range d.Grants {
		if g.PrincipalMode == config.ModeEnumerate && (g.Principals.Organization || len(g.Principals.OUs) > 0) {
			return true
		}
	}
	return false
}

// orgDependent reports whether some document depends on which accounts the
// organization holds: enumerating grants, and the hub's upstream grant for
// pull-through cache from the hub (it names, or is conditioned on, the PTC
// members). Such a declaration needs the whole organization walked even for
// a backfill of one OU, or the hub's documents would lose the other accounts.
func orgDependent(d *config.Declaration) bool {
	return enumerates(d) || d.HasFromHubRules()
}

// wholeOrg reports whether the walk must cover the whole organization: the
// request selects every account, names OUs (matched against the walked OU
// paths, which costs no extra ListParents per OU), or the declaration's
// documents depend on the whole organization. Otherwise only the named
// accounts are read.
func wholeOrg(d *config.Declaration, t trigger.BackfillTargets) bool {
	return t.All || len(t.Accounts) == 0 || len(t.OUs) > 0 || orgDependent(d)
}

// walkScope is the one Walk a request needs.
func walkScope(d *config.Declaration, t trigger.BackfillTargets) inventory.WalkScope {
	if wholeOrg(d, t) {
		return inventory.WalkScope{All: true}
	}
	var ids []string
	for _, a := range t.Accounts {
		if a != d.Hub.AccountID {
			ids = append(ids, a)
		}
	}
	if len(ids) == 0 {
		// Only the hub is named: nothing to read but something to select.
		return inventory.WalkScope{}
	}
	return inventory.WalkScope{AccountIDs: ids}
}

// regionsOf is the declared regions the request selects, in declaration
// order. Requested regions that are not declared are an error naming each
// (the handler's parse refuses them first; a request built in code may not).
func regionsOf(d *config.Declaration, t trigger.BackfillTargets) ([]string, error) {
	if ps := t.UndeclaredRegions(d.Hub.Regions); len(ps) > 0 {
		return nil, errors.New(strings.Join(ps, "; "))
	}
	var out []string
	for _, r := range d.Hub.Regions {
		if len(t.Regions) == 0 || slices.Contains(t.Regions, r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// underOU reports whether an OU path ("o-x/r-y/ou-a/ou-b/") lies below the
// OU or root id.
func underOU(path, id string) bool {
	return strings.Contains(path, "/"+id+"/")
}

// selectUnits decides the work units of a request from one walk of the
// organization. The hub and each selected managed member get one unit per
// selected region; a member's IAM role (global) is converged in its first
// region only. Every unit carries the accounts its documents depend on: the
// whole walked organization for the hub, and for members either only the
// member itself or, when grants enumerate, the whole organization. Keeping
// member messages small matters at 1,000 accounts (SQS messages are at most
// 256 KiB).
func selectUnits(d *config.Declaration, req trigger.BackfillRequest, runID string, walk inventory.WalkResult) (selection, error) {
	t := req.Targets
	regions, err := regionsOf(d, t)
	if err != nil {
		return selection{}, err
	}
	sel := selection{Regions: regions}
	explicit := len(t.Accounts) > 0 || len(t.OUs) > 0
	picked := func(a inventory.Account) bool {
		if !explicit {
			return true
		}
		if slices.Contains(t.Accounts, a.ID) {
			return true
		}
		return slices.ContainsFunc(t.OUs, func(ou string) bool { return underOU(a.OUPath, ou) })
	}

	context := make([]desired.Account, 0, len(walk.Accounts))
	known := map[string]bool{}
	hubSelected := !explicit || slices.Contains(t.Accounts, d.Hub.AccountID)
	var members []desired.Account
	for _, a := range walk.Accounts {
		known[a.ID] = true
		// Names are not used by any rendering; dropping them keeps messages small.
		da := desired.Account{ID: a.ID, Status: a.Status, OUPath: a.OUPath}
		context = append(context, da)
		if !picked(a) {
			continue
		}
		switch {
		case a.ID == d.Hub.AccountID:
			hubSelected = true
		case a.ID == d.Hub.ManagementAccountID:
			sel.Skipped = append(sel.Skipped, skipped{a.ID, "the management account is never a managed member (the member StackSet does not deploy there)"})
		case !desired.ManagedMember(d, da):
			sel.Skipped = append(sel.Skipped, skipped{a.ID, "not a managed member (status " + a.Status + ")"})
		default:
			members = append(members, da)
		}
	}
	// Only members the declaration configures have the execution role (the
	// member StackSet targets the same selectors); assuming into any other
	// would fail and dead-letter its unit on every sweep.
	state := desired.New(d, context)
	var retire []desired.Account // named by id, configured by nothing: retired (retire.go)
	members = slices.DeleteFunc(members, func(m desired.Account) bool {
		if state.Configures(m.ID) {
			return false
		}
		if slices.Contains(t.Accounts, m.ID) {
			retire = append(retire, m)
			return true
		}
		sel.Skipped = append(sel.Skipped, skipped{m.ID, "the declaration configures nothing in this account (no pull-through cache, no grant in its registry), so the member StackSet does not deploy the execution role there"})
		return true
	})
	for _, a := range walk.Skipped {
		known[a.ID] = true
		if picked(a) {
			sel.Skipped = append(sel.Skipped, skipped{a.ID, "account is " + a.Status + " in the organization; only ACTIVE accounts are configured"})
		}
	}
	for _, id := range t.Accounts {
		if id != d.Hub.AccountID && !known[id] {
			sel.Missing = append(sel.Missing, id)
		}
	}
	for _, ou := range t.OUs {
		if !slices.ContainsFunc(walk.Accounts, func(a inventory.Account) bool { return underOU(a.OUPath, ou) }) &&
			!slices.ContainsFunc(walk.Skipped, func(a inventory.Account) bool { return underOU(a.OUPath, ou) }) {
			sel.Missing = append(sel.Missing, ou)
		}
	}

	memberContext := enumerates(d)
	unit := func(account string, accounts []desired.Account, role bool, region string) reconcile.Work {
		return reconcile.Work{RunID: runID, Account: account, Region: region, Accounts: accounts,
			Repositories: t.Repositories, DryRun: req.DryRun, Sweep: req.Sweep, Role: role}
	}
	if hubSelected {
		hubContext := context
		if !orgDependent(d) {
			// The hub's documents list no accounts: its unit needs only
			// the accounts the grants name (their membership spares the
			// principal check a read each). The whole organization would
			// pass SQS's 256 KiB message limit, even compressed, at about
			// workqueue.FitAccounts accounts and fail every run for a
			// declaration that never enumerates.
			hubContext = namedAccounts(d, context)
		}
		if len(hubContext) == 0 {
			hubContext = []desired.Account{{ID: d.Hub.AccountID, Status: "ACTIVE"}}
		}
		sel.Accounts = append(sel.Accounts, d.Hub.AccountID)
		for _, r := range regions {
			sel.Units = append(sel.Units, unit(d.Hub.AccountID, hubContext, false, r))
		}
	}
	for _, m := range members {
		accounts := []desired.Account{m}
		if memberContext {
			accounts = context
		}
		sel.Accounts = append(sel.Accounts, m.ID)
		for i, r := range regions {
			sel.Units = append(sel.Units, unit(m.ID, accounts, i == 0, r))
		}
	}
	for _, m := range retire {
		sel.Retired = append(sel.Retired, m.ID)
		for _, r := range regions {
			sel.Units = append(sel.Units, retireUnit(req, runID, r, m))
		}
	}
	return sel, nil
}

// namedAccounts are the accounts of context that d's grants name as
// principals (an account, or a role's account), in context's order.
func namedAccounts(d *config.Declaration, context []desired.Account) []desired.Account {
	named := map[string]bool{}
	add := func(accounts, roles []string) {
		for _, a := range accounts {
			named[a] = true
		}
		for _, r := range roles {
			if m := roleAccount.FindStringSubmatch(r); m != nil {
				named[m[1]] = true
			}
		}
	}
	for _, g := range d.Grants {
		add(g.Principals.Accounts, g.Principals.Roles)
	}
	for _, g := range d.PublicRepositories {
		add(g.Principals.Accounts, g.Principals.Roles)
	}
	var out []desired.Account
	for _, a := range context {
		if named[a.ID] {
			out = append(out, a)
		}
	}
	return out
}

// roleAccount finds the account of a role ARN.
var roleAccount = regexp.MustCompile(`^arn:[^:]+:iam::(\d{12}):`)
