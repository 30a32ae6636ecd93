package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/lease"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// Private repository policies: one document per repository, owned
// statements from repository-placement grants.

// Repository converges one private repository's policy: the path of a
// CreateRepository event, a tag change and drift on a repository policy.
//
// self is the repository's account as the organization describes it
// (accountInfo): its OU path decides OU-scoped registries.
func (e *Engine) Repository(ctx context.Context, cause Cause, self desired.Account, region, name string) (Report, error) {
	ctx = WithPrincipalCache(ctx)
	var rep Report
	account := self.ID
	// read: the repository's tags when a grant matches on them.
	reg := inventory.NewRegistry(e.Clients.ECR(account, region), account, region, inventory.RegistryOptions{})
	repo := desired.Repository{Account: account, Region: region, Name: name}
	arn := policy.RepositoryARN(e.Decl.Hub.Partition, region, account, name)
	if e.Decl.HasRepositoryTagGrants() {
		err := awsapi.RetryFor(ctx, awsapi.NotFoundYet, e.repoWait(), func() error {
			tags, err := reg.Tags(ctx, arn)
			repo.Tags = tags
			return err
		})
		if err = e.confirmGone(ctx, arn, name, err, registryMissing(reg)); err != nil {
			return rep, fmt.Errorf("reading tags of repository %s: %w", arn, err)
		}
	}
	// desired, plan, apply. The repository's own account decides
	// OU-scoped registries; a grant that lists accounts one by one is
	// planned from the organization as it is at each read, the one under
	// the lease included.
	if all, ous := e.Decl.RepositoryEnumeration(); (all || len(ous) > 0) && e.Org != nil {
		owned := e.fromOrganizationNow(region, self, func(st *desired.State) []policy.Statement { return st.RepositoryStatements(repo) })
		return rep, e.run(ctx, &rep, e.repositoryStepFrom(cause, reg, repo, func(ctx context.Context, _ string) ([]policy.Statement, error) { return owned(ctx) }))
	}
	state := desired.New(e.Decl, []desired.Account{self})
	return rep, e.run(ctx, &rep, e.repositoryStep(cause, reg, state, repo, nil))
}

// repositoryStep builds the step for one repository policy from the full
// desired state. known, when set, is the policy already read by a snapshot,
// used for the first plan so a converged backfill reads each repository once.
//
// With known set, repo.Tags came from the Resource Groups Tagging API, which
// is eventually consistent: a repository tagged seconds ago (whose event
// already added its grant) may be missing from the answer. So when that first
// plan would write and a tag grant's statement is in the policy or in the
// plan (desired.State.TagsDecide), the repository's own tags are read
// (ListTagsForResource) and the plan made again from them, before a dry run
// reports it or a write happens; a converged repository, or one matched by
// name alone, never pays for it.
func (e *Engine) repositoryStep(cause Cause, reg *inventory.Registry, state *desired.State, repo desired.Repository, known *string) apply.Step {
	s := e.repositoryStepFrom(cause, reg, repo, func(context.Context, string) ([]policy.Statement, error) {
		return state.RepositoryStatements(repo), nil
	})
	if known == nil {
		return s
	}
	replan, first := s.Plan, known
	arn := s.Target.ARN
	filter := e.newPrincipalFilter(cause, s.Target)
	s.Plan = func(ctx context.Context) (apply.Change, error) {
		if first == nil {
			return replan(ctx)
		}
		k := *first
		first = nil
		c, err := e.planRepository(repo, arn, k, e.keepExisting(ctx, filter, state.RepositoryStatements(repo)))
		if err != nil || !c.Writes() || !e.Decl.HasRepositoryTagGrants() || !state.TagsDecide(repo, k) {
			return c, err
		}
		tags, err := reg.Tags(ctx, arn)
		if err != nil {
			return apply.Change{}, fmt.Errorf("confirming tags of repository (%s) before a change: %w", arn, err)
		}
		repo.Tags = tags // also what the re-read under the lease plans with
		return e.planRepository(repo, arn, k, e.keepExisting(ctx, filter, state.RepositoryStatements(repo)))
	}
	return s
}

