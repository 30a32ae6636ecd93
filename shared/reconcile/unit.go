package reconcile

import (
	"context"
	"errors"
	"fmt"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"maps"
	"slices"
	"sync"

	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// Work is one unit of a backfill or sweep: one account in one region, with
// the part of the organization its documents depend on. The backfill
// function walks the organization once and sends one Work per account and
// region through SQS to the worker, so no invocation grows with the
// organization and a failing account is retried and dead-lettered alone.
type Work struct {
	RunID   string `json:"runId"`
	Account string `json:"account"`
	Region  string `json:"region"`
	// Accounts are the organization's active accounts with their OU paths
	// (what enumerate-mode grants and the hub's upstream grant list).
	Accounts []desired.Account `json:"accounts"`
	// Repositories limits the run to repositories matching these names or
	// glob patterns; empty means all.
	Repositories []string `json:"repositories,omitempty"`
	DryRun       bool     `json:"dryRun,omitempty"`
	Sweep        bool     `json:"sweep,omitempty"`
	// Role marks the one region of a member in which its (global) IAM role
	// is converged.
	Role bool `json:"role,omitempty"`
}

// Cause is the audit cause of a backfill or sweep unit. The backfill's dry
// run and the worker both build it here, from the Work alone, so planned and
// applied records of the same change carry the same trigger.
func (w Work) Cause() Cause {
	if w.Sweep {
		return Cause{Trigger: audit.Trigger{EventID: w.RunID, EventType: "sweep", Source: trigger.SourceEventBridge},
			Actor: audit.Actor{Type: "AWSService", InvokedBy: "events.amazonaws.com"}}
	}
	return Cause{Trigger: audit.Trigger{EventID: w.RunID, EventType: "backfill", Source: "ecr-warden"},
		Actor: audit.Actor{Type: "invoker"}}
}

// Converge brings one account's registry in one region fully in line: the
// member's PTC role (when w.Role), PTC rules and registry policy, the hub's
// registry policy, every repository's policy, and (hub, us-east-1) ECR Public
// repositories. Each repository is read once (a listing page plus its
// policy); tags, when a grant matches on them, come from one paginated
// tag:GetResources query per tag grant, so a converged registry costs listing
// pages plus one read per repository, and no writes.
func (e *Engine) Converge(ctx context.Context, cause Cause, w Work) (Report, error) {
	x := e.WithDryRun(w.DryRun)
	state := desired.New(e.Decl, w.Accounts)
	var rep Report
	var errs []error
	if w.Account != e.Decl.Hub.AccountID {
		acct, ok := findAccount(w.Accounts, w.Account)
		if !ok || !state.ManagedMember(acct) {
			return rep, fmt.Errorf("converging %s/%s: account is not an active member of the organization", w.Account, w.Region)
		}
		if w.Role {
			r, err := x.PTCRole(ctx, cause, state, w.Account)
			rep.Add(r)
			errs = append(errs, err)
		}
		r, err := x.PTCRules(ctx, cause, state, w.Account, w.Region)
		rep.Add(r)
		errs = append(errs, err)
	}
	r, err := x.Registry(ctx, cause, state, w.Account, w.Region)
	rep.Add(r)
	errs = append(errs, err)

	r, err = x.repositories(ctx, cause, state, w)
	rep.Add(r)
	errs = append(errs, err)

	if w.Account == e.Decl.Hub.AccountID && w.Region == "us-east-1" && len(e.Decl.PublicRepositories) > 0 {
		r, err = x.publicRepositories(ctx, cause, w)
		rep.Add(r)
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}

func findAccount(accounts []desired.Account, id string) (desired.Account, bool) {
	for _, a := range accounts {
		if a.ID == id {
			return a, true
		}
	}
	return desired.Account{}, false
}

func matchesAny(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	return slices.ContainsFunc(patterns, func(p string) bool { return desired.MatchPattern(p, name) })
}

// repositories converges every (selected) repository of the registry with
// bounded concurrency.
func (e *Engine) repositories(ctx context.Context, cause Cause, state *desired.State, w Work) (Report, error) {
	var rep Report
	reg := inventory.NewRegistry(e.Clients.ECR(w.Account, w.Region), w.Account, w.Region, inventory.RegistryOptions{Concurrency: e.Concurrency})
	snap, err := reg.Snapshot(ctx, inventory.SnapshotOptions{Filter: func(name string) bool { return matchesAny(w.Repositories, name) }})
	if err != nil {
		return rep, fmt.Errorf("reading repositories of %s/%s: %w", w.Account, w.Region, err)
	}
	tags, err := e.taggedRepositories(ctx, state, w.Account, w.Region)
	if err != nil {
		return rep, fmt.Errorf("reading repository tags of %s/%s: %w", w.Account, w.Region, err)
	}
	limit := e.Concurrency
	if limit <= 0 {
		limit = 8
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		sem  = make(chan struct{}, limit)
		errs []error
	)
	for _, rs := range snap.Repositories {
		var gone *ecrtypes.RepositoryNotFoundException
		if errors.As(rs.Err, &gone) {
			// Deleted between the listing and the policy read: nothing to
			// converge, and no reason to fail (and dead-letter) the account.
			e.log().Info("repository disappeared during the run; skipped", "account", w.Account, "region", w.Region, "repository", rs.Name)
			continue
		}
		if rs.Err != nil {
			mu.Lock()
			rep.Examined++
			rep.Failed++
			rep.Errors = append(rep.Errors, rs.Err.Error())
			errs = append(errs, rs.Err)
			mu.Unlock()
			continue
		}
		rs := rs
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			arn := repositoryResource(e.Decl.Hub.Partition, w.Account, w.Region, rs.Name).ARN
			repo := desired.Repository{Account: w.Account, Region: w.Region, Name: rs.Name, Tags: tags[arn]}
			known := rs.Policy
			var one Report
			err := e.run(ctx, &one, e.repositoryStep(cause, reg, state, repo, &known))
			mu.Lock()
			rep.Add(one)
			if err != nil {
				errs = append(errs, err)
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	return rep, errors.Join(errs...)
}

// taggedRepositories returns, keyed by ARN, every repository of the registry
// that some tag grant's tags select, with all its tags: one paginated
// tag:GetResources query per distinct tag grant instead of one
// ListTagsForResource per repository. Repositories it leaves out match no
// tag grant, which is all desired needs to know of their tags. nil when no
// grant of this registry matches on tags (no call at all).
func (e *Engine) taggedRepositories(ctx context.Context, state *desired.State, account, region string) (map[string]map[string]string, error) {
	queries := state.TagQueries(account)
	if len(queries) == 0 {
		return nil, nil
	}
	tg := inventory.NewTagging(e.Clients.Tagging(account, region), account, region)
	out := map[string]map[string]string{}
	for _, q := range queries {
		filters := make(map[string][]string, len(q))
		for k, v := range q {
			filters[k] = []string{v}
		}
		got, err := tg.TaggedRepositories(ctx, filters)
		if err != nil {
			return nil, err
		}
		maps.Copy(out, got)
	}
	return out, nil
}

// publicRepositories converges the hub's ECR Public repositories.
func (e *Engine) publicRepositories(ctx context.Context, cause Cause, w Work) (Report, error) {
	var rep Report
	pub := inventory.NewPublic(e.Clients.Public(w.Account), w.Account, inventory.RegistryOptions{})
	repos, _, err := pub.Repositories(ctx, nil)
	if err != nil {
		return rep, fmt.Errorf("listing public repositories of %s: %w", w.Account, err)
	}
	var errs []error
	for _, r := range repos {
		if !matchesAny(w.Repositories, r.Name) {
			continue
		}
		got, err := e.PublicRepository(ctx, cause, w.Account, r.Name, nil)
		rep.Add(got)
		errs = append(errs, err)
	}
	return rep, errors.Join(errs...)
}
