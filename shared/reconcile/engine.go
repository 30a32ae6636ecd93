// Package reconcile is the level-triggered engine every function shares: a
// trigger only says where to look; the engine reads what AWS holds there
// (shared/inventory), computes what the declaration wants (shared/desired),
// plans the difference (shared/plan) and applies it under the write protocol
// (shared/apply: lease, re-read, write-ahead audit, write, outcome).
//
// Because the desired documents are always computed from the whole declaration
// and the current AWS state, duplicate, late or out-of-order events converge to
// the same result, and the backfill, the sweep and drift repair are the same
// code run over a wider or narrower target.
package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/audit"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
	"github.com/ecr-warden/ecr-warden/shared/trigger"
)

// Engine converges targets. It is safe for concurrent use; a Lambda keeps one
// per execution environment.
type Engine struct {
	Decl    *config.Declaration
	Clients Clients
	Exec    *apply.Executor
	// Org reads the organization (nil when the function has no access; then
	// OU-based selection sees accounts without OU paths).
	Org *inventory.Org
	Log *slog.Logger
	// RepositoryWait bounds the retry of RepositoryNotFoundException right
	// after a repository was created (default 20s).
	RepositoryWait time.Duration
	// PrincipalWait bounds the retry of policies AWS rejects because a
	// principal was just created (default 30s).
	PrincipalWait time.Duration
	// Concurrency bounds per-repository work in a registry (default 8).
	Concurrency int
}

// Report sums up what a run did, for responses and the backfill summary.
type Report struct {
	Examined  int              `json:"examined"`
	Unchanged int              `json:"unchanged"`
	Changed   int              `json:"changed"`
	Planned   int              `json:"planned"`
	Refused   int              `json:"refused"`
	Failed    int              `json:"failed"`
	Changes   []ReportedChange `json:"changes,omitempty"`
	Errors    []string         `json:"errors,omitempty"`
}

// ReportedChange is one change that writes (or would write, in a dry run).
type ReportedChange struct {
	Target  string `json:"target"`
	Kind    string `json:"kind"`
	Op      string `json:"op"`
	Diff    string `json:"diff"`
	Outcome string `json:"outcome"`
}

// Add merges another report into r.
func (r *Report) Add(o Report) {
	r.Examined += o.Examined
	r.Unchanged += o.Unchanged
	r.Changed += o.Changed
	r.Planned += o.Planned
	r.Refused += o.Refused
	r.Failed += o.Failed
	r.Changes = append(r.Changes, o.Changes...)
	r.Errors = append(r.Errors, o.Errors...)
}

func (r *Report) count(res apply.Result) {
	r.Examined++
	switch res.Outcome {
	case apply.Unchanged:
		r.Unchanged++
	case apply.Changed:
		r.Changed++
	case apply.Planned:
		r.Planned++
	case apply.Refused:
		r.Refused++
	case apply.Failed:
		r.Failed++
	}
	if res.Err != nil {
		r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", res.Target.ARN, res.Err))
	}
	if res.Change.Writes() {
		r.Changes = append(r.Changes, ReportedChange{Target: res.Target.ARN, Kind: res.Target.Kind, Op: string(res.Change.Op), Diff: res.Change.Diff, Outcome: string(res.Outcome)})
	}
}

func (e *Engine) log() *slog.Logger {
	if e.Log != nil {
		return e.Log
	}
	return slog.Default()
}

func (e *Engine) repoWait() time.Duration {
	if e.RepositoryWait > 0 {
		return e.RepositoryWait
	}
	return 20 * time.Second
}

func (e *Engine) principalWait() time.Duration {
	if e.PrincipalWait > 0 {
		return e.PrincipalWait
	}
	return 30 * time.Second
}

