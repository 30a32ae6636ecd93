package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// keptErrors is how many errors a unit's Report keeps with
// Engine.CountsOnly: enough to name the first documents that failed or were
// refused in the worker's log line; a last error says how many more there
// were (moreErrors), and each has its own audit record.
const keptErrors = 20

// moreErrors is the error that ends a Report whose errors were cut to
// keptErrors: without it the worker's log line read as if the first 20
// were all.
func moreErrors(n int, run string) string {
	return fmt.Sprintf("… and %d more errors (each document's is in its own audit record: %s)", n, audit.RunCommand(run, audit.DecisionRefused, audit.DecisionFailed))
}

// unitChunk is how many repositories a unit reads and writes per hold of its
// registry's lease. Events writing to the registry wait for the lease; a
// chunk keeps that wait to one chunk's reads and writes (seconds), however
// large the registry, and a long unit never holds one lease past renewals.
const unitChunk = 200

// registryUnit converges one registry's documents as a unit: its
// pull-through-cache rules (members), its registry policy and every
// (selected) repository policy. The listing and the tag pages are read
// first; then, chunk by chunk, the unit takes the registry's lease (the key
// every writer of these documents takes, events included), reads each
// document once under it, plans, and hands the chunk to ApplyHeld: one batch
// of intents, the fenced writes, one batch of outcomes. Nothing read under
// the lease can change before it is written, so nothing is read twice.
//
// The repositories go in name order. A unit with a cursor (w.After) skips
// those at or before it and plans no registry-level document (its first try
// did). Before each next chunk, a unit that may stop early
// (Engine.UnitReserve) and has too little time left stops, and returns the
// name of the last repository it converged; "" when it finished.
func (e *Engine) registryUnit(ctx context.Context, cause Cause, state *desired.State, w Work, withRole bool) (Report, string, error) {
	var rep Report
	reg := inventory.NewRegistry(e.Clients.ECR(w.Account, w.Region), w.Account, w.Region, inventory.RegistryOptions{Concurrency: e.Concurrency})
	include := func(name string) bool { return matchesAny(w.Repositories, name) }
	if w.Enumerations {
		enumerated := state.EnumeratedRepositories(w.Account)
		include = func(name string) bool {
			return enumerated != nil && enumerated(name) && matchesAny(w.Repositories, name)
		}
	}
	var selected []inventory.Repository
	if !w.Enumerations || state.EnumeratedRepositories(w.Account) != nil {
		repos, _, err := reg.Repositories(ctx, nil)
		if err != nil {
			return rep, "", fmt.Errorf("reading repositories of %s/%s: %w", w.Account, w.Region, err)
		}
		for _, r := range repos {
			if include(r.Name) && (w.After == "" || r.Name > w.After) {
				selected = append(selected, r)
			}
		}
		slices.SortFunc(selected, func(a, b inventory.Repository) int { return strings.Compare(a.Name, b.Name) })
	}
	first := w.After == "" // the registry-level documents are this try's
	size := e.chunk
	if size <= 0 {
		size = unitChunk
	}
	var tags map[string]map[string]string
	if len(selected) > 0 {
		var err error
		if tags, err = e.taggedRepositories(ctx, state, w.Account, w.Region); err != nil {
			return rep, "", fmt.Errorf("reading repository tags of %s/%s: %w", w.Account, w.Region, err)
		}
	}
	key := lease.RegistryKey(w.Account, w.Region)
	var errs []error
	var longest time.Duration
	cut := 0 // errors CountsOnly dropped
	done := func() Report {
		if cut > 0 {
			rep.Errors = append(rep.Errors, moreErrors(cut, w.RunID))
		}
		return rep
	}
	// cutAt is when a unit that may stop early reads no more repositories
	// (its deadline less the reserve): one chunk slower than a whole try
	// (ECR throttling hard) used to run into Lambda's timeout on every
	// delivery, its reads cut and its writes never made, until the
	// dead-letter queue. Now it writes what it read and goes on after it.
	var cutAt time.Time
	if deadline, ok := ctx.Deadline(); ok && e.UnitReserve > 0 {
		cutAt = deadline.Add(-e.UnitReserve)
	}
	for lo := 0; (lo == 0 && first) || lo < len(selected); lo += size {
		begun := e.now()
		if lo > 0 && e.stopsBefore(ctx, begun, longest) {
			return done(), selected[lo-1].Name, errors.Join(errs...)
		}
		chunk := selected[lo:min(lo+size, len(selected))]
		var results []apply.Result
		var unread []string // the chunk's repositories left for the next try
		err := e.Exec.HoldUnit(ctx, key, func(ctx context.Context, h apply.HeldLease) error {
			// Documents that list accounts one by one are planned from the
			// organization as it is now that the lease is held: an account
			// event that wrote its grant before this hold changed the
			// organization before this walk, and one that writes after it
			// waits for the release and wins. The unit's own walk (minutes
			// old) would undo the first kind.
			st, unwalked := state, func(string) error { return nil }
			if e.walksUnderLease(h, state, w.Account, lo == 0 && first, chunk) {
				org, err := e.organizationUnderLease(ctx, h, w)
				if err != nil {
					unwalked = e.unwalked(state, w.Account, err)
				} else {
					st = desired.New(e.Decl, org)
					knownMembers(ctx, accountIDs(org))
				}
			}
			var items []apply.HeldChange
			if lo == 0 && first {
				documents := e.registryDocuments
				if w.Enumerations {
					documents = e.registryPolicyDocument
				}
				var role []apply.HeldChange
				if withRole {
					// Read first: a PTC role left out refuses the rules naming it.
					role = e.ptcRoleDocuments(ctx, cause, st, w.Account)
				}
				head := documents(ctx, cause, st, w.Account, w.Region)
				for i := range head {
					if head[i].Step.Target.Kind == KindRegistryPolicy {
						if uerr := unwalked(""); uerr != nil {
							head[i] = apply.HeldChange{Step: head[i].Step, Err: fmt.Errorf("planning registry policy (%s): %w", head[i].Step.Target.ARN, uerr)}
						}
					}
				}
				items = head
				if withRole {
					items = append(role, afterRole(role, head)...)
				}
			}
			keep := e.Exec.Keeper(h)
			repos := e.repositoryChanges(ctx, cause, reg, st, w, chunk, tags, func(name string) error {
				if err := unwalked(name); err != nil {
					return err
				}
				if !cutAt.IsZero() && !time.Now().Before(cutAt) {
					return errTryDeadline
				}
				// A chunk's reads may outlast the lease (throttling): it
				// is renewed between them.
				return keep.Keep(ctx)
			})
			for _, it := range repos {
				if errors.Is(it.Err, errTryDeadline) {
					// Not read: no record, the next try converges it.
					unread = append(unread, it.Step.Target.Name)
					continue
				}
				items = append(items, it)
			}
			var err error
			results, err = e.applyHeld(ctx, h, items)
			for _, res := range results {
				rep.count(res)
			}
			return err
		})
		e.validateResults(ctx, cause, state, results, &rep)
		if e.CountsOnly {
			rep.Changes = nil
			if len(rep.Errors) > keptErrors {
				cut += len(rep.Errors) - keptErrors
				rep.Errors = rep.Errors[:keptErrors]
			}
		}
		errs = append(errs, err)
		longest = max(longest, e.now().Sub(begun))
		if why, ok := e.accountLost(state, w, results); ok {
			// Every further read and write in the account fails the same
			// way: the chunks left are not tried (tens of thousands of
			// failed records, and minutes of calls, for nothing). What
			// this unit converged and what failed have their records.
			errs = append(errs, fmt.Errorf("the unit stopped after %d of %d repositories of %s/%s: %s", min(lo+size, len(selected)), len(selected), w.Account, w.Region, why))
			return done(), "", errors.Join(errs...)
		}
		if len(unread) > 0 {
			// The try's deadline came within the chunk: the next try goes
			// on after the last repository before the first one unread
			// (those after it that were read are read again there, and
			// found unchanged).
			k := slices.IndexFunc(chunk, func(r inventory.Repository) bool { return slices.Contains(unread, r.Name) })
			cursor := w.After
			switch {
			case k > 0:
				cursor = chunk[k-1].Name
			case lo > 0:
				cursor = selected[lo-1].Name
			}
			if cursor == w.After {
				// Not one repository converged in this try: a cursor that
				// does not move would send the unit round for ever.
				errs = append(errs, fmt.Errorf("not one repository of %s/%s after %q could be read before the try's deadline (%d left unread); SQS delivers the unit again", w.Account, w.Region, w.After, len(unread)))
				return done(), "", errors.Join(errs...)
			}
			return done(), cursor, errors.Join(errs...)
		}
	}
	return done(), "", errors.Join(errs...)
}

