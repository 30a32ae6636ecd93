package reconcile

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/plan"
)

// Pull-through-cache rules: they carry no tags or Sids, so the rules named
// in the declaration are ecr-warden's own (plan.Rules says what that means
// for a prefix taken by another upstream, and for retired prefixes).

// PTCRules converges a member registry's pull-through-cache rules.
func (e *Engine) PTCRules(ctx context.Context, cause Cause, state *desired.State, account, region string) (Report, error) {
	var rep Report
	steps, err := e.ptcRuleSteps(ctx, cause, state, account, region)
	if err != nil {
		return rep, err
	}
	var firstErr error
	for _, s := range steps {
		if err := e.run(ctx, &rep, s); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return rep, firstErr
}

// ptcRuleSteps lists a member registry's rules and plans them: one step per
// rule to create, update, delete or report. Rules are written under the
// registry's lease, the one every writer of the registry's documents takes
// (a backfill unit holds it over all of them).
func (e *Engine) ptcRuleSteps(ctx context.Context, cause Cause, state *desired.State, account, region string) ([]apply.Step, error) {
	// desired
	want := state.PTCRules(account, region)
	if len(want) == 0 && len(state.RetiredPTCPrefixes()) == 0 {
		return nil, nil
	}
	// read
	client := e.Clients.ECR(account, region)
	registry := registryResource(e.Decl.Hub.Partition, account, region).ARN
	current, err := e.readRules(ctx, client, account, region)
	if err != nil {
		return nil, fmt.Errorf("listing pull-through-cache rules (%s): %w", registry, err)
	}
	// The declaration names a secret by its name; ECR needs (and stores) the
	// full ARN with Secrets Manager's random suffix. A rule whose secret is
	// missing is refused alone; the other rules are still converged.
	var steps []apply.Step
	declared := want
	want, unresolved := e.resolveCredentials(ctx, account, region, want)
	for _, w := range declared {
		why, ok := unresolved[w.Prefix]
		if !ok {
			continue
		}
		s := step(lease.RegistryKey(account, region), ptcRuleResource(e.Decl.Hub.Partition, account, region, w.Prefix), cause)
		s.Plan = func(context.Context) (apply.Change, error) { return apply.Change{}, why }
		steps = append(steps, s)
	}
	// plan: one step per rule. Its first plan is the listing above (read
	// under the lease in a unit); a later one (Exec.Run's plan under the
	// lease, after this listing outside it) lists the rules again, so a
	// rule another writer created or changed meanwhile is planned as it is.
	retired := state.RetiredPTCPrefixes()
	for _, rc := range plan.Rules(registry, current, want, retired) {
		s := step(lease.RegistryKey(account, region), ptcRuleResource(e.Decl.Hub.Partition, account, region, rc.Prefix), cause)
		var (
			mu    sync.Mutex
			known = &rc
		)
		s.Plan = func(ctx context.Context) (apply.Change, error) {
			mu.Lock()
			c := known
			known = nil
			mu.Unlock()
			if c == nil {
				current, err := e.readRules(ctx, client, account, region)
				if err != nil {
					return apply.Change{}, fmt.Errorf("listing pull-through-cache rules (%s): %w", registry, err)
				}
				c = ruleChange(registry, current, want, retired, rc.Prefix)
			}
			if e.RevokeOnly && (c.Op == plan.OpCreate || c.Op == plan.OpUpdate) {
				return apply.Change{Op: plan.OpNone, Before: c.Before.String(), After: c.Before.String(), Reason: c.Reason,
					Withheld: fmt.Sprintf("pull-through-cache rule %s not %sd: this run applies revocations only (a clean plan was required and the plan refused documents)", c.Prefix, c.Op)}, nil
			}
			if (c.Op == plan.OpCreate || c.Op == plan.OpUpdate) && c.After != nil && c.After.CustomRoleARN != "" {
				// A rule naming a PTC role that is left out could not work:
				// refused with the role's reason, the other rules converge.
				if leftOut := e.ptcRoleRefusal(ctx, state, account); leftOut != nil {
					return apply.Change{}, &apply.RefusedError{Err: fmt.Errorf("pull-through-cache rule %s not %sd: its customRoleArn names %s: %w", c.Prefix, c.Op, c.After.CustomRoleARN, errors.Unwrap(leftOut))}
				}
			}
			return apply.Change{Op: c.Op, Before: c.Before.String(), After: c.After.String(), Diff: c.Diff(), Reason: c.Reason, Detail: *c}, nil
		}
		target := s.Target.ARN
		s.Write = func(ctx context.Context, c apply.Change) error {
			return writeRule(ctx, client, target, c.Detail.(plan.RuleChange))
		}
		s.Reread = func(ctx context.Context, c apply.Change) (apply.Holding, error) {
			rules, err := e.readRules(ctx, client, account, region)
			if err != nil {
				return apply.Holding{}, fmt.Errorf("listing pull-through-cache rules (%s): %w", registry, err)
			}
			return ruleHolding(rules, c.Detail.(plan.RuleChange)), nil
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// ruleChange is the change plan.Rules makes for one prefix; none when it
// makes none (a retired rule that is gone).
func ruleChange(registry string, current, want []plan.Rule, retired []string, prefix string) *plan.RuleChange {
	for _, c := range plan.Rules(registry, current, want, retired) {
		if c.Prefix == prefix {
			return &c
		}
	}
	return &plan.RuleChange{Registry: registry, Prefix: prefix, Op: plan.OpNone, Reason: fmt.Sprintf("no rule with prefix %q", prefix)}
}

// readRules lists the registry's rules as plan compares them.
func (e *Engine) readRules(ctx context.Context, client ecrAPI, account, region string) ([]plan.Rule, error) {
	rules, err := inventory.NewRegistry(client, account, region, inventory.RegistryOptions{}).PTCRules(ctx)
	if err != nil {
		return nil, err
	}
	current := make([]plan.Rule, len(rules))
	for i, r := range rules {
		current[i] = plan.Rule{Prefix: r.Prefix, UpstreamRegistryURL: r.UpstreamRegistryURL, UpstreamRegistry: r.UpstreamRegistry,
			CredentialARN: r.CredentialARN, CustomRoleARN: r.CustomRoleARN, UpstreamRepositoryPrefix: r.UpstreamRepositoryPrefix}
	}
	return current, nil
}

// ruleHolding compares the rule of rc's prefix among rules (what the
// registry holds now) with what rc writes and what it was planned from.
func ruleHolding(rules []plan.Rule, rc plan.RuleChange) apply.Holding {
	var cur *plan.Rule
	for i := range rules {
		if rules[i].Prefix == rc.Prefix {
			cur = &rules[i]
		}
	}
	h := apply.Holding{Holds: apply.HoldsOther, Text: cur.String()}
	switch {
	case plan.SameRule(cur, rc.After):
		h.Holds = apply.HoldsAfter
	case plan.SameRule(cur, rc.Before):
		h.Holds = apply.HoldsBefore
	}
	return h
}

// writeRule makes the one call a rule change needs.
func writeRule(ctx context.Context, client ecrAPI, target string, rc plan.RuleChange) error {
	switch rc.Op {
	case plan.OpCreate:
		r := rc.After
		in := &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String(r.Prefix), UpstreamRegistryUrl: aws.String(r.UpstreamRegistryURL),
			CredentialArn: optional(r.CredentialARN), CustomRoleArn: optional(r.CustomRoleARN), UpstreamRepositoryPrefix: optional(r.UpstreamRepositoryPrefix)}
		if r.UpstreamRegistry != "" {
			in.UpstreamRegistry = ecrtypes.UpstreamRegistry(r.UpstreamRegistry)
		}
		if _, err := client.CreatePullThroughCacheRule(ctx, in); err != nil {
			return fmt.Errorf("creating pull-through-cache rule (%s): %w", target, err)
		}
	case plan.OpUpdate:
		r := rc.After
		in := &ecr.UpdatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String(r.Prefix), CredentialArn: optional(r.CredentialARN), CustomRoleArn: optional(r.CustomRoleARN)}
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

// optional is nil for "", so an unset field is left out of the request.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}