// AuditTrigger converts trigger metadata into the audit trail's form.
func AuditTrigger(t trigger.Trigger) (audit.Trigger, audit.Actor) {
	typ := t.DetailType
	if t.EventName != "" {
		typ += "/" + t.EventName
	}
	return audit.Trigger{EventID: t.EventID, EventType: typ, Source: t.Source},
		audit.Actor{ARN: t.Actor.ARN, PrincipalID: t.Actor.PrincipalID, Type: t.Actor.Type, AccountID: t.Actor.AccountID, InvokedBy: t.Actor.InvokedBy}
}

// Cause is why the engine is converging: the trigger for the audit trail.
type Cause struct {
	Trigger audit.Trigger
	Actor   audit.Actor
}

// CauseOf builds the audit cause of a parsed target.
func CauseOf(t trigger.Target) Cause {
	tr, ac := AuditTrigger(t.Trigger)
	return Cause{Trigger: tr, Actor: ac}
}

// ---- private repositories

// needsTags reports whether any repository-placement grant matches on tags,
// the only reason to read tags at all: a tag:GetResources query per registry
// in a backfill, one ListTagsForResource for a single repository.
func (e *Engine) needsTags() bool {
	for _, g := range e.Decl.Grants {
		if g.Placement == config.PlacementRepository && len(g.RepositoryTags) > 0 {
			return true
		}
	}
	return false
}

// needsEnumeration reports whether repository policies enumerate accounts,
// which makes a repository event read the granted part of the organization.
func (e *Engine) repositoryEnumeration() inventory.WalkScope {
	var scope inventory.WalkScope
	for _, g := range e.Decl.Grants {
		if g.Placement != config.PlacementRepository || g.PrincipalMode != config.ModeEnumerate {
			continue
		}
		if g.Principals.Organization {
			return inventory.WalkScope{All: true}
		}
		scope.OUPaths = append(scope.OUPaths, g.Principals.OUs...)
	}
	return scope
}

// repositoryGrantsByOU reports whether a repository grant selects member
// registries by OU, the only case in which a repository event needs the
// account's OU path (and so Organizations calls).
func (e *Engine) repositoryGrantsByOU() bool {
	for _, g := range e.Decl.Grants {
		if g.Placement == config.PlacementRepository && len(g.Registries.OUs) > 0 {
			return true
		}
	}
	return false
}

// accountInfo reads one account's OU path (a few calls, bounded by OU depth),
// or returns the bare id when there is no organization access.
func (e *Engine) accountInfo(ctx context.Context, id string) (desired.Account, error) {
	if id == e.Decl.Hub.AccountID {
		return desired.Account{ID: id, Status: "ACTIVE"}, nil
	}
	if e.Org == nil {
		return e.presumedMember(id), nil
	}
	a, err := e.Org.Account(ctx, id)
	if err != nil {
		return desired.Account{}, fmt.Errorf("reading account %s from the organization: %w", id, err)
	}
	return toDesired(a), nil
}

// presumedMember is an account whose organization details were not read:
// ACTIVE and in the organization, at an OU path that is the organization
// alone, so it matches no OU. desired.Account.Active requires an OU path;
// without one every member repository would lose its allMembers grants.
func (e *Engine) presumedMember(id string) desired.Account {
	return desired.Account{ID: id, Status: "ACTIVE", OUPath: e.Decl.Hub.OrganizationID + "/"}
}

func toDesired(a inventory.Account) desired.Account {
	return desired.Account{ID: a.ID, Name: a.Name, Status: a.Status, OUPath: a.OUPath}
}

func toDesiredAll(in []inventory.Account) []desired.Account {
	out := make([]desired.Account, len(in))
	for i, a := range in {
		out[i] = toDesired(a)
	}
	return out
}

