package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/resourcegroupstaggingapi"

	"github.com/ecr-warden/ecr-warden/shared/config"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/devtools/localaws"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// The floor is what converging the organization costs at the least: the
// same reads (one organization walk, per registry its listing pages, one
// tag:GetResources query per tag grant, the registry policy, the PTC rules
// and role, one policy read per repository) and exactly the writes the
// declaration needs, with the same parallelism as the product (units at a
// time, repositories per unit at a time), and nothing else: no audit trail,
// no lease, no re-read, no queue. It plans with the product's own pure
// packages (desired, plan), so its writes are the product's writes.
//
// It is a yardstick, not a product: it keeps no audit trail, serialises
// nothing against other writers and would lose a concurrent event's
// statement. The product's overhead over it is the price of those guarantees.
type floor struct {
	decl      *config.Declaration
	hub       aws.Config // through the counting proxy
	memberRol string
	units     int // units converged at once
	perUnit   int // repositories per unit at once
}

// run converges every account in region once.
func (f floor) run(ctx context.Context, region string) (writes int, err error) {
	walk, err := inventory.NewOrg(organizations.NewFromConfig(f.hub), inventory.OrgOptions{}).Walk(ctx, inventory.WalkScope{All: true})
	if err != nil {
		return 0, fmt.Errorf("floor: walking the organization: %w", err)
	}
	var accounts []desired.Account
	for _, a := range walk.Accounts {
		accounts = append(accounts, desired.Account{ID: a.ID, Status: a.Status, OUPath: a.OUPath})
	}
	state := desired.New(f.decl, accounts)
	ids := []string{f.decl.Hub.AccountID}
	for _, a := range accounts {
		if a.ID != f.decl.Hub.AccountID && state.ManagedMember(a) && state.Configures(a.ID) {
			ids = append(ids, a.ID)
		}
	}
	return fanOut(ids, f.units, func(id string) (int, error) {
		return f.unit(ctx, state, id, region)
	})
}

func (f floor) unit(ctx context.Context, state *desired.State, account, region string) (int, error) {
	cfg := f.hub
	if account != f.decl.Hub.AccountID {
		var err error
		if cfg, err = localaws.AccountConfig(ctx, f.hub, account, f.memberRol); err != nil {
			return 0, err
		}
	}
	client := ecr.NewFromConfig(cfg)
	reg := inventory.NewRegistry(client, account, region, inventory.RegistryOptions{Concurrency: f.perUnit})
	writes := 0
	if account != f.decl.Hub.AccountID {
		n, err := f.role(ctx, state, iam.NewFromConfig(cfg), account)
		writes += n
		if err != nil {
			return writes, err
		}
		n, err = f.rules(ctx, state, client, reg, account, region)
		writes += n
		if err != nil {
			return writes, err
		}
	}
	// The registry policy.
	cur, _, err := reg.RegistryPolicy(ctx)
	if err != nil {
		return writes, err
	}
	arn := policy.RegistryARN(f.decl.Hub.Partition, region, account)
	c, err := plan.Document(policy.ECRRegistryPolicy, arn, cur, state.RegistryStatements(account, region), f.decl.SidPrefix)
	if err != nil {
		return writes, err
	}
	if c.Writes() {
		if doc, err := policy.Parse(c.After); err == nil && policy.V2Required(doc) {
			if _, err := reg.RegistryScope(ctx); err != nil {
				return writes, err
			}
		}
		if c.Op == plan.OpDeleteDocument {
			_, err = client.DeleteRegistryPolicy(ctx, &ecr.DeleteRegistryPolicyInput{})
		} else {
			_, err = client.PutRegistryPolicy(ctx, &ecr.PutRegistryPolicyInput{PolicyText: aws.String(c.After)})
		}
		if err != nil {
			return writes, fmt.Errorf("floor: registry policy %s: %w", arn, err)
		}
		writes++
	}
	// Repositories: listing pages, one policy read each, tag pages.
	snap, err := reg.Snapshot(ctx, inventory.SnapshotOptions{})
	if err != nil {
		return writes, err
	}
	tags, err := f.tags(ctx, state, cfg, account, region)
	if err != nil {
		return writes, err
	}
	type write struct {
		name, arn string
		c         plan.Change
	}
	var (
		errs []error
		todo []write
	)
	for _, rs := range snap.Repositories {
		if rs.Err != nil {
			errs = append(errs, rs.Err)
			continue
		}
		repo := desired.Repository{Account: account, Region: region, Name: rs.Name, Tags: tags[rs.ARN]}
		c, err := plan.Document(policy.ECRRepositoryPolicy, rs.ARN, rs.Policy, state.RepositoryStatements(repo), f.decl.SidPrefix)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if c.Writes() {
			todo = append(todo, write{rs.Name, rs.ARN, c})
		}
	}
	n, err := fanOut(todo, f.perUnit, func(w write) (int, error) {
		var err error
		if w.c.Op == plan.OpDeleteDocument {
			_, err = client.DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: aws.String(w.name)})
		} else {
			_, err = client.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(w.name), PolicyText: aws.String(w.c.After)})
		}
		if err != nil {
			return 0, fmt.Errorf("floor: repository policy %s: %w", w.arn, err)
		}
		return 1, nil
	})
	return writes + n, errors.Join(append(errs, err)...)
}