// accountLost says why no further call of a unit in its member account can
// succeed, judged from a chunk's results: STS refused the execution role
// (the StackSet removed it, mid-unit when the cached credentials were
// renewed: the retirement race), or, for a unit that converges a member to
// nothing configured (retired or moved out, whose role the StackSet is
// removing), the member refused the role's calls (its policy deleted
// before the role, while the credentials already held are still valid).
// A configured member's AccessDenied may be one repository's (a policy or
// an SCP condition) and stops nothing.
func (e *Engine) accountLost(state *desired.State, w Work, results []apply.Result) (string, bool) {
	if w.Account == e.Decl.Hub.AccountID {
		return "", false
	}
	_, unconfigured := e.unconfigured(state, w)
	for _, r := range results {
		switch {
		case r.Err == nil:
		case awsapi.AssumeRoleDenied(r.Err):
			return "the execution role can no longer be assumed", true
		case unconfigured && awsapi.AccessDenied(r.Err):
			return "the member refuses the execution role's calls (AccessDenied), as when the member StackSet is removing the role from an account it no longer targets; the next try finds the role gone and leaves the rest in place, or converges it if the refusal was passing", true
		}
	}
	return "", false
}

// errTryDeadline is the read a unit does not start once its try's deadline
// is within the reserve (Engine.UnitReserve): the repository is left to the
// unit's next try, with no record.
var errTryDeadline = errors.New("not read: the try's deadline is within its reserve; the unit's next try converges it")