// accountsForRepository returns the inventory accounts a repository's policy
// depends on: the repository's own account (for OU-scoped registries), plus
// the walked part of the organization when a repository grant enumerates.
func (e *Engine) accountsForRepository(ctx context.Context, account string) ([]desired.Account, error) {
	self := e.presumedMember(account)
	if e.repositoryGrantsByOU() {
		a, err := e.accountInfo(ctx, account)
		if err != nil {
			return nil, err
		}
		self = a
	}
	accounts := []desired.Account{self}
	scope := e.repositoryEnumeration()
	if (scope.All || len(scope.OUPaths) > 0) && e.Org != nil {
		res, err := e.Org.Walk(ctx, scope)
		if err != nil {
			return nil, fmt.Errorf("walking the organization for enumerated repository grants: %w", err)
		}
		accounts = append(accounts, toDesiredAll(res.Accounts)...)
	}
	return accounts, nil
}

// Repository converges one private repository's policy: the path of a
// CreateRepository event and of drift on a repository policy.
func (e *Engine) Repository(ctx context.Context, cause Cause, account, region, name string) (Report, error) {
	accounts, err := e.accountsForRepository(ctx, account)
	if err != nil {
		return Report{}, err
	}
	state := desired.New(e.Decl, accounts)
	reg := inventory.NewRegistry(e.Clients.ECR(account, region), account, region, inventory.RegistryOptions{})
	repo := desired.Repository{Account: account, Region: region, Name: name}
	arn := policy.RepositoryARN(e.Decl.Hub.Partition, region, account, name)
	if e.needsTags() {
		err := awsapi.RetryFor(ctx, awsapi.NotFoundYet, e.repoWait(), func() error {
			tags, err := reg.Tags(ctx, arn)
			repo.Tags = tags
			return err
		})
		if err != nil {
			return Report{}, fmt.Errorf("reading tags of repository %s: %w", arn, err)
		}
	}
	var rep Report
	res, err := e.Exec.Run(ctx, e.repositoryStep(cause, reg, state, repo, arn, nil))
	rep.count(res)
	return rep, err
}

// repositoryStep builds the step for one repository policy. known, when set,
// is the policy already read by a snapshot, used for the first plan so a
// converged backfill reads each repository once.
//
// With known set, repo.Tags came from the Resource Groups Tagging API, which
// is eventually consistent: a repository tagged seconds ago (whose event
// already added its grant) may be missing from the answer. So when that first
// plan would write and a tag grant's statement is in the policy or in the
// plan (tagDecides), the repository's own tags are read (ListTagsForResource)
// and the plan made again from them, before a dry run reports it or a write
// happens; a converged repository, or one matched by name alone, never pays
// for it.
func (e *Engine) repositoryStep(cause Cause, reg *inventory.Registry, state *desired.State, repo desired.Repository, arn string, known *string) apply.Step {
	s := e.repositoryStepFrom(cause, reg, repo, arn, func(string) ([]policy.Statement, error) { return state.RepositoryStatements(repo), nil })
	if known != nil {
		plan := s.Plan
		first := known
		s.Plan = func(ctx context.Context) (apply.Change, error) {
			if first == nil {
				return plan(ctx)
			}
			k := *first
			first = nil
			c, err := e.planRepository(repo, arn, k, state.RepositoryStatements(repo))
			if err != nil || !c.Writes() || !e.needsTags() || !e.tagDecides(state, repo, k) {
				return c, err
			}
			tags, err := reg.Tags(ctx, arn)
			if err != nil {
				return apply.Change{}, fmt.Errorf("confirming tags of repository (%s) before a change: %w", arn, err)
			}
			repo.Tags = tags // also what the re-read under the lease plans with
			return e.planRepository(repo, arn, k, state.RepositoryStatements(repo))
		}
	}
	return s
}

func (e *Engine) planRepository(repo desired.Repository, arn, current string, owned []policy.Statement) (apply.Change, error) {
	c, err := plan.Document(policy.ECRRepositoryPolicy, arn, current, owned, e.Decl.SidPrefix)
	if err != nil {
		return apply.Change{}, &apply.RefusedError{Err: err}
	}
	if len(owned) == 0 && c.Op == plan.OpNone {
		c.Reason = "no grant matches repository " + repo.Name + "; " + c.Reason
	}
	return apply.FromDocument(c), nil
}

