package reconcile

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecrpublic"

	"github.com/ecr-warden/ecr-warden/shared/apply"
	"github.com/ecr-warden/ecr-warden/shared/awsapi"
	"github.com/ecr-warden/ecr-warden/shared/desired"
	"github.com/ecr-warden/ecr-warden/shared/inventory"
	"github.com/ecr-warden/ecr-warden/shared/plan"
	"github.com/ecr-warden/ecr-warden/shared/policy"
)

// ECR Public repository policies: one document per public repository, owned
// statements from publicRepositories grants. The API exists in us-east-1
// only.

// publicRegion is the one region of the ECR Public API.
const publicRegion = policy.ECRPublicRegion

// PublicRepository converges one ECR Public repository's policy. accounts
// holds the repository's account as the organization describes it when it is
// a member (public grants may select members by OU); known, when set, is the
// policy already read, used for the first plan.
func (e *Engine) PublicRepository(ctx context.Context, cause Cause, account, name string, accounts []desired.Account, known *string) (Report, error) {
	var rep Report
	client := e.Clients.Public(account)
	pub := inventory.NewPublic(client, account, inventory.RegistryOptions{})
	target := publicResource(account, publicRegion, name)
	arn := target.ARN
	// desired
	declared := desired.New(e.Decl, accounts).PublicRepositoryStatements(desired.PublicRepository{Account: account, Name: name})
	filter := e.newPrincipalFilter(cause, target)
	first := known
	s := step("public#"+arn, target, cause)
	s.PrincipalWait = e.principalWait()
	s.Plan = func(ctx context.Context) (apply.Change, error) {
		// read
		var current string
		if first != nil {
			current, first = *first, nil
		} else {
			err := awsapi.RetryFor(ctx, awsapi.NotFoundYet, e.repoWait(), func() error {
				var err error
				current, _, err = pub.RepositoryPolicy(ctx, name)
				return err
			})
			err = e.confirmGone(ctx, arn, name, err, func(ctx context.Context, names []string) ([]string, error) {
				_, missing, err := pub.Repositories(ctx, names)
				return missing, err
			})
			if err != nil {
				return apply.Change{}, fmt.Errorf("reading public repository policy (%s): %w", arn, err)
			}
		}
		// plan, without principals that do not exist
		owned := e.keepExisting(ctx, filter, declared)
		c, err := e.owner().Document(policy.PublicRepositoryPolicy, arn, current, owned)
		if err != nil {
			return refused(apply.Change{}, err)
		}
		if len(owned) == 0 && c.Op == plan.OpNone {
			c.Reason = "no public grant matches repository " + name + "; " + c.Reason
		}
		return apply.FromDocument(c), nil
	}
	// apply
	s.Write = func(ctx context.Context, c apply.Change) error {
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
	}
	s.Reread = apply.DocumentReread(func(ctx context.Context) (string, error) {
		text, _, err := pub.RepositoryPolicy(ctx, name)
		if err != nil {
			return "", fmt.Errorf("reading public repository policy (%s): %w", arn, err)
		}
		return text, nil
	})
	return rep, e.run(ctx, &rep, s)
}