// stopsBefore reports whether a unit stops before a chunk it would begin
// at now: it may stop early (UnitReserve), its context has a deadline, and
// what is left is less than the reserve or twice its longest chunk so far.
func (e *Engine) stopsBefore(ctx context.Context, now time.Time, longest time.Duration) bool {
	deadline, ok := ctx.Deadline()
	if e.UnitReserve <= 0 || !ok {
		return false
	}
	return deadline.Sub(now) < max(e.UnitReserve, 2*longest)
}

func (e *Engine) now() time.Time {
	if e.clock != nil {
		return e.clock()
	}
	return time.Now()
}

// walksUnderLease reports whether a chunk of a unit plans documents whose
// statements list accounts one by one (so it walks the organization under
// the lease it holds): the registry policy of the first chunk when grants
// in that registry enumerate (the hub's also for the upstream grant to PTC
// members), and the chunk's repositories an enumerating repository grant's
// patterns match. A dry run (no lease, h nil) writes nothing and plans
// from the unit's accounts; so does an engine that cannot read the
// organization (tests and tools: a deployed worker always can).
func (e *Engine) walksUnderLease(h apply.HeldLease, state *desired.State, account string, first bool, chunk []inventory.Repository) bool {
	if h == nil || e.Org == nil {
		return false
	}
	if first && e.registryEnumerates(state, account) {
		return true
	}
	enumerated := state.EnumeratedRepositories(account)
	return enumerated != nil && slices.ContainsFunc(chunk, func(r inventory.Repository) bool { return enumerated(r.Name) })
}

// registryEnumerates reports whether the account's registry policy lists
// accounts one by one.
func (e *Engine) registryEnumerates(state *desired.State, account string) bool {
	if account == e.Decl.Hub.AccountID {
		return e.Decl.HubEnumeratesAccounts()
	}
	return state.Enumerated(account)
}

// organizationUnderLease reads the whole organization (the walk this
// environment keeps while the generation token is unchanged, else a new
// walk: organizationNow) for a chunk that holds h, within half of what is
// left of h (Organizations throttling, which the SDK retries for minutes,
// must not outlast the lease its writes need). The unit's own account keeps
// the entry it was converged for when the walk no longer lists it: its
// departure is its own event's to handle.
func (e *Engine) organizationUnderLease(ctx context.Context, h apply.HeldLease, w Work) ([]desired.Account, error) {
	wctx, cancel := context.WithTimeout(ctx, time.Until(h.Expires())/2)
	defer cancel()
	org, err := e.organizationNow(wctx, w.Region, w.WalkedAt)
	if err != nil {
		return nil, fmt.Errorf("walking the organization under the lease of registry %s/%s: %w", w.Account, w.Region, err)
	}
	if own, ok := findAccount(w.Accounts, w.Account); ok {
		if _, listed := findAccount(org, w.Account); !listed {
			org = append(org, own)
		}
	}
	return org, nil
}