// repositoryStepFrom builds the step for one repository policy whose owned
// statements depend on what the policy holds now (an account event adds or
// removes one principal of an enumerating statement). owned is called on
// every read, including the re-read under the lease, so two account events
// updating the same policy at once never drop each other's principal.
func (e *Engine) repositoryStepFrom(cause Cause, reg *inventory.Registry, repo desired.Repository, arn string, owned func(current string) ([]policy.Statement, error)) apply.Step {
	client := e.Clients.ECR(repo.Account, repo.Region)
	return apply.Step{
		LeaseKey: lease.RepositoryKey(arn),
		Target:   audit.Target{ARN: arn, AccountID: repo.Account, Region: repo.Region, Kind: "ECRRepositoryPolicy", Name: repo.Name},
		Trigger:  cause.Trigger,
		Actor:    cause.Actor,
		Plan: func(ctx context.Context) (apply.Change, error) {
			var current string
			err := awsapi.RetryFor(ctx, awsapi.NotFoundYet, e.repoWait(), func() error {
				var err error
				current, _, err = reg.RepositoryPolicy(ctx, repo.Name)
				return err
			})
			if err != nil {
				return apply.Change{}, fmt.Errorf("reading repository policy (%s): %w", arn, err)
			}
			want, err := owned(current)
			if err != nil {
				return apply.Change{}, &apply.RefusedError{Err: fmt.Errorf("reading ecr-warden's statements in repository policy (%s): %w", arn, err)}
			}
			return e.planRepository(repo, arn, current, want)
		},
		Write: func(ctx context.Context, c apply.Change) error {
			if c.Op == plan.OpDeleteDocument {
				_, err := client.DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: aws.String(repo.Name), RegistryId: aws.String(repo.Account)})
				var nf *ecrtypes.RepositoryPolicyNotFoundException
				if errors.As(err, &nf) {
					return nil
				}
				if err != nil {
					return fmt.Errorf("deleting repository policy (%s): %w", arn, err)
				}
				return nil
			}
			_, err := client.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(repo.Name), RegistryId: aws.String(repo.Account), PolicyText: aws.String(c.After)})
			if err != nil {
				return fmt.Errorf("setting repository policy (%s): %w", arn, err)
			}
			return nil
		},
		PrincipalWait: e.principalWait(),
	}
}

// ---- registry policies