// planRepository plans one repository policy.
func (e *Engine) planRepository(repo desired.Repository, arn, current string, owned []policy.Statement) (apply.Change, error) {
	c, err := e.owner().Document(policy.ECRRepositoryPolicy, arn, current, owned)
	if err != nil {
		return refused(apply.Change{}, err)
	}
	if len(owned) == 0 && c.Op == plan.OpNone {
		c.Reason = "no grant matches repository " + repo.Name + "; " + c.Reason
	}
	return apply.FromDocument(c), nil
}

// repositoryStepFrom builds the step for one repository policy whose owned
// statements may depend on what the policy holds now (an account event adds
// or removes one principal of an enumerating statement). owned is called on
// every read, including the re-read under the lease, so two account events
// updating the same policy at once never drop each other's principal.
func (e *Engine) repositoryStepFrom(cause Cause, reg *inventory.Registry, repo desired.Repository, owned func(ctx context.Context, current string) ([]policy.Statement, error)) apply.Step {
	client := e.Clients.ECR(repo.Account, repo.Region)
	target := repositoryResource(e.Decl.Hub.Partition, repo.Account, repo.Region, repo.Name)
	arn := target.ARN
	// The registry's key, not the repository's: a backfill or sweep unit
	// holds it over every document of the registry it reads and writes.
	filter := e.newPrincipalFilter(cause, target)
	s := step(lease.RegistryKey(repo.Account, repo.Region), target, cause)
	s.PrincipalWait = e.principalWait()
	s.Plan = func(ctx context.Context) (apply.Change, error) {
		var current string
		err := awsapi.RetryFor(ctx, awsapi.NotFoundYet, e.repoWait(), func() error {
			var err error
			current, _, err = reg.RepositoryPolicy(ctx, repo.Name)
			return err
		})
		if err = e.confirmGone(ctx, arn, repo.Name, err, registryMissing(reg)); err != nil {
			return apply.Change{}, fmt.Errorf("reading repository policy (%s): %w", arn, err)
		}
		want, err := owned(ctx, current)
		if err != nil {
			if walkFailed(err) {
				return apply.Change{}, fmt.Errorf("planning repository policy (%s): %w", arn, err)
			}
			return apply.Change{}, &apply.RefusedError{Err: fmt.Errorf("reading ecr-warden's statements in repository policy (%s): %w", arn, err)}
		}
		return e.planRepository(repo, arn, current, e.keepExisting(ctx, filter, want))
	}
	s.Write = func(ctx context.Context, c apply.Change) error {
		if c.Op == plan.OpDeleteDocument {
			_, err := client.DeleteRepositoryPolicy(ctx, &ecr.DeleteRepositoryPolicyInput{RepositoryName: aws.String(repo.Name), RegistryId: aws.String(repo.Account)})
			var nf *ecrtypes.RepositoryPolicyNotFoundException
			if err != nil && !errors.As(err, &nf) {
				return fmt.Errorf("deleting repository policy (%s): %w", arn, err)
			}
			return nil
		}
		_, err := client.SetRepositoryPolicy(ctx, &ecr.SetRepositoryPolicyInput{RepositoryName: aws.String(repo.Name), RegistryId: aws.String(repo.Account), PolicyText: aws.String(c.After)})
		if err != nil {
			return fmt.Errorf("setting repository policy (%s): %w", arn, err)
		}
		return nil
	}
	s.Reread = apply.DocumentReread(func(ctx context.Context) (string, error) {
		text, _, err := reg.RepositoryPolicy(ctx, repo.Name)
		if err != nil {
			return "", fmt.Errorf("reading repository policy (%s): %w", arn, err)
		}
		return text, nil
	})
	return s
}

// registryMissing answers which of names do not exist in reg's registry
// (confirmGone).
func registryMissing(reg *inventory.Registry) func(context.Context, []string) ([]string, error) {
	return func(ctx context.Context, names []string) ([]string, error) {
		_, missing, err := reg.Repositories(ctx, names)
		return missing, err
	}
}

// owner is what plan needs to tell ecr-warden's statements apart and to
// vouch only for "*" principals confined to this organization; in a run
// that applies revocations only, it plans every document's shrinking.
func (e *Engine) owner() plan.Owner {
	return plan.Owner{Prefix: e.Decl.SidPrefix, OrgID: e.Decl.Hub.OrganizationID, ShrinkOnly: e.RevokeOnly}
}