// unwalked is, for a chunk whose walk under the lease failed, the error of
// each document that enumerates accounts (the registry policy for "", else
// a repository by name); the chunk's other documents are converged.
func (e *Engine) unwalked(state *desired.State, account string, err error) func(name string) error {
	registry := e.registryEnumerates(state, account)
	enumerated := state.EnumeratedRepositories(account)
	return func(name string) error {
		if (name == "" && registry) || (name != "" && enumerated != nil && enumerated(name)) {
			return err
		}
		return nil
	}
}

func accountIDs(accounts []desired.Account) []string {
	ids := make([]string, len(accounts))
	for i, a := range accounts {
		ids[i] = a.ID
	}
	return ids
}

// registryDocuments reads and plans the registry's own documents under the
// unit's lease: the PTC rules (members) and the registry policy. A document
// that cannot be read (the rules' listing, the policy, its scope setting)
// is a failed item of its own: the others, and the repositories of the same
// batch, are still planned and written.
func (e *Engine) registryDocuments(ctx context.Context, cause Cause, state *desired.State, account, region string) []apply.HeldChange {
	var items []apply.HeldChange
	if account != e.Decl.Hub.AccountID {
		steps, err := e.ptcRuleSteps(ctx, cause, state, account, region)
		if err != nil {
			items = append(items, e.unreadRules(cause, state, account, region, err)...)
		}
		deletes := false
		for _, s := range steps {
			c, err := s.Plan(ctx)
			deletes = deletes || (err == nil && c.Op == plan.OpDelete)
			items = append(items, apply.HeldChange{Step: s, Change: c, Err: err})
		}
		if deletes {
			// A retired rule's delete makes the room a create was planned
			// into (ECR keeps policy.PTCRulesMax rules): it lands first.
			for i := range items {
				if items[i].Change.Op == plan.OpCreate {
					items[i].Wave = 1
				}
			}
		}
	}
	return append(items, e.registryPolicyDocument(ctx, cause, state, account, region)...)
}

// unreadRules are the failed items of a registry whose pull-through-cache
// rules could not be listed: one per rule the declaration names or
// retires, each carrying the listing's error.
func (e *Engine) unreadRules(cause Cause, state *desired.State, account, region string, err error) []apply.HeldChange {
	var prefixes []string
	for _, r := range state.PTCRules(account, region) {
		prefixes = append(prefixes, r.Prefix)
	}
	prefixes = append(prefixes, state.RetiredPTCPrefixes()...)
	items := make([]apply.HeldChange, 0, len(prefixes))
	for _, p := range prefixes {
		items = append(items, apply.HeldChange{Step: step(lease.RegistryKey(account, region), ptcRuleResource(e.Decl.Hub.Partition, account, region, p), cause), Err: err})
	}
	return items
}

// registryPolicyDocument reads and plans the registry policy alone; a read
// that fails (the policy, or its scope setting) fails this document only.
func (e *Engine) registryPolicyDocument(ctx context.Context, cause Cause, state *desired.State, account, region string) []apply.HeldChange {
	s := e.registryStep(cause, account, region, func(context.Context, string) ([]policy.Statement, error) {
		return state.RegistryStatements(account, region), nil
	})
	c, err := s.Plan(ctx)
	return []apply.HeldChange{{Step: s, Change: c, Err: err}}
}