// registryStep plans one registry policy from statements computed by owned.
// A registry whose scope is V1 gets switched to V2 only when the declaration
// allows it; otherwise a V2-only result is refused.
func (e *Engine) registryStep(cause Cause, account, region string, owned func(ctx context.Context, current string) ([]policy.Statement, error)) apply.Step {
	client := e.Clients.ECR(account, region)
	reg := inventory.NewRegistry(client, account, region, inventory.RegistryOptions{})
	arn := policy.RegistryARN(e.Decl.Hub.Partition, region, account)
	return apply.Step{
		LeaseKey: lease.RegistryKey(account, region),
		Target:   audit.Target{ARN: arn, AccountID: account, Region: region, Kind: "ECRRegistryPolicy"},
		Trigger:  cause.Trigger,
		Actor:    cause.Actor,
		Plan: func(ctx context.Context) (apply.Change, error) {
			current, _, err := reg.RegistryPolicy(ctx)
			if err != nil {
				return apply.Change{}, fmt.Errorf("reading registry policy (%s): %w", arn, err)
			}
			st, err := owned(ctx, current)
			if err != nil {
				return apply.Change{}, err
			}
			c, err := plan.Document(policy.ECRRegistryPolicy, arn, current, st, e.Decl.SidPrefix)
			if err != nil {
				return apply.Change{}, &apply.RefusedError{Err: err}
			}
			if c.After != "" && c.Writes() {
				doc, err := policy.Parse(c.After)
				if err == nil && policy.V2Required(doc) {
					scope, err := reg.RegistryScope(ctx)
					if err != nil {
						return apply.Change{}, fmt.Errorf("reading registry policy scope (%s): %w", arn, err)
					}
					if scope == "V1" && !e.Decl.RegistryPolicyScope.AllowSwitchToV2 {
						return apply.Change{}, &apply.RefusedError{Err: fmt.Errorf("registry %s uses registry policy scope V1, which enforces only ReplicateImage, BatchImportUpstreamImage and CreateRepository; the declared statements need V2. Switch the registry to V2 (aws ecr put-account-setting --name REGISTRY_POLICY_SCOPE --value V2) or set registryPolicyScope.allowSwitchToV2 in the declaration", arn)}
					}
					if scope == "V1" {
						c.Reason += "; switches registry policy scope V1 -> V2 first (allowed by the declaration)"
						return apply.Change{Op: c.Op, Before: c.Before, After: c.After, Diff: c.Diff(), Reason: c.Reason, Detail: scopeSwitch{c}}, nil
					}
				}
			}
			return apply.FromDocument(c), nil
		},
		Write: func(ctx context.Context, c apply.Change) error {
			if _, ok := c.Detail.(scopeSwitch); ok {
				if _, err := client.PutAccountSetting(ctx, &ecr.PutAccountSettingInput{Name: aws.String(inventory.RegistryPolicyScopeSetting), Value: aws.String("V2")}); err != nil {
					return fmt.Errorf("switching registry policy scope to V2 (%s): %w", arn, err)
				}
			}
			if c.Op == plan.OpDeleteDocument {
				_, err := client.DeleteRegistryPolicy(ctx, &ecr.DeleteRegistryPolicyInput{})
				var nf *ecrtypes.RegistryPolicyNotFoundException
				if err != nil && !errors.As(err, &nf) {
					return fmt.Errorf("deleting registry policy (%s): %w", arn, err)
				}
				return nil
			}
			if _, err := client.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(c.After)}); err != nil {
				return fmt.Errorf("putting registry policy (%s): %w", arn, err)
			}
			return nil
		},
		PrincipalWait: e.principalWait(),
	}
}

type scopeSwitch struct{ plan.Change }

// Registry converges one registry policy with the full desired state built
// from accounts (the backfill path, which has walked the organization).
func (e *Engine) Registry(ctx context.Context, cause Cause, state *desired.State, account, region string) (Report, error) {
	var rep Report
	res, err := e.Exec.Run(ctx, e.registryStep(cause, account, region, func(context.Context, string) ([]policy.Statement, error) {
		return state.RegistryStatements(account, region), nil
	}))
	rep.count(res)
	return rep, err
}

// ---- pull-through cache rules and the PTC role