// tags is the product's tag read: one tag:GetResources query per tag grant.
func (f floor) tags(ctx context.Context, state *desired.State, cfg aws.Config, account, region string) (map[string]map[string]string, error) {
	seen := map[string]bool{}
	out := map[string]map[string]string{}
	tg := inventory.NewTagging(resourcegroupstaggingapi.NewFromConfig(cfg), account, region)
	for _, g := range f.decl.Grants {
		if g.Placement != config.PlacementRepository || len(g.RepositoryTags) == 0 || !state.AppliesTo(g.Registries, account) {
			continue
		}
		var id strings.Builder
		filters := map[string][]string{}
		for _, k := range slices.Sorted(maps.Keys(g.RepositoryTags)) {
			fmt.Fprintf(&id, "%q=%q;", k, g.RepositoryTags[k])
			filters[k] = []string{g.RepositoryTags[k]}
		}
		if seen[id.String()] {
			continue
		}
		seen[id.String()] = true
		got, err := tg.TaggedRepositories(ctx, filters)
		if err != nil {
			return nil, err
		}
		maps.Copy(out, got)
	}
	return out, nil
}

// role converges the member's PTC role: one read of the role and its
// inline policy, then what must be written.
func (f floor) role(ctx context.Context, state *desired.State, client *iam.Client, account string) (int, error) {
	role, ok := state.PTCRole(account)
	if !ok {
		return 0, nil
	}
	cur, err := inventory.NewRoles(client, account).Role(ctx, role.Name, role.PolicyName)
	if err != nil {
		return 0, err
	}
	writes := 0
	trust, err := plan.Document(policy.RoleTrustPolicy, role.ARN, cur.TrustPolicy, role.Trust.Statements, f.decl.SidPrefix)
	if err != nil {
		return 0, err
	}
	if trust.Writes() {
		if !cur.Exists {
			_, err = client.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(role.Name), AssumeRolePolicyDocument: aws.String(trust.After)})
		} else {
			_, err = client.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String(role.Name), PolicyDocument: aws.String(trust.After)})
		}
		if err != nil {
			return writes, fmt.Errorf("floor: role %s: %w", role.ARN, err)
		}
		writes++
	}
	perm, err := plan.Document(policy.RoleInlinePolicy, role.ARN, cur.InlinePolicies[role.PolicyName], role.Permission.Statements, f.decl.SidPrefix)
	if err != nil {
		return writes, err
	}
	if perm.Writes() {
		if _, err := client.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: aws.String(role.Name), PolicyName: aws.String(role.PolicyName), PolicyDocument: aws.String(perm.After)}); err != nil {
			return writes, fmt.Errorf("floor: role policy %s: %w", role.ARN, err)
		}
		writes++
	}
	return writes, nil
}

// rules converges the member's pull-through-cache rules: one listing, then
// what must be created (the bench declares no credentials or retirements).
func (f floor) rules(ctx context.Context, state *desired.State, client *ecr.Client, reg *inventory.Registry, account, region string) (int, error) {
	want := state.PTCRules(account, region)
	if len(want) == 0 {
		return 0, nil
	}
	have, err := reg.PTCRules(ctx)
	if err != nil {
		return 0, err
	}
	current := make([]plan.Rule, len(have))
	for i, r := range have {
		current[i] = plan.Rule{Prefix: r.Prefix, UpstreamRegistryURL: r.UpstreamRegistryURL, UpstreamRegistry: r.UpstreamRegistry,
			CredentialARN: r.CredentialARN, CustomRoleARN: r.CustomRoleARN, UpstreamRepositoryPrefix: r.UpstreamRepositoryPrefix}
	}
	writes := 0
	for _, rc := range plan.Rules(policy.RegistryARN(f.decl.Hub.Partition, region, account), current, want, nil) {
		if rc.Op != plan.OpCreate {
			continue
		}
		r := rc.After
		in := &ecr.CreatePullThroughCacheRuleInput{EcrRepositoryPrefix: aws.String(r.Prefix), UpstreamRegistryUrl: aws.String(r.UpstreamRegistryURL)}
		if r.UpstreamRegistry != "" {
			in.UpstreamRegistry = ecrtypes.UpstreamRegistry(r.UpstreamRegistry)
		}
		if r.CustomRoleARN != "" {
			in.CustomRoleArn = aws.String(r.CustomRoleARN)
		}
		if r.UpstreamRepositoryPrefix != "" {
			in.UpstreamRepositoryPrefix = aws.String(r.UpstreamRepositoryPrefix)
		}
		if _, err := client.CreatePullThroughCacheRule(ctx, in); err != nil {
			return writes, fmt.Errorf("floor: pull-through-cache rule %s in %s: %w", r.Prefix, account, err)
		}
		writes++
	}
	return writes, nil
}