// repositoryChanges reads each repository's policy once (under the unit's
// lease, with bounded concurrency) and plans it. A repository deleted since
// the listing is skipped; a failed read is a failed item (its own record,
// and the unit fails), the others are planned.
func (e *Engine) repositoryChanges(ctx context.Context, cause Cause, reg *inventory.Registry, state *desired.State, w Work, repos []inventory.Repository, tags map[string]map[string]string, unplanned func(name string) error) []apply.HeldChange {
	limit := e.Concurrency
	if limit <= 0 {
		limit = 8
	}
	items := make([]*apply.HeldChange, len(repos))
	var (
		wg  sync.WaitGroup
		sem = make(chan struct{}, limit)
	)
	for i, r := range repos {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			target := repositoryResource(e.Decl.Hub.Partition, w.Account, w.Region, r.Name)
			arn := target.ARN
			if err := unplanned(r.Name); err != nil {
				items[i] = &apply.HeldChange{Step: step(lease.RegistryKey(w.Account, w.Region), target, cause), Err: fmt.Errorf("planning repository policy (%s): %w", arn, err)}
				return
			}
			current, _, err := reg.RepositoryPolicy(ctx, r.Name)
			var gone *ecrtypes.RepositoryNotFoundException
			if errors.As(err, &gone) {
				e.log().Info("repository disappeared during the run; skipped", "account", w.Account, "region", w.Region, "repository", r.Name)
				return
			}
			if err != nil {
				// A failed item: recorded with the repository and AWS's
				// error, and the unit fails (SQS retries it) while the
				// other repositories are written.
				items[i] = &apply.HeldChange{Step: step(lease.RegistryKey(w.Account, w.Region), target, cause), Err: err}
				return
			}
			repo := desired.Repository{Account: w.Account, Region: w.Region, Name: r.Name, Tags: tags[arn]}
			s := e.repositoryStep(cause, reg, state, repo, &current)
			c, err := s.Plan(ctx)
			items[i] = &apply.HeldChange{Step: s, Change: c, Err: err}
		}()
	}
	wg.Wait()
	out := make([]apply.HeldChange, 0, len(items))
	for _, it := range items {
		if it != nil {
			out = append(out, *it)
		}
	}
	return out
}

// summarize stores the unit's summary record: what it examined and what
// became of it, its run and its duration, and the cursors of a unit that
// resumed or goes on in another try. Unchanged documents have no record
// of their own in a unit; this is where they are counted.
func (e *Engine) summarize(ctx context.Context, cause Cause, w Work, rep Report, took time.Duration, uerr error, continuesAfter string) error {
	rec := audit.Record{Decision: audit.DecisionSummary, Op: "none", Trigger: cause.Trigger, Actor: cause.Actor,
		Target: audit.Target{ARN: audit.UnitARN(w.Account, w.Region), AccountID: w.Account, Region: w.Region, Kind: "Unit"},
		Counts: &audit.Counts{Examined: rep.Examined, Unchanged: rep.Unchanged, Changed: rep.Changed,
			Planned: rep.Planned, Refused: rep.Refused, Failed: rep.Failed, ResumedAfter: w.After, ContinuesAfter: continuesAfter},
		Duration: took, DryRun: w.DryRun}
	if w.Retired {
		// Said on the unit's own record: its removals are the backfill's,
		// with no event to explain them.
		if why, ok := e.unconfigured(desired.New(e.Decl, w.Accounts), w); ok {
			rec.Counts.Why = fmt.Sprintf("retired: account %s %s; the unit converges its %s registry to nothing configured: every statement ecr-warden owns in its repository and registry policies is removed, foreign statements stay", w.Account, why, w.Region)
		}
	}
	if uerr != nil {
		msg := uerr.Error()
		if len(msg) > 2000 {
			// Cut on a character: an audit record holds valid UTF-8.
			msg = strings.ToValidUTF8(msg[:2000], "") + "…"
		}
		rec.Error = msg
	}
	return e.Exec.Trail.Record(ctx, rec)
}

// heldDocuments takes a registry's lease, reads and plans the documents
// plan returns under it, and applies them as one batch: the path of an
// account event's member registry (its PTC rules and registry policy) and of
// the hub's registry policy.
func (e *Engine) heldDocuments(ctx context.Context, cause Cause, state *desired.State, key string, planFn func(ctx context.Context) ([]apply.HeldChange, error)) (Report, error) {
	var rep Report
	var results []apply.Result
	err := e.Exec.HoldUnit(ctx, key, func(ctx context.Context, h apply.HeldLease) error {
		items, err := planFn(ctx)
		if err != nil {
			return err
		}
		results, err = e.applyHeld(ctx, h, items)
		for _, res := range results {
			rep.count(res)
		}
		return err
	})
	e.validateResults(ctx, cause, state, results, &rep)
	return rep, err
}