// PTCRules converges a member registry's pull-through-cache rules.
func (e *Engine) PTCRules(ctx context.Context, cause Cause, state *desired.State, account, region string) (Report, error) {
	var rep Report
	want := state.PTCRules(account, region)
	if len(want) == 0 && len(state.RetiredPTCPrefixes()) == 0 {
		return rep, nil
	}
	client := e.Clients.ECR(account, region)
	reg := inventory.NewRegistry(client, account, region, inventory.RegistryOptions{})
	registry := policy.RegistryARN(e.Decl.Hub.Partition, region, account)
	rules, err := reg.PTCRules(ctx)
	if err != nil {
		return rep, fmt.Errorf("listing pull-through-cache rules (%s): %w", registry, err)
	}
	current := make([]plan.Rule, len(rules))
	for i, r := range rules {
		current[i] = plan.Rule{Prefix: r.Prefix, UpstreamRegistryURL: r.UpstreamRegistryURL, UpstreamRegistry: r.UpstreamRegistry,
			CredentialARN: r.CredentialARN, CustomRoleARN: r.CustomRoleARN, UpstreamRepositoryPrefix: r.UpstreamRepositoryPrefix}
	}
	for i := range current {
		for _, w := range want {
			// The declaration names a secret by its name; AWS stores the full
			// ARN with Secrets Manager's random suffix.
			if w.Prefix == current[i].Prefix && w.CredentialARN != "" && strings.HasPrefix(current[i].CredentialARN, w.CredentialARN+"-") {
				current[i].CredentialARN = w.CredentialARN
			}
		}
	}
	var firstErr error
	for _, rc := range plan.Rules(registry, current, want, state.RetiredPTCPrefixes()) {
		rc := rc
		target := registry + "/pull-through-cache-rule/" + rc.Prefix
		step := apply.Step{
			LeaseKey: lease.RegistryKey(account, region) + "#ptc#" + rc.Prefix,
			Target:   audit.Target{ARN: target, AccountID: account, Region: region, Kind: "PullThroughCacheRule", Name: rc.Prefix},
			Trigger:  cause.Trigger,
			Actor:    cause.Actor,
			Plan: func(context.Context) (apply.Change, error) {
				return apply.Change{Op: rc.Op, Before: ruleJSON(rc.Before), After: ruleJSON(rc.After), Diff: ruleDiff(rc), Reason: rc.Reason, Detail: rc}, nil
			},
			Write: func(ctx context.Context, c apply.Change) error {
				return e.writeRule(ctx, client, target, c.Detail.(plan.RuleChange))
			},
		}
		res, err := e.Exec.Run(ctx, step)
		rep.count(res)
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return rep, firstErr
}

func (e *Engine) writeRule(ctx context.Context, client *ecr.Client, target string, rc plan.RuleChange) error {
	switch rc.Op {
	case plan.OpCreate:
		r := rc.After
		in := &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String(r.Prefix), UpstreamRegistryUrl: aws.String(r.UpstreamRegistryURL)}
		if r.UpstreamRegistry != "" {
			in.UpstreamRegistry = ecrtypes.UpstreamRegistry(r.UpstreamRegistry)
		}
		if r.CredentialARN != "" {
			in.CredentialArn = aws.String(r.CredentialARN)
		}
		if r.CustomRoleARN != "" {
			in.CustomRoleArn = aws.String(r.CustomRoleARN)
		}
		if r.UpstreamRepositoryPrefix != "" {
			in.UpstreamRepositoryPrefix = aws.String(r.UpstreamRepositoryPrefix)
		}
		if _, err := client.CreatePullThroughCacheRule(ctx, in); err != nil {
			return fmt.Errorf("creating pull-through-cache rule (%s): %w", target, err)
		}
	case plan.OpUpdate:
		r := rc.After
		in := &ecr.UpdatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String(r.Prefix)}
		if r.CredentialARN != "" {
			in.CredentialArn = aws.String(r.CredentialARN)
		}
		if r.CustomRoleARN != "" {
			in.CustomRoleArn = aws.String(r.CustomRoleARN)
		}
		if _, err := client.UpdatePullThroughCacheRule(ctx, in); err != nil {
			return fmt.Errorf("updating pull-through-cache rule (%s): %w", target, err)
		}
	case plan.OpDelete:
		if _, err := client.DeletePullThroughCacheRule(ctx, &ecr.DeletePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String(rc.Prefix)}); err != nil {
			return fmt.Errorf("deleting pull-through-cache rule (%s): %w", target, err)
		}
	}
	return nil
}

// PTCRole converges the member's PTC role: its trust policy and its inline
// permission policy. The role is ecr-warden's own, so both documents are
// planned as wholly owned (foreign statements in them are still kept).
func (e *Engine) PTCRole(ctx context.Context, cause Cause, state *desired.State, account string) (Report, error) {
	var rep Report
	role, ok := state.PTCRole(account)
	if !ok {
		return rep, nil
	}
	client := e.Clients.IAM(account)
	roles := inventory.NewRoles(client, account)
	trustStep := apply.Step{
		LeaseKey: lease.RoleKey(account, role.Name),
		Target:   audit.Target{ARN: role.ARN, AccountID: account, Kind: "IAMRoleTrustPolicy", Name: role.Name},
		Trigger:  cause.Trigger,
		Actor:    cause.Actor,
		Plan: func(ctx context.Context) (apply.Change, error) {
			cur, err := roles.Role(ctx, role.Name)
			if err != nil {
				return apply.Change{}, fmt.Errorf("reading role (%s): %w", role.ARN, err)
			}
			c, err := plan.Document(policy.RoleTrustPolicy, role.ARN, cur.TrustPolicy, role.Trust.Statements, e.Decl.SidPrefix)
			if err != nil {
				return apply.Change{}, &apply.RefusedError{Err: err}
			}
			ch := apply.FromDocument(c)
			ch.Detail = roleWrite{exists: cur.Exists, change: c}
			return ch, nil
		},
		Write: func(ctx context.Context, c apply.Change) error {
			w := c.Detail.(roleWrite)
			if !w.exists {
				_, err := client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role.Name), AssumeRolePolicyDocument: aws.String(c.After),
					Description: aws.String("ecr-warden: role ECR pull-through cache assumes to cache images from the hub registry")})
				if err != nil {
					return fmt.Errorf("creating role (%s): %w", role.ARN, err)
				}
				return nil
			}
			if c.After == "" {
				return fmt.Errorf("updating trust policy (%s): refusing to leave the role without a trust policy", role.ARN)
			}
			if _, err := client.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(role.Name), PolicyDocument: aws.String(c.After)}); err != nil {
				return fmt.Errorf("updating trust policy (%s): %w", role.ARN, err)
			}
			return nil
		},
		PrincipalWait: e.principalWait(),
	}
	res, err := e.Exec.Run(ctx, trustStep)
	rep.count(res)
	if err != nil {
		return rep, err
	}
	target := role.ARN + "/policy/" + role.PolicyName
	permStep := apply.Step{
		LeaseKey: lease.RoleKey(account, role.Name) + "#policy",
		Target:   audit.Target{ARN: target, AccountID: account, Kind: "IAMRoleInlinePolicy", Name: role.Name},
		Trigger:  cause.Trigger,
		Actor:    cause.Actor,
		Plan: func(ctx context.Context) (apply.Change, error) {
			cur, err := roles.Role(ctx, role.Name, role.PolicyName)
			if err != nil {
				return apply.Change{}, fmt.Errorf("reading role policy (%s): %w", target, err)
			}
			c, err := plan.Document(policy.RoleInlinePolicy, target, cur.InlinePolicies[role.PolicyName], role.Permission.Statements, e.Decl.SidPrefix)
			if err != nil {
				return apply.Change{}, &apply.RefusedError{Err: err}
			}
			return apply.FromDocument(c), nil
		},
		Write: func(ctx context.Context, c apply.Change) error {
			if c.Op == plan.OpDeleteDocument {
				_, err := client.DeleteRolePolicy(ctx, &iam.DeleteRolePolicyInput{RoleName: aws.String(role.Name), PolicyName: aws.String(role.PolicyName)})
				if err != nil {
					return fmt.Errorf("deleting role policy (%s): %w", target, err)
				}
				return nil
			}
			if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role.Name), PolicyName: aws.String(role.PolicyName), PolicyDocument: aws.String(c.After)}); err != nil {
				return fmt.Errorf("putting role policy (%s): %w", target, err)
			}
			return nil
		},
	}
	res, err = e.Exec.Run(ctx, permStep)
	rep.count(res)
	return rep, err
}

type roleWrite struct {
	exists bool
	change plan.Change
}

// ---- ECR Public

// PublicRepository converges one ECR Public repository's policy.
func (e *Engine) PublicRepository(ctx context.Context, cause Cause, account, name string, known *string) (Report, error) {
	var rep Report
	state := desired.New(e.Decl, nil)
	client := e.Clients.Public(account)
	pub := inventory.NewPublic(client, account, inventory.RegistryOptions{})
	arn := policy.PublicRepositoryARN(account, name)
	owned := state.PublicRepositoryStatements(desired.PublicRepository{Account: account, Name: name})
	first := known
	step := apply.Step{
		LeaseKey: "public#" + arn,
		Target:   audit.Target{ARN: arn, AccountID: account, Region: "us-east-1", Kind: "ECRPublicRepositoryPolicy", Name: name},
		Trigger:  cause.Trigger,
		Actor:    cause.Actor,
		Plan: func(ctx context.Context) (apply.Change, error) {
			var current string
			if first != nil {
				current, first = *first, nil
			} else {
				err := awsapi.RetryFor(ctx, awsapi.NotFoundYet, e.repoWait(), func() error {
					var err error
					current, _, err = pub.RepositoryPolicy(ctx, name)
					return err
				})
				if err != nil {
					return apply.Change{}, fmt.Errorf("reading public repository policy (%s): %w", arn, err)
				}
			}
			c, err := plan.Document(policy.PublicRepositoryPolicy, arn, current, owned, e.Decl.SidPrefix)
			if err != nil {
				return apply.Change{}, &apply.RefusedError{Err: err}
			}
			if len(owned) == 0 && c.Op == plan.OpNone {
				c.Reason = "no public grant matches repository " + name + "; " + c.Reason
			}
			return apply.FromDocument(c), nil
		},
		Write: func(ctx context.Context, c apply.Change) error {
			if c.Op == plan.OpDeleteDocument {
				if _, err := client.DeleteRepositoryPolicy(ctx, &ecrpublic.DeleteRepositoryPolicyInput{RepositoryName: aws.String(name)}); err != nil {
					return fmt.Errorf("deleting public repository policy (%s): %w", arn, err)
				}
				return nil
			}
			if _, err := client.SetRepositoryPolicy(ctx, &ecrpublic.SetRepositoryPolicyInput{RepositoryName: aws.String(name), PolicyText: aws.String(c.After)}); err != nil {
				return fmt.Errorf("setting public repository policy (%s): %w", arn, err)
			}
			return nil
		},
		PrincipalWait: e.principalWait(),
	}
	res, err := e.Exec.Run(ctx, step)
	rep.count(res)
	return rep, err
}

// ---- helpers

func ruleJSON(r *plan.Rule) string {
	if r == nil {
		return ""
	}
	parts := []string{"prefix=" + r.Prefix, "upstream=" + r.UpstreamRegistryURL}
	if r.UpstreamRegistry != "" {
		parts = append(parts, "registry="+r.UpstreamRegistry)
	}
	if r.UpstreamRepositoryPrefix != "" {
		parts = append(parts, "upstreamRepositoryPrefix="+r.UpstreamRepositoryPrefix)
	}
	if r.CredentialARN != "" {
		parts = append(parts, "credential="+r.CredentialARN)
	}
	if r.CustomRoleARN != "" {
		parts = append(parts, "customRole="+r.CustomRoleARN)
	}
	return strings.Join(parts, " ")
}

func ruleDiff(rc plan.RuleChange) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s pull-through-cache rule %s in %s: %s\n", rc.Op, rc.Prefix, rc.Registry, rc.Reason)
	if rc.Before != nil {
		fmt.Fprintf(&b, "- %s\n", ruleJSON(rc.Before))
	}
	if rc.After != nil {
		fmt.Fprintf(&b, "+ %s\n", ruleJSON(rc.After))
	}
	return b.String()
}

var _ = slices.Contains[[]string]
